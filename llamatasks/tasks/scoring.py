"""Label scoring: a distribution over labels from the model's likelihood of each.

Answers are never parsed from generated text. Each label has one or more
verbalizations; the probability of a label is the total probability of its
verbalizations as the answer, normalized over the labels so scores sum to 1.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from llamatasks.engine.base import ScoreRequest
from llamatasks.errors import InvalidInputError
from llamatasks.prompts.render import Prompt
from llamatasks.tasks.base import TaskModel

# Content-free priors by model: the same prompts give the same prior on every call,
# so a call on one text scores only its own prompts (sentiment: 4 instead of 16).
_PRIORS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], dict[str, float]]] = weakref.WeakKeyDictionary()
_PRIORS_PER_MODEL = 256


def _continuations(
    model: TaskModel, prompt: Prompt, verbalizers: Mapping[str, Sequence[str]], lead: str, first_token_only: bool,
) -> tuple[list[tuple[int, ...]], list[str]]:
    conts: list[tuple[int, ...]] = []
    owners: list[str] = []
    for label, words in verbalizers.items():
        for word in words:
            ids = tuple(model.renderer.continuation_ids(prompt, lead + word))
            conts.append(ids[:1] if first_token_only else ids)
            owners.append(label)
    if first_token_only:
        conts, owners = _drop_shared_first_tokens(conts, owners)
    return conts, owners


def _drop_shared_first_tokens(
    conts: list[tuple[int, ...]], owners: list[str],
) -> tuple[list[tuple[int, ...]], list[str]]:
    """A first token claimed by two labels says nothing about either: drop it."""
    claims: dict[tuple[int, ...], set[str]] = {}
    for cont, owner in zip(conts, owners):
        claims.setdefault(cont, set()).add(owner)
    kept = [(c, o) for c, o in zip(conts, owners) if len(claims[c]) == 1]
    seen: set[tuple[int, ...]] = set()
    unique = [(c, o) for c, o in kept if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]
    return [c for c, _ in unique], [o for _, o in unique]


def _normalize(logprobs: Sequence[float], owners: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    per_label = {label: -math.inf for label in labels}
    for lp, owner in zip(logprobs, owners):
        per_label[owner] = _logaddexp(per_label[owner], lp)
    top = max(per_label.values())
    if top == -math.inf:
        return {label: 1 / len(labels) for label in labels}
    weights = {label: math.exp(v - top) for label, v in per_label.items()}
    total = sum(weights.values())
    return {label: w / total for label, w in weights.items()}


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


def label_distributions(
    model: TaskModel, prompts: Sequence[Prompt], verbalizers: Mapping[str, Sequence[str]], *,
    lead: str, first_token_only: bool = False, content_free: Sequence[Prompt] = (), prior_strength: float = 1.0,
) -> list[dict[str, float]]:
    """One ``{label: probability}`` per prompt.

    Args:
        model: The model to score with.
        prompts: Prompts that end right where the answer starts.
        verbalizers: Label -> words that express it (e.g. ``{"LOC": ["place", "city"]}``).
        lead: Text between the prompt and the answer word (usually "" or " ").
        first_token_only: Score only each word's first token: one forward pass
            per prompt even for multi-token words.
        content_free: Prompts built around content-free input ("N/A"); when
            given, each distribution is divided by their mean and renormalized
            (contextual calibration, Zhao et al. 2021), removing the model's prior
            preference for some label words.
        prior_strength: The power the content-free prior is raised to before
            dividing (see ``calibrate``): 1 divides by it in full, values below 1
            shrink it toward uniform where a few content-free prompts give an
            extreme estimate.
    """
    requests, owners = [], []
    for prompt in prompts:
        conts, own = _continuations(model, prompt, verbalizers, lead, first_token_only)
        requests.append(ScoreRequest(prompt=tuple(prompt.ids), continuations=tuple(conts)))
        owners.append(own)
    scores = model.score(requests)
    labels = list(verbalizers)
    dists = [_normalize(s, o, labels) for s, o in zip(scores, owners)]
    if not content_free:
        return dists
    prior = content_free_prior(model, content_free, verbalizers, lead=lead, first_token_only=first_token_only)
    return [calibrate(d, prior, prior_strength) for d in dists]


def content_free_prior(model: TaskModel, content_free: Sequence[Prompt], verbalizers: Mapping[str, Sequence[str]], *,
                       lead: str, first_token_only: bool = False) -> dict[str, float]:
    """The mean label distribution of the content-free prompts, computed once per model and prompts."""
    key = (tuple(tuple(p.ids) for p in content_free), tuple((k, tuple(v)) for k, v in verbalizers.items()),
           lead, first_token_only)
    try:
        cache = _PRIORS.setdefault(model, {})
    except TypeError:  # a model object that cannot be weakly referenced: no cache
        cache = {}
    if key not in cache:
        if len(cache) >= _PRIORS_PER_MODEL:  # many label sets (classify): start over rather than grow
            cache.clear()
        priors = label_distributions(model, content_free, verbalizers, lead=lead, first_token_only=first_token_only)
        cache[key] = {label: sum(p[label] for p in priors) / len(priors) for label in verbalizers}
    return cache[key]


def calibrate(dist: Mapping[str, float], prior: Mapping[str, float], strength: float = 1.0) -> dict[str, float]:
    """``dist`` divided by ``prior ** strength`` and renormalized (0: unchanged, 1: full calibration)."""
    if not 0.0 <= strength <= 1.0:
        raise InvalidInputError(f"calibration strength must be within [0, 1], got {strength}")
    weights = {label: p / max(prior[label], 1e-12) ** strength for label, p in dist.items()}
    total = sum(weights.values())
    return {label: w / total for label, w in weights.items()}
