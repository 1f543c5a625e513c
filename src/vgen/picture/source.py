"""The raw-frame source: image slides composed in numpy and piped to FFmpeg as raw yuv420p.

FFmpeg's `perspective` filter rebuilds a per-pixel table every frame on one core; here each
image is prepared once by FFmpeg (upright, fitted, scaled to the working size its motion needs,
cropped to the box the move covers, converted to BT.709 yuv420p: `graph.canvas_stream`, the
same steps as the FFmpeg path) and every frame is an exact sub-pixel cubic resample of that
canvas (`warp.resample`), composed in threads that run beside the encoder. FFmpeg keeps what it
does best: decoding, captions (libass) and encoding.

A `Source` describes the frames of one segment completely (it is what `dry-run` prints, as
JSON, and `python -m vgen.picture.source source.json` writes the same frames to stdout). Looping
clips are decoded and fitted by FFmpeg and read frame by frame. A spec with a transition other
than the blends below is rendered through the FFmpeg graph instead (`choose`), all of it, so a
frame never depends on where the segments are cut.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Iterator

import ffmpeg as ffm
import numpy as np

from vgen.run import child
from vgen.ffmpeg import graph
from vgen.model import kenburns
from vgen.errors import FFmpegError
from vgen.ffmpeg.binary import FFmpeg
from vgen.model.timeline import SlideTL, Timeline

BLENDS = ("fade", "fadeblack", "fadewhite")  # transitions composed here; others go through xfade
SOURCE_VERSION = 2  # 2: move and canvas as objects
CANVAS_TIMEOUT_S = 100  # one image: decode, fit, scale (seconds even for a 100-megapixel photo);
# below the default stall timeout, so a stuck image is reported as such


@dataclass(frozen=True)
class Layer:
    """One image slide as the source draws it: its canvas command and its motion on that canvas."""

    slide: int  # 0-based index in the spec
    argv: tuple[str, ...]  # FFmpeg writing the canvas, one raw yuv420p frame, to stdout
    width: int  # canvas (box) size
    height: int
    clip_start: int  # global frames on screen: [clip_start, clip_end)
    clip_end: int
    move: kenburns.Move | None = None  # None: the canvas is the frame itself
    canvas: graph.Canvas | None = None  # where the moving slide's canvas (box) lies
    clip: bool = False  # a video: argv writes its frames of this segment, one after another


@dataclass(frozen=True)
class Blend:
    """A transition composed here: `type` from `first` for `frames` frames, into layer `into`."""

    type: str
    first: int
    frames: int
    into: int  # slide index of the incoming layer


@dataclass(frozen=True)
class Source:
    width: int
    height: int
    fps: str
    first: int  # global frames [first, end)
    end: int
    layers: tuple[Layer, ...]
    blends: tuple[Blend, ...] = ()
    version: int = SOURCE_VERSION

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3 // 2

    def to_json(self) -> str:
        """JSON with one line per layer (dry-run prints it)."""
        d = asdict(self)
        layers = ",\n".join("  " + json.dumps(x) for x in d.pop("layers"))
        head = "".join(f" {json.dumps(k)}: {json.dumps(v)},\n" for k, v in d.items())
        return "{\n" + head + f' "layers": [\n{layers}\n ]\n}}'.replace(' "blends"', ' "blends"')

    @staticmethod
    def from_json(text: str) -> Source:
        d = json.loads(text)
        if d.get("version") != SOURCE_VERSION:
            raise ValueError(f"raw-frame source version {d.get('version')!r}; this vgen reads {SOURCE_VERSION}")
        layers = tuple(Layer(**{**x, "argv": tuple(x["argv"]),
                                "move": kenburns.Move(**x["move"]) if x["move"] else None,
                                "canvas": graph.Canvas(**{**x["canvas"], "box": tuple(x["canvas"]["box"])})
                                if x["canvas"] else None}) for x in d.pop("layers"))
        blends = tuple(Blend(**b) for b in d.pop("blends"))
        return Source(**d, layers=layers, blends=blends)


# --- planning (pure) -------------------------------------------------------------------------


def choose(tl: Timeline, requested: str) -> tuple[str, str | None]:
    """The compositor a render uses, "raw" or "ffmpeg", and a notice when auto cannot use raw frames."""
    if requested == "ffmpeg":
        return "ffmpeg", None
    other = sorted({s.trans_in.type for s in tl.slides if s.trans_in and s.trans_in.type not in BLENDS})
    if other:
        return "ffmpeg", (f"transition(s) {', '.join(other)} come from FFmpeg's xfade: the whole video is composed "
                          f"by FFmpeg's filter graph, which is slower (raw frames do {', '.join(BLENDS)} and cuts)")
    return "raw", None


def _shown(tl: Timeline, first: int, end: int) -> list[SlideTL]:
    return [s for s in tl.slides if s.clip_start < end and s.clip_end > first]


def canvas_argv(ff: FFmpeg, slide: SlideTL, tl: Timeline) -> tuple[tuple[str, ...], graph.Canvas | None]:
    """The FFmpeg command that writes a slide's canvas as one raw yuv420p frame to stdout. One thread:
    it runs beside the composer and the encoder, and threads cost a quarter more CPU on one picture."""
    stream, geo = graph.canvas_stream(graph.slide_input(slide, tl.fps).video, slide, tl)
    return _raw_out(ff, stream, "-filter_complex_threads", "1", "-threads", "1", vframes=1), geo


def _raw_out(ff: FFmpeg, stream: object, *before_inputs: str, **kw: object) -> tuple[str, ...]:
    """The command that writes `stream` as raw yuv420p to stdout, quietly; `before_inputs` go ahead
    of the first input (global options, and input options of the first input)."""
    argv = ffm.output(stream, "pipe:1", f="rawvideo", pix_fmt="yuv420p", **kw).compile(cmd=ff.path)
    argv[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "error", *before_inputs]
    return tuple(argv)


def clip_argv(ff: FFmpeg, slide: SlideTL, tl: Timeline, first: int, end: int) -> tuple[str, ...]:
    """The FFmpeg command that writes a clip's frames [first, end) (global) as raw yuv420p to stdout."""
    a, b = max(first, slide.clip_start), min(end, slide.clip_end)
    stream = graph.video_stream(graph.slide_input(slide, tl.fps)["v:0"], slide, tl, a - slide.clip_start, b - a)
    return _raw_out(ff, stream)


