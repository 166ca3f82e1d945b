"""The ONNX Runtime backend passes the conformance suite every backend runs, on an fp32 export."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxruntime_genai", reason="needs the onnx extra")

from llamatasks_export.testing import export_once

from llamatasks.testing.conformance import BackendConformance


class TestOnnxBackend(BackendConformance):
    backend = "onnx"

    @pytest.fixture(scope="class")
    @classmethod
    def model_path(cls, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """The fp32 export of the checkpoint (shared with the other ONNX tests)."""
        return export_once(checkpoint, tmp_path_factory.getbasetemp() / "onnx-exports")


class TestOnnxBackendLlama31(TestOnnxBackend):
    """GQA with LLaMA 3.1 rope scaling and a 128k vocabulary."""

    kind = "llama3.1-instruct"
