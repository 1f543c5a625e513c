"""8-bit RGB to BT.709 limited-range yuv420p, the conversion FFmpeg's `scale` makes for a canvas
(`graph.yuv`), for the canvases libvips makes (`canvas`).

Fixed point with 2^16 weights and rounding to nearest, as swscale's accurate_rnd path. Chroma is
the mean of each 2x2 block, as swscale makes yuv420p from RGB: 46 dB from its output on a noisy
photo, where a left-sited [1 2 1] filter is 42 dB away, so canvases keep the chroma they had.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_S = 1 << 16
# BT.709: Y = 0.2126 R + 0.7152 G + 0.0722 B; limited range: Y 16..235, Cb/Cr 16..240.
_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
_YR, _YG, _YB = (round(k * 219 / 255 * _S) for k in (_KR, _KG, _KB))
_UR, _UG, _UB = (round(k * 224 / 255 * _S) for k in (-_KR / (2 - 2 * _KB), -_KG / (2 - 2 * _KB), 0.5))
_VR, _VG, _VB = (round(k * 224 / 255 * _S) for k in (0.5, -_KG / (2 - 2 * _KR), -_KB / (2 - 2 * _KR)))


@njit(cache=True, nogil=True)
def _convert(rgb, y, u, v):  # pragma: no cover - compiled
    h, w = y.shape
    half = 1 << 15
    for r in range(h):
        for c in range(w):
            acc = _YR * np.int32(rgb[r, c, 0]) + _YG * np.int32(rgb[r, c, 1]) + _YB * np.int32(rgb[r, c, 2])
            y[r, c] = np.uint8((acc + (16 << 16) + half) >> 16)
    for r in range(h // 2):
        r0, r1 = rgb[2 * r], rgb[2 * r + 1]
        for c in range(w // 2):
            x = 2 * c
            sr = _box(r0, r1, x, 0)
            sg = _box(r0, r1, x, 1)
            sb = _box(r0, r1, x, 2)
            cu = (_UR * sr + _UG * sg + _UB * sb + (2 << 16)) >> 18
            cv = (_VR * sr + _VG * sg + _VB * sb + (2 << 16)) >> 18
            u[r, c] = np.uint8(min(max(cu + 128, 0), 255))
            v[r, c] = np.uint8(min(max(cv + 128, 0), 255))


@njit(cache=True, nogil=True, inline="always")
def _box(r0, r1, x, k):  # pragma: no cover - compiled
    """The sum of channel k over the 2x2 block at column x of rows r0, r1."""
    return np.int64(r0[x, k]) + np.int64(r0[x + 1, k]) + np.int64(r1[x, k]) + np.int64(r1[x + 1, k])


def to_yuv420(rgb: np.ndarray, out: np.ndarray) -> None:
    """`rgb` (h, w, 3) uint8, w and h even, into `out`: one yuv420p frame (w * h * 3 / 2 bytes)."""
    h, w, _ = rgb.shape
    if w % 2 or h % 2 or out.size != w * h * 3 // 2:
        raise ValueError(f"to_yuv420: an even-sized image and a frame of its size ({w}x{h}, {out.size} bytes)")
    n = w * h
    y = out[:n].reshape(h, w)
    u = out[n : n * 5 // 4].reshape(h // 2, w // 2)
    v = out[n * 5 // 4 :].reshape(h // 2, w // 2)
    _convert(rgb, y, u, v)


def warm() -> None:
    """Compile (or load from numba's cache) the kernel before the first canvas needs it."""
    to_yuv420(np.zeros((2, 2, 3), np.uint8), np.empty(6, np.uint8))
