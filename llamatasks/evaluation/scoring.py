"""Score one task's predictions against its labelled examples: overall metrics and a per-group breakdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import metrics
from .data import NerExample, SentimentExample, SummarizationExample, TranslationExample
from .metrics import Scores
from .predictions import LabelPrediction, SpanPrediction, group_by_direction


@dataclass(frozen=True)
class TaskScores:
    """Overall metrics, plus the same kind of figures for each group (a label or a direction)."""

    metrics: Scores
    group_by: str | None = None
    groups: dict[str, Scores] = field(default_factory=dict)


def normalize_label(label: str) -> str:
    """Sentiment labels compare ignoring case and surrounding space."""
    return label.strip().casefold()


def score_sentiment(examples: Sequence[SentimentExample], predictions: Sequence[LabelPrediction]) -> TaskScores:
    """Accuracy, macro-F1, unparsed share and, when every prediction has a confidence, ECE.

    Groups are the gold labels: precision, recall, F1, support and how often each was predicted.
    """
    metrics.check_same_length(examples, predictions)
    gold = [normalize_label(example.label) for example in examples]
    predicted = [None if p.label is None else normalize_label(p.label) for p in predictions]
    overall = metrics.classification_scores(gold, predicted)
    confidences = [p.confidence for p in predictions]
    if all(confidence is not None for confidence in confidences):
        correct = [g == p for g, p in zip(gold, predicted, strict=True)]
        overall["ece"] = metrics.expected_calibration_error([c for c in confidences if c is not None], correct)
    return TaskScores(overall, "label", metrics.per_label_scores(gold, predicted))


def score_ner(examples: Sequence[NerExample], predictions: Sequence[Sequence[SpanPrediction]]) -> TaskScores:
    """Exact-span micro precision/recall/F1 and ungrounded count; groups are entity labels."""
    overall, per_label = metrics.ner_scores(
        [example.text for example in examples], [example.entities for example in examples], predictions
    )
    return TaskScores(overall, "label", per_label)


def score_summaries(examples: Sequence[SummarizationExample], predictions: Sequence[str]) -> TaskScores:
    """Best-of-references ROUGE-1/2/L, lengths and their ratio, the share of looping outputs, and claims.

    ``unsupported_count`` is the number of numbers, names and terms in the summaries that their
    documents do not contain (``llamatasks.tasks.summarize_claims``); ``unsupported_share`` the
    share of summaries with at least one.
    """
    from llamatasks.tasks.summarize_claims import unsupported_claims

    references = [example.reference_texts for example in examples]
    overall = metrics.rouge_scores(predictions, references) | metrics.length_scores(predictions, references)
    overall["repetition_share"] = metrics.share([metrics.has_degenerate_repetition(p) for p in predictions])
    claims = [unsupported_claims(p, e.document) for p, e in zip(predictions, examples, strict=True)]
    overall["unsupported_count"] = sum(len(found) for found in claims)
    overall["unsupported_share"] = metrics.share([bool(found) for found in claims])
    return TaskScores(overall)


def score_translations(examples: Sequence[TranslationExample], predictions: Sequence[str]) -> TaskScores:
    """chrF++, BLEU and length ratio per direction and their means, plus copy and repetition shares.

    BLEU needs one tokenizer per corpus (``zh`` for Chinese targets), so the overall chrF++, BLEU and
    length ratio are the unweighted means of the per-direction figures; the shares are over all outputs.
    """
    metrics.check_same_length(examples, predictions)
    copies = [metrics.copies_source(p, example.source) for p, example in zip(predictions, examples, strict=True)]
    loops = [metrics.has_degenerate_repetition(p) for p in predictions]
    groups: dict[str, Scores] = {}
    for (source, target), indices in group_by_direction(examples).items():
        outputs, targets = [predictions[i] for i in indices], [examples[i].target for i in indices]
        groups[f"{source}-{target}"] = metrics.translation_scores(outputs, targets, target) | {
            "length_ratio": metrics.character_length_ratio(outputs, targets),
            "copy_share": metrics.share([copies[i] for i in indices]),
            "repetition_share": metrics.share([loops[i] for i in indices]),
            "n": len(indices),
        }
    overall = {name: sum(group[name] for group in groups.values()) / len(groups)
               for name in ("chrf++", "bleu", "length_ratio")}
    overall |= {"copy_share": metrics.share(copies), "repetition_share": metrics.share(loops)}
    return TaskScores(overall, "direction", groups)
