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
from llamatasks.engine.prefixes import PrefixPass, plan_prefixes
from llamatasks.engine.stepping import generate_by_steps
from llamatasks.errors import InvalidInputError

_DTYPES = {"fp32": "float32", "fp16": "float16", "int8": "int8", "int4": "int4"}


@dataclass(frozen=True)
class PassCosts:
    """What a forward call costs on one export, in tokens of a large batched pass from an empty cache."""

    call: float  # any call's fixed part (every weight read once)
    chunk_token: float  # a token of a one-row chunk after a past
    step_row: float  # a row of a one-token step


#: Measured by bench/onnx_pass_costs.py on SmolLM2-135M's exports, 2 threads (AMD EPYC Zen 4); see
#: docs/export.md, "Shared prefixes". Only their ratios matter, and the choice they drive is coarse: a
#: shared prefix is run once when that saves more tokens than the extra calls cost.
_COSTS = {"fp32": PassCosts(call=14.0, chunk_token=1.0, step_row=1.2),
          "int8": PassCosts(call=7.0, chunk_token=1.1, step_row=1.4)}


@dataclass(frozen=True)
class _Schedule:
    """How to run a ``PrefixPlan`` on this graph.

    The plan's first ``merged`` passes run as one batched pass from an empty
    cache (each row with the segments of the rows it continues: all of them is
    unshared scoring); each later pass feeds ``steps[i]`` one-token steps to
    every row, for the rows that add at most that many tokens, and a one-row
    chunk to each of the others.
    """

    merged: int
    steps: tuple[int, ...]


@dataclass
class _Rows:
    """The step loop's state on this backend: the KV cache and each row's length so far."""

    cache: KVCache
    lengths: np.ndarray


