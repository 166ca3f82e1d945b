"""One loaded model used from several threads gives exactly what sequential calls give, on both built-in backends.

Every call keeps its own state (KV caches, decoding rows) and the tokenizer
encodes caller text without toggling shared flags, so ``Model`` needs no lock:
docs/concurrency.md says so, and these tests hold it to that.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import llamatasks
from llamatasks.testing.parity import comparable

pytest.importorskip("onnxruntime")


TEXT = "Tim Cook visited Paris on Monday. The battery died after a day, and support never answered."

# Each task once, with options that keep the tiny model's outputs short.
CALLS: list[tuple[str, Callable[[llamatasks.Model], Any]]] = [
    ("sentiment", lambda m: m.sentiment(TEXT)),
    ("classify", lambda m: m.classify(TEXT, labels=["travel", "shopping"])),
    ("ner", lambda m: m.ner(TEXT)),
    ("summarize", lambda m: m.summarize(TEXT, max_words=8)),
    ("translate", lambda m: m.translate("The battery died.", target="fr", source="en")),
    ("answer", lambda m: m.answer("Who visited Paris?", TEXT)),
    ("chat", lambda m: m.chat("Say hello.", max_new_tokens=6)),
    ("chat sampled", lambda m: m.chat("Say hello.", max_new_tokens=6, temperature=1.0, seed=3)),
]



@pytest.fixture(scope="module", params=["torch", "onnx"])
def model(request: pytest.FixtureRequest, tiny_model_on: Callable[..., llamatasks.Model]) -> llamatasks.Model:
    m = tiny_model_on(request.param)
    assert m.backend_name == request.param
    return m


@pytest.fixture
def tight_switching() -> Iterator[None]:
    """Switch threads every microsecond, so races that need an unlucky switch actually happen."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_four_threads_give_the_sequential_results_for_every_task(model: llamatasks.Model,
                                                                 tight_switching: None) -> None:
    expected = {name: comparable(call(model)) for name, call in CALLS}
    jobs = [(name, call) for _ in range(3) for name, call in CALLS]  # every task, three times, interleaved
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda job: (job[0], comparable(job[1](model))), jobs))
    for name, result in got:
        assert result == expected[name], f"{name} differs when run from 4 threads"


def test_batched_lists_from_threads_match(model: llamatasks.Model, tight_switching: None) -> None:
    texts = ["great phone, I love it", "the battery died after a day", "fine, nothing special", TEXT]
    expected = [comparable(r) for r in model.sentiment(texts)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: [comparable(r) for r in model.sentiment(texts)], range(4)))
    assert all(run == expected for run in runs)
