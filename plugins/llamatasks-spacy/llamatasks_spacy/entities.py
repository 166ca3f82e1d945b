"""``llamatasks_ner``: llamatasks entities (exact character spans) as ``doc.ents``.

spaCy entities are token spans, llamatasks entities character spans. An entity whose boundary falls
inside a token ("Paris" in "Parisians") becomes the tokens that cover it, and overlapping entities
(after that expansion) are resolved by ``spacy.util.filter_spans``: the longest wins, then the first.
Neither is dropped without a trace: each is recorded in ``doc._.llamatasks_misaligned`` or
``doc._.llamatasks_overlapping`` as an :class:`EntityRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import filter_spans

from llamatasks.plugins import Entities, Entity
from llamatasks_spacy.component import LlamaTasksComponent
from llamatasks_spacy.reference import ModelReference

# The core ner task's labels when none are given (NerOptions.labels=None); only what .labels reports.
DEFAULT_NER_LABELS = ("PER", "ORG", "LOC", "MISC")

MISALIGNED = "llamatasks_misaligned"
OVERLAPPING = "llamatasks_overlapping"
SCORE = "llamatasks_score"


class EntityRecord(TypedDict):
    """A llamatasks entity that did not become ``doc.ents`` exactly as found (plain data: it serializes with the doc).

    ``start``/``end`` are the entity's character offsets in ``doc.text``; ``token_start``/``token_end``
    the token span that stands for it (covering tokens for a misaligned entity; None when no token
    covers any of it).
    """

    text: str
    label: str
    score: float
    start: int
    end: int
    token_start: int | None
    token_end: int | None


def register_extensions() -> None:
    """``doc._.llamatasks_misaligned``, ``doc._.llamatasks_overlapping`` and ``span._.llamatasks_score``."""
    for name in (MISALIGNED, OVERLAPPING):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)  # None: no llamatasks_ner has run on the doc
    if not Span.has_extension(SCORE):
        Span.set_extension(SCORE, default=None)


@dataclass(frozen=True)
class EntityAlignment:
    """Entities of one doc as spaCy spans: those for ``doc.ents`` (with their entity), and what had to change."""

    kept: list[tuple[Span, Entity]]
    misaligned: list[EntityRecord]
    overlapping: list[EntityRecord]


def align_entities(doc: Doc, entities: Sequence[Entity]) -> EntityAlignment:
    """Map character-span entities onto ``doc``'s tokens, expanding misaligned ones and resolving overlaps."""
    placed: list[tuple[Span, Entity]] = []
    misaligned: list[EntityRecord] = []
    for entity in entities:
        span = doc.char_span(entity.start, entity.end, label=entity.label, alignment_mode="strict")
        if span is None:
            span = doc.char_span(entity.start, entity.end, label=entity.label, alignment_mode="expand")
            span = span if span is not None and len(span) else None  # expand gives an empty span for whitespace
            misaligned.append(_record(entity, span))
        if span is not None:
            placed.append((span, entity))
    # filter_spans returns the very Span objects it keeps, so identity tells kept from dropped.
    kept_ids = {id(span) for span in filter_spans([span for span, _ in placed])}
    kept = sorted(((s, e) for s, e in placed if id(s) in kept_ids), key=lambda pair: pair[0].start)
    overlapping = [_record(e, s) for s, e in placed if id(s) not in kept_ids]
    return EntityAlignment(kept, misaligned, overlapping)


def _record(entity: Entity, span: Span | None) -> EntityRecord:
    return EntityRecord(text=entity.text, label=entity.label, score=entity.score, start=entity.start, end=entity.end,
                        token_start=None if span is None else span.start,
                        token_end=None if span is None else span.end)


class EntityRecognizer(LlamaTasksComponent[Entities]):
    """Sets ``doc.ents`` (replacing any already there) from the llamatasks ``ner`` task.

    Each entity span's label probability is ``span._.llamatasks_score``.
    """

    def __init__(self, name: str, reference: ModelReference, labels: Sequence[str] | Mapping[str, str] | None) -> None:
        super().__init__(name, reference)
        self.ner_labels = labels
        register_extensions()

    @property
    def labels(self) -> tuple[str, ...]:
        return DEFAULT_NER_LABELS if self.ner_labels is None else tuple(self.ner_labels)

    def predict(self, texts: list[str]) -> list[Entities]:
        return self.get_model().ner(texts, labels=self.ner_labels)

    def set_annotation(self, doc: Doc, result: Entities) -> None:
        alignment = align_entities(doc, result.entities)
        doc.ents = [span for span, _ in alignment.kept]
        for span, entity in alignment.kept:
            span._.set(SCORE, entity.score)
        doc._.set(MISALIGNED, alignment.misaligned)
        doc._.set(OVERLAPPING, alignment.overlapping)

    def score(self, examples: list[Example], **kwargs: Any) -> dict[str, Any]:
        """Entity precision, recall and F-score, as spaCy's own ``ner`` reports them (``nlp.evaluate``)."""
        return get_ner_prf(examples, **kwargs)
