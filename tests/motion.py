"""Sub-pixel motion measurement for the smoothness tests: phase correlation of fixed screen patches."""

from __future__ import annotations

import numpy as np


def phase_shift(a: np.ndarray, b: np.ndarray, band: float = 0.12) -> tuple[float, float]:
    """(dx, dy) that moves patch a onto patch b: the slope of the cross-power spectrum's phase
    over the low frequencies, fitted by least squares (unbiased, sub-pixel, no peak fitting)."""
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * win)
    fb = np.fft.fft2((b - b.mean()) * win)
    fy = np.fft.fftfreq(a.shape[0])[:, None] * np.ones((1, a.shape[1]))
    fx = np.fft.fftfreq(a.shape[1])[None, :] * np.ones((a.shape[0], 1))
    cross = fb * np.conj(fa)
    sel = (np.hypot(fx, fy) < band) & (np.hypot(fx, fy) > 0)
    phase = np.angle(cross[sel])
    weight = np.abs(cross[sel])
    m = np.stack([fx[sel], fy[sel]], axis=1) * (-2 * np.pi)
    sw = np.sqrt(weight)[:, None]
    sol, *_ = np.linalg.lstsq(m * sw, phase * sw[:, 0], rcond=None)
    return float(sol[0]), float(sol[1])


def displacements(frames: np.ndarray, x: int, y: int, size: int = 48) -> np.ndarray:
    """Frame-to-frame (dx, dy) of the screen patch at (x, y)."""
    out = []
    for a, b in zip(frames, frames[1:]):
        pa = a[y : y + size, x : x + size]
        pb = b[y : y + size, x : x + size]
        out.append(phase_shift(pa, pb))
    return np.array(out)


def jitter(series: np.ndarray) -> float:
    """RMS of the frame-to-frame displacement around its own linear trend (0 = perfectly steady)."""
    t = np.arange(len(series))
    res = []
    for col in series.T:
        coef = np.polyfit(t, col, 1)
        res.append(col - np.polyval(coef, t))
    return float(np.sqrt(np.mean(np.square(res))))
