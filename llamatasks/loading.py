"""``load``: a model folder (or .gguf, or the default model) to a ``Model``.

One pass, failing early: resolve the source, read config.json once (a
non-LLaMA or broken folder fails before any weights load), the tokenizer, the
profile (generation, prompt format, stop tokens, context), then the backend:
the one named, else the first whose ``claims`` takes the folder (an ONNX
export), else ``torch``.
"""

from __future__ import annotations

import os
from pathlib import Path

from llamatasks.engine.base import BackendSpec, LoadRequest
from llamatasks.model import Model
from llamatasks.plugins.manager import Registry, default_registry
from llamatasks.profile import build_profile, read_config
from llamatasks.runtime import Runtime
from llamatasks.sources import resolve
from llamatasks.tasks.inputs import positive_int
from llamatasks.tokenizer import Tokenizer


def load(model: str | os.PathLike[str] | None = None, *, backend: str | None = None, device: str = "auto",
         dtype: str | None = None, prompt_format: str | None = None, max_context: int | None = None,
         batch_size: int = 8, registry: Registry | None = None) -> Model:
    """Load a model for running tasks.

    Args:
        model: A Hugging Face-format folder, a ``.gguf`` file, or None for
            ``LLAMATASKS_MODEL`` or the embedded SmolLM2-135M-Instruct.
        backend: A registered backend name (``torch``...); None picks the one
            that claims the folder, else ``torch``.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``; None: ``LLAMATASKS_DTYPE``, else
            ``auto``: bfloat16 on a CPU with native bf16 kernels (AMX or AVX512-BF16), else
            float32; bfloat16/float16 on GPU.
        prompt_format: Override the detected prompt format.
        max_context: Use at most this many tokens of context (chunk sooner).
        batch_size: Texts per forward pass.
        registry: Plugin registry (tests pass a fresh one).
    """
    positive_int("batch_size", batch_size)
    if max_context is not None:
        positive_int("max_context", max_context)
    registry = registry or default_registry()
    source = resolve(model)
    config = read_config(source.path)
    tokenizer = Tokenizer.from_dir(source.path)
    fmt = registry.prompt_format(prompt_format) if prompt_format else None
    profile = build_profile(source.path, source.name, tokenizer, registry.formats_in_order(),
                            prompt_format=fmt, max_context=max_context, config=config)
    spec = registry.backend(backend) if backend is not None else _claiming_backend(registry, source.path)
    engine = spec.load(LoadRequest(path=source.path, device=device, dtype=dtype))
    runtime = Runtime(engine, tokenizer, profile, registry.prompt_format(profile.prompt_format), batch_size)
    return Model(source, runtime, registry)


def _claiming_backend(registry: Registry, path: Path) -> BackendSpec:
    for spec in registry.backends.items.values():
        if spec.claims(path):
            return spec
    return registry.backend("torch")
