"""Reading corpora (``.jsonl``, ``.csv``, ``.parquet``, ``.txt``) and writing ``batch`` output.

Inputs are read as a stream of :class:`InputRow`: the row's id (``--id-field``,
else its 0-based row number) and its text, or the reason the row has none.
Output rows are plain dicts: ``id``, ``result`` (the typed result without its
provenance), ``error`` (an ``ItemError``) and ``provenance``; jobs keep them in
JSONL shards and :func:`write_output` turns the shards into the output format.
pyarrow is imported only for Parquet.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llamatasks.errors import BackendUnavailableError, InvalidInputError
from llamatasks.results import ItemError, Provenance

INPUT_FORMATS = (".jsonl", ".csv", ".parquet", ".txt")
OUTPUT_FORMATS = (".jsonl", ".csv", ".parquet")


@dataclass(frozen=True)
class InputRow:
    """One input row: its id and its text, or ``problem`` saying why it has no usable text field."""

    id: Any
    text: Any
    problem: str | None = None


def input_format(path: Path) -> str:
    """The suffix of a supported input file, or InvalidInputError."""
    suffix = path.suffix.lower()
    if suffix not in INPUT_FORMATS:
        raise InvalidInputError(f"cannot read {path}: unsupported input format {suffix or '(none)'!r}",
                                hint=f"use one of {', '.join(INPUT_FORMATS)}")
    if not path.is_file():
        raise InvalidInputError(f"input file {path} does not exist", hint="check the --input path")
    return suffix


def output_format(path: Path) -> str:
    """The suffix of a supported output file, or InvalidInputError."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InvalidInputError(f"cannot write {path}: unsupported output format {suffix or '(none)'!r}",
                                hint=f"use one of {', '.join(OUTPUT_FORMATS)}")
    return suffix


def read_rows(path: Path, field: str = "text", id_field: str | None = None) -> Iterator[InputRow]:
    """Stream the rows of ``path`` (one text a line for ``.txt``; ``field`` is the text column otherwise)."""
    suffix = input_format(path)
    if suffix == ".txt":
        return _txt_rows(path)
    if suffix == ".jsonl":
        return _jsonl_rows(path, field, id_field)
    if suffix == ".csv":
        return _csv_rows(path, field, id_field)
    return _parquet_rows(path, field, id_field)


def count_rows(path: Path) -> int:
    """How many rows :func:`read_rows` will yield (for the progress bar's ETA)."""
    if input_format(path) == ".parquet":
        return int(_parquet().ParquetFile(path).metadata.num_rows)
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return sum(1 for _ in csv.reader(fh)) - 1
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def _txt_rows(path: Path) -> Iterator[InputRow]:
    # Lines end at "\n" only (a stray "\r" inside a text is kept), as count_rows counts them.
    with path.open(encoding="utf-8", errors="replace", newline="\n") as fh:
        for number, line in enumerate(fh):
            yield InputRow(number, line.removesuffix("\n").removesuffix("\r"))


