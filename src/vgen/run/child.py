"""Child processes (FFmpeg, mostly), started so that none outlives vgen, even after a kill -9.

On Linux a child asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG). util-linux's `setpriv
--pdeathsig` does that and then execs the command, so Python spawns with vfork and runs no Python
in the child. The fallback, a `preexec_fn`, forks the whole vgen process (~170 MB) and runs Python
between fork and exec: the page tables are copied, each page vgen writes meanwhile is copied
again, and a lock another thread held at the fork (a dlopen, an import) deadlocks the child.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Sequence
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


def _spawn(argv: Sequence[str], kwargs: dict[str, Any]) -> list[str]:
    shim = _setpriv()
    if shim is None or shutil.which(argv[0]) is None:  # a missing binary raises here, as without the shim
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = die_with_parent
        return list(argv)
    return [shim, "--pdeathsig", "KILL", "--", *argv]


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen for a child that dies with vgen. Its pid is the command's own (setpriv execs)."""
    return subprocess.Popen(_spawn(argv, kwargs), **kwargs)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run for a child that dies with vgen."""
    return subprocess.run(_spawn(argv, kwargs), **kwargs)
