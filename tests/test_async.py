"""The async API: every task function and ``Model`` method has an awaitable twin that runs off the event loop."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest

import llamatasks
from llamatasks import api
from llamatasks.model import Model
from llamatasks.testing.parity import comparable

TASKS = ["summarize", "translate", "ner", "sentiment", "classify", "answer", "chat", "run"]
TEXT = "Tim Cook visited Paris on Monday. The battery died after a day."

CALLS: list[Callable[[Model], Any]] = [
    lambda m: m.asentiment(TEXT),
    lambda m: m.aclassify(TEXT, labels=["travel", "shopping"]),
    lambda m: m.aner(TEXT),
    lambda m: m.asummarize(TEXT, max_words=8),
    lambda m: m.atranslate("The battery died.", target="fr", source="en"),
    lambda m: m.aanswer("Who visited Paris?", TEXT),
    lambda m: m.achat("Say hello.", max_new_tokens=6),
    lambda m: m.achat("Say hello.", max_new_tokens=6, temperature=1.0, seed=3),
]



def _sync(call: Callable[[Model], Any], model: Model) -> Any:
    """The synchronous twin of an async call (``m.asentiment`` -> ``m.sentiment``), same arguments."""
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            return lambda *a, **kw: calls.append((name, a, kw))

    call(Recorder())  # type: ignore[arg-type]
    name, args, kwargs = calls[0]
    return getattr(model, name[1:])(*args, **kwargs)


@pytest.fixture(scope="module")
def model(tiny_model: Callable[..., Model]) -> Model:
    return tiny_model("llama3.1-instruct")


@pytest.mark.parametrize("name", TASKS)
def test_every_task_has_async_twins_with_the_same_parameters(name: str) -> None:
    for owner, sync in ((llamatasks, getattr(api, name)), (Model, getattr(Model, name))):
        twin = getattr(owner, f"a{name}")
        assert inspect.iscoroutinefunction(twin)
        assert inspect.signature(twin) == inspect.signature(sync)


def test_async_results_equal_the_sync_ones(model: Model) -> None:
    async def all_calls() -> list[Any]:
        return list(await asyncio.gather(*(call(model) for call in CALLS)))

    results = asyncio.run(all_calls())
    assert [comparable(r) for r in results] == [comparable(_sync(call, model)) for call in CALLS]


def test_module_functions_take_a_model(model: Model) -> None:
    result = asyncio.run(llamatasks.asentiment(TEXT, model=model))
    assert comparable(result) == comparable(model.sentiment(TEXT))
    result = asyncio.run(llamatasks.arun("classify", [TEXT, "A sunny day."], labels=["a", "b"], model=model))
    assert [comparable(r) for r in result] == [comparable(r) for r in
                                                model.classify([TEXT, "A sunny day."], labels=["a", "b"])]


def test_four_threads_and_32_coroutines_on_one_model_match_sequential_calls(model: Model) -> None:
    expected = [comparable(_sync(call, model)) for call in CALLS]
    got: dict[str, list[Any]] = {}

    async def coroutines() -> list[Any]:
        return list(await asyncio.gather(*(CALLS[i % len(CALLS)](model) for i in range(32))))

    def thread(name: str) -> None:
        got[name] = [comparable(_sync(CALLS[i % len(CALLS)], model)) for i in range(len(CALLS))]

    threads = [threading.Thread(target=thread, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    results = asyncio.run(coroutines())
    for t in threads:
        t.join()
    assert [comparable(r) for r in results] == [expected[i % len(CALLS)] for i in range(32)]
    assert all(rows == expected for rows in got.values()) and len(got) == 4


def test_inference_does_not_block_the_event_loop(model: Model) -> None:
    async def ticks_during_a_call() -> tuple[int, Any]:
        ticks = 0
        call = asyncio.ensure_future(model.achat("Tell me a story.", max_new_tokens=48))
        while not call.done():
            await asyncio.sleep(0.001)
            ticks += 1
        return ticks, call.result()

    ticks, result = asyncio.run(ticks_during_a_call())
    assert result.provenance.tokens_out > 0
    assert ticks >= 3  # the loop kept running while the model generated


def test_bad_input_raises_the_typed_error_when_awaited(model: Model) -> None:
    with pytest.raises(llamatasks.LlamaTasksError):
        asyncio.run(model.asentiment("   "))
