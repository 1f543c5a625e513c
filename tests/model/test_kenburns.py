"""Ken Burns geometry: resolving moves, easing, per-frame windows, their FFmpeg expressions, the bounding box."""

from __future__ import annotations

import math
import re

import pytest

from vgen.model import kenburns as kb
from vgen.model.kenburns import Move, bounding_box, ease, resolve, window_at, window_exprs
from vgen.model.spec import KEN_BURNS_PRESETS, KenBurnsMove

EASINGS = ("linear", "ease-in", "ease-out", "ease-in-out")
# Canvas (cover-fitted 4:3 image on a 16:9 frame at working factor 1) and the frame.
CW, CH, W, H = 320.0, 240.0, 320, 180

MOVES = [
    Move(1.0, 0.5, 0.5, 1.5, 0.5, 0.5),
    Move(1.3, 0.2, 0.8, 1.0, 0.9, 0.1, "ease-in-out"),
    Move(2.0, 0.0, 0.0, 2.0, 1.0, 1.0, "ease-in"),  # focal points at the corners: clamped
    Move(1.0, 0.5, 0.5, 4.0, 0.7, 0.3, "ease-out"),
    Move(1.2, 0.5, 0.4, 1.2, 0.5, 0.6),
]


def explicit(data) -> KenBurnsMove:
    return KenBurnsMove.model_validate(data)


# --- resolve --------------------------------------------------------------------------------


def test_zoom_presets_and_none():
    z = kb.PRESET_ZOOM
    assert z > 1
    assert resolve("none", 3, CW, CH, W, H) == Move(1.0, 0.5, 0.5, 1.0, 0.5, 0.5)
    assert resolve("none", 3, CW, CH, W, H).is_static
    assert resolve("zoom-in", 0, CW, CH, W, H) == Move(1.0, 0.5, 0.5, z, 0.5, 0.5)
    assert resolve("zoom-out", 0, CW, CH, W, H) == Move(z, 0.5, 0.5, 1.0, 0.5, 0.5)


@pytest.mark.parametrize(
    ("name", "axis", "sign"), [("pan-left", "x", -1), ("pan-right", "x", 1), ("pan-up", "y", -1), ("pan-down", "y", 1)]
)
def test_pan_presets_run_edge_to_edge_without_clamping(name, axis, sign):
    """A pan uses the whole travel of its window: the first and last windows touch opposite edges."""
    m = resolve(name, 0, CW, CH, W, H)
    assert m.z0 == m.z1 == kb.PRESET_ZOOM and not m.is_static
    other = (m.y0, m.y1) if axis == "x" else (m.x0, m.x1)
    assert other == (0.5, 0.5)
    a, b = (m.x0, m.x1) if axis == "x" else (m.y0, m.y1)
    assert (b - a) * sign > 0  # moves the named way
    frames = 50
    first = window_at(m, 0, frames, CW, CH, W, H)
    last = window_at(m, frames - 1, frames, CW, CH, W, H)
    lo = lambda w: w.left if axis == "x" else w.top  # noqa: E731
    hi = lambda w: (w.left + w.width) if axis == "x" else (w.top + w.height)  # noqa: E731
    size = CW if axis == "x" else CH
    start, end = (first, last) if sign < 0 else (last, first)
    assert hi(start) == pytest.approx(size) and lo(end) == pytest.approx(0.0, abs=1e-9)
    # No clamping on the way: the window's centre follows the focal point exactly at every frame.
    for n in range(frames):
        w = window_at(m, n, frames, CW, CH, W, H)
        focal = a + (b - a) * n / (frames - 1)
        centre = (w.left + w.width / 2) / CW if axis == "x" else (w.top + w.height / 2) / CH
        assert centre == pytest.approx(focal)


def test_auto_cycles_the_presets_by_slide_index():
    moves = [resolve("auto", i, CW, CH, W, H) for i in range(2 * len(KEN_BURNS_PRESETS))]
    for i, m in enumerate(moves):
        assert m == resolve(KEN_BURNS_PRESETS[i % len(KEN_BURNS_PRESETS)], i, CW, CH, W, H)
    n = len(KEN_BURNS_PRESETS)
    assert moves[:n] == moves[n:]
    assert len(set(moves[:n])) == n  # every preset once per cycle
    assert moves[0] == resolve("zoom-in", 0, CW, CH, W, H)


def test_explicit_moves_are_taken_as_written():
    m = resolve(
        explicit(
            {"from": {"zoom": 1.1, "x": 0.2, "y": 0.3}, "to": {"zoom": 2.5, "x": 0.8, "y": 0.6}, "easing": "ease-in"}
        ),
        4,
        CW,
        CH,
        W,
        H,
    )
    assert m == Move(1.1, 0.2, 0.3, 2.5, 0.8, 0.6, "ease-in")
    assert m.max_zoom == 2.5
    # Omitted points are the whole frame, centred; the index plays no part.
    half = resolve(explicit({"to": {"zoom": 2.0}}), 1, CW, CH, W, H)
    assert half == resolve(explicit({"to": {"zoom": 2.0}}), 5, CW, CH, W, H) == Move(1.0, 0.5, 0.5, 2.0, 0.5, 0.5)


