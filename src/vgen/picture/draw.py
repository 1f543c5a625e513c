"""Drawing a raw-frame source: canvases loaded by FFmpeg, frames resampled and blended in threads,
written to FFmpeg's stdin. The side-effect half of the compositor (`source` is the pure half).

Each canvas is loaded in the background shortly before its slide appears and dropped after it,
so memory holds the few canvases on screen, whatever the video's length; frame buffers are
reused, and the numba kernels (`warp`) allocate nothing. `warp` is imported where it is first
used: loading numba's kernels (~0.2 s) then overlaps the start of the render instead of
delaying it (`vgen.run.render` warms it in a thread).
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, TYPE_CHECKING

import numpy as np

from vgen import machine
from vgen.errors import FFmpegError
from vgen.picture.source import Graphic, Layer, Source, sampling
from vgen.run import child

if TYPE_CHECKING:  # numba's kernels load where they are first used (see above)
    from vgen.picture.overlay import Prepared

CANVAS_TIMEOUT_S = 100  # one image: decode, fit, scale (seconds even for a 100-megapixel photo);
# below the default stall timeout, so a stuck image is reported as such


@dataclass
class Planes:
    """A loaded canvas: planes in the form `warp.resample` reads (`warp.prepared`), or a finished frame."""

    y: np.ndarray | None = None
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    frame: bytes | None = None


class ClipReader:
    """A clip's frames for one segment, read one by one from the FFmpeg that decodes and fits them."""

    def __init__(self, layer: Layer, frame_bytes: int) -> None:
        self.layer, self.size = layer, frame_bytes
        # stderr to a file, never a pipe: a damaged clip logs a line per frame, and a full pipe
        # would block FFmpeg (and so this reader) for good.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open while FFmpeg runs; closed in close()
        self.proc = child.popen(list(layer.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log)

    def next(self) -> Planes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(self.size)
        if len(data) != self.size:
            self.proc.kill()
            self.proc.wait()
            self.log.seek(0)
            log = self.log.read()
            self.close()
            raise FFmpegError.from_process(
                f"slide {self.layer.slide + 1}: decoding its clip stopped early",
                log,
                "check the clip decodes (vgen validate)",
                self.layer.argv,
                fallback="no more frames",
            )
        return Planes(frame=data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


def _one_frame(argv: tuple[str, ...], size: int, what: str, retried: str) -> bytes:
    """The one raw frame of `size` bytes an FFmpeg command writes to stdout (a canvas, an overlay);
    a timeout or a short or failed run is an FFmpegError naming `what`."""
    try:
        proc = child.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=CANVAS_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(
            f"{what}: preparing its image took over {CANVAS_TIMEOUT_S} s",
            f"check the image (vgen validate){retried}",
            "",
            " ".join(argv),
        ) from exc
    if proc.returncode != 0 or len(proc.stdout) != size:
        raise FFmpegError.from_process(
            f"{what}: preparing its image failed",
            proc.stderr,
            "check the image decodes (vgen validate)",
            argv,
            fallback=f"{len(proc.stdout)} of {size} bytes",
        )
    return proc.stdout


def load_canvas(layer: Layer) -> Planes:
    """A layer's canvas, from libvips where the source says so (`canvas.load`), else from its FFmpeg
    command; an image libvips fails on goes to FFmpeg (always the same way for the same file)."""
    size = layer.width * layer.height * 3 // 2
    if layer.image is not None:
        from vgen.picture import canvas

        try:
            return planes_of(layer, canvas.load(layer.image))
        except canvas.Error as exc:  # said, not hidden: the segment's name says libvips
            print(f"vgen: slide {layer.slide + 1}: {exc}; its canvas comes from FFmpeg", file=sys.stderr)
    return planes_of(layer, _one_frame(layer.argv, size, f"slide {layer.slide + 1}", "; it is retried"))


def planes_of(layer: Layer, canvas: bytes) -> Planes:
    """A layer's canvas (one raw yuv420p frame of its size) in the form `draw_layer` reads."""
    if layer.move is None:
        return Planes(frame=canvas)
    from vgen.picture import warp

    y, u, v = split(np.frombuffer(canvas, dtype=np.uint8), layer.width, layer.height)
    return Planes(warp.prepared(y), warp.prepared(u), warp.prepared(v))


def load_overlay(g: Graphic) -> Prepared:
    """An overlay's image from FFmpeg, prepared for blending (`overlay.Prepared`)."""
    from vgen.picture import overlay

    frame = _one_frame(g.argv, g.width * g.height * 4, f"overlays[{g.index}]", "")
    return overlay.prepare(frame, g.x, g.y, g.width, g.height)


_scratch = threading.local()


def draw_layer(layer: Layer, planes: Planes, g: int, out: np.ndarray, width: int, height: int) -> None:
    """Frame g of one layer into `out` (a yuv420p frame buffer)."""
    from vgen.picture import warp

    if planes.frame is not None:
        out[:] = np.frombuffer(planes.frame, dtype=np.uint8)
        return
    assert planes.y is not None and planes.u is not None and planes.v is not None
    if not hasattr(_scratch, "bufs"):
        _scratch.bufs = warp.Scratch()
    y, u, v = split(out, width, height)
    s = sampling(layer, g - layer.clip_start, width, height)
    warp.resample(planes.y, s.sx, s.luma[0], s.sy, s.luma[1], y, _scratch.bufs)
    xt = warp.taps(width // 2, s.sx, s.chroma[0], planes.u.shape[0])  # shared by both chroma planes
    warp.resample(planes.u, s.sx, s.chroma[0], s.sy, s.chroma[1], u, _scratch.bufs, xt)
    warp.resample(planes.v, s.sx, s.chroma[0], s.sy, s.chroma[1], v, _scratch.bufs, xt)


def split(buf: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = width * height
    return (
        buf[:n].reshape(height, width),
        buf[n : n * 5 // 4].reshape(height // 2, width // 2),
        buf[n * 5 // 4 :].reshape(height // 2, width // 2),
    )


def draw(
    src: Source,
    loaded: dict[int, Planes],
    g: int,
    out: np.ndarray | None = None,
    overlays: dict[int, Prepared] | None = None,
) -> np.ndarray:
    """Global frame g as one yuv420p buffer (into `out` when given), with the source's overlays
    drawn over it (`overlays`: `load_overlay` of each, by its index in the spec)."""
    out = np.empty(src.frame_bytes, dtype=np.uint8) if out is None else out
    _compose(src, loaded, g, out)
    on = [o for o in src.overlays if o.first <= g < o.end]
    if on:
        from vgen.picture import overlay

        assert overlays is not None, "the source's overlays are loaded before its frames are drawn"
        y, u, v = split(out, src.width, src.height)
        for o in on:
            overlay.blend(overlays[o.index], y, u, v)
    return out


def _compose(src: Source, loaded: dict[int, Planes], g: int, out: np.ndarray) -> None:
    from vgen.picture import transitions

    on = [x for x in src.layers if x.clip_start <= g < x.clip_end]
    if len(on) == 1:
        draw_layer(on[0], loaded[on[0].slide], g, out, src.width, src.height)
        return
    blend = next(b for b in src.blends if b.into == on[-1].slide)
    a, b = _frame_scratch("outgoing", out.size), _frame_scratch("incoming", out.size)
    draw_layer(on[0], loaded[on[0].slide], g, a, src.width, src.height)
    draw_layer(on[-1], loaded[on[-1].slide], g, b, src.width, src.height)
    p = transitions.progress(g - blend.first, blend.frames)  # a Progress: keeps the blends' exact weights
    transitions.draw(blend.type, a, b, out, src.width, src.height, p)  # into a third buffer


def _frame_scratch(name: str, size: int) -> np.ndarray:
    """A frame-sized buffer of this thread, kept between frames."""
    buf = getattr(_scratch, name, None)
    if buf is None or buf.size != size:
        buf = np.empty(size, dtype=np.uint8)
        setattr(_scratch, name, buf)
    return buf


def default_threads() -> int:
    """Composing threads: VGEN_COMPOSE_THREADS, else one core less than this process may use (at
    least 1), so the encoder's own threads keep a core: on 2 cores that renders faster than two."""
    env = os.environ.get("VGEN_COMPOSE_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, machine.usable_cores() - 1)


def frames(src: Source, threads: int = 0, stop: threading.Event | None = None) -> Iterator[np.ndarray]:
    """The source's frames in order, drawn by `threads` workers (0: `default_threads`) a few frames ahead.
    Each canvas is loaded in the background shortly before its slide appears and dropped after it;
    clips are read frame by frame, here, in order. A frame's buffer is reused once the next frame
    is asked for."""
    threads = threads or default_threads()
    ahead = 2 * threads + 2
    early = ahead + 2 * round(Fraction(src.fps))  # start preparing a canvas ~2 s before it shows
    canvases: dict[int, concurrent.futures.Future[Planes]] = {}
    clips: dict[int, ClipReader] = {}
    pending: deque[concurrent.futures.Future[np.ndarray]] = deque()
    free: list[np.ndarray] = []

    def need(g: int) -> dict[int, Planes]:
        for x in src.layers:
            if x.clip_end <= g:
                canvases.pop(x.slide, None)
                if x.slide in clips:
                    clips.pop(x.slide).close()
            elif x.clip_start <= g + early and not x.clip and x.slide not in canvases:
                canvases[x.slide] = loader.submit(load_canvas, x)
        got = {}
        for x in src.layers:
            if x.clip_start <= g < x.clip_end:
                if x.clip:
                    if x.slide not in clips:
                        clips[x.slide] = ClipReader(x, src.frame_bytes)
                    got[x.slide] = clips[x.slide].next()
                else:
                    got[x.slide] = canvases[x.slide].result()
        return got

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="compose")
    loader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvas")
    try:
        marks = {o.index: f.result() for o, f in [(o, loader.submit(load_overlay, o)) for o in src.overlays]}
        for g in range(src.first, src.end):
            if stop is not None and stop.is_set():
                break
            buf = free.pop() if free else np.empty(src.frame_bytes, dtype=np.uint8)
            pending.append(pool.submit(draw, src, need(g), g, buf, marks))
            if len(pending) >= ahead:
                frame = pending.popleft().result()
                yield frame
                free.append(frame)
        while pending:
            yield pending.popleft().result()
    finally:  # stopped, failed or done: queued work is dropped, not waited for
        for reader in clips.values():
            reader.close()
        pool.shutdown(wait=True, cancel_futures=True)  # running draws end within milliseconds
        loader.shutdown(wait=False, cancel_futures=True)


def feed(src: Source, out: IO[bytes], threads: int = 0, stop: threading.Event | None = None) -> int:
    """Write the source's frames to a pipe (FFmpeg's stdin); returns the frames written."""
    fd = out.fileno()
    _grow_pipe(fd)
    count = 0
    for frame in frames(src, threads, stop):
        view = frame.data
        while view:
            view = view[os.write(fd, view) :]
        count += 1
    return count


def _grow_pipe(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux) lets the composer run a little ahead of FFmpeg's reads."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):  # not Linux: the default buffer
        pass
