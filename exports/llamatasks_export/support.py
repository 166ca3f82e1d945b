"""Which architectures export to ONNX, checked before any work is done.

``export_onnx`` builds the graph with onnxruntime-genai's model builder
(``builder.py``), which has a decoder for ``LlamaForCausalLM`` (LLaMA 1-3.3,
SmolLM2, TinyLlama, OpenLLaMA) but none for Llama 4 or LLaMA 3.2 Vision: given
one, it fails only after loading the weights, with a bare
``NotImplementedError``. This module refuses them up front, naming the
architecture and what the builder lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

from llamatasks.errors import UnsupportedModelError
from llamatasks_export.errors import ExportError

#: The architectures ``export_onnx`` exports (and validates against PyTorch).
EXPORTABLE_ARCHITECTURES: tuple[str, ...] = ("LlamaForCausalLM",)

_LLAMA4_DECODER = ("onnxruntime-genai's model builder has no Llama 4 decoder (mixture-of-experts layers, "
                   "chunked attention, layers without RoPE)")

_MLLAMA = ("onnxruntime-genai's model builder supports neither Mllama's (LLaMA 3.2 Vision's) "
           "cross-attention decoder layers nor its vision encoder")

# model_type -> (architecture, why the builder cannot build it).
_NOT_EXPORTABLE: dict[str, tuple[str, str]] = {
    "llama4": ("Llama4ForConditionalGeneration", _LLAMA4_DECODER + " and no Llama 4 vision encoder"),
    "llama4_text": ("Llama4ForCausalLM", _LLAMA4_DECODER),
    "mllama": ("MllamaForConditionalGeneration", _MLLAMA),
}


class UnsupportedExportError(ExportError, UnsupportedModelError):
    """The model's architecture cannot be exported to ONNX (it may still run on the torch backend)."""

    default_hint = "run it on the torch backend (backend='torch'); exports support LlamaForCausalLM models"


def check_exportable(path: Path) -> None:
    """Refuse a folder whose architecture the builder cannot export.

    Only the architectures known not to export are refused here; a missing or
    broken config.json, or another architecture, is left to ``read_config``.

    Raises:
        UnsupportedExportError: Llama 4 (with or without images) or LLaMA 3.2 Vision.
    """
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(config, dict) or config.get("model_type") not in _NOT_EXPORTABLE:
        return
    architecture, reason = _NOT_EXPORTABLE[config["model_type"]]
    raise UnsupportedExportError(f"{path.name} is a {architecture} model, which cannot be exported to ONNX: {reason}")
