"""Unsupported claims in summaries (llamatasks.tasks.summarize_claims) and the ``unsupported`` field of ``Summary``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llamatasks.model import Model
from llamatasks.results import Summary
from llamatasks.tasks.summarize import LEADS, SummarizeOptions
from llamatasks.tasks.summarize_claims import unsupported_claims

SOURCE = (
    "We propose WAGE, a method from Google that trains CNNs with 8-bit weights on 1,000 images. "
    "It improves accuracy by 3.5% over two baselines. Results were presented in Paris."
)


def test_supported_numbers_names_and_terms_are_not_flagged() -> None:
    # Digits for number words, "1000" for "1,000", a singular for a plural, a possessive, a hyphenated term.
    summary = "WAGE's CNN uses 8-bit weights on 1000 images, gaining 3.5% over 2 baselines, as Google shows."
    assert unsupported_claims(summary, SOURCE) == []


def test_invented_numbers_names_and_terms_are_flagged_in_order_once() -> None:
    summary = ("Researchers at Microsoft train ResNet-50 with 16-bit weights, improving accuracy by 15% "
               "over three baselines in London and Microsoft.")
    assert unsupported_claims(summary, SOURCE) == ["Microsoft", "ResNet-50", "16-bit", "15%", "three", "London"]


def test_ordinary_words_and_sentence_openings_are_not_claims() -> None:
    # "Researchers" opens the sentence, "approach" is a paraphrase, "one" is a pronoun: none is a claim.
    assert unsupported_claims("Researchers show an approach. One of them is faster.", SOURCE) == []
    assert unsupported_claims('"Results" are in: the method works.', SOURCE) == []


def test_acronyms_and_mixed_case_count_even_at_a_sentence_start() -> None:
    assert unsupported_claims("BERT and GPT-2 are compared.", SOURCE) == ["BERT", "GPT-2"]
    assert unsupported_claims("iPhone users agree.", SOURCE) == ["iPhone"]


def test_a_number_must_match_in_value() -> None:
    assert unsupported_claims("Accuracy rises by 3.6%.", SOURCE) == ["3.6%"]
    assert unsupported_claims("Accuracy rises by 3.50%.", SOURCE) == []
    assert unsupported_claims("It uses 1,000 images.", "It uses 1000 images.") == []


def test_empty_and_claim_free_texts() -> None:
    assert unsupported_claims("", SOURCE) == []
    assert unsupported_claims("It was held in Paris in 2024.", "") == ["Paris", "2024"]
    assert unsupported_claims("Paris hosted it.", "") == []  # a sentence opening is not taken for a name


def test_summary_field_defaults_to_no_unsupported_claims() -> None:
    field = Summary.model_fields["unsupported"]
    assert field.description and "does not contain" in field.description
    assert SummarizeOptions().candidates == 1 and len(LEADS) >= 4


def test_tiny_model_summaries_report_their_unsupported_claims(tiny_model: Callable[..., Model]) -> None:
    model = tiny_model("chatml")
    text = "The council approved the budget on Tuesday. It adds 12 bike lanes in Leeds."
    for candidates in (1, 3):
        summary = model.run("summarize", text, max_words=12, candidates=candidates)
        assert summary.unsupported == unsupported_claims(summary.text, text)
        assert summary.words <= 12


def test_best_of_candidates_prefers_fewer_unsupported_claims(tiny_model: Callable[..., Model],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate that invents nothing wins over one the model scores higher."""
    from llamatasks.tasks import summarize

    written = {LEADS[0]: "Leeds gets 99 bike lanes.", LEADS[1]: "Leeds gets 12 bike lanes."}

    def fake_many(self: summarize.SummarizeTask, model: Model, texts: list[str], max_words: int,
                  num_beams: int, lead: str = LEADS[0]) -> list[tuple[str, int, int, float | None]]:
        return [(written[lead], 5, 5, 0.5) for _ in texts]

    monkeypatch.setattr(summarize.SummarizeTask, "_summarize_many", fake_many)
    monkeypatch.setattr(summarize.SummarizeTask, "_fits", lambda self, model, texts, rows: [[0.0, -9.0] for _ in rows])
    model = tiny_model("chatml")
    summary = model.run("summarize", "The council adds 12 bike lanes in Leeds.", max_words=12, candidates=2)
    assert summary.text == "Leeds gets 12 bike lanes." and summary.unsupported == []
    assert summary.provenance.tokens_out == 10  # both candidates were generated
    both_bad = model.run("summarize", "The council adds bike lanes in York.", max_words=12, candidates=2)
    # Both invent a number (99, 12): the tie goes to the candidate the model scores higher.
    assert both_bad.text == "Leeds gets 99 bike lanes." and both_bad.unsupported == ["99"]


def test_candidates_out_of_range_is_a_clear_error(tiny_model: Callable[..., Model]) -> None:
    from llamatasks.errors import LlamaTasksError

    with pytest.raises(LlamaTasksError, match="candidates"):
        tiny_model("chatml").run("summarize", "Some text.", candidates=len(LEADS) + 1)
