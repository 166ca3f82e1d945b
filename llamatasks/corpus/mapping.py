"""Streaming map: a task over any iterable of texts, results in input order.

Items are taken ``batch_size`` at a time, so a generator far larger than
memory streams through with flat memory; each batch goes to the task's list
call (``Task.run``), which batches further by token budget on the runtime.
An item that cannot run (None, empty, not a string, too long for the task...)
becomes an :class:`~llamatasks.results.ItemError` in its place and the job
goes on: items are checked one by one before a batch runs, and a batch the
task still refuses with ``InvalidInputError`` is re-run item by item so only
the bad item fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from llamatasks.corpus.cache import ResultCache, key_prefix, text_key
from llamatasks.errors import InputTypeError, InvalidInputError, LlamaTasksError
from llamatasks.results import ItemError
from llamatasks.tasks.inputs import as_text_list, positive_int

if TYPE_CHECKING:
    from llamatasks.model import Model
    from llamatasks.tasks.base import Task
    from llamatasks.tasks.options import TaskOptions

#: Texts handed to one ``Task.run`` call: enough for the runtime to fill its batches, few enough to stream.
DEFAULT_BATCH_SIZE = 64


@dataclass
class MapStats:
    """Counters a caller may pass to :func:`map_texts` to learn how a job went."""

    done: int = 0
    errors: int = 0
    cached: int = 0


class TaskJob:
    """One task, its options and (optionally) the cache, bound to a loaded model.

    Args:
        model: The loaded model.
        task: A registered task name.
        options: The task's options (checked here: a bad option fails the whole job at once).
        cache: A result cache, True for the default one, or False/None for none.
    """

    def __init__(self, model: Model, task: str, options: dict[str, Any],
                 cache: ResultCache | bool | None = None) -> None:
        self.model = model
        self.name = task
        self.task: Task[Any] = model.registry.task(task)
        self.options: TaskOptions = self.task.Options.parse(options)
        self.cache = ResultCache() if cache is True else (cache or None)
        self._prefix = key_prefix(model, task, self.options) if self.cache is not None else ""

    def run_batch(self, items: Sequence[Any], indices: Sequence[int],
                  stats: MapStats | None = None) -> list[BaseModel]:
        """One result (or ``ItemError``) per item; ``indices`` are the items' stream positions."""
        stats = stats if stats is not None else MapStats()
        results: list[BaseModel | None] = [None] * len(items)
        texts: dict[int, str] = {}
        for i, item in enumerate(items):
            checked = checked_text(item, indices[i])
            if isinstance(checked, ItemError):
                results[i] = checked
            else:
                texts[i] = checked
        keys = {i: text_key(self._prefix, t) for i, t in texts.items()} if self.cache else {}
        hits = self.cache.get_many(list(keys.values()), self.task.result_type) if self.cache else {}
        todo = [i for i in texts if keys.get(i) not in hits]
        for i in texts:
            if i not in todo:
                results[i] = hits[keys[i]]
        fresh = self._run_texts([texts[i] for i in todo], [indices[i] for i in todo])
        for i, result in zip(todo, fresh):
            results[i] = result
        if self.cache is not None:
            self.cache.put_many(self.name, [(keys[i], r) for i, r in zip(todo, fresh)
                                            if not isinstance(r, ItemError)])
        stats.cached += len(texts) - len(todo)
        stats.errors += sum(isinstance(r, ItemError) for r in results)
        stats.done += len(items)
        return [r for r in results if r is not None]

    def _run_texts(self, texts: list[str], indices: list[int]) -> list[BaseModel]:
        if not texts:
            return []
        try:
            return list(self.task.run(self.model.runtime, texts, self.options))
        except InvalidInputError:
            if len(texts) == 1:
                return [self._one(texts[0], indices[0])]
        # One item made the whole batch fail: run them one by one so only that item fails.
        return [self._one(text, index) for text, index in zip(texts, indices)]

    def _one(self, text: str, index: int) -> BaseModel:
        try:
            return self.task.run(self.model.runtime, [text], self.options)[0]
        except LlamaTasksError as exc:
            return item_error(index, exc)


def map_texts(job: TaskJob, items: Iterable[Any], *, batch_size: int = DEFAULT_BATCH_SIZE,
              stats: MapStats | None = None) -> Iterator[BaseModel]:
    """``job``'s result for each item, in input order, running ``batch_size`` items at a time.

    The arguments are checked now; the items are read as the results are consumed.
    """
    positive_int("batch_size", batch_size)
    if isinstance(items, (str, bytes, bytearray)):
        raise InputTypeError("map takes an iterable of texts, got a single "
                             f"{type(items).__name__}", hint="wrap one text in a list: [text]")
    try:
        stream = iter(items)
    except TypeError:
        raise InputTypeError(f"map takes an iterable of texts, got {type(items).__name__}",
                             hint="pass a list, a generator or any iterable of str") from None
    return _stream(job, stream, batch_size, stats)


def _stream(job: TaskJob, stream: Iterator[Any], batch_size: int, stats: MapStats | None) -> Iterator[BaseModel]:
    index = 0
    while batch := list(islice(stream, batch_size)):
        yield from job.run_batch(batch, range(index, index + len(batch)), stats)
        index += len(batch)


def item_error(index: int, exc: LlamaTasksError) -> ItemError:
    """The ``ItemError`` for the item at ``index`` that failed with ``exc``."""
    return ItemError(index=index, error=type(exc).__name__, message=exc.message, hint=exc.hint)


def checked_text(item: Any, index: int) -> str | ItemError:
    """``item`` as a valid text, or the ``ItemError`` saying why it is not one."""
    if not isinstance(item, str):
        shown = "None" if item is None else type(item).__name__
        return item_error(index, InputTypeError(f"item {index} is {shown}, not text",
                                                hint="map takes str items only; fix or drop this row"))
    try:
        return as_text_list(item)[0][0]
    except InvalidInputError as exc:
        return item_error(index, type(exc)(f"item {index} {exc.message.removeprefix('text ')}", hint=exc.hint))
