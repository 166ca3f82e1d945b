"""Shared prompt prefixes: which to run once, and in what order to batch prompts so they meet.

Task prompts repeat themselves: every prompt of a call opens with the same
system turn and question, a sentence's NER mentions share the sentence, a
label's multi-token continuations share their prompt. A backend that runs a
shared prefix once and reuses its KV cache for every prompt that continues it
computes each token once; the scores and generations stay those of the full
prompts (the conformance suite checks it).

Two pieces, both pure functions of token ids:

* ``prefix_order``: the order the runtime cuts batches from. Prompts are
  placed as in a depth-first walk of their shared-prefix tree, with the
  children of each node by length, so that prompts that share a prefix land in
  one batch and rows of a batch are of similar length (little padding).
* ``plan_prefixes``: for one batch, the passes a backend runs: the prefix all
  rows share, then each group's prefix, then each row's rest, each pass
  continuing the KV cache of the one before. It is the plan with the fewest
  padded tokens (counting a pass as ``PASS_COST`` tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The shortest common prefix worth running once for a whole batch (below it, the extra pass costs more).
MIN_SHARED_PREFIX = 8


def shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each at least one token of its own.

    Of a batch: the prefix its first pass runs; of two prompts sorted next to
    each other: how deep in the prefix tree they part.
    """
    if len(prompts) < 2:
        return 0
    first, shortest = prompts[0], min(len(p) for p in prompts)
    n = 0
    while n < shortest - 1 and all(p[n] == first[n] for p in prompts):
        n += 1
    return n


#: What one more forward pass costs, in padded tokens (per-layer overhead of a pass on a small model).
PASS_COST = 16


@dataclass(frozen=True)
class PrefixPass:
    """One forward pass: the tokens each of its rows adds, and the row of the pass before that each continues.

    ``parents`` is None on the first pass (the rows start from nothing).
    """

    segments: tuple[tuple[int, ...], ...]
    parents: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PrefixPlan:
    """Passes that together run every prompt; the last pass has one row per prompt, in prompt order."""

    passes: tuple[PrefixPass, ...]

    @property
    def padded_tokens(self) -> int:
        """Rows times the longest segment, summed over the passes (plus ``PASS_COST`` a pass)."""
        return sum(len(p.segments) * max(len(s) for s in p.segments) + PASS_COST for p in self.passes)


def _by_ids(prompts: Sequence[Sequence[int]]) -> tuple[list[int], list[int]]:
    """Prompt indices sorted by their ids, and the shared length of each neighbouring pair."""
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    return order, [shared_prefix((prompts[a], prompts[b])) for a, b in zip(order, order[1:])]


def prefix_order(prompts: Sequence[Sequence[int]], min_shared: int = MIN_SHARED_PREFIX) -> list[int]:
    """Indices of ``prompts`` in batching order: shared prefixes together, similar lengths together.

    A depth-first walk of the prefix tree: prompts that share ``min_shared``
    tokens more than their parent node are one node, walked as a whole; the
    children of a node are walked shortest first (a node's length is its
    longest prompt's).
    """
    if len(prompts) < 2:
        return list(range(len(prompts)))
    order, shared = _by_ids(prompts)

    def walk(lo: int, hi: int, depth: int) -> tuple[list[int], int]:
        """``order[lo:hi]`` (which share ``depth`` tokens) arranged, and their longest length."""
        nodes: list[tuple[list[int], int]] = []
        start = lo
        for k in range(lo, hi):
            if k == hi - 1 or shared[k] < depth + min_shared:
                if k == start:
                    nodes.append(([order[k]], len(prompts[order[k]])))
                else:
                    nodes.append(walk(start, k + 1, min(shared[start:k])))
                start = k + 1
        nodes.sort(key=lambda node: node[1])
        return [i for node, _ in nodes for i in node], max(longest for _, longest in nodes)

    return walk(0, len(prompts), min(shared))[0]


def plan_prefixes(prompts: Sequence[Sequence[int]], own: Sequence[int] | None = None,
                  min_shared: int = MIN_SHARED_PREFIX) -> PrefixPlan:
    """The passes that run ``prompts`` with the fewest padded tokens.

    Candidates: every prompt in full (one pass); the prefix all share, then the
    rests; groups' prefixes (prompts sharing ``min_shared`` tokens more than
    all do), then the rests; and the shared prefix, then the groups', then the
    rests. A prompt in no group runs all but its last few tokens (as many as the
    grouped prompts have left) with the groups, so that it does not widen the
    last pass for every row. Row ``i`` keeps at least ``own[i]`` tokens (default
    1) for the last pass, whose logits the caller reads.
    """
    rows = [tuple(p) for p in prompts]
    plans = [PrefixPlan((PrefixPass(tuple(rows)),))]
    if len(rows) < 2:
        return plans[0]
    limit = [len(r) - k for r, k in zip(rows, own or [1] * len(rows))]  # how much of each may run before the last pass
    if min(limit) < 1:
        return plans[0]
    common = min(shared_prefix(rows), *limit)
    if common >= min_shared:
        plans.append(_plan(rows, [0] * len(rows), [common], common))
    grouping = _groups(rows, limit, common, min_shared)
    if grouping is not None:
        group, length = grouping
        plans.append(_plan(rows, group, length, 0))
        if common >= min_shared:
            plans.append(_plan(rows, group, length, common))
    return min(plans, key=lambda plan: plan.padded_tokens)


def _groups(rows: list[tuple[int, ...]], limit: list[int], common: int,
            min_shared: int) -> tuple[list[int], list[int]] | None:
    """``(group of each row, prefix length of each group)``, or None where no two rows share enough."""
    order, shared = _by_ids(rows)
    shared = [min(n, limit[a], limit[b]) for n, a, b in zip(shared, order, order[1:])]
    runs: list[list[int]] = [[order[0]]]
    for i, n in zip(order[1:], shared):
        if n >= common + min_shared:
            runs[-1].append(i)
        else:
            runs.append([i])
    if all(len(run) == 1 for run in runs):
        return None
    group, length = [0] * len(rows), []
    position = {i: k for k, i in enumerate(order)}
    for g, run in enumerate(runs):
        # Sorted by ids, a run's shared prefix is the least its neighbours share.
        length.append(min(shared[position[j]] for j in run[:-1]) if len(run) > 1 else 0)
        for j in run:
            group[j] = g
    rest = max(len(rows[j]) - length[group[j]] for run in runs if len(run) > 1 for j in run)
    for g, run in enumerate(runs):
        if len(run) == 1:
            length[g] = min(limit[run[0]], max(common, 1, len(rows[run[0]]) - rest))
    return group, length


def _plan(rows: list[tuple[int, ...]], group: list[int], length: list[int], common: int) -> PrefixPlan:
    """Passes: ``rows[0][:common]`` (when ``common``), then each group's prefix, then each row's rest.

    A group pass is left out where every group's prefix is ``common`` itself.
    """
    heads = [rows[group.index(g)][:n] for g, n in enumerate(length)]
    passes = []
    if common:
        passes.append(PrefixPass((rows[0][:common],)))
    if any(n > common for n in length):
        passes.append(PrefixPass(tuple(h[common:] for h in heads), (0,) * len(heads) if common else None))
        passes.append(PrefixPass(tuple(r[length[g]:] for r, g in zip(rows, group)), tuple(group)))
    else:
        passes.append(PrefixPass(tuple(r[common:] for r in rows), (0,) * len(rows)))
    return PrefixPlan(tuple(passes))
