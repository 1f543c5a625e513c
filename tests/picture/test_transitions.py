"""vgen's own xfade transitions (`vgen.picture.transitions`) against FFmpeg's xfade, frame by frame.

The reference is FFmpeg's xfade fed the 4:4:4 pictures whose chroma is the test frames' 4:2:0
chroma repeated 2x2, read back at the co-sited samples (luma whole, chroma [::2, ::2]): what
transitions.py computes, so each formula is checked to the byte, on FFmpeg 5.1 and 9 (every name
each one has). vgen's FFmpeg compositor (`graph.segment_graph`) converts with swscale's default
bicubic scaler up to yuv444p and back instead: that round trip alone leaves chroma 34-38 dB from
the frame it started from, before any transition, so it cannot check a formula (its luma is the
same as here).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys

from vgen.model.spec import XFADE_TRANSITIONS
from vgen.picture import transitions, warp

W, H = 320, 180
FPS, FRAMES = 10, 12  # xfade duration 1.2 s: progress 1, 11/12, ..., 0 (frame 12)
BLENDS = {"fade", "fadeblack", "fadewhite"}  # vgen's rounded 12-bit blends: within a level of xfade
# Formulas through the C library's sinf, atan2f, powf, logf or hypotf: identical with the glibc both
# FFmpegs here use; another libm may differ in the last bit, so these need 99.9% identical samples.
LIBM = {"dissolve", "hlwind", "hrwind", "vuwind", "vdwind", "radial", "fadefast", "fadeslow"}
LIBM |= {"circlecrop", "circleopen", "circleclose"}
# At p = 1 xfade 5.1 and 9.0 read column 0 (row 0) one past the row (plane) in these; vgen wraps.
PAST_THE_EDGE = {"slideleft": "column", "revealleft": "column", "slideup": "row", "revealup": "row"}
# Where xfade's own ends are not a and b: at p = 1 the wipes from the right or bottom keep b in
# column or row 0 (x > int(W * 0)), rectcrop keeps its black border, distance shows b where a and
# b lie more than 1 apart, the squeezes resample a; at p = 0 the other wipes keep a in column or
# row 0, rectcrop its border, the squeezes a's first row in the middle one (0/0), radial some a
# near its starting ray.
NOT_A_AT_1 = {"wiperight", "wipedown", "wipetr", "wipebl", "wipebr", "rectcrop", "distance", "squeezeh", "squeezev"}
NOT_B_AT_0 = {"wipeleft", "wipeup", "wipetl", "rectcrop", "radial", "squeezeh", "squeezev"}


def planes(frame: np.ndarray, w: int = W, h: int = H) -> list[np.ndarray]:
    n = w * h
    return [
        frame[:n].reshape(h, w),
        frame[n : n * 5 // 4].reshape(h // 2, w // 2),
        frame[n * 5 // 4 :].reshape(h // 2, w // 2),
    ]


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def lavfi_frame(ffmpeg: str, source: str, w: int = W, h: int = H) -> np.ndarray:
    """One BT.709 limited-range yuv420p frame of a lavfi source."""
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-nostdin", "-f", "lavfi", "-i", source, "-frames:v", "1", "-vf",
         f"scale={w}:{h}:out_color_matrix=bt709:out_range=tv,format=yuv420p", "-f", "rawvideo", "pipe:1"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert len(out) == w * h * 3 // 2
    return np.frombuffer(out, np.uint8).copy()


@pytest.fixture(scope="module")
def pictures(ff) -> tuple[np.ndarray, np.ndarray]:
    """Two distinct, detailed frames: testsrc2 (sharp edges, text, colour bars) and a mandelbrot."""
    return lavfi_frame(ff.path, f"testsrc2=s={W}x{H}"), lavfi_frame(ff.path, f"mandelbrot=s={W}x{H}")


@pytest.fixture(scope="module")
def inputs444(pictures, tmp_path_factory) -> tuple[Path, Path]:
    """The test frames as raw yuv444p files (chroma repeated 2x2), FRAMES + 3 frames each."""
    d = tmp_path_factory.mktemp("xfade")
    paths = []
    for name, frame in zip("ab", pictures):
        y, u, v = planes(frame)
        full = np.concatenate([y.ravel()] + [c.repeat(2, 0).repeat(2, 1).ravel() for c in (u, v)])
        path = d / f"{name}.yuv"
        path.write_bytes(full.tobytes() * (FRAMES + 3))
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def xfade(ff) -> tuple[str, frozenset[str]]:
    """The suite's FFmpeg (make test runs it with Debian's 5.1 and with the wheel's 9) and the xfade
    transitions it has."""
    text = subprocess.run(
        [ff.path, "-hide_banner", "-h", "filter=xfade"], capture_output=True, text=True, timeout=60
    ).stdout
    names = frozenset(re.findall(r"^\s+(\w+)\s+-?\d+\s+\.\.FV", text, re.MULTILINE)) - {"custom"}
    assert "fade" in names and "squeezev" in names, text
    return ff.path, names


def xfade_frames(ffmpeg: str, name: str, a444: Path, b444: Path) -> list[list[np.ndarray]]:
    """FFmpeg's xfade frames 0..FRAMES of `name` (offset 0, time base 1/FPS), as 4:2:0 planes."""
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", f"{W}x{H}", "-framerate", str(FPS)]
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-nostdin", *raw, "-i", str(a444), *raw, "-i", str(b444),
         "-filter_complex_threads", "1", "-filter_complex",
         f"[0][1]xfade=transition={name}:duration={FRAMES / FPS}:offset=0", "-frames:v", str(FRAMES + 1),
         "-f", "rawvideo", "-pix_fmt", "yuv444p", "pipe:1"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    frames = np.frombuffer(out, np.uint8).reshape(-1, 3, H, W)
    assert len(frames) == FRAMES + 1
    return [[f[0], f[1][::2, ::2], f[2][::2, ::2]] for f in frames]


