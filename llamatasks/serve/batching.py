"""Gathering concurrent requests into one list call.

Requests for the same task with the same options that arrive within a short
window (``window_s``) are joined into one ``Model.run(task, texts)`` call of
at most ``max_batch`` texts, run in a worker thread off the event loop; the
runtime then batches the texts into shared forward passes. A batch that waits
for a free worker keeps taking requests (up to ``max_batch``), so under load
batches grow by themselves instead of queueing one by one. Each request gets
exactly its own results back: list calls return what one-by-one calls return.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from llamatasks.tasks.options import TaskOptions

#: ``run(task, texts, options) -> one result per text``: what the collector calls in a worker thread.
RunBatch = Callable[[str, list[str], TaskOptions], Sequence[Any]]


@dataclass
class _Batch:
    """Requests waiting to run together: each one's texts and the future of its results."""

    task: str
    options: TaskOptions
    requests: list[tuple[list[str], asyncio.Future[list[Any]]]] = field(default_factory=list)
    size: int = 0
    scheduled: bool = False
    timer: asyncio.TimerHandle | None = None


class BatchCollector:
    """Joins concurrent requests of one task and options into list calls.

    Args:
        run: Runs one list call (in a worker thread).
        window_s: How long the first request of a batch waits for others.
        max_batch: Most texts in one list call.
        workers: List calls run at once (threads); 1 suits a CPU, whose cores one call already uses.
    """

    def __init__(self, run: RunBatch, window_s: float = 0.01, max_batch: int = 32, workers: int = 1) -> None:
        self._run = run
        self.window_s = window_s
        self.max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llamatasks-serve")
        self._slots = asyncio.Semaphore(workers)
        self._open: dict[tuple[str, str], _Batch] = {}
        self._running: set[asyncio.Task[None]] = set()
        #: How many list calls ran and how many texts they held (for /health and the benchmark).
        self.calls = 0
        self.texts = 0

    async def submit(self, task: str, texts: list[str], options: TaskOptions) -> list[Any]:
        """The results for ``texts``, computed in a list call shared with concurrent requests."""
        loop = asyncio.get_running_loop()
        key = (task, options.model_dump_json())
        batch = self._open.get(key)
        if batch is None or batch.size + len(texts) > self.max_batch and batch.size > 0:
            if batch is not None:
                self._seal(key, batch)
            batch = self._open[key] = _Batch(task, options)
        future: asyncio.Future[list[Any]] = loop.create_future()
        batch.requests.append((texts, future))
        batch.size += len(texts)
        if batch.size >= self.max_batch:
            self._seal(key, batch)
        elif batch.timer is None and not batch.scheduled:
            batch.timer = loop.call_later(self.window_s, self._schedule, key, batch)
        return await future

    def _seal(self, key: tuple[str, str], batch: _Batch) -> None:
        """Take no more requests into ``batch``; make sure it runs."""
        if self._open.get(key) is batch:
            del self._open[key]
        self._schedule(key, batch)

    def _schedule(self, key: tuple[str, str], batch: _Batch) -> None:
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        if not batch.scheduled:
            batch.scheduled = True
            task = asyncio.get_running_loop().create_task(self._execute(key, batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, key: tuple[str, str], batch: _Batch) -> None:
        async with self._slots:  # while waiting here the batch is still open and keeps growing
            if self._open.get(key) is batch:
                del self._open[key]
            texts = [text for own, _ in batch.requests for text in own]
            loop = asyncio.get_running_loop()
            try:
                results = list(await loop.run_in_executor(self._executor, self._run, batch.task, texts,
                                                          batch.options))
            except Exception as exc:  # noqa: BLE001 - handed to the requests, whose handlers answer it
                if len(batch.requests) == 1:
                    _settle(batch.requests[0][1], exc)
                    return
                results = None  # one request's text may have failed them all: each runs alone below
            self.calls += 1
            self.texts += len(texts)
        if results is None:
            await asyncio.gather(*(self._alone(batch, own, future) for own, future in batch.requests))
            return
        start = 0
        for own, future in batch.requests:
            _settle(future, results[start:start + len(own)])
            start += len(own)

    async def _alone(self, batch: _Batch, texts: list[str], future: asyncio.Future[list[Any]]) -> None:
        async with self._slots:
            loop = asyncio.get_running_loop()
            try:
                _settle(future, list(await loop.run_in_executor(self._executor, self._run, batch.task, texts,
                                                                batch.options)))
            except Exception as exc:  # noqa: BLE001 - handed to the request
                _settle(future, exc)

    async def close(self) -> None:
        """Run what is still waiting, then stop the worker threads."""
        for key, batch in list(self._open.items()):
            self._seal(key, batch)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)


def _settle(future: asyncio.Future[list[Any]], outcome: list[Any] | BaseException) -> None:
    """Give ``future`` its results or error, unless its request stopped waiting (a timeout)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
