"""``llamatasks-export.json``: what an ONNX export holds and how well it matches PyTorch.

The manifest is written last, by the exporter, into a folder that is then moved
into place; a folder with a manifest is therefore a complete export. The
backend reads it to pick the graph and its I/O layout, and refuses manifests of
another ``format_version`` rather than guessing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamatasks.backends.onnx.errors import (
    CorruptExportError,
    IncompatibleExportError,
    NotAnExportError,
)

MANIFEST_NAME = "llamatasks-export.json"
FORMAT: Final = "llamatasks-onnx-export"
#: Bumped whenever the graph's I/O contract or the manifest's meaning changes.
FORMAT_VERSION = 1

Precision = Literal["fp32", "fp16", "int8", "int4"]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class FileDigest(BaseModel):
    """Size and sha256 of one file."""

    model_config = _FROZEN

    size: int = Field(ge=0)
    sha256: str


class SourceInfo(BaseModel):
    """The model the export was made from."""

    model_config = _FROZEN

    name: str
    path: str
    weights: dict[str, FileDigest] = Field(description="Source weight files (safetensors) by name.")


class GraphInfo(BaseModel):
    """The decoder graph and its I/O layout."""

    model_config = _FROZEN

    filename: str = "model.onnx"
    files: dict[str, FileDigest] = Field(description="Graph and external-data files by name.")
    opset: int
    builder: str = Field(description="What built the graph, with its version.")
    execution_provider: Literal["cpu", "cuda"] = Field(description="The provider the graph was optimized for.")
    num_layers: int
    num_kv_heads: int
    head_size: int
    context_length: int = Field(description="Positions the rotary cache covers.")
    kv_dtype: Literal["float32", "float16"]
    quantization: dict[str, Any] | None = Field(default=None, description="Weight-only quantization settings.")


class ValidationReport(BaseModel):
    """PyTorch vs ONNX Runtime on the exporter's fixed prompt set."""

    model_config = _FROZEN

    prompts: int
    positions: int = Field(description="Teacher-forced positions compared.")
    max_abs_logit_diff: float
    top1_agreement: float = Field(description="Share of positions whose top-1 token matches PyTorch.")
    greedy_tokens: int = Field(description="Greedy tokens generated per prompt.")
    greedy_agreement: float = Field(description="Share of greedy tokens equal before the first divergence.")
    max_abs_logit_diff_limit: float | None
    min_top1_agreement: float | None
    passed: bool
    forced: bool = False
    seconds: float


class Manifest(BaseModel):
    """Everything ``llamatasks-export.json`` records about an export."""

    model_config = _FROZEN

    format: Literal["llamatasks-onnx-export"] = FORMAT
    format_version: int = FORMAT_VERSION
    llamatasks_version: str
    created: str = Field(description="UTC time of the export, ISO 8601.")
    precision: Precision
    source: SourceInfo
    profile: dict[str, Any] = Field(description="The source model's ModelProfile at export time.")
    graph: GraphInfo
    validation: ValidationReport


def has_manifest(path: Path) -> bool:
    """Whether ``path`` is a folder holding an export manifest (the backend's ``claims``)."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_manifest(path: Path) -> Manifest:
    """Read and check the manifest of an export folder.

    Raises:
        NotAnExportError: No manifest (not an export, or an unfinished one).
        IncompatibleExportError: Another format or format version.
        CorruptExportError: The manifest is unreadable or malformed.
    """
    file = Path(path) / MANIFEST_NAME
    if not file.is_file():
        raise NotAnExportError(f"{path} is not an ONNX export: it has no {MANIFEST_NAME}")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptExportError(f"{file} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise IncompatibleExportError(f"{file} is not a llamatasks ONNX export manifest (format {raw.get('format')!r})"
                                      if isinstance(raw, dict) else f"{file} is not a manifest object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise IncompatibleExportError(
            f"{path} is an export of format version {version!r}; this llamatasks reads version {FORMAT_VERSION}",
            hint="upgrade llamatasks to load it" if newer else None,
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise CorruptExportError(f"{file} does not match the manifest schema: {exc}") from exc


def check_files(path: Path, manifest: Manifest) -> None:
    """Fail early, by size, on a missing or truncated graph file (hashing GBs per load is too slow)."""
    for name, digest in manifest.graph.files.items():
        file = Path(path) / name
        if not file.is_file():
            raise CorruptExportError(f"{file} is missing from the export")
        size = file.stat().st_size
        if size != digest.size:
            raise CorruptExportError(f"{file} has {size} bytes; the manifest records {digest.size} (truncated?)")
