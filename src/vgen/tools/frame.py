"""`vgen frame`: exactly the frame a full render shows at a time, from the slides on screen only.

The frame comes from the same raw-frame source or segment graph the render runs, cut to one
frame, so motion, transitions and captions match; it takes about a second even in a two-hour spec.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg as ffm

from vgen.errors import SpecError
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.commands import Command, compile_args, frames_stream
from vgen.files import fsync_rename, partial_path
from vgen.model.spec import clock_seconds
from vgen.model.timeline import Timeline
from vgen.pipeline import load_and_check, pick_compositor
from vgen.run.runner import run


@dataclass(frozen=True)
class FrameResult:
    path: Path
    frame: int
    seconds: float
    slides: tuple[int, ...]  # 1-based numbers of the slides on screen


def parse_time(text: str) -> float:
    """'01:02:03.5', '2:03.5' or '123.5' -> seconds (the spec's own rule for times)."""
    try:
        return clock_seconds(text)
    except ValueError:
        raise SpecError(f"--at {text!r}: not a time", "write it as HH:MM:SS.s, MM:SS.s or seconds") from None


def pick_frame(tl: Timeline, at: float | None, slide: int | None) -> int:
    """The global frame for a time, or the middle of a slide's solo part (slide numbers are 1-based)."""
    if slide is not None:
        if not 1 <= slide <= len(tl.slides):
            raise SpecError(f"--slide {slide}: the spec has slides 1 to {len(tl.slides)}", "pick one of them")
        s = tl.slides[slide - 1]
        lo, hi = s.hold if s.hold[1] > s.hold[0] else (s.clip_start, s.clip_end)
        return (lo + hi - 1) // 2
    assert at is not None
    frame = int(at * float(tl.fps) + 1e-6)  # the frame on screen at that instant
    if not 0 <= frame < tl.total_frames:
        raise SpecError(f"--at {at:.3f} s is outside the video (0 to {tl.seconds:.3f} s)", "pick a time inside it")
    return frame


def render_frame(
    spec_path: str | Path,
    out: Path,
    at: float | None = None,
    slide: int | None = None,
    ff: FFmpeg | None = None,
    compositor: str | None = None,
) -> FrameResult:
    checked = load_and_check(spec_path, ff)
    ff, tl = checked.ff, checked.timeline
    fonts = checked.fonts_dir
    f = pick_frame(tl, at, slide)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vgen-frame-") as tmp:
        work = Path(tmp)
        subs = tuple(c.file_for(work) for c in checked.burned)  # captions and titles, as the render burns them
        for c, path in zip(checked.burned, subs):
            if c.ass_text is not None:
                path.write_text(c.ass_text, encoding="utf-8")
        how, _ = pick_compositor(checked, compositor)
        if how == "raw":
            start = f  # the raw-frame source draws any frame on its own
        else:
            # A frame inside a transition needs the transition from its start (xfade cannot begin midway).
            start = min(
                [
                    s.trans_in.first
                    for s in tl.slides
                    if s.trans_in and s.trans_in.first < f < s.trans_in.first + s.trans_in.frames
                ],
                default=f,
            )
        stream, source = frames_stream(ff, tl, start, f + 1, subs, fonts, how)
        partial = partial_path(out)
        stream = stream.filter("trim", start_frame=f - start) if f > start else stream
        stream = stream.filter("scale", in_color_matrix="bt709", in_range="tv").filter("format", "rgb24")
        o = ffm.output(stream, str(partial), vframes=1, f="image2", update=1, vcodec="png")
        script = work / "frame.graph.txt"
        argv, text = compile_args(ff, o, script)
        run(
            Command(
                "frame",
                argv,
                out,
                partial,
                1,
                0.0,
                script if text else None,
                text,
                source,
                work / "frame.source.json" if source else None,
            )
        )
        fsync_rename(partial, out)
    shown = tuple(s.index + 1 for s in tl.visible(f, f + 1))
    return FrameResult(out, f, tl.frame_time(f), shown)
