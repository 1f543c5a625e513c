"""Child processes (FFmpeg, mostly), started so that none outlives vgen, even after a kill -9.

On Linux a child asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG). util-linux's `setpriv
--pdeathsig` does that and then execs the command, so Python spawns with vfork and runs no Python
in the child. The fallback, a `preexec_fn`, forks the whole vgen process (~170 MB) and runs Python
between fork and exec: the page tables are copied, each page vgen writes meanwhile is copied
again, and a lock another thread held at the fork (a dlopen, an import) deadlocks the child.

A worker also bounds each child's memory (`limit_memory`): util-linux's `prlimit` sets
RLIMIT_DATA and execs the command, so no input can make one FFmpeg (libass on a hostile caption
file, a decoder on a crafted image) take the machine down. RLIMIT_DATA, not RLIMIT_AS: it counts
what a process writes (heap, anonymous maps), while the GPU driver's large PROT_NONE address
reservations for NVENC are left alone.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def die_with_parent() -> None:
    """In a forked child: get SIGKILL when vgen dies (the fallback where setpriv is missing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@functools.cache
def _setpriv() -> str | None:
    """util-linux setpriv, where it knows --pdeathsig (older versions do not)."""
    if not sys.platform.startswith("linux"):
        return None
    path = shutil.which("setpriv")
    if path is None:
        return None
    try:
        ok = subprocess.run([path, "--pdeathsig", "KILL", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if ok.returncode == 0 else None


@dataclass
class _Policy:
    """What every child of this process gets: set once by a worker (`limit_memory`), read at spawn."""

    data_bytes: int | None = None


_policy = _Policy()


def limit_memory(data_bytes: int | None) -> None:
    """From now on, every child of this process may write at most `data_bytes` (None: unbounded)."""
    _policy.data_bytes = data_bytes


@functools.cache
def _prlimit() -> str | None:
    return shutil.which("prlimit") if sys.platform.startswith("linux") else None


def _bounded(data_bytes: int) -> None:
    """In a forked child (the fallback): the memory bound, then death with the parent."""
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (data_bytes, data_bytes))
    die_with_parent()


def _spawn(argv: Sequence[str], kwargs: dict[str, Any]) -> list[str]:
    limit = _policy.data_bytes
    shim, bound = _setpriv(), _prlimit() if limit else None
    if shim is None or shutil.which(argv[0]) is None or (limit and bound is None):
        # a missing binary raises here, as without the shims
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = functools.partial(_bounded, limit) if limit else die_with_parent
        return list(argv)
    head = [bound, f"--data={limit}:{limit}", "--"] if limit and bound else []
    return [shim, "--pdeathsig", "KILL", "--", *head, *argv]


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen for a child that dies with vgen. Its pid is the command's own (setpriv execs)."""
    return subprocess.Popen(_spawn(argv, kwargs), **kwargs)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run for a child that dies with vgen."""
    return subprocess.run(_spawn(argv, kwargs), **kwargs)