def build_source(ff: FFmpeg, tl: Timeline, first: int, end: int) -> Source:
    layers, blends = [], []
    for s in _shown(tl, first, end):
        if s.kind == "video":
            layers.append(Layer(s.index, clip_argv(ff, s, tl, first, end), tl.width, tl.height, s.clip_start,
                                s.clip_end, None, clip=True))
        else:
            argv, geo = canvas_argv(ff, s, tl)
            if geo is None:
                layers.append(Layer(s.index, argv, tl.width, tl.height, s.clip_start, s.clip_end, None))
            else:
                layers.append(Layer(s.index, argv, geo.box[2], geo.box[3], s.clip_start, s.clip_end, s.move, geo))
        t = s.trans_in
        if t is not None and t.first + t.frames > first and t.first < end:
            blends.append(Blend(t.type, t.first, t.frames, s.index))
    fps = Fraction(tl.fps)
    return Source(tl.width, tl.height, f"{fps.numerator}/{fps.denominator}", first, end, tuple(layers),
                  tuple(blends))


def describe(src: Source) -> str:
    """One line for dry-run: what the raw frames are made of."""
    moving = sum(1 for x in src.layers if x.move is not None)
    clips = sum(1 for x in src.layers if x.clip)
    parts = [f"raw yuv420p {src.width}x{src.height} at {src.fps} fps, frames [{src.first}, {src.end}): "
             f"{moving} moving image(s) (exact cubic resample), {len(src.layers) - moving - clips} still, {clips} clip(s)"]
    if src.blends:
        parts.append("blends " + ", ".join(f"{b.type} {b.frames} fr into slide {b.into + 1}" for b in src.blends))
    return "; ".join(parts)


@dataclass(frozen=True)
class Sampling:
    """Where a layer's frame samples its canvas, per plane: input = scale * output index + offset."""

    sx: float
    sy: float
    luma: tuple[float, float]
    chroma: tuple[float, float]


def sampling(layer: Layer, n: int, width: int, height: int) -> Sampling:
    """Sampling of frame n (0-based) of a moving layer. Output pixel centre u + 0.5 shows canvas point
    left + (u + 0.5) * w / W; chroma is sited left of its luma pair horizontally and between its
    rows vertically (MPEG-2 / H.264 default), so both planes move as one picture."""
    geo = layer.canvas
    assert layer.move is not None and geo is not None
    win = kenburns.window_at(layer.move, n, layer.clip_end - layer.clip_start, geo.cw, geo.ch, geo.win_w, geo.win_h)
    sx, sy = win.width / width, win.height / height
    left, top = win.left - geo.box[0], win.top - geo.box[1]
    return Sampling(sx, sy, (left + 0.5 * sx - 0.5, top + 0.5 * sy - 0.5),
                    ((left + 0.5 * sx - 0.5) / 2, (top + sy - 1) / 2))


def blend_weights(kind: str, i: int, frames: int) -> tuple[float, float, float]:
    """Weights (outgoing, incoming, background) of transition frame i, as FFmpeg's xfade computes
    them (progress runs from 1 to 0; fadeblack/fadewhite pass through the background). The
    background here is video black/white (Y 16/235); xfade's is Y 0/255, below and above them."""
    p = min(max(1.0 - i / frames, 0.0), 1.0)
    if kind == "fade":
        return p, 1.0 - p, 0.0
    s1, s2 = _smoothstep(0.8, 1.0, p), _smoothstep(0.2, 1.0, p)
    a, b = s1 * p, (1 - s2) * (1 - p)
    return a, b, 1.0 - a - b


