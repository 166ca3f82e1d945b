"""Scale-out on Ray Data (the ``llamatasks[ray]`` extra): a task over a dataset, one model per actor.

:func:`map_batches` adds two columns to a ``ray.data.Dataset``: ``result``
(the typed result as JSON text) and ``error`` (an ``ItemError`` as JSON text),
one of them set per row. Each actor of the pool loads the model once, in its
constructor, and runs the task over the batches it is given, exactly as
``Model.map`` does in one process (same validation, same per-item errors,
the same result cache when ``cache=True``). ``llamatasks batch ... --engine ray``
uses it through :func:`ray_processor`. Nothing here is imported by
``import llamatasks``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from llamatasks.corpus.engines import row_error
from llamatasks.corpus.io import InputRow, output_row
from llamatasks.corpus.job import Processor
from llamatasks.corpus.mapping import DEFAULT_BATCH_SIZE, TaskJob, checked_text
from llamatasks.errors import BackendUnavailableError
from llamatasks.results import ItemError

#: The column :func:`ray_processor` uses to give each row its position in the input.
ROW_COLUMN = "_llamatasks_row"


def _ray() -> Any:
    try:
        import ray
        import ray.data  # the Data library is a separate extra of ray
    except ImportError as exc:
        raise BackendUnavailableError("scaling out on Ray needs ray[data]",
                                      hint='pip install "llamatasks[ray]"') from exc
    return ray


class TaskActor:
    """The callable class Ray Data runs in each actor: the model is loaded once, here."""

    def __init__(self, task: str, options: dict[str, Any], model: str | None, backend: str | None,
                 device: str, cache: bool, text_column: str, index_column: str | None) -> None:
        from llamatasks.api import get_model

        self.job = TaskJob(get_model(model, backend, device), task, options, cache=cache)
        self.text_column, self.index_column = text_column, index_column

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        texts = [str(t) if isinstance(t, str) else t for t in batch[self.text_column]]
        indices = ([int(i) for i in batch[self.index_column]] if self.index_column
                   else list(range(len(texts))))
        results = self.job.run_batch(texts, indices)
        is_error = [isinstance(r, ItemError) for r in results]
        return {**batch,
                "result": np.array([None if e else r.model_dump_json() for r, e in zip(results, is_error)],
                                   dtype=object),
                "error": np.array([r.model_dump_json() if e else None for r, e in zip(results, is_error)],
                                  dtype=object)}


def map_batches(dataset: Any, task: str, *, model: str | os.PathLike[str] | None = None, backend: str | None = None,
                device: str = "auto", concurrency: int = 1, num_gpus: float | None = None,
                batch_size: int = DEFAULT_BATCH_SIZE, text_column: str = "text", cache: bool = False,
                index_column: str | None = None, **options: Any) -> Any:
    """Run ``task`` over ``dataset[text_column]`` on a pool of ``concurrency`` actors.

    Args:
        dataset: A ``ray.data.Dataset`` with a text column.
        task: A registered task name; ``options`` are its ``Options`` fields.
        model: Model folder or .gguf as every worker sees it (None: the default model).
        backend: Backend name (``openai`` points workers at a vLLM or llama.cpp server).
        device: ``auto``, ``cpu`` or ``cuda`` in each actor.
        concurrency: Actors in the pool (each holds one model).
        num_gpus: GPUs each actor reserves (1 to give each its own GPU).
        batch_size: Rows per actor call.
        text_column: The column with the texts.
        cache: Use the result cache (on each worker's machine).
        index_column: A column with each row's position, used in ``ItemError.index``.

    Returns:
        The dataset with ``result`` and ``error`` columns (JSON text, one of them None per row).
    """
    ray = _ray()
    from llamatasks.plugins.manager import default_registry

    default_registry().task(task).Options.parse(options)  # a bad option fails here, not in every worker
    path = None if model is None else os.fspath(model)
    return dataset.map_batches(
        TaskActor, fn_constructor_kwargs={"task": task, "options": options, "model": path, "backend": backend,
                                          "device": device, "cache": cache, "text_column": text_column,
                                          "index_column": index_column},
        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=concurrency), num_gpus=num_gpus,
        batch_format="numpy")


def ray_processor(task: str, options: dict[str, Any], *, model: str | None, backend: str | None, device: str,
                  cache: bool, batch_size: int, concurrency: int, num_gpus: float, address: str | None) -> Processor:
    """The ``--engine ray`` processor of a ``batch`` job: its rows through :func:`map_batches`, in order."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as exc:
            raise BackendUnavailableError(f"cannot reach a Ray cluster at {address!r}: {exc}",
                                          hint="start one with `ray start --head`, or leave out --address to "
                                               "run a local one") from exc

    def process(rows: Iterator[tuple[int, InputRow]]) -> Iterator[tuple[int, dict[str, Any]]]:
        from llamatasks.plugins.manager import default_registry

        result_type = default_registry().task(task).result_type
        pending = list(rows)
        # Rows that are not text never reach a worker: they fail the same way here, without a model.
        local = {i: _row_error(i, row) for i, row in pending}
        remote = [(i, row) for i, row in pending if local[i] is None]
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # the job's own bar counts the rows; Ray's would log every 10 s
        outputs: Iterator[dict[str, Any]] = iter(())
        if remote:
            dataset = ray.data.from_items([{ROW_COLUMN: i, "text": row.text} for i, row in remote])
            mapped = map_batches(dataset, task, model=model, backend=backend, device=device,
                                 concurrency=concurrency, num_gpus=num_gpus or None, batch_size=batch_size,
                                 cache=cache, index_column=ROW_COLUMN, **options)
            outputs = iter(mapped.iter_rows())
        for index, row in pending:
            outcome: BaseModel | None = local[index]
            if outcome is None:
                done = next(outputs)
                outcome = (ItemError.model_validate_json(done["error"]) if done["error"]
                           else result_type.model_validate_json(done["result"]))
            yield index, output_row(row.id, outcome)

    return process


def _row_error(index: int, row: InputRow) -> ItemError | None:
    missing = row_error(index, row)
    if missing is not None:
        return missing
    checked = checked_text(row.text, index)
    return checked if isinstance(checked, ItemError) else None
