"""Progress is a stream of events; the rich bar, JSON lines and RunPod updates are listeners."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID


@dataclass
class Event:
    """One thing that happened. `stage`: plan, segment, audio, join, verify, done, notice."""

    stage: str
    message: str = ""
    segment: int | None = None  # 0-based
    segments: int = 0
    frames: int = 0  # frames done in this step
    frames_total: int = 0
    done_frames: int = 0  # frames done in the whole render
    total_frames: int = 0
    fps: float = 0.0
    speed: float = 0.0  # multiple of real time
    eta_s: float | None = None
    reused: int = 0
    time: float = field(default_factory=time.time)

    @property
    def percent(self) -> float:
        return 100.0 * self.done_frames / self.total_frames if self.total_frames else 0.0


class Listener(Protocol):
    def __call__(self, event: Event) -> None: ...


Emit = Callable[[Event], None]


def null_listener(event: Event) -> None:
    return None


def json_listener(stream: TextIO = sys.stdout) -> Listener:
    def emit(event: Event) -> None:
        d = asdict(event)
        d["percent"] = round(event.percent, 2)
        stream.write(json.dumps({k: v for k, v in d.items() if v not in (None, "")}) + "\n")
        stream.flush()

    return emit


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class RichProgress:
    """Terminal bars: the whole render, and one bar per step running (several with --jobs)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console
        self.bar = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.completed:>7.0f}/{task.total:.0f} fr"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.total: TaskID | None = None
        self.steps: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, e: Event) -> None:
        if e.stage == "notice":
            self.console.print(f"[yellow]notice:[/] {escape(e.message)}")
            return
        if e.stage == "plan":
            self.console.print(f"[bold]plan:[/] {escape(e.message)}")
            self.total = self.bar.add_task("overall", total=e.total_frames, completed=e.done_frames, rate="")
            return
        if self.total is None:
            return
        reused = f" ({e.reused} reused)" if e.reused else ""
        self.bar.update(self.total, completed=e.done_frames, description=f"overall{reused}")
        if e.stage in ("segment", "audio"):
            label = e.message.replace(" done", "").replace(" ready", "")
            finished = e.message.endswith((" done", " ready"))
            if label not in self.steps and not finished:
                self.steps[label] = self.bar.add_task(label, total=e.frames_total or e.total_frames or 1, rate="")
            task = self.steps.get(label)
            if task is not None:
                rate = f"{e.fps:6.1f} fps {e.speed:5.2f}x" if e.fps else ""
                self.bar.update(task, completed=e.frames, rate=rate)
                if finished:
                    self.bar.remove_task(self.steps.pop(label))
