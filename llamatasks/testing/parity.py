"""Task-level parity: two loaded models give the same answers to every task.

Use it to show that a backend, a device or an export changes nothing a user
sees: the same sentiment and classification labels with scores within
``tolerance``, the same entities and extracted answer spans, the same greedy
summary and translations. The ONNX export is checked against PyTorch with it,
and the CUDA paths against the CPU.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from pydantic import BaseModel

if TYPE_CHECKING:
    from llamatasks.model import Model

R = TypeVar("R")

#: Scores may differ by this much (probabilities, or nats for extracted answers).
SCORE_TOLERANCE = 1e-3

REVIEWS = ["The battery died after a day.", "Great phone: the camera is superb and the screen is bright!"]
NEWS = "Tim Cook visited Paris on Monday. Later Tim Cook met Angela Merkel in Berlin to talk about Apple."
STORY = ("The council approved the new budget on Tuesday. It adds two bus lines, repairs the old bridge and "
         "funds bike lanes across the city centre.")


def assert_same_answers(reference: Model, candidate: Model, tolerance: float = SCORE_TOLERANCE) -> None:
    """Every task on both models: ``candidate`` must answer as ``reference`` does."""
    for want, got in zip(_many(reference.sentiment(REVIEWS)), _many(candidate.sentiment(REVIEWS))):
        assert got.label == want.label
        assert got.scores == pytest.approx(want.scores, abs=tolerance)
    labels = ["sports", "politics", "science fiction"]
    want_c, got_c = (_one(model.classify("The striker scored twice.", labels=labels)) for model in (reference, candidate))
    assert got_c.label == want_c.label and got_c.scores == pytest.approx(want_c.scores, abs=tolerance)
    want_e, got_e = (_one(model.ner(NEWS)).entities for model in (reference, candidate))
    assert [(e.text, e.label, e.start, e.end) for e in got_e] == [(e.text, e.label, e.start, e.end) for e in want_e]
    want_a, got_a = (_one(model.answer("Who is mentioned?", NEWS)) for model in (reference, candidate))
    assert (got_a.text, got_a.start, got_a.end) == (want_a.text, want_a.start, want_a.end)
    assert got_a.score == pytest.approx(want_a.score, abs=tolerance)
    want_s, got_s = (_one(model.summarize(STORY, max_words=16)) for model in (reference, candidate))
    assert got_s.text == want_s.text
    for target in ("fr", "de"):
        want_t, got_t = (_one(model.translate(STORY, target=target)) for model in (reference, candidate))
        assert got_t.text == want_t.text


def _one(result: R | list[R]) -> R:
    assert not isinstance(result, list)
    return result


def _many(result: R | list[R]) -> list[R]:
    assert isinstance(result, list)
    return result


def comparable(result: Any) -> Any:
    """A result (a pydantic model, its JSON text or JSON data, or a list of them) as JSON data without
    its timing, ``provenance.seconds``: the one field that differs between two runs of the same call."""
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    elif isinstance(result, str):
        result = json.loads(result)
    if isinstance(result, list):
        return [comparable(item) for item in result]
    if isinstance(result, dict) and isinstance(result.get("provenance"), dict):
        result = {**result, "provenance": {k: v for k, v in result["provenance"].items() if k != "seconds"}}
    return result
