"""Children die with vgen, even by kill -9, with and without util-linux setpriv."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vgen.run import child

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

PARENT = textwrap.dedent("""
    import sys, time
    from vgen.run import child
    kid = child.popen(["/bin/sleep", "60"])
    print(kid.pid, child._setpriv() is not None, flush=True)
    time.sleep(60)
""")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def command(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline") as f:
        return f.read().split("\0")[0]


@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "preexec_fn"])
def test_a_child_dies_when_vgen_is_killed(setpriv):
    env = dict(os.environ)
    if not setpriv:
        env["PATH"] = "/nonexistent"  # no setpriv found: the preexec_fn fallback
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    pid, used = parent.stdout.readline().split()
    kid = int(pid)
    assert used == str(setpriv)
    deadline = time.monotonic() + 5
    while command(kid) != "/bin/sleep" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert command(kid) == "/bin/sleep"  # setpriv exec'd it: the pid is the command's own
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while alive(kid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(kid)


def test_a_missing_binary_raises_as_subprocess_does():
    with pytest.raises(FileNotFoundError):
        child.run(["vgen-no-such-binary"])


def test_run_returns_the_command_output():
    assert child.run(["/bin/echo", "hi"], capture_output=True, text=True).stdout == "hi\n"


ALLOCATE = [sys.executable, "-c", "x = bytearray(400 * 1024 * 1024); print(len(x))"]


@pytest.mark.parametrize("shims", [True, False], ids=["prlimit", "preexec_fn"])
def test_a_worker_bounds_every_childs_memory(monkeypatch, shims):
    """With a memory bound (worker mode) a child that writes more is refused its memory; without
    one the same child runs. Both spawn paths: setpriv + prlimit, and the fork fallback."""
    if not shims:
        monkeypatch.setattr(child, "_setpriv", lambda: None)
    assert child.run(ALLOCATE, capture_output=True).returncode == 0
    child.limit_memory(200 * 1024 * 1024)
    try:
        bounded = child.run(ALLOCATE, capture_output=True, text=True)
        kid = child.popen(["/bin/sleep", "5"])
        deadline = time.monotonic() + 5
        while Path(f"/proc/{kid.pid}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.01)  # setpriv and prlimit exec in turn: read the limits of sleep itself
        with open(f"/proc/{kid.pid}/limits") as f:
            limits = f.read()
        kid.kill()
        kid.wait()
    finally:
        child.limit_memory(None)
    assert bounded.returncode != 0 and "MemoryError" in bounded.stderr
    assert re.search(r"Max data size\s+209715200\s+209715200", limits), limits  # the command's own pid
