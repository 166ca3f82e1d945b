"""The three components on a tiny random-weight checkpoint: structure, batching, errors and saving (not quality)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import llamatasks_spacy  # noqa: F401  # registers the factories without relying on the installed entry points
import pytest
import spacy
from spacy.tokens import Doc, Span

import llamatasks

TEXTS = [
    "Tim Cook visited Paris.",
    "Angela Merkel met Toyota executives in Berlin on Monday.",
    "The river was calm.",
    "Ada Lovelace wrote notes on the Analytical Engine.",
    "Rome and Madrid sent delegations.",
]
TOPICS = ["sports", "politics", "science"]


def build(path: str, **ner: Any) -> spacy.Language:
    """A blank English pipeline with all three components on the model at ``path``."""
    nlp = spacy.blank("en")
    shared = {"model": path, "device": "cpu"}
    nlp.add_pipe("llamatasks_ner", config={**shared, **ner})
    nlp.add_pipe("llamatasks_textcat", config={**shared, "labels": TOPICS})
    nlp.add_pipe("llamatasks_sentiment", config={**shared, "labels": ["positive", "negative", "neutral"]})
    return nlp


def annotations(doc: Doc) -> tuple[list[tuple[int, int, str]], dict[str, float]]:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents], doc.cats


@pytest.fixture(scope="module")
def nlp(tiny_model_path: str) -> spacy.Language:
    return build(tiny_model_path)


def test_ents_are_the_llamatasks_entities_as_spans(nlp: spacy.Language, tiny_model_path: str) -> None:
    model = llamatasks.get_model(tiny_model_path, None, "cpu")
    for text in TEXTS:
        doc = nlp(text)
        assert all(isinstance(e, Span) and e.text == text[e.start_char:e.end_char] for e in doc.ents)
        assert {e.label_ for e in doc.ents} <= set(nlp.get_pipe("llamatasks_ner").labels)
        # Names are whole spaCy tokens here, so every entity maps exactly: nothing expanded or dropped.
        expected = [(e.start, e.end, e.label) for e in model.ner(text).entities]
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == expected
        assert doc._.llamatasks_misaligned == [] and doc._.llamatasks_overlapping == []
        assert all(0 <= e._.llamatasks_score <= 1 for e in doc.ents)
    assert any(nlp(text).ents for text in TEXTS)


def test_ner_labels_from_config(tiny_model_path: str) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_ner", config={"model": tiny_model_path, "device": "cpu", "labels": ["PER", "LOC"]})
    docs = list(nlp.pipe(TEXTS))
    model = llamatasks.get_model(tiny_model_path, None, "cpu")
    expected = [[(e.start, e.end, e.label) for e in found.entities]
                for found in model.ner(TEXTS, labels=["PER", "LOC"])]
    assert [annotations(doc)[0] for doc in docs] == expected
    assert {e.label_ for doc in docs for e in doc.ents} <= {"PER", "LOC"}


def test_cats_are_distributions_over_the_configured_labels(nlp: spacy.Language) -> None:
    doc = nlp("The match ended in a draw.")
    assert list(doc.cats) == [*TOPICS, "positive", "negative", "neutral"]  # textcat's, then sentiment's
    topics = {label: doc.cats[label] for label in TOPICS}
    feelings = {label: doc.cats[label] for label in ("positive", "negative", "neutral")}
    for distribution in (topics, feelings):
        assert sum(distribution.values()) == pytest.approx(1.0) and all(0 <= p <= 1 for p in distribution.values())


def test_sentiment_alone_sets_positive_and_negative(tiny_model_path: str) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_sentiment", config={"model": tiny_model_path, "device": "cpu"})
    cats = nlp("I love it.").cats
    assert list(cats) == ["positive", "negative"] and sum(cats.values()) == pytest.approx(1.0)


def test_pipe_is_one_list_call_per_batch_and_equals_one_by_one(
        nlp: spacy.Language, tiny_model_path: str, serve_model: Callable[[Any], Any]) -> None:
    one_by_one = [annotations(nlp(text)) for text in TEXTS]
    counter = serve_model(llamatasks.get_model(tiny_model_path, None, "cpu"))
    fresh = build(tiny_model_path)  # components that have not loaded a model yet
    assert counter.loads == []
    batched = [annotations(doc) for doc in fresh.pipe(TEXTS, batch_size=2)]
    assert len(counter.loads) == 3  # once per component, not per batch or per doc
    assert counter.calls == [(task, n) for n in (2, 2, 1) for task in ("ner", "classify", "sentiment")]
    for (ents, cats), (expected_ents, expected_cats) in zip(batched, one_by_one, strict=True):
        assert ents == expected_ents
        assert cats == pytest.approx(expected_cats, abs=1e-4)  # padding in a batch moves floats a little


def test_a_batch_size_is_passed_to_load(tiny_model_path: str, serve_model: Callable[[Any], Any]) -> None:
    counter = serve_model(llamatasks.get_model(tiny_model_path, None, "cpu"))
    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_sentiment", config={"model": tiny_model_path, "device": "cpu", "batch_size": 4})
    list(nlp.pipe(TEXTS[:2]))
    assert counter.loads == [(tiny_model_path, None, "cpu", 4)] and counter.calls == [("sentiment", 2)]


@pytest.mark.parametrize("text", ["", "   "])
def test_llamatasks_errors_surface_with_their_type(text: str, tiny_model_path: str) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_ner", config={"model": tiny_model_path, "device": "cpu"})
    with pytest.raises(llamatasks.errors.InvalidInputError, match="empty or only whitespace"):
        nlp(text)
    with pytest.raises(llamatasks.errors.InvalidInputError, match="at index 1 is empty"):
        list(nlp.pipe(["Paris.", text, "Rome."]))


def test_an_error_handler_can_skip_a_failing_batch(nlp: spacy.Language) -> None:
    failed: list[tuple[str, list[str], type[Exception]]] = []
    nlp.set_error_handler(lambda name, proc, docs, exc: failed.append((name, [d.text for d in docs], type(exc))))
    try:
        docs = list(nlp.pipe(["Paris.", "  ", "Rome.", "Oslo."], batch_size=2))
    finally:
        nlp.set_error_handler(spacy.util.raise_error)
    assert [d.text for d in docs] == ["Rome.", "Oslo."]
    assert failed == [("llamatasks_ner", ["Paris.", "  "], llamatasks.errors.InvalidInputError)]


def test_saved_pipelines_hold_the_reference_not_the_weights(nlp: spacy.Language, tmp_path: Path) -> None:
    nlp.to_disk(tmp_path / "pipeline")
    config = (tmp_path / "pipeline" / "config.cfg").read_text()
    assert config.count(f'model = "{nlp.get_pipe("llamatasks_ner").reference.model}"') == 3
    # spaCy's own files only (no folder for the components), none of them large.
    assert {p.name for p in (tmp_path / "pipeline").iterdir()} == {"config.cfg", "meta.json", "tokenizer", "vocab"}
    assert max(p.stat().st_size for p in (tmp_path / "pipeline").rglob("*") if p.is_file()) < 200_000
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == nlp.pipe_names
    for name in nlp.pipe_names:
        assert loaded.get_pipe(name).reference == nlp.get_pipe(name).reference
        assert loaded.get_pipe(name).labels == nlp.get_pipe(name).labels
    for text in TEXTS[:2]:
        (ents, cats), (expected_ents, expected_cats) = annotations(loaded(text)), annotations(nlp(text))
        assert ents == expected_ents and cats == pytest.approx(expected_cats)
