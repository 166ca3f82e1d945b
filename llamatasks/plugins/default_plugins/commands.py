"""The built-in optional commands: ``llamatasks eval`` (the evaluation harness).

The task commands (``sentiment``, ``summarize``...) are the CLI itself; this
adds what depends on an extra, and only when the extra is installed. The
export toolkit adds ``llamatasks export`` through its own entry point.
"""

from __future__ import annotations

import typer

from llamatasks.plugins.hookspecs import hookimpl


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``llamatasks eval`` where the evaluation extra is installed."""
    try:
        from llamatasks.evaluation.cli import eval_command
    except ImportError:  # the eval extra is not installed
        return
    app.command("eval", help="Score a task on a labelled JSONL file.")(eval_command)
