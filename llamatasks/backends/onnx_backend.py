"""The built-in ONNX Runtime backend: runs folders made by ``llamatasks export onnx``.

Needs onnxruntime (CPU) or onnxruntime-gpu (CUDA) and numpy, never torch: a
deployment can run every task on an export without PyTorch installed. The
backend claims any folder holding an export manifest, so ``llamatasks.load(folder)``
picks it without being told. numpy and onnxruntime are imported when a model
loads, so registering the backend costs nothing where they are not installed.
"""

from __future__ import annotations

from collections.abc import Callable

from llamatasks.backends.onnx.manifest import has_manifest
from llamatasks.engine.base import BackendSpec, Engine, LoadRequest
from llamatasks.errors import BackendUnavailableError
from llamatasks.hookspecs import hookimpl


@hookimpl(trylast=True)
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register the ONNX Runtime backend."""
    register(BackendSpec(name="onnx", load=load_engine, claims=has_manifest,
                         description="ONNX Runtime on an exported folder (llamatasks export onnx), CPU or CUDA"))


def load_engine(request: LoadRequest) -> Engine:
    """Load an export folder on ONNX Runtime (``BackendSpec.load``)."""
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError("the onnx backend needs numpy and onnxruntime",
                                      hint='pip install "llamatasks[onnx]"') from exc
    from llamatasks.backends.onnx.engine import OnnxEngine

    return OnnxEngine.load(request)
