"""Beam search bookkeeping for the step loop (``engine.stepping``), as transformers' ``generate`` does it.

Per prompt, ``num_beams`` hypotheses run. Each step adds every token's
log-probability (after the processors) to its hypothesis' running score and
keeps the best ``max(2, 1 + number of stop ids) * num_beams`` continuations
over all beams; of these, the ones among the first ``num_beams`` that end (a
stop token, or the last step) join the finished hypotheses with their score
divided by their length (``length_penalty`` 1), and the best ``num_beams``
that do not end run on. A prompt is done once ``num_beams`` hypotheses have
finished and the best running score, divided by the current length, cannot
beat the worst of them (``early_stopping=False``). The result is the best
finished hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llamatasks.engine.decoding import RowHistory

_DEAD = -1.0e9  # transformers' score for beams that must not be chosen


@dataclass
class Finished:
    """The best ``size`` finished hypotheses of one prompt: (score, generated tokens, their log-probabilities)."""

    size: int
    items: list[tuple[float, list[int], list[float]]] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.size

    @property
    def worst(self) -> float:
        return min(item[0] for item in self.items)

    def add(self, score: float, tokens: list[int], logprobs: list[float]) -> None:
        self.items.append((score, tokens, logprobs))
        self.items.sort(key=lambda item: -item[0])
        del self.items[self.size:]

    def best(self) -> tuple[list[int], list[float]] | None:
        """The best hypothesis' tokens and their log-probabilities under the model's own distribution."""
        return (self.items[0][1], self.items[0][2]) if self.items else None


@dataclass
class Step:
    """One prompt's outcome of a step: the running beams' sources, tokens and scores."""

    sources: list[int]  # beam (0..num_beams-1) each new running beam continues
    tokens: list[int]
    scores: list[float]


def beam_step(accumulated: np.ndarray, num_beams: int, keep: int, stops: set[int], last: bool, length: int,
              finished: Finished | None, rows: list[RowHistory], plain: np.ndarray) -> Step:
    """One prompt's step from its (num_beams * vocab) accumulated scores.

    ``finished`` is None once the prompt is done (nothing may join any more);
    ``rows`` holds each running beam's history and ``plain`` its model
    log-probabilities for this step (num_beams, vocab); ``length`` is the number
    of generated tokens once this step's token is added.
    """
    vocab = accumulated.shape[0] // num_beams
    top = np.argpartition(-accumulated, keep - 1)[:keep]
    top = top[np.argsort(-accumulated[top], kind="stable")]
    beams, tokens, scores = top // vocab, top % vocab, accumulated[top]
    hits = [last or int(t) in stops for t in tokens]
    if finished is not None:
        for j in range(num_beams):
            if hits[j]:
                row, token = rows[beams[j]], int(tokens[j])
                finished.add(float(scores[j]) / length, row.generated + [token],
                             row.logprobs + [float(plain[beams[j], token])])
    chosen = [j for j in range(keep) if not hits[j]][:num_beams]
    chosen += [j for j in range(keep) if hits[j]][: num_beams - len(chosen)]  # only on the last step
    return Step([int(beams[j]) for j in chosen], [int(tokens[j]) for j in chosen],
                [float(scores[j]) + (_DEAD if hits[j] else 0.0) for j in chosen])


def initial_scores(batch: int, num_beams: int) -> np.ndarray:
    """Running scores before the first step: only each prompt's first beam is live."""
    scores = np.zeros((batch, num_beams))
    scores[:, 1:] = _DEAD
    return scores


def cannot_improve(finished: Finished, best_running: float, length: int) -> bool:
    """transformers' early-stop heuristic for ``early_stopping=False`` and length penalty 1."""
    return finished.full and best_running / length <= finished.worst