def _smoothstep(e0: float, e1: float, x: float) -> float:
    t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3 - 2 * t)


# --- drawing (side effects: FFmpeg for canvases, threads, the pipe) ---------------------------


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
        self.log = tempfile.TemporaryFile()
        self.proc = child.popen(list(layer.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=self.log)

    def next(self) -> Planes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(self.size)
        if len(data) != self.size:
            self.close()
            self.log.seek(0)
            err = self.log.read().decode("utf-8", "replace").strip().splitlines()
            raise FFmpegError(f"slide {self.layer.slide + 1}: decoding its clip stopped early: "
                              f"{err[-1] if err else 'no more frames'}", "check the clip decodes (vgen validate)",
                              "\n".join(err[-20:]), " ".join(self.layer.argv))
        return Planes(frame=data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def load_canvas(layer: Layer) -> Planes:
    from vgen.picture import warp

    try:
        proc = child.run(list(layer.argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=CANVAS_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"slide {layer.slide + 1}: preparing its image took over {CANVAS_TIMEOUT_S} s",
                          "check the image (vgen validate); it is retried", "", " ".join(layer.argv)) from exc
    w, h = layer.width, layer.height
    size = w * h * 3 // 2
    if proc.returncode != 0 or len(proc.stdout) != size:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FFmpegError(f"slide {layer.slide + 1}: preparing its image failed: "
                          f"{err[-1] if err else f'{len(proc.stdout)} of {size} bytes'}",
                          "check the image decodes (vgen validate)", "\n".join(err[-20:]), " ".join(layer.argv))
    if layer.move is None:
        return Planes(frame=proc.stdout)
    y, u, v = split(np.frombuffer(proc.stdout, dtype=np.uint8), w, h)
    return Planes(warp.prepared(y), warp.prepared(u), warp.prepared(v))


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
    return (buf[:n].reshape(height, width), buf[n: n * 5 // 4].reshape(height // 2, width // 2),
            buf[n * 5 // 4:].reshape(height // 2, width // 2))


_BACKGROUND = {"fadeblack": (16, 128), "fadewhite": (235, 128)}  # BT.709 limited range Y, Cb/Cr


def draw(src: Source, loaded: dict[int, Planes], g: int, out: np.ndarray | None = None) -> np.ndarray:
    """Global frame g as one yuv420p buffer (into `out` when given)."""
    from vgen.picture import warp

    on = [x for x in src.layers if x.clip_start <= g < x.clip_end]
    out = np.empty(src.frame_bytes, dtype=np.uint8) if out is None else out
    if len(on) == 1:
        draw_layer(on[0], loaded[on[0].slide], g, out, src.width, src.height)
        return out
    blend = next(b for b in src.blends if b.into == on[-1].slide)
    a, b = _frame_scratch("outgoing", out.size), _frame_scratch("incoming", out.size)
    draw_layer(on[0], loaded[on[0].slide], g, a, src.width, src.height)
    draw_layer(on[-1], loaded[on[-1].slide], g, b, src.width, src.height)
    wa, wb, _ = blend_weights(blend.type, g - blend.first, blend.frames)
    luma, chroma = _BACKGROUND.get(blend.type, (0, 0))
    n = src.width * src.height
    warp.mix(a[:n], b[:n], wa, wb, luma, out[:n])  # into a third buffer: see warp.mix
    warp.mix(a[n:], b[n:], wa, wb, chroma, out[n:])
    return out


def _frame_scratch(name: str, size: int) -> np.ndarray:
    """A frame-sized buffer of this thread, kept between frames."""
    buf = getattr(_scratch, name, None)
    if buf is None or buf.size != size:
        buf = np.empty(size, dtype=np.uint8)
        setattr(_scratch, name, buf)
    return buf


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """Composing threads: VGEN_COMPOSE_THREADS, else one core less than this process may use (at
    least 1), so the encoder's own threads keep a core: on 2 cores that renders faster than two."""
    env = os.environ.get("VGEN_COMPOSE_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, usable_cores() - 1)


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
        for g in range(src.first, src.end):
            if stop is not None and stop.is_set():
                break
            buf = free.pop() if free else np.empty(src.frame_bytes, dtype=np.uint8)
            pending.append(pool.submit(draw, src, need(g), g, buf))
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
        view = memoryview(frame)
        while view:
            view = view[os.write(fd, view):]
        count += 1
    return count


def _grow_pipe(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux) lets the composer run a little ahead of FFmpeg's reads."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass


def main(argv: list[str] | None = None) -> int:
    """`python -m vgen.picture.source source.json`: the frames to stdout (what `dry-run` shows)."""
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m vgen.picture.source SOURCE.json > frames.yuv", file=sys.stderr)
        return 2
    src = Source.from_json(Path(args[0]).read_text(encoding="utf-8"))
    try:
        feed(src, sys.stdout.buffer)
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
