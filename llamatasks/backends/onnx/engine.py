"""``OnnxEngine``: the engine contract on an exported decoder, with a numpy decoding loop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llamatasks.backends.onnx.beams import (
    Finished,
    beam_step,
    cannot_improve,
    initial_scores,
)
from llamatasks.backends.onnx.decoding import (
    RowHistory,
    choose_tokens,
    log_softmax,
    process_logits,
)
from llamatasks.backends.onnx.manifest import (
    GraphInfo,
    Manifest,
    check_files,
    read_manifest,
)
from llamatasks.backends.onnx.session import DecoderSession, KVCache
from llamatasks.engine.base import (
    Constraint,
    Engine,
    GenerationOptions,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
    check_token_ids,
    trim_at_stop,
)
from llamatasks.errors import InvalidInputError

_DTYPES = {"fp32": "float32", "fp16": "float16", "int8": "int8", "int4": "int4"}


class OnnxEngine(Engine):
    """An exported decoder on ONNX Runtime, with its own numpy decoding loop."""

    backend_name = "onnx"
    supports_contrast = True

    def __init__(self, decoder: DecoderSession, manifest: Manifest | None = None, pad_id: int = 0) -> None:
        self.decoder = decoder
        self.manifest = manifest
        self.device = decoder.device
        self.dtype = _DTYPES[manifest.precision] if manifest else decoder.layout.kv_dtype
        self.pad_id = pad_id

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

    # -- generation ------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        options: GenerationOptions,
        constraints: Sequence[Constraint | None] | None = None,
        contrasts: Sequence[Sequence[int] | None] | None = None,
    ) -> list[GenerationOutput]:
        """Batched generation; each row equals its own one-by-one generation.

        Rows are right-padded (see ``llamatasks.backends.onnx.session``); a row that
        has stopped keeps feeding a pad token until every row is done. With
        ``num_beams > 1`` each prompt gets that many cache rows (``_beam_search``).
        Contrast prompts (contrastive decoding) run as extra rows of the same
        batch, fed the same tokens as their own row.
        """
        if options.num_beams > 1:
            return self._beam_search(prompts, options, constraints)
        n = len(prompts)
        weights = None
        if contrasts and options.contrast_weight > 0 and any(contrasts):
            weights = np.array([[options.contrast_weight if c else 0.0] for c in contrasts])
            prompts = list(prompts) + [list(c) if c else list(p[-1:]) for c, p in zip(contrasts, prompts)]
        cache, capacity, lengths, logits = self._prefill(prompts, options)
        rows = [RowHistory(list(p), len(p), options.no_repeat_ngram_size, options.no_repeat_ngram_in_prompt)
                for p in prompts[:n]]
        stopped = [False] * n
        rng = np.random.default_rng(options.seed)
        for _ in range(options.max_new_tokens):
            active = [not s for s in stopped]
            scores = process_logits(logits[:n], rows, options, constraints, active)
            if weights is not None:
                scores = (1 + weights) * log_softmax(scores) - weights * log_softmax(logits[n:])
            tokens = choose_tokens(scores, options, rng)
            _append(rows, stopped, tokens.tolist(), set(options.stop_token_ids))
            if all(stopped) or int(lengths.max()) >= capacity:
                break
            lengths = lengths + 1
            step = np.where(stopped, self.pad_id, tokens)
            if weights is not None:
                step = np.concatenate([step, step])
            logits = self.decoder.forward(step[:, None], lengths, cache, np.zeros((len(lengths), 1), np.int64))[:, 0]
        return [GenerationOutput(token_ids=row.generated, finish_reason="stop" if done else "length")
                for row, done in zip(rows, stopped)]

    def _beam_search(self, prompts: Sequence[Sequence[int]], options: GenerationOptions,
                     constraints: Sequence[Constraint | None] | None) -> list[GenerationOutput]:
        """Beam search (``llamatasks.backends.onnx.beams``) over ``num_beams`` cache rows per prompt."""
        beams = options.num_beams
        cache, capacity, lengths, logits = self._prefill(prompts, options)
        owner = np.repeat(np.arange(len(prompts)), beams)  # cache row -> prompt
        cache, logits, lengths = self.decoder.select_rows(cache, owner), logits[owner], lengths[owner]
        rows = [RowHistory(list(prompts[p]), len(prompts[p]), options.no_repeat_ngram_size,
                           options.no_repeat_ngram_in_prompt) for p in owner.tolist()]
        row_constraints = [constraints[p] for p in owner.tolist()] if constraints else None
        running = initial_scores(len(prompts), beams)
        finished = [Finished(beams) for _ in prompts]
        done = [False] * len(prompts)
        stops = set(options.stop_token_ids)
        keep = max(2, 1 + len(stops)) * beams
        for step in range(options.max_new_tokens):
            logprobs = process_logits(log_softmax(logits), rows, options, row_constraints)
            accumulated = (logprobs.reshape(len(prompts), beams, -1) + running[:, :, None]).reshape(len(prompts), -1)
            last = step + 1 >= options.max_new_tokens or int(lengths.max()) >= capacity
            sources, tokens = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
            for p in range(len(prompts)):
                base = p * beams
                out = beam_step(accumulated[p], beams, keep, stops, last, step + 1, None if done[p] else finished[p],
                                [rows[base + b].generated for b in range(beams)])
                sources[base:base + beams] = [base + b for b in out.sources]
                tokens[base:base + beams] = out.tokens
                running[p] = out.scores
                done[p] = done[p] or cannot_improve(finished[p], running[p, 0], step + 1)
            if last or all(done):
                break
            cache = self.decoder.reorder_rows(cache, sources, int(lengths.max()))
            rows = _follow(rows, sources)
            for row, token in zip(rows, tokens.tolist()):
                row.append(token)
            lengths = lengths + 1
            logits = self.decoder.forward(tokens[:, None], lengths, cache, np.zeros((len(rows), 1), np.int64))[:, 0]
        results = []
        for p, hypotheses in enumerate(finished):
            best = hypotheses.best()
            results.append(trim_at_stop(best if best is not None else rows[p * beams].generated, options.stop_token_ids))
        return results

    def _prefill(self, prompts: Sequence[Sequence[int]],
                 options: GenerationOptions) -> tuple[KVCache, int, np.ndarray, np.ndarray]:
        """Run the right-padded prompts into a cache with room for the new tokens.

        Returns the cache, its capacity, each row's length and the logits at each row's last token.
        """
        ids, lengths = self._right_pad(prompts)
        capacity = min(int(lengths.max()) + options.max_new_tokens, self.decoder.layout.context_length)
        cache = self.decoder.new_cache(len(prompts), capacity)
        logits = self.decoder.forward(ids, lengths, cache, (lengths - 1)[:, None])[:, 0]
        return cache, capacity, lengths, logits

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
        cache = self.decoder.new_cache(len(requests), int(lengths.max()) + width - 1)
        first = log_softmax(self.decoder.forward(ids, lengths, cache, (lengths - 1)[:, None])[:, 0])
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


def _append(rows: list[RowHistory], stopped: list[bool], tokens: list[int], stops: set[int]) -> None:
    """Record each active row's new token; a stop token ends the row and is not kept."""
    for b, token in enumerate(tokens):
        if stopped[b]:
            continue
        if token in stops:
            stopped[b] = True
        else:
            rows[b].append(token)


def _follow(rows: list[RowHistory], sources: np.ndarray) -> list[RowHistory]:
    """Each beam's history after beams moved: row ``i`` continues row ``sources[i]``.

    A source's own history object goes to the first beam that continues it;
    every further beam gets a copy (taken before anything is appended).
    """
    given: set[int] = set()
    out = []
    for source in sources.tolist():
        out.append(rows[source].copy() if source in given else rows[source])
        given.add(source)
    return out


def _pad_id(manifest: Manifest) -> int:
    """Any in-vocabulary id works: padding is never attended (it sits after each row's tokens)."""
    stops = manifest.profile.get("stop_token_ids") or []
    return int(stops[0]) if stops else 0


def open_graph(graph: Path, layout: GraphInfo, device: str = "cpu") -> OnnxEngine:
    """An engine over a graph file outside a finished export folder (the exporter validates with it)."""
    return OnnxEngine(DecoderSession.open(graph, layout, device))
