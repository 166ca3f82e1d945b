"""Render messages into token ids without letting user text hijack the prompt.

Jinja renders strings, so while the template runs every ``User`` piece is
stood in for by a placeholder: two private-use characters chosen per call so
that they occur in no text the template is given (caller strings, user text,
the template itself, BOS/EOS), with the piece's index between them. Every
such character in the rendered string is therefore one of ours (a stray one
means the template cut its content, and is refused); the string is cut there
into trusted pieces (template and caller instructions) and user texts, and
nothing downstream looks for a marker again.

Trusted pieces are encoded with special tokens parsed, user texts with
special tokens split; a special-token string counts as the template's only
when it lies inside one trusted piece. When no special-token string or
plain-text marker overlaps a user text, the whole string is encoded in one
pass, which gives exactly the ids of ``tokenizer.apply_chat_template``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any, Literal

from llamatasks.errors import InputTypeError, InvalidInputError, PromptFormatError
from llamatasks.prompts.formats import PromptFormat
from llamatasks.tokenizer import Tokenizer

# Placeholder characters come from the private-use areas: real text and
# templates almost never use them, so the first free pair is found at once,
# and there are 137,000 of them to choose from.
_PRIVATE_USE = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE), range(0x100000, 0x10FFFE))


@dataclass(frozen=True)
class User:
    """Untrusted text (a review, a document, a label) to splice into a prompt."""

    text: str


Content = str | User | Sequence[str | User]


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


@dataclass(frozen=True)
class _Piece:
    """A run of the rendered prompt: trusted (template, our instructions) or user text."""

    text: str
    trusted: bool


def _parts(content: Content) -> list[str | User]:
    """The pieces of ``content``, checked: a bad type is the caller's error, not a Jinja traceback."""
    if isinstance(content, (str, User)):
        return [content]
    parts = list(content) if isinstance(content, Sequence) else [content]
    for part in parts:
        if not isinstance(part, (str, User)) or isinstance(part, User) and not isinstance(part.text, str):
            raise InputTypeError(f"prompt content must be str or User(str), got {part!r}",
                                 hint="wrap untrusted text as User(text) and pass strings only")
    return parts


def _unused_chars(used: set[str], count: int) -> list[str]:
    """The first ``count`` private-use characters not in ``used``."""
    free = (c for c in map(chr, chain.from_iterable(_PRIVATE_USE)) if c not in used)
    found = [c for _, c in zip(range(count), free)]
    if len(found) < count:
        raise InvalidInputError("the prompt text uses every Unicode private-use character",
                                hint="remove private-use characters (U+E000-U+F8FF, planes 15-16) from the text")
    return found


class _Slots:
    """Stands in for ``User`` texts while the template renders, and finds them again.

    Args:
        known: Every string the template can see or contains; the placeholder
            characters are chosen absent from all of them, so they cannot
            collide with anything a caller wrote.
    """

    def __init__(self, known: Iterable[str]) -> None:
        used: set[str] = set()
        for text in known:
            used.update(text)
        self.open, self.close = _unused_chars(used, 2)
        self._pattern = re.compile(f"{re.escape(self.open)}([0-9]+){re.escape(self.close)}")
        self.texts: list[str] = []

    def stand_in(self, content: Content) -> str:
        """``content`` as one string, each ``User`` piece replaced by its placeholder."""
        out = []
        for part in _parts(content):
            if isinstance(part, User):
                out.append(f"{self.open}{len(self.texts)}{self.close}")
                self.texts.append(part.text)
            else:
                out.append(part)
        return "".join(out)

    def split(self, rendered: str) -> list[_Piece]:
        """Cut the rendered string into trusted pieces and the user texts they surround."""
        parts = self._pattern.split(rendered)
        pieces = []
        for i, part in enumerate(parts):
            if i % 2 == 1 and int(part) < len(self.texts):
                pieces.append(_Piece(self.texts[int(part)], trusted=False))
            elif i % 2 == 1 or self.open in part or self.close in part:
                # Only a template that cuts or rewrites its content gets here.
                raise PromptFormatError("the chat template altered the text of a message",
                                        hint="pass prompt_format= to use a built-in format")
            elif part:
                pieces.append(_Piece(part, trusted=True))
        return pieces


