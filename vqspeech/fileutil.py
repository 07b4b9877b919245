"""Atomic file writing: a temp file in the destination's directory, renamed into place on success.

A reader never sees a half-written file, and a failure (or a kill) leaves whatever was there before.

Temp names carry the writer's pid and host (`.NAME.~PID@HOST~XXXXXXXX.SUFFIX.tmp`), so the next writer in
the same directory removes what a killed writer left behind (a pid that no longer runs on this host); a
directory is replaced by an atomic exchange (`renameat2(RENAME_EXCHANGE)` on Linux), so no kill can leave
the destination missing. Where the exchange is unavailable, the old directory is parked in
`.NAME.~PID@HOST~XXXXXXXX.old/x` for the instant between two renames, and put back by the next writer if a
kill struck in between.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
# ours: .NAME.~PID@HOST~RANDOM[SUFFIX].tmp|.old; before pids were recorded: .NAME.RANDOM[SUFFIX].tmp|.old
_OURS = re.compile(r"^\.(?P<name>.+)\.~(?P<pid>\d+)@(?P<host>[0-9a-f]{8})~[a-z0-9_]{8}(\.[^.]+)?\.(?P<kind>tmp|old)$")
_LEGACY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(\.[^.]+)?\.(?P<kind>tmp|old)$")
LEGACY_AGE_S = 3600.0  # an unmarked temp entry this old is a leftover, not a live write
FOREIGN_AGE_S = 86400.0  # a temp entry of another host this old is a leftover too
_swept: set[str] = set()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, directory: bool) -> None:
    """Give a temp file/dir the mode a plain open()/mkdir() would have (mkstemp uses 0600/0700)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _prefix(path: Path) -> str:
    return f".{path.name}.~{os.getpid()}@{_HOST}~"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(entry: os.DirEntry) -> re.Match | None:
    m = _OURS.match(entry.name)
    try:
        age = time.time() - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return None
    if m is not None:
        if m["host"] == _HOST:
            return m if int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])) else None
        return m if age > FOREIGN_AGE_S else None
    m = _LEGACY.match(entry.name)
    return m if m is not None and age > LEGACY_AGE_S else None


def clean_stale(directory: str | os.PathLike) -> list[Path]:
    """Remove the temp files/dirs that killed writers left in `directory` (not those of live ones), and put
    back a directory parked by a swap that a kill cut in two. Returns what was removed or restored."""
    directory = Path(directory)
    done: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return done
    for entry in entries:
        m = _stale(entry)
        if m is None:
            continue
        p = Path(entry.path)
        target = directory / m["name"]
        with contextlib.suppress(OSError):
            if m["kind"] == "old" and (p / "x").exists() and not target.exists() and not target.is_symlink():
                os.replace(p / "x", target)  # the kill came between the two renames: the old one goes back
                log.warning("%s: restored from %s (a previous run was killed while replacing it)", target, p.name)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            done.append(p)
    if done:
        log.info("%s: removed %d temp file(s) left by a killed run", directory, len(done))
    return done


def _sweep_once(directory: Path) -> None:
    key = str(directory.resolve())
    if key not in _swept:
        _swept.add(key)
        clean_stale(directory)


def _write_error(path: Path, err: OSError) -> VQSpeechError:
    why = err.strerror or type(err).__name__
    if isinstance(err, (FileExistsError, NotADirectoryError)):
        return VQSpeechError(f"{path}: cannot write it: a parent path is a file, not a directory")
    if isinstance(err, IsADirectoryError):
        return VQSpeechError(f"{path}: is a directory (name an output file)")
    if isinstance(err, PermissionError):
        return VQSpeechError(f"{path}: cannot write here ({why}; choose a writable output path)")
    return VQSpeechError(f"{path}: cannot write ({why})")


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_error(path, err) from None
    _sweep_once(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it onto `path`, on error delete it.

    `suffix` defaults to the destination's suffix so that writers which pick a format from the
    extension (soundfile, for example) still do so. An unwritable destination is a `VQSpeechError`.
    """
    path = Path(path)
    _make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=(path.suffix if suffix is None else suffix) + ".tmp",
                                   dir=path.parent)
    except OSError as err:
        raise _write_error(path, err) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            _publish_mode(tmp_path, directory=tmp_path.is_dir())
        try:
            os.replace(tmp_path, path)
        except OSError as err:
            raise _write_error(path, err) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to `path`; on success it replaces `path` (which may exist)."""
    path = Path(path)
    _make_parent(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise _write_error(path, err) from None
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if path.is_dir() and not path.is_symlink():
            if _exchange(tmp, path):  # path is the new dir, tmp the old one
                shutil.rmtree(tmp, ignore_errors=True)
                return
            old = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