class OnnxEngine(Engine):
    """An exported decoder on ONNX Runtime; generation runs the shared step loop (``StepEngine``)."""

    backend_name = "onnx"
    capabilities = ALL_CAPABILITIES
    #: Run prefixes that prompts share once (``plan_prefixes``), where the cost rule (``_schedule``) says
    #: it is faster; False: every prompt in full, in one batched pass.
    share_prefixes: bool = True

    def __init__(self, decoder: DecoderSession, manifest: Manifest | None = None, pad_id: int = 0) -> None:
        self.decoder = decoder
        self.manifest = manifest
        self.device = decoder.device
        self.dtype = _DTYPES[manifest.precision] if manifest else decoder.layout.kv_dtype
        self.pad_id = pad_id
        self.context_length = decoder.layout.context_length
        self.costs = _COSTS["int8" if manifest and manifest.precision in ("int8", "int4") else "fp32"]

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
        lengths = self._check_prompts(prompts)
        cache, logits = self._run_prompts(prompts, int(lengths.max()) + room)
        return _Rows(cache, lengths), logits

    def _run_prompts(self, prompts: Sequence[Sequence[int]], capacity: int) -> tuple[KVCache, np.ndarray]:
        """The prompts' cache (one row per prompt, in order) and each row's last-position logits ``(B, V)``.

        Prefixes the prompts share run once where that is faster (``plan_prefixes``,
        ``_schedule``): the first passes of the plan as one batched pass, then each
        later pass on copies of its parents' cache rows. onnxruntime's
        GroupQueryAttention refuses a chunk of several tokens after a past for more
        than one row, so a later pass runs as one-token steps of all its rows, or as
        one chunk per row, or both (``_extend``).
        """
        passes = plan_prefixes(prompts).passes if self.share_prefixes else (PrefixPass(tuple(map(tuple, prompts))),)
        schedule = _schedule(passes, self.costs, alone=self.device == "cpu")
        heads = _heads(passes, schedule.merged)
        ids, lengths = self._right_pad(heads)
        cache = self.decoder.new_cache(len(heads), capacity)
        last = schedule.merged == len(passes)
        logits = self.decoder.forward(ids, lengths, cache, (lengths - 1)[:, None] if last else _no_logits(len(heads)))
        for step, steps in zip(passes[schedule.merged:], schedule.steps):
            parents = np.array(step.parents, dtype=np.int64)
            cache = self.decoder.select_rows(cache, parents, int(lengths.max()))
            lengths = lengths[parents]
            logits = self._extend(cache, lengths, step.segments, steps, last=step is passes[-1])
            lengths = lengths + np.array([len(s) for s in step.segments], dtype=np.int64)
        return cache, logits[:, 0]

    def _extend(self, cache: KVCache, lengths: np.ndarray, segments: Sequence[Sequence[int]], steps: int,
                last: bool) -> np.ndarray:
        """Append each row's segment after its ``lengths``; logits ``(B, 1, V)`` at each row's last token (``last``),
        else ``(B, 0, V)``.

        The rows that add at most ``steps`` tokens get them in ``steps`` one-token
        steps of the whole batch, each row starting so that it ends on the last
        step; then each other row runs its segment alone, through a view of its row.
        """
        count = np.array([len(s) for s in segments], dtype=np.int64)
        logits = np.empty((len(segments), int(last), self.decoder.vocab_size), np.float32)
        stepped = count <= steps
        if steps:
            logits[stepped] = self._step_through(cache, lengths, segments, steps, last)[stepped]
        for row in np.flatnonzero(~stepped):
            ids = np.array([segments[row]], dtype=np.int64)
            positions = np.array([[count[row] - 1]]) if last else _no_logits(1)
            logits[row] = self.decoder.forward(ids, lengths[row:row + 1] + count[row],
                                               self.decoder.row_view(cache, int(row)), positions)[0]
        return logits

    def _step_through(self, cache: KVCache, lengths: np.ndarray, segments: Sequence[Sequence[int]], steps: int,
                      last: bool) -> np.ndarray:
        """``steps`` one-token steps of every row; the segments of at most ``steps`` tokens end on the last one.

        A row that is not being fed in a step writes padding after its tokens,
        which its next token overwrites (the same as a right-padded batch).
        """
        count = np.array([len(s) for s in segments], dtype=np.int64)
        start = np.where(count <= steps, steps - count, steps)  # where each row's segment starts (longer: never)
        logits = np.empty((len(segments), 0, self.decoder.vocab_size), np.float32)
        for step in range(steps):
            at = step - start  # each row's position in its segment
            fed = (at >= 0) & (at < count)
            tokens = np.array([[segments[i][at[i]] if fed[i] else self.pad_id] for i in range(len(segments))])
            positions = np.zeros((len(segments), 1), np.int64) if last and step == steps - 1 else _no_logits(len(count))
            logits = self.decoder.forward(tokens, lengths + 1 + np.where(fed, at, 0), cache, positions)
        return logits

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

    def _check_prompts(self, prompts: Sequence[Sequence[int]]) -> np.ndarray:
        """Each prompt's length, once every prompt is known to be non-empty, in the vocabulary and in the context."""
        if not prompts or any(len(p) == 0 for p in prompts):
            raise InvalidInputError("every prompt needs at least one token")
        check_token_ids([t for p in prompts for t in p], self.decoder.vocab_size)
        lengths = np.array([len(p) for p in prompts], dtype=np.int64)
        context = self.decoder.layout.context_length
        if int(lengths.max()) > context:
            raise InvalidInputError(f"a prompt of {int(lengths.max())} tokens exceeds the model's context of {context}",
                                    hint="shorten the text (tasks chunk long inputs when max_context is set)")
        return lengths

    def _right_pad(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Ids ``(B, longest)``, each row's tokens first, and each row's length."""
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        ids = np.full((len(rows), int(lengths.max())), self.pad_id, dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids, lengths

    # -- scoring ---------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Summed log-probabilities: the prompts (sharing their prefixes, ``_run_prompts``), then the continuations.

        The first token of every continuation is read off the prompts' logits. Longer
        continuations copy their prompt's cache into one row each and are fed a
        token per step, so the prompt is never run twice.
        """
        lengths = self._check_prompts([r.prompt for r in requests])
        check_token_ids([t for r in requests for c in r.continuations for t in c], self.decoder.vocab_size)
        width = max(len(c) for r in requests for c in r.continuations)
        cache, logits = self._run_prompts([r.prompt for r in requests], int(lengths.max()) + width - 1)
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


def _no_logits(rows: int) -> np.ndarray:
    """Logits positions ``(rows, 0)``: a pass whose logits nobody reads skips the LM head."""
    return np.zeros((rows, 0), np.int64)


def _heads(passes: Sequence[PrefixPass], merged: int) -> list[tuple[int, ...]]:
    """The rows of pass ``merged - 1``, each with the segments of the rows it continues."""
    rows = list(passes[0].segments)
    for step in passes[1:merged]:
        rows = [rows[parent] + segment for parent, segment in zip(step.parents or (), step.segments)]
    return rows


def _schedule(passes: Sequence[PrefixPass], costs: PassCosts, alone: bool) -> _Schedule:
    """The cheapest way to run ``passes`` by ``costs``; ``alone``: rows may run one at a time (CPU)."""
    later = [_extend_cost([len(s) for s in step.segments], costs, alone) for step in passes[1:]]
    options = []
    for merged in range(1, len(passes) + 1):
        heads = _heads(passes, merged)
        cost = costs.call + len(heads) * max(len(h) for h in heads) + sum(c for c, _ in later[merged - 1:])
        options.append((cost, merged))
    _, merged = min(options)
    return _Schedule(merged, tuple(steps for _, steps in later[merged - 1:]))


def _extend_cost(counts: Sequence[int], costs: PassCosts, alone: bool) -> tuple[float, int]:
    """``(cost, steps)`` of the cheapest split of a later pass whose rows add ``counts`` tokens (``_extend``)."""
    splits = sorted(set(counts) | {0}) if alone else [max(counts)]
    return min((steps * (costs.call + costs.step_row * len(counts))
                + sum(costs.call + costs.chunk_token * k for k in counts if k > steps), steps) for steps in splits)


def _pad_id(manifest: Manifest) -> int:
    """Any in-vocabulary id works: padding is never attended (it sits after each row's tokens)."""
    stops = manifest.profile.get("stop_token_ids") or []
    return int(stops[0]) if stops else 0


def open_graph(graph: Path, layout: GraphInfo, device: str = "cpu") -> OnnxEngine:
    """An engine over a graph file outside a finished export folder (the exporter validates with it)."""
    return OnnxEngine(DecoderSession.open(graph, layout, device))
