"""Character spans onto tokens: misaligned entities expanded and recorded, overlaps resolved and recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import spacy
from llamatasks_spacy import align_entities
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from llamatasks.plugins import Entity


def ner_on(spans: list[tuple[int, int, str]], serve_entities: Callable[[Any], Any]) -> spacy.Language:
    serve_entities(spans)
    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_ner")
    return nlp


def test_an_entity_inside_a_token_becomes_the_covering_tokens_and_is_recorded(serve_entities: Callable) -> None:
    nlp = ner_on([(0, 5, "LOC"), (15, 20, "LOC")], serve_entities)
    doc = nlp("Parisians love Paris.")  # "Paris" (0-5) ends inside the token "Parisians"
    assert [(e.text, e.label_, e.start, e.end) for e in doc.ents] == [
        ("Parisians", "LOC", 0, 1), ("Paris", "LOC", 2, 3)]
    assert doc._.llamatasks_misaligned == [
        {"text": "Paris", "label": "LOC", "score": 0.5, "start": 0, "end": 5, "token_start": 0, "token_end": 1}]
    assert doc._.llamatasks_overlapping == []
    assert [e._.llamatasks_score for e in doc.ents] == [0.5, 0.5]


def test_records_are_plain_data_that_travel_with_the_doc(serve_entities: Callable) -> None:
    nlp = ner_on([(0, 5, "LOC"), (0, 9, "MISC")], serve_entities)
    doc = nlp("Parisians love Paris.")
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert restored._.llamatasks_misaligned == doc._.llamatasks_misaligned and restored._.llamatasks_misaligned
    assert restored._.llamatasks_overlapping == doc._.llamatasks_overlapping and restored._.llamatasks_overlapping
    (from_bin,) = DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab)
    assert [(e.text, e._.llamatasks_score) for e in from_bin.ents] == [("Parisians", 0.5)]


def test_overlaps_keep_the_longest_then_the_first_and_record_the_rest(serve_entities: Callable) -> None:
    text = "New York City is big."
    spans = [(4, 13, "ORG"), (0, 8, "LOC"), (0, 13, "LOC"), (0, 3, "MISC")]
    nlp = ner_on(spans, serve_entities)
    doc = nlp(text)
    assert [(e.text, e.label_) for e in doc.ents] == [("New York City", "LOC")]
    assert sorted((r["text"], r["label"], r["token_start"], r["token_end"]) for r in doc._.llamatasks_overlapping) == [
        ("New", "MISC", 0, 1), ("New York", "LOC", 0, 2), ("York City", "ORG", 1, 3)]
    # Equal lengths: the earlier span wins, whatever order the entities came in.
    for order in ([(4, 13, "ORG"), (0, 8, "LOC")], [(0, 8, "LOC"), (4, 13, "ORG")]):
        doc = ner_on(order, serve_entities)(text)
        assert [(e.text, e.label_) for e in doc.ents] == [("New York", "LOC")]
        assert [r["text"] for r in doc._.llamatasks_overlapping] == ["York City"]


def test_a_misaligned_entity_can_also_lose_an_overlap() -> None:
    doc = spacy.blank("en")("Parisians love Paris.")
    entities = [Entity(text="Paris", label="LOC", start=0, end=5),
                Entity(text="Parisians", label="MISC", start=0, end=9)]
    alignment = align_entities(doc, entities)
    assert [(s.text, s.label_) for s, _ in alignment.kept] == [("Parisians", "LOC")]  # same span: the first wins
    assert [r["label"] for r in alignment.misaligned] == ["LOC"]
    assert [(r["label"], r["token_start"], r["token_end"]) for r in alignment.overlapping] == [("MISC", 0, 1)]


def test_evaluate_scores_entities_as_spacy_ner_does(serve_entities: Callable) -> None:
    nlp = ner_on([(15, 20, "LOC")], serve_entities)
    gold = Example.from_dict(nlp.make_doc("Parisians love Paris."), {"entities": [(15, 20, "LOC"), (0, 9, "MISC")]})
    scores = nlp.evaluate([gold])
    assert (scores["ents_p"], scores["ents_r"]) == (1.0, 0.5)
