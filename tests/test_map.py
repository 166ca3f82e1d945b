"""``llamatasks.map`` / ``Model.map``: streaming, input order, per-item errors, the opt-in cache."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llamatasks
from llamatasks.corpus.mapping import TaskJob, map_texts
from llamatasks.errors import InputTypeError, InvalidInputError
from llamatasks.results import ItemError, Sentiment

TEXTS = ["a fine film", "the worst day", "it was ok I guess", "great!", "meh", "lovely people", "never again"]


@pytest.fixture(scope="module")
def model(tiny_model: Callable[..., llamatasks.Model]) -> llamatasks.Model:
    return tiny_model("chatml")


def _scores(results: list[Any]) -> list[float]:
    """Every label probability of every result, in order (pytest.approx compares flat lists)."""
    return [score for r in results for _, score in sorted(r.scores.items())]


def test_map_streams_a_generator_in_input_order(model: llamatasks.Model) -> None:
    expected = model.run("sentiment", TEXTS, phrasings=1)
    got = list(model.map("sentiment", (t for t in TEXTS), batch_size=3, phrasings=1))
    assert _scores(got) == pytest.approx(_scores(expected), abs=1e-4)  # float32 noise of other batch shapes
    assert [r.label for r in got] == [r.label for r in expected]


def test_map_reads_items_only_as_results_are_consumed(model: llamatasks.Model) -> None:
    endless = (f"text number {i}" for i in itertools.count())
    first = list(itertools.islice(model.map("sentiment", endless, batch_size=2, phrasings=1), 3))
    assert len(first) == 3 and all(isinstance(r, Sentiment) for r in first)


def test_bad_items_give_typed_item_errors_and_the_job_goes_on(model: llamatasks.Model) -> None:
    items: list[Any] = ["good", None, "", 5, "\u200b\u200b", b"bytes", "bad"]
    got = list(llamatasks.map("sentiment", items, model=model, batch_size=4, phrasings=1))
    assert len(got) == len(items)
    assert [type(r).__name__ for r in got] == ["Sentiment", "ItemError", "ItemError", "ItemError", "ItemError",
                                               "ItemError", "Sentiment"]
    errors = {r.index: r for r in got if isinstance(r, ItemError)}
    assert errors[1].error == "InputTypeError" and "None" in errors[1].message
    assert errors[2].error == "InvalidInputError" and errors[2].hint
    assert errors[3].error == "InputTypeError" and "int" in errors[3].message
    assert errors[5].error == "InputTypeError" and "bytes" in errors[5].message


class _PoisonedSentiment:
    """The sentiment task, refusing any batch that holds 'poison' (as a task refuses a text it cannot chunk)."""

    def __init__(self, real: Any) -> None:
        self.real, self.result_type = real, real.result_type
        self.calls: list[int] = []

    def run(self, runtime: Any, texts: list[str], options: Any) -> Any:
        self.calls.append(len(texts))
        if "poison" in texts:
            raise InvalidInputError("this text cannot be used", hint="drop it")
        return self.real.run(runtime, texts, options)


def test_a_batch_the_task_refuses_is_rerun_item_by_item(model: llamatasks.Model) -> None:
    job = TaskJob(model, "sentiment", {"phrasings": 1})
    job.task = _PoisonedSentiment(job.task)  # type: ignore[assignment]
    got = list(map_texts(job, ["one", "poison", "three", "four"], batch_size=4))
    assert [type(r).__name__ for r in got] == ["Sentiment", "ItemError", "Sentiment", "Sentiment"]
    refused = got[1]
    assert isinstance(refused, ItemError)
    assert refused.index == 1 and refused.message == "this text cannot be used" and refused.hint == "drop it"
    assert job.task.calls == [4, 1, 1, 1, 1]  # type: ignore[attr-defined]


def test_bad_arguments_fail_at_the_call_not_at_the_first_result(model: llamatasks.Model) -> None:
    with pytest.raises(InvalidInputError):
        llamatasks.map("sentiment", TEXTS, model=model, phrasings=0)
    with pytest.raises(InvalidInputError):
        model.map("sentiment", TEXTS, batch_size=0)
    with pytest.raises(InputTypeError, match="single str"):
        model.map("sentiment", "one text")
    with pytest.raises(InputTypeError, match="iterable"):
        model.map("sentiment", 42)  # type: ignore[arg-type]


def test_cache_is_opt_in_and_marks_hits(model: llamatasks.Model, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMATASKS_CACHE", str(tmp_path))
    list(model.map("sentiment", TEXTS[:3], phrasings=1))
    assert not (tmp_path / "results.sqlite3").exists()
    first = list(model.map("sentiment", TEXTS[:3], cache=True, phrasings=1))
    again = list(model.map("sentiment", [*TEXTS[:3], "a new one"], cache=True, phrasings=1))
    assert [r.provenance.cached for r in first] == [False] * 3
    assert [r.provenance.cached for r in again] == [True, True, True, False]
    assert _scores(again[:3]) == _scores(first)
    other_options = list(model.map("sentiment", TEXTS[:1], cache=True, phrasings=2))
    assert other_options[0].provenance.cached is False


def _numbered(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"review {i}: {'good' if i % 2 else 'bad'}"


def test_map_over_many_items_keeps_count_and_order(model: llamatasks.Model) -> None:
    got = list(model.map("sentiment", _numbered(150), batch_size=64, phrasings=1))
    expected = model.run("sentiment", list(_numbered(150)), phrasings=1)
    assert _scores(got) == pytest.approx(_scores(expected), abs=1e-4)  # float32 noise of other batch shapes
