"""Files written so that a half-written one is never mistaken for a finished one, and file hashes.

Every file vgen writes goes first to a *partial* name in the same folder (`.NAME.partial`), is
made durable, and is then renamed into place. Anything matching `PARTIAL_GLOB` is therefore an
interrupted write and may be deleted on sight.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

PARTIAL_GLOB = ".*.partial"


def partial_path(path: Path, *, unique: bool = False) -> Path:
    """Where `path` is written before it is renamed into place. `unique` adds the process and thread,
    for files that several writers may write at once (the manifest, the cache)."""
    tag = f".{os.getpid()}.{threading.get_ident()}" if unique else ""
    return path.with_name(f".{path.name}{tag}.partial")


def discard_partials(folder: Path, *, recursive: bool = False) -> None:
    """Remove the interrupted writes in `folder` (and below it, with `recursive`)."""
    for p in folder.rglob(PARTIAL_GLOB) if recursive else folder.glob(PARTIAL_GLOB):
        p.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    """Put a file's data on disk (run beside other work, a later fsync_rename finds little to do)."""
    with path.open("rb") as f:
        os.fsync(f.fileno())


def fsync_rename(tmp: Path, final: Path) -> None:
    """Make `tmp` durable, then atomically give it its final name."""
    fsync_file(tmp)
    os.replace(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a partial file: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path, unique=True)
    tmp.write_text(text, encoding="utf-8")
    fsync_rename(tmp, path)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's content, remembered per (path, size, mtime) for the life of the process:
    a slide shown in several segments is hashed once."""
    st = path.stat()
    return _digest(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))
