"""The render's threads share two malloc arenas (glibc), so memory stays flat in video length."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")

COUNT = textwrap.dedent("""
    import ctypes, sys, tempfile, threading
    from vgen import machine
    if sys.argv[1] == "bounded":
        assert machine.bound_arenas()
    together = threading.Barrier(6)
    def work():  # threads alive at once: a thread's first malloc takes a free arena or makes one
        together.wait()
        keep.append([bytes(4000) for _ in range(50)])
        together.wait()
    keep = []
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    with tempfile.NamedTemporaryFile("r") as f:
        fp = libc.fopen(f.name.encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(fp))
        libc.fclose(ctypes.c_void_p(fp))
        print(f.read())
""")


def arenas(mode: str) -> int:
    xml = subprocess.run([sys.executable, "-c", COUNT, mode], capture_output=True, text=True, check=True).stdout
    return len(re.findall(r"<heap nr=", xml))


def test_threads_share_two_arenas():
    assert arenas("bounded") <= 2
    assert arenas("default") > 2  # the default this guards against: an arena per new thread
