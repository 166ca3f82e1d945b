"""Validation of what users pass to tasks."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llamatasks.engine.base import MAX_BEAMS
from llamatasks.errors import InputTypeError, InvalidInputError
from llamatasks.tasks.normalize import has_visible_content

# A surrogate code point on its own is not text: tokenizers cannot encode it.
# It comes from decoding with errors="surrogateescape" or from broken JSON escapes.
_SURROGATE = re.compile("[\ud800-\udfff]")


def as_text_list(texts: Any) -> tuple[list[str], bool]:
    """``(texts, was_single)``: one string or a list/tuple of strings, none blank."""
    if isinstance(texts, str):
        return [_check(texts, None)], True
    if isinstance(texts, (bytes, bytearray)):
        raise InputTypeError("got bytes, expected text", hint="decode it first, e.g. data.decode('utf-8')")
    if not isinstance(texts, Sequence):
        raise InputTypeError(f"expected a string or a list of strings, got {type(texts).__name__}",
                             hint="pass text=str or text=[str, ...]")
    if len(texts) == 0:
        raise InvalidInputError("got an empty list of texts", hint="pass at least one text")
    return [_check(t, i) for i, t in enumerate(texts)], False


def _check(text: Any, index: int | None) -> str:
    where = "" if index is None else f" at index {index}"
    if not isinstance(text, str):
        raise InputTypeError(f"expected text{where}, got {type(text).__name__}", hint="pass str values only")
    # Zero-width spaces, a BOM or NULs show nothing: a model would still answer with confidence.
    if not has_visible_content(text):
        raise InvalidInputError(f"text{where} is empty or only whitespace (or invisible characters such as "
                                "zero-width spaces, a BOM or NULs)", hint="pass text with some visible content")
    return valid_unicode(text, f"text{where}")


def valid_unicode(text: str, what: str) -> str:
    """``text`` unchanged, or InvalidInputError when it holds an unpaired surrogate (``what`` names it)."""
    bad = _SURROGATE.search(text)
    if bad:
        raise InvalidInputError(f"{what} is not valid Unicode: an unpaired surrogate U+{ord(bad.group()):04X} "
                                f"at character {bad.start()}",
                                hint="decode the source bytes with errors='replace', or fix the data")
    return text


def positive_int(name: str, value: Any) -> int:
    """Validate an integer option such as ``max_words``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return value


def beam_count(value: Any, default: int) -> int:
    """Validate a task's ``num_beams`` option (1 decodes greedily); ``default`` when it is None."""
    if value is None:
        return default
    positive_int("num_beams", value)
    if value > MAX_BEAMS:
        raise InvalidInputError(f"num_beams must be at most {MAX_BEAMS}, got {value}",
                                hint="4 is the default for summarize and translate; 1 is fastest")
    return int(value)


def read_text(text: str | None, file: Path | None) -> str:
    """The text a command works on: ``--file``, ``-``/piped standard input, or the argument (for plugin commands too)."""
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read {file}: {exc}", hint="pass a readable UTF-8 text file") from exc
    if text == "-" or (text is None and not sys.stdin.isatty()):
        # The bytes, decoded here: the locale's own decoder would raise (or smuggle in surrogates) on bad input.
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"standard input is not valid UTF-8: {exc.reason} at byte {exc.start}",
                                    hint="convert the input to UTF-8 (e.g. iconv -t UTF-8)") from None
    if text is None:
        raise InvalidInputError("no text given", hint="pass TEXT, --file PATH, or '-' to read standard input")
    return text
