"""Quality metrics: standard scores from well-kept packages, plus a few small checks written here.

Classification scores come from scikit-learn, ROUGE from rouge-score, chrF++ and BLEU from
sacrebleu; those packages (the ``eval`` extra) are imported inside the functions that use them so
``import llamatasks`` stays fast. Written here, because they are small: expected calibration
error, exact-span NER scores with a grounding check, and two failure detectors for generated text
(copying the source, degenerate repetition).

Scales follow the packages: accuracy, F1 and ROUGE in [0, 1]; chrF++ and BLEU in [0, 100].
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from llamatasks.tasks.translate import normalize_text

if TYPE_CHECKING:
    from sacrebleu.metrics.chrf import CHRF

Scores = dict[str, float]
"""Metric name to value."""

UNPARSED = "<unparsed>"
"""Stands in for a prediction that has no usable label; never a gold label."""

COPY_CHRF_THRESHOLD = 70.0
"""chrF of an output against its source at or above which the output counts as a copy.

Real NTREX translations en<->fr/de/zh score at most ~44 chrF against their own source;
"Translation: " followed by the source scores ~96, half of the source ~52.
"""

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class EntitySpan(Protocol):
    """What the NER metrics need from an entity, gold or predicted."""

    @property
    def text(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


def classification_scores(gold: Sequence[str], predicted: Sequence[str | None]) -> Scores:
    """Accuracy, macro-F1 and the share of predictions without a label.

    A ``None`` prediction (an unparseable answer) counts as wrong. Macro-F1 averages over the
    labels that occur in ``gold``: a label the model invents lowers the recall of the true label
    but adds no class of its own.
    """
    from sklearn.metrics import accuracy_score, f1_score

    check_same_length(gold, predicted)
    filled = [UNPARSED if label is None else label for label in predicted]
    return {
        "accuracy": float(accuracy_score(gold, filled)),
        "macro_f1": float(f1_score(gold, filled, labels=sorted(set(gold)), average="macro", zero_division=0)),
        "unparsed_share": sum(label is None for label in predicted) / len(predicted),
    }


def per_label_scores(gold: Sequence[str], predicted: Sequence[str | None]) -> dict[str, Scores]:
    """Precision, recall, F1, gold count (``support``) and predicted count for each gold label."""
    from sklearn.metrics import precision_recall_fscore_support

    check_same_length(gold, predicted)
    labels = sorted(set(gold))
    filled = [UNPARSED if label is None else label for label in predicted]
    precision, recall, f1, support = precision_recall_fscore_support(gold, filled, labels=labels, zero_division=0)
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": filled.count(label),
        }
        for i, label in enumerate(labels)
    }


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 15) -> float:
    """Expected calibration error over equal-width bins of the top-label confidence.

    ECE = sum over bins of (bin size / n) * |accuracy in bin - mean confidence in bin|, with bins
    ``[k/n_bins, (k+1)/n_bins)`` and a confidence of exactly 1.0 in the last bin.

    Args:
        confidences: The probability the model gave its predicted label, in [0, 1].
        correct: Whether each prediction was right.
        n_bins: Number of bins (15 is the usual choice, after Guo et al. 2017).
    """
    check_same_length(confidences, correct)
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for confidence, is_correct in zip(confidences, correct, strict=True):
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence {confidence} is outside [0, 1]")
        bins[min(int(confidence * n_bins), n_bins - 1)].append((confidence, is_correct))
    total = len(confidences)
    return sum(len(members) / total * _calibration_gap(members) for members in bins if members)


def _calibration_gap(members: list[tuple[float, bool]]) -> float:
    """|accuracy - mean confidence| of one bin."""
    accuracy = sum(is_correct for _, is_correct in members) / len(members)
    confidence = sum(conf for conf, _ in members) / len(members)
    return abs(accuracy - confidence)


def is_grounded(text: str, entity: EntitySpan) -> bool:
    """Whether an entity is a real span of ``text``: offsets in range and ``text[start:end] == entity.text``."""
    return 0 <= entity.start < entity.end <= len(text) and text[entity.start : entity.end] == entity.text


def f1_from_counts(true_positives: int, false_positives: int, false_negatives: int) -> Scores:
    """Precision, recall and F1 from counts; 0.0 where a denominator is zero."""
    predicted = true_positives + false_positives
    gold = true_positives + false_negatives
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ner_scores(
    texts: Sequence[str], gold: Sequence[Sequence[EntitySpan]], predicted: Sequence[Sequence[EntitySpan]]
) -> tuple[Scores, dict[str, Scores]]:
    """Exact-span micro precision/recall/F1 on (start, end, label), and the same per label.

    Spans are compared as sets, so a duplicated prediction counts once. An ungrounded prediction
    (offsets out of range, or its text is not ``text[start:end]``) is never a true positive; the
    overall scores also count them in ``ungrounded``.

    Returns:
        The overall scores (``precision``, ``recall``, ``f1``, ``gold``, ``predicted``,
        ``ungrounded``) and, for every label seen in gold or predictions, its scores and ``support``.
    """
    check_same_length(texts, gold)
    check_same_length(texts, predicted)
    counts: dict[str, list[int]] = {}  # label -> [true positives, false positives, false negatives]
    ungrounded = 0
    for text, gold_spans, predicted_spans in zip(texts, gold, predicted, strict=True):
        gold_keys = {(e.start, e.end, e.label) for e in gold_spans}
        predicted_keys = {(e.start, e.end, e.label) for e in predicted_spans}
        grounded_keys = {(e.start, e.end, e.label) for e in predicted_spans if is_grounded(text, e)}
        ungrounded += len(predicted_spans) - sum(is_grounded(text, e) for e in predicted_spans)
        matched = gold_keys & grounded_keys
        for kind, keys in enumerate((matched, predicted_keys - matched, gold_keys - matched)):
            for _, _, label in keys:
                counts.setdefault(label, [0, 0, 0])[kind] += 1
    totals = [sum(column) for column in zip(*counts.values(), strict=True)] if counts else [0, 0, 0]
    overall = f1_from_counts(*totals) | {
        "gold": totals[0] + totals[2],
        "predicted": sum(len(spans) for spans in predicted),
        "ungrounded": ungrounded,
    }
    per_label = {label: f1_from_counts(*c) | {"support": c[0] + c[2]} for label, c in sorted(counts.items())}
    return overall, per_label


def rouge_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> Scores:
    """Mean ROUGE-1/2/L F-measure (Porter stemming on), each the best over an example's references."""
    from rouge_score import rouge_scorer

    check_same_length(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, refs in zip(predictions, references, strict=True):
        best = scorer.score_multi(list(refs), prediction)  # per type, the reference with the top F
        for rouge_type in ROUGE_TYPES:
            totals[rouge_type] += best[rouge_type].fmeasure
    return {rouge_type: total / len(predictions) for rouge_type, total in totals.items()}


def length_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> Scores:
    """Mean words per prediction, mean words per reference, and their ratio.

    An example's reference length is the mean over its references; words are whitespace-separated.
    """
    check_same_length(predictions, references)
    predicted_words = sum(len(p.split()) for p in predictions) / len(predictions)
    reference_words = mean_reference_words(references)
    ratio = predicted_words / reference_words if reference_words else 0.0
    return {"predicted_words": predicted_words, "reference_words": reference_words, "length_ratio": ratio}


def mean_reference_words(references: Sequence[Sequence[str]]) -> float:
    """Mean over examples of the mean whitespace word count of their references."""
    if not references:
        raise ValueError("no references to measure")
    return sum(sum(len(r.split()) for r in refs) / len(refs) for refs in references) / len(references)


def bleu_tokenizer(target_lang: str) -> str:
    """The sacrebleu tokenizer for a target language: ``"zh"`` for Chinese, else ``"13a"``."""
    base = target_lang.lower().replace("_", "-").split("-")[0]
    return "zh" if base in {"zh", "zho", "chi", "cmn"} else "13a"


def translation_scores(predictions: Sequence[str], targets: Sequence[str], target_lang: str) -> Scores:
    """Corpus chrF++ (``CHRF(word_order=2)``) and BLEU for one translation direction."""
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF

    check_same_length(predictions, targets)
    hypotheses, references = list(predictions), [list(targets)]
    return {
        "chrf++": CHRF(word_order=2).corpus_score(hypotheses, references).score,
        "bleu": BLEU(tokenize=bleu_tokenizer(target_lang)).corpus_score(hypotheses, references).score,
    }


def character_length_ratio(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Characters of the predictions over characters of the references (1.0: as long as them).

    Reported beside chrF++, which weights recall twice as much as precision: an
    output padded with invented text can raise chrF++ while translating worse.
    """
    check_same_length(predictions, targets)
    reference = sum(len(t) for t in targets)
    return sum(len(p) for p in predictions) / reference if reference else 0.0


def copies_source(output: str, source: str, threshold: float = COPY_CHRF_THRESHOLD) -> bool:
    """Whether an output copies its source: equal after normalisation, or chrF >= ``threshold``.

    Normalisation is Unicode NFKC, case folding and collapsed whitespace. An empty output is not a copy.
    """
    normalized_output, normalized_source = normalize_text(output), normalize_text(source)
    if not normalized_output:
        return False
    if normalized_output == normalized_source:
        return True
    score: float = _chrf().sentence_score(normalized_output, [normalized_source]).score
    return score >= threshold


@lru_cache(maxsize=1)
def _chrf() -> CHRF:
    from sacrebleu.metrics.chrf import CHRF

    return CHRF()


# One CJK character, a word, or one punctuation mark: CJK text has no spaces to split on.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|\w+|[^\w\s]")


def has_degenerate_repetition(text: str, *, max_n: int = 8, min_repeats: int = 3, min_tokens: int = 8) -> bool:
    """Whether ``text`` loops: some n-gram repeated back to back, as in "der der der der ...".

    True when an n-gram (1 <= n <= ``max_n`` tokens) occurs at least ``min_repeats`` times in a row
    and the run covers at least ``min_tokens`` tokens, so "ha ha ha" passes but a unigram repeated
    eight times, or a sentence said three times, does not.
    """
    tokens = _TOKEN.findall(text.casefold())
    for n in range(1, max_n + 1):
        for start in range(len(tokens) - n * min_repeats + 1):
            repeats = _run_length(tokens, start, n)
            if repeats >= min_repeats and repeats * n >= min_tokens:
                return True
    return False


def _run_length(tokens: list[str], start: int, n: int) -> int:
    """How many times ``tokens[start:start+n]`` repeats back to back from ``start``."""
    unit = tokens[start : start + n]
    repeats = 1
    while tokens[start + repeats * n : start + (repeats + 1) * n] == unit:
        repeats += 1
    return repeats


def share(flags: Sequence[bool]) -> float:
    """The fraction of true flags; 0.0 for none."""
    return sum(flags) / len(flags) if flags else 0.0


def check_same_length(first: Sequence[object], second: Sequence[object]) -> None:
    """Raise ``ValueError`` unless both sequences are non-empty and pair up one to one."""
    if len(first) != len(second):
        raise ValueError(f"got {len(first)} and {len(second)} items; they must pair up")
    if not first:
        raise ValueError("nothing to score")
