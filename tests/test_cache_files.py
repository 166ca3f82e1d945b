"""Cache folders, exports and reports appear whole or not at all, under concurrent and killed writers.

No real model is converted: a fake conversion stands in for transformers'
GGUF load and save, so the tests exercise the lock, the partial folder, the
completion marker and the swap (``llamatasks.files``) in about ten seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llamatasks import files, sources
from llamatasks.files import (
    COMPLETE_MARKER,
    folder_lock,
    is_complete,
    remove_leftovers,
    replace_folder,
)

# A child process converting a fake GGUF with a slow fake conversion; it prints the cache folder.
_CONVERT_CHILD = r"""
import os, sys, time
from pathlib import Path
from llamatasks import sources

def slow_convert(gguf, out):
    with open(os.environ["CONVERT_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
    (out / "config.json").write_text("{}")
    (out / "model.safetensors").write_bytes(os.urandom(1 << 16))
    Path(os.environ["CONVERT_STARTED"]).touch()
    time.sleep(float(os.environ["CONVERT_SECONDS"]))
    (out / "tokenizer.json").write_text("{}")

barrier = Path(os.environ["BARRIER"])  # start converting together with the other children
(barrier / str(os.getpid())).touch()
deadline = time.monotonic() + 60
while len(list(barrier.iterdir())) < int(os.environ["CHILDREN"]) and time.monotonic() < deadline:
    time.sleep(0.01)
sources.check_gguf = lambda gguf: None
sources._convert = slow_convert
print(sources.gguf_to_folder(Path(sys.argv[1])))
"""


@pytest.fixture
def gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake .gguf (never parsed: check_gguf is stubbed) and an empty cache."""
    monkeypatch.setenv("LLAMATASKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "check_gguf", lambda gguf: None)
    path = tmp_path / "tiny.gguf"
    path.write_bytes(os.urandom(4096))
    return path


def _fast_convert(calls: list[Path]):  # type: ignore[no-untyped-def]
    def convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text('{"rebuilt": true}')
        (out / "model.safetensors").write_bytes(b"weights")

    return convert


def _start_children(gguf: Path, tmp_path: Path, count: int, seconds: float) -> list[subprocess.Popen[str]]:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "CONVERT_LOG": str(tmp_path / "convert.log"), "CONVERT_STARTED": str(tmp_path / "started"),
           "CONVERT_SECONDS": str(seconds), "BARRIER": str(barrier), "CHILDREN": str(count)}
    return [subprocess.Popen([sys.executable, "-c", _CONVERT_CHILD, str(gguf)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(count)]


def _gguf_folder(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "gguf"


def test_two_processes_converting_at_once_both_get_one_cache(gguf: Path, tmp_path: Path) -> None:
    children = _start_children(gguf, tmp_path, count=2, seconds=2.0)
    results = [(child.wait(timeout=120), *child.communicate()) for child in children]
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    folders = {out.strip() for _, out, _ in results}
    assert len(folders) == 1 and is_complete(Path(folders.pop()))
    assert len((tmp_path / "convert.log").read_text().split()) == 1  # one converted, the other waited
    assert any("waiting for another process" in err for _, _, err in results)
    assert [p.name for p in _gguf_folder(tmp_path).iterdir()] == [f"tiny-{sources.fingerprint(gguf)}"]


def test_conversion_killed_midway_is_detected_and_rebuilt(
    gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (child,) = _start_children(gguf, tmp_path, count=1, seconds=120.0)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    target = _gguf_folder(tmp_path) / f"tiny-{sources.fingerprint(gguf)}"
    left = [p.name for p in target.parent.iterdir()]
    assert left and target.name not in left and not is_complete(target)  # a partial folder, nothing valid

    calls: list[Path] = []
    monkeypatch.setattr(sources, "_convert", _fast_convert(calls))
    assert sources.gguf_to_folder(gguf) == target  # the killed holder's lock was dropped by the kernel
    assert len(calls) == 1 and is_complete(target) and (target / "config.json").read_text() == '{"rebuilt": true}'
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # partial folder and lock file gone
    assert sources.gguf_to_folder(gguf) == target and len(calls) == 1  # now a cache hit


def test_cache_without_completion_marker_is_rebuilt(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = sources.cache_dir() / "gguf" / f"tiny-{sources.fingerprint(gguf)}"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # looks like a model, but was never finished
    (target / "stray.bin").write_bytes(b"half")
    calls: list[Path] = []
    monkeypatch.setattr(sources, "_convert", _fast_convert(calls))
    assert sources.gguf_to_folder(gguf) == target and len(calls) == 1
    assert sorted(p.name for p in target.iterdir()) == [COMPLETE_MARKER, "config.json", "model.safetensors"]


def test_failed_conversion_leaves_nothing_behind(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("transformers failed")

    monkeypatch.setattr(sources, "_convert", broken)
    with pytest.raises(RuntimeError, match="transformers failed"):
        sources.gguf_to_folder(gguf)
    assert list((sources.cache_dir() / "gguf").iterdir()) == []


def test_unlocked_versions_idle_temp_folders_are_removed(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = sources.cache_dir() / "gguf"
    idle, recent = parent / ".convert-abc12345", parent / ".convert-xyz67890"
    for folder in (idle, recent):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"partial")
    hours_ago = time.time() - 7200
    for path in (idle / "model.safetensors", idle):
        os.utime(path, (hours_ago, hours_ago))
    monkeypatch.setattr(sources, "_convert", _fast_convert([]))
    sources.gguf_to_folder(gguf)
    assert not idle.exists() and recent.exists()  # recent: maybe an older version converting right now


def test_disk_errors_are_model_load_errors(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(gguf: Path, out: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sources, "_convert", disk_full)
    with pytest.raises(sources.ModelLoadError, match="No space left") as info:
        sources.gguf_to_folder(gguf)
    assert "LLAMATASKS_CACHE" in info.value.hint


# -- the folder machinery itself ----------------------------------------------------


def _write(name: str, text: str = "new"):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> str:
        (folder / name).write_text(text)
        return text

    return write


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_replace_swaps_in_the_whole_new_folder(
    exchange: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not exchange:
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)  # as on macOS or filesystems without it
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with folder_lock(target):
        assert replace_folder(target, _write("new.txt")) == "new"
    assert sorted(p.name for p in target.iterdir()) == [COMPLETE_MARKER, "new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_replace_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")

    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), folder_lock(target):
        replace_folder(target, broken)
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_leftovers_are_removed_unless_their_build_is_running(tmp_path: Path) -> None:
    abandoned, running = tmp_path / ".a.partial-0123abcd", tmp_path / ".b.partial-89abcdef"
    unrelated = tmp_path / ".c.partial-notes"  # not a name llamatasks makes
    for folder in (abandoned, running, unrelated):
        folder.mkdir()
    with folder_lock(tmp_path / "b"):
        remove_leftovers(tmp_path)
        assert not abandoned.exists() and running.exists()
    remove_leftovers(tmp_path)
    assert not running.exists() and unrelated.exists()


def test_old_folder_stranded_mid_swap_is_restored(tmp_path: Path) -> None:
    stranded = tmp_path / ".out.replaced-0123abcd"  # killed between the two renames of the fallback swap
    stranded.mkdir()
    (stranded / "old.txt").write_text("old")
    remove_leftovers(tmp_path)
    assert (tmp_path / "out" / "old.txt").read_text() == "old" and not stranded.exists()


def test_lock_is_exclusive_and_leaves_no_file(tmp_path: Path) -> None:
    target, order = tmp_path / "out", []

    def second() -> None:
        with folder_lock(target):
            order.append("second")

    with folder_lock(target):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "second"] and list(tmp_path.iterdir()) == []


# -- ONNX export overwrite and the evaluation report ------------------------------------


def test_export_overwrite_swaps_and_a_failed_one_keeps_the_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = pytest.importorskip("llamatasks_export.export")
    for name, fake in {"resolve": lambda model: sources.ModelSource(tmp_path, "fake"), "read_config": lambda path: None,
                       "builder_version": lambda: "test", "check_memory": lambda *args: None}.items():
        monkeypatch.setattr(export, name, fake)

    def build(work: Path, *args: object) -> str:
        (work / "model.onnx").write_text("graph")
        (work / export.MANIFEST_NAME).write_text("{}")
        return "manifest"

    out = tmp_path / "exports" / "model"
    out.mkdir(parents=True)
    (out / "model.onnx").write_text("old graph")
    (out / "stale.txt").write_text("from the old export")
    monkeypatch.setattr(export, "_build_into", build)
    seen = _watch_renames(out, monkeypatch)
    assert export.export_onnx(None, out, overwrite=True) == "manifest"
    if files._exchange(tmp_path / "exports", tmp_path / "exports"):  # renameat2 here: no moment without `out`
        assert all(seen), "the old export was moved away before the new one was in place"
    assert sorted(p.name for p in out.iterdir()) == [export.MANIFEST_NAME, "model.onnx"]  # no completion marker

    def broken(work: Path, *args: object) -> str:
        (work / "model.onnx").write_text("half")
        raise RuntimeError("builder crashed")

    monkeypatch.setattr(export, "_build_into", broken)
    with pytest.raises(RuntimeError, match="builder crashed"):
        export.export_onnx(None, out, overwrite=True)
    assert (out / "model.onnx").read_text() == "graph" and [p.name for p in out.parent.iterdir()] == ["model"]


def _watch_renames(target: Path, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, after every rename, whether ``target`` is there."""
    seen: list[bool] = []
    for name in ("rename", "replace"):
        real = getattr(os, name)

        def watched(src: object, dst: object, *, _real=real) -> None:  # type: ignore[no-untyped-def]
            _real(src, dst)
            seen.append(target.is_dir())

        monkeypatch.setattr(os, name, watched)
    return seen


def test_report_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llamatasks.evaluation.report import EvalReport

    report = EvalReport(task="sentiment", method="llamatasks", model="m", backend="torch", data="d.jsonl",
                        n_examples=1, metrics={"accuracy": 1.0}, seconds=0.5, llamatasks_version="0")
    path = tmp_path / "reports" / "run.json"
    report.save(path)
    assert EvalReport.model_validate_json(path.read_text()) == report

    def crash(src: object, dst: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        report.model_copy(update={"model": "other"}).save(path)
    assert EvalReport.model_validate_json(path.read_text()) == report  # the old report, whole
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left
