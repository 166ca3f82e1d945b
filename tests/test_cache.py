"""The result cache: keys, concurrent writers, ``llamatasks cache info|clear``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llamatasks
from llamatasks.corpus.cache import ResultCache, key_prefix, model_hash, text_key
from llamatasks.results import ItemError


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLAMATASKS_CACHE", str(tmp_path))
    return tmp_path


def test_keys_change_with_task_options_and_text(tiny_model: Callable[..., llamatasks.Model]) -> None:
    model = tiny_model("chatml")
    task = model.registry.task("sentiment")
    one = key_prefix(model, "sentiment", task.Options.parse({"phrasings": 1}))
    assert one == key_prefix(model, "sentiment", task.Options.parse({"phrasings": 1}))
    assert one != key_prefix(model, "sentiment", task.Options.parse({"phrasings": 2}))
    classify = model.registry.task("classify")
    assert one != key_prefix(model, "classify", classify.Options.parse({"labels": ["a", "b"]}))
    assert text_key(one, "a") != text_key(one, "b")


def test_model_hash_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 1000)
    before = model_hash(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\1" * 1000)
    os.utime(tmp_path / "model.safetensors", (1e9, 2e9))  # a later mtime than the first write
    assert model_hash(tmp_path) != before


_WRITER = """
import sys
from pathlib import Path
from llamatasks.corpus.cache import ResultCache
from llamatasks.results import ItemError
cache = ResultCache(Path(sys.argv[1]))
who = sys.argv[2]
for round in range(40):
    cache.put_many("t", [(f"{who}-{round}-{i}", ItemError(index=i, error="E", message=who)) for i in range(25)])
    cache.put_many("t", [(f"shared-{round}-{i}", ItemError(index=i, error="E", message=who)) for i in range(5)])
    assert len(cache.get_many([f"{who}-{round}-0"], ItemError)) == 1
"""


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), who], stderr=subprocess.PIPE)
               for who in ("a", "b")]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    info = ResultCache(path).info()
    assert info.entries == 2 * 40 * 25 + 40 * 5  # each key once, whichever process wrote it first
    assert info.by_task == {"t": info.entries}


def test_hits_come_back_as_the_stored_result_marked_cached(cache_home: Path,
                                                           tiny_model: Callable[..., llamatasks.Model]) -> None:
    model = tiny_model("chatml")
    stored = model.run("sentiment", "a fine day", phrasings=1)
    cache = ResultCache()
    cache.put_many("sentiment", [("k", stored)])
    hit = cache.get_many(["k", "missing"], type(stored))
    assert list(hit) == ["k"]
    assert hit["k"].provenance.cached is True  # type: ignore[attr-defined]
    assert hit["k"].model_copy(update={"provenance": stored.provenance}) == stored


def test_cache_info_and_clear_commands(cache_home: Path) -> None:
    from llamatasks.cli import add_plugin_commands, app

    add_plugin_commands()
    ResultCache().put_many("ner", [("k1", ItemError(index=0, error="E", message="m"))])
    runner = CliRunner()
    shown = runner.invoke(app, ["cache", "info", "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["entries"] == 1 and info["by_task"] == {"ner": 1}
    assert Path(info["path"]).parent == cache_home
    cleared = runner.invoke(app, ["cache", "clear"])
    assert cleared.exit_code == 0 and "removed 1 results" in cleared.output
    assert ResultCache().info().entries == 0
