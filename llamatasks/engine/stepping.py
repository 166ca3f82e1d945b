"""Generation over a small step protocol: the one loop both built-in backends decode with.

A backend that can run a prompt into a KV cache and then feed it one token at a
time implements ``StepEngine`` (three methods) and gets all of generation from
``generate_by_steps``: greedy decoding, seeded sampling, contrastive decoding,
beam search, repetition penalty, n-gram bans, constraints, stop tokens and the
context cap. The rules themselves live in ``engine.decoding`` and
``engine.beams``; a backend never writes them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from llamatasks.engine.base import (
    Constraint,
    GenerateRequest,
    GenerationOutput,
    token_budget,
    trim_at_stop,
)
from llamatasks.engine.beams import Finished, beam_step, cannot_improve, initial_scores
from llamatasks.engine.decoding import (
    RowHistory,
    choose_tokens,
    chosen_logprobs,
    log_softmax,
    process_logits,
)
from llamatasks.streaming import StepListener, current_listener


class StepEngine(Protocol):
    """What ``generate_by_steps`` needs of a backend.

    ``State`` is the backend's own object (a KV cache and each row's length);
    the loop only passes it back. Logits are float32 numpy arrays ``(rows, vocab)``.
    """

    context_length: int

    def prefill(self, prompts: Sequence[Sequence[int]], room: int) -> tuple[Any, np.ndarray]:
        """Run ragged prompts into a new state; logits at each row's last token.

        ``room`` is the most tokens that will be appended to any row (a backend may
        preallocate for it); prompts are non-empty and fit the context with it.
        """
        ...

    def step(self, state: Any, tokens: np.ndarray) -> np.ndarray:
        """Append one token to every row (``tokens``: shape ``(rows,)``); logits after it."""
        ...

    def select_rows(self, state: Any, rows: np.ndarray) -> Any:
        """A state whose row ``i`` continues row ``rows[i]`` of ``state`` (which may be reused)."""
        ...


def generate_by_steps(engine: StepEngine, request: GenerateRequest) -> list[GenerationOutput]:
    """Every row of ``request``, decoded on ``engine`` by the engine contract's rules."""
    prompts = [list(p) for p in request.prompts]
    if request.options.num_beams > 1:
        return _beam_search(engine, request, prompts)
    return _greedy_or_sampled(engine, request, prompts)


def _greedy_or_sampled(engine: StepEngine, request: GenerateRequest,
                       prompts: list[list[int]]) -> list[GenerationOutput]:
    options, n = request.options, len(prompts)
    contrasts = request.contrasts if options.contrast_weight > 0 and request.contrasts else None
    weights = None
    rows = prompts
    if contrasts and any(contrasts):
        # Contrast prompts run as extra rows of the same batch and are fed the same tokens;
        # a row without one gets its own last token as a stand-in, and weight 0.
        weights = np.array([[options.contrast_weight if c else 0.0] for c in contrasts])
        rows = prompts + [list(c) if c else p[-1:] for c, p in zip(contrasts, prompts)]
    budget = token_budget(engine.context_length, max(len(r) for r in rows), options.max_new_tokens)
    state, logits = engine.prefill(rows, budget)
    histories = [RowHistory.for_prompt(p, options) for p in prompts]
    stopped = [False] * n
    rng = np.random.default_rng(options.seed)
    stops = set(options.stop_token_ids)
    listener = current_listener()  # a streaming call's: it sees each token as it is kept
    for step in range(budget):
        own = logits[:n]
        plain = own.copy()
        scores = process_logits(own, histories, options, request.constraints, [not s for s in stopped])
        if weights is not None:
            scores = (1 + weights) * log_softmax(scores) - weights * log_softmax(logits[n:])
        tokens = choose_tokens(scores, options, rng)
        _append(histories, stopped, tokens, chosen_logprobs(plain, tokens), stops, listener)
        if all(stopped) or step + 1 == budget:
            break
        # A finished row keeps being fed (its own choice): batches stay rectangular.
        logits = engine.step(state, np.concatenate([tokens, tokens]) if weights is not None else tokens)
    return [GenerationOutput(token_ids=h.generated, finish_reason="stop" if done else "length",
                             token_logprobs=h.logprobs) for h, done in zip(histories, stopped)]


def _append(rows: list[RowHistory], stopped: list[bool], tokens: np.ndarray, logprobs: np.ndarray,
            stops: set[int], listener: StepListener | None = None) -> None:
    """Record each active row's new token (and tell ``listener``); a stop token ends the row and is not kept."""
    for b, token in enumerate(tokens.tolist()):
        if stopped[b]:
            continue
        if token in stops:
            stopped[b] = True
        else:
            rows[b].append(token, float(logprobs[b]))
            if listener is not None:
                listener(b, token)


def _beam_search(engine: StepEngine, request: GenerateRequest, prompts: list[list[int]]) -> list[GenerationOutput]:
    """Beam search (``engine.beams``) over ``num_beams`` rows per prompt."""
    options = request.options
    beams, count = options.num_beams, len(prompts)
    budget = token_budget(engine.context_length, max(len(p) for p in prompts), options.max_new_tokens)
    state, logits = engine.prefill(prompts, budget)
    owner = np.repeat(np.arange(count), beams)  # row -> prompt
    state, logits = engine.select_rows(state, owner), logits[owner]
    rows = [RowHistory.for_prompt(prompts[p], options) for p in owner.tolist()]
    constraints: list[Constraint | None] | None = (
        [request.constraints[p] for p in owner.tolist()] if request.constraints else None)
    running = initial_scores(count, beams)
    finished = [Finished(beams) for _ in prompts]
    done = [False] * count
    stops = set(options.stop_token_ids)
    keep = max(2, 1 + len(stops)) * beams
    for step in range(budget):
        plain = log_softmax(logits)
        logprobs = process_logits(plain.copy(), rows, options, constraints)
        accumulated = (logprobs.reshape(count, beams, -1) + running[:, :, None]).reshape(count, -1)
        last = step + 1 >= budget
        sources, tokens = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
        for p in range(count):
            base = p * beams
            out = beam_step(accumulated[p], beams, keep, stops, last, step + 1, None if done[p] else finished[p],
                            [rows[base + b] for b in range(beams)], plain[base:base + beams])
            sources[base:base + beams] = [base + b for b in out.sources]
            tokens[base:base + beams] = out.tokens
            running[p] = out.scores
            done[p] = done[p] or cannot_improve(finished[p], running[p, 0], step + 1)
        if last or all(done):
            break
        state = engine.select_rows(state, sources)
        rows = _follow(rows, sources)
        for row, token, source in zip(rows, tokens.tolist(), sources.tolist()):
            row.append(token, float(plain[source, token]))
        logits = engine.step(state, tokens)
    results = []
    for p, hypotheses in enumerate(finished):
        best = hypotheses.best()
        if best is None:
            best = (rows[p * beams].generated, rows[p * beams].logprobs)
        tokens_out, logprobs_out = best
        trimmed = trim_at_stop(tokens_out, options.stop_token_ids)
        results.append(GenerationOutput(token_ids=trimmed.token_ids, finish_reason=trimmed.finish_reason,
                                        token_logprobs=logprobs_out[:len(trimmed.token_ids)]))
    return results


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
