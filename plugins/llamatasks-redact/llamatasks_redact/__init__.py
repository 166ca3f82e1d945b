"""llamatasks-redact: PII redaction as a llamatasks task and a ``llamatasks redact`` command.

This module is the plugin (entry point ``redact`` in the ``llamatasks``
group): it registers the ``redact`` task and the ``redact`` subcommand.
Heavy imports (phonenumbers, the model) wait until something is redacted.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from llamatasks.plugins import Task, hookimpl
from llamatasks_redact.detectors import DETECTORS, Detection
from llamatasks_redact.task import RedactedSpan, Redaction, RedactTask, redact

__version__ = "0.1.0"

__all__ = [
    "DETECTORS",
    "Detection",
    "RedactTask",
    "RedactedSpan",
    "Redaction",
    "__version__",
    "redact",
    "register_commands",
    "register_tasks",
]


@hookimpl
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register the ``redact`` task (``llamatasks.run("redact", text)``)."""
    register(RedactTask())


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``llamatasks redact``."""
    from llamatasks_redact.cli import redact_command

    app.command("redact")(redact_command)
