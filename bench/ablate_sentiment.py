"""Sentiment ablation: how much each scoring technique contributes.

One forward pass per text scores every verbalization at once, so one run
measures: a single lowercase word per label vs several words per label, raw
vs contextually calibrated ("Calibrate Before Use", Zhao et al. 2021: divide
by the label probabilities the model gives content-free inputs), for three
prompt designs (a question with a bare answer; the answer prefilled up to the
label; four phrasings of the prefilled design with their distributions
averaged, as shipped). Prints accuracy, macro-F1 and expected calibration error per row.

    python bench/ablate_sentiment.py --data ../shared/eval/sentiment.jsonl [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import llamatasks
from llamatasks.evaluation.metrics import (
    classification_scores,
    expected_calibration_error,
)
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.tasks.scoring import calibrate, content_free_prior, label_distributions

SINGLE = {"positive": ["positive"], "negative": ["negative"]}
SEVERAL = {"positive": ["positive", "good", "great"], "negative": ["negative", "bad", "poor"]}
CONTENT_FREE = ("N/A", "[MASK]", "")


def _designs(m: llamatasks.Model) -> dict[str, tuple[list[Callable[[str], Prompt]], str]]:
    r = m.renderer
    task = m.registry.task("sentiment")
    phrasings = [partial(task._prompt, m, phrasing=p) for p in task.phrasings]
    return {
        "question, bare answer": (
            [lambda t: r.render([Message("system", "You are a sentiment classifier."),
                                 Message("user", ["Text: ", User(t), ("\nIs the sentiment of this text positive "
                                                                      "or negative? Answer with one word.")])])],
            m.prompt_format.answer_lead),
        "answer prefilled": (phrasings[:1], " "),
        "answer prefilled, 4 phrasings averaged (shipped)": (phrasings, " "),
    }


def _mean(runs: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per text, the label distributions of several phrasings averaged."""
    return [{k: sum(d[k] for d in ds) / len(ds) for k in ds[0]} for ds in zip(*runs)]


def _row(gold: list[str], dists: list[dict[str, float]]) -> dict[str, float]:
    predicted = [max(d, key=d.__getitem__) for d in dists]
    metrics = classification_scores(gold, predicted)
    confidence = [max(d.values()) for d in dists]
    correct = [p == g for p, g in zip(predicted, gold)]
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "ece": expected_calibration_error(confidence, correct)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()][: args.limit]
    gold = [r["label"] for r in rows]
    m = llamatasks.load(batch_size=16)
    results = {}
    for design, (builds, lead) in _designs(m).items():
        for words_name, words in (("one word per label", SINGLE), ("three words per label", SEVERAL)):
            raw, calibrated = [], []
            for build in builds:
                dists = label_distributions(m, [build(r["text"]) for r in rows], words, lead=lead)
                prior = content_free_prior(m, [build(t) for t in CONTENT_FREE], words, lead=lead)
                raw.append(dists)
                calibrated.append([calibrate(d, prior) for d in dists])
            results[f"{design} | {words_name} | raw"] = _row(gold, _mean(raw))
            results[f"{design} | {words_name} | calibrated"] = _row(gold, _mean(calibrated))
    width = max(map(len, results))
    print(f"{'configuration':<{width}}  accuracy  macro-F1    ECE")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['accuracy']:8.3f}  {r['macro_f1']:8.3f}  {r['ece']:5.3f}")
    if args.json:
        args.json.write_text(json.dumps({"n": len(rows), "results": results}, indent=2))
    assert all(not math.isnan(r["accuracy"]) for r in results.values())


if __name__ == "__main__":
    main()
