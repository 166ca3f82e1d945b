"""``llamatasks_textcat`` and ``llamatasks_sentiment``: a calibrated distribution over labels as ``doc.cats``.

Both set ``doc.cats[label]`` for each configured label to the task's ``scores`` (label probabilities
from the model's likelihoods; they sum to 1). Other categories stay, as with spaCy's ``textcat``, so
a topic component and a sentiment component can share ``doc.cats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example

from llamatasks.plugins import Classification, Sentiment
from llamatasks_spacy.component import LlamaTasksComponent
from llamatasks_spacy.reference import ModelReference

DistributionT = TypeVar("DistributionT", Classification, Sentiment)


class CategoryComponent(LlamaTasksComponent[DistributionT]):
    """Shared by the two: labels, ``doc.cats`` and scoring as spaCy's exclusive-class ``textcat`` does."""

    def __init__(self, name: str, reference: ModelReference, labels: Sequence[str]) -> None:
        super().__init__(name, reference)
        self.category_labels = tuple(labels)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.category_labels

    def set_annotation(self, doc: Doc, result: DistributionT) -> None:
        for label in self.category_labels:
            doc.cats[label] = result.scores[label]

    def score(self, examples: list[Example], **kwargs: Any) -> dict[str, Any]:
        """Category accuracy figures for ``nlp.evaluate`` (one label per doc: the labels exclude each other)."""
        return Scorer.score_cats(examples, "cats", labels=self.category_labels, multi_label=False, **kwargs)


class TextCategorizer(CategoryComponent[Classification]):
    """Zero-shot classification into the configured labels (the llamatasks ``classify`` task)."""

    def predict(self, texts: list[str]) -> list[Classification]:
        return self.get_model().classify(texts, labels=self.category_labels)


class SentimentScorer(CategoryComponent[Sentiment]):
    """Sentiment over positive/negative (or with neutral) from the llamatasks ``sentiment`` task."""

    def predict(self, texts: list[str]) -> list[Sentiment]:
        return self.get_model().sentiment(texts, labels=self.category_labels)
