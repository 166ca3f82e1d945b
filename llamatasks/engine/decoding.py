"""The decoding rules, in numpy: what may come next and which token is chosen.

Both built-in backends decode through these functions (``engine.stepping``), so
every rule exists once. Each follows transformers' definition, so greedy
decoding picks exactly the token ``generate`` would: repetition penalty over
the prompt and the generated tokens, no-repeat n-grams over the same (or over
the generated tokens only), the row's ``Constraint`` as a mask, then (when
sampling) temperature and top-p. Beam search (``engine.beams``) applies the same
processors to log-probabilities, as transformers does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from llamatasks.engine.base import Constraint, GenerationOptions


@dataclass
class RowHistory:
    """One row's tokens (prompt + generated), the n-grams they contain and each generated token's log-probability.

    With ``prompt_ngrams`` False only n-grams wholly inside the generated tokens
    are banned (``GenerationOptions.no_repeat_ngram_in_prompt``).
    """

    tokens: list[int]
    prompt_len: int
    ngram_size: int
    prompt_ngrams: bool = True
    logprobs: list[float] = field(default_factory=list)
    ngrams: dict[tuple[int, ...], set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.ngram_size
        if n > 0 and not self.ngrams:
            for end in range(self._first_end(), len(self.tokens) + 1):
                self._add(self.tokens[end - n:end])

    @classmethod
    def for_prompt(cls, prompt: Sequence[int], options: GenerationOptions) -> RowHistory:
        return cls(list(prompt), len(prompt), options.no_repeat_ngram_size, options.no_repeat_ngram_in_prompt)

    def _first_end(self) -> int:
        """The end index of the first n-gram that counts."""
        return self.ngram_size + (0 if self.prompt_ngrams else self.prompt_len)

    @property
    def generated(self) -> list[int]:
        return self.tokens[self.prompt_len:]

    def append(self, token: int, logprob: float) -> None:
        self.tokens.append(token)
        self.logprobs.append(logprob)
        n = self.ngram_size
        if n > 0 and len(self.tokens) >= self._first_end():
            self._add(self.tokens[-n:])

    def copy(self) -> RowHistory:
        return RowHistory(list(self.tokens), self.prompt_len, self.ngram_size, self.prompt_ngrams,
                          list(self.logprobs), {k: set(v) for k, v in self.ngrams.items()})

    def _add(self, gram: list[int]) -> None:
        self.ngrams.setdefault(tuple(gram[:-1]), set()).add(gram[-1])

    def banned(self) -> set[int]:
        """Tokens that would complete an n-gram already present (transformers' NoRepeatNGram)."""
        n = self.ngram_size
        if n <= 0 or len(self.tokens) + 1 < n:
            return set()
        key = tuple(self.tokens[len(self.tokens) - n + 1:]) if n > 1 else ()
        return self.ngrams.get(key, set())


def process_logits(
    logits: np.ndarray, rows: Sequence[RowHistory], options: GenerationOptions,
    constraints: Sequence[Constraint | None] | None, active: Sequence[bool] | None = None,
) -> np.ndarray:
    """Apply repetition penalty, n-gram bans and constraints to (B, V) logits, in place.

    Rows not ``active`` (already finished) are left as they are.
    """
    penalty = options.repetition_penalty
    for b, row in enumerate(rows):
        if active is not None and not active[b]:
            continue
        scores = logits[b]
        if penalty != 1.0:
            seen = np.fromiter(set(row.tokens), dtype=np.int64)
            picked = scores[seen]
            scores[seen] = np.where(picked < 0, picked * penalty, picked / penalty)
        banned = row.banned()
        if banned:
            scores[list(banned)] = -np.inf
        constraint = constraints[b] if constraints else None
        if constraint is not None:
            allowed = constraint.allowed_tokens(row.generated)
            if allowed:  # an empty set means "no restriction": masking everything would leave no token
                index = np.fromiter(allowed, dtype=np.int64)
                keep = scores[index].copy()
                scores[:] = -np.inf
                scores[index] = keep
    return logits


def choose_tokens(scores: np.ndarray, options: GenerationOptions, rng: np.random.Generator) -> np.ndarray:
    """Greedy (first maximum, as torch) or temperature + top-p sampling, one token per row."""
    if options.temperature == 0:
        return scores.argmax(axis=-1)
    scaled = scores.astype(np.float64) / options.temperature
    chosen = np.empty(len(scaled), dtype=np.int64)
    for b, row in enumerate(scaled):
        probs = _top_p(row, options.top_p)
        chosen[b] = rng.choice(len(probs), p=probs) if np.isfinite(probs).all() else int(row.argmax())
    return chosen


def _top_p(logits: np.ndarray, top_p: float) -> np.ndarray:
    """Probabilities after transformers' TopPLogitsWarper (keeps at least one token)."""
    order = np.argsort(logits, kind="stable")
    probs = _softmax(logits[order])
    if top_p < 1.0:
        remove = np.cumsum(probs) <= (1 - top_p)
        remove[-1] = False
        kept = logits[order].copy()
        kept[remove] = -np.inf
        probs = _softmax(kept)
    out = np.empty_like(probs)
    out[order] = probs
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    top = np.max(x)
    if not np.isfinite(top):
        return np.full_like(x, np.nan)
    e = np.exp(x - top)
    return e / e.sum()


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, computed in float64."""
    x = logits.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def chosen_logprobs(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """``log p(token)`` of each row's chosen token under the model's own distribution (before any rule)."""
    x = logits.astype(np.float64)
    top = x.max(axis=-1)
    log_norm = top + np.log(np.exp(x - top[:, None]).sum(axis=-1))
    return x[np.arange(len(tokens)), tokens] - log_norm
