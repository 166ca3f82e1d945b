"""``OnnxEngine``: the engine contract on an exported decoder, through the shared step loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llamatasks.backends.onnx.manifest import (
    GraphInfo,
    Manifest,
    check_files,
    read_manifest,
)
from llamatasks.backends.onnx.session import DecoderSession, KVCache
from llamatasks.engine.base import (
    ALL_CAPABILITIES,
    Engine,
    GenerateRequest,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
    check_token_ids,
)
from llamatasks.engine.decoding import log_softmax
from llamatasks.engine.stepping import generate_by_steps
from llamatasks.errors import InvalidInputError

_DTYPES = {"fp32": "float32", "fp16": "float16", "int8": "int8", "int4": "int4"}


@dataclass
class _Rows:
    """The step loop's state on this backend: the KV cache and each row's length so far."""

    cache: KVCache
    lengths: np.ndarray


class OnnxEngine(Engine):
    """An exported decoder on ONNX Runtime; generation runs the shared step loop (``StepEngine``)."""

    backend_name = "onnx"
    capabilities = ALL_CAPABILITIES

    def __init__(self, decoder: DecoderSession, manifest: Manifest | None = None, pad_id: int = 0) -> None:
        self.decoder = decoder
        self.manifest = manifest
        self.device = decoder.device
        self.dtype = _DTYPES[manifest.precision] if manifest else decoder.layout.kv_dtype
        self.pad_id = pad_id
        self.context_length = decoder.layout.context_length

    @classmethod
    def load(cls, request: LoadRequest) -> OnnxEngine:
        """Open an export folder: manifest, file sizes, then the ONNX Runtime session."""
        manifest = read_manifest(request.path)
        if request.dtype not in (None, "auto", manifest.precision, _DTYPES[manifest.precision]):
            raise InvalidInputError(
                f"this export is {manifest.precision}; dtype={request.dtype!r} cannot be applied to it",
                hint="omit dtype, or export again with `llamatasks export onnx --precision ...`",
            )
        check_files(request.path, manifest)
        decoder = DecoderSession.open(request.path / manifest.graph.filename, manifest.graph, request.device)
        return cls(decoder, manifest, pad_id=_pad_id(manifest))

    # -- generation: the step protocol ------------------------------------------------

    def generate(self, request: GenerateRequest) -> list[GenerationOutput]:
        """Batched generation by the shared step loop; each row equals its own one-by-one generation.

        Rows are right-padded (see ``llamatasks.backends.onnx.session``); a row's
        padding is overwritten by its next token.
        """
        return generate_by_steps(self, request)

    def prefill(self, prompts: Sequence[Sequence[int]], room: int) -> tuple[_Rows, np.ndarray]:
        """Run the prompts into a cache with ``room`` positions to spare; logits at each row's last token."""
        ids, lengths = self._right_pad(prompts)
        cache, logits = self._run_prompts(ids, lengths, int(lengths.max()) + room)
        return _Rows(cache, lengths), logits

    def _run_prompts(self, ids: np.ndarray, lengths: np.ndarray, capacity: int) -> tuple[KVCache, np.ndarray]:
        """The prompts' cache and each row's last-position logits ``(B, V)``, in one pass.

        A prefix the prompts share is run for every row: the exported attention
        (onnxruntime's GroupQueryAttention on CPU) refuses a chunk of several
        tokens after a past for more than one row ("batch_size must be 1 when
        sequence_length > 1 and past context is given"), so the torch backend's
        run-the-prefix-once path cannot be batched here.
        """
        cache = self.decoder.new_cache(len(ids), capacity)
        return cache, self.decoder.forward(ids, lengths, cache, (lengths - 1)[:, None])[:, 0]

    def step(self, state: _Rows, tokens: np.ndarray) -> np.ndarray:
        """Write one token per row at that row's own length."""
        state.lengths = state.lengths + 1
        zeros = np.zeros((len(tokens), 1), np.int64)
        return self.decoder.forward(np.asarray(tokens, np.int64)[:, None], state.lengths, state.cache, zeros)[:, 0]

    def select_rows(self, state: _Rows, rows: np.ndarray) -> _Rows:
        """Row ``i`` continues row ``rows[i]``: reordered in place when the batch keeps its size (beams)."""
        if len(rows) == state.cache.batch:
            cache = self.decoder.reorder_rows(state.cache, rows, int(state.lengths.max()))
        else:
            cache = self.decoder.select_rows(state.cache, rows)
        return _Rows(cache, state.lengths[rows])

    def _right_pad(self, prompts: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        if not prompts or any(len(p) == 0 for p in prompts):
            raise InvalidInputError("every prompt needs at least one token")
        check_token_ids([t for p in prompts for t in p], self.decoder.vocab_size)
        lengths = np.array([len(p) for p in prompts], dtype=np.int64)
        context = self.decoder.layout.context_length
        if int(lengths.max()) > context:
            raise InvalidInputError(f"a prompt of {int(lengths.max())} tokens exceeds the model's context of {context}",
                                    hint="shorten the text (tasks chunk long inputs when max_context is set)")
        ids = np.full((len(prompts), int(lengths.max())), self.pad_id, dtype=np.int64)
        for row, prompt in enumerate(prompts):
            ids[row, : len(prompt)] = prompt
        return ids, lengths

    # -- scoring ---------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Summed log-probabilities: one batched pass over the prompts, then the continuations.

        The first token of every continuation is read off the prompt pass. Longer
        continuations copy their prompt's cache into one row each and are fed a
        token per step, so the prompt is never run twice.
        """
        ids, lengths = self._right_pad([r.prompt for r in requests])
        check_token_ids([t for r in requests for c in r.continuations for t in c], self.decoder.vocab_size)
        width = max(len(c) for r in requests for c in r.continuations)
        cache, logits = self._run_prompts(ids, lengths, int(lengths.max()) + width - 1)
        first = log_softmax(logits)
        scores = [[float(first[i, c[0]]) for c in r.continuations] for i, r in enumerate(requests)]
        if width > 1:
            self._score_rest(requests, lengths, cache, scores, width)
        return scores

    def _score_rest(self, requests: Sequence[ScoreRequest], lengths: np.ndarray, cache: KVCache,
                    scores: list[list[float]], width: int) -> None:
        owners = [(i, j) for i, r in enumerate(requests) for j, c in enumerate(r.continuations) if len(c) > 1]
        conts = [requests[i].continuations[j] for i, j in owners]
        rows = np.array([i for i, _ in owners], dtype=np.int64)
        expanded = self.decoder.select_rows(cache, rows)
        row_lengths = lengths[rows]
        for step in range(width - 1):
            feed = np.array([[c[step] if step < len(c) - 1 else self.pad_id] for c in conts], dtype=np.int64)
            row_lengths = row_lengths + 1
            logprobs = log_softmax(self.decoder.forward(feed, row_lengths, expanded,
                                                        np.zeros((len(conts), 1), np.int64))[:, 0])
            for k, ((i, j), cont) in enumerate(zip(owners, conts)):
                if step + 1 < len(cont):
                    scores[i][j] += float(logprobs[k, cont[step + 1]])

    def close(self) -> None:
        self.decoder.close()


def _pad_id(manifest: Manifest) -> int:
    """Any in-vocabulary id works: padding is never attended (it sits after each row's tokens)."""
    stops = manifest.profile.get("stop_token_ids") or []
    return int(stops[0]) if stops else 0


def open_graph(graph: Path, layout: GraphInfo, device: str = "cpu") -> OnnxEngine:
    """An engine over a graph file outside a finished export folder (the exporter validates with it)."""
    return OnnxEngine(DecoderSession.open(graph, layout, device))
