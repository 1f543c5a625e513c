"""The raw-frame source of one segment: a pure description of its frames (the IR dry-run prints).

FFmpeg's `perspective` filter rebuilds a per-pixel table every frame on one core; instead each
image is prepared once by FFmpeg (upright, fitted, scaled to the working size its motion needs,
cropped to the box the move covers, converted to BT.709 yuv420p: `graph.canvas_stream`, the
same steps as the FFmpeg path) and every frame is an exact sub-pixel cubic resample of that
canvas (`vgen.picture.draw`), composed in threads that run beside the encoder. FFmpeg keeps
what it does best: decoding, captions (libass) and encoding.

A `Source` describes the frames of one segment completely: the canvas command of each layer,
its motion, the blends between layers. `dry-run` prints it as JSON, and `python -m vgen.picture
source.json` writes the same frames to stdout. Looping clips are decoded and fitted by FFmpeg and
read frame by frame. A spec with a transition other than the blends below is rendered through
the FFmpeg graph instead (`choose`), all of it, so a frame never depends on where the segments
are cut. Nothing here starts a process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import ffmpeg as ffm

from vgen.ffmpeg import graph
from vgen.ffmpeg.binary import FFmpeg
from vgen.model import kenburns
from vgen.model.graphics import OverlayTL
from vgen.model.timeline import SlideTL, Timeline
from vgen.picture import canvas as image_canvas  # `canvas` is also a Layer field

SOURCE_VERSION = 4  # 2: move and canvas as objects; 3: overlays; 4: libvips canvases (image)


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
    image: image_canvas.Recipe | None = None  # libvips makes the canvas (`canvas`); argv where it cannot


@dataclass(frozen=True)
class Blend:
    """A transition composed here: `type` from `first` for `frames` frames, into layer `into`."""

    type: str
    first: int
    frames: int
    into: int  # slide index of the incoming layer


@dataclass(frozen=True)
class Graphic:
    """An overlay over the composed frames: `argv` writes it as one raw yuva444p frame of
    width x height (straight alpha, opacity applied), drawn at (x, y) on global frames [first, end)."""

    index: int  # in the spec's overlays:
    argv: tuple[str, ...]
    x: int
    y: int
    width: int
    height: int
    first: int
    end: int


@dataclass(frozen=True)
class Source:
    width: int
    height: int
    fps: str
    first: int  # global frames [first, end)
    end: int
    layers: tuple[Layer, ...]
    blends: tuple[Blend, ...] = ()
    overlays: tuple[Graphic, ...] = ()
    version: int = SOURCE_VERSION

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3 // 2

    def to_json(self) -> str:
        """JSON with one line per layer (dry-run prints it)."""
        d = asdict(self)
        layers = ",\n".join("  " + json.dumps(x) for x in d.pop("layers"))
        head = "".join(f" {json.dumps(k)}: {json.dumps(v)},\n" for k, v in d.items())
        return "{\n" + head + f' "layers": [\n{layers}\n ]\n}}'

    @staticmethod
    def from_json(text: str) -> Source:
        d = json.loads(text)
        if d.get("version") != SOURCE_VERSION:
            raise ValueError(f"raw-frame source version {d.get('version')!r}; this vgen reads {SOURCE_VERSION}")
        layers = tuple(
            Layer(
                **{
                    **x,
                    "argv": tuple(x["argv"]),
                    "move": kenburns.Move(**x["move"]) if x["move"] else None,
                    "canvas": graph.Canvas(**{**x["canvas"], "box": tuple(x["canvas"]["box"])})
                    if x["canvas"]
                    else None,
                    "image": image_canvas.Recipe(
                        **{**x["image"], "scale": tuple(x["image"]["scale"]), "crop": tuple(x["image"]["crop"])}
                    )
                    if x.get("image")
                    else None,
                }
            )
            for x in d.pop("layers")
        )
        blends = tuple(Blend(**b) for b in d.pop("blends"))
        overlays = tuple(Graphic(**{**o, "argv": tuple(o["argv"])}) for o in d.pop("overlays"))
        return Source(**d, layers=layers, blends=blends, overlays=overlays)


# --- planning (pure) -------------------------------------------------------------------------


def choose(tl: Timeline, requested: str) -> tuple[str, str | None]:
    """The compositor a render uses: "raw" (vgen draws every frame, every transition included: see
    `transitions`) unless "ffmpeg" is asked for, the filter-graph path kept as the reference the
    tests compare with. Never a fallback; the second value is kept for a notice, always None now."""
    return ("ffmpeg" if requested == "ffmpeg" else "raw"), None


def canvas_argv(ff: FFmpeg, slide: SlideTL, tl: Timeline) -> tuple[tuple[str, ...], graph.Canvas | None]:
    """The FFmpeg command that writes a slide's canvas as one raw yuv420p frame to stdout. One thread:
    it runs beside the composer and the encoder, and threads cost a quarter more CPU on one picture."""
    stream, geo = graph.canvas_stream(graph.slide_input(slide, tl.fps).video, slide, tl)
    return _raw_out(ff, stream, "-filter_complex_threads", "1", "-threads", "1", vframes=1), geo


def _raw_out(ff: FFmpeg, stream: Any, *before_inputs: str, pix_fmt: str = "yuv420p", **kw: Any) -> tuple[str, ...]:
    """The command that writes `stream` as raw video (yuv420p) to stdout, quietly; `before_inputs` go
    ahead of the first input (global options, and input options of the first input)."""
    argv = ffm.output(stream, "pipe:1", f="rawvideo", pix_fmt=pix_fmt, **kw).compile(cmd=ff.path)
    argv[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "error", *before_inputs]
    return tuple(argv)


def clip_argv(ff: FFmpeg, slide: SlideTL, tl: Timeline, first: int, end: int) -> tuple[str, ...]:
    """The FFmpeg command that writes a clip's frames [first, end) (global) as raw yuv420p to stdout."""
    a, b = max(first, slide.clip_start), min(end, slide.clip_end)
    stream = graph.video_stream(graph.slide_input(slide, tl.fps)["v:0"], slide, tl, a - slide.clip_start, b - a)
    return _raw_out(ff, stream)


