#!/usr/bin/env python
"""Every task's dev figures on the tune and the check part, on torch and on the ONNX fp32 export.

The validation discipline (docs/quality.md): choices are made on ``tune``, the figure reported is
``check``'s, next to ``tune``'s. This runs both parts of every dev file in ``../shared/eval`` on the
default model, on the torch backend (``--dtype``, default float32) and on its ONNX fp32 export (made
once into ``--onnx-dir`` with ``llamatasks export onnx``), and prints one table. The reports go to
``--out`` as ``TASK-SPLIT-BACKEND.json``.

    python bench/split_figures.py --dtype auto                     # everything (about 45 min on 2 cores)
    python bench/split_figures.py --task ner --task sentiment --backend onnx
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import llamatasks
from llamatasks.evaluation.runner import run_eval

DATA = {"sentiment": "sentiment.jsonl", "ner": "ner.jsonl", "summarize": "summarization.jsonl",
        "translate": "translation.jsonl"}
#: What each row shows: the headline metric first.
METRICS = {"sentiment": ("accuracy", "macro_f1", "ece"), "ner": ("f1", "precision", "recall"),
           "summarize": ("rougeL", "rouge1", "rouge2", "budget_ratio", "unsupported_count"), "translate": ("chrf++", "bleu")}


def onnx_folder(where: Path) -> Path:
    """The default model's fp32 export, made on first use."""
    if not any(where.glob("*.onnx")):
        where.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "llamatasks", "export", "onnx", str(where), "--precision", "fp32",
                        "--overwrite"], check=True)
    return where


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", action="append", choices=sorted(DATA), help="task(s) to run (default: all)")
    ap.add_argument("--backend", action="append", choices=("torch", "onnx"), help="default: both")
    ap.add_argument("--dtype", default="float32", help="the torch backend's dtype (default float32)")
    ap.add_argument("--eval-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval")
    ap.add_argument("--onnx-dir", type=Path, default=None,
                    help="the fp32 export to use or make (default: bench/bench_onnx.py's, in the llamatasks cache)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "split")
    args = ap.parse_args()
    if args.onnx_dir is None:
        from llamatasks.sources import cache_dir, resolve

        args.onnx_dir = cache_dir() / "onnx-bench" / resolve(None).path.name / "fp32"
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for backend in args.backend or ["torch", "onnx"]:
        model = llamatasks.load(dtype=args.dtype, device="cpu") if backend == "torch" else \
            llamatasks.load(onnx_folder(args.onnx_dir), device="cpu")
        label = f"torch {model.engine.dtype}" if backend == "torch" else "onnx fp32"
        for task in args.task or list(DATA):
            for split in ("tune", "check"):
                started = time.perf_counter()
                report = run_eval(task, args.eval_dir / DATA[task], model=model, split=split)
                seconds = time.perf_counter() - started
                report.save(args.out / f"{task}-{split}-{backend}.json")
                figures = {name: report.metrics[name] for name in METRICS[task] if name in report.metrics}
                rows.append({"backend": label, "task": task, "split": split, "n": report.n_examples,
                             "seconds": seconds, **figures})
                shown = "  ".join(f"{k} {float(v):.3f}" for k, v in figures.items())
                print(f"{label:<16} {task:<10} {split:<5} n={report.n_examples:<4} {shown}  ({seconds:.0f} s)",
                      flush=True)
        del model
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
