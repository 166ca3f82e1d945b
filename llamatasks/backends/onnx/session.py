"""An ONNX Runtime session over an exported decoder graph, with a preallocated KV cache.

The graph (see ``llamatasks_export``) takes ``input_ids``, ``attention_mask``,
``logits_positions`` and one ``past_key_values.{i}.key/value`` pair per layer,
and returns ``logits`` for the requested positions plus ``present.{i}.*``.
Its attention is ONNX Runtime's GroupQueryAttention, which reads each row's
length from the attention mask and applies the rotary embedding itself.

Two facts shape the loop:

* Past and present share one buffer per layer (bound to the same OrtValue), so
  a decode step writes one position in place instead of copying the cache.
* Rows are **right**-padded: GroupQueryAttention places each row's new token at
  that row's own length, so ragged batches need no position ids, and a row's
  padding is overwritten by its next token. (Left padding, as the torch backend
  uses, would shift the positions of shorter rows.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llamatasks.backends.onnx.errors import CorruptExportError
from llamatasks.backends.onnx.manifest import GraphInfo
from llamatasks.errors import (
    BackendUnavailableError,
    GenerationError,
    InvalidInputError,
)

THREADS_ENV = "LLAMATASKS_ONNX_THREADS"
_CUDA = "CUDAExecutionProvider"


def import_onnxruntime() -> Any:
    """``onnxruntime``, or a BackendUnavailableError naming the extra to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError(
            "the onnx backend needs onnxruntime", hint='pip install "llamatasks[onnx]" (GPU: "llamatasks[gpu]")'
        ) from exc
    return onnxruntime


def resolve_provider(device: str) -> tuple[str, list[Any]]:
    """``(device, providers)``: ``auto`` is CUDA when onnxruntime-gpu sees a GPU, else CPU.

    Asking for CUDA where the CUDA provider is missing is an error, never a
    silent fallback to the CPU.
    """
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    if device == "auto":
        device = "cuda" if _CUDA in available else "cpu"
    if device == "cpu":
        return "cpu", ["CPUExecutionProvider"]
    if device == "cuda" or device.startswith("cuda:"):
        if _CUDA not in available:
            raise BackendUnavailableError(
                f"device {device!r} was asked for but onnxruntime has no CUDA provider (it has {', '.join(available)})",
                hint='pip install "llamatasks[gpu]" (onnxruntime-gpu, instead of onnxruntime) on a CUDA machine, '
                     "or use device='cpu'",
            )
        index = int(device.partition(":")[2] or 0)
        return f"cuda:{index}", [(_CUDA, {"device_id": index}), "CPUExecutionProvider"]
    raise InvalidInputError(f"unknown device {device!r}", hint="use 'auto', 'cpu' or 'cuda[:N]'")


def _session_options(ort: Any) -> Any:
    options = ort.SessionOptions()
    threads = os.environ.get(THREADS_ENV)
    if threads:
        try:
            options.intra_op_num_threads = int(threads)
        except ValueError:
            raise InvalidInputError(f"{THREADS_ENV}={threads!r} is not a number of threads") from None
    options.log_severity_level = 3  # onnxruntime warns about harmless fallbacks at level 2
    return options


@dataclass
class KVCache:
    """One shared past/present buffer per layer, plus the binding that holds them."""

    capacity: int
    batch: int
    arrays: list[np.ndarray]  # CPU: the OrtValues view these arrays, which must stay alive
    values: list[Any]
    binding: Any = field(repr=False)


