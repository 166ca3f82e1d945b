"""llamatasks' ONNX export toolkit: ``export_onnx`` and the ``llamatasks export onnx`` command.

Exporting needs the ``onnx`` and ``torch`` extras (onnxruntime-genai's model
builder, transformers for the PyTorch reference); running an export needs only
onnxruntime. See docs/export.md.
"""

from llamatasks.backends.onnx.manifest import (
    MANIFEST_NAME,
    Manifest,
    ValidationReport,
    read_manifest,
)
from llamatasks_export.errors import (
    ExportError,
    ExportMemoryError,
    ExportOutputExistsError,
    ExportValidationError,
)
from llamatasks_export.export import PRECISIONS, export_onnx
from llamatasks_export.support import UnsupportedExportError

__all__ = [
    "MANIFEST_NAME",
    "PRECISIONS",
    "ExportError",
    "ExportMemoryError",
    "ExportOutputExistsError",
    "ExportValidationError",
    "Manifest",
    "UnsupportedExportError",
    "ValidationReport",
    "export_onnx",
    "read_manifest",
]
