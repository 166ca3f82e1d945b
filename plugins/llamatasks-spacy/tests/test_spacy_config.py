"""Config: bad values fail in add_pipe with the component's name, nothing loads before the first doc, entry points."""

from __future__ import annotations

import importlib.metadata
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import llamatasks_spacy  # noqa: F401  # registers the factories without relying on the installed entry points
import pytest
import spacy
from confection import ConfigValidationError
from spacy import ty

from llamatasks.errors import InvalidInputError, ModelNotFoundError, UnknownBackendError

FACTORIES = ("llamatasks_ner", "llamatasks_textcat", "llamatasks_sentiment")


@pytest.mark.parametrize(("factory", "config", "error", "message"), [
    ("llamatasks_textcat", {}, InvalidInputError,
     r"component 'llamatasks_textcat' \(llamatasks_textcat\): labels is required"),
    ("llamatasks_textcat", {"labels": ["sports"]}, InvalidInputError, "two or more distinct labels"),
    ("llamatasks_textcat", {"labels": ["a", "a"]}, InvalidInputError, "two or more distinct labels"),
    ("llamatasks_sentiment", {"labels": ["good", "bad"]}, InvalidInputError, "'positive', 'negative' or 'neutral'"),
    ("llamatasks_ner", {"labels": []}, InvalidInputError, "labels is empty"),
    ("llamatasks_ner", {"device": "gpu"}, InvalidInputError, "unknown device 'gpu'"),
    ("llamatasks_ner", {"batch_size": 0}, InvalidInputError, "batch_size must be a positive integer"),
    ("llamatasks_ner", {"backend": "nope"}, UnknownBackendError, r"unknown backend 'nope' \(registered: .*torch"),
    ("llamatasks_sentiment", {"model": "/no/such/model"}, ModelNotFoundError, "'/no/such/model' does not exist"),
])
def test_bad_values_fail_in_add_pipe(factory: str, config: dict[str, Any], error: type[Exception], message: str,
                                     serve_model: Callable[[Any], Any]) -> None:
    loads = serve_model(object()).loads
    with pytest.raises(error, match=message) as raised:
        spacy.blank("en").add_pipe(factory, config=config)
    assert raised.value.hint and not loads


@pytest.mark.parametrize("config", [{"batch_size": "many"}, {"labels": "PER"}, {"colour": "red"}])
def test_spacy_checks_types_and_names(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigValidationError):
        spacy.blank("en").add_pipe("llamatasks_ner", config=config)


def test_nothing_loads_before_the_first_doc(serve_model: Callable[[Any], Any]) -> None:
    loads = serve_model(object()).loads
    nlp = spacy.blank("en")
    for factory in FACTORIES:
        nlp.add_pipe(factory, config={"labels": ["a", "b"]} if factory == "llamatasks_textcat" else {})
    # spaCy's runtime Protocol checks probe every member with hasattr, in hash order: none may load the model.
    for _, proc in nlp.pipeline:
        assert not isinstance(proc, (ty.TrainableComponent, ty.ListenedToComponent, ty.InitializableComponent))
    nlp.initialize()
    assert nlp.pipe_names == list(FACTORIES) and loads == []


def test_labels_are_the_configured_ones() -> None:
    nlp = spacy.blank("en")
    assert nlp.add_pipe("llamatasks_ner").labels == ("PER", "ORG", "LOC", "MISC")
    assert nlp.add_pipe("llamatasks_ner", name="drugs", config={"labels": {"DRUG": "medicine"}}).labels == ("DRUG",)
    assert nlp.add_pipe("llamatasks_sentiment").labels == ("positive", "negative")
    assert nlp.add_pipe("llamatasks_textcat", config={"labels": ["b", "a"]}).labels == ("b", "a")
    assert nlp.pipe_labels["llamatasks_textcat"] == ["b", "a"]


def test_components_pickle_without_their_model(serve_model: Callable[[Any], Any]) -> None:
    serve_model(object())
    component = spacy.blank("en").add_pipe("llamatasks_textcat", config={"labels": ["a", "b"], "device": "cpu"})
    assert component.get_model() is not None  # loaded: the copy must not carry it
    copy = pickle.loads(pickle.dumps(component))
    assert (copy.name, copy.reference, copy.labels) == (component.name, component.reference, ("a", "b"))
    assert copy._model is None


def test_the_entry_points_are_installed() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="spacy_factories")}
    if "llamatasks_ner" not in eps:
        pytest.skip("llamatasks-spacy is not installed (pip install -e plugins/llamatasks-spacy)")
    assert {name: eps[name].value for name in FACTORIES} == {
        name: f"llamatasks_spacy.factories:make_{name.removeprefix('llamatasks_')}" for name in FACTORIES}
    assert eps["llamatasks_ner"].dist is not None and eps["llamatasks_ner"].dist.name == "llamatasks-spacy"
    # A fresh interpreter that never imports llamatasks_spacy: spacy.blank loads the entry points.
    script = ("import spacy; nlp = spacy.blank('en'); "
              "print([type(nlp.add_pipe(f)).__name__ for f in ('llamatasks_ner', 'llamatasks_sentiment')])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['EntityRecognizer', 'SentimentScorer']"
