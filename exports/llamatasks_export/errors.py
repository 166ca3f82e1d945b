"""Errors of the export toolkit; each is a ``LlamaTasksError`` with a hint."""

from __future__ import annotations

from llamatasks.errors import LlamaTasksError


class ExportError(LlamaTasksError, RuntimeError):
    """The export could not be made; nothing was left at the output path."""


class ExportOutputExistsError(ExportError, FileExistsError):
    """The output folder already holds files."""

    default_hint = "choose another folder, or pass overwrite=True (--overwrite) to replace it"


class ExportMemoryError(ExportError, MemoryError):
    """The export would not fit, or did not fit, in this machine's memory."""

    default_hint = ("export on a machine with more RAM (peak is ~2.5x the fp32 weights, ~4x for int8/int4), "
                    "close other programs, or pass force=True (--force) to try anyway")


class ExportValidationError(ExportError):
    """The exported model does not agree with PyTorch closely enough."""

    default_hint = ("fp32 beyond tolerance is a bug worth reporting; for int8/int4 use a higher precision, "
                    "or pass force=True (--force) to keep the export anyway (recorded in its manifest)")
