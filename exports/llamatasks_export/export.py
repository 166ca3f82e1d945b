"""``export_onnx``: a model folder, GGUF file or the default model -> a self-contained ONNX export.

The export is assembled in a partial folder beside the output, under a lock on
the output, and swapped into place only once it has been validated and its
manifest written (``llamatasks.files.replace_folder``): an interrupted or failed
export never leaves a folder that looks complete, and ``overwrite`` replaces the
old export in one step, with no moment where the output is missing.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from llamatasks.backends.onnx.manifest import (
    MANIFEST_NAME,
    FileDigest,
    Manifest,
    SourceInfo,
)
from llamatasks.errors import InvalidInputError
from llamatasks.files import folder_lock, remove_abandoned, replace_folder
from llamatasks.profile import ModelProfile, build_profile, read_config
from llamatasks.sources import ModelSource, resolve
from llamatasks.tokenizer import Tokenizer
from llamatasks_export.builder import (
    builder_version,
    check_memory,
    plan_for,
    run_builder,
)
from llamatasks_export.errors import ExportOutputExistsError
from llamatasks_export.graph import add_logits_positions, describe
from llamatasks_export.support import check_exportable
from llamatasks_export.validate import VALIDATION_TEXTS, prompt_ids, validate_export

Precision = Literal["fp32", "fp16", "int8", "int4"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "int4")

#: Files copied from the source so that ``llamatasks.load(export)`` builds the same
#: profile and tokenizer as for the source (weights are never copied).
COPIED_FILES: tuple[str, ...] = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json",
    "LICENSE", "README.md",  # Llama licences travel with the weights; LICENSE tells Llama 3.3 from 3.1
)
_GRAPH_FILES = ("model.onnx", "model.onnx.data")


def export_onnx(model: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str], precision: Precision = "fp32",
                force: bool = False, *, overwrite: bool = False) -> Manifest:
    """Export a LLaMA-architecture model to ONNX with its KV cache, and validate it against PyTorch.

    Args:
        model: A Hugging Face-format folder, a ``.gguf`` file, or None for
            ``LLAMATASKS_MODEL`` / the embedded default (SmolLM2-135M-Instruct).
        out_dir: The folder to create. It must not hold files unless ``overwrite``.
        precision: ``fp32`` (CPU or GPU), ``fp16`` (a CUDA graph), or ``int8`` / ``int4``
            weight-only quantization for the CPU.
        force: Keep an export that fails validation (recorded in the manifest), and
            skip the memory check.
        overwrite: Replace an existing ``out_dir``.

    Returns:
        The manifest written to ``out_dir/llamatasks-export.json``.

    Raises:
        ExportValidationError: fp32 beyond tolerance, or fp16/int8/int4 below 95% top-1 agreement.
        ExportMemoryError: The export would not, or did not, fit in memory.
        ExportOutputExistsError: ``out_dir`` holds files and ``overwrite`` is False.
    """
    if precision not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")
    target = Path(out_dir).expanduser().resolve()
    _check_target(target, overwrite)
    source = resolve(model)
    check_exportable(source.path)  # Llama 4, LLaMA 3.2 Vision: the builder has no decoder for them
    read_config(source.path)  # a non-LLaMA or broken folder fails here, before any work
    builder = builder_version()
    check_memory(source.path, precision, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_legacy_leftovers(target)
    with folder_lock(target):
        _check_target(target, overwrite)  # again: another export may have finished while this one waited
        return replace_folder(target, lambda work: _build_into(work, source, precision, builder, force),
                              marker=None)  # the manifest, written last, marks a complete export


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ExportOutputExistsError(f"{target} exists and is not a folder", hint="choose another output path")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ExportOutputExistsError(f"{target} already holds files")


def _build_into(work: Path, source: ModelSource, precision: str, builder: str, force: bool) -> Manifest:
    plan = plan_for(precision)
    build = work / "_build"
    run_builder(source.path, build, plan, work / "_build.log")
    model = add_logits_positions(build / "model.onnx", work / "model.onnx")
    os.replace(build / "model.onnx.data", work / "model.onnx.data")
    shutil.rmtree(build)
    (work / "_build.log").unlink()
    for name in COPIED_FILES:
        if (source.path / name).is_file():
            shutil.copy2(source.path / name, work / name)
    config = read_config(source.path)
    files = {name: digest(work / name) for name in _GRAPH_FILES}
    layout = describe(model, config, files, builder, plan.execution_provider, plan.quantization)
    tokenizer = Tokenizer.from_dir(source.path)
    profile = _profile(source, tokenizer)
    prompts = prompt_ids(tokenizer.encode, VALIDATION_TEXTS, profile.bos_token_id if profile.add_bos else None)
    report = validate_export(source.path, work / "model.onnx", layout, precision, prompts, force)
    manifest = Manifest(
        llamatasks_version=_version(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        precision=precision,  # type: ignore[arg-type]
        source=SourceInfo(name=source.name, path=str(source.path), weights=_weights(source.path)),
        profile=profile.model_dump(mode="json"), graph=layout, validation=report,
    )
    (work / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


def _profile(source: ModelSource, tokenizer: Tokenizer) -> ModelProfile:
    from llamatasks.plugins import default_registry

    return build_profile(source.path, source.name, tokenizer, default_registry().formats_in_order())


def _weights(path: Path) -> dict[str, FileDigest]:
    return {f.name: digest(f) for f in sorted(path.glob("*.safetensors"))}


def digest(path: Path) -> FileDigest:
    """Size and sha256 of a file, read in 4 MiB chunks."""
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(4 << 20), b""):
            sha.update(chunk)
    return FileDigest(size=path.stat().st_size, sha256=sha.hexdigest())


def _remove_legacy_leftovers(target: Path) -> None:
    """Remove what killed exports of earlier versions (which took no lock) left beside ``target``."""
    for suffix in (".export-*", ".old-*"):
        remove_abandoned(target.parent, f".{glob.escape(target.name)}{suffix}")


def _version() -> str:
    import llamatasks

    return str(llamatasks.__version__)
