"""The video filter graph of one segment, built with ffmpeg-python. Pure: nothing runs here.

Each visible slide becomes one stream of exactly its frames inside the segment: an image is
decoded once, fitted, scaled once to its working size and repeated with `loop`; Ken Burns
motion is a sub-pixel `perspective` warp whose corners are expressions of the frame counter
(zoompan rounds to whole pixels and shakes). Streams are joined with xfade or concat.
Timestamps are frame numbers in a 1/fps time base, so offsets are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg as ffm

from vgen.ffmpeg.binary import INPUT_SAFETY
from vgen.model import kenburns
from vgen.model.facts import AVFacts, ImageFacts
from vgen.model.graphics import OverlayTL
from vgen.model.timeline import SlideTL, Timeline

# EXIF orientation -> filters that show the image upright.
_ORIENT: dict[int, list[tuple[str, dict[str, Any]]]] = {
    2: [("hflip", {})],
    3: [("hflip", {}), ("vflip", {})],
    4: [("vflip", {})],
    5: [("transpose", {"dir": 0})],
    6: [("transpose", {"dir": 1})],
    7: [("transpose", {"dir": 3})],
    8: [("transpose", {"dir": 2})],
}
MAX_WORK_FACTOR = 3.0  # never upscale an image more than this for zoom headroom
SCALE_FLAGS = "lanczos+accurate_rnd+full_chroma_int"


def escape_value(value: str) -> str:
    """A string as one filter option value inside a filter graph: escaped for the option parser
    (\\ ' = :) and again for the graph parser (\\ ' [ ] , ;). ffmpeg-python applies exactly this
    to every value it writes (a test holds the two together, with hostile paths and names)."""
    level1 = _escape(value, "\\'=:")
    return _escape(level1, "\\'[],;")


def _escape(text: str, chars: str) -> str:
    out = text.replace("\\", "\\\\")
    for ch in chars.replace("\\", ""):
        out = out.replace(ch, "\\" + ch)
    return out


def rate(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def yuv(stream: Any, pix_fmt: str = "yuv420p") -> Any:
    """Convert to YUV with the matrix and range stated, never left to negotiation: BT.709,
    limited range, whatever the source (full-range JPEG, RGB PNG, a BT.601 clip)."""
    return stream.filter("scale", out_color_matrix="bt709", out_range="tv").filter("format", pix_fmt)


def _timebase(stream: Any, fps: Fraction) -> Any:
    return stream.filter("settb", f"{fps.denominator}/{fps.numerator}").filter("setpts", "N")


def work_factor(slide: SlideTL) -> float:
    """Upscale of the canvas before the per-frame warp: the geometric mean of the move's zooms, so
    the warp never shrinks or enlarges by more than sqrt(zmax/zmin) (little aliasing at the wide
    end, little softness at the close end), and never beyond the source's own resolution."""
    f = slide.facts
    assert isinstance(f, ImageFacts)
    m = slide.move
    if m.is_static and m.z0 == 1.0:
        return 1.0
    k = math.sqrt(m.z0 * m.z1)
    if slide.fit == "cover":
        k = min(k, max(1.0, f.width / slide.canvas_w))
    return max(1.0, min(k, MAX_WORK_FACTOR))


def _upright(stream: Any, facts: ImageFacts) -> Any:
    for name, kw in _ORIENT.get(facts.orientation, []):
        stream = stream.filter(name, **kw)
    if facts.has_alpha:
        stream = stream.filter("format", "rgba").filter("premultiply", inplace=1)
    return stream


def _cover(stream: Any, w: int, h: int) -> Any:
    return stream.filter("scale", w, h, force_original_aspect_ratio="increase", flags=SCALE_FLAGS).filter("crop", w, h)


