"""Ken Burns motion must be sub-pixel smooth: steady frame-to-frame displacement, where zoompan shakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from vgen.run.render import Options, render_spec

from helpers import base_spec, gray_frames, run_ff, write_spec
from motion import displacements, jitter

W, H, FPS, SECONDS = 320, 180, 30, 3


@pytest.fixture(scope="module")
def texture(ff, tmp_path_factory) -> Path:
    """Fine, band-limited noise: every sub-pixel shift shows in phase correlation."""
    p = tmp_path_factory.mktemp("tex") / "texture.png"
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=640x360",
        "-vf",
        "geq=lum='random(1)*255':cb=128:cr=128,gblur=sigma=3",
        "-frames:v",
        "1",
        str(p),
    )
    return p


def _render(ff, tmp_path, texture, ken_burns) -> Path:
    spec = base_spec(w=W, h=H, fps=FPS)
    spec["output"]["quality"] = 0  # lossless: measure the motion, not the encoder
    spec["slides"] = [{"image": str(texture), "duration": SECONDS, "ken_burns": ken_burns}]
    r = render_spec(write_spec(tmp_path, spec), opts=Options(), ff=ff)
    return r.output


def test_slow_pan_is_steady(ff, tmp_path, texture):
    out = _render(
        ff, tmp_path, texture, {"from": {"zoom": 1.3, "x": 0.45, "y": 0.5}, "to": {"zoom": 1.3, "x": 0.55, "y": 0.5}}
    )
    frames = gray_frames(ff, out, W, H)
    assert len(frames) == FPS * SECONDS
    d = displacements(frames, W // 2 - 24, H // 2 - 24)
    # The picture moves left at a constant ~0.3 px per frame...
    assert -0.5 < d[:, 0].mean() < -0.1
    # ...with no shake around that steady motion.
    assert jitter(d) < 0.1, jitter(d)


def test_slow_zoom_is_steady(ff, tmp_path, texture):
    out = _render(ff, tmp_path, texture, {"from": {"zoom": 1.0}, "to": {"zoom": 1.1}})
    frames = gray_frames(ff, out, W, H)
    # A patch right of the centre drifts right at a constant rate under a geometric zoom.
    d = displacements(frames, W // 2 + 60, H // 2 - 24)
    assert 0.05 < d[:, 0].mean() < 0.5
    assert jitter(d) < 0.1, jitter(d)


def test_zoompan_fails_the_same_check(ff, tmp_path, texture):
    """The check is able to fail: FFmpeg's zoompan, which rounds to whole pixels, shakes."""
    out = tmp_path / "zoompan.mp4"
    n = FPS * SECONDS
    run_ff(
        ff,
        "-i",
        str(texture),
        "-vf",
        f"scale=416:234,zoompan=z=1.3:x='iw*(0.45+0.1*on/{n - 1})-iw/zoom/2':y='ih/2-ih/zoom/2':d={n}:s={W}x{H}"
        f":fps={FPS}",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        str(out),
    )
    frames = gray_frames(ff, out, W, H)
    d = displacements(frames, W // 2 - 24, H // 2 - 24)
    assert jitter(d) > 0.2, jitter(d)