class DecoderSession:
    """The exported decoder: ``forward`` runs one chunk of tokens for a batch of rows."""

    def __init__(self, session: Any, layout: GraphInfo, device: str) -> None:
        self.session = session
        self.layout = layout
        self.device = device
        self.kv_dtype = np.float16 if layout.kv_dtype == "float16" else np.float32
        self._ort = import_onnxruntime()
        self._ort_device = ("cuda", int(device.partition(":")[2] or 0)) if device.startswith("cuda") else ("cpu", 0)
        logits = next(o for o in session.get_outputs() if o.name == "logits")
        self.vocab_size = int(logits.shape[-1])
        self.logits_dtype = np.float16 if logits.type == "tensor(float16)" else np.float32

    @classmethod
    def open(cls, graph: Path, layout: GraphInfo, device: str) -> DecoderSession:
        """Create the ONNX Runtime session; a graph ORT cannot load is a CorruptExportError."""
        ort = import_onnxruntime()
        device, providers = resolve_provider(device)
        try:
            session = ort.InferenceSession(str(graph), _session_options(ort), providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise CorruptExportError(f"onnxruntime cannot load {graph}: {exc}") from exc
        if device.startswith("cuda") and session.get_providers()[0] != _CUDA:
            raise BackendUnavailableError(
                f"onnxruntime could not start its CUDA provider for {graph}",
                hint="check the CUDA/cuDNN libraries onnxruntime-gpu needs, or use device='cpu'",
            )
        return cls(session, layout, device)

    # -- cache ----------------------------------------------------------------

    def new_cache(self, batch: int, capacity: int, arrays: list[np.ndarray] | None = None) -> KVCache:
        """A cache for ``batch`` rows of up to ``capacity`` positions (zeros unless ``arrays`` given)."""
        if capacity > self.layout.context_length:
            raise InvalidInputError(
                f"{capacity} positions exceed the model's context of {self.layout.context_length}",
                hint="use a shorter text or fewer new tokens",
            )
        shape = (batch, self.layout.num_kv_heads, capacity, self.layout.head_size)
        if arrays is None:
            arrays = [np.zeros(shape, self.kv_dtype) for _ in range(2 * self.layout.num_layers)]
        kind, index = self._ort_device
        values = [self._ort.OrtValue.ortvalue_from_numpy(a, kind, index) for a in arrays]
        binding = self.session.io_binding()
        for layer in range(self.layout.num_layers):
            for j, part in enumerate(("key", "value")):
                value = values[2 * layer + j]
                binding.bind_ortvalue_input(f"past_key_values.{layer}.{part}", value)
                binding.bind_ortvalue_output(f"present.{layer}.{part}", value)
        return KVCache(capacity, batch, arrays if kind == "cpu" else [], values, binding)

    def select_rows(self, cache: KVCache, rows: np.ndarray, filled: int | None = None) -> KVCache:
        """A new cache whose row ``i`` is a copy of ``cache``'s row ``rows[i]``.

        With ``filled``, only the first ``filled`` positions are copied and the
        rest start as zeros (untouched pages: a prefix's cache copied into the
        rows that continue it reads no more than the prefix).
        """
        sources = cache.arrays or [v.numpy() for v in cache.values]
        if filled is None:
            return self.new_cache(len(rows), cache.capacity, [a[rows] for a in sources])
        arrays = [np.zeros((len(rows), *a.shape[1:]), a.dtype) for a in sources]
        for array, source in zip(arrays, sources):
            array[:, :, :filled] = source[rows, :, :filled]
        return self.new_cache(len(rows), cache.capacity, arrays)

    def row_view(self, cache: KVCache, row: int) -> KVCache:
        """A one-row cache over row ``row`` of ``cache``'s own buffers (CPU only): what it writes, ``cache`` holds.

        ONNX Runtime runs a chunk of several tokens after a past for one row
        only (``forward``), so a batch's rows that each add such a chunk run
        one at a time, each through its own view.
        """
        if not cache.arrays:
            raise GenerationError("internal: a row view needs a cache in CPU memory")
        return self.new_cache(1, cache.capacity, [a[row:row + 1] for a in cache.arrays])

    def reorder_rows(self, cache: KVCache, rows: np.ndarray, filled: int) -> KVCache:
        """Make row ``i`` a copy of row ``rows[i]`` (first ``filled`` positions): beam search's reordering.

        On CPU only the rows that change are copied, in place; on CUDA the cache
        is rebuilt through host memory.
        """
        moved = np.flatnonzero(rows != np.arange(len(rows)))
        if not len(moved):
            return cache
        if not cache.arrays:
            return self.select_rows(cache, rows)
        for array in cache.arrays:
            array[moved, :, :filled] = array[rows[moved], :, :filled]  # the right side is a copy
        return cache

    # -- forward --------------------------------------------------------------

    def forward(self, ids: np.ndarray, lengths: np.ndarray, cache: KVCache, positions: np.ndarray) -> np.ndarray:
        """Run ``ids`` (B, S) and return float32 logits (B, K, V) at ``positions`` (B, K).

        ``lengths`` is each row's total length once ``ids`` are appended: the
        row's real tokens in ``ids`` are the first ``lengths - past`` of them.
        Positions index into this chunk, not the whole sequence; K may be 0
        (no logits: the LM head is skipped).

        GroupQueryAttention takes a chunk of several tokens after a past for one
        row only ("batch_size must be 1 when sequence_length > 1 and past context
        is given", onnxruntime 1.32); a batch either starts from an empty cache
        (its mask as wide as ``ids``) or adds one token per row.
        """
        width = int(lengths.max())
        if width > cache.capacity:
            raise GenerationError(f"internal: {width} positions do not fit a cache of {cache.capacity}")
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        binding = cache.binding
        binding.bind_cpu_input("input_ids", np.ascontiguousarray(ids, dtype=np.int64))
        binding.bind_cpu_input("attention_mask", mask)
        binding.bind_cpu_input("logits_positions", np.ascontiguousarray(positions, dtype=np.int64))
        # The logits are written straight into a numpy array: fetching them back
        # through get_outputs() would wrap all 2 x layers presents too (~0.1 ms a step).
        logits = np.empty((*positions.shape, self.vocab_size), self.logits_dtype)
        binding.bind_ortvalue_output("logits", self._ort.OrtValue.ortvalue_from_numpy(logits))
        try:
            self.session.run_with_iobinding(binding)
        except Exception as exc:
            raise GenerationError(f"onnxruntime failed while running the model: {exc}") from exc
        return logits if logits.dtype == np.float32 else logits.astype(np.float32)

    def close(self) -> None:
        self.session = None
