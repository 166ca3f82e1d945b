#!/usr/bin/env python
"""Does a translation's ``confidence`` tell good outputs from bad? Per direction, tune and check halves.

Translates the first ``--per-direction`` sentences of each direction in translation.jsonl
with the default model and records each output's confidence (how much its source, rather
than another sentence, explains its tokens: ``llamatasks.tasks.translate``), its flags and
its sentence chrF++ against the reference. Rows are split into the tune and check halves
of ``llamatasks.evaluation.split``. On the tune half it picks the threshold that best tells
outputs below the tune median chrF++ from the rest (Youden's J, on a 0.05 grid): that is
how ``LOW_CONFIDENCE`` was chosen. It prints, per half and direction, the mean confidence
and chrF++ and how many outputs fall below ``LOW_CONFIDENCE``, the AUROC of confidence for
"chrF++ >= the half's median", and the AUROC of en->fr against en->zh (a direction the
model translates against one it cannot write).

    python bench/translation_confidence.py --per-direction 20 --json bench/results/translation-confidence.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import llamatasks
from llamatasks.evaluation.data import TranslationExample, load_examples
from llamatasks.evaluation.split import part_of, record_key
from llamatasks.tasks.translate import LOW_CONFIDENCE, UnreliableTranslationWarning


def auroc(scores: list[float], positive: list[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def best_threshold(rows: list[dict[str, Any]]) -> float:
    """The grid threshold whose "below" best matches "chrF++ below the median" (Youden's J)."""
    median = statistics.median(r["chrf"] for r in rows)
    bad = [r for r in rows if r["chrf"] < median]
    good = [r for r in rows if r["chrf"] >= median]

    def youden(t: float) -> float:
        return (sum(r["confidence"] < t for r in bad) / len(bad)) - (sum(r["confidence"] < t for r in good) / len(good))

    return max((round(0.05 * k, 2) for k in range(1, 20)), key=youden)


def translate_rows(data: Path, per_direction: int) -> list[dict[str, Any]]:
    by_direction: dict[tuple[str, str], list[TranslationExample]] = defaultdict(list)
    for example in load_examples(data, TranslationExample):
        if len(by_direction[example.src_lang, example.tgt_lang]) < per_direction:
            by_direction[example.src_lang, example.tgt_lang].append(example)
    from sacrebleu.metrics.chrf import CHRF

    chrf = CHRF(word_order=2)
    m = llamatasks.load()
    rows = []
    for (src, tgt), examples in sorted(by_direction.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreliableTranslationWarning)
            outputs = m.translate([e.source for e in examples], target=tgt, source=src)
        for example, out in zip(examples, outputs):
            rows.append({"direction": f"{src}-{tgt}", "part": part_of(record_key(example)),
                         "confidence": out.confidence or 0.0, "low": out.low_confidence,
                         "wrong_script": out.wrong_script, "copied": out.copied_source,
                         "chrf": chrf.sentence_score(out.text, [example.target]).score})
    return rows


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    median = statistics.median(r["chrf"] for r in rows)
    directions = {}
    print(f"{'direction':<10} {'n':>3} {'confidence':>10} {'chrF++':>7} {'low':>4} {'wrong script':>12}")
    for direction in sorted({r["direction"] for r in rows}):
        part = [r for r in rows if r["direction"] == direction]
        d = directions[direction] = {
            "n": len(part), "confidence": statistics.mean(r["confidence"] for r in part),
            "chrf": statistics.mean(r["chrf"] for r in part), "low": sum(r["low"] for r in part),
            "wrong_script": sum(r["wrong_script"] for r in part)}
        print(f"{direction:<10} {d['n']:>3} {d['confidence']:>10.3f} {d['chrf']:>7.2f} {d['low']:>4} "
              f"{d['wrong_script']:>12}")
    fr_zh = [r for r in rows if r["direction"] in ("en-fr", "en-zh")]
    flagged = [r for r in rows if r["low"]]
    summary = {
        "n": len(rows), "median_chrf": median,
        "auroc": auroc([r["confidence"] for r in rows], [r["chrf"] >= median for r in rows]),
        "auroc_en_fr_vs_en_zh": auroc([r["confidence"] for r in fr_zh], [r["direction"] == "en-fr" for r in fr_zh]),
        "flagged": len(flagged), "flagged_chrf": statistics.mean(r["chrf"] for r in flagged) if flagged else None,
        "unflagged_chrf": statistics.mean(r["chrf"] for r in rows if not r["low"]), "directions": directions}
    print(f"AUROC of confidence for chrF++ >= median ({median:.1f}): {summary['auroc']:.3f}; "
          f"en->fr against en->zh: {summary['auroc_en_fr_vs_en_zh']:.3f}")
    print(f"flagged low confidence (< {LOW_CONFIDENCE}): {len(flagged)} of {len(rows)}, mean chrF++ "
          f"{summary['flagged_chrf'] or float('nan'):.2f} against {summary['unflagged_chrf']:.2f} for the rest\n")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "translation.jsonl")
    ap.add_argument("--per-direction", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = translate_rows(args.data, args.per_direction)
    results: dict[str, Any] = {"low_confidence": LOW_CONFIDENCE}
    for part in ("tune", "check"):
        print(f"== {part} half")
        results[part] = report([r for r in rows if r["part"] == part])
    results["tune_threshold"] = best_threshold([r for r in rows if r["part"] == "tune"])
    print(f"threshold chosen on the tune half (Youden's J for chrF++ below its median): {results['tune_threshold']}")
    if args.json:
        args.json.write_text(json.dumps({**results, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
