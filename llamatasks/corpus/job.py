"""Resumable ``batch`` jobs: nothing lost and nothing twice, whenever a job is killed.

A job over ``OUTPUT`` keeps its state in ``.OUTPUT.llamatasks-job/`` beside it:
``job.json`` (the settings, and whether it finished) and one JSONL shard per
``shard_size`` input rows, shard ``k`` holding rows ``k*shard_size`` up to the
next shard's first. A shard is written to a temporary file and renamed into
place (``llamatasks.files.write_text_atomic``), so it exists whole or not at
all; a resumed job skips the rows of the shards on disk and runs the rest, and
the output is built from the shards in order: every input row exactly once.
The output itself is written beside its target and renamed over it, then the
job is marked finished and its shards deleted. The whole job runs under the
job folder's lock, so a second process on the same output waits for the first.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llamatasks.corpus.io import (
    InputRow,
    count_rows,
    input_format,
    output_format,
    read_rows,
    write_output,
)
from llamatasks.errors import LlamaTasksError
from llamatasks.files import folder_lock, write_text_atomic

#: ``(row index, input row)`` pairs in, ``(row index, output row)`` pairs out, in the same order.
Processor = Callable[[Iterator[tuple[int, InputRow]]], Iterator[tuple[int, dict[str, Any]]]]
MANIFEST = "job.json"


class JobStateError(LlamaTasksError, FileExistsError):
    """The output or an interrupted job is in the way of a new job."""


@dataclass(frozen=True)
class JobSpec:
    """What a ``batch`` job is: the same spec resumes the same job."""

    task: str
    input: Path
    output: Path
    options: dict[str, Any] = field(default_factory=dict)
    field: str = "text"
    id_field: str | None = None
    model: str | None = None
    backend: str | None = None
    shard_size: int = 256

    def settings(self) -> dict[str, Any]:
        """The JSON form kept in ``job.json``; the input's size and modification time stand for its content."""
        stat = self.input.stat()
        data = {**asdict(self), "input": str(self.input.resolve()), "output": str(self.output.resolve()),
                "input_size": stat.st_size, "input_mtime_ns": stat.st_mtime_ns}
        return json.loads(json.dumps(data, default=list))  # tuples become lists, as they read back


@dataclass
class JobSummary:
    """The one-line report of a job."""

    rows: int = 0
    errors: int = 0
    cached: int = 0
    resumed: int = 0
    seconds: float = 0.0
    already_done: bool = False

    def line(self, output: Path) -> str:
        """``done 2000 rows (3 errors, 1200 cached) in 41.2 s -> out.jsonl``."""
        if self.already_done:
            return f"already done: {output} holds all {self.rows} rows of this job; nothing to do"
        resumed = f", {self.resumed} resumed from checkpoints" if self.resumed else ""
        return (f"done {self.rows} rows ({self.errors} errors, {self.cached} cached{resumed}) "
                f"in {self.seconds:.1f} s -> {output}")


def job_folder(output: Path) -> Path:
    """Where the job writing ``output`` keeps its checkpoints."""
    return output.with_name(f".{output.name}.llamatasks-job")


def run_job(spec: JobSpec, processor: Callable[[], Processor], *, resume: bool = False, overwrite: bool = False,
            result_schema: dict[str, Any] | None = None, progress: bool | None = None) -> JobSummary:
    """Run (or resume) ``spec``; ``processor()`` is called only when there is work, so a no-op loads nothing.

    Args:
        spec: The job.
        processor: Makes the function that turns input rows into output rows (loads the model).
        resume: Continue an interrupted job instead of refusing to touch it.
        overwrite: Replace an existing output (and forget any interrupted job).
        result_schema: The task's result JSON schema (kept in Parquet metadata).
        progress: Show a progress bar (default: when stderr is a terminal).
    """
    input_format(spec.input)
    fmt = output_format(spec.output)
    folder = job_folder(spec.output)
    folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with folder_lock(folder):
        settings = spec.settings()
        previous = _read_manifest(folder)
        if previous is not None and previous["settings"] == settings and previous.get("finished") \
                and spec.output.exists() and not overwrite:
            return JobSummary(rows=previous["summary"]["rows"], already_done=True)
        _check_state(spec, previous, settings, resume=resume, overwrite=overwrite)
        if overwrite or previous is None or previous.get("finished"):
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(exist_ok=True)
        _remove_temporaries(folder)
        write_text_atomic(folder / MANIFEST, json.dumps({"settings": settings, "finished": False}, indent=1))
        done = _done_shards(folder)
        expected = count_rows(spec.input)  # for the progress bar; the rows read decide what the output holds
        resumed = sum(min(spec.shard_size, expected - k * spec.shard_size) for k in done
                      if k * spec.shard_size < expected)
        seen = [0]
        rows = _pending(read_rows(spec.input, spec.field, spec.id_field), done, spec.shard_size, seen)
        first = next(rows, None)
        if first is not None:
            _write_shards(folder, processor()(itertools.chain([first], rows)), spec.shard_size,
                          _bar(expected, resumed, progress))
        summary = _merge(folder, spec, fmt, seen[0], result_schema or {})
        summary.resumed, summary.seconds = resumed, time.perf_counter() - started
        write_text_atomic(folder / MANIFEST, json.dumps({"settings": settings, "finished": True,
                                                         "summary": asdict(summary)}, indent=1))
        for shard in folder.glob("shard-*.jsonl"):
            shard.unlink()
    return summary


