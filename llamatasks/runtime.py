"""``Runtime``: what tasks run on (the ``TaskModel`` they are given).

It holds the engine, tokenizer, profile and renderer of one loaded model and
turns a task's many prompts into engine batches: generation sorted by length
so rows pad least, scoring in ``prefix_order`` so prompts that share a prefix
meet in one batch and rows of a batch are of similar length; at most
``batch_size`` rows and ``max_batch_tokens`` padded tokens a batch (scoring
``SCORING_ROWS`` times the rows and twice the tokens: one forward pass per row), halved for this
and every later batch when one runs out of memory; every request checked against the
engine's capabilities in one place (``supported``, ``require``), with a
progress bar on a terminal.
Tasks batch across their own work (sentiment's phrasings, a document's chunks,
a list's texts) by handing all of it to one ``generate``/``score`` call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from llamatasks.engine.base import (
    Capability,
    Constraint,
    Engine,
    GenerateRequest,
    GenerationOptions,
    GenerationOutput,
    ScoreRequest,
    require,
    supported,
    token_budget,
)
from llamatasks.engine.prefixes import prefix_order
from llamatasks.profile import ModelProfile
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Prompt, PromptRenderer
from llamatasks.results import Provenance
from llamatasks.streaming import generate_streamed, rows_to_stream
from llamatasks.tokenizer import Tokenizer

T = TypeVar("T")

#: Scoring batches hold this many times ``batch_size`` rows (and twice ``max_batch_tokens`` tokens): a
#: scored row is one forward pass, where a generated one keeps its cache for every new token, and the
#: rows of a batch share prefixes. On 2 CPU cores, sentiment ran 15% faster at 16 than at 8.
SCORING_ROWS = 16
#: The most padding a scoring batch may hold: this share of its real tokens, or ``PADDING_ALLOWANCE``
#: tokens (what a few more forward passes cost) where that is more. Beyond it more rows stop paying.
MAX_PADDING = 0.25
PADDING_ALLOWANCE = 64


class Runtime:
    """One loaded model as tasks see it (implements ``llamatasks.tasks.base.TaskModel``)."""

    #: Padded tokens per generation batch (scoring: twice as many), whatever ``batch_size`` allows.
    max_batch_tokens: int = 8192
    #: The rows and padded tokens of half the last batch that ran out of memory: no batch is larger.
    memory_rows: float = float("inf")
    memory_tokens: float = float("inf")
    #: Scoring batches in ``prefix_order``, of ``SCORING_ROWS`` times ``batch_size`` rows, at most
    #: ``MAX_PADDING`` padding (False: sorted by ids, of twice ``batch_size`` rows, any padding: the
    #: batches before, kept for bench/bench_core.py to measure against).
    prefix_batches: bool = True

    def __init__(self, engine: Engine, tokenizer: Tokenizer, profile: ModelProfile, prompt_format: PromptFormat,
                 batch_size: int = 8) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.profile = profile
        self.prompt_format = prompt_format
        self.batch_size = batch_size
        self.renderer = PromptRenderer(tokenizer, prompt_format, profile.add_bos)

    def provenance(self, *, tokens_in: int, tokens_out: int, seconds: float, chunks: int = 1) -> Provenance:
        return Provenance(model=self.profile.name, backend=self.engine.backend_name, device=self.engine.device,
                          prompt_format=self.profile.prompt_format, tokens_in=tokens_in, tokens_out=tokens_out,
                          seconds=seconds, chunks=chunks)

    def supports(self, capability: Capability) -> bool:
        return capability in self.engine.capabilities

    def generate(self, prompts: Sequence[Prompt], options: GenerationOptions,
                 constraints: Sequence[Constraint | None] | None = None,
                 contrasts: Sequence[Prompt | None] | None = None) -> list[GenerationOutput]:
        """Generate for every prompt; ``contrasts`` (one prompt or None per row) are used when
        ``options.contrast_weight > 0``.

        A request the engine cannot serve is refused with ``CapabilityError``
        (constraints) or decoded plainly (contrast, beams, n-gram bans it lacks).
        """
        stream = rows_to_stream(len(prompts))  # None unless this is a streaming call

        def run(idx: list[int]) -> list[GenerationOutput]:
            against = [contrasts[i] for i in idx] if contrasts else None
            longest = max(len(p.ids) for p in [prompts[i] for i in idx] + [c for c in against or [] if c])
            request = GenerateRequest.of(
                [prompts[i].ids for i in idx], self._within_context(options, longest),
                [constraints[i] for i in idx] if constraints else None,
                [None if c is None else c.ids for c in against] if against else None)
            return generate_streamed(self.engine, supported(request, self.engine), idx, stream)

        return self._batched([len(p.ids) for p in prompts], run, "generating")  # similar lengths pad least

    def _within_context(self, options: GenerationOptions, longest: int) -> GenerationOptions:
        """``options`` with ``max_new_tokens`` capped by the profile's context (``load(max_context=...)``),
        which may be shorter than the engine's."""
        budget = token_budget(self.profile.context_length, longest, options.max_new_tokens)
        return options if budget == options.max_new_tokens else options.model_copy(update={"max_new_tokens": budget})

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Score every request (``CapabilityError`` where the engine cannot score)."""
        require(self.engine, Capability.SCORE)
        prompts = [r.prompt for r in requests]
        # Prompts that share a prefix (the system turn and question; a sentence for its NER mentions) meet
        # in one batch, where a backend runs the shared part once, and rows of a batch are of similar length.
        if self.prefix_batches:
            order, rows, padding = prefix_order(prompts), SCORING_ROWS, MAX_PADDING
        else:
            order, rows, padding = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i])), 2, float("inf")
        return self._batched([len(p) for p in prompts], lambda idx: self.engine.score([requests[i] for i in idx]),
                             "scoring", order=order, rows=rows, tokens=2, padding=padding)

    def _batched(self, lengths: Sequence[int], run: Callable[[list[int]], list[T]], desc: str,
                 order: Sequence[int] | None = None, rows: int = 1, tokens: int = 1,
                 padding: float = float("inf")) -> list[T]:
        """``run`` over batches of indices taken in ``order`` (default: by length); the results in input order.

        A batch holds at most ``batch_size * rows`` rows and ``max_batch_tokens * tokens``
        padded tokens (rows times the longest row), so long inputs go in smaller batches, and
        at most ``padding`` padding (``_next_batch``). A batch that runs out of memory is
        retried in halves, and the runtime's later batches keep to that size (``memory_rows``,
        ``memory_tokens``): batches adapt to the memory there is.
        """
        from tqdm.auto import tqdm

        order = list(order) if order is not None else sorted(range(len(lengths)), key=lengths.__getitem__)
        results: list[Any] = [None] * len(lengths)
        show = sys.stderr.isatty() and len(order) > 1 and not os.environ.get("LLAMATASKS_NO_PROGRESS")
        with tqdm(total=len(lengths), desc=desc, disable=not show, leave=False) as bar:
            done = 0
            while done < len(order):
                idx = self._next_batch(order[done:], lengths, int(min(self.batch_size * rows, self.memory_rows)),
                                       min(self.max_batch_tokens * tokens, self.memory_tokens), padding)
                try:
                    batch = run(idx)
                except Exception as exc:
                    if len(idx) == 1 or not _out_of_memory(exc):
                        raise
                    # This batch again in halves, and no later batch larger than they are.
                    self.memory_rows = min(self.memory_rows, len(idx) // 2)
                    self.memory_tokens = min(self.memory_tokens, len(idx) * max(lengths[i] for i in idx) / 2)
                    continue
                for i, result in zip(idx, batch):
                    results[i] = result
                done += len(idx)
                bar.update(len(idx))
        return results

    @staticmethod
    def _next_batch(order: Sequence[int], lengths: Sequence[int], rows: int, tokens: float,
                    padding: float) -> list[int]:
        """The first indices of ``order`` (at least one) that fit ``rows`` rows and ``tokens`` padded
        tokens, stopping before a row that would pad the batch by more than ``padding`` of its
        real tokens (or ``PADDING_ALLOWANCE`` tokens, where that is more)."""
        batch = [order[0]]
        longest = total = lengths[order[0]]
        for i in order[1:rows]:
            longest, total = max(longest, lengths[i]), total + lengths[i]
            padded = (len(batch) + 1) * longest
            if padded > tokens or padded - total > max(padding * total, PADDING_ALLOWANCE):
                break
            batch.append(i)
        return batch


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is an allocator failure: a smaller batch may fit."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or "out of memory" in str(seen).lower() or \
                type(seen).__name__ == "OutOfMemoryError":
            return True
        seen = seen.__cause__
    return False
