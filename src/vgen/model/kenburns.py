"""Ken Burns geometry: pure functions from a move to per-frame windows and FFmpeg expressions.

Coordinates live on the *canvas*: the image fitted to the output (cover) or the composed
contain frame, scaled by a working factor `k` so the most zoomed window still has about one
source pixel per output pixel. A window is the part of the canvas shown in one frame.
Zoom is interpolated geometrically (constant apparent speed) and positions linearly, both
through the easing curve, with no rounding anywhere: motion is sub-pixel smooth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from vgen.model.spec import KEN_BURNS_PRESETS, KenBurns, KenBurnsMove

PRESET_ZOOM = 1.2
EXACT_FRAMES = 100_000  # moves up to this long (55 minutes at 30 fps) visit every frame's window
SAMPLES = 4_097  # zoom of the pan presets and the far end of the zoom presets


@dataclass(frozen=True)
class Move:
    """A resolved move: zoom and focal point at the first and last frame, and the easing."""

    z0: float
    x0: float
    y0: float
    z1: float
    x1: float
    y1: float
    easing: str = "linear"

    @property
    def is_static(self) -> bool:
        return (self.z0, self.x0, self.y0) == (self.z1, self.x1, self.y1)

    @property
    def max_zoom(self) -> float:
        return max(self.z0, self.z1)


@dataclass(frozen=True)
class Window:
    left: float
    top: float
    width: float
    height: float


def _pan_limits(zoom: float, canvas: float, frame: float) -> tuple[float, float]:
    """Focal range (0..1) over which a window of this zoom moves without clamping."""
    half = frame / zoom / 2 / canvas
    return half, 1 - half


def resolve(kb: KenBurns, index: int, canvas_w: float, canvas_h: float, out_w: int, out_h: int) -> Move:
    """Turn a spec value (auto, none, preset or explicit move) into a Move for slide `index`."""
    if isinstance(kb, KenBurnsMove):
        f, t = kb.from_, kb.to
        return Move(f.zoom, f.x, f.y, t.zoom, t.x, t.y, kb.easing)
    name = KEN_BURNS_PRESETS[index % len(KEN_BURNS_PRESETS)] if kb == "auto" else kb
    if name == "none":
        return Move(1.0, 0.5, 0.5, 1.0, 0.5, 0.5)
    if name == "zoom-in":
        return Move(1.0, 0.5, 0.5, PRESET_ZOOM, 0.5, 0.5)
    if name == "zoom-out":
        return Move(PRESET_ZOOM, 0.5, 0.5, 1.0, 0.5, 0.5)
    lo_x, hi_x = _pan_limits(PRESET_ZOOM, canvas_w, out_w)
    lo_y, hi_y = _pan_limits(PRESET_ZOOM, canvas_h, out_h)
    z = PRESET_ZOOM
    return {
        "pan-left": Move(z, hi_x, 0.5, z, lo_x, 0.5),
        "pan-right": Move(z, lo_x, 0.5, z, hi_x, 0.5),
        "pan-up": Move(z, 0.5, hi_y, z, 0.5, lo_y),
        "pan-down": Move(z, 0.5, lo_y, z, 0.5, hi_y),
    }[name]


def ease(easing: str, p: float) -> float:
    p = min(max(p, 0.0), 1.0)
    if easing == "ease-in":
        return 1 - math.cos(p * math.pi / 2)
    if easing == "ease-out":
        return math.sin(p * math.pi / 2)
    if easing == "ease-in-out":
        return 0.5 - 0.5 * math.cos(math.pi * p)
    return p


def window_at(move: Move, n: int, frames: int, canvas_w: float, canvas_h: float, win_w: float, win_h: float) -> Window:
    """The window of frame n (0-based) of a `frames`-long move; win_w/h is the window at zoom 1."""
    e = ease(move.easing, n / max(frames - 1, 1))
    z = move.z0 * math.exp(math.log(move.z1 / move.z0) * e)
    w, h = win_w / z, win_h / z
    cx = min(max((move.x0 + (move.x1 - move.x0) * e) * canvas_w, w / 2), canvas_w - w / 2)
    cy = min(max((move.y0 + (move.y1 - move.y0) * e) * canvas_h, h / 2), canvas_h - h / 2)
    return Window(cx - w / 2, cy - h / 2, w, h)


def _num(v: float) -> str:
    return f"{v:.10g}"


def ease_expr(easing: str, p: str) -> str:
    if easing == "ease-in":
        return f"(1-cos({p}*PI/2))"
    if easing == "ease-out":
        return f"sin({p}*PI/2)"
    if easing == "ease-in-out":
        return f"(0.5-0.5*cos(PI*{p}))"
    return p


def window_exprs(
    move: Move,
    first: int,
    frames: int,
    canvas_w: float,
    canvas_h: float,
    win_w: float,
    win_h: float,
    origin: tuple[float, float] = (0.0, 0.0),
) -> dict[str, str]:
    """FFmpeg expressions (of perspective's frame counter `in`, which starts at 1) for the window's
    left, top, width and height, relative to `origin`; the filter's first frame is frame `first`
    of the move. Clamping uses min/max: FFmpeg's clip() is NaN when its bounds touch."""
    p = f"max(0,min(1,(in-1+{first})/{max(frames - 1, 1)}))"
    e = ease_expr(move.easing, p)
    ratio = math.log(move.z1 / move.z0)
    z = _num(move.z0) if ratio == 0 else f"({_num(move.z0)}*exp({_num(ratio)}*{e}))"
    w, h = f"({_num(win_w)}/{z})", f"({_num(win_h)}/{z})"
    fx = (
        _num(move.x0 * canvas_w)
        if move.x0 == move.x1
        else f"(({_num(move.x0)}+{_num(move.x1 - move.x0)}*{e})*{_num(canvas_w)})"
    )
    fy = (
        _num(move.y0 * canvas_h)
        if move.y0 == move.y1
        else f"(({_num(move.y0)}+{_num(move.y1 - move.y0)}*{e})*{_num(canvas_h)})"
    )
    left = f"(max({w}/2,min({fx},{_num(canvas_w)}-{w}/2))-{w}/2-{_num(origin[0])})"
    top = f"(max({h}/2,min({fy},{_num(canvas_h)}-{h}/2))-{h}/2-{_num(origin[1])})"
    return {"left": left, "top": top, "width": w, "height": h}


def bounding_box(
    move: Move, frames: int, canvas_w: float, canvas_h: float, win_w: float, win_h: float, min_w: int, min_h: int
) -> tuple[int, int, int, int]:
    """Integer (x, y, w, h) on the canvas holding every window of the move, at least min_w x min_h,
    x, y, w and h even. Up to EXACT_FRAMES frames every window is visited (in constant memory);
    a longer move is sampled at SAMPLES evenly spaced frames and the box widened by the largest
    step between neighbouring samples, so planning a slide of hours costs what one of minutes does.
    The windows are smooth in the frame number, so the widened box still holds every one of them."""
    if frames <= EXACT_FRAMES:
        picks: Iterable[int] = range(frames)
    else:
        picks = sorted({round(k * (frames - 1) / (SAMPLES - 1)) for k in range(SAMPLES)})
    inf = float("inf")
    lo_x = lo_y = inf
    hi_x = hi_y = -inf
    step = [0.0, 0.0, 0.0, 0.0]
    last: tuple[float, float, float, float] | None = None
    for n in picks:
        w = window_at(move, n, frames, canvas_w, canvas_h, win_w, win_h)
        edges = (w.left, w.top, w.left + w.width, w.top + w.height)
        lo_x, lo_y, hi_x, hi_y = min(lo_x, edges[0]), min(lo_y, edges[1]), max(hi_x, edges[2]), max(hi_y, edges[3])
        if last is not None and frames > EXACT_FRAMES:
            step = [max(s, abs(a - b)) for s, a, b in zip(step, edges, last)]
        last = edges
    x0 = math.floor(lo_x - step[0])
    y0 = math.floor(lo_y - step[1])
    x1 = math.ceil(hi_x + step[2])
    y1 = math.ceil(hi_y + step[3])
    cw, ch = math.floor(canvas_w), math.floor(canvas_h)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cw), min(y1, ch)
    x0, x1 = _grow(x0, x1, min_w, cw)
    y0, y1 = _grow(y0, y1, min_h, ch)
    return x0, y0, x1 - x0, y1 - y0


def _grow(a: int, b: int, size: int, limit: int) -> tuple[int, int]:
    """Widen [a, b) to at least `size`, both start and size even (4:2:0 chroma stays aligned when
    the box is cropped), staying inside [0, limit)."""
    size = max(size, b - a + a % 2)
    size += size % 2
    if size > limit - limit % 2:
        return 0, limit - limit % 2
    a = min(a - a % 2, limit - size)
    a -= a % 2
    return a, a + size
