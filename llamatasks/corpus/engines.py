"""How a ``batch`` job turns input rows into output rows: here, in this process (``--engine local``).

``llamatasks.ray`` provides the other engine; both go through :func:`rows_to_results`,
so a row gives the same output row on either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from llamatasks.corpus.io import InputRow, output_row
from llamatasks.corpus.job import Processor
from llamatasks.corpus.mapping import DEFAULT_BATCH_SIZE, TaskJob
from llamatasks.results import ItemError


def rows_to_results(job: TaskJob, rows: Sequence[tuple[int, InputRow]]) -> list[dict[str, Any]]:
    """The output row of each ``(index, row)``; a row without a text field gets its own ``ItemError``."""
    items = [row.text if row.problem is None else None for _, row in rows]
    results = job.run_batch(items, [index for index, _ in rows])
    out = []
    for (index, row), result in zip(rows, results):
        out.append(output_row(row.id, row_error(index, row) or result))
    return out


def row_error(index: int, row: InputRow) -> ItemError | None:
    """The ``ItemError`` of a row that has no text field (a JSONL line that is not an object...), else None."""
    if row.problem is None:
        return None
    return ItemError(index=index, error="InvalidInputError", message=row.problem,
                     hint="fix the row, or pass --field with the text column's name")


def local_processor(job: TaskJob, batch_size: int = DEFAULT_BATCH_SIZE) -> Processor:
    """A processor that runs ``job`` in this process, ``batch_size`` rows a call."""
    def process(rows: Iterator[tuple[int, InputRow]]) -> Iterator[tuple[int, dict[str, Any]]]:
        while batch := list(islice(rows, batch_size)):
            yield from zip((index for index, _ in batch), rows_to_results(job, batch))

    return process
