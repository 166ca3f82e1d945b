"""Image prompts: messages that mix text and images, rendered in the model's own chat template.

The template gets each message that holds an image as a list of parts
(``{"type": "image"}`` and ``{"type": "text", ...}``), as transformers'
processors pass them, so it writes the model's own image token where the image
goes (LLaMA 3.2 Vision also drops its default system turn). Text parts go
through the renderer's placeholders: user text that spells ``<|image|>``,
``<|patch|>`` or any other special token stays text and never becomes an image
slot or a control id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, Literal

# The renderer's placeholder machinery is reused as is: one injection guard for text and images.
from llamatasks.prompts.render import (
    Message,
    Prompt,
    PromptRenderer,
    User,
    _call_texts,
    _Slots,
)

if TYPE_CHECKING:
    from PIL.Image import Image

#: The image token of LLaMA 3.2 Vision and Llama 4 templates (Llama 4's processor expands it into tiles).
IMAGE_TOKEN = "<|image|>"


@dataclass(frozen=True)
class ImageSlot:
    """Where an image goes in a message's content."""


#: The one image slot value (content is ``[IMAGE, "Describe it."]``).
IMAGE = ImageSlot()

ImagePart = str | User | ImageSlot


@dataclass(frozen=True)
class ImageMessage:
    """One conversation turn whose content may hold images (``IMAGE``) beside text."""

    role: Literal["system", "user", "assistant"]
    content: tuple[ImagePart, ...]

    def text_parts(self) -> list[str | User]:
        return [part for part in self.content if not isinstance(part, ImageSlot)]


@dataclass(frozen=True)
class ImagePrompt:
    """A rendered image prompt: ids with one image token per image, the images, and the messages.

    ``prompt.ids`` is what llamatasks' renderer produced; an engine may expand
    each image token (Llama 4: into tiles of patch tokens). ``messages`` and
    ``answer_prefix`` are kept for servers that render chat messages themselves.
    """

    prompt: Prompt
    images: tuple[Image, ...]
    messages: tuple[ImageMessage, ...]
    answer_prefix: str = ""

    @property
    def ids(self) -> list[int]:
        return self.prompt.ids


def image_message(role: Literal["system", "user", "assistant"], *parts: ImagePart) -> ImageMessage:
    """An ``ImageMessage`` from its parts in order."""
    return ImageMessage(role, tuple(parts))


def render_image_prompt(renderer: PromptRenderer, messages: Sequence[ImageMessage], images: Sequence[Image],
                        answer_prefix: str = "") -> ImagePrompt:
    """Render ``messages`` (one ``IMAGE`` slot per image, in order) for ``renderer``'s model.

    Raises:
        InvalidInputError: The slots and images do not pair up.
        PromptFormatError: The template refuses the messages (LLaMA 3.2 Vision: an image with a system turn).
    """
    from llamatasks.errors import InvalidInputError, PromptFormatError

    if IMAGE_TOKEN not in renderer.template:
        raise PromptFormatError("the prompt template has no image slot (no <|image|> in it)",
                                hint="image tasks use the model's own chat template; keep its tokenizer_config.json "
                                     "or chat_template.jinja in the folder, and pass no prompt_format=")
    slots_used = sum(isinstance(p, ImageSlot) for m in messages for p in m.content)
    if slots_used != len(images):
        raise InvalidInputError(f"{slots_used} image slots for {len(images)} images")
    text_messages = [Message(m.role, m.text_parts()) for m in messages]
    slots = _Slots(chain(renderer._template_inputs, (m.role for m in messages),
                         _call_texts(text_messages, answer_prefix)))
    flat = [{"role": m.role, "content": _content(m, slots)} for m in messages]
    text = renderer._render_template(flat)  # type: ignore[arg-type]  # list content: the image templates take it
    prefix = slots.stand_in(answer_prefix)
    if prefix:
        text += renderer.format.answer_lead + prefix
    ids = renderer._apply_bos(renderer._encode(slots.split(text)))
    tok = renderer.tokenizer
    prompt = Prompt(ids=ids, text=tok.decode(ids, skip_special=False), tokens=tok.tokens(ids))
    return ImagePrompt(prompt=prompt, images=tuple(images), messages=tuple(messages), answer_prefix=answer_prefix)


def _content(message: ImageMessage, slots: _Slots) -> Any:
    """A text-only message as one string; one with images as the list of parts the templates expect."""
    if not any(isinstance(p, ImageSlot) for p in message.content):
        return slots.stand_in(message.text_parts())
    parts: list[dict[str, str]] = []
    run: list[str | User] = []
    for part in [*message.content, IMAGE]:  # a trailing slot flushes the last run of text
        if not isinstance(part, ImageSlot):
            run.append(part)
            continue
        if run:
            parts.append({"type": "text", "text": slots.stand_in(run)})
            run = []
        parts.append({"type": "image"})
    return parts[:-1]
