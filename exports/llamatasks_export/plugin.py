"""The export toolkit as a llamatasks plugin: adds ``llamatasks export`` (entry point ``export``)."""

from __future__ import annotations

import typer

from llamatasks.plugins import hookimpl


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add the ``export`` command group (``llamatasks export onnx ...``)."""
    from llamatasks_export.cli import export_app

    app.add_typer(export_app, name="export")
