"""Chunking and span proposal work on characters: offsets are always exact."""

from __future__ import annotations

from llamatasks.tasks.chunking import chunk_text, sentence_chunks, sentence_spans
from llamatasks.tasks.spans import lowercase_words, propose_spans


def _words(text: str) -> int:
    return len(text.split()) or 1


def test_sentence_spans_cover_the_text() -> None:
    text = "First one. Second one! Third?  Fourth…\n\nNew paragraph. 第一句。第二句！"
    spans = sentence_spans(text)
    assert "".join(text[s:e] for s, e in spans) == text
    assert [text[s:e].strip() for s, e in spans][:4] == ["First one.", "Second one!", "Third?", "Fourth…"]
    assert text[spans[-1][0]:spans[-1][1]] == "第二句！"


def test_chunks_respect_budget_and_offsets() -> None:
    text = " ".join(f"Sentence number {i} has some words in it." for i in range(50))
    chunks = chunk_text(text, _words, budget=20)
    assert all(_words(c.text) <= 20 for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert "".join(c.text for c in chunks) == text  # nothing dropped


def test_sentence_chunks_are_one_sentence_each_unless_too_long() -> None:
    long = "This sentence " + "goes on " * 10 + "and ends. "
    text = "Short one. " + long + "Last."
    chunks = sentence_chunks(text, _words, budget=8)
    assert all(text[c.start:c.end] == c.text for c in chunks) and "".join(c.text for c in chunks) == text
    assert chunks[0].text == "Short one. " and chunks[-1].text == "Last."
    assert len(chunks) > 3 and all(_words(c.text) <= 8 for c in chunks)  # the long sentence was split


def test_oversized_sentence_is_split_by_words_then_characters() -> None:
    text = "word " * 100
    assert all(_words(c.text) <= 7 for c in chunk_text(text, _words, budget=7))
    cjk = "东京是日本的首都" * 20
    chunks = chunk_text(cjk, len, budget=16)
    assert all(len(c.text) <= 16 for c in chunks) and "".join(c.text for c in chunks) == cjk


def test_titles_and_initials_end_no_sentence() -> None:
    text = "Dr. Smith met J. K. Rowling at St. Martin's. They left for the U.S. Then it rained."
    assert [text[s:e].strip() for s, e in sentence_spans(text)] == [
        "Dr. Smith met J. K. Rowling at St. Martin's.", "They left for the U.S.", "Then it rained."]


def _spans(text: str) -> list[str]:
    return [text[c.start:c.end] for c in propose_spans(text)]


def test_spans_are_runs_of_names() -> None:
    text = "Tim Cook met Angela Merkel at the Bank of America in New York on Monday."
    assert _spans(text) == ["Tim Cook", "Angela Merkel", "Bank of America", "New York"]


def test_spans_strip_titles_possessives_and_openers() -> None:
    assert _spans("The board of Apple's parent met Dr. Jane Smith.") == ["Apple", "Jane Smith"]
    assert _spans("In March, President Obama visited Kenya.") == ["Obama", "Kenya"]


def test_openers_the_text_also_writes_in_lower_case_are_not_names() -> None:
    text = "Additional funding came from Oxford. The lab needs additional staff. Apple agreed."
    lowercase = lowercase_words(text)
    found = [text[c.start:c.end] for s, e in sentence_spans(text) for c in propose_spans(text, s, e, lowercase)]
    assert found == ["Oxford", "Apple"]
    # Alone, a sentence-opening word gives no evidence either way and stays a candidate.
    assert _spans("Additional funding came from Oxford.") == ["Additional", "Oxford"]


def test_spans_handle_unicode_and_repeats() -> None:
    text = "Zoë Saldaña flew from São Paulo to Zürich. Zoë Saldaña loves Zürich."
    found = propose_spans(text)
    assert [text[c.start:c.end] for c in found] == ["Zoë Saldaña", "São Paulo", "Zürich", "Zoë Saldaña", "Zürich"]
    assert found[0].start != found[3].start  # each mention at its own offset


def test_spans_in_cjk_text_with_latin_names() -> None:
    text = "昨天Tim Cook在東京见了Sony的人。"
    assert _spans(text) == ["Tim Cook", "Sony"]
