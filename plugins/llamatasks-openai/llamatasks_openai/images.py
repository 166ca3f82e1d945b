"""Images over ``/chat/completions``: each image goes as an ``image_url`` part with a ``data:`` URL.

vLLM serves both LLaMA vision generations this way (LLaMA 3.2 Vision, Llama 4):
the server renders the chat template and runs the vision tower itself, so
llamatasks sends the messages (text parts and images), not token ids. The
image is re-encoded as PNG from the decoded, checked image; nothing is fetched
from anywhere, and the server is told no URL but the data.

The chat API returns no prompt log-probabilities, so image prompts cannot be
scored: ``classify`` of an image is refused with ``VisionUnsupportedError``;
describe, answer and chat with images work.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llamatasks.engine.base import GenerationOptions, GenerationOutput
from llamatasks.errors import VisionUnsupportedError
from llamatasks.prompts.render import User
from llamatasks.vision.engine import ImageEngine
from llamatasks.vision.prompts import ImagePrompt, ImageSlot
from llamatasks_openai.errors import ServerFailedError

if TYPE_CHECKING:
    from PIL.Image import Image

    from llamatasks_openai.engine import OpenAIEngine


def data_url(image: Image) -> str:
    """``data:image/png;base64,...`` of an image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(prompt: ImagePrompt) -> list[dict[str, Any]]:
    """The OpenAI ``messages`` of an image prompt: text parts and ``image_url`` parts, in order."""
    images = iter(prompt.images)
    messages = []
    for message in prompt.messages:
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImageSlot):
                parts.append({"type": "image_url", "image_url": {"url": data_url(next(images))}})
            else:
                text = part.text if isinstance(part, User) else part
                if parts and parts[-1]["type"] == "text":  # adjacent text pieces are one part
                    parts[-1]["text"] += text
                else:
                    parts.append({"type": "text", "text": text})
        messages.append({"role": message.role, "content": parts})
    return messages


class OpenAIImageEngine(ImageEngine):
    """Generation with images through a server's ``/chat/completions``."""

    can_score = False

    def __init__(self, engine: OpenAIEngine) -> None:
        self.engine = engine

    def generate(self, prompts: Sequence[ImagePrompt], options: GenerationOptions) -> list[GenerationOutput]:
        return [self._one(prompt, options) for prompt in prompts]

    def _one(self, prompt: ImagePrompt, options: GenerationOptions) -> GenerationOutput:
        body: dict[str, Any] = {"model": self.engine.model, "messages": chat_messages(prompt),
                                "max_tokens": options.max_new_tokens, "temperature": options.temperature,
                                "top_p": options.top_p, "n": 1}
        if options.temperature > 0 and options.seed is not None:
            body["seed"] = options.seed
        choices = self.engine.client.post("chat/completions", body).get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
            raise ServerFailedError("the server's chat completion has no single choice")
        content = (choices[0].get("message") or {}).get("content")
        if not isinstance(content, str):
            raise ServerFailedError("the server's chat completion has no text content")
        ids = self.engine.tokenizer.encode_inner(content)[:options.max_new_tokens] if content else []
        if choices[0].get("finish_reason") == "stop":
            return GenerationOutput(token_ids=ids, finish_reason="stop")
        return GenerationOutput(token_ids=ids, finish_reason="length")

    def score(self, prompt: ImagePrompt, continuations: Sequence[Sequence[int]]) -> list[float]:
        raise VisionUnsupportedError(
            "the openai backend cannot score continuations after an image (chat completions return no prompt "
            "log-probabilities)", hint="classify images on the torch backend; describe, answer and chat work here")
