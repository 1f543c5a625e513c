"""Every transition of FFmpeg's xfade filter, drawn on yuv420p frames with xfade's own formulas.

Why: a spec with any transition but a fade used to be composed by FFmpeg's filter graph (xfade
on yuv444p streams), all of it, much slower than vgen's raw frames. Here each transition is a
pure function of two frames and the progress, compiled by numba, a few milliseconds per 1080p
frame, so every spec can use the raw-frame compositor.

Conventions, those of libavfilter/vf_xfade.c (FFmpeg 5.1 to 9):
- The progress p runs from 1 (all outgoing, a) to 0 (all incoming, b): `progress`.
- mix(x, y, t) = x*t + y*(1-t). Every formula is evaluated in float32 in xfade's order of
  operations and stored by truncation (C's float to uint8), so the bytes are xfade's own,
  including the pseudo-random ones: dissolve's frand(x, y) = fract(sin(12.9898x + 78.233y) *
  43758.545) (sinf of the C library, which numba calls too), pixelize's blocks, hblur's box, the
  winds' row or column noise.
- Chroma: xfade works on 4:4:4. A chroma sample here gets the value xfade gives the 4:4:4 picture
  whose chroma is the 4:2:0 chroma repeated 2x2, at the luma position the sample is co-sited
  with, (2x, 2y): formulas run in luma coordinates (full width and height), and a source is read
  at luma index // 2. So chroma moves exactly with its luma (a slide by an odd number of luma
  columns moves chroma by floor(z/2)); dissolve's and the winds' noise pick the same side for a
  chroma sample as for its luma; distance measures Y, U and V of the same 4:4:4 pixel. Fed that
  4:4:4 picture, FFmpeg's xfade gives the same bytes (tests/picture/test_transitions.py).
- Backgrounds (circlecrop, rectcrop, fadeblack, fadewhite) are BT.709 limited-range video black
  and white: Y 16/235, chroma 128. xfade's own are the extremes of its pixel depth, Y 0/255 and
  chroma 127 (max/2), below black and above white; `ffmpeg_levels=True` draws those (the tests
  compare with FFmpeg that way). fadegrays passes through gray at chroma 128 in both (xfade's
  (max+1)/2).
- fade, fadeblack and fadewhite are the weights of xfade's formulas (`_fade_weights`: fadeblack
  is mix(mix(a, bg, smoothstep(0.8, 1, p)), mix(bg, b, smoothstep(0.2, 1, p)), p)) applied by
  `warp.mix` with 12-bit weights, rounded: the bytes vgen drew before every transition was its
  own. They differ from xfade's truncated float by at most a level, and fadeblack/fadewhite go
  through video black/white.

Where this differs from xfade on purpose: at p = 1, slideleft and revealleft read column 0 one
sample past the row in xfade, slideup and revealup row 0 one row past the plane (5.1 and 9.0:
zz = zx % n + n * (zx < 0) is n when zx = -n; FFmpeg's master has since fixed the slides); here
they wrap to the first sample, which is the outgoing frame.

Speed: per-pixel work is numba kernels (cache, nogil: composer threads run them in parallel,
float32 loops that LLVM vectorises, runs copied whole); what depends on the frame size alone
(dissolve's noise, radial's angles, the circles' radii) is computed once per size and plane and
kept; row-sized scratch and the 64 KiB tables of the mixes with one weight per frame are kept
per thread. Nothing frame-sized is allocated per frame. A 1080p frame costs 0.1 to 2.5 ms of CPU
(a fade 0.3 ms; hblur, the dearest, 2.5).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

import numpy as np
from numba import njit

from vgen.picture import warp

__all__ = ["NAMES", "Progress", "draw", "progress", "warm"]

# Every transition of xfade in FFmpeg 5.1 and 9 but `custom`, by kernel (FFmpeg 5.1 stops at
# fadeslow; the winds, covers and reveals came later).
_BLENDS = ("fade", "fadeblack", "fadewhite")  # vgen's own blends, as before: warp.mix
_WIPES = ("wipeleft", "wiperight", "wipeup", "wipedown", "wipetl", "wipetr", "wipebl", "wipebr")  # _rect
_SLIDES = ("slideleft", "slideright", "slideup", "slidedown")  # _shift, as the covers and reveals
_COVERS = ("coverleft", "coverright", "coverup", "coverdown")
_REVEALS = ("revealleft", "revealright", "revealup", "revealdown")
_SHAPES = ("circlecrop", "rectcrop", "squeezeh", "squeezev", "dissolve", "pixelize", "zoomin", "hblur")
_FADES = ("distance", "fadegrays", "fadefast", "fadeslow")  # these and the shapes: a kernel each
_ALONG_X = ("smoothleft", "smoothright", "vertopen", "vertclose", "hlslice", "hrslice")  # t along x
_ALONG_Y = ("smoothup", "smoothdown", "horzopen", "horzclose", "vuslice", "vdslice")  # t along y
_FIELD_2D = ("diagtl", "diagtr", "diagbl", "diagbr", "circleopen", "circleclose", "radial")
_WINDS = ("hlwind", "hrwind", "vuwind", "vdwind")
_FIELD_NAMES = _ALONG_X + _ALONG_Y + _FIELD_2D + _WINDS  # mixed by a weight t per sample: `_field` modes
NAMES: frozenset[str] = frozenset(_BLENDS + _WIPES + _SLIDES + _COVERS + _REVEALS + _SHAPES + _FADES + _FIELD_NAMES)

_VIDEO = {"black": (16, 128), "white": (235, 128)}  # BT.709 limited range (Y, Cb/Cr), as draw.py
_XFADE = {"black": (0, 127), "white": (255, 127)}  # xfade's own on 8-bit YUV: 0/255 and 255 // 2

F32 = np.float32
_F0, _F1, _F2, _F3, _HALF = F32(0.0), F32(1.0), F32(2.0), F32(3.0), F32(0.5)
_F1_5, _F10, _F20, _F50, _MAX = F32(1.5), F32(10.0), F32(20.0), F32(50.0), F32(255.0)
_M_HALF, _PHASE, _M_PHASE = F32(-0.5), F32(0.2), F32(-0.2)  # smoothstep edges: -0.5f, 0.2f, -0.2f
_W08, _W12 = _F1 - _PHASE, _F1 + _PHASE  # the winds' (1.f - 0.2f) and (1.f + 0.2f), folded in float
_SX, _SY, _SK = F32(12.9898), F32(78.233), F32(43758.545)  # frand
_PI25 = math.pi * 2.5  # radial: M_PI * 2.5f is a double, so is that part of its expression
_IMAX = _F1 / _MAX  # fadefast/fadeslow: 1.f / max_value


# --- progress ----------------------------------------------------------------------------------


class Progress(float):
    """xfade's progress (a float32 value), carrying vgen's `linear` 1 - i/frames in float64: the
    blends vgen drew before (fade, fadeblack, fadewhite) are computed from that, so their frames
    do not change; xfade's float32 value differs from it in the last bits in about 40% of frames."""

    __slots__ = ("linear",)
    linear: float

    def __new__(cls, value: float, linear: float) -> Progress:
        obj = super().__new__(cls, value)
        obj.linear = linear
        return obj


