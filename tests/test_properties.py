"""Property tests of the invariants long inputs rest on: chunks cover a text exactly once, summaries fit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llamatasks.tasks.chunking import chunk_text, sentence_chunks, sentence_spans
from llamatasks.tasks.summarize import fit_words, word_count

# Sentences, line breaks, abbreviations, CJK punctuation and arbitrary Unicode in between.
PIECES = st.sampled_from(["Dr. Smith", " went home.", " Hello!", "\n\n", "。", "你好", " e.g. this", " ", "?",
                          "a" * 40, "Mr.", " X.", "\u200b", "é", "…"])
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=30).map("".join)
SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None)


def count(text: str) -> int:
    """A stand-in token count: one token per 3 characters (any monotone count will do)."""
    return (len(text) + 2) // 3


@SETTINGS
@given(TEXTS)
def test_sentence_spans_tile_the_text(text: str) -> None:
    spans = sentence_spans(text)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(e > s for s, e in spans) and [s for s, _ in spans[1:]] == [e for _, e in spans[:-1]]


@SETTINGS
@given(TEXTS, st.integers(min_value=2, max_value=40))
def test_chunks_cover_the_text_exactly_once_with_exact_offsets(text: str, budget: int) -> None:
    for chunks in (sentence_chunks(text, count, budget), chunk_text(text, count, budget)):
        assert all(text[c.start:c.end] == c.text and c.text for c in chunks)
        ends = [0] + [c.end for c in chunks]
        starts = [c.start for c in chunks] + [len(text)]
        # In order, never overlapping, and nothing but whitespace left between them: every character once.
        assert all(e <= s for e, s in zip(ends, starts))
        assert all(not text[e:s].strip() for e, s in zip(ends, starts))


@SETTINGS
@given(TEXTS, st.integers(min_value=1, max_value=30))
def test_a_fitted_summary_never_exceeds_max_words(text: str, max_words: int) -> None:
    fitted = fit_words(text, max_words)
    assert word_count(fitted) <= max_words
    if word_count(" ".join(text.split())) <= max_words:
        assert fitted == " ".join(text.split())  # what fits is kept whole
