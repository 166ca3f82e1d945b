"""Split long inputs by real token counts, keeping character offsets.

Inputs longer than a model's context are never silently truncated: tasks split
them into chunks of whole sentences (paragraph breaks preferred) whose token
count, measured with the model's own tokenizer, fits a budget. A sentence
longer than the budget is split at word boundaries, then at characters
(scripts without spaces, such as Chinese).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# A sentence ends at . ! ? (and CJK full stops) followed by space or the end;
# CJK full stops need no following space.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])[」』”’）]*\s*|\n\s*\n\s*")
# A title, a saint, a single initial: the period after them ends no sentence.
_ABBREVIATION = re.compile(r"(?:^|[\s(\"'“‘])(?:Mrs?|Ms|Dr|St|Mt|Jr|Sr|Prof|Gen|Gov|Sen|Rep|Lt|Col|Capt|Sgt|Rev|Hon|[A-Z])\.$")


@dataclass(frozen=True)
class Chunk:
    """A piece of a text: ``source[start:end] == text``."""

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans covering ``text`` (each includes its trailing whitespace)."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text, max(0, match.start() - 8), match.start()):
            continue  # "Dr. Smith", "St. Martin's", "J. K. Rowling": not a sentence end
        if match.end() > start and match.start() > start:
            spans.append((start, match.end()))
            start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def chunk_text(text: str, count: Callable[[str], int], budget: int) -> list[Chunk]:
    """Greedily pack sentences into chunks of at most ``budget`` tokens."""
    if budget < 1:
        raise ValueError("chunk budget must be at least one token")
    pieces = [p for s, e in sentence_spans(text) for p in _fit(text, s, e, count, budget)]
    if not pieces:  # an empty text has no chunks
        return []
    chunks: list[Chunk] = []
    start, end, used = pieces[0][0], pieces[0][0], 0
    for s, e, n in pieces:
        if used and used + n > budget:
            chunks.append(Chunk(start, end, text[start:end]))
            start, used = s, 0
        end, used = e, used + n
    chunks.append(Chunk(start, end, text[start:end]))
    return [c for c in chunks if c.text.strip()]


def sentence_chunks(text: str, count: Callable[[str], int], budget: int) -> list[Chunk]:
    """The sentences of ``text``, one chunk each; a sentence over ``budget`` tokens split into several."""
    chunks = []
    for s, e in sentence_spans(text):
        if count(text[s:e]) <= budget:
            chunks.append(Chunk(s, e, text[s:e]))
        else:
            chunks += [Chunk(s + c.start, s + c.end, c.text) for c in chunk_text(text[s:e], count, budget)]
    return chunks


def _fit(text: str, start: int, end: int, count: Callable[[str], int], budget: int) -> list[tuple[int, int, int]]:
    """``(start, end, tokens)`` pieces of one sentence, each within the budget."""
    n = count(text[start:end])
    if n <= budget:
        return [(start, end, n)]
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+\s*", text[start:end])]
    if len(words) > 1:
        mid = words[len(words) // 2][0]
    else:  # no spaces to split at: halve by characters
        mid = start + (end - start) // 2
    if mid <= start or mid >= end:
        return [(start, end, n)]  # a single token-sized character: cannot split further
    return _fit(text, start, mid, count, budget) + _fit(text, mid, end, count, budget)