def progress(i: int, frames: int) -> Progress:
    """xfade's progress of transition frame i of `frames`: 1 at i = 0, 0 at i = frames. xfade takes
    pts in the link's time base 1/fps, so this is av_clipf(1.f - (float)(pts - start) / duration)
    with pts - start = i and duration = frames, in float32 like xfade (a frame past the end is 0)."""
    if frames < 1:
        raise ValueError(f"a transition lasts at least one frame, not {frames}")
    v = min(max(_F1 - F32(i) / F32(frames), _F0), _F1)
    return Progress(float(v), min(max(1.0 - i / frames, 0.0), 1.0))


def _fade_weights(kind: str, p: float) -> tuple[float, float]:
    """(outgoing, incoming) weights of the blends from p (the background takes the rest)."""
    if kind == "fade":
        return p, 1.0 - p
    s1, s2 = _smoothstep64(0.8, 1.0, p), _smoothstep64(0.2, 1.0, p)
    return s1 * p, (1 - s2) * (1 - p)


def _smoothstep64(e0: float, e1: float, x: float) -> float:
    t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3 - 2 * t)


# --- small pieces the kernels share (inlined) -------------------------------------------------

# error_model numpy: a division by p = 0 gives inf or NaN as in C (and no zero checks in the loops).
_kernel = njit(cache=True, nogil=True, error_model="numpy")
_inline = njit(inline="always", cache=True, nogil=True, error_model="numpy")  # helpers of the kernels


@_inline
def _smoothstep(e0, e1, x):  # pragma: no cover - compiled
    t = (x - e0) / (e1 - e0)
    if t < _F0:
        t = _F0
    elif t > _F1:
        t = _F1
    return t * t * (_F3 - _F2 * t)


@_inline
def _u8(v):  # pragma: no cover - compiled
    """C's float to uint8 store: truncation (values lie in [0, 256))."""
    return np.uint8(np.int32(v))


@_inline
def _hypot(dx, dy):  # pragma: no cover - compiled
    """hypotf of two whole numbers: glibc computes it as sqrt in double, rounded to float (the
    same bytes for every |dx|, |dy| of a 4K frame, checked), and this form vectorises."""
    return F32(math.sqrt(np.float64(dx) * np.float64(dx) + np.float64(dy) * np.float64(dy)))


@_inline
def _frand(x, y):  # pragma: no cover - compiled
    r = math.sin(F32(x) * _SX + F32(y) * _SY) * _SK
    return r - np.floor(r)


@_inline
def _mix_row(p, q, o, t):  # pragma: no cover - compiled
    """o = p*t + q*(1-t) per sample, t per sample."""
    for x in range(o.shape[0]):
        o[x] = _u8(F32(p[x]) * t[x] + F32(q[x]) * (_F1 - t[x]))


@_inline
def _mix_row1(p, q, o, t):  # pragma: no cover - compiled
    """o = p*t + q*(1-t) per sample, one t."""
    u = _F1 - t
    for x in range(o.shape[0]):
        o[x] = _u8(F32(p[x]) * t + F32(q[x]) * u)


