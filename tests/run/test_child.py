"""Children die with vgen, even by kill -9, with and without util-linux setpriv."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

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
