"""Translation ablation: what the built-in examples, source-contrastive decoding and beam search contribute.

Runs the shipped ``translate`` task on the en<->fr/de directions of an
evaluation file with 0, 1, 2 and 3 built-in examples in the prompt, each
decoded greedily with source-contrastive decoding (the default), greedily
without it (``--contrast 0``) and with 4 beams (everything else as shipped:
script constraint, answer prefill, 4-gram blocking, copy retry), and prints
chrF++ per direction, their mean, and the share of outputs that copy the source.

    python bench/ablate_translate.py --data ../shared/eval/translation.jsonl [--shots 0 1] [--beams 1 4]
        [--contrast 0 0.5] [--per-direction N] [--json out.json [--append]]

Source-contrastive decoding applies to greedy decoding only: beam widths
above 1 run once, without it.

``--append`` adds this run's settings to the results already in ``--json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from unittest import mock

import llamatasks
from llamatasks.evaluation.metrics import copies_source, translation_scores
from llamatasks.tasks import translate

DIRECTIONS = (("en", "fr"), ("fr", "en"), ("en", "de"), ("de", "en"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--per-direction", type=int, default=None, help="First N examples of each direction.")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--contrast", type=float, nargs="+", default=[translate._CONTRAST_WEIGHT, 0.0],
                        help="Contrastive decoding weights to compare when greedy.")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--append", action="store_true", help="Keep the settings already in --json.")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_direction = {d: [r for r in rows if (r["src_lang"], r["tgt_lang"]) == d][: args.per_direction]
                    for d in DIRECTIONS}
    m = llamatasks.load(batch_size=16)
    results: dict[str, dict[str, float]] = {}
    settings = [(s, b, w) for b in args.beams for w in (args.contrast if b == 1 else [0.0]) for s in args.shots]
    for shots, beams, weight in settings:
        started = time.perf_counter()
        row: dict[str, float] = {}
        copies = total = 0
        with mock.patch.object(translate, "_SHOTS", shots), mock.patch.object(translate, "BEAMS", beams), \
                mock.patch.object(translate, "_CONTRAST_WEIGHT", weight):
            for (source, target), examples in by_direction.items():
                outputs = [t.text for t in m.translate([e["source"] for e in examples], target=target, source=source)]
                row[f"{source}-{target}"] = translation_scores(outputs, [e["target"] for e in examples], target)["chrf++"]
                copies += sum(copies_source(o, e["source"]) for o, e in zip(outputs, examples))
                total += len(examples)
        row["mean"] = sum(row[f"{s}-{t}"] for s, t in DIRECTIONS) / len(DIRECTIONS)
        row["copy_share"] = copies / total
        row["seconds"] = time.perf_counter() - started
        decoding = f"{beams} beams" if beams > 1 else "greedy" + (f", contrast {weight:g}" if weight else "")
        name = f"{shots} example{'' if shots == 1 else 's'}, {decoding}"
        results[name] = row
        print(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    if args.json:
        n = {f"{s}-{t}": len(v) for (s, t), v in by_direction.items()}
        if args.append and args.json.exists():
            results = {**json.loads(args.json.read_text(encoding="utf-8"))["results"], **results}
        args.json.write_text(json.dumps({"n": n, "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