def test_names_are_xfades(xfade):
    """Every transition this FFmpeg's xfade has is drawn here; vgen's spec accepts exactly these."""
    _, names = xfade
    assert names <= transitions.NAMES
    assert transitions.NAMES == XFADE_TRANSITIONS


@pytest.mark.parametrize("name", sorted(transitions.NAMES))
def test_matches_xfade(xfade, name, pictures, inputs444):
    """Each progress point, each plane: the bytes of FFmpeg's xfade (the blends: within a level)."""
    ffmpeg, names = xfade
    if name not in names:
        pytest.skip(f"{name} is not in this FFmpeg's xfade")
    a, b = pictures
    out = np.empty_like(a)
    for i, ref in enumerate(xfade_frames(ffmpeg, name, *inputs444)):
        p = transitions.progress(i, FRAMES)
        transitions.draw(name, a, b, out, W, H, p, ffmpeg_levels=True)
        for k, (ours, theirs) in enumerate(zip(planes(out), ref)):
            where = f"{name} frame {i} (p={float(p):.4f}) plane {'YUV'[k]}"
            if i == 0 and name in PAST_THE_EDGE:  # compare all but xfade's out-of-bounds samples
                ours, theirs = (
                    (ours[:, 1:], theirs[:, 1:]) if PAST_THE_EDGE[name] == "column" else (ours[1:], theirs[1:])
                )
            assert psnr(ours, theirs) >= 40, f"{where}: PSNR {psnr(ours, theirs):.2f} dB"
            if name in BLENDS:
                assert int(np.abs(ours.astype(int) - theirs).max()) <= 1, where
            elif name in LIBM:
                assert np.mean(ours == theirs) >= 0.999, where
            else:
                assert np.array_equal(ours, theirs), f"{where}: {np.count_nonzero(ours != theirs)} samples differ"


def test_progress_is_xfades():
    """1 - i/frames in float32 as xfade computes it, clipped; `linear` is vgen's float64 value."""
    assert transitions.progress(0, 25) == 1.0 and transitions.progress(25, 25) == 0.0
    assert transitions.progress(30, 25) == 0.0 and transitions.progress(-1, 25) == 1.0
    f32 = np.float32
    for frames in (3, 7, 10, 12, 25, 240):
        for i in range(frames + 1):
            p = transitions.progress(i, frames)
            assert float(p) == float(f32(1) - f32(i) / f32(frames))
            assert p.linear == 1.0 - i / frames
    # float32's two roundings: not the float32 nearest to 2/3 (xfade's z = int(W * p) follows this)
    assert float(transitions.progress(1, 3)) != float(f32(2 / 3))
    with pytest.raises(ValueError):
        transitions.progress(0, 0)


