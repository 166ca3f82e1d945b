"""Translating several sentences at once: one piece per sentence (shipped) against sentence groups.

Joins every ``--group`` consecutive examples of each en<->fr/de direction of an
evaluation file into a paragraph (and their references likewise), translates
the paragraphs with the shipped task, and again with the line's sentences
packed into groups of up to 192 tokens (the task's behaviour before it went
sentence by sentence), and prints chrF++, balanced chrF (beta 1) and the output
length over the reference length per direction.

    python bench/translate_paragraphs.py --data ../shared/eval/translation.jsonl [--group 4]
        [--model PATH] [--json out.json]

Scores over paragraphs are not comparable with the per-sentence scores of
``llamatasks eval``: chrF counts character n-grams over a whole paragraph.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any
from unittest import mock

from sacrebleu.metrics import CHRF

import llamatasks
from llamatasks.tasks.chunking import chunk_text
from llamatasks.tasks.translate import TranslateTask

DIRECTIONS = (("en", "fr"), ("fr", "en"), ("en", "de"), ("de", "en"))
_PIECE_TOKENS = 192


def grouped_pieces(self: TranslateTask, model: Any, text: str, source: Any, target: Any) -> list[str]:
    """Each line's sentences packed into pieces of up to 192 tokens (the behaviour being compared)."""
    pieces: list[str] = []
    for part in re.split(r"(\s*\n\s*)", text):
        if not part.strip():
            pieces.append(part)
        else:
            pieces += [c.text for c in chunk_text(part, model.tokenizer.count, _PIECE_TOKENS)]
    return pieces


def scores(outputs: list[str], references: list[str]) -> dict[str, float]:
    return {"chrf++": CHRF(word_order=2).corpus_score(outputs, [references]).score,
            "chrf_beta1": CHRF(word_order=2, beta=1).corpus_score(outputs, [references]).score,
            "length_ratio": sum(map(len, outputs)) / sum(map(len, references))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--group", type=int, default=4, help="Sentences per paragraph.")
    parser.add_argument("--model", default=None, help="Model or ONNX export (default: the embedded model).")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    m = llamatasks.load(args.model)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for mode in ("by sentence", "sentence groups"):
        patch = (mock.patch.object(TranslateTask, "_pieces", grouped_pieces) if mode == "sentence groups"
                 else contextlib.nullcontext())
        started = time.perf_counter()
        report[mode] = {}
        with patch:
            for source, target in DIRECTIONS:
                examples = [r for r in rows if (r["src_lang"], r["tgt_lang"]) == (source, target)]
                groups = [examples[i:i + args.group] for i in range(0, len(examples), args.group)]
                paragraphs = [" ".join(e["source"] for e in g) for g in groups]
                references = [" ".join(e["target"] for e in g) for g in groups]
                outputs = [t.text for t in m.translate(paragraphs, target=target, source=source)]
                report[mode][f"{source}-{target}"] = scores(outputs, references)
        directions = list(report[mode].values())
        report[mode]["mean"] = {k: sum(d[k] for d in directions) / len(directions) for k in directions[0]}
        report[mode]["mean"]["seconds"] = time.perf_counter() - started
        for name, row in report[mode].items():
            print(f"{mode:16} {name:6} " + "  ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    if args.json:
        model = args.model or f"{m.profile.name} (embedded default)"
        args.json.write_text(json.dumps({"group": args.group, "model": model, "backend": m.backend_name,
                                         "results": report}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