def _jsonl_rows(path: Path, field: str, id_field: str | None) -> Iterator[InputRow]:
    with path.open(encoding="utf-8", errors="replace", newline="\n") as fh:
        for number, line in enumerate(fh):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield InputRow(number, None, f"line {number + 1} is not JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield InputRow(number, None, f"line {number + 1} is a JSON {type(record).__name__}, not an object")
                continue
            yield _record_row(record, number, field, id_field)


def _record_row(record: dict[str, Any], number: int, field: str, id_field: str | None) -> InputRow:
    row_id = record.get(id_field, number) if id_field else number
    if field not in record:
        return InputRow(row_id, None, f"row {number} has no field {field!r}")
    return InputRow(row_id, record[field])


def _csv_rows(path: Path, field: str, id_field: str | None) -> Iterator[InputRow]:
    csv.field_size_limit(sys.maxsize)  # one review or contract may be longer than the 128 KiB default
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        _require_columns(path, reader.fieldnames or [], field, id_field)
        for number, record in enumerate(reader):
            yield _record_row(record, number, field, id_field)


def _parquet_rows(path: Path, field: str, id_field: str | None) -> Iterator[InputRow]:
    parquet = _parquet().ParquetFile(path)
    _require_columns(path, parquet.schema_arrow.names, field, id_field)
    columns = [field] + ([id_field] if id_field and id_field != field else [])
    number = 0
    for batch in parquet.iter_batches(columns=columns, batch_size=4096):
        for record in batch.to_pylist():
            yield _record_row(record, number, field, id_field)
            number += 1


def _require_columns(path: Path, names: Iterable[str], field: str, id_field: str | None) -> None:
    names = list(names)
    for wanted, flag in ((field, "--field"), (id_field, "--id-field")):
        if wanted is not None and wanted not in names:
            raise InvalidInputError(f"{path} has no column {wanted!r}",
                                    hint=f"pass {flag} with one of: {', '.join(names) or '(no columns)'}")


# -- output rows --------------------------------------------------------------------


def output_row(row_id: Any, result: BaseModel) -> dict[str, Any]:
    """The output row for one input: the typed result, or its error, with the provenance apart."""
    if isinstance(result, ItemError):
        return {"id": row_id, "result": None, "error": result.model_dump(), "provenance": None}
    data = result.model_dump(mode="json")
    provenance = data.pop("provenance", None)
    return {"id": row_id, "result": data, "error": None, "provenance": provenance}


def write_output(path: Path, rows: Iterable[dict[str, Any]], *, fmt: str, task: str,
                 result_schema: dict[str, Any]) -> None:
    """Write ``rows`` to ``path`` as ``fmt`` (an :data:`OUTPUT_FORMATS` suffix; the caller renames it into place)."""
    suffix = fmt
    if suffix == ".parquet":
        _write_parquet(path, rows, task, result_schema)
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        if suffix == ".jsonl":
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        writer = csv.writer(fh)
        writer.writerow(["id", "result", "error", "provenance"])
        for row in rows:
            writer.writerow([row["id"], *(_json_or_empty(row[k]) for k in ("result", "error", "provenance"))])


def _json_or_empty(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def parquet_schema(task: str, result_schema: dict[str, Any]) -> Any:
    """The Parquet schema of ``batch`` output: ids as text, the result as JSON text, typed error and provenance.

    The result is JSON text because each task has its own result type; its JSON
    schema is kept in the file's metadata (``llamatasks.result_schema``).
    """
    pa = _arrow()
    kinds = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
    provenance = pa.struct([(name, kinds[spec["type"]]) for name, spec in
                            Provenance.model_json_schema()["properties"].items()])
    error = pa.struct([("index", pa.int64()), ("error", pa.string()), ("message", pa.string()),
                       ("hint", pa.string())])
    metadata = {"llamatasks.task": task, "llamatasks.result_schema": json.dumps(result_schema)}
    return pa.schema([("id", pa.string()), ("result", pa.string()), ("error", error),
                      ("provenance", provenance)], metadata=metadata)


def _write_parquet(path: Path, rows: Iterable[dict[str, Any]], task: str, result_schema: dict[str, Any]) -> None:
    pa, schema = _arrow(), parquet_schema(task, result_schema)
    with _parquet().ParquetWriter(path, schema) as writer:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append({**row, "id": None if row["id"] is None else str(row["id"]),
                          "result": None if row["result"] is None else json.dumps(row["result"], ensure_ascii=False)})
            if len(chunk) >= 4096:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                chunk = []
        if chunk:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))


def _arrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise BackendUnavailableError("Parquet files need pyarrow", hint='pip install "llamatasks[parquet]"') from exc
    return pyarrow


def _parquet() -> Any:
    _arrow()
    import pyarrow.parquet

    return pyarrow.parquet
