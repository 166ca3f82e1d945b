"""Folders and files that appear whole or not at all.

A cache entry or an export is written into a partial folder beside its target,
sealed (every file flushed to disk, then an optional completion marker written
last) and swapped into place by rename, all under an exclusive lock on the
target. A kill at any moment leaves the old target or the new one, never a mix;
the partial folder a killed build leaves behind is removed by the next build in
the same parent folder.

Locks are ``fcntl.flock`` on a ``.NAME.lock`` file beside the target (POSIX:
Linux and macOS). The kernel drops a flock when its holder dies, even from
SIGKILL, so a killed build never blocks the next one and "is its lock free?"
tells exactly whether a partial folder is abandoned.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: Written last into a folder built by :func:`replace_folder`; a folder without it is incomplete.
COMPLETE_MARKER = ".llamatasks-complete"

# `.NAME.partial-1a2b3c4d` (being built) and `.NAME.replaced-1a2b3c4d` (the old NAME, being deleted).
_LEFTOVER = re.compile(r"^\.(?P<target>.+)\.(?P<kind>partial|replaced)-[0-9a-f]{8}$")


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds the completion marker, which is written after everything else."""
    return (folder / COMPLETE_MARKER).is_file()


@contextmanager
def folder_lock(target: Path) -> Iterator[None]:
    """Hold the exclusive lock for building ``target``, waiting while another process holds it.

    The lock file is removed on release; :func:`_acquire` re-checks the file
    after locking, so a waiter that opened the removed file tries again.
    """
    path = _lock_path(target)
    fd = _acquire(path, blocking=False)
    if fd is None:
        print(f"llamatasks: waiting for another process that is writing {target}", file=sys.stderr)
        fd = _acquire(path, blocking=True)
    assert fd is not None  # a blocking acquire returns a descriptor or raises
    try:
        yield
    finally:
        _release(path, fd)


def cached_folder(target: Path, write: Callable[[Path], object]) -> Path:
    """``target``, built by ``write(folder)`` unless it is already complete.

    Concurrent callers wait for one build and reuse it. A ``target`` without
    the completion marker (left half-written by a kill, or by a version that
    wrote in place) is rebuilt.
    """
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(target):
        if not is_complete(target):  # another process may have built it while this one waited
            replace_folder(target, write)
    return target


def replace_folder(target: Path, write: Callable[[Path], T], *, marker: str | None = COMPLETE_MARKER) -> T:
    """Build a new ``target`` with ``write`` and swap it in place of the old one, if any.

    Call it holding :func:`folder_lock` for ``target``. On any failure the
    partial folder is removed and the old ``target`` is left as it was.

    Args:
        target: The folder to create or replace.
        write: Fills the empty folder it is given; what it returns is returned.
        marker: File written last, once every other file is on disk; None where
            ``write``'s own last file plays that role (an export's manifest).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target.parent, held=target.name)
    work = _new_folder(target)
    try:
        result = write(work)
        _seal(work, marker)
        _swap_in(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def remove_leftovers(parent: Path, *, held: str | None = None) -> None:
    """Remove the partial folders that killed builds left in ``parent``.

    Partial folders are only written under their target's lock, so those of a
    target whose lock is free (or is ``held`` by the caller) are abandoned. An old
    folder that a kill stranded mid-swap (no target, a ``.replaced-`` folder) is
    renamed back.
    """
    found: dict[str, list[Path]] = {}
    with suppress(FileNotFoundError):
        for entry in os.scandir(parent):
            match = _LEFTOVER.match(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                found.setdefault(match["target"], []).append(Path(entry.path))
    for name, folders in found.items():
        if name == held:
            _clear(parent / name, folders)
            continue
        path = _lock_path(parent / name)
        fd = _acquire(path, blocking=False)
        if fd is None:  # a build of that target is running
            continue
        try:
            _clear(parent / name, folders)
        finally:
            _release(path, fd)


def remove_abandoned(parent: Path, pattern: str, *, idle_s: float = 3600.0) -> None:
    """Remove folders matching ``pattern`` in ``parent`` in which nothing changed for ``idle_s``.

    For the temporary folders of llamatasks versions that took no lock, whose
    writers cannot be asked whether they are still alive.
    """
    now = time.time()
    for folder in parent.glob(pattern):
        if folder.is_dir() and not folder.is_symlink() and now - _last_change(folder) > idle_s:
            shutil.rmtree(folder, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file beside it, so readers see the old or the new text, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open applies the umask, as for any new file (mkstemp would make it private).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


# -- locks ----------------------------------------------------------------------


def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _acquire(path: Path, *, blocking: bool) -> int | None:
    """A descriptor holding the flock on ``path``; None if not ``blocking`` and another process holds it."""
    import fcntl  # POSIX only; imported here so that `import llamatasks` never needs it

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if _is_file_at(fd, path):
            return fd
        os.close(fd)  # the previous holder removed this lock file while we waited: lock the new one


def _is_file_at(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _release(path: Path, fd: int) -> None:
    # Unlink before unlocking: a process that locks the unlinked file sees it is gone and retries.
    with suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


# -- building and swapping --------------------------------------------------------


def _new_folder(target: Path) -> Path:
    """An empty ``.NAME.partial-XXXXXXXX`` beside ``target`` (mode from the umask, unlike mkdtemp's 0700)."""
    while True:
        work = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
        try:
            work.mkdir()
            return work
        except FileExistsError:
            continue


def _seal(folder: Path, marker: str | None) -> None:
    """Flush every file to disk, then write ``marker``: a marker never vouches for data a crash lost."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            _fsync_file(path)
    if marker is not None:
        (folder / marker).write_text("complete\n", encoding="utf-8")
        _fsync_file(folder / marker)
    _fsync_dir(folder)


def _swap_in(work: Path, target: Path) -> None:
    """Put ``work`` at ``target``; an existing ``target`` is exchanged atomically where the OS can, then deleted."""
    if not target.exists() and not target.is_symlink():
        os.rename(work, target)
    elif _exchange(work, target):
        shutil.rmtree(work, ignore_errors=True)  # ``work`` now holds the old target
    else:
        old = target.with_name(f".{target.name}.replaced-{secrets.token_hex(4)}")
        os.rename(target, old)
        try:
            os.rename(work, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(target.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux's renameat2(RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # not glibc >= 2.28 / Linux (macOS, musl...): two renames instead
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel, or a filesystem without it
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _clear(target: Path, leftovers: list[Path]) -> None:
    """Delete ``leftovers`` of ``target``; with no ``target``, restore the old one a kill stranded mid-swap."""
    replaced = [p for p in leftovers if ".replaced-" in p.name]
    if len(replaced) == 1 and not target.exists():
        os.rename(replaced[0], target)
        leftovers = [p for p in leftovers if p != replaced[0]]
    for folder in leftovers:
        shutil.rmtree(folder, ignore_errors=True)


def _last_change(folder: Path) -> float:
    latest = folder.lstat().st_mtime
    for path in folder.rglob("*"):
        with suppress(OSError):
            latest = max(latest, path.lstat().st_mtime)
    return latest


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make renames and new entries in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the data files are already flushed
    finally:
        os.close(fd)
