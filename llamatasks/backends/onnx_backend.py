"""The built-in ONNX Runtime backend: runs folders made by ``llamatasks export onnx``.

Needs onnxruntime (CPU) or onnxruntime-gpu (CUDA) and numpy, never torch: a
deployment can run every task on an export without PyTorch installed. The
backend claims any folder holding an export manifest, so ``llamatasks.load(folder)``
picks it without being told. numpy and onnxruntime are imported when a model
loads, so registering the backend costs nothing where they are not installed.
"""

from __future__ import annotations

from llamatasks.engine.base import Engine, LoadRequest
from llamatasks.errors import BackendUnavailableError


def load_engine(request: LoadRequest) -> Engine:
    """Load an export folder on ONNX Runtime (``BackendSpec.load``)."""
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError("the onnx backend needs numpy and onnxruntime",
                                      hint='pip install "llamatasks[onnx]"') from exc
    from llamatasks.backends.onnx.engine import OnnxEngine

    return OnnxEngine.load(request)
