"""Text as tasks read it (NFC, no invisible characters), mapped back to the caller's string.

Decomposed text ("r" + combining caron for "ř") and invisible characters inside
words (a zero-width space or soft hyphen from a web page or PDF) cut names
apart: a word pattern stops at them. So names are proposed on a normalised copy
and every span found there is mapped back to the exact characters of the
original it came from; entities stay real slices of what the caller passed.

What is removed: format characters (Unicode category Cf: zero-width space and
joiners, word joiner, soft hyphen, BOM, bidi controls, invisible operators,
tags...) and a few other default-ignorable characters that render as nothing
(the combining grapheme joiner, Hangul fillers, Khmer inherent vowels). They
carry no letters, so removing them never changes which name is written. Kept:
the Cf "prepended concatenation marks" (Arabic number signs and the like),
which are drawn; variation selectors, which choose how the character before
them is drawn (emoji or text style) and belong to it; and the zero-width joiner
and tag characters inside an emoji sequence ("👩‍💻", a subdivision flag), where
they are part of one emoji and removing them would turn it into others.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

_ZWJ = "\u200d"
_BLACK_FLAG = "\U0001f3f4"  # the base of emoji tag sequences (flags of England, Scotland, Wales)
_TAGS = ("\U000e0020", "\U000e007f")
# Cf characters that are drawn (they span the digits after them), so they are text.
_VISIBLE_FORMAT = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd")
# Default-ignorable characters outside Cf that render as nothing.
_IGNORABLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
# Between an emoji and a ZWJ: presentation selectors and skin tones.
_EMOJI_MODIFIERS = frozenset("\ufe0e\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")


def _is_variation_selector(char: str) -> bool:
    return ("\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef"
            or char in "\u180b\u180c\u180d\u180f")  # the last four: Mongolian free variation selectors


def _is_ignorable(char: str) -> bool:
    """Whether ``char`` is removed by ``normalize_text`` (outside emoji sequences)."""
    if char in _IGNORABLE:
        return True
    return unicodedata.category(char) == "Cf" and char not in _VISIBLE_FORMAT


def is_invisible(char: str) -> bool:
    """Whether ``char`` shows nothing by itself: whitespace, a control, format or other ignorable character."""
    return (char.isspace() or unicodedata.category(char) == "Cc" or _is_ignorable(char)
            or _is_variation_selector(char))


def has_visible_content(text: str) -> bool:
    """Whether ``text`` has at least one character that is not invisible (see ``is_invisible``)."""
    return any(not is_invisible(char) for char in text)


@dataclass(frozen=True)
class NormalizedText:
    """``text`` is ``original`` normalised; ``text[i]`` came from ``original[starts[i]:ends[i]]``."""

    original: str
    text: str
    starts: Sequence[int]
    ends: Sequence[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that ``text[start:end]`` came from: exactly those characters.

        A character composed from several (``"r" + U+030C`` -> ``"ř"``) maps to all of
        them; removed characters inside the span are included, those at its edges not.
        """
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) is outside a normalised text of {len(self.text)} characters")
        if start == end:
            point = self.starts[start] if start < len(self.text) else (self.ends[-1] if self.text else 0)
            return point, point
        return self.starts[start], self.ends[end - 1]


def normalize_text(text: str) -> NormalizedText:
    """``text`` in NFC with invisible characters removed (see the module docstring), and its offset map."""
    if text.isascii():  # ASCII is NFC and holds no format characters
        return NormalizedText(text, text, range(len(text)), range(1, len(text) + 1))
    kept = _kept_indices(text)
    stripped = "".join(text[i] for i in kept)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for a, b, piece in _nfc_pieces(stripped):
        if piece == stripped[a:b]:  # unchanged: character by character
            starts += kept[a:b]
            ends += [i + 1 for i in kept[a:b]]
        else:  # composed or reordered: every character of it comes from the whole group
            starts += [kept[a]] * len(piece)
            ends += [kept[b - 1] + 1] * len(piece)
        pieces.append(piece)
    return NormalizedText(text, "".join(pieces), starts, ends)


def _kept_indices(text: str) -> list[int]:
    """Indices of the characters of ``text`` that normalisation keeps."""
    kept: list[int] = []
    tagging = False
    for i, char in enumerate(text):
        if _TAGS[0] <= char <= _TAGS[1]:
            tagging = tagging or (i > 0 and text[i - 1] == _BLACK_FLAG)
            keep = tagging
        else:
            tagging = False
            keep = not _is_ignorable(char) or (char == _ZWJ and _joins_emoji(text, i))
        if keep:
            kept.append(i)
    return kept


def _joins_emoji(text: str, i: int) -> bool:
    """Whether the ZWJ at ``text[i]`` stands between two emoji (an emoji ZWJ sequence)."""
    before = i - 1
    while before >= 0 and text[before] in _EMOJI_MODIFIERS:
        before -= 1
    # Emoji are "Other Symbol" characters; checking Extended_Pictographic exactly would need its data table.
    return (before >= 0 and i + 1 < len(text) and unicodedata.category(text[before]) == "So"
            and unicodedata.category(text[i + 1]) == "So")


def _nfc_pieces(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, nfc)`` for consecutive groups of ``text`` that NFC normalises independently."""
    if unicodedata.is_normalized("NFC", text):
        return [(0, len(text), text)]
    # NFC only composes and reorders within a starter and the combining marks after it, except
    # where a starter composes with the one before it (Hangul jamo, some Indic vowel signs): such
    # neighbours are merged into one group when normalising them apart gives another result.
    bounds = [0] + [j for j in range(1, len(text)) if not unicodedata.combining(text[j])] + [len(text)]
    pieces: list[tuple[int, int, str]] = []
    for a, b in pairwise(bounds):
        piece = unicodedata.normalize("NFC", text[a:b])
        if pieces and not text[a].isascii():  # an ASCII starter composes with nothing before it
            first, _, previous = pieces[-1]
            joined = unicodedata.normalize("NFC", text[first:b])
            if joined != previous + piece:
                pieces[-1] = (first, b, joined)
                continue
        pieces.append((a, b, piece))
    whole = unicodedata.normalize("NFC", text)
    if "".join(piece for _, _, piece in pieces) != whole:  # not seen in practice: map the text as one group
        return [(0, len(text), whole)]
    return pieces
