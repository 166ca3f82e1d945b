"""Shared prefixes: the batching order, the plans that run each shared prefix once, and packed rests.

The plans are pure functions of token ids, checked as properties: whatever the
prompts, following a plan's passes rebuilds every prompt exactly, and the last
pass holds the positions a caller reads. Packed scoring (several rests of one
prefix in one row) is checked against unpacked scoring on a tiny model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamatasks.backends import torch_packing
from llamatasks.backends.torch_packing import pack_rests
from llamatasks.engine.base import ScoreRequest
from llamatasks.engine.prefixes import PrefixPass, PrefixPlan, plan_prefixes, prefix_order

SETTINGS = settings(max_examples=80, derandomize=True, deadline=None, database=None)
# Prompts drawn from a few heads and middles, so that they share prefixes of many lengths.
PARTS = st.lists(st.integers(min_value=1, max_value=9), min_size=0, max_size=12)
PROMPTS = st.lists(st.tuples(st.sampled_from([(), tuple(range(20, 32)), tuple(range(40, 50))]),
                             st.sampled_from([(), tuple(range(60, 75)), tuple(range(80, 89))]), PARTS)
                   .map(lambda t: t[0] + t[1] + tuple(t[2]))
                   .filter(len), min_size=1, max_size=12)


def rebuilt(plan: PrefixPlan) -> list[tuple[int, ...]]:
    """Each last-pass row's tokens, following its parents back to the first pass."""
    built = [tuple(s) for s in plan.passes[0].segments]
    for step in plan.passes[1:]:
        assert step.parents is not None
        built = [built[p] + tuple(s) for p, s in zip(step.parents, step.segments)]
    return built


@SETTINGS
@given(PROMPTS, st.data())
def test_a_plan_rebuilds_every_prompt_and_keeps_what_is_read_for_the_last_pass(
        prompts: list[tuple[int, ...]], data: st.DataObject) -> None:
    own = [data.draw(st.integers(min_value=1, max_value=len(p))) for p in prompts]
    plan = plan_prefixes(prompts, own)
    assert rebuilt(plan) == prompts
    assert all(len(s) >= k for s, k in zip(plan.passes[-1].segments, own))
    assert plan.passes[0].parents is None and all(len(s) for s in plan.passes[0].segments)
    assert plan.padded_tokens <= plan_prefixes(prompts, own, min_shared=10**9).padded_tokens  # never worse than none


@SETTINGS
@given(PROMPTS)
def test_the_batching_order_is_a_permutation_that_keeps_shared_prefixes_together(prompts: list[tuple[int, ...]]) -> None:
    order = prefix_order(prompts)
    assert sorted(order) == list(range(len(prompts)))
    # Prompts that share 8 tokens more than all do sit next to each other.
    by_head: dict[tuple[int, ...], list[int]] = {}
    for position, i in enumerate(order):
        by_head.setdefault(prompts[i][:27], []).append(position)
    assert all(max(p) - min(p) + 1 == len(p) for head, p in by_head.items() if len(head) == 27)


def test_a_question_shared_by_all_then_each_text_then_the_answers_run_in_three_passes() -> None:
    # Sentiment's shape: one question, two texts, four answer openings after each.
    question, texts, openings = tuple(range(100, 124)), [tuple(range(200, 215)), tuple(range(300, 320))], \
        [(7,), (8, 9), (10, 11, 12), (13,)]
    prompts = [question + t + o for t in texts for o in openings]
    plan = plan_prefixes(prompts)
    assert [len(p.segments) for p in plan.passes] == [1, 2, 8]
    assert plan.passes[0].segments == (question,)
    assert [len(s) for s in plan.passes[-1].segments] == [1, 2, 3, 1] * 2
    order = prefix_order([texts[1] + o for o in openings] + [texts[0] + o for o in openings])
    assert sorted(order[:4]) == [4, 5, 6, 7]  # the shorter text's prompts first, together


def test_rests_pack_by_parent_in_order_up_to_the_limit() -> None:
    segments = [(1,) * 3, (2,) * 5, (3,) * 4, (4,) * 2, (5,) * 9]
    parents = [0, 1, 0, 0, 1]
    assert pack_rests(segments, parents, limit=9) == [(0, [0, 2, 3]), (1, [1]), (1, [4])]
    assert pack_rests(segments, parents, limit=6) == [(0, [0]), (1, [1]), (0, [2, 3]), (1, [4])]


def test_rests_pack_only_where_that_pads_less() -> None:
    short = PrefixPass(segments=((1,) * 3, (2,) * 5, (3,) * 4, (4,) * 2), parents=(0, 1, 0, 1))
    assert torch_packing.packing(short) == [(0, [0, 2]), (1, [1, 3])]  # 2 rows of 7 against 4 of 5
    # One group with many long rests: its packed row is what every row pads to, worse than rows of their own.
    lopsided = PrefixPass(segments=((1,) * 20,) * 6 + ((2,) * 20,), parents=(0,) * 6 + (1,))
    assert torch_packing.packing(lopsided) is None
    assert torch_packing.packing(lopsided, limit=40) is None  # halving ends at the longest rest


@pytest.mark.parametrize("limit", [torch_packing.PACKED_ROW_LIMIT, 3])
def test_packed_rests_score_as_rows_of_their_own(tiny_checkpoint: Callable[[str], Path],
                                                 monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    import llamatasks
    from llamatasks.backends import torch_backend

    m = llamatasks.load(tiny_checkpoint("chatml"), device="cpu", dtype="float32")
    assert m.engine._packs
    # 3: a row per rest and then some (packed even where that pads more).
    monkeypatch.setattr(torch_backend, "packing", lambda last: pack_rests(last.segments, last.parents, limit))
    head = list(range(100, 130))
    requests = [ScoreRequest(prompt=tuple(head + list(range(200 + 7 * k, 205 + 7 * k + k))),
                             continuations=((500,), (600, 601), (700, 701, 702, 703)))
                for k in range(5)]
    packed = m.engine.score(requests)
    m.engine._packs = False
    assert packed == [pytest.approx(row, abs=1e-4) for row in m.engine.score(requests)]
