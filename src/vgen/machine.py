"""What the machine gives a render: the cores it may use, and glibc's malloc held to two arenas.

Cores: the process's CPU affinity (a container's cpuset), which decides the composing threads
and whether the audio renders beside the video.

Arenas: a long render's memory stays flat in its length.

Each segment starts new threads (composers, canvas loader, FFmpeg readers). glibc gives a new
thread an arena of its own, up to 8 per core, and every arena keeps what was freed in it: over a
60-minute render the vgen process grew from 165 to 179 MB, page by page. With the arenas bounded
it stays at 166 MB. The threads hardly allocate (frame buffers are reused and numba kernels
allocate nothing), so sharing arenas costs no time: 60 s of 1080p took 46.3 s bounded and 48.3 s
unbounded (medians of 3 interleaved pairs, 2 cores).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_ARENA_MAX = -8  # glibc malloc.h
ARENAS = 2


@functools.cache
def bound_arenas(arenas: int = ARENAS) -> bool:
    """Limit this process to `arenas` malloc arenas (glibc only; a no-op elsewhere). Takes effect for
    arenas made afterwards, so call it before the threads start. True when glibc took it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas) == 1
    except (OSError, AttributeError):
        return False


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
