"""ONNX export: self-contained folders, validation recorded and enforced, typed errors, nothing half-written.

Tiny checkpoints export in ~10 s each; every export is made once per session
(``llamatasks_export.testing.export_once``) and shared with the backend and
parity tests.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxruntime_genai", reason="needs the onnx extra")
onnx = pytest.importorskip("onnx", reason="needs the onnx extra")

from llamatasks_export import (
    MANIFEST_NAME,
    ExportMemoryError,
    ExportOutputExistsError,
    ExportValidationError,
    export_onnx,
    read_manifest,
)
from llamatasks_export.testing import export_once

import llamatasks
from llamatasks.errors import InvalidInputError, UnsupportedModelError

GENERATIONS = ["llama1", "llama2-chat", "llama3-instruct", "llama3.1-instruct", "llama3.2-instruct"]


@pytest.fixture(scope="session")
def exported(tiny_checkpoint: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``get(kind, precision="fp32", force=False) -> export folder`` (shared, read-only)."""
    root = tmp_path_factory.getbasetemp() / "onnx-exports"
    return lambda kind, precision="fp32", force=False: export_once(tiny_checkpoint(kind), root, precision, force)


def _leftovers(folder: Path) -> list[str]:
    markers = (".partial-", ".replaced-", ".export-", ".old-")  # today's and earlier versions' temporary names
    return [p.name for p in folder.iterdir() if any(m in p.name for m in markers) or p.name.endswith(".lock")]


def test_export_is_self_contained_and_records_its_validation(
    exported: Callable[..., Path], tiny_checkpoint: Callable[[str], Path],
) -> None:
    out, source = exported("chatml"), tiny_checkpoint("chatml")
    for name in ("model.onnx", "model.onnx.data", MANIFEST_NAME, "config.json", "generation_config.json",
                 "tokenizer.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.safetensors"))
    manifest = read_manifest(out)
    weights = (source / "model.safetensors").read_bytes()
    assert manifest.source.weights["model.safetensors"].sha256 == hashlib.sha256(weights).hexdigest()
    assert manifest.precision == "fp32" and manifest.llamatasks_version == llamatasks.__version__
    assert manifest.graph.opset >= 17 and manifest.graph.num_kv_heads < manifest.profile["num_attention_heads"]
    v = manifest.validation
    assert v.passed and not v.forced and v.positions > 100
    assert v.max_abs_logit_diff < 1e-3 and v.top1_agreement == 1.0 and v.greedy_agreement == 1.0
    assert _leftovers(out.parent) == []


def test_export_loads_with_the_same_profile_and_tokenizer(
    exported: Callable[..., Path], tiny_checkpoint: Callable[[str], Path],
) -> None:
    exp, src = llamatasks.load(exported("llama3-instruct")), llamatasks.load(tiny_checkpoint("llama3-instruct"))
    assert exp.backend_name == "onnx" and src.backend_name == "torch"
    fields = ("generation", "prompt_format", "stop_token_ids", "add_bos", "context_length", "rope_scaling")
    assert {f: getattr(exp.profile, f) for f in fields} == {f: getattr(src.profile, f) for f in fields}
    text = "Grüße aus Zürich <|eot_id|> 東京"
    assert exp.tokenizer.encode(text) == src.tokenizer.encode(text)


@pytest.mark.parametrize("kind", GENERATIONS)
def test_every_llama_generation_exports_and_matches(kind: str, exported: Callable[..., Path]) -> None:
    manifest = read_manifest(exported(kind))
    v = manifest.validation
    assert v.passed and v.max_abs_logit_diff < 1e-3 and v.top1_agreement == 1.0 and v.greedy_agreement == 1.0
    if kind in ("llama3.1-instruct", "llama3.2-instruct"):
        assert manifest.profile["rope_scaling"]["rope_type"] == "llama3"
    if kind == "llama3.2-instruct":  # tied embeddings: the export keeps one copy of the matrix
        assert manifest.profile["generation"] == "llama3.2" and manifest.profile["rope_scaling"]["factor"] == 32.0
        assert sum(f.stat().st_size for f in exported(kind).glob("model.onnx*")) < 1.5 * 128256 * 64 * 4


