"""transformers logits processors for backend-neutral ``Constraint`` objects and contrastive decoding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, NoRepeatNGramLogitsProcessor

from llamatasks.engine.base import Constraint


class ConstraintLogitsProcessor(LogitsProcessor):
    """Masks every token a row's constraint does not allow.

    A constraint that lets the output end includes the stop token ids in its
    allowed set; an empty set is treated as "no restriction" rather than
    masking every token (which would turn the row into NaNs). In beam search
    transformers runs ``num_beams`` rows per prompt, one after another.
    """

    def __init__(self, constraints: Sequence[Constraint | None], prompt_len: int, num_beams: int = 1) -> None:
        self.constraints = list(constraints)
        self.prompt_len = prompt_len
        self.num_beams = num_beams
        # Static constraints return the same list every step: build its index
        # tensor once (a 100k-entry list converted per step costs milliseconds).
        self._index_cache: dict[int, tuple[object, torch.Tensor]] = {}

    def _index(self, allowed: Sequence[int], device: torch.device) -> torch.Tensor:
        cached = self._index_cache.get(id(allowed))
        if cached is not None and cached[0] is allowed:
            return cached[1]
        index = torch.tensor(list(allowed), dtype=torch.long, device=device)
        self._index_cache[id(allowed)] = (allowed, index)
        return index

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(scores.shape[0]):
            constraint = self.constraints[row // self.num_beams]
            if constraint is None:
                continue
            allowed = constraint.allowed_tokens(input_ids[row, self.prompt_len:].tolist())
            if not allowed:
                continue
            mask = torch.full_like(scores[row], float("-inf"))
            mask[self._index(allowed, scores.device)] = 0
            scores[row] = scores[row] + mask
        return scores


class OutputNoRepeatNGramLogitsProcessor(LogitsProcessor):
    """transformers' n-gram ban over the generated tokens only (``no_repeat_ngram_in_prompt=False``).

    transformers bans every n-gram of ``input_ids``, the prompt's included; this
    hands its processor the tokens after the (left-padded) prompt instead.
    """

    def __init__(self, ngram_size: int, prompt_len: int) -> None:
        self.inner = NoRepeatNGramLogitsProcessor(ngram_size)
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return self.inner(input_ids[:, self.prompt_len:], scores)


class ContrastLogitsProcessor(LogitsProcessor):
    """Contrastive decoding: ``(1 + w) * log p(t | prompt) - w * log p(t | contrast)`` per row.

    The contrast prompts run as a left-padded batch of their own (``ids`` and
    ``mask``, as the engine pads its prompts), with their own KV cache, and are
    fed each step's generated tokens. Rows without a contrast prompt get weight
    0 (their scores become plain log-probabilities, which picks the same token).
    Place it after transformers' own processors (repetition penalty, n-gram
    bans) and before the masks that follow them
    (``OutputNoRepeatNGramLogitsProcessor``, the constraint): the ONNX loop
    applies the same steps, and a mask commutes with the combination.
    """

    def __init__(self, model: Any, ids: torch.Tensor, mask: torch.Tensor, weights: Sequence[float],
                 cache_kwarg: str = "cache") -> None:
        self.model = model
        self.cache_kwarg = cache_kwarg  # forward's name for the KV cache: "cache" (5.x) or "past_key_values"
        self.ids, self.mask = ids, mask
        self.positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.weights = torch.tensor([[w] for w in weights], device=ids.device)
        self.cache: Any = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.cache is None:
            ids, mask, positions = self.ids, self.mask, self.positions
        else:
            ids = input_ids[:, -1:]
            mask = torch.cat([self.mask, torch.ones_like(ids)], dim=1)
            positions = self.positions[:, -1:] + 1
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **{self.cache_kwarg: self.cache})
        self.cache, self.mask, self.positions = out.past_key_values, mask, positions
        against = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        own = torch.log_softmax(scores.float(), dim=-1)
        mixed: torch.FloatTensor = ((1 + self.weights) * own - self.weights * against).to(scores.dtype)  # type: ignore[assignment]
        return mixed
