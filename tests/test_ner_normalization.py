"""Decomposed accents and invisible characters never cut a name, and offsets stay the caller's.

Names are proposed on the text in NFC without zero-width characters, then mapped
back: every entity is still ``text[start:end]`` of exactly what the caller passed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llamatasks
from llamatasks.errors import InvalidInputError
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.normalize import is_invisible, normalize_text
from llamatasks.tasks.spans import propose_names

NFC = "Dvořák met Nguyễn in Kraków."
NFD = unicodedata.normalize("NFD", NFC)
ZERO_WIDTH = "Ti\u200bm Cook visited Pa\u00adris."


def _names(text: str) -> list[str]:
    """The proposed names as slices of ``text`` itself."""
    return [text[c.start:c.end] for c in propose_names(normalize_text(text))]


# The offset map.

def test_text_already_normalised_maps_character_by_character() -> None:
    for text in ("Tim Cook visited Paris.", NFC, "東京 and Zürich 🙂"):
        normalized = normalize_text(text)
        assert normalized.text == text
        assert list(normalized.starts) == list(range(len(text)))
        assert list(normalized.ends) == list(range(1, len(text) + 1))


def test_a_decomposed_letter_maps_to_all_its_code_points() -> None:
    normalized = normalize_text(NFD)
    assert normalized.text == NFC
    r = NFC.index("ř")
    start, end = normalized.span(r, r + 1)
    assert NFD[start:end] == "r\u030c"
    start, end = normalized.span(0, len("Dvořák"))
    assert NFD[start:end] == unicodedata.normalize("NFD", "Dvořák")
    assert normalized.span(0, len(NFC)) == (0, len(NFD))


def test_two_marks_on_one_letter_and_reordered_marks() -> None:
    text = "Nguye\u0302\u0303n"  # e + circumflex + tilde: one character in NFC
    normalized = normalize_text(text)
    assert normalized.text == "Nguyễn"
    assert normalized.span(4, 5) == (4, 7)
    # Ogonek sorts before acute: NFC reorders, and q has no precomposed form, so all three
    # characters of the output come from the whole cluster.
    normalized = normalize_text("q\u0301\u0328!")
    assert normalized.text == "q\u0328\u0301!"
    assert [normalized.span(i, i + 1) for i in range(4)] == [(0, 3), (0, 3), (0, 3), (3, 4)]


def test_starters_that_compose_with_each_other_map_together() -> None:
    normalized = normalize_text("\u1100\u1161\u11a8 Kim")  # Hangul jamo L V T: one syllable
    assert normalized.text == "각 Kim"
    assert normalized.span(0, 1) == (0, 3)
    assert normalized.span(2, 5) == (4, 7)


def test_removed_characters_at_the_start_the_end_and_inside() -> None:
    text = "\ufeff\u200bTi\u200bm\u00ad\u2060"
    normalized = normalize_text(text)
    assert normalized.text == "Tim"
    assert text[slice(*normalized.span(0, 3))] == "Ti\u200bm"  # inside kept, edges dropped
    assert normalized.span(0, 1) == (2, 3)
    assert normalized.span(2, 3) == (5, 6)
    assert normalized.span(0, 0) == (2, 2) and normalized.span(3, 3) == (6, 6)
    nothing = normalize_text("\u200b\ufeff")
    assert nothing.text == "" and nothing.span(0, 0) == (0, 0)


def test_a_removed_character_between_a_letter_and_its_accent() -> None:
    text = "Jose\u200b\u0301"
    normalized = normalize_text(text)
    assert normalized.text == "José"
    assert normalized.span(3, 4) == (3, 6)


def test_crlf_is_kept_as_it_is() -> None:
    text = "Tim Cook\r\nvisited Paris.\r\n\r\nAngela Merkel"
    normalized = normalize_text(text)
    assert normalized.text == text and normalized.span(10, 17) == (10, 17)
    assert _names(text) == ["Tim Cook", "Paris", "Angela Merkel"]


def test_zero_width_joiner_is_kept_inside_an_emoji_and_removed_elsewhere() -> None:
    # In "👩‍💻" (woman technologist) and "👨🏽‍🚀" the ZWJ is part of one emoji: removing it
    # would show the model two other emoji. Between letters it only cuts a word.
    text = "👩\u200d💻 and 👨🏽\u200d🚀 met Ti\u200dm \u200d."
    normalized = normalize_text(text)
    assert normalized.text == "👩\u200d💻 and 👨🏽\u200d🚀 met Tim ."
    assert normalize_text("🏳\ufe0f\u200d🌈").text == "🏳\ufe0f\u200d🌈"  # a presentation selector before it
    scotland = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert normalize_text(scotland).text == scotland  # tag characters of a flag: kept
    assert normalize_text("A\U000e0067B").text == "AB"  # a tag on its own: removed


def test_drawn_format_characters_and_variation_selectors_are_kept() -> None:
    assert normalize_text("\u0600\u0661\u0662").text == "\u0600\u0661\u0662"  # Arabic number sign
    assert normalize_text("\u2764\ufe0f").text == "\u2764\ufe0f"


def test_a_span_outside_the_text_is_refused() -> None:
    normalized = normalize_text("Tim")
    for start, end in ((0, 4), (2, 1), (-1, 2)):
        with pytest.raises(ValueError):
            normalized.span(start, end)


# Proposal, no model needed.

def test_decomposed_names_are_proposed_whole() -> None:
    assert _names(NFD) == [unicodedata.normalize("NFD", n) for n in ("Dvořák", "Nguyễn", "Kraków")]
    assert [c.name for c in propose_names(normalize_text(NFD))] == ["Dvořák", "Nguyễn", "Kraków"]
    assert _names(NFC) == ["Dvořák", "Nguyễn", "Kraków"]


def test_zero_width_characters_do_not_cut_names() -> None:
    assert _names(ZERO_WIDTH) == ["Ti\u200bm Cook", "Pa\u00adris"]
    assert [c.name for c in propose_names(normalize_text(ZERO_WIDTH))] == ["Tim Cook", "Paris"]
    assert _names("\ufeffAngela\u2060 Merkel\u200b") == ["Angela\u2060 Merkel"]


def test_a_combining_mark_without_a_precomposed_letter_stays_in_the_name() -> None:
    assert _names("Q\u030cuinn met X\u0304avier.") == ["Q\u030cuinn", "X\u0304avier"]


# Blank input.

@pytest.mark.parametrize("blank", ["\u200b", "\ufeff", "\x00", "\x00\x00\x00", " \u200b\u2060\ufeff\u00ad\n\t",
                                   "\u200d", "\ufe0f", "\u3164", "\x01\x7f\u200e"])
def test_text_without_visible_content_is_rejected_as_blank(blank: str) -> None:
    with pytest.raises(InvalidInputError, match="empty or only whitespace") as info:
        as_text_list(blank)
    assert info.value.hint
    with pytest.raises(InvalidInputError, match="at index 1"):
        as_text_list(["Paris", blank])


@pytest.mark.parametrize("visible", ["a\u200b", "\u0600", "🙂", "\u0301", "\u2800x"])
def test_text_with_something_visible_is_accepted(visible: str) -> None:
    assert as_text_list(visible) == ([visible], True)


# NER on a tiny random-weight model: its labels are meaningless, the spans are not.

@pytest.fixture(scope="module")
def model(tiny_checkpoint: Callable[[str], Path]) -> llamatasks.Model:
    import torch

    torch.set_num_threads(1)
    return llamatasks.load(tiny_checkpoint("chatml"))


@pytest.mark.parametrize("text", [NFD, ZERO_WIDTH])
def test_ner_entities_are_whole_names_at_the_callers_offsets(text: str, model: llamatasks.Model) -> None:
    entities = model.ner(text).entities
    for e in entities:
        assert text[e.start:e.end] == e.text
    # Every default label is requested, so every proposed name comes back, whatever its label.
    assert [e.text for e in entities] == _names(text)


def test_ner_reads_decomposed_text_as_its_composed_form(model: llamatasks.Model) -> None:
    composed, decomposed = model.ner(NFC).entities, model.ner(NFD).entities
    assert [unicodedata.normalize("NFC", e.text) for e in decomposed] == [e.text for e in composed]
    assert [(e.label, e.score) for e in decomposed] == [(e.label, pytest.approx(e.score)) for e in composed]


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff", "\x00\x00"])
def test_ner_refuses_invisible_text(blank: str, model: llamatasks.Model) -> None:
    with pytest.raises(InvalidInputError, match="empty or only whitespace"):
        model.ner(blank)


# Properties over arbitrary text.

_TRICKY = st.sampled_from(list("\u200b\u200c\u200d\u2060\u00ad\ufeff\u200e\u0301\u030c\u0302\u0303\u0328\u1100"
                               "\u1161\u11a8\ufe0f\r\n .'-AaDrkTCPé\x00") + ["👩", "💻", "🏴", "\U000e0067", "\U0001f3fd"])
_TEXT = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), _TRICKY), max_size=40)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(_TEXT, st.data())
def test_every_normalised_span_maps_back_within_bounds_and_in_order(text: str, data: st.DataObject) -> None:
    normalized = normalize_text(text)
    n = len(normalized.text)
    assert unicodedata.is_normalized("NFC", normalized.text)
    assert len(normalized.starts) == len(normalized.ends) == n
    for i in range(n):
        assert 0 <= normalized.starts[i] < normalized.ends[i] <= len(text)
        if i:
            assert normalized.starts[i - 1] <= normalized.starts[i] and normalized.ends[i - 1] <= normalized.ends[i]
    a = data.draw(st.integers(0, n))
    b = data.draw(st.integers(a, n))
    start, end = normalized.span(a, b)
    assert 0 <= start <= end <= len(text)
    if a < b:
        c = data.draw(st.integers(a, b - 1))
        inner = normalized.span(c, c + 1)
        assert start <= inner[0] and inner[1] <= end  # a sub-span maps inside the span


_NAMEISH = st.text(alphabet=st.one_of(st.sampled_from(list("AaBbZzéÉ .,'-\u200b\u00ad\ufeff\u2060\u0301\u030c\u0328"
                                                           "\u200d\r\n\x00")),
                                      st.characters(codec="utf-8")), max_size=60)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(_NAMEISH)
def test_every_proposed_name_is_a_visible_slice_of_the_original(text: str) -> None:
    for c in propose_names(normalize_text(text)):
        assert 0 <= c.start < c.end <= len(text)
        piece = text[c.start:c.end]
        assert text.find(piece, c.start) == c.start
        assert not is_invisible(piece[0]) and not is_invisible(piece[-1])
        assert c.name in normalize_text(piece).text
