"""`vgen thumbnail`: a YouTube thumbnail from the exact frame at a time, with a title over it.

The frame is `vgen frame`'s (graphics included), fitted to 1280x720 (cover: scaled and centre-
cropped), the title drawn by libass in the `thumbnail` style (the spec's `styles.thumbnail`
over the built-in one), written as a JPEG under YouTube's 2 MB cap: the quality is lowered
step by step until it fits.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vgen.errors import FFmpegError
from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg
from vgen.ffmpeg.captions import to_ass
from vgen.ffmpeg.graph import escape_value
from vgen.ffmpeg.titles import event, style_line
from vgen.files import fsync_rename, partial_path
from vgen.model.graphics import TitleTL, look
from vgen.model.spec import SubtitleStyle, TextStyle, load_spec
from vgen.run import child
from vgen.tools.frame import render_frame

WIDTH, HEIGHT = 1280, 720
MAX_BYTES = 2 * 1024 * 1024  # YouTube's limit for a custom thumbnail
QUALITIES = (2, 3, 4, 6, 8, 11, 15, 20, 31)  # FFmpeg's -q:v for MJPEG: 2 is the best


@dataclass(frozen=True)
class ThumbnailResult:
    path: Path
    frame: int
    seconds: float
    bytes: int


def thumbnail_ass(title: str, styles: dict[str, TextStyle], width: int = WIDTH, height: int = HEIGHT) -> str:
    """The ASS script of a thumbnail's title: one event over the still (its frame at time 0), in
    the thumbnail style."""
    t = TitleTL(0, title, 0, 10, "thumbnail", look("thumbnail", styles, width, height), "none")
    line = event(t, Fraction(1), width, height)
    return to_ass((), SubtitleStyle(), width, height, styles=(style_line("thumbnail", t.look),), events=(line,))


def render_thumbnail(
    spec_path: str | Path, out: Path, at: float, title: str | None = None, ff: FFmpeg | None = None
) -> ThumbnailResult:
    ff = ff or find_ffmpeg()
    loaded = load_spec(spec_path)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vgen-thumb-") as tmp:
        work = Path(tmp)
        shot = render_frame(spec_path, work / "frame.png", at=at, ff=ff)
        vf = f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase:flags=lanczos,crop={WIDTH}:{HEIGHT},setsar=1"
        if title:
            script = work / "title.ass"
            script.write_text(thumbnail_ass(title, loaded.spec.styles), encoding="utf-8")
            fonts = loaded.spec.fonts
            fontsdir = f":fontsdir={escape_value(str(loaded.resolve(fonts[1]).resolve()))}" if fonts else ""
            vf += f",ass=filename={escape_value(str(script))}{fontsdir}"
        partial = partial_path(out)
        size = 0
        for q in QUALITIES:
            argv = [ff.path, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(shot.path), "-vf", vf]
            argv += ["-frames:v", "1", "-q:v", str(q), "-pix_fmt", "yuvj420p", "-f", "image2", str(partial)]
            proc = child.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
            if proc.returncode != 0:
                raise FFmpegError.from_process("the thumbnail could not be written", proc.stderr, "", argv)
            size = partial.stat().st_size
            if size <= MAX_BYTES:
                break
        fsync_rename(partial, out)
    return ThumbnailResult(out, shot.frame, shot.seconds, size)
