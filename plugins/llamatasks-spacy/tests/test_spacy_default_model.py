"""The embedded default model (SmolLM2-135M-Instruct) through spaCy: people and places in doc.ents."""

from __future__ import annotations

import llamatasks_spacy  # noqa: F401  # registers the factories without relying on the installed entry points
import pytest
import spacy

import llamatasks

pytestmark = pytest.mark.default_model


@pytest.fixture(scope="module")
def nlp() -> spacy.Language:
    from llamatasks.sources import default_gguf

    try:
        default_gguf()
    except llamatasks.errors.ModelNotFoundError as exc:
        pytest.skip(str(exc))
    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_ner")  # model: null, the default model
    return nlp


def test_paris_is_a_location(nlp: spacy.Language) -> None:
    doc = nlp("Tim Cook visited Paris.")
    # The 135M model finds both names; it labels places reliably, people less so (docs/quality.md).
    assert [e.text for e in doc.ents] == ["Tim Cook", "Paris"]
    assert [(e.label_, e.start, e.end) for e in doc.ents if e.text == "Paris"] == [("LOC", 3, 4)]
