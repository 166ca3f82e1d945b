#!/usr/bin/env python
"""Dev-split quality and time of every task in float32 and bfloat16, in one run, on the default model.

``dtype="auto"`` picks bfloat16 for CPU forward passes where the CPU has native
bf16 kernels only if every task stays within 0.5 points of float32: this script
is how that is measured. Each task runs in both dtypes back to back (same
process, same data); the reports go to ``--out`` (one JSON per task and dtype)
and the table to stdout.

    python bench/dtype_quality.py                       # all four tasks (about 25 min on 2 cores)
    python bench/dtype_quality.py --task sentiment --task ner
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import llamatasks
from llamatasks.backends.torch_backend import cpu_bf16
from llamatasks.evaluation.runner import run_eval

DATA = {"sentiment": "sentiment.jsonl", "ner": "ner.jsonl", "summarize": "summarization.jsonl",
        "translate": "translation.jsonl"}
#: The headline metric of each task and the factor that puts it in points.
HEADLINE = {"sentiment": ("accuracy", 100), "ner": ("f1", 100), "summarize": ("rougeL", 100), "translate": ("chrf++", 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", action="append", choices=sorted(DATA), help="task(s) to run (default: all)")
    ap.add_argument("--eval-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "dtype")
    ap.add_argument("--limit", type=int, default=None, help="first N examples of each file")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"CPU native bf16: {cpu_bf16() or 'none'}")
    models = {dtype: llamatasks.load(dtype=dtype, device="cpu") for dtype in ("float32", "bfloat16")}
    rows = []
    for task in args.task or list(DATA):
        figures = {}
        for dtype, model in models.items():
            started = time.perf_counter()
            report = run_eval(task, args.eval_dir / DATA[task], model=model, limit=args.limit)
            seconds = time.perf_counter() - started
            report.save(args.out / f"{task}-{dtype}.json")
            name, scale = HEADLINE[task]
            points = scale * float(report.metrics[name])
            figures[dtype] = (points, seconds)
            print(f"{task:<10} {dtype:<9} {name} {points:6.2f}  {seconds:6.1f} s", flush=True)
        (f32, t32), (b16, tb16) = figures["float32"], figures["bfloat16"]
        rows.append({"task": task, "metric": HEADLINE[task][0], "float32": f32, "bfloat16": b16,
                     "difference_points": b16 - f32, "float32_s": t32, "bfloat16_s": tb16, "speedup": t32 / tb16})
    print("\ntask        metric     float32  bfloat16  diff (points)  speed-up")
    for r in rows:
        print(f"{r['task']:<11} {r['metric']:<9} {r['float32']:8.2f} {r['bfloat16']:9.2f} {r['difference_points']:+14.2f}"
              f"  {r['speedup']:7.2f}x")
    (args.out / "summary.json").write_text(json.dumps({"cpu_bf16": cpu_bf16(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
