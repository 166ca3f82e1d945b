"""The result cache: a task's result for a text, kept across runs in one SQLite file.

A result is stored under a key made of everything it depends on: the model's
content hash (plus the profile choices that change prompts: prompt format and
context), backend and dtype, task name and options, the llamatasks version and
the text's hash. ``batch`` uses it by default; the Python API with
``cache=True``. Results read back are marked ``provenance.cached = True``.

The file is ``results.sqlite3`` in the llamatasks cache folder
(``LLAMATASKS_CACHE``). SQLite in WAL mode lets several processes (a job and
a second job, or Ray workers on one machine) read while one writes; writers
wait for each other through ``busy_timeout`` instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from llamatasks.errors import LlamaTasksError
from llamatasks.sources import cache_dir, fingerprint

if TYPE_CHECKING:
    from llamatasks.model import Model
    from llamatasks.tasks.options import TaskOptions

CACHE_FILE = "results.sqlite3"
# Seconds a writer waits for another process's write before SQLite gives up.
_BUSY_TIMEOUT_MS = 60_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
)"""
_model_hashes: dict[tuple[str, float], str] = {}


class CacheError(LlamaTasksError, OSError):
    """The result cache cannot be opened or written."""

    default_hint = "pass --no-cache (cache=False), or set LLAMATASKS_CACHE to a writable folder"


@dataclass(frozen=True)
class CacheInfo:
    """What ``llamatasks cache info`` shows."""

    path: Path
    entries: int
    bytes: int
    by_task: dict[str, int]


def cache_path() -> Path:
    """The cache file (it may not exist yet)."""
    return cache_dir() / CACHE_FILE


def model_hash(folder: Path) -> str:
    """A content hash of a model folder: every file's name and ``sources.fingerprint`` (size, first and last MiB).

    Hashing GBs of weights on every load would take longer than the jobs the
    cache saves; size plus both ends of each file changes whenever a file does.
    """
    stamp = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)
    known = _model_hashes.get((str(folder), stamp))
    if known is not None:
        return known
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{fingerprint(path)}\0".encode())
    value = digest.hexdigest()
    _model_hashes[(str(folder), stamp)] = value
    return value


def key_prefix(model: Model, task: str, options: TaskOptions) -> str:
    """The part of a key shared by every text of one job (hashed with each text by :func:`text_key`)."""
    from llamatasks import __version__

    parts = {
        "model": model_hash(model.source.path), "prompt_format": model.profile.prompt_format,
        "context": model.profile.context_length, "backend": model.backend_name,
        "dtype": str(model.engine.dtype), "task": task, "options": options.model_dump(mode="json"),
        "llamatasks": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def text_key(prefix: str, text: str) -> str:
    """The cache key of ``text`` in the job whose :func:`key_prefix` is ``prefix``."""
    return hashlib.sha256(f"{prefix}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


class ResultCache:
    """The SQLite store. One connection per thread; safe across processes.

    Args:
        path: The database file (default: :func:`cache_path`).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_path()
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        # A connection must not cross a fork (Ray workers, multiprocessing): keyed by process id too.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last commits
            conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the result cache {self.path}: {exc}") from exc
        return conn

    def get_many(self, keys: Sequence[str], result_type: type[BaseModel]) -> dict[str, BaseModel]:
        """The cached results among ``keys``, each marked ``provenance.cached``."""
        found: dict[str, BaseModel] = {}
        conn = self._connection()
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            try:
                rows = conn.execute(f"SELECT key, result FROM results WHERE key IN ({marks})", chunk).fetchall()
            except sqlite3.Error as exc:
                raise CacheError(f"cannot read the result cache {self.path}: {exc}") from exc
            for key, text in rows:
                found[key] = _mark_cached(result_type.model_validate_json(text))
        return found

    def put_many(self, task: str, items: Sequence[tuple[str, BaseModel]]) -> None:
        """Store ``(key, result)`` pairs in one transaction (a key already there is kept)."""
        if not items:
            return
        now = time.time()
        rows = [(key, task, result.model_dump_json(), now) for key, result in items]
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO results (key, task, result, created) VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise CacheError(f"cannot write the result cache {self.path}: {exc}") from exc

    def info(self) -> CacheInfo:
        """Entries, size on disk and entries per task."""
        if not self.path.exists():
            return CacheInfo(self.path, 0, 0, {})
        rows = self._connection().execute("SELECT task, COUNT(*) FROM results GROUP BY task").fetchall()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        by_task = {task: count for task, count in rows}
        return CacheInfo(self.path, sum(by_task.values()), size, by_task)

    def clear(self) -> int:
        """Delete every entry (other processes may keep using the file); how many there were."""
        if not self.path.exists():
            return 0
        conn = self._connection()
        count = int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        conn.execute("DELETE FROM results")
        conn.execute("VACUUM")
        return count

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _mark_cached(result: BaseModel) -> BaseModel:
    provenance = getattr(result, "provenance", None)
    if provenance is None or not hasattr(provenance, "cached"):
        return result
    return result.model_copy(update={"provenance": provenance.model_copy(update={"cached": True})})