def _call_texts(messages: Sequence[Message], answer_prefix: Content) -> Iterator[str]:
    """Every caller string of one render call, trusted or not."""
    for content in chain((m.content for m in messages), [answer_prefix]):
        for part in _parts(content):
            yield part.text if isinstance(part, User) else part


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


def _alternation(strings: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern matching any of ``strings``, longest first; None when there are none."""
    ordered = sorted(set(strings), key=len, reverse=True)
    return re.compile("(" + "|".join(map(re.escape, ordered)) + ")") if ordered else None


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
        self._special_re = _alternation(tokenizer.special_strings)
        self._marker_re = _alternation(fmt.plain_markers)
        # Strings whose ids differ when user text is encoded on its own, by length.
        self._controls: dict[int, list[str]] = {}
        for control in {*tokenizer.special_strings, *fmt.plain_markers}:
            self._controls.setdefault(len(control), []).append(control)
        # What the template sees besides the messages: placeholders must avoid it too.
        self._template_inputs = (template, tokenizer.bos_token, tokenizer.eos_token, fmt.answer_lead)

    def render(self, messages: Sequence[Message], answer_prefix: Content = "") -> Prompt:
        """Token ids of ``messages`` followed by the start of the answer turn.

        Any content, including ``answer_prefix``, may mix strings (our
        instructions, parsed like the template's own text) with ``User`` pieces
        (encoded as plain text: special-token strings in them stay text).
        """
        roles = (str(m.role) for m in messages)
        slots = _Slots(chain(self._template_inputs, roles, _call_texts(messages, answer_prefix)))
        flat = [{"role": m.role, "content": slots.stand_in(m.content)} for m in messages]
        text = self._render_template(flat)
        prefix = slots.stand_in(answer_prefix)
        if prefix:
            text += self.format.answer_lead + prefix
        ids = self._apply_bos(self._encode(slots.split(text)))
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

    def _encode(self, pieces: list[_Piece]) -> list[int]:
        if not self._user_text_touches_controls(pieces):
            return self.tokenizer.encode_trusted("".join(p.text for p in pieces))
        return self._encode_apart(pieces)

    def _user_text_touches_controls(self, pieces: list[_Piece]) -> bool:
        """Whether a special-token string or plain marker overlaps user text or is cut by it.

        A control string counts as the template's only when it lies within one
        trusted piece: one formed across a user text (``"<|eot"`` + user
        ``"_id|>"``), or around an empty one, must not become the control token.
        """
        joined = "".join(p.text for p in pieces)
        start = 0
        for piece in pieces:
            end = start + len(piece.text)
            if not piece.trusted:
                for length, controls in self._controls.items():
                    # Exactly the occurrences that overlap [start, end), or span an empty one.
                    window = joined[max(0, start - length + 1):end + length - 1]
                    if any(c in window for c in controls):
                        return True
            start = end
        return False

    def _encode_apart(self, pieces: list[_Piece]) -> list[int]:
        """Template specials as their ids, all text between them with special tokens split."""
        ids: list[int] = []
        run: list[tuple[str, bool]] = []  # (text, is_a_marker_to_break) since the last special
        after_special = False
        for piece in pieces:
            if not piece.trusted:
                run.extend(self._split_markers(piece.text))
                continue
            parts = self._special_re.split(piece.text) if self._special_re else [piece.text]
            for k, part in enumerate(parts):
                if k % 2 == 0:
                    run.append((part, False))
                    continue
                # Text after a special token is encoded the way the tokenizer would
                # encode it in one pass, with or without a dummy-prefix space.
                ids.extend(self._encode_run(run, not after_special or self.tokenizer.space_after_special))
                token_id = self.tokenizer.token_id(part)
                ids.extend([token_id] if token_id is not None else self.tokenizer.encode_trusted(part))
                run, after_special = [], True
        return ids + self._encode_run(run, not after_special or self.tokenizer.space_after_special)

    def _encode_run(self, chunks: list[tuple[str, bool]], standalone: bool) -> list[int]:
        """Text between two template specials; markers from user text tokenized apart."""
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
        if self._marker_re is None:
            return [(user_text, False)]
        return [(part, k % 2 == 1) for k, part in enumerate(self._marker_re.split(user_text)) if part]

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