def build_source(ff: FFmpeg, tl: Timeline, first: int, end: int, vips: str | None = None) -> Source:
    """The source of global frames [first, end). `vips` ("libvips X.Y.Z", `canvas.engine()`): image
    canvases are libvips recipes where it can make them; None: every canvas is an FFmpeg command."""
    layers: list[Layer] = []
    blends: list[Blend] = []
    for s in tl.visible(first, end):
        if s.kind == "video":
            layers.append(
                Layer(
                    s.index,
                    clip_argv(ff, s, tl, first, end),
                    tl.width,
                    tl.height,
                    s.clip_start,
                    s.clip_end,
                    None,
                    clip=True,
                )
            )
        else:
            argv, geo = canvas_argv(ff, s, tl)
            image = image_canvas.recipe(s, tl, geo, vips)
            if geo is None:
                layers.append(Layer(s.index, argv, tl.width, tl.height, s.clip_start, s.clip_end, None, image=image))
            else:
                w, h = geo.box[2], geo.box[3]
                layers.append(Layer(s.index, argv, w, h, s.clip_start, s.clip_end, s.move, geo, image=image))
        t = s.trans_in
        if t is not None and t.first + t.frames > first and t.first < end:
            blends.append(Blend(t.type, t.first, t.frames, s.index))
    graphics = tuple(
        Graphic(o.index, overlay_argv(ff, o, tl), o.x, o.y, o.width, o.height, o.first, o.end)
        for o in tl.overlays
        if o.first < end and o.end > first
    )
    fps = Fraction(tl.fps)
    rate = f"{fps.numerator}/{fps.denominator}"
    return Source(tl.width, tl.height, rate, first, end, tuple(layers), tuple(blends), graphics)


def overlay_argv(ff: FFmpeg, o: OverlayTL, tl: Timeline) -> tuple[str, ...]:
    """The FFmpeg command that writes an overlay as one raw yuva444p frame: the same stream the FFmpeg
    compositor overlays (`graph.overlay_stream`)."""
    stream = graph.overlay_stream(graph.overlay_input(o, tl.fps).video, o)
    return _raw_out(ff, stream, "-filter_complex_threads", "1", "-threads", "1", pix_fmt="yuva444p", vframes=1)


def describe(src: Source) -> str:
    """One line for dry-run: what the raw frames are made of."""
    moving = sum(1 for x in src.layers if x.move is not None)
    clips = sum(1 for x in src.layers if x.clip)
    parts = [
        f"raw yuv420p {src.width}x{src.height} at {src.fps} fps, frames [{src.first}, {src.end}): "
        f"{moving} moving image(s) (exact cubic resample), {len(src.layers) - moving - clips} still, {clips} clip(s)"
    ]
    if src.blends:
        parts.append("blends " + ", ".join(f"{b.type} {b.frames} fr into slide {b.into + 1}" for b in src.blends))
    if src.overlays:
        parts.append(f"{len(src.overlays)} overlay(s)")
    vips = [x.image.engine for x in src.layers if x.image is not None]
    by_ffmpeg = sum(1 for x in src.layers if x.image is None and not x.clip)
    if vips:
        parts.append(f"{len(vips)} canvas(es) by {vips[0]}" + (f", {by_ffmpeg} by FFmpeg" if by_ffmpeg else ""))
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
    return Sampling(
        sx, sy, (left + 0.5 * sx - 0.5, top + 0.5 * sy - 0.5), ((left + 0.5 * sx - 0.5) / 2, (top + sy - 1) / 2)
    )
