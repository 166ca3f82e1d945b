"""Apply backend-neutral ``Constraint`` objects as a transformers logits processor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

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