def test_int8_stores_weights_blockwise_never_quantize_dynamic(exported: Callable[..., Path]) -> None:
    out = exported("chatml", "int8", force=True)
    model = onnx.load(str(out / "model.onnx"), load_external_data=False)
    ops = {n.op_type for n in model.graph.node}
    assert "MatMulNBits" in ops
    # quantize_dynamic would leave activation quantizers and integer MatMuls in the graph.
    assert not ops & {"DynamicQuantizeLinear", "MatMulInteger", "QuantizeLinear", "DynamicQuantizeMatMul"}
    bits = {a.i for n in model.graph.node if n.op_type == "MatMulNBits" for a in n.attribute if a.name == "bits"}
    assert bits == {8}
    manifest = read_manifest(out)
    assert manifest.graph.quantization and manifest.graph.quantization["bits"] == 8
    assert 0 < manifest.validation.top1_agreement <= 1 and manifest.validation.min_top1_agreement == 0.95


def test_quantized_exports_below_the_agreement_bar_are_refused(
    exported: Callable[..., Path], tiny_checkpoint: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llamatasks_export import validate

    out, source = exported("chatml", "int8", force=True), tiny_checkpoint("chatml")
    manifest = read_manifest(out)
    prompts = [[1, 450, 4996, 17354, 1701, 29916, 975, 278]]
    monkeypatch.setattr(validate, "MIN_TOP1_AGREEMENT", 1.01)  # no export can pass: the refusal path
    with pytest.raises(ExportValidationError, match="top-1 agreement") as info:
        validate.validate_export(source, out / "model.onnx", manifest.graph, "int8", prompts, force=False)
    assert "force" in info.value.hint
    report = validate.validate_export(source, out / "model.onnx", manifest.graph, "int8", prompts, force=True)
    assert not report.passed and report.forced and report.max_abs_logit_diff_limit is None


def test_fp32_beyond_tolerance_is_a_typed_error(
    exported: Callable[..., Path], tiny_checkpoint: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llamatasks_export import validate

    out, source = exported("chatml"), tiny_checkpoint("chatml")
    manifest = read_manifest(out)
    prompts = [[1, 450, 4996, 17354, 1701, 29916]]
    monkeypatch.setattr(validate, "FP32_MAX_ABS_DIFF", 0.0)
    with pytest.raises(ExportValidationError, match=r"max \|logit diff\|"):
        validate.validate_export(source, out / "model.onnx", manifest.graph, "fp32", prompts, force=False)
    report = validate.validate_export(source, out / "model.onnx", manifest.graph, "fp32", prompts, force=True)
    assert not report.passed and report.forced


def test_existing_output_is_never_overwritten_silently(tiny_checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportOutputExistsError) as info:
        export_onnx(tiny_checkpoint("chatml"), out)
    assert "overwrite" in info.value.hint and (out / "keep.txt").read_text() == "mine"


def test_memory_check_refuses_before_any_work(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llamatasks_export import builder

    monkeypatch.setattr(builder, "available_memory_bytes", lambda: 1024)
    with pytest.raises(ExportMemoryError, match="GiB"):
        export_onnx(tiny_checkpoint("chatml"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_builder_killed_for_memory_is_a_memory_error(
    tiny_checkpoint: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llamatasks_export import builder

    def killed(*args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(args, -9)

    monkeypatch.setattr(builder.subprocess, "run", killed)
    with pytest.raises(ExportMemoryError):
        export_onnx(tiny_checkpoint("chatml"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # the temporary folder went too


def test_bad_requests_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="precision"):
        export_onnx(None, tmp_path / "out", "int3")  # type: ignore[arg-type]
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    (gpt2 / "config.json").write_text('{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}')
    with pytest.raises(UnsupportedModelError):
        export_onnx(gpt2, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt2"]


def test_cli_takes_an_optional_model_then_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamatasks_export import cli, export
    from typer.testing import CliRunner

    calls: list[tuple[object, ...]] = []

    def fake_export(model: object, out: object, precision: object, force: object, *, overwrite: bool) -> None:
        calls.append((model, out, precision, force, overwrite))
        raise InvalidInputError("stop here")

    monkeypatch.setattr(export, "export_onnx", fake_export)
    runner = CliRunner()
    runner.invoke(cli.export_app, ["onnx", "out/default"])
    runner.invoke(cli.export_app, ["onnx", "models/llama", "out/llama", "-p", "int8", "--force", "--overwrite"])
    assert calls == [(None, "out/default", "fp32", False, False), ("models/llama", "out/llama", "int8", True, True)]
    result = runner.invoke(cli.export_app, ["onnx", "a", "b", "c"])
    assert isinstance(result.exception, InvalidInputError)