# --- kernels, one plane each: s = 1 (luma) or 2 (chroma), W x H the luma size -----------------


@_inline
def _copy(src, i, dst, j, n):  # pragma: no cover - compiled
    """dst[j:j+n] = src[i:i+n]. A loop over views from 0: LLVM makes it a vector copy. numba's slice
    assignment runs element by element, and an index that numba cannot prove non-negative (an
    offset, a range not starting at 0) is checked for wraparound on every access, which keeps
    LLVM from vectorising: both about 10x slower. The kernels index views from 0 for that reason."""
    if n > 0:
        fr, to = src[i : i + n], dst[j : j + n]
        for k in range(n):
            to[k] = fr[k]


@_inline
def _fill(dst, j, n, v):  # pragma: no cover - compiled
    if n > 0:
        to = dst[j : j + n]
        for k in range(n):
            to[k] = v


@_kernel
def _rect(inner, outer, o, r0, r1, c0, c1):  # pragma: no cover - compiled
    """o = inner in rows [r0, r1) x columns [c0, c1), outer elsewhere (the wipes)."""
    w = o.shape[1]
    for y in range(o.shape[0]):
        if r0 <= y < r1 and c0 < c1:
            _copy(outer[y], 0, o[y], 0, c0)
            _copy(inner[y], c0, o[y], c0, c1 - c0)
            _copy(outer[y], c1, o[y], c1, w - c1)
        else:
            _copy(outer[y], 0, o[y], 0, w)


@_kernel
def _rect_fill(inner, bg, o, r0, r1, c0, c1):  # pragma: no cover - compiled
    """o = inner in rows [r0, r1) x columns [c0, c1), bg elsewhere (rectcrop)."""
    w = o.shape[1]
    for y in range(o.shape[0]):
        if r0 <= y < r1 and c0 < c1:
            _fill(o[y], 0, c0, bg)
            _copy(inner[y], c0, o[y], c0, c1 - c0)
            _fill(o[y], c1, w - c1, bg)
        else:
            _fill(o[y], 0, w, bg)


@_kernel
def _shift(a, b, o, k, mode, vertical):  # pragma: no cover - compiled
    """The slides (mode 0), covers (1) and reveals (2) by k samples, along rows or columns. Index
    z = x + k: inside [0, n) a slide shows b[z], a cover b[z], a reveal b[x]; outside, a slide
    a[z mod n], a cover a[x], a reveal a[z mod n]. Whole runs are copied."""
    h, w = o.shape
    n = h if vertical else w
    lo = min(max(-k, 0), n)
    hi = max(min(n - k, n), lo)
    bk = 0 if mode == 2 else k
    ak = 0 if mode == 1 else k
    an = n if ak else 0  # the wrap: below lo z + n, from hi on z - n
    if vertical:
        for y in range(lo, hi):
            _copy(b[y + bk], 0, o[y], 0, w)
        for y in range(lo):
            _copy(a[y + ak + an], 0, o[y], 0, w)
        for y in range(hi, n):
            _copy(a[y + ak - an], 0, o[y], 0, w)
        return
    for y in range(h):
        _copy(b[y], lo + bk, o[y], lo, hi - lo)
        _copy(a[y], ak + an, o[y], 0, lo)
        _copy(a[y], hi + ak - an, o[y], hi, n - hi)


