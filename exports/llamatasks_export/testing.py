"""Test helpers: export each (checkpoint, precision) once per process and share the folder.

An export of a tiny checkpoint takes ~10 s (mostly the builder process
importing torch), so test modules share them through this cache instead of
exporting per test. Treat the returned folders as read-only.
"""

from __future__ import annotations

from pathlib import Path

from llamatasks_export.export import Precision, export_onnx

_EXPORTS: dict[tuple[str, str], Path] = {}


def export_once(checkpoint: Path, root: Path, precision: Precision = "fp32", force: bool = False) -> Path:
    """The export of ``checkpoint`` at ``precision`` under ``root``, made on first use."""
    key = (str(checkpoint), precision)
    if key not in _EXPORTS:
        out = root / f"{checkpoint.name}-{precision}"
        export_onnx(checkpoint, out, precision, force, overwrite=True)
        _EXPORTS[key] = out
    return _EXPORTS[key]