def _contain(stream: Any, w: int, h: int) -> Any:
    """The whole picture over a blurred, darkened copy of itself filling the frame."""
    split = stream.filter_multi_output("split")
    bg_src, fg_src = split[0], split[1]
    # boxblur (integer arithmetic, two passes ~ a Gaussian): the same pixels in any graph and FFmpeg.
    radius = max(2, round(min(w, h) / 24))
    bg = (
        yuv(_cover(bg_src, w, h))
        .filter("boxblur", luma_radius=radius, luma_power=2, chroma_radius=max(1, radius // 2), chroma_power=2)
        .filter("drawbox", color="black@0.45", thickness="fill")
    )
    fg = fg_src.filter("scale", w, h, force_original_aspect_ratio="decrease", flags=SCALE_FLAGS)
    return ffm.filter([bg, fg], "overlay", x="(W-w)/2", y="(H-h)/2")


@dataclass(frozen=True)
class Canvas:
    """Where a moving image slide's canvas lives: the fitted image scaled by `k` to (cw, ch), of
    which only `box` (x, y, w, h; all even) is kept: every window of the move lies inside it.
    A window at zoom 1 is (win_w, win_h) canvas pixels."""

    k: float
    cw: int
    ch: int
    box: tuple[int, int, int, int]
    win_w: float
    win_h: float


def canvas_geometry(slide: SlideTL, tl: Timeline) -> Canvas | None:
    """The canvas of a moving image slide; None for a still one (its canvas is the frame itself)."""
    move = slide.move
    if move.is_static and move.z0 == 1.0:
        return None
    k = work_factor(slide)
    W, H = tl.width, tl.height
    if slide.fit == "contain":
        cw, ch = round(W * k / 2) * 2, round(H * k / 2) * 2
    else:
        # Even sizes: the box (even start and size, for 4:2:0) can then reach the last column and row.
        cw, ch = math.ceil(slide.canvas_w * k / 2) * 2, math.ceil(slide.canvas_h * k / 2) * 2
    win_w, win_h = W * k, H * k
    box = kenburns.bounding_box(move, slide.frames, cw, ch, win_w, win_h, W, H)
    return Canvas(k, cw, ch, box, win_w, win_h)


def still_window(slide: SlideTL, tl: Timeline) -> tuple[int, int, int, int]:
    """(cw, ch, x, y): a still `cover` slide is scaled to cw x ch and the frame cut from it at
    (x, y). Even offsets: FFmpeg's crop rounds odd ones down on 4:2:0 pictures (a JPEG) but not on
    RGB (a PNG), and libvips' canvases (`picture.canvas`) must cut where FFmpeg's do."""
    move, W, H = slide.move, tl.width, tl.height
    cw, ch = math.ceil(slide.canvas_w), math.ceil(slide.canvas_h)
    x = round(min(max(move.x0 * cw - W / 2, 0), cw - W)) // 2 * 2
    y = round(min(max(move.y0 * ch - H / 2, 0), ch - H)) // 2 * 2
    return cw, ch, x, y


def canvas_stream(inp: Any, slide: SlideTL, tl: Timeline) -> tuple[Any, Canvas | None]:
    """One frame: an image slide upright, fitted and converted to BT.709 yuv420p, either the finished
    still frame or, for a moving slide, the box of its working canvas that the move shows."""
    facts = slide.facts
    assert isinstance(facts, ImageFacts)
    W, H = tl.width, tl.height
    src = _upright(inp, facts)
    geo = canvas_geometry(slide, tl)
    if geo is None:
        if slide.fit == "contain":
            return yuv(_contain(src, W, H)), None
        cw, ch, x, y = still_window(slide, tl)
        return yuv(src.filter("scale", cw, ch, flags=SCALE_FLAGS).filter("crop", W, H, x, y)), None
    if slide.fit == "contain":
        canvas = _contain(src, geo.cw, geo.ch)
    else:
        canvas = src.filter("scale", geo.cw, geo.ch, flags=SCALE_FLAGS)
    bx, by, bw, bh = geo.box
    return yuv(canvas.filter("crop", bw, bh, bx, by)), geo


def image_stream(inp: Any, slide: SlideTL, tl: Timeline, first: int, frames: int) -> Any:
    """`frames` frames of an image slide, starting at frame `first` of its visible clip."""
    W, H = tl.width, tl.height
    canvas, geo = canvas_stream(inp, slide, tl)
    s = _timebase(canvas.filter("loop", loop=frames - 1, size=1), tl.fps)
    if geo is None:
        return s.filter("setsar", 1)
    bx, by, bw, bh = geo.box
    e = kenburns.window_exprs(slide.move, first, slide.frames, geo.cw, geo.ch, geo.win_w, geo.win_h, origin=(bx, by))
    # Output pixel (u, v) shows canvas point (left + u*w/W, top + v*h/H); perspective maps the
    # corners of its whole (bw x bh) output, so the far corners are extrapolated.
    sx, sy = f"({e['width']}/{W})", f"({e['height']}/{H})"
    right, bottom = f"({e['left']}+{bw}*{sx})", f"({e['top']}+{bh}*{sy})"
    s = s.filter(
        "perspective",
        x0=e["left"],
        y0=e["top"],
        x1=right,
        y1=e["top"],
        x2=e["left"],
        y2=bottom,
        x3=right,
        y3=bottom,
        interpolation="cubic",
        sense="source",
        eval="frame",
    )
    return s.filter("crop", W, H, 0, 0).filter("setsar", 1)


def video_stream(inp: Any, slide: SlideTL, tl: Timeline, first: int, frames: int) -> Any:
    """`frames` frames of a looping clip from frame `first` of the slide: decoded from the clip's
    start (no input seeking, whose timing differs between FFmpeg versions) and trimmed."""
    s = inp.filter("fps", rate(tl.fps))
    skip = clip_skip(slide, first, tl.fps)
    s = s.filter("trim", start_frame=skip, end_frame=skip + frames) if skip else s.filter("trim", end_frame=frames)
    s = _contain(s, tl.width, tl.height) if slide.fit == "contain" else _cover(s, tl.width, tl.height)
    return _timebase(yuv(s), tl.fps).filter("setsar", 1)


def clip_skip(slide: SlideTL, first: int, fps: Fraction) -> int:
    """Frames of the looped clip to skip to reach slide frame `first`. FFmpeg's loop moves the clip
    on by exactly `facts.loop` seconds each time (measured, `probe.loop_seconds`): when q loops
    last a whole number p of output frames, the `fps` filter picks the same frames again p frames
    later (the shift is exact in its integer time base), so `first % p` frames lead to the same
    picture as `first`, and a segment decodes at most q loops before its first frame. Unmeasured:
    every frame from the clip's start (exact, slow)."""
    facts = slide.facts
    assert isinstance(facts, AVFacts)
    try:
        period = Fraction(facts.loop) * fps if facts.loop else Fraction(0)  # output frames per loop: p / q
    except (ValueError, ZeroDivisionError):  # given facts (a fan-out job) with a malformed shift
        return first
    return first % period.numerator if period > 0 else first


# What FFmpeg's image2 demuxer decodes a file as, by its extension (libavformat/img2.c).
_BY_EXTENSION = {
    ".jpg": "mjpeg",
    ".jpeg": "mjpeg",
    ".jfif": "mjpeg",
    ".jpe": "mjpeg",
    ".jps": "mjpeg",
    ".mpo": "mjpeg",
    ".png": "png",
    ".webp": "webp",
    ".gif": "gif",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".ppm": "ppm",
    ".tga": "targa",
    ".j2k": "jpeg2000",
    ".jp2": "jpeg2000",
    ".qoi": "qoi",
    ".dds": "dds",
}


def decoder_args(facts: ImageFacts) -> dict[str, str]:
    """The decoder an image needs when its name says another format than its content (a PNG named
    .jpg): image2 goes by the extension, so `validate` (which reads the content) and `render` would
    disagree. Nothing when the name is right, so the usual command stays as it was."""
    if facts.codec and _BY_EXTENSION.get(facts.path.suffix.lower()) != facts.codec:
        return {"vcodec": facts.codec}
    return {}


def image_input(path: Path, facts: ImageFacts, fps: Fraction, shrink: int = 0) -> Any:
    """An image as an ffmpeg-python input: one frame, decoded once, EXIF ignored here (the filters
    turn it upright). `shrink` n > 0: a JPEG is decoded at 1/2^n of its size (DCT scaling, several
    times faster), for pictures far smaller than the image (the storyboard's tiles); renders never
    shrink."""
    decoder = decoder_args(facts)
    jpeg = decoder.get("vcodec", _BY_EXTENSION.get(path.suffix.lower())) == "mjpeg"
    return ffm.input(
        str(path),
        f="image2",
        pattern_type="none",
        framerate=rate(fps),
        noautorotate=None,
        protocol_whitelist="file",
        **decoder,
        **({"lowres": shrink} if shrink and jpeg else {}),
    )


def slide_input(slide: SlideTL, fps: Fraction, shrink: int = 0) -> Any:
    """The ffmpeg-python input of a slide: an image (`image_input`) or a looped clip."""
    if slide.kind == "image":
        assert isinstance(slide.facts, ImageFacts)
        return image_input(slide.source, slide.facts, fps, shrink)
    return ffm.input(str(slide.source), stream_loop=-1, **INPUT_SAFETY)


def _shared_inputs(tl: Timeline, shown: list[tuple[SlideTL, int, int]]) -> list[Any]:
    """One input per distinct file, split when several slides show it:
    decoded once, and ffmpeg-python never merges two uses into one node."""
    keyed: dict[tuple[str, str], list[int]] = {}
    for n, (slide, _, _) in enumerate(shown):
        keyed.setdefault((str(slide.source), slide.kind), []).append(n)
    streams: list[Any] = [None] * len(shown)
    for users in keyed.values():
        slide = shown[users[0]][0]
        inp = slide_input(slide, tl.fps)
        src = inp.video if slide.kind == "image" else inp["v:0"]
        if len(users) == 1:
            streams[users[0]] = src
        else:
            split = src.filter_multi_output("split", len(users))
            for i, n in enumerate(users):
                streams[n] = split[i]
    return streams


def burn_captions(stream: Any, first: int, scripts: tuple[Path, ...], fonts_dir: Path | None) -> Any:
    """ASS scripts (captions, titles) burned in order, timed on the global timeline: frames carry
    their global number while libass draws."""
    s = stream.filter("setpts", f"N+{first}")
    kw = {"fontsdir": str(fonts_dir)} if fonts_dir else {}
    for script in scripts:
        s = s.filter("ass", filename=str(script), **kw)
    return s.filter("setpts", "N")


def overlay_input(o: OverlayTL, fps: Fraction) -> Any:
    """An overlay's image, decoded once (one frame)."""
    return image_input(o.path, o.facts, fps)


def overlay_stream(inp: Any, o: OverlayTL) -> Any:
    """An overlay as one yuva444p frame at its size on the frame: upright, scaled with its colours
    premultiplied (transparent pixels' colours never bleed into the edges: no dark fringes), then
    straight alpha again with the opacity applied once, converted as the slides are (BT.709 limited),
    so a logo's colours match its PNG."""
    s = inp
    for name, kw in _ORIENT.get(o.facts.orientation, []):
        s = s.filter(name, **kw)
    s = s.filter("format", "rgba").filter("premultiply", inplace=1)
    s = s.filter("scale", o.width, o.height, flags=SCALE_FLAGS).filter("unpremultiply", inplace=1)
    if o.opacity < 1:
        s = s.filter("colorchannelmixer", aa=f"{o.opacity:.6g}")
    return yuv(s, "yuva444p")


def draw_overlays(stream: Any, tl: Timeline, first: int, end: int) -> Any:
    """The FFmpeg compositor's overlays over a yuv444p stream of global frames [first, end)."""
    for o in tl.overlays:
        a, b = max(o.first, first) - first, min(o.end, end) - first
        if b <= a:
            continue
        logo = overlay_stream(overlay_input(o, tl.fps).video, o)
        stream = ffm.filter(
            [stream, logo],
            "overlay",
            x=o.x,
            y=o.y,
            format="yuv444",
            eof_action="repeat",
            enable=f"between(n,{a},{b - 1})",
        )
    return stream


def segment_graph(
    tl: Timeline, first: int, end: int, captions: tuple[Path, ...] = (), fonts_dir: Path | None = None
) -> Any:
    """The stream of global frames [first, end): visible slides joined by their transitions,
    overlays over them, captions and titles burned in."""
    shown = [
        (s, max(s.clip_start, first) - s.clip_start, min(s.clip_end, end) - max(s.clip_start, first))
        for s in tl.visible(first, end)
    ]
    acc = None
    for (slide, local, frames), src in zip(shown, _shared_inputs(tl, shown)):
        if slide.kind == "image":
            s = image_stream(src, slide, tl, local, frames)
        else:
            s = video_stream(src, slide, tl, local, frames)
        # xfade works on full-resolution chroma only: convert every stream the same way, so a frame
        # is bit-identical whether or not a transition (or segment cut) is near it.
        s = s.filter("format", "yuv444p")
        if acc is None:
            acc = s
        elif slide.trans_in is not None and slide.clip_start >= first:
            t = slide.trans_in
            acc = ffm.filter(
                [acc, s],
                "xfade",
                transition=t.type,
                duration=f"{float(t.frames / tl.fps):.9g}",
                offset=f"{float((t.first - first) / tl.fps):.9g}",
            )
        else:
            # concat outputs a microsecond time base; xfade needs both inputs in 1/fps.
            acc = _timebase(ffm.filter([acc, s], "concat", n=2, v=1, a=0), tl.fps)
    assert acc is not None, "a segment shows at least one slide"
    acc = draw_overlays(acc, tl, first, end)
    if captions:
        acc = burn_captions(acc, first, captions, fonts_dir)
    return acc.filter("format", "yuv420p")
