"""The ``llamatasks eval`` command; the core CLI registers it with ``app.command("eval")(eval_command)``."""

from pathlib import Path
from typing import Annotated, NoReturn, cast

import typer
from rich.console import Console
from rich.markup import escape

from llamatasks.errors import LlamaTasksError

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
    method: Annotated[
        str,
        typer.Option(
            "--method", help="llamatasks (the typed tasks) or naive (ask in free text and parse: the baseline)."
        ),
    ] = "llamatasks",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use only the first N examples.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", dir_okay=False, help="Also write the report as JSON to this file.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Inputs per task call.")] = 8,
    max_words: Annotated[
        int | None,
        typer.Option("--max-words", min=1, help="Summary word budget; default: the mean reference length."),
    ] = None,
) -> None:
    """Score a model on labelled examples and print the metrics."""
    try:
        report = run_eval(
            task,
            data,
            model=model,
            backend=backend,
            method=cast(EvalMethod, method),  # run_eval checks it and names the choices
            limit=limit,
            batch_size=batch_size,
            max_words=max_words,
        )
    except LlamaTasksError as exc:
        _fail(exc)
    print_report(report, Console())
    if json_out is not None:
        write_report(report, json_out)
        Console(stderr=True).print(f"wrote {json_out}")


def print_report(report: EvalReport, console: Console) -> None:
    """Print the overall table, then the per-group table when there is one."""
    console.print(report.to_table())
    group_table = report.to_group_table()
    if group_table is not None:
        console.print(group_table)


def write_report(report: EvalReport, path: Path) -> None:
    """Write the report as indented JSON, creating the parent folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")


def _fail(error: LlamaTasksError) -> NoReturn:
    """Print an error and its hint to stderr, then exit with status 1."""
    console = Console(stderr=True)
    console.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False)
    if error.hint:
        console.print(f"[bold]hint:[/] {escape(error.hint)}", highlight=False)
    raise typer.Exit(code=1)
