"""Run one FFmpeg command: progress events, a stall watchdog, the stderr tail on failure."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vgen.errors import FFmpegError, VgenError
from vgen.ffmpeg.commands import Command
from vgen.picture.draw import feed
from vgen.run import child

ProgressFn = Callable[[int, float, float], None]  # frames, seconds of output, speed


class Interrupted(KeyboardInterrupt):
    """vgen was asked to stop (SIGINT/SIGTERM); FFmpeg was stopped, finished pieces are kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


_lock = threading.RLock()  # re-entrant: the signal handler may run while the main thread holds it
_active: set[subprocess.Popen[bytes]] = set()
_stop = threading.Event()
_stop_signal = [int(signal.SIGINT)]


def request_stop(signum: int) -> None:
    """From a signal handler: stop every running FFmpeg; the runs then raise Interrupted.
    Nothing is raised here, so no half-started process or half-written file is left behind."""
    _stop_signal[0] = signum
    _stop.set()
    with _lock:
        procs = list(_active)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def reset_stop() -> None:
    """Accept runs again (a worker's next job after a cancelled one)."""
    _stop.clear()


class Stalled(FFmpegError):
    """FFmpeg stopped making progress and was killed by the watchdog."""


class DiskFull(FFmpegError):
    """The disk filled up while writing: retrying cannot help, freeing space can."""


def disk_full(label: str, folder: Path, stderr_tail: str = "", command: str = "") -> DiskFull:
    free = shutil.disk_usage(folder).free
    return DiskFull(
        f"{label}: the disk is full writing {folder} ({free / 1e6:.0f} MB free)",
        "free space (or use --work-dir on a bigger disk) and run the same command: finished segments are kept",
        stderr_tail,
        command,
    )


@dataclass
class RunResult:
    seconds: float
    stderr_tail: str


def _speed(value: str) -> float:
    try:
        return float(value.rstrip("x"))
    except ValueError:
        return 0.0


def run(cmd: Command, on_progress: ProgressFn | None = None, stall_timeout: float = 120.0) -> RunResult:
    """Run `cmd`; kill it when its progress stops for `stall_timeout` s; raise FFmpegError on failure."""
    if cmd.script is not None:
        cmd.script.parent.mkdir(parents=True, exist_ok=True)
        cmd.script.write_text(cmd.script_text, encoding="utf-8")
    if cmd.source_file is not None and cmd.source is not None:
        cmd.source_file.parent.mkdir(parents=True, exist_ok=True)
        cmd.source_file.write_text(cmd.source.to_json(), encoding="utf-8")  # the shell form reads it
    cmd.tmp.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _lock:
        if _stop.is_set():
            raise Interrupted(_stop_signal[0])
        proc = child.popen(
            list(cmd.argv),
            stdin=subprocess.PIPE if cmd.source else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C is ours to handle; we stop FFmpeg ourselves
        )
        _active.add(proc)
    if _stop.is_set():  # a stop that came while FFmpeg was starting
        _kill(proc)
    tail: collections.deque[str] = collections.deque(maxlen=60)
    last_progress = [time.monotonic()]
    stalled = threading.Event()

    def read_err() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)

    def watchdog() -> None:
        while proc.poll() is None:
            if time.monotonic() - last_progress[0] > stall_timeout:
                stalled.set()
                _kill(proc)
                return
            time.sleep(min(1.0, stall_timeout / 4))

    fed: list[BaseException] = []

    def feeder() -> None:
        """Compose the raw frames into FFmpeg's stdin; a failure stops FFmpeg and is raised below."""
        assert proc.stdin is not None and cmd.source is not None
        try:
            feed(cmd.source, proc.stdin, stop=_stop)
        except BrokenPipeError:
            pass  # FFmpeg stopped reading: its own error (or a stop) is what gets reported
        except BaseException as exc:
            fed.append(exc)
            _kill(proc)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    frames, out_s, speed = 0, 0.0, 0.0
    try:
        err_thread = threading.Thread(target=read_err, daemon=True)
        dog = threading.Thread(target=watchdog, daemon=True)
        err_thread.start()
        dog.start()
        if cmd.source is not None:
            feed_thread = threading.Thread(target=feeder, daemon=True, name="feed")
            feed_thread.start()
        assert proc.stdout is not None
        for raw in proc.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            if key == "frame":
                frames = int(value or 0)
            elif key == "out_time_us" and value.strip().lstrip("-").isdigit():
                out_s = max(0.0, int(value) / 1e6)
            elif key == "speed":
                speed = _speed(value)
            elif key == "progress":
                last_progress[0] = time.monotonic()
                if on_progress:
                    on_progress(frames, out_s, speed)
        rc = proc.wait()
        if cmd.source is not None:
            feed_thread.join(timeout=30)  # it ends once FFmpeg's stdin is gone; never hang on it
    except BaseException:
        _kill(proc)
        raise
    finally:
        with _lock:
            _active.discard(proc)
    if _stop.is_set():
        raise Interrupted(_stop_signal[0])
    err_thread.join(timeout=5)
    if fed:
        if isinstance(fed[0], VgenError):
            raise fed[0]
        raise FFmpegError(
            f"{cmd.label}: composing its frames failed: {fed[0]!r}",
            "this is a vgen bug; please report it (rerun with --debug for the traceback)",
        ) from fed[0]
    text = "\n".join(tail)
    short = "\n".join(list(tail)[-20:])
    if stalled.is_set():
        raise Stalled(
            f"{cmd.label}: FFmpeg made no progress for {stall_timeout:.0f} s and was stopped",
            "it is retried; raise --stall-timeout for very slow machines",
            short,
            cmd.shell(),
        )
    if "No space left on device" in text or "Disk quota exceeded" in text:
        raise disk_full(cmd.label, cmd.tmp.parent, short, cmd.shell())
    if rc != 0:
        last = tail[-1] if tail else f"exit code {rc}"
        raise FFmpegError(
            f"{cmd.label} failed: {last}", "see the FFmpeg output above; rerun to resume", short, cmd.shell()
        )
    return RunResult(time.monotonic() - started, text)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop FFmpeg: SIGTERM lets it close its files; SIGKILL if it does not within 5 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
