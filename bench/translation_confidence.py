#!/usr/bin/env python
"""Does a translation's ``confidence`` tell good outputs from bad? Per direction, on the dev split.

For the first ``--per-direction`` sentences of each direction in translation.jsonl,
translates with the default model and records each output's confidence (the
geometric-mean probability of its tokens), its flags, and its sentence chrF++
against the reference. Prints, per direction, the mean confidence and chrF++,
how many outputs fall below ``LOW_CONFIDENCE``, and overall how well confidence
ranks outputs by quality (AUROC of confidence for "chrF++ >= the median").

    python bench/translation_confidence.py --per-direction 20 --json bench/results/translation-confidence.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import warnings
from collections import defaultdict
from pathlib import Path

import llamatasks
from llamatasks.tasks.translate import LOW_CONFIDENCE, UnreliableTranslationWarning


def auroc(scores: list[float], positive: list[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "translation.jsonl")
    ap.add_argument("--per-direction", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from sacrebleu.metrics.chrf import CHRF

    chrf = CHRF(word_order=2)
    by_direction: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for line in args.data.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        key = (row["src_lang"], row["tgt_lang"])
        if len(by_direction[key]) < args.per_direction:
            by_direction[key].append(row)
    m = llamatasks.load()
    rows = []
    for (src, tgt), examples in sorted(by_direction.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreliableTranslationWarning)
            outputs = m.translate([e["source"] for e in examples], target=tgt, source=src)
        for example, out in zip(examples, outputs):
            rows.append({"direction": f"{src}-{tgt}", "confidence": out.confidence, "low": out.low_confidence,
                         "wrong_script": out.wrong_script, "copied": out.copied_source,
                         "chrf": chrf.sentence_score(out.text, [example["target"]]).score})
    median = statistics.median(r["chrf"] for r in rows)
    print(f"{'direction':<10} {'n':>3} {'confidence':>10} {'chrF++':>7} {'low':>4} {'wrong script':>12}")
    summary = {}
    for direction in sorted({r["direction"] for r in rows}):
        part = [r for r in rows if r["direction"] == direction]
        summary[direction] = {"n": len(part), "confidence": statistics.mean(r["confidence"] or 0 for r in part),
                              "chrf": statistics.mean(r["chrf"] for r in part), "low": sum(r["low"] for r in part),
                              "wrong_script": sum(r["wrong_script"] for r in part)}
        s = summary[direction]
        print(f"{direction:<10} {s['n']:>3} {s['confidence']:>10.3f} {s['chrf']:>7.2f} {s['low']:>4} "
              f"{s['wrong_script']:>12}")
    area = auroc([r["confidence"] or 0.0 for r in rows], [r["chrf"] >= median for r in rows])
    flagged = [r for r in rows if r["low"] or r["wrong_script"]]
    print(f"\nAUROC of confidence for chrF++ >= median ({median:.1f}): {area:.3f}")
    print(f"flagged (low confidence < {LOW_CONFIDENCE} or wrong script): {len(flagged)} of {len(rows)}, "
          f"mean chrF++ {statistics.mean(r['chrf'] for r in flagged) if flagged else float('nan'):.2f} against "
          f"{statistics.mean(r['chrf'] for r in rows if r not in flagged):.2f} for the rest")
    if args.json:
        args.json.write_text(json.dumps({"low_confidence": LOW_CONFIDENCE, "median_chrf": median, "auroc": area,
                                         "directions": summary, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
