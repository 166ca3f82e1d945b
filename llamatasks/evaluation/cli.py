"""The ``llamatasks eval`` command; the core CLI registers it with ``app.command("eval")(eval_command)``."""

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

from .report import EvalMethod, EvalReport
from .runner import run_eval


def eval_command(
    task: Annotated[str, typer.Argument(help="Task to score: sentiment, ner, summarize or translate.")],
    data: Annotated[
        Path, typer.Option("--data", "-d", dir_okay=False, help="Labelled JSON Lines file, one example a line.")
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name or path; the default model if left out.")
    ] = None,
    backend: Annotated[str | None, typer.Option("--backend", "-b", help="Backend to load the model on.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    method: Annotated[
        str,
        typer.Option(
            "--method", help="llamatasks (the typed tasks) or naive (ask in free text and parse: the baseline)."
        ),
    ] = "llamatasks",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Use only the first N examples (of the chosen split).")
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="tune (make choices on it), check (report it) or all: the fixed halves of docs/quality.md.",
        ),
    ] = "all",
    json_out: Annotated[
        Path | None, typer.Option("--json", dir_okay=False, help="Also write the report as JSON to this file.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Inputs per task call.")] = 8,
    max_words: Annotated[
        int | None,
        typer.Option("--max-words", min=1, help="Summary word budget; default: the mean reference length."),
    ] = None,
    beams: Annotated[
        int | None,
        typer.Option("--beams", help="Beam search width for summarize and translate (default 1: greedy)."),
    ] = None,
) -> None:
    """Score a model on labelled examples and print the metrics.

    Errors propagate as ``LlamaTasksError``; the ``llamatasks`` entry point prints them with their hint.
    """
    report = run_eval(
        task,
        data,
        model=model,
        backend=backend,
        device=device,
        method=cast(EvalMethod, method),  # run_eval checks it and names the choices
        limit=limit,
        batch_size=batch_size,
        max_words=max_words,
        num_beams=beams,
        split=split,
    )
    print_report(report, Console())
    if json_out is not None:
        write_report(report, json_out)
        Console(stderr=True).print(f"wrote {json_out}", highlight=False)


def print_report(report: EvalReport, console: Console) -> None:
    """Print the overall table, then the per-group table when there is one."""
    console.print(report.to_table())
    group_table = report.to_group_table()
    if group_table is not None:
        console.print(group_table)


def write_report(report: EvalReport, path: Path) -> None:
    """Write the report as indented JSON, atomically, creating the parent folder if needed."""
    report.save(path)
