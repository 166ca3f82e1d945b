"""Sentiment and zero-shot classification, both by label scoring."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from llamatasks.errors import InvalidInputError
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Classification, Sentiment
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.common import split_for
from llamatasks.tasks.inputs import valid_unicode
from llamatasks.tasks.scoring import label_distributions

SENTIMENT_LABELS = ("positive", "negative", "neutral")
CONTENT_FREE = ("N/A", "[MASK]", "")

# Few-shot examples for base models (completion prompts), written for
# llamatasks; chat models answer zero-shot.
_SENTIMENT_EXAMPLES = (
    ("The screen cracked on day two and support never answered.", "negative"),
    ("Lovely little cafe, friendly staff and great coffee.", "positive"),
)


class _LabelScoringTask(Task):
    """Shared machinery: build a prompt per chunk, score labels, aggregate chunks."""

    result_type: ClassVar[type[BaseModel]]

    def _messages(self, model: TaskModel, text: str, labels: Sequence[str]) -> list[Message]:
        raise NotImplementedError

    def _labels(self, options: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    # The answer is prefilled up to the label ("The sentiment of this text is"),
    # so the label is the next word: on SmolLM2-135M this lifts sentiment from
    # 0.61 (question, bare answer) to 0.91 accuracy on half of the dev set.
    answer_prefix: ClassVar[str]

    def _prompt(self, model: TaskModel, text: str, labels: Sequence[str]) -> Prompt:
        return model.renderer.render(self._messages(model, text, labels), answer_prefix=self.answer_prefix)

    def prompts(self, model: TaskModel, text: str, **options: Any) -> list[Prompt]:
        labels = self._labels(options)
        chunks = split_for(model, text, lambda t: self._prompt(model, t, labels), reserve=8)
        return [self._prompt(model, c.text, labels) for c in chunks]

    def run(self, model: TaskModel, texts: list[str], **options: Any) -> Sequence[BaseModel]:
        labels = self._labels(options)
        started = time.perf_counter()
        per_text = [self.prompts(model, t, **options) for t in texts]
        flat = [p for prompts in per_text for p in prompts]
        verbalizers = {label: [label] for label in labels}
        # Contextual calibration: divide by the label probabilities the model
        # gives content-free inputs (dev set: 0.847 -> 0.883 accuracy, ECE 0.036 -> 0.048).
        free = [self._prompt(model, text, labels) for text in CONTENT_FREE]
        dists = iter(label_distributions(model, flat, verbalizers, lead=" ", content_free=free))
        seconds = (time.perf_counter() - started) / len(texts)
        results = []
        for prompts in per_text:
            chunk_dists = [next(dists) for _ in prompts]
            scores = _weighted_mean(chunk_dists, [len(p.ids) for p in prompts])
            label = max(scores, key=scores.__getitem__)
            prov = model.provenance(tokens_in=sum(len(p.ids) for p in prompts), tokens_out=0,
                                    seconds=seconds, chunks=len(prompts))
            results.append(self.result_type(label=label, score=scores[label], scores=scores, provenance=prov))
        return results


def _weighted_mean(dists: list[dict[str, float]], weights: list[int]) -> dict[str, float]:
    """Average chunk distributions, longer chunks counting more."""
    total = sum(weights)
    return {label: sum(d[label] * w for d, w in zip(dists, weights)) / total for label in dists[0]}


class SentimentTask(_LabelScoringTask):
    """Sentiment as calibrated label probabilities (default: positive/negative)."""

    name = "sentiment"
    result_type = Sentiment
    answer_prefix = "The sentiment of this text is"
    description = "positive/negative (optionally neutral) sentiment as probabilities"

    def _labels(self, options: dict[str, Any]) -> list[str]:
        labels = list(options.get("labels") or ("positive", "negative"))
        unknown = [label for label in labels if label not in SENTIMENT_LABELS]
        if unknown or len(set(labels)) < 2:
            raise InvalidInputError(f"unsupported sentiment labels {labels!r}",
                                    hint=f"choose two or more of {SENTIMENT_LABELS}; use classify() for other labels")
        return labels

    def _messages(self, model: TaskModel, text: str, labels: Sequence[str]) -> list[Message]:
        question = "What is the sentiment of this text?\n\n"  # naming the labels here biases a small model
        messages = [Message("system", "You are a helpful assistant.")]
        if not model.prompt_format.chat:
            for example, label in _SENTIMENT_EXAMPLES:
                messages += [Message("user", question + example),
                             Message("assistant", f"{self.answer_prefix} {label}.")]
        return [*messages, Message("user", [question, User(text)])]


class ClassifyTask(_LabelScoringTask):
    """Zero-shot classification over the labels the caller gives."""

    name = "classify"
    result_type = Classification
    answer_prefix = "The category of this text is"
    description = "zero-shot classification into caller-given labels"

    def _labels(self, options: dict[str, Any]) -> list[str]:
        labels = options.get("labels")
        if not labels or isinstance(labels, str) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise InvalidInputError("classify needs labels=[...] with at least two non-empty strings",
                                    hint='e.g. classify(text, labels=["sports", "politics", "science"])')
        labels = [valid_unicode(x.strip(), f"label {x.strip()!r}") for x in labels]
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise InvalidInputError(f"labels must be two or more distinct strings, got {labels!r}")
        return labels

    def _messages(self, model: TaskModel, text: str, labels: Sequence[str]) -> list[Message]:
        question = f"Which category does this text belong to: {', '.join(labels)}?\n\n"
        return [Message("system", "You are a helpful assistant."), Message("user", [question, User(text)])]