# --- ease -----------------------------------------------------------------------------------


@pytest.mark.parametrize("easing", EASINGS)
def test_ease_runs_from_0_to_1_monotonically_and_clamps(easing):
    assert ease(easing, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert ease(easing, 1.0) == pytest.approx(1.0)
    assert ease(easing, -0.5) == ease(easing, 0.0) and ease(easing, 1.5) == ease(easing, 1.0)
    values = [ease(easing, i / 200) for i in range(201)]
    assert all(b > a for a, b in zip(values, values[1:]))


def test_ease_shapes():
    assert ease("linear", 0.3) == 0.3
    assert ease("ease-in", 0.3) < 0.3 < ease("ease-out", 0.3)
    assert ease("ease-in-out", 0.5) == pytest.approx(0.5)
    for i in range(1, 50):
        p = i / 100
        assert ease("ease-in-out", p) + ease("ease-in-out", 1 - p) == pytest.approx(1.0)
        assert ease("ease-in-out", p) < p  # slow start, slow end
        assert ease("ease-in", p) + ease("ease-out", 1 - p) == pytest.approx(1.0)  # mirror images


# --- window_at ------------------------------------------------------------------------------


def test_zoom_is_interpolated_geometrically():
    """Half-way through a linear 1 -> 4 zoom the window is 1/2 of the frame (the geometric mean), not 1/2.5."""
    m = Move(1.0, 0.5, 0.5, 4.0, 0.5, 0.5)
    frames = 101
    mid = window_at(m, 50, frames, 1000.0, 600.0, 1000.0, 600.0)
    first = window_at(m, 0, frames, 1000.0, 600.0, 1000.0, 600.0)
    last = window_at(m, 100, frames, 1000.0, 600.0, 1000.0, 600.0)
    assert mid.width == pytest.approx(math.sqrt(first.width * last.width)) == pytest.approx(500.0)
    assert mid.height == pytest.approx(300.0)
    # Constant apparent speed: the ratio between neighbouring frames never changes.
    widths = [window_at(m, n, frames, 1000.0, 600.0, 1000.0, 600.0).width for n in range(frames)]
    ratios = [b / a for a, b in zip(widths, widths[1:])]
    assert max(ratios) == pytest.approx(min(ratios))


@pytest.mark.parametrize("move", MOVES)
def test_first_and_last_windows_are_the_from_and_to_points(move):
    frames = 40
    for n, (z, x, y) in ((0, (move.z0, move.x0, move.y0)), (frames - 1, (move.z1, move.x1, move.y1))):
        w = window_at(move, n, frames, CW, CH, W, H)
        assert (w.width, w.height) == (pytest.approx(W / z), pytest.approx(H / z))
        # The centre is the focal point, moved in just far enough for the window to fit.
        cx = min(max(x * CW, w.width / 2), CW - w.width / 2)
        cy = min(max(y * CH, w.height / 2), CH - w.height / 2)
        assert (w.left + w.width / 2, w.top + w.height / 2) == (pytest.approx(cx), pytest.approx(cy))


def test_an_unclamped_move_starts_and_ends_exactly_on_its_points():
    m = Move(1.5, 0.4, 0.45, 2.0, 0.6, 0.55, "ease-in-out")
    a, b = window_at(m, 0, 25, CW, CH, W, H), window_at(m, 24, 25, CW, CH, W, H)
    assert (a.left + a.width / 2, a.top + a.height / 2) == (pytest.approx(0.4 * CW), pytest.approx(0.45 * CH))
    assert (b.left + b.width / 2, b.top + b.height / 2) == (pytest.approx(0.6 * CW), pytest.approx(0.55 * CH))
    assert (a.width, b.width) == (pytest.approx(W / 1.5), pytest.approx(W / 2.0))


@pytest.mark.parametrize("move", MOVES)
def test_windows_stay_inside_the_canvas(move):
    frames = 60
    for n in range(frames):
        w = window_at(move, n, frames, CW, CH, W, H)
        assert w.left >= -1e-9 and w.top >= -1e-9
        assert w.left + w.width <= CW + 1e-9 and w.top + w.height <= CH + 1e-9


def test_a_one_frame_move_shows_its_start():
    m = Move(1.0, 0.5, 0.5, 2.0, 0.5, 0.5)
    w = window_at(m, 0, 1, CW, CH, W, H)
    assert w.width == pytest.approx(W)


# --- window_exprs ---------------------------------------------------------------------------

_FUNCS = {"min": min, "max": max, "exp": math.exp, "cos": math.cos, "sin": math.sin, "PI": math.pi}


def evaluate(expr: str, counter: int) -> float:
    """An FFmpeg expression of perspective's `in`, evaluated in Python; only numbers, operators,
    parentheses, commas and the names FFmpeg's evaluator provides here are allowed."""
    names = set(re.findall(r"[A-Za-z_]\w*", expr.replace("e+", "").replace("e-", "")))
    assert names <= {*_FUNCS, "in"}, names
    assert re.fullmatch(r"[\w\s.+\-*/(),]*", expr), expr
    return eval(re.sub(r"\bin\b", "IN", expr), {"__builtins__": {}}, {**_FUNCS, "IN": counter})


@pytest.mark.parametrize("move", MOVES)
@pytest.mark.parametrize(("first", "origin"), [(0, (0.0, 0.0)), (17, (12.0, 6.0))])
def test_expressions_agree_with_window_at(move, first, origin):
    frames = 48
    ex = window_exprs(move, first, frames, CW, CH, W, H, origin)
    assert set(ex) == {"left", "top", "width", "height"}
    for n in (0, 1, 5, frames - first - 1, frames - first + 3):  # the last one is past the move: held
        want = window_at(move, first + n, frames, CW, CH, W, H)
        got = {k: evaluate(v, n + 1) for k, v in ex.items()}  # `in` counts from 1
        assert got["left"] == pytest.approx(want.left - origin[0], abs=1e-6)
        assert got["top"] == pytest.approx(want.top - origin[1], abs=1e-6)
        assert got["width"] == pytest.approx(want.width, abs=1e-6)
        assert got["height"] == pytest.approx(want.height, abs=1e-6)


def test_a_still_zoom_or_still_focus_gives_constant_expressions():
    ex = window_exprs(Move(1.2, 0.3, 0.7, 1.2, 0.3, 0.7), 0, 30, CW, CH, W, H)
    assert "in" not in ex["width"] and "exp" not in ex["width"]
    assert evaluate(ex["width"], 1) == pytest.approx(W / 1.2)
    zoom_only = window_exprs(Move(1.0, 0.5, 0.5, 2.0, 0.5, 0.5), 0, 30, CW, CH, W, H)
    assert "in" in zoom_only["width"] and evaluate(zoom_only["width"], 30) == pytest.approx(W / 2)


def test_expressions_have_no_clip_function():
    """FFmpeg's clip() is NaN when its bounds touch: clamping is written with min/max."""
    for move in MOVES:
        for v in window_exprs(move, 3, 20, CW, CH, W, H).values():
            assert "clip(" not in v


# --- bounding_box ---------------------------------------------------------------------------


@pytest.mark.parametrize("move", MOVES)
@pytest.mark.parametrize(("cw", "ch"), [(CW, CH), (642.0, 362.0), (960.0, 540.0)])
def test_bounding_box_holds_every_window_and_is_even(move, cw, ch):
    frames = 36
    win_w, win_h = cw * W / CW, cw * W / CW * H / W
    x, y, w, h = bounding_box(move, frames, cw, ch, win_w, win_h, W, H)
    assert all(isinstance(v, int) for v in (x, y, w, h))
    assert x % 2 == y % 2 == w % 2 == h % 2 == 0
    assert x >= 0 and y >= 0 and x + w <= cw and y + h <= ch
    assert w >= min(W, cw) and h >= min(H, ch)
    for n in range(frames):
        win = window_at(move, n, frames, cw, ch, win_w, win_h)
        assert x <= win.left + 1e-9 and y <= win.top + 1e-9
        assert win.left + win.width <= x + w + 1e-9 and win.top + win.height <= y + h + 1e-9


@pytest.mark.parametrize("move", [*MOVES, Move(2.0, 1.0, 1.0, 2.0, 1.0, 1.0)])  # the last one: at the far corner
def test_bounding_box_on_an_odd_canvas_is_still_even_and_inside(move):
    """vgen's canvases are always even (graph.canvas_geometry); on an odd one the box still starts and
    spans evenly inside the canvas, so it can only miss the canvas's last, odd column or row."""
    cw, ch, frames = 641.0, 361.0, 30
    x, y, w, h = bounding_box(move, frames, cw, ch, cw, ch * 0.99, 160, 90)
    assert x % 2 == y % 2 == w % 2 == h % 2 == 0
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 360
    for n in range(frames):
        win = window_at(move, n, frames, cw, ch, cw, ch * 0.99)
        assert x <= win.left + 1e-9 and y <= win.top + 1e-9
        assert min(win.left + win.width, 640) <= x + w + 1e-9 and min(win.top + win.height, 360) <= y + h + 1e-9


def test_bounding_box_of_a_small_central_zoom_is_small():
    """The box is what the move covers (grown to the frame size), not the whole canvas."""
    m = Move(3.0, 0.5, 0.5, 4.0, 0.5, 0.5)
    cw, ch = 1920.0, 1080.0
    x, y, w, h = bounding_box(m, 30, cw, ch, cw, ch, 320, 180)
    assert (w, h) == (640, 360)  # the zoom-3 window, already larger than the 320x180 minimum
    assert (x, y) == (640, 360)
    x, y, w, h = bounding_box(m, 30, cw, ch, cw, ch, 800, 500)
    assert (w, h) == (800, 500) and x % 2 == 0 and x + w <= cw
