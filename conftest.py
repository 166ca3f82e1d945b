"""Fixtures for the whole repository (core tests and first-party plugins' tests).

They come from ``llamatasks.testing.fixtures``, the same pytest plugin that
third-party plugin authors use: tiny random-weight checkpoints of each LLaMA
generation (built once per session around ../shared/fixtures/tokenizers, and
skipped with a clear reason where that folder is absent) and fresh plugin
registries. ``tiny_model_on`` is the repository's own: a tiny model on each built-in
backend (its ONNX export made once), shared by the test modules that compare the two.
"""

pytest_plugins = ["llamatasks.testing.fixtures"]

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llamatasks.model import Model

# The suite compares engines with a float32 transformers reference and with each other: it runs in
# float32 even where dtype="auto" picks bfloat16 (CPUs with AMX or AVX512-BF16). Tests of the choice
# itself pass dtype explicitly.
os.environ.setdefault("LLAMATASKS_DTYPE", "float32")


@pytest.fixture(scope="session")
def tiny_model_on(tiny_checkpoint: Callable[[str], Path],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Model]]:
    """``get(backend, kind="llama3.1-instruct") -> Model``: a tiny model on ``"torch"`` or on its
    ONNX export (``"onnx"``, exported once per session), on the CPU, shared by the whole session."""
    from llamatasks.loading import load

    shared: dict[tuple[str, str], Model] = {}

    def get(backend: str, kind: str = "llama3.1-instruct") -> Model:
        if (backend, kind) not in shared:
            source = tiny_checkpoint(kind)
            if backend == "onnx":
                pytest.importorskip("onnxruntime", reason="the ONNX backend needs the onnx extra")
                from llamatasks_export.testing import export_once

                source = export_once(source, tmp_path_factory.getbasetemp() / "onnx-exports")
            shared[backend, kind] = load(source, device="cpu")
        return shared[backend, kind]

    yield get
    for model in shared.values():
        model.engine.close()
