"""Build the decoder graph with onnxruntime-genai's model builder, in a child process.

Why this route (measured on 2 CPU cores, see docs/export.md): the builder
exports SmolLM2-135M in ~10 s (torch.onnx.export: ~100 s and 2.7 GB), emits
ONNX Runtime's fused operators (packed QKV MatMul, GroupQueryAttention with the
rotary embedding inside, SkipSimplifiedLayerNormalization, MatMulNBits) and
decodes fastest of the routes tried. It handles grouped-query attention and
LLaMA 3.1 rope scaling, and its int8/int4 store the weights blockwise-quantized
(MatMulNBits) while activations stay float: it never uses ``quantize_dynamic``.

The child process keeps the builder's memory (and its imports, which change
``sys.path``) out of the caller, and lets an out-of-memory kill be told apart.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamatasks.errors import BackendUnavailableError
from llamatasks_export.errors import ExportError, ExportMemoryError

#: Weight-only MatMulNBits settings: block 32 kept 95.5% top-1 agreement at int8 on SmolLM2-135M.
BLOCK_SIZE = 32
#: Peak builder memory as a multiple of the fp32 weights (measured: 2.4x fp32, 4.0x int8).
_PEAK_FACTOR = {"fp32": 2.5, "fp16": 2.5, "int8": 4.0, "int4": 4.0}
_BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class BuildPlan:
    """How the builder is called for one precision."""

    precision: str
    builder_precision: str
    execution_provider: str
    extra_options: dict[str, str]
    quantization: dict[str, Any] | None


def plan_for(precision: str) -> BuildPlan:
    """The builder settings for ``fp32``, ``fp16`` (CUDA graph), ``int8`` or ``int4``."""
    if precision in ("fp32", "fp16"):
        return BuildPlan(precision, precision, "cuda" if precision == "fp16" else "cpu", {}, None)
    bits = 8 if precision == "int8" else 4
    # accuracy_level 4: MatMulNBits computes with int8 activations on CPU, the builder's
    # default there. Only the weights are stored quantized, blockwise and symmetric.
    options = {"block_size": str(BLOCK_SIZE), "accuracy_level": "4", "is_symmetric": "true"}
    quantization = {"method": "MatMulNBits weight-only (round-to-nearest)", "bits": bits,
                    "block_size": BLOCK_SIZE, "symmetric": True, "accuracy_level": 4}
    return BuildPlan(precision, precision, "cpu", options, quantization)


def builder_version() -> str:
    """``onnxruntime-genai X.Y.Z``; a BackendUnavailableError when a package the export needs is missing."""
    missing = [m for m in ("onnxruntime_genai", "onnx", "onnxruntime", "torch", "transformers")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailableError(f"exporting to ONNX needs {', '.join(missing)} (the builder and the "
                                      "PyTorch reference the export is validated against)",
                                      hint='pip install "llamatasks[onnx,torch]"')
    from importlib.metadata import version

    return f"onnxruntime-genai {version('onnxruntime-genai')}"


def check_memory(source: Path, precision: str, force: bool) -> None:
    """Refuse, before starting, an export whose estimated peak exceeds the available memory."""
    needed = estimate_peak_bytes(source, precision)
    available = available_memory_bytes()
    if available is None or needed <= available or force:
        return
    raise ExportMemoryError(
        f"exporting {source.name} at {precision} needs about {needed / 2**30:.1f} GiB; "
        f"{available / 2**30:.1f} GiB is available"
    )


def estimate_peak_bytes(source: Path, precision: str) -> int:
    """Peak memory of the builder, from the weights' size scaled to float32."""
    size = sum(f.stat().st_size for f in source.glob("*.safetensors"))
    try:
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    fp32_size = size * 4 // _BYTES_PER_PARAM.get(dtype, 4)
    return int(fp32_size * _PEAK_FACTOR[precision])


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_builder(source: Path, out_dir: Path, plan: BuildPlan, log: Path) -> None:
    """Run the builder into ``out_dir``; its output goes to ``log``."""
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o", str(out_dir),
               "-p", plan.builder_precision, "-e", plan.execution_provider, "-c", str(out_dir / "cache")]
    if plan.extra_options:
        command += ["--extra_options", *(f"{k}={v}" for k, v in plan.extra_options.items())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    with log.open("wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode == 0 and (out_dir / "model.onnx").is_file():
        return
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    if done.returncode == -signal.SIGKILL or "MemoryError" in tail or "std::bad_alloc" in tail:
        raise ExportMemoryError(f"the ONNX builder ran out of memory exporting {source.name}:\n{tail}")
    raise ExportError(f"the ONNX builder failed on {source} (exit code {done.returncode}):\n{tail}",
                      hint="check that the folder loads with transformers; see the builder output above")
