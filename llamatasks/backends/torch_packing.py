"""Scoring's last pass on the torch backend, packed: the rests of one prefix side by side in one row.

After the shared prefixes have run (``llamatasks.engine.prefixes``), each scored
row's own rest continues its group's KV cache. Run as rows of their own, every
rest is padded to the longest and the group's cache is repeated once per rest
(sentiment: four answer openings of 3 to 8 tokens after each text). Packed, the
rests of one group sit one after another in a single row; a 4D attention mask
lets each token attend to the group's prefix and to the earlier tokens of its own
rest only, and its position id counts from the end of the prefix as if the rest
were alone, so every logit is the one the rest would get in a row of its own.
Logits are projected only at the positions that are read (a boolean
``logits_to_keep``, transformers 5.x).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from llamatasks.engine.prefixes import PrefixPass

#: The most tokens packed into one row (more rests make another row): attention within a row
#: costs the square of its length, most of it masked.
PACKED_ROW_LIMIT = 256


def pack_rests(segments: Sequence[Sequence[int]], parents: Sequence[int], limit: int) -> list[tuple[int, list[int]]]:
    """``(parent, rests)`` rows: each rest with others of its parent, in order, up to ``limit`` tokens a row."""
    rows: list[tuple[int, list[int]]] = []
    sizes: list[int] = []
    open_row: dict[int, int] = {}  # parent -> its row being filled
    for i, (segment, parent) in enumerate(zip(segments, parents)):
        r = open_row.get(parent)
        if r is None or sizes[r] + len(segment) > limit:
            r = open_row[parent] = len(rows)
            rows.append((parent, []))
            sizes.append(0)
        rows[r][1].append(i)
        sizes[r] += len(segment)
    return rows


def packing(last: PrefixPass, limit: int = PACKED_ROW_LIMIT) -> list[tuple[int, list[int]]] | None:
    """The packing of ``last``'s rests (a pass with parents) with the fewest padded tokens, trying row
    limits from ``limit`` down by halves; None where rows of their own pad no more.

    Packing pays where a group has several short rests (sentiment's four
    openings); a group with many long rests (a sentence with many NER mentions)
    makes one long row that the whole batch is padded to.
    """
    assert last.parents is not None
    longest = max(len(s) for s in last.segments)
    best, fewest = None, len(last.segments) * longest
    size = max(limit, longest)
    while True:
        rows = pack_rests(last.segments, last.parents, size)
        padded = len(rows) * max(sum(len(last.segments[i]) for i in members) for _, members in rows)
        if padded < fewest:
            best, fewest = rows, padded
        if size == longest:
            return best
        size = max(size // 2, longest)


def run_packed(engine: Any, last: PrefixPass, rows: list[tuple[int, list[int]]], own: Sequence[int], cache: Any,
               mask: torch.Tensor, ends: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """Run ``last`` (a pass with parents) packed as ``rows`` (``packing``) after ``cache``; its logits where
    they are read.

    ``mask`` and ``ends`` are the previous passes' 2D attention mask and each of
    their rows' length. Returns logits ``(N, V)`` and, for every row of ``last``,
    the index of its first read position: row ``i``'s ``k``-th position from its
    end is at ``first[i] + own[i] - k``.
    """
    torch = engine._torch
    lengths = [sum(len(last.segments[i]) for i in members) for _, members in rows]
    width = max(lengths)
    ids = torch.full((len(rows), width), engine._pad_id(), dtype=torch.long)
    rest = torch.full((len(rows), width), -1, dtype=torch.long)  # which rest each position holds; -1: padding
    offset = torch.zeros((len(rows), width), dtype=torch.long)
    keep = torch.zeros((len(rows), width), dtype=torch.bool)
    first = [0] * len(last.segments)
    read = 0
    for r, ((_, members), length) in enumerate(zip(rows, lengths)):
        at = width - length  # left padding, as in every other pass
        for i in members:
            n = len(last.segments[i])
            ids[r, at:at + n] = torch.tensor(list(last.segments[i]), dtype=torch.long)
            rest[r, at:at + n], offset[r, at:at + n] = i, torch.arange(n)
            keep[r, at + n - own[i]:at + n] = True
            first[i], read, at = read, read + own[i], at + n
    index = torch.tensor([parent for parent, _ in rows], device=engine.device)
    cache.reorder_cache(index)
    attend = _packed_attention(rest, offset, mask[index].bool().cpu())
    dtype = engine.model.dtype
    additive = torch.zeros(attend.shape, dtype=dtype).masked_fill_(~attend, torch.finfo(dtype).min)
    out = engine.model(input_ids=ids.to(engine.device), attention_mask=additive[:, None].to(engine.device),
                       position_ids=ends[index][:, None] + offset.to(engine.device), use_cache=True,
                       logits_to_keep=keep.to(engine.device), **{engine._cache_kwarg: cache})
    return out.logits, first


def _packed_attention(rest: torch.Tensor, offset: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
    """``(rows, width, past + width)``: what each packed position attends to.

    The prefix it continues (``past``), and the positions of its own rest up to
    itself. Padding attends to the prefix only, so that no row of the softmax is
    empty (an empty one gives NaN, and NaN times a zero weight is still NaN).
    """
    import torch

    same = (rest[:, :, None] == rest[:, None, :]) & (rest[:, :, None] >= 0)
    causal = offset[:, None, :] <= offset[:, :, None]
    return torch.cat([past[:, None, :].expand(-1, rest.shape[1], -1), same & causal], dim=2)