@_kernel
def _squeeze(a, b, o, s, W, H, p, vertical, cols):  # pragma: no cover - compiled
    """squeezeh (rows) and squeezev (columns, vertical=False): z = .5 + (y/h - .5)/p; outside
    [0, 1] b, else a's row lrintf(z*(h - 1)). At p = 0 the middle row is 0/0 = NaN, which lrintf
    turns into 0x8000000000000000, truncated to 0 by xfade's int: a's first row."""
    if vertical:
        h = F32(H)
        for y in range(o.shape[0]):
            z = _HALF + (F32(s * y) / h - _HALF) / p
            if z < _F0 or z > _F1:
                _copy(b[y], 0, o[y], 0, o.shape[1])
            else:
                yy = 0 if math.isnan(z) else int(np.rint(z * (h - _F1)))
                _copy(a[yy // s], 0, o[y], 0, o.shape[1])
        return
    w = F32(W)
    pw = o.shape[1]
    x0, x1 = pw, 0  # z grows with x: the columns taken from a are one run [x0, x1)
    for x in range(pw):
        z = _HALF + (F32(s * x) / w - _HALF) / p
        if not (z < _F0 or z > _F1):
            cols[x] = (0 if math.isnan(z) else int(np.rint(z * (w - _F1)))) // s
            x0, x1 = min(x0, x), x + 1
    x0 = min(x0, x1)
    for y in range(o.shape[0]):
        ay, by, oy = a[y], b[y], o[y]
        _copy(by, 0, oy, 0, x0)
        ct, ot = cols[x0:x1], oy[x0:x1]  # views from 0 (see _copy)
        for x in range(x1 - x0):
            ot[x] = ay[np.uintp(ct[x])]
        _copy(by, x1, oy, x1, pw - x1)


@_kernel
def _zoomin(a, b, o, s, W, H, p, cols, table):  # pragma: no cover - compiled
    """zoomin: a zoomed in by smoothstep(.5, 1, p) about the centre (ceilf of the position), mixed
    into b by smoothstep(0, .5, p): one t per frame, so the mix is a table of every pair (uint8
    scratch of 65536, filled per plane: a few microseconds)."""
    w, h = F32(W), F32(H)
    zf = _smoothstep(_HALF, _F1, p)
    t = _smoothstep(_F0, _HALF, p)
    u1 = _F1 - t
    for za in range(256):
        for zb in range(256):
            table[za * 256 + zb] = _u8(F32(za) * t + F32(zb) * u1)
    for x in range(o.shape[1]):
        u = _HALF + (F32(s * x) / w - _HALF) * zf
        cols[x] = int(math.ceil(u * (w - _F1))) // s
    for y in range(o.shape[0]):
        v = _HALF + (F32(s * y) / h - _HALF) * zf
        row = a[int(math.ceil(v * (h - _F1))) // s]
        by, oy = b[y], o[y]
        for x in range(o.shape[1]):
            oy[x] = table[np.uintp(row[np.uintp(cols[x])]) << 8 | np.uintp(by[x])]


@_kernel
def _pixelize(a, b, o, s, W, H, p, cols):  # pragma: no cover - compiled
    """pixelize: blocks of 2*dist*min(W, H)/20 (dist = ceil(50 min(p, 1-p))/50), each showing the
    mix at its centre sample. Rows of one block row are equal: each is computed once."""
    d = min(p, _F1 - p)
    dist = F32(math.ceil(d * _F50)) / _F50
    sq = _F2 * dist * F32(min(W, H)) / _F20
    u = _F1 - p
    pw = o.shape[1]
    for x in range(pw):
        cols[x] = _block(s * x, sq, W, dist) // s
    last = -1
    for y in range(o.shape[0]):
        sy = _block(s * y, sq, H, dist) // s
        if sy == last:
            _copy(o[y - 1], 0, o[y], 0, pw)
            continue
        last = sy
        ay, by, oy = a[sy], b[sy], o[y]
        for x in range(pw):
            c = np.uintp(cols[x])
            oy[x] = _u8(F32(ay[c]) * p + F32(by[c]) * u)


@_inline
def _block(X, sq, n, dist):  # pragma: no cover - compiled
    """FFMIN((floorf(x / sq) + .5f) * sq, n - 1), truncated; x itself when dist is 0."""
    if not dist > _F0:
        return X
    v = (np.floor(F32(X) / sq) + _HALF) * sq
    if v > F32(n - 1):
        v = F32(n - 1)
    return int(v)


@_kernel
def _dissolve(a, b, o, noise, p):  # pragma: no cover - compiled
    """dissolve: a where frand(x, y)*2 + p*2 - 1.5 >= .5, else b."""
    p2 = p * _F2
    for y in range(o.shape[0]):
        ny, ay, by, oy = noise[y], a[y], b[y], o[y]
        for x in range(o.shape[1]):
            oy[x] = ay[x] if ny[x] * _F2 + p2 - _F1_5 >= _HALF else by[x]


@_kernel
def _noise(out, s):  # pragma: no cover - compiled
    """dissolve's frand at each sample's luma position (once per frame size and plane)."""
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = _frand(s * x, s * y)


@_kernel
def _radii(out, s, W, H):  # pragma: no cover - compiled
    """hypotf(x - W/2, y - H/2) at each sample's luma position (circlecrop, circleopen, circleclose)."""
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = _hypot(s * x - W // 2, s * y - H // 2)


@_kernel
def _angles(out, s, W, H):  # pragma: no cover - compiled
    """radial's atan2f(x - W/2, y - H/2) at each sample's luma position (once per size and plane)."""
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = math.atan2(F32(s * x - W // 2), F32(s * y - H // 2))


# _field: t per sample, then mix(b, a, t), except circleopen mix(a, b, t); the slices are this
# with t in {0, 1}.
_FIELD = {name: i for i, name in enumerate(_FIELD_NAMES)}


@_inline
def _t1(mode, X, w, p2, p15):  # pragma: no cover - compiled
    """t of the transitions whose t depends on one coordinate X of extent w (modes 0-5; 6-11 the
    same formulas along y)."""
    m = mode % 6
    if m == 0:  # smoothleft / smoothup: 1 + x/w - 2p
        return _smoothstep(_F0, _F1, _F1 + F32(X) / w - p2)
    if m == 1:  # smoothright / smoothdown: 1 + (w - 1 - x)/w - 2p
        return _smoothstep(_F0, _F1, _F1 + (w - _F1 - F32(X)) / w - p2)
    if m == 2 or m == 3:  # vertopen, vertclose / horzopen, horzclose: w2 = w / 2.0
        w2 = w / _F2
        d = abs((F32(X) - w2) / w2)
        return _smoothstep(_F0, _F1, (_F2 - d if m == 2 else _F1 + d) - p2)
    xx = F32(X) / w if m == 4 else (w - _F1 - F32(X)) / w  # hlslice / hrslice: xx = (w - 1 - x)/w
    sm = _smoothstep(_M_HALF, _F0, xx - p15)
    f = _F10 * F32(X) / w if m == 4 else _F10 * xx  # fract(10.f * x / w), fract(10.f * xx)
    return _F0 if sm <= f - np.floor(f) else _F1


@_kernel
def _field(a, b, o, s, W, H, p, mode, table, trow, rrow):  # pragma: no cover - compiled
    """The weighted transitions (`_FIELD`): t per column, per row or per sample, then the mix.
    table: radial's angles or the circles' radii (else unused); trow, rrow: float32 scratch of a row."""
    ph, pw = o.shape
    w, h = F32(W), F32(H)
    p2, p15 = p * _F2, p * _F1_5
    if mode < 6:
        for x in range(pw):
            trow[x] = _t1(mode, s * x, w, p2, p15)
        for y in range(ph):
            _mix_row(b[y], a[y], o[y], trow)
        return
    if mode < 12:
        for y in range(ph):
            _mix_row1(b[y], a[y], o[y], _t1(mode, s * y, h, p2, p15))
        return
    for x in range(pw):  # what depends on x alone, once per plane
        if mode == 21 or mode == 22:  # vuwind, vdwind: noise per column
            rrow[x] = _frand(s * x, 0)
        elif mode == 12 or mode == 14 or mode == 20:  # diagtl, diagbl: x/w; hrwind: x/(float)w
            rrow[x] = F32(s * x) / w
        elif mode == 13 or mode == 15:  # diagtr, diagbr: (w - 1 - x)/w
            rrow[x] = (w - _F1 - F32(s * x)) / w
        elif mode == 19:  # hlwind: 1.f - x/(float)w
            rrow[x] = _F1 - F32(s * x) / w
    zc = _hypot(W // 2, H // 2)
    cp = (p - _HALF) * _F3 if mode == 16 else (_F1 - p - _HALF) * _F3
    rp = np.float64(p - _HALF) * _PI25
    q = (_F1 - p) * _W12
    for y in range(ph):
        Y = s * y
        t = trow[:pw]
        if mode <= 15:  # diagonals: 1 + x/w * y/h - 2p with x or y mirrored
            fy = F32(Y) if mode <= 13 else h - _F1 - F32(Y)
            for x in range(pw):
                t[x] = _smoothstep(_F0, _F1, _F1 + rrow[x] * fy / h - p2)
        elif mode <= 17:  # circleopen, circleclose: hypot/z + (p - .5)*3, (1 - p - .5)*3
            rad = table[y]
            for x in range(pw):
                t[x] = _smoothstep(_F0, _F1, rad[x] / zc + cp)
        elif mode == 18:  # radial: atan2f(...) - (p - .5)*(M_PI*2.5f), in double, stored as float
            ang = table[y]
            for x in range(pw):
                t[x] = _smoothstep(_F0, _F1, F32(np.float64(ang[x]) - rp))
        elif mode <= 20:  # hlwind, hrwind: noise per row
            r = _PHASE * _frand(0, Y)
            for x in range(pw):
                t[x] = _smoothstep(_F0, _M_PHASE, rrow[x] * _W08 + r - q)
        else:  # vuwind, vdwind
            fy = F32(Y) / h
            if mode == 21:
                fy = _F1 - fy
            for x in range(pw):
                t[x] = _smoothstep(_F0, _M_PHASE, fy * _W08 + _PHASE * rrow[x] - q)
        if mode == 16:
            _mix_row(a[y], b[y], o[y], t)
        else:
            _mix_row(b[y], a[y], o[y], t)


@_kernel
def _circlecrop(a, b, o, radii, W, H, p, bg):  # pragma: no cover - compiled
    """circlecrop: bg outside a circle of radius (2|p - .5|)^3 * hypot(W/2, H/2), inside a (p >= .5)
    or b."""
    z = F32(math.pow(_F2 * abs(p - _HALF), _F3)) * _hypot(W // 2, H // 2)
    src = b if p < _HALF else a
    for y in range(o.shape[0]):
        ry, sy, oy = radii[y], src[y], o[y]
        for x in range(o.shape[1]):
            oy[x] = bg if z < ry[x] else sy[x]


@_kernel
def _distance(ay, by, au, bu, av, bv, oy, ou, ov, p, eu, ev, near):  # pragma: no cover - compiled
    """distance: where the Y'CbCr distance of a and b (each /255) is within p, mix(a, b, p), else b.
    One 4:4:4 pixel decides its three planes (dist = ((dY^2 + dU^2) + dV^2), xfade's order); a
    chroma sample follows its co-sited luma sample. eu, ev: float32, near: uint8 scratch of W."""
    u = _F1 - p
    h2, w2 = ou.shape
    w = oy.shape[1]
    for yc in range(h2):
        for xc in range(w2):  # chroma terms, repeated for both luma columns of a pair
            du = F32(au[yc, xc]) / _MAX - F32(bu[yc, xc]) / _MAX
            dv = F32(av[yc, xc]) / _MAX - F32(bv[yc, xc]) / _MAX
            i = np.uintp(2 * xc)
            eu[i] = eu[i + 1] = du * du
            ev[i] = ev[i + 1] = dv * dv
        for y in (2 * yc, 2 * yc + 1):
            ya, yb, yo = ay[y], by[y], oy[y]
            for x in range(w):
                dy = F32(ya[x]) / _MAX - F32(yb[x]) / _MAX
                m = np.sqrt(dy * dy + eu[x] + ev[x]) <= p
                near[x] = m
                yo[x] = _u8(F32(ya[x] if m else yb[x]) * p + F32(yb[x]) * u)
            if y == 2 * yc:
                for xc in range(w2):
                    m = near[np.uintp(2 * xc)] != 0
                    ou[yc, xc] = _u8(F32(au[yc, xc] if m else bu[yc, xc]) * p + F32(bu[yc, xc]) * u)
                    ov[yc, xc] = _u8(F32(av[yc, xc] if m else bv[yc, xc]) * p + F32(bv[yc, xc]) * u)


@_kernel
def _hblur(a, b, o, s, W, p, pa, pb, cnt):  # pragma: no cover - compiled
    """hblur: both frames box-blurred along rows over [x, min(x + size, W)), size = 1 + (W/2)*(1 -
    |2p - 1|), then mixed. xfade's running float sums hold whole numbers below 2^24, so sums from
    integer prefix sums (pa, pb: int32 scratch of a row plus one) are its exact values. cnt: float32
    scratch of a row."""
    prog = p * _F2 if p <= _HALF else (_F1 - p) * _F2
    size = int(_F1 + F32(W // 2) * prog)
    u = _F1 - p
    pw = o.shape[1]
    n1 = min(pw, (W - size) // s + 1)  # samples whose box lies inside the row
    half, odd = size // s, size % s  # for s = 2: luma end 2x + size = 2(x + half) + odd
    c, fs = F32(size), F32(s)
    for x in range(n1, pw):  # the shrinking box's sample counts
        cnt[x] = F32(W - s * x)
    for y in range(o.shape[0]):
        ar, br, orow = a[y], b[y], o[y]
        pa[0] = pb[0] = 0
        qa, qb = pa[1:], pb[1:]  # views: an offset index is checked for wraparound (see _copy)
        sa = sb = np.int32(0)  # running sums in registers: a store and reload per sample is slower
        for x in range(pw):
            sa += np.int32(ar[x])
            sb += np.int32(br[x])
            qa[x], qb[x] = sa, sb
        if s == 1:
            ea, eb = pa[size : size + n1], pb[size : size + n1]
            for x in range(n1):
                orow[x] = _u8(F32(np.int32(ea[x] - pa[x])) / c * p + F32(np.int32(eb[x] - pb[x])) / c * u)
        else:
            ea, eb = pa[half : half + n1], pb[half : half + n1]
            ra, rb = ar[half : half + n1], br[half : half + n1]
            for x in range(n1):
                sa = np.int32(2 * (ea[x] - pa[x]) + (np.int32(ra[x]) if odd else 0))
                sb = np.int32(2 * (eb[x] - pb[x]) + (np.int32(rb[x]) if odd else 0))
                orow[x] = _u8(F32(sa) / c * p + F32(sb) / c * u)
        ta, tb = F32(pa[pw]), F32(pb[pw])
        sa_, sb_, ct, ot = pa[n1:pw], pb[n1:pw], cnt[n1:pw], orow[n1:]  # views from 0 (see _copy)
        for x in range(pw - n1):  # the box shrinks at the right edge (float32 holds these integers)
            ot[x] = _u8(fs * (ta - F32(sa_[x])) / ct[x] * p + fs * (tb - F32(sb_[x])) / ct[x] * u)


@_kernel
def _fadegrays(a, b, o, p, luma, mid):  # pragma: no cover - compiled
    """fadegrays: mix(mix(a, gray(a), s1), mix(gray(b), b, s2), p), gray = the pixel's own Y with
    chroma at mid."""
    s1 = _smoothstep(_F1 - _PHASE, _F1, p)
    s2 = _smoothstep(_PHASE, _F1, p)
    u1, u2, u = _F1 - s1, _F1 - s2, _F1 - p
    g = F32(mid)
    for y in range(o.shape[0]):
        ay, by, oy = a[y], b[y], o[y]
        for x in range(o.shape[1]):
            fa, fb = F32(ay[x]), F32(by[x])
            ga, gb = (fa, fb) if luma else (g, g)
            oy[x] = _u8((fa * s1 + ga * u1) * p + (gb * s2 + fb * u2) * u)


@_kernel
def _pow_table(p, slow, t, out):  # pragma: no cover - compiled
    """fadefast/fadeslow's result for every pair (a, b), out[a << 8 | b]: mix(a, b, t), t =
    powf(p, 1 + logf(1 +- |a - b|/255)). 65536 entries per frame instead of a powf and a logf
    per sample, and one table read per sample. t: float32 scratch of 256."""
    for k in range(256):
        e = _F1 + F32(k) * _IMAX if not slow else _F2 - F32(k) * _IMAX
        t[k] = math.pow(p, _F1 + math.log(e))
    for a in range(256):
        for b in range(256):
            w = t[abs(a - b)]
            out[a * 256 + b] = _u8(F32(a) * w + F32(b) * (_F1 - w))


@_kernel
def _lookup(a, b, o, table):  # pragma: no cover - compiled
    for y in range(o.shape[0]):
        ay, by, oy = a[y], b[y], o[y]
        for x in range(o.shape[1]):
            oy[x] = table[np.uintp(ay[x]) << 8 | np.uintp(by[x])]


# --- per-frame glue ----------------------------------------------------------------------------

_tables: dict[tuple[str, int, int, int], np.ndarray] = {}
_tables_lock = threading.Lock()
_local = threading.local()


def _table(kind: str, W: int, H: int, s: int) -> np.ndarray:
    """dissolve's noise, radial's angles or the circles' radii for one plane of a W x H frame, made
    once and shared by all threads."""
    key = (kind, W, H, s)
    t = _tables.get(key)
    if t is None:
        with _tables_lock:
            t = _tables.get(key)
            if t is None:
                if len(_tables) >= 12:  # a render uses one size; previews and tests a few more
                    _tables.clear()
                t = np.empty((H // s, W // s), np.float32)
                if kind == "noise":
                    _noise(t, s)
                elif kind == "radii":
                    _radii(t, s, W, H)
                else:
                    _angles(t, s, W, H)
                _tables[key] = t
    return t


def _scratch(name: str, n: int, dtype: type) -> np.ndarray:
    """A row-sized buffer of this thread, kept between frames."""
    buf = getattr(_local, name, None)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, 16), dtype)
        setattr(_local, name, buf)
    return buf


def _le(z: int, s: int, n: int) -> int:
    """How many of the samples 0..n-1 lie at luma position s*x <= z."""
    return min(max(z // s + 1, 0), n)


def _lt(z: int, s: int, n: int) -> int:
    """How many of the samples 0..n-1 lie at luma position s*x < z."""
    return min(max(-(-z // s), 0), n)


def _wipe(kind: str, a: list, b: list, o: list, W: int, H: int, p: np.float32) -> None:
    """The wipes: a inside a rectangle grown from a side or corner, b outside (x > z: b)."""
    w, h, q = F32(W), F32(H), _F1 - p
    zx = {"wipeleft": w * p, "wiperight": w * q, "wipetl": w * p, "wipetr": w * q, "wipebl": w * p}.get(kind, w * q)
    zy = {"wipeup": h * p, "wipedown": h * q, "wipetl": h * p, "wipetr": h * p, "wipebl": h * q}.get(kind, h * q)
    zw, zh = int(zx), int(zy)
    for i, s in enumerate((1, 2, 2)):
        ph, pw = o[i].shape
        r0, r1, c0, c1 = 0, ph, 0, pw
        if kind in ("wipeleft", "wipetl", "wipebl"):
            c1 = _le(zw, s, pw)
        if kind in ("wiperight", "wipetr", "wipebr"):
            c0 = _le(zw, s, pw)
        if kind in ("wipeup", "wipetl", "wipetr"):
            r1 = _le(zh, s, ph)
        if kind in ("wipedown", "wipebl", "wipebr"):
            r0 = _le(zh, s, ph)
        _rect(a[i], b[i], o[i], r0, r1, c0, c1)


def _rectcrop(a: list, b: list, o: list, W: int, H: int, p: np.float32, black: tuple[int, int]) -> None:
    d = abs(p - _HALF)
    zw, zh = int(d * F32(W)), int(d * F32(H))
    src = b if p < _HALF else a
    for i, s in enumerate((1, 2, 2)):
        ph, pw = o[i].shape
        c0, c1 = _le(W // 2 - zw, s, pw), _lt(W // 2 + zw, s, pw)  # |x - W/2| < zw
        r0, r1 = _le(H // 2 - zh, s, ph), _lt(H // 2 + zh, s, ph)
        _rect_fill(src[i], black[min(i, 1)], o[i], r0, r1, c0, c1)


def _shifted(kind: str, a: list, b: list, o: list, W: int, H: int, p: np.float32) -> None:
    """slide*, cover*, reveal*: z = int(-p*W) (left, up) or int(p*W) (right, down) luma samples;
    a plane of scale s moves by floor(z / s), which is xfade's 4:4:4 result at co-sited samples."""
    mode = 0 if kind.startswith("slide") else 1 if kind.startswith("cover") else 2
    vertical = kind.endswith(("up", "down"))
    sign = -p if kind.endswith(("left", "up")) else p
    z = int(sign * F32(H if vertical else W))
    for i, s in enumerate((1, 2, 2)):
        _shift(a[i], b[i], o[i], z // s, mode, vertical)


def _planes(buf: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    n, q = w * h, w * h // 4
    return [buf[:n].reshape(h, w), buf[n : n + q].reshape(h // 2, w // 2), buf[n + q :].reshape(h // 2, w // 2)]


def draw(
    kind: str,
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    width: int,
    height: int,
    p: float,
    *,
    ffmpeg_levels: bool = False,
) -> None:
    """Draw transition `kind` at progress p (1: all a, 0: all b; `progress`) from the outgoing frame
    a and the incoming b into out: flat uint8 yuv420p buffers of width*height*3//2 bytes, out a
    third one. ffmpeg_levels: xfade's own backgrounds (Y 0/255, chroma 127) instead of video
    black and white, to compare with FFmpeg."""
    if kind not in NAMES:
        raise ValueError(f"unknown transition {kind!r}")
    if width % 2 or height % 2 or width < 2 or height < 2:
        raise ValueError(f"yuv420p needs an even frame size, not {width}x{height}")
    size = width * height * 3 // 2
    for name, buf in (("a", a), ("b", b), ("out", out)):
        if buf.dtype != np.uint8 or buf.ndim != 1 or buf.size != size or not buf.flags.c_contiguous:
            raise ValueError(f"{name} must be a flat contiguous uint8 yuv420p frame of {size} bytes")
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):  # a slide would read what it wrote
        raise ValueError("out must not overlap a or b")
    levels = _XFADE if ffmpeg_levels else _VIDEO
    if kind in _BLENDS:
        wa, wb = _fade_weights(kind, getattr(p, "linear", float(p)))
        luma, chroma = levels["black" if kind == "fadeblack" else "white"] if kind != "fade" else (0, 0)
        n = width * height
        warp.mix(a[:n], b[:n], wa, wb, luma, out[:n])
        warp.mix(a[n:], b[n:], wa, wb, chroma, out[n:])
        return
    pf = F32(min(max(p, 0.0), 1.0))  # xfade's progress is clipped to [0, 1]
    W, H = width, height
    A, B, C = _planes(a, W, H), _planes(b, W, H), _planes(out, W, H)  # C: the output
    scales = (1, 2, 2)
    if kind in _WIPES:
        _wipe(kind, A, B, C, W, H, pf)
    elif kind in _SLIDES or kind in _COVERS or kind in _REVEALS:
        _shifted(kind, A, B, C, W, H, pf)
    elif kind == "rectcrop":
        _rectcrop(A, B, C, W, H, pf, levels["black"])
    elif kind == "distance":
        eu, ev, near = _scratch("trow", W, np.float32), _scratch("rrow", W, np.float32), _scratch("near", W, np.uint8)
        _distance(A[0], B[0], A[1], B[1], A[2], B[2], C[0], C[1], C[2], pf, eu, ev, near)
    elif kind in ("fadefast", "fadeslow"):
        table = _scratch("table", 65536, np.uint8)
        _pow_table(pf, kind == "fadeslow", _scratch("weights", 256, np.float32), table)
        for i in range(3):
            _lookup(A[i], B[i], C[i], table)
    elif kind == "fadegrays":
        for i in range(3):
            _fadegrays(A[i], B[i], C[i], pf, i == 0, 128)
    elif kind in _FIELD:
        mode = _FIELD[kind]
        trow, rrow = _scratch("trow", W, np.float32), _scratch("rrow", W, np.float32)
        for i, s in enumerate(scales):
            table = trow[:1].reshape(1, 1)
            if kind == "radial" or kind.startswith("circle"):
                table = _table("angles" if kind == "radial" else "radii", W, H, s)
            _field(A[i], B[i], C[i], s, W, H, pf, mode, table, trow, rrow)
    else:
        cols = _scratch("cols", W, np.int32)
        for i, s in enumerate(scales):
            if kind == "dissolve":
                _dissolve(A[i], B[i], C[i], _table("noise", W, H, s), pf)
            elif kind == "circlecrop":
                _circlecrop(A[i], B[i], C[i], _table("radii", W, H, s), W, H, pf, levels["black"][min(i, 1)])
            elif kind == "pixelize":
                _pixelize(A[i], B[i], C[i], s, W, H, pf, cols)
            elif kind == "zoomin":
                _zoomin(A[i], B[i], C[i], s, W, H, pf, cols, _scratch("table", 65536, np.uint8))
            elif kind == "hblur":
                pa, pb = _scratch("pa", W + 1, np.int32), _scratch("pb", W + 1, np.int32)
                _hblur(A[i], B[i], C[i], s, W, pf, pa, pb, _scratch("trow", W, np.float32))
            else:  # squeezeh, squeezev
                _squeeze(A[i], B[i], C[i], s, W, H, pf, kind == "squeezeh", cols)


def warm(kinds: Iterable[str] | None = None) -> None:
    """Compile (or load from numba's cache) the kernels of `kinds` (all: about 0.36 s from the
    cache), so the first transition frame does not wait for them (vgen calls this in a thread at
    render start, beside `warp.warm`, with the transitions the render uses)."""
    w, h = 16, 8
    a = np.arange(w * h * 3 // 2, dtype=np.uint8)
    b, out = a[::-1].copy(), np.empty_like(a)
    for kind in sorted(NAMES if kinds is None else set(kinds)):
        draw(kind, a, b, out, w, h, 0.4)
