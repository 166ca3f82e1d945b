"""Per task: which records to read, how to predict (typed task or naive baseline), how to score."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from llamatasks.tasks.summarize import SummarizeOptions
from llamatasks.tasks.translate import TranslateOptions

from . import baselines
from .data import (
    EvalTask,
    NerExample,
    RecordT,
    SentimentExample,
    SummarizationExample,
    TranslationExample,
)
from .metrics import mean_reference_words
from .predictions import (
    Progress,
    TaskModel,
    predict_entities,
    predict_sentiment,
    predict_summaries,
    predict_translations,
)
from .report import EvalMethod, SettingValue
from .scoring import (
    TaskScores,
    normalize_label,
    score_ner,
    score_sentiment,
    score_summaries,
    score_translations,
)

_SENTIMENT_ORDER = ("positive", "negative", "neutral")
DEFAULT_NER_LABELS = ("PER", "LOC", "ORG", "MISC")
"""Labels the naive NER prompt names when the data has no entities to take them from (CoNLL's)."""


@dataclass(frozen=True)
class RunOptions:
    """How to run the predictions."""

    method: EvalMethod
    batch_size: int
    max_words: int | None = None
    progress: bool | None = None
    num_beams: int | None = None  # resolved by the runner for tasks that decode with beams; else None


@dataclass(frozen=True)
class Outcome:
    """Scores of one run and the settings it chose (recorded in the report)."""

    scores: TaskScores
    settings: dict[str, SettingValue] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec(Generic[RecordT]):
    """What a task reads from the file, and how it predicts and scores."""

    task: EvalTask
    record_type: type[RecordT]
    evaluate: Callable[[TaskModel, list[RecordT], RunOptions, Progress], Outcome]
    needs: tuple[str, ...] = ()
    """Modules the metrics import (from the ``eval`` extra), checked before the model loads."""
    default_beams: int | None = None
    """The task's default beam search width; None for a task that does not decode with beams."""


def evaluate_sentiment(
    model: TaskModel, examples: list[SentimentExample], options: RunOptions, progress: Progress
) -> Outcome:
    """Predict sentiment over positive/negative plus any other gold label, and score it."""
    texts = [example.text for example in examples]
    labels = sentiment_labels(examples)
    if options.method == "naive":
        predictions = baselines.naive_sentiment(model, texts, labels, progress)
        settings = {"max_new_tokens": baselines.SENTIMENT_MAX_TOKENS}
    else:
        predictions = predict_sentiment(model, texts, labels, options.batch_size, progress)
        settings = {"batch_size": options.batch_size}
    return Outcome(score_sentiment(examples, predictions), settings | {"labels": ",".join(labels)})


def sentiment_labels(examples: Sequence[SentimentExample]) -> list[str]:
    """The labels to ask for: positive, negative and any other gold label, in that order (others sorted).

    Both default labels are always asked for, so a sample that happens to hold one label is still
    a choice between two.
    """
    gold = {normalize_label(example.label) for example in examples} | {"positive", "negative"}
    known = [label for label in _SENTIMENT_ORDER if label in gold]
    return known + sorted(gold - set(known))


def evaluate_ner(model: TaskModel, examples: list[NerExample], options: RunOptions, progress: Progress) -> Outcome:
    """Predict entities with the label set found in the data, and score exact spans."""
    texts = [example.text for example in examples]
    labels = sorted({entity.label for example in examples for entity in example.entities})
    settings: dict[str, SettingValue]
    if options.method == "naive":
        asked = labels or list(DEFAULT_NER_LABELS)
        predictions = baselines.naive_entities(model, texts, asked, progress)
        settings = {"max_new_tokens": baselines.NER_MAX_TOKENS, "labels": ",".join(asked)}
    else:
        predictions = predict_entities(model, texts, labels or None, options.batch_size, progress)
        settings = {"batch_size": options.batch_size, "labels": ",".join(labels) or None}
    return Outcome(score_ner(examples, predictions), settings)


def evaluate_summaries(
    model: TaskModel, examples: list[SummarizationExample], options: RunOptions, progress: Progress
) -> Outcome:
    """Summarize to a word budget (by default the mean reference length) and score with ROUGE.

    The naive baseline asks for one sentence instead of a word budget.
    """
    documents = [example.document for example in examples]
    if options.method == "naive":
        predictions = baselines.naive_summaries(model, documents, progress)
        return Outcome(score_summaries(examples, predictions), {"max_new_tokens": baselines.SUMMARY_MAX_TOKENS})
    if options.max_words is None:
        max_words = max(1, round(mean_reference_words([example.reference_texts for example in examples])))
        budget_from = "mean reference length"
    else:
        max_words, budget_from = options.max_words, "given"
    predictions = predict_summaries(model, documents, max_words, options.num_beams, options.batch_size, progress)
    scores = score_summaries(examples, predictions)
    # The length target is relative to what was asked for (docs/quality.md: within 20% of max_words).
    scores.metrics["budget_ratio"] = scores.metrics["predicted_words"] / max_words
    settings: dict[str, SettingValue] = {
        "batch_size": options.batch_size,
        "max_words": max_words,
        "max_words_from": budget_from,
        "num_beams": options.num_beams,
    }
    return Outcome(scores, settings)


def evaluate_translations(
    model: TaskModel, examples: list[TranslationExample], options: RunOptions, progress: Progress
) -> Outcome:
    """Translate direction by direction with the languages from the data, and score each direction."""
    if options.method == "naive":
        predictions = baselines.naive_translations(model, examples, progress)
        return Outcome(score_translations(examples, predictions), {"max_new_tokens": baselines.TRANSLATION_MAX_TOKENS})
    predictions = predict_translations(model, examples, options.num_beams, options.batch_size, progress)
    settings: dict[str, SettingValue] = {"batch_size": options.batch_size, "num_beams": options.num_beams}
    return Outcome(score_translations(examples, predictions), settings)


TASK_SPECS: dict[EvalTask, TaskSpec[Any]] = {
    "sentiment": TaskSpec("sentiment", SentimentExample, evaluate_sentiment, needs=("sklearn",)),
    "ner": TaskSpec("ner", NerExample, evaluate_ner),
    "summarize": TaskSpec("summarize", SummarizationExample, evaluate_summaries, needs=("rouge_score",),
                          default_beams=SummarizeOptions.model_fields["num_beams"].default),
    "translate": TaskSpec("translate", TranslationExample, evaluate_translations, needs=("sacrebleu",),
                          default_beams=TranslateOptions.model_fields["num_beams"].default),
}
"""The tasks ``run_eval`` can score, by canonical name."""
