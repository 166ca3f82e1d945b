"""The built-in backends: PyTorch (transformers) and ONNX Runtime.

Neither backend's heavy imports run here: torch and onnxruntime load when a
model does, so registering them costs nothing where they are not installed.
"""

from __future__ import annotations

from collections.abc import Callable

from llamatasks.backends.onnx.manifest import has_manifest
from llamatasks.engine.base import BackendSpec, Engine, LoadRequest
from llamatasks.plugins.hookspecs import hookimpl


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register ``torch`` and ``onnx``."""
    register(BackendSpec(name="torch", load=_load_torch,
                         description="PyTorch via transformers (LlamaForCausalLM), CPU or CUDA"))
    register(BackendSpec(name="onnx", load=_load_onnx, claims=has_manifest,
                         description="ONNX Runtime on an exported folder (llamatasks export onnx), CPU or CUDA"))


def _load_torch(request: LoadRequest) -> Engine:
    from llamatasks.backends.torch_backend import TorchEngine

    return TorchEngine.load(request)


def _load_onnx(request: LoadRequest) -> Engine:
    from llamatasks.backends.onnx_backend import load_engine

    return load_engine(request)
