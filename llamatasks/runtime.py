"""``Runtime``: what tasks run on (the ``TaskModel`` they are given).

It holds the engine, tokenizer, profile and renderer of one loaded model and
turns a task's many prompts into engine batches: generation sorted by length
so rows pad least, scoring sorted by ids so prompts that share a prefix meet
in one batch; at most ``batch_size`` rows and ``max_batch_tokens`` padded
tokens a batch (scoring twice as many: one forward pass per row), halved and
retried when a batch runs out of memory; every request checked against the
engine's capabilities in one place (``supported``, ``require``), with a
progress bar on a terminal.
Tasks batch across their own work (sentiment's phrasings, a document's chunks,
a list's texts) by handing all of it to one ``generate``/``score`` call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
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
from llamatasks.profile import ModelProfile
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Prompt, PromptRenderer
from llamatasks.results import Provenance
from llamatasks.streaming import generate_streamed, rows_to_stream
from llamatasks.tokenizer import Tokenizer

T = TypeVar("T")


class Runtime:
    """One loaded model as tasks see it (implements ``llamatasks.tasks.base.TaskModel``)."""

    #: Padded tokens per generation batch (scoring: twice as many), whatever ``batch_size`` allows.
    max_batch_tokens: int = 8192

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
        # Sorted by their ids, prompts that share a prefix (a phrasing's question, a sentence's mentions)
        # land in one batch, where a backend can run the shared part once.
        return self._batched([r.prompt for r in requests],
                             lambda idx: self.engine.score([requests[i] for i in idx]), "scoring", factor=2)

    def _batched(self, keys: Sequence[Any], run: Callable[[list[int]], list[T]], desc: str,
                 factor: int = 1) -> list[T]:
        """``run`` over batches of indices in ``keys`` order; the results in input order.

        A batch holds at most ``batch_size * factor`` rows and ``max_batch_tokens * factor``
        padded tokens (rows times the longest row), so long inputs go in smaller batches; a
        batch that runs out of memory is split in half and retried.
        """
        from tqdm.auto import tqdm

        order = sorted(range(len(keys)), key=keys.__getitem__)
        results: list[Any] = [None] * len(keys)
        batches = list(self._batches(order, keys, self.batch_size * factor, self.max_batch_tokens * factor))
        show = sys.stderr.isatty() and len(batches) > 1 and not os.environ.get("LLAMATASKS_NO_PROGRESS")
        with tqdm(total=len(keys), desc=desc, disable=not show, leave=False) as bar:
            for idx in batches:
                for i, result in zip(idx, self._run_fitting(run, idx)):
                    results[i] = result
                bar.update(len(idx))
        return results

    @staticmethod
    def _batches(order: list[int], keys: Sequence[Any], rows: int, tokens: int) -> Iterator[list[int]]:
        batch: list[int] = []
        longest = 0
        for i in order:
            size = keys[i] if isinstance(keys[i], int) else len(keys[i])
            if batch and (len(batch) >= rows or (len(batch) + 1) * max(longest, size) > tokens):
                yield batch
                batch, longest = [], 0
            batch.append(i)
            longest = max(longest, size)
        if batch:
            yield batch

    def _run_fitting(self, run: Callable[[list[int]], list[T]], idx: list[int]) -> list[T]:
        try:
            return run(idx)
        except Exception as exc:
            if len(idx) == 1 or not _out_of_memory(exc):
                raise
        half = len(idx) // 2
        return self._run_fitting(run, idx[:half]) + self._run_fitting(run, idx[half:])


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is an allocator failure: a smaller batch may fit."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or "out of memory" in str(seen).lower() or \
                type(seen).__name__ == "OutOfMemoryError":
            return True
        seen = seen.__cause__
    return False
