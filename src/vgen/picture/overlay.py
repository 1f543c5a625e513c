"""Overlays (a channel logo) blended over yuv420p frames: only the overlay's rectangle is touched.

The overlay comes from FFmpeg once per segment as a yuva444p frame with straight alpha
(`graph.overlay_stream`) and is prepared here once: luma is blended with FFmpeg's own overlay
arithmetic, d' = (d * (255 - a) + y * a) / 255 rounded as FAST_DIV255 does, so the luma of both
compositors agrees exactly; chroma is blended premultiplied at 4:2:0, the overlay's colours
weighted by their alpha over each 2x2 block (a transparent pixel's colour counts for nothing),
so antialiased edges get no dark or coloured fringe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class Prepared:
    """An overlay ready to blend at (x, y): luma terms at full size, chroma terms at half size."""

    x: int
    y: int
    ya: np.ndarray  # int32: Y * A
    keep: np.ndarray  # int32: 255 - A
    ua: np.ndarray  # int32: sum over each 2x2 block of U * A
    va: np.ndarray
    keep_c: np.ndarray  # int32: 1020 - sum of A over each 2x2 block


def prepare(frame: bytes, x: int, y: int, width: int, height: int) -> Prepared:
    """A raw yuva444p frame of width x height (both even), to be drawn at (x, y) (both even)."""
    planes = np.frombuffer(frame, dtype=np.uint8).reshape(4, height, width).astype(np.int32)
    ya, u, v, a = planes[0], planes[1], planes[2], planes[3]

    def block_sum(p: np.ndarray) -> np.ndarray:
        return p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]

    return Prepared(
        x,
        y,
        np.ascontiguousarray(ya * a),
        np.ascontiguousarray(255 - a),
        np.ascontiguousarray(block_sum(u * a)),
        np.ascontiguousarray(block_sum(v * a)),
        np.ascontiguousarray(1020 - block_sum(a)),
    )


@njit(cache=True, nogil=True)
def _luma(dst, x, y, ya, keep):  # pragma: no cover - compiled
    h, w = ya.shape
    for i in range(h):
        for j in range(w):
            t = np.int32(dst[y + i, x + j]) * keep[i, j] + ya[i, j]
            dst[y + i, x + j] = ((t + 128) * 257) >> 16


@njit(cache=True, nogil=True)
def _chroma(dst, x, y, ca, keep):  # pragma: no cover - compiled
    h, w = ca.shape
    for i in range(h):
        for j in range(w):
            t = np.int32(dst[y + i, x + j]) * keep[i, j] + ca[i, j]
            dst[y + i, x + j] = (t + 510) // 1020


def blend(p: Prepared, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Draw the overlay into the planes of one frame, in place."""
    _luma(y, p.x, p.y, p.ya, p.keep)
    _chroma(u, p.x // 2, p.y // 2, p.ua, p.keep_c)
    _chroma(v, p.x // 2, p.y // 2, p.va, p.keep_c)
