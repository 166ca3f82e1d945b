"""The built-in extra commands: ``batch`` and ``cache`` (corpora), ``eval`` (the evaluation harness).

The task commands (``sentiment``, ``summarize``...) are the CLI itself; this
adds what depends on an extra, and only when the extra is installed. The
export toolkit adds ``llamatasks export`` through its own entry point.
"""

from __future__ import annotations

import typer

from llamatasks.plugins.hookspecs import hookimpl


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``llamatasks batch``, ``cache`` and ``serve``, and ``llamatasks eval`` where the evaluation extra is installed."""
    from llamatasks.corpus.cli import add_batch_commands

    add_batch_commands(app)
    _add_serve_command(app)
    try:
        from llamatasks.evaluation.cli import eval_command
    except ImportError:  # the eval extra is not installed
        return
    app.command("eval", help="Score a task on a labelled JSONL file.")(eval_command)


def _add_serve_command(app: typer.Typer) -> None:
    """``llamatasks serve`` where the serve extra (fastapi, uvicorn) is installed; found, not imported."""
    from importlib.util import find_spec

    if find_spec("fastapi") is None or find_spec("uvicorn") is None:
        return
    from llamatasks.serve.command import serve_command

    app.command("serve", help="Serve every task over HTTP (FastAPI): POST /v1/{task}, docs at /docs.")(serve_command)
