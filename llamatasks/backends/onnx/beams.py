"""Beam search bookkeeping for the numpy loop, as transformers' ``generate`` does it.

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

import numpy as np

_DEAD = -1.0e9  # transformers' score for beams that must not be chosen


@dataclass
class Finished:
    """The best ``size`` finished hypotheses of one prompt: (score, generated tokens)."""

    size: int
    items: list[tuple[float, list[int]]] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.size

    @property
    def worst(self) -> float:
        return min(score for score, _ in self.items)

    def add(self, score: float, tokens: list[int]) -> None:
        self.items.append((score, tokens))
        self.items.sort(key=lambda item: -item[0])
        del self.items[self.size:]

    def best(self) -> list[int] | None:
        return self.items[0][1] if self.items else None


@dataclass
class Step:
    """One prompt's outcome of a step: the running beams' sources, tokens and scores."""

    sources: list[int]  # beam (0..num_beams-1) each new running beam continues
    tokens: list[int]
    scores: list[float]


def beam_step(accumulated: np.ndarray, num_beams: int, keep: int, stops: set[int], last: bool, length: int,
              finished: Finished | None, generated: list[list[int]]) -> Step:
    """One prompt's step from its (num_beams * vocab) accumulated scores.

    ``finished`` is None once the prompt is done (nothing may join any more);
    ``generated`` holds each running beam's tokens so far; ``length`` is the
    number of generated tokens once this step's token is added.
    """
    vocab = accumulated.shape[0] // num_beams
    top = np.argpartition(-accumulated, keep - 1)[:keep]
    top = top[np.argsort(-accumulated[top], kind="stable")]
    beams, tokens, scores = top // vocab, top % vocab, accumulated[top]
    hits = [last or int(t) in stops for t in tokens]
    if finished is not None:
        for j in range(num_beams):
            if hits[j]:
                finished.add(float(scores[j]) / length, generated[beams[j]] + [int(tokens[j])])
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
