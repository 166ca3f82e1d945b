"""Render messages into token ids without letting user text hijack the prompt.

The template is rendered with a private-use sentinel in place of every piece
of user text. The rendered string is then cut at the special tokens the
*template* wrote (user text is not in it yet, so every special token found is
the template's), and user text is spliced back and encoded with special
tokens split. When user text contains neither special-token strings nor the
format's plain-text markers, the whole string is encoded in one pass, which
gives exactly the ids of ``tokenizer.apply_chat_template``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Union

from llamatasks.errors import PromptFormatError
from llamatasks.prompts.formats import PromptFormat
from llamatasks.tokenizer import Tokenizer

_SENTINEL = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True)
class User:
    """Untrusted text (a review, a document) to splice into a prompt."""

    text: str


Content = Union[str, User, Sequence[Union[str, User]]]


@dataclass(frozen=True)
class Message:
    """One conversation turn; ``content`` mixes our instructions with ``User`` text."""

    role: Literal["system", "user", "assistant"]
    content: Content


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: the exact ids sent to the engine, and how to read them."""

    ids: list[int]
    text: str
    tokens: list[str]


class _Slots:
    """Collects user texts and hands out their sentinels."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def flatten(self, content: Content) -> str:
        if isinstance(content, (str, User)):
            content = [content]
        out = []
        for part in content:
            if isinstance(part, User):
                out.append(f"\ue000{len(self.texts)}\ue001")
                self.texts.append(part.text)
            else:
                out.append(part)
        return "".join(out)

    def fill(self, text: str) -> str:
        return _SENTINEL.sub(lambda m: self.texts[int(m.group(1))], text)


@lru_cache(maxsize=32)
def _compile(template: str) -> Any:
    from jinja2 import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise PromptFormatError(f"the chat template refused the messages: {message}")

    # Same environment settings as transformers' apply_chat_template.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template)
    except TemplateError as exc:
        raise PromptFormatError(f"the chat template does not compile: {exc}",
                                hint="pass prompt_format= to use a built-in format") from exc


class PromptRenderer:
    """Renders ``Message`` lists for one model (its tokenizer, format and template)."""

    def __init__(self, tokenizer: Tokenizer, fmt: PromptFormat, add_bos: bool) -> None:
        self.tokenizer = tokenizer
        self.format = fmt
        template = tokenizer.chat_template if fmt.use_model_template else None
        template = template or fmt.template
        if template is None:
            raise PromptFormatError(f"prompt format {fmt.name!r} has no template for this model",
                                    hint="pass prompt_format= naming a built-in format")
        self.template = template
        self.add_bos = add_bos
        specials = tokenizer.special_strings
        self._special_re = re.compile("(" + "|".join(map(re.escape, specials)) + ")") if specials else None

    def render(self, messages: Sequence[Message], answer_prefix: Content = "") -> Prompt:
        """Token ids of ``messages`` followed by the start of the answer turn."""
        slots = _Slots()
        flat = [{"role": m.role, "content": slots.flatten(m.content)} for m in messages]
        text = self._render_template(flat)
        prefix = slots.flatten(answer_prefix)
        if prefix:
            text += self.format.answer_lead + prefix
        ids = self._encode(text, slots)
        ids = self._apply_bos(ids)
        return Prompt(ids=ids, text=self.tokenizer.decode(ids, skip_special=False), tokens=self.tokenizer.tokens(ids))

    def _render_template(self, messages: list[dict[str, str]]) -> str:
        tok = self.tokenizer
        try:
            return str(_compile(self.template).render(
                messages=messages, add_generation_prompt=True, bos_token=tok.bos_token, eos_token=tok.eos_token,
            ))
        except PromptFormatError:
            raise
        except Exception as exc:
            raise PromptFormatError(f"the chat template failed to render: {exc}") from exc

    def _encode(self, text: str, slots: _Slots) -> list[int]:
        if not any(self._is_dangerous(t) for t in slots.texts):
            return self.tokenizer.encode_trusted(slots.fill(text))
        ids: list[int] = []
        pieces = self._special_re.split(text) if self._special_re else [text]
        for i, piece in enumerate(pieces):
            if i % 2 == 1:  # a special token written by the template
                token_id = self.tokenizer.token_id(piece)
                ids.extend([token_id] if token_id is not None else self.tokenizer.encode_trusted(piece))
            elif piece:
                # Text after a special token is encoded the way the tokenizer would
                # encode it in one pass, with or without a dummy-prefix space.
                standalone = i == 0 or self.tokenizer.space_after_special
                ids.extend(self._encode_plain(piece, slots, standalone))
        return ids

    def _is_dangerous(self, text: str) -> bool:
        markers = (*self.tokenizer.special_strings, *self.format.plain_markers)
        return any(m in text for m in markers)

    def _encode_plain(self, piece: str, slots: _Slots, standalone: bool) -> list[int]:
        """Template text plus user text; markers inside user text tokenized apart."""
        chunks: list[tuple[str, bool]] = []  # (text, is_a_marker_to_break)
        for j, part in enumerate(_SENTINEL.split(piece)):
            if j % 2 == 0:
                chunks.append((part, False))
            else:
                chunks.extend(self._split_markers(slots.texts[int(part)]))
        ids: list[int] = []
        pending = ""
        for chunk, is_marker in chunks:
            if not is_marker:
                pending += chunk
                continue
            ids.extend(self._encode_text(pending, standalone and not ids))
            ids.extend(self._encode_marker(chunk))
            pending = ""
        return ids + self._encode_text(pending, standalone and not ids)

    def _encode_text(self, text: str, standalone: bool) -> list[int]:
        return self.tokenizer.encode(text) if standalone else self.tokenizer.encode_inner(text)

    def _encode_marker(self, marker: str) -> list[int]:
        """A marker spelled character by character: the same text, never the template's ids."""
        ids: list[int] = []
        for char in marker:
            token_id = self.tokenizer.token_id(char)
            ids.extend([token_id] if token_id is not None else self.tokenizer.encode(char))
        return ids

    def _split_markers(self, user_text: str) -> list[tuple[str, bool]]:
        markers = self.format.plain_markers
        if not markers:
            return [(user_text, False)]
        pattern = "(" + "|".join(map(re.escape, sorted(markers, key=len, reverse=True))) + ")"
        return [(part, k % 2 == 1) for k, part in enumerate(re.split(pattern, user_text)) if part]

    def _apply_bos(self, ids: list[int]) -> list[int]:
        bos = self.tokenizer.bos_id
        if bos is None:
            return ids
        if self.add_bos and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        while len(ids) > 1 and ids[0] == bos and ids[1] == bos:  # never a double BOS
            ids = ids[1:]
        return ids

    def continuation_ids(self, prompt: Prompt, continuation: str) -> list[int]:
        """Ids of ``continuation`` as the tokenizer would split it right after ``prompt``.

        Encoding a label on its own gets word-boundary tokens wrong (SentencePiece
        adds a dummy space, BPE does not), so it is encoded after the prompt's
        last character and that character's ids are dropped.
        """
        tail = prompt.text[-1:] if prompt.text else ""
        head = self.tokenizer.encode(tail)
        joined = self.tokenizer.encode(tail + continuation)
        if tail and joined[: len(head)] == head and len(joined) > len(head):
            return joined[len(head):]
        return self.tokenizer.encode(continuation)