def blend_weights(kind: str, i: int, frames: int) -> tuple[float, float, float]:
    """The blend weights draw.py used before every transition was vgen's own (picture/source.py at
    commit 8f0989e), kept here as the reference the blends must still match byte for byte."""
    p = min(max(1.0 - i / frames, 0.0), 1.0)
    if kind == "fade":
        return p, 1.0 - p, 0.0

    def smoothstep(e0: float, e1: float, x: float) -> float:
        t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
        return t * t * (3 - 2 * t)

    s1, s2 = smoothstep(0.8, 1.0, p), smoothstep(0.2, 1.0, p)
    a, b = s1 * p, (1 - s2) * (1 - p)
    return a, b, 1.0 - a - b


def _blend_as_before(kind: str, a: np.ndarray, b: np.ndarray, i: int, frames: int) -> np.ndarray:
    """What draw.py drew for the three blends before transitions.py: blend_weights and warp.mix."""
    out = np.empty_like(a)
    wa, wb, _ = blend_weights(kind, i, frames)
    luma, chroma = {"fadeblack": (16, 128), "fadewhite": (235, 128)}.get(kind, (0, 0))
    n = a.size * 2 // 3
    warp.mix(a[:n], b[:n], wa, wb, luma, out[:n])
    warp.mix(a[n:], b[n:], wa, wb, chroma, out[n:])
    return out