def _check_state(spec: JobSpec, previous: dict[str, Any] | None, settings: dict[str, Any], *, resume: bool,
                 overwrite: bool) -> None:
    """Refuse to clobber an output or an interrupted job unless told to."""
    if overwrite:
        return
    if previous is not None and not previous.get("finished"):
        if not resume:
            raise JobStateError(f"an interrupted job is checkpointed in {job_folder(spec.output)}",
                                hint="pass --resume to continue it, or --overwrite to start again")
        if previous["settings"] != settings:
            changed = sorted(k for k in settings if previous["settings"].get(k) != settings[k])
            raise JobStateError(f"the interrupted job writing {spec.output} had other settings "
                                f"({', '.join(changed)} changed)",
                                hint="resume it with the same task, options, input and flags, or pass --overwrite")
        return
    if spec.output.exists():
        raise JobStateError(f"{spec.output} already exists", hint="pass --overwrite to replace it")


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "settings" in data else None


def _remove_temporaries(folder: Path) -> None:
    """Temporary files of a killed write (we hold the lock: nobody else is writing)."""
    for leftover in folder.glob(".*.tmp"):
        with suppress(FileNotFoundError):
            leftover.unlink()


def _shard_path(folder: Path, k: int) -> Path:
    return folder / f"shard-{k:06d}.jsonl"


def _done_shards(folder: Path) -> set[int]:
    return {int(p.stem.removeprefix("shard-")) for p in folder.glob("shard-*.jsonl")}


def _pending(rows: Iterator[InputRow], done: set[int], shard_size: int,
             seen: list[int]) -> Iterator[tuple[int, InputRow]]:
    """The rows of the shards not on disk yet; ``seen[0]`` counts every row read."""
    for index, row in enumerate(rows):
        seen[0] = index + 1
        if index // shard_size not in done:
            yield index, row


def _write_shards(folder: Path, results: Iterator[tuple[int, dict[str, Any]]], shard_size: int,
                  advance: Callable[[int], None]) -> None:
    """Write each shard whole, in one atomic rename, as soon as its last row is done."""
    current, lines = -1, list[str]()
    for index, row in results:
        shard = index // shard_size
        if shard != current and lines:
            write_text_atomic(_shard_path(folder, current), "".join(lines))
            lines = []
        current = shard
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        advance(1)
    if lines:
        write_text_atomic(_shard_path(folder, current), "".join(lines))
    advance(-1)  # closes the bar


def _merge(folder: Path, spec: JobSpec, fmt: str, total: int, result_schema: dict[str, Any]) -> JobSummary:
    """Write the output from the shards, in order, and swap it into place."""
    shards = -(-total // spec.shard_size)
    missing = [k for k in range(shards) if not _shard_path(folder, k).is_file()]
    if missing:  # only if the input changed under a running job
        raise JobStateError(f"checkpoint shards {missing[:5]} of {spec.output} are missing",
                            hint="the input may have changed while the job ran; pass --overwrite to start again")
    summary = JobSummary()

    def rows() -> Iterator[dict[str, Any]]:
        for k in range(shards):
            with _shard_path(folder, k).open(encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    summary.rows += 1
                    summary.errors += row["error"] is not None
                    summary.cached += bool((row["provenance"] or {}).get("cached"))
                    yield row

    tmp = spec.output.with_name(f".{spec.output.name}.{secrets.token_hex(4)}.tmp")
    try:
        write_output(tmp, rows(), fmt=fmt, task=spec.task, result_schema=result_schema)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, spec.output)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
    return summary


def _bar(total: int, initial: int, show: bool | None) -> Callable[[int], None]:
    """A progress callback: docs/s and ETA on a terminal (tqdm); ``-1`` closes it."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit="doc", desc="batch", dynamic_ncols=True,
               disable=not (sys.stderr.isatty() if show is None else show))

    def advance(n: int) -> None:
        if n < 0:
            bar.close()
        else:
            bar.update(n)

    return advance
