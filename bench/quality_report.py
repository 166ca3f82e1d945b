"""Render docs/quality.md from `llamatasks eval --json` reports (and the sentiment ablation).

    python bench/quality_report.py REPORT_DIR > docs/quality.md

REPORT_DIR holds files named TASK-METHOD.json as written by
`llamatasks eval TASK --data FILE --method METHOD --json REPORT_DIR/TASK-METHOD.json`,
and optionally ablate-sentiment.json, ablate-translate.json and translate-paragraphs.json from
bench/ablate_sentiment.py, bench/ablate_translate.py and bench/translate_paragraphs.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TASKS = ("sentiment", "ner", "summarize", "translate")
METRICS = {
    "sentiment": ("accuracy", "macro_f1", "ece", "unparsed_share"),
    "ner": ("precision", "recall", "f1", "ungrounded"),
    "summarize": ("rouge1", "rouge2", "rougeL", "predicted_words", "reference_words", "length_ratio"),
    "translate": ("chrf++", "bleu", "length_ratio", "copy_share", "repetition_share"),
}


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _metric(report: dict, name: str) -> str:
    metrics = report["metrics"]
    for key in (name, f"{name}_share", f"{name}_count"):
        if key in metrics:
            return _fmt(metrics[key])
    matches = [k for k in metrics if k.startswith(name)]
    return _fmt(metrics[matches[0]]) if matches else "-"


def task_table(task: str, reports: dict[str, dict]) -> list[str]:
    names = METRICS[task]
    lines = [f"### {task}", "", "| method | n | " + " | ".join(names) + " | seconds |",
             "|---|---|" + "---|" * len(names) + "---|"]
    for method, report in reports.items():
        cells = [_metric(report, n) for n in names]
        lines.append(f"| {method} | {report['n_examples']} | " + " | ".join(cells) + f" | {report['seconds']:.0f} |")
    first = next(iter(reports.values()))
    lines += ["", f"Data: `{Path(first['data']).name}`; command: "
              f"`llamatasks eval {task} --data {Path(first['data']).name} --method METHOD`.", ""]
    if first.get("groups"):
        lines += [f"By {first['group_by']} (llamatasks method):", ""]
        groups = reports.get("llamatasks", first)["groups"]
        keys = sorted({k for g in groups.values() for k in g})
        lines += ["| " + first["group_by"] + " | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for name, values in groups.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(values.get(k, "-")) for k in keys) + " |")
        lines.append("")
    return lines


def ablation_table(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    lines = ["### sentiment ablation", "", f"`python bench/ablate_sentiment.py` on {data['n']} examples.", "",
             "| prompt design | verbalizations | calibration | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|---|"]
    for name, row in data["results"].items():
        design, words, calibration = (part.strip() for part in name.split("|"))
        lines.append(f"| {design} | {words} | {calibration} | {row['accuracy']:.3f} | {row['macro_f1']:.3f} "
                     f"| {row['ece']:.3f} |")
    return lines + [""]


def translate_ablation_table(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    directions = list(data["n"])
    lines = ["### translation ablation", "",
             "`python bench/ablate_translate.py`: the shipped task with 0-3 built-in examples in the prompt, greedy "
             "and with beam search; "
             "examples per direction: " + ", ".join(f"{d} {n}" for d, n in data["n"].items()) + ".", "",
             "| prompt | " + " | ".join(directions) + " | mean chrF++ | copies | seconds |",
             "|---|" + "---|" * (len(directions) + 3)]
    for name, row in data["results"].items():
        cells = [f"{row[d]:.2f}" for d in directions]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['mean']:.2f} | {row['copy_share']:.1%} "
                     f"| {row['seconds']:.0f} |")
    return lines + [""]


def paragraph_table(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    columns = list(next(iter(data["results"].values())))
    intro = (f"`python bench/translate_paragraphs.py`: every {data['group']} consecutive examples of a direction "
             "joined into a paragraph, chrF++ / balanced chrF (beta 1) / output length over reference length "
             f"({data['model']}, {data['backend']} backend).")
    lines = ["### translating paragraphs", "", intro, "",
             "| pieces | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for mode, rows in data["results"].items():
        cells = [f"{r['chrf++']:.2f} / {r['chrf_beta1']:.2f} / {r['length_ratio']:.2f}x" for r in rows.values()]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    folder = Path(sys.argv[1])
    out = ["# Measured quality", "",
           ("SmolLM2-135M-Instruct (the embedded default model), torch backend, CPU; greedy, with "
            "source-contrastive decoding for translate."),
           "`llamatasks` is the shipped task code; `naive` asks for the answer as text and parses it",
           "(spacy-llm style), built on `Model.chat`. Regenerate with `python bench/quality_report.py DIR`.", ""]
    for task in TASKS:
        reports = {}
        for method in ("llamatasks", "naive"):
            file = folder / f"{task}-{method}.json"
            if file.exists():
                reports[method] = json.loads(file.read_text())
        if reports:
            out += task_table(task, reports)
    ablation = folder / "ablate-sentiment.json"
    if ablation.exists():
        out += ablation_table(ablation)
    if (folder / "ablate-translate.json").exists():
        out += translate_ablation_table(folder / "ablate-translate.json")
    if (folder / "translate-paragraphs.json").exists():
        out += paragraph_table(folder / "translate-paragraphs.json")
    print("\n".join(out))


if __name__ == "__main__":
    main()