def test_blends_unchanged():
    """fade, fadeblack and fadewhite draw the bytes vgen drew before, from progress(i, frames):
    weights from its float64 value (xfade's float32 one would move fadeblack's 12-bit weights in
    some frames, frame 9 of 20 the first)."""
    rng = np.random.default_rng(5)
    a, b = (rng.integers(16, 236, 32 * 16 * 3 // 2).astype(np.uint8) for _ in range(2))
    out = np.empty_like(a)
    for kind in sorted(BLENDS):
        for frames in range(1, 301):
            for i in range(frames + 1):
                p = transitions.progress(i, frames)
                assert transitions._fade_weights(kind, p.linear) == blend_weights(kind, i, frames)[:2]
        for frames in (1, 2, 7, 20, 48):
            for i in range(frames + 1):
                transitions.draw(kind, a, b, out, 32, 16, transitions.progress(i, frames))
                assert np.array_equal(out, _blend_as_before(kind, a, b, i, frames)), (kind, i, frames)


def _test_frames(w: int, h: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Two limited-range frames with detail everywhere (noise) and some flat areas."""
    rng = np.random.default_rng(seed)
    n = w * h * 3 // 2
    a = rng.integers(16, 236, n).astype(np.uint8)
    b = rng.integers(16, 236, n).astype(np.uint8)
    a[: w * h // 4] = 60
    return a, b


@pytest.mark.parametrize("name", sorted(transitions.NAMES))
def test_ends(name):
    """p = 1 gives the outgoing frame and p = 0 the incoming one, where xfade does so too."""
    a, b = _test_frames(64, 36)
    out = np.empty_like(a)
    transitions.draw(name, a, b, out, 64, 36, transitions.progress(0, 10))
    assert np.array_equal(out, a) != (name in NOT_A_AT_1)
    transitions.draw(name, a, b, out, 64, 36, transitions.progress(10, 10))
    assert np.array_equal(out, b) != (name in NOT_B_AT_0)


@pytest.mark.parametrize("name", sorted(transitions.NAMES))
def test_in_range_complete_deterministic(name):
    """Limited-range frames stay in limited range (video black and white as backgrounds); every
    byte of out is written (out filled with 0 or 255 first gives the same bytes); the same inputs
    give the same bytes; odd chroma sizes (a 4:2:0 plane of 27 x 9) work."""
    for w, h in ((64, 36), (54, 18), (2, 2)):
        a, b = _test_frames(w, h)
        x, y = np.zeros_like(a), np.full_like(a, 255)
        for i in range(0, 9):
            p = transitions.progress(i, 8)
            transitions.draw(name, a, b, x, w, h, p)
            transitions.draw(name, a, b, y, w, h, p)
            assert np.array_equal(x, y), (name, w, h, i)
            lum, u, v = planes(x, w, h)
            assert lum.min() >= 16 and lum.max() <= 235, (name, i)
            assert min(u.min(), v.min()) >= 16 and max(u.max(), v.max()) <= 240, (name, i)


def test_threads_share_nothing_per_frame():
    """Composer threads draw concurrently (nogil kernels, per-thread scratch, shared size tables):
    the same bytes as one after another."""
    a, b = _test_frames(96, 54, seed=3)
    names = sorted(transitions.NAMES)
    want = {}
    for name in names:
        out = np.empty_like(a)
        transitions.draw(name, a, b, out, 96, 54, transitions.progress(5, 12))
        want[name] = out
    got: dict[str, np.ndarray] = {}

    def work(part: list[str]) -> None:
        for name in part:
            out = np.empty_like(a)
            transitions.draw(name, a, b, out, 96, 54, transitions.progress(5, 12))
            got[name] = out

    threads = [threading.Thread(target=work, args=(names[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[n], want[n]) for n in names)


def _numba_allocations(name: str, w: int, h: int) -> int:
    """numba's allocation count while drawing two frames of a size (after a first one)."""
    a, b = _test_frames(w, h)
    out = np.empty_like(a)
    transitions.draw(name, a, b, out, w, h, transitions.progress(3, 10))
    before = rtsys.get_allocation_stats().alloc
    for i in (1, 2):
        transitions.draw(name, a, b, out, w, h, transitions.progress(i, 10))
    return rtsys.get_allocation_stats().alloc - before


TRACE_DRAWS = """
import sys, tracemalloc
import numpy as np
from vgen.picture import transitions
w, h = 640, 360
rng = np.random.default_rng(1)
a, b = (rng.integers(16, 236, w * h * 3 // 2).astype(np.uint8) for _ in range(2))
out = np.empty_like(a)
names = sorted(transitions.NAMES)
for name in names:  # first use of every code path
    for i in range(4):
        transitions.draw(name, a, b, out, w, h, transitions.progress(i, 10))
tracemalloc.start()
for name in names:
    for i in range(4):
        transitions.draw(name, a, b, out, w, h, transitions.progress(i, 10))
print(tracemalloc.get_traced_memory()[1])
"""


def test_no_allocation_per_frame():
    """After the first frame of a size, drawing allocates nothing frame-sized: NumPy memory only for
    views and scalars, and numba the same few allocations at every size (the wrappers of the arrays
    passed in: no buffer per frame or per row). The Python side is traced in a process of its own:
    tracemalloc counts every thread, and the suite's servers run threads of their own."""
    peak = int(subprocess.run([sys.executable, "-c", TRACE_DRAWS], capture_output=True, text=True, check=True).stdout)
    assert peak < 64 * 1024, peak  # a frame here is 338 KiB
    names = sorted(transitions.NAMES)
    _nrt_python.memsys_enable_stats()  # numba's own allocation counters
    try:
        for name in names:
            assert _numba_allocations(name, 64, 36) == _numba_allocations(name, 640, 360), name
    finally:
        _nrt_python.memsys_disable_stats()


def test_bad_arguments():
    a, b = _test_frames(64, 36)
    out = np.empty_like(a)
    with pytest.raises(ValueError, match="unknown transition"):
        transitions.draw("custom", a, b, out, 64, 36, 0.5)
    with pytest.raises(ValueError, match="even"):
        transitions.draw("fade", a, b, out, 63, 36, 0.5)
    with pytest.raises(ValueError, match="3456 bytes"):
        transitions.draw("wipeleft", a[:-1], b, out, 64, 36, 0.5)
    with pytest.raises(ValueError, match="overlap"):
        transitions.draw("slideleft", a, b, a, 64, 36, 0.5)


def test_warm():
    transitions.warm()
