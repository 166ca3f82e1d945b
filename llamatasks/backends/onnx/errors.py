"""Errors of the ONNX Runtime backend, all ``ModelLoadError`` subclasses with a hint."""

from __future__ import annotations

from llamatasks.errors import ModelLoadError

_EXPORT_HINT = "create one with `llamatasks export onnx MODEL OUT_DIR` (or llamatasks_export.export_onnx)"


class NotAnExportError(ModelLoadError):
    """The folder is not an ONNX export made by llamatasks (no manifest)."""

    default_hint = _EXPORT_HINT


class IncompatibleExportError(ModelLoadError):
    """The export's manifest has a format version this llamatasks cannot read."""

    default_hint = "re-export the model with this llamatasks version (`llamatasks export onnx ... --overwrite`)"


class CorruptExportError(ModelLoadError):
    """A file of the export is missing, truncated or not loadable by ONNX Runtime."""

    default_hint = "the export is damaged (an interrupted copy?); copy it again or re-export the model"
