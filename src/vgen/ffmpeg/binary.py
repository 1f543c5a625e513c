"""Find the FFmpeg binaries and learn what they can do, once, into a small context object.

Order: VGEN_FFMPEG/VGEN_FFPROBE, then ffmpeg/ffprobe on PATH, then the static FFmpeg of the
imageio-ffmpeg wheel (which ships no ffprobe; probing then parses `ffmpeg -i`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vgen import cache
from vgen.errors import FFmpegError

# Inputs are local files of ordinary media containers only: a crafted "clip" (an HLS playlist,
# a concat list) can neither fetch URLs nor pull in other files.
SAFE_DEMUXERS = "mov,matroska,webm,avi,mpegts,flv,mp3,wav,ogg,flac,aac,asf,gif,ivf,h264,hevc,w64,aiff,image2"
INPUT_SAFETY: dict[str, str] = {"protocol_whitelist": "file", "format_whitelist": SAFE_DEMUXERS}


def input_safety_args() -> list[str]:
    return [a for k, v in INPUT_SAFETY.items() for a in (f"-{k}", v)]


@dataclass(frozen=True)
class FFmpeg:
    """The FFmpeg in use: its binaries, version and capabilities. Passed around, never global."""

    path: str
    ffprobe: str | None
    version: str
    source: str  # "VGEN_FFMPEG", "PATH" or "imageio-ffmpeg"
    encoders: frozenset[str] = field(default_factory=frozenset)
    filters: frozenset[str] = field(default_factory=frozenset)

    @property
    def major(self) -> int:
        m = re.match(r"n?(\d+)", self.version)
        return int(m.group(1)) if m else 0

    def filter_script_args(self, script: Path) -> list[str]:
        """Pass a filter graph from a file: `-/filter_complex` on FFmpeg 7+, else the old option."""
        if self.major >= 7:
            return ["-/filter_complex", str(script)]
        return ["-filter_complex_script", str(script)]

    def has_filter(self, name: str) -> bool:
        return name in self.filters


def _run_text(args: list[str]) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FFmpegError(f"cannot run {args[0]}: {exc}", "set VGEN_FFMPEG to a working ffmpeg binary") from exc
    return proc.stdout + proc.stderr


def _list_names(text: str, pattern: str) -> frozenset[str]:
    return frozenset(m.group(1) for m in re.finditer(pattern, text, re.MULTILINE))


def locate() -> tuple[str, str | None, str]:
    """(ffmpeg, ffprobe or None, where it came from), in the documented order."""
    env = os.environ.get("VGEN_FFMPEG")
    if env:
        if not (shutil.which(env) or Path(env).is_file()):
            raise FFmpegError(f"VGEN_FFMPEG={env} does not exist", "point VGEN_FFMPEG at an ffmpeg binary or unset it")
        probe = os.environ.get("VGEN_FFPROBE") or _sibling_probe(env)
        return env, probe, "VGEN_FFMPEG"
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path, os.environ.get("VGEN_FFPROBE") or shutil.which("ffprobe"), "PATH"
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe(), os.environ.get("VGEN_FFPROBE"), "imageio-ffmpeg"
    except (ImportError, RuntimeError) as exc:
        raise FFmpegError(
            "no ffmpeg found", "install one (apt-get install ffmpeg, or pip install imageio-ffmpeg) or set VGEN_FFMPEG"
        ) from exc


def _sibling_probe(ffmpeg: str) -> str | None:
    cand = Path(ffmpeg).with_name(Path(ffmpeg).name.replace("ffmpeg", "ffprobe"))
    return str(cand) if cand != Path(ffmpeg) and cand.is_file() else None


@functools.lru_cache(maxsize=8)
def _inspect(path: str, ffprobe: str | None, source: str) -> FFmpeg:
    """Version, encoders and filters of a binary: asked once per process, and remembered on disk per
    binary (path, size, mtime), which saves every later run of vgen three FFmpeg starts (~0.1 s)."""
    key = _binary_key(path, ffprobe)
    known = cache.get("ffmpeg", key) if key else None
    if isinstance(known, dict) and {"version", "encoders", "filters"} <= known.keys():
        return FFmpeg(
            path, ffprobe, known["version"], source, frozenset(known["encoders"]), frozenset(known["filters"])
        )
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # every first render starts here
        lists = [pool.submit(_run_text, [path, "-hide_banner", what]) for what in ("-encoders", "-filters")]
        head = _run_text([path, "-hide_banner", "-version"])
        m = re.search(r"ffmpeg version (\S+)", head)
        if not m:
            raise FFmpegError(f"{path} does not look like ffmpeg", "set VGEN_FFMPEG to a working ffmpeg binary")
        encoders = _list_names(lists[0].result(), r"^\s*[VAS][\w.]{5}\s+(\S+)")
        filters = _list_names(lists[1].result(), r"^\s*[TSC.]{2,3}\s+(\w+)\s")
    if key and encoders and filters:  # never remember a half answer
        cache.put("ffmpeg", key, {"version": m.group(1), "encoders": sorted(encoders), "filters": sorted(filters)})
    return FFmpeg(path, ffprobe, m.group(1), source, encoders, filters)


def _binary_key(path: str, *more: str | None) -> str | None:
    """Cache key of an FFmpeg binary (its real file, so a symlink moved to a new build misses)."""
    try:
        return cache.file_key(Path(shutil.which(path) or path), *(m or "" for m in more))
    except OSError:
        return None


def find_ffmpeg() -> FFmpeg:
    """The FFmpeg to use, inspected (cached per binary)."""
    path, probe, source = locate()
    return _inspect(path, probe, source)


def xfade_transitions(ff: FFmpeg) -> frozenset[str]:
    """Transition names the xfade filter of this FFmpeg knows (asked once per binary)."""
    return _xfade_names(ff.path)


@functools.lru_cache(maxsize=8)
def _xfade_names(path: str) -> frozenset[str]:
    key = _binary_key(path, "xfade")
    known = cache.get("ffmpeg", key) if key else None
    if isinstance(known, list):
        return frozenset(known)
    text = _run_text([path, "-hide_banner", "-h", "filter=xfade"])
    block = text.split("transition", 1)[-1].split("duration", 1)[0]
    names = _list_names(block, r"^\s+(\w+)\s+-?\d+\s")
    if key and names:
        cache.put("ffmpeg", key, sorted(names))
    return names
