"""The runtime's batching: token budgets, input order, and a batch that runs out of memory split and retried.

Running out of memory cannot be arranged on a real engine here, so these use a
small engine that raises ``MemoryError`` above a batch size it is given (and
says so); everything else is the real ``Runtime``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import llamatasks
from llamatasks.engine.base import (
    ALL_CAPABILITIES,
    Engine,
    GenerateRequest,
    GenerationOutput,
    ScoreRequest,
)
from llamatasks.errors import GenerationError
from llamatasks.runtime import Runtime


class SmallMemoryEngine(Engine):
    """Scores each prompt's length; batches of more than ``fits`` padded tokens fail as an allocator would."""

    backend_name = "small-memory"
    capabilities = ALL_CAPABILITIES

    def __init__(self, fits: int) -> None:
        self.fits, self.batches = fits, []

    def generate(self, request: GenerateRequest) -> list[GenerationOutput]:
        raise NotImplementedError

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        padded = len(requests) * max(len(r.prompt) for r in requests)
        self.batches.append((len(requests), padded))
        if padded > self.fits:
            raise GenerationError("scoring failed") from MemoryError("out of memory")
        return [[float(len(r.prompt))] for r in requests]


def _runtime(tiny_checkpoint: Callable[[str], Path], engine: Engine) -> Runtime:
    m = llamatasks.load(tiny_checkpoint("chatml"))
    return Runtime(engine, m.tokenizer, m.profile, m.prompt_format, batch_size=4)


def test_a_batch_out_of_memory_is_halved_and_results_keep_input_order(tiny_checkpoint: Callable[[str], Path]) -> None:
    engine = SmallMemoryEngine(fits=20)
    runtime = _runtime(tiny_checkpoint, engine)
    requests = [ScoreRequest(prompt=tuple(range(1, n + 1)), continuations=((5,),)) for n in (7, 3, 9, 1, 4, 8, 2, 6)]
    assert runtime.score(requests) == [[7.0], [3.0], [9.0], [1.0], [4.0], [8.0], [2.0], [6.0]]
    rows, padded = zip(*engine.batches)
    assert rows[0] == 8  # all in one batch first, then half of it...
    assert max(rows[1:]) <= 4 and max(padded[1:]) <= 72 / 2
    assert sum(n for n, p in engine.batches if p <= 20) == 8  # ...until every input ran once in a batch that fits
    # The runtime keeps to what fitted: a second call starts below the size that ran out of memory.
    engine.batches.clear()
    runtime.score(requests)
    assert runtime.memory_rows <= 4 and runtime.memory_tokens <= 72 / 2
    assert engine.batches[0][0] <= runtime.memory_rows and all(p <= 20 for _, p in engine.batches)


def test_long_rows_go_in_smaller_batches(tiny_checkpoint: Callable[[str], Path]) -> None:
    engine = SmallMemoryEngine(fits=100)
    runtime = _runtime(tiny_checkpoint, engine)
    runtime.max_batch_tokens = 50  # scoring: 100 padded tokens a batch
    requests = [ScoreRequest(prompt=tuple([1] * n), continuations=((5,),)) for n in (40, 5, 40, 5, 5, 40, 5)]
    runtime.score(requests)
    assert [rows for rows, _ in engine.batches] == [4, 2, 1]  # the short rows together; at most two of the long ones a batch
