"""The segment store: finished pieces under their content keys, checked before reuse.

A piece is reused only when it decodes with the right frame count, never because a file
exists. Every write is atomic (temp file in the same folder, fsync, rename), and a lock keeps
two renders from sharing one work folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path
from typing import IO, Any

from vgen.errors import MediaError, VgenError
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.probe import audio_length, audio_seconds, decoded_frames, frame_count
from vgen.files import PARTIAL_GLOB, atomic_write_text, discard_partials, file_sha256

MANIFEST = "manifest.json"


class Store:
    """A work folder of checked segments and audio tracks, with a manifest and a lock."""

    def __init__(self, work_dir: Path) -> None:
        self.dir = work_dir
        self._lock: IO[str] | None = None
        self._manifest_lock = threading.Lock()  # segments finish on several threads with --jobs

    def lock(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = (self.dir / ".lock").open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise VgenError(
                f"{self.dir} is in use by another vgen render",
                "wait for it to finish, or give this render its own --work-dir",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def unlock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"version": 1, "pieces": {}}

    def record(self, name: str, info: dict[str, Any]) -> None:
        with self._manifest_lock:
            m = self.manifest()
            m.setdefault("pieces", {})[name] = info
            atomic_write_text(self.dir / MANIFEST, json.dumps(m, indent=1, sort_keys=True))

    def record_piece(self, path: Path, info: dict[str, Any]) -> None:
        """Note a finished piece with its size and hash, so a later run can trust it cheaply."""
        self.record(path.name, {**info, "size": path.stat().st_size, "sha256": file_sha256(path)})

    def valid_video(self, ff: FFmpeg, path: Path, frames: int) -> bool:
        """True when `path` is exactly what was recorded (size, sha256) and has `frames` frames.
        A piece the manifest does not know (a crash between rename and record) must decode fully."""
        if not path.is_file() or path.stat().st_size == 0:
            return False
        known = self.manifest().get("pieces", {}).get(path.name)
        try:
            if known:
                if known.get("size") != path.stat().st_size or known.get("sha256") != file_sha256(path):
                    return False
                n = frame_count(ff, path)
            else:
                n = decoded_frames(ff, path)
        except MediaError:
            return False
        return n == frames

    def valid_audio(self, ff: FFmpeg, path: Path, seconds: float, tolerance: float) -> bool:
        """True when `path` is what was recorded and lasts `seconds`, read from its boxes; a piece
        the manifest does not know must decode fully."""
        if not path.is_file() or path.stat().st_size == 0:
            return False
        known = self.manifest().get("pieces", {}).get(path.name)
        if known and (known.get("size") != path.stat().st_size or known.get("sha256") != file_sha256(path)):
            return False
        try:
            return abs((audio_length if known else audio_seconds)(ff, path) - seconds) <= tolerance
        except MediaError:
            return False

    def discard_partials(self) -> None:
        """Half-written files of an interrupted run are never finished pieces: remove them."""
        discard_partials(self.dir)

    OWNED = ("seg-*", "audio-*", "loudness-*", "captions-*", "segments.txt", MANIFEST, PARTIAL_GLOB, ".lock")

    def clean(self) -> int:
        """Remove the store's own files (never anything else in the folder); return the bytes freed."""
        if not self.dir.is_dir():
            return 0
        if not (self.dir / MANIFEST).exists() and not any(self.dir.glob("seg-*")):
            raise VgenError(
                f"{self.dir} does not look like a vgen store (no manifest.json)",
                "point --work-dir at the store itself; nothing was removed",
            )
        self.lock()
        try:
            freed = 0
            for pattern in self.OWNED:
                for p in self.dir.glob(pattern):
                    if p.is_file() and p.name != ".lock":
                        freed += p.stat().st_size
                        p.unlink()
        finally:
            self.unlock()
        (self.dir / ".lock").unlink(missing_ok=True)
        try:
            self.dir.rmdir()  # only when nothing else was in it
        except OSError:
            pass
        return freed
