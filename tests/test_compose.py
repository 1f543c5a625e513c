"""The raw-frame source (vgen's own composition, piped to FFmpeg): seamless, faithful, sharp."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import base_spec, gray_frames, run_ff, write_spec
from test_render import framemd5, long_narration, mixed_spec  # noqa: F401 - a fixture
from test_warp import laplacian_energy
from vgen import compose, warp
from vgen.render import prepare, render_spec


def blend_spec(media, narration, seconds: float) -> dict:
    """The mixed spec (clip, contain, alpha, EXIF, tiny and huge images) with the blends raw frames
    draw themselves: fade, fadeblack, fadewhite and cuts."""
    spec = mixed_spec(media, narration, seconds)
    kinds = iter(["fadeblack", "none", "fadewhite", "fade", "fade", "fadeblack", "fade", "fade"])
    for slide in spec["slides"][1:]:
        if "transition" in slide:
            kind = next(kinds)
            slide["transition"] = "none" if kind == "none" else {"type": kind, "duration": 0.5}
    return spec


def test_raw_segments_join_without_a_seam(ff, media, long_narration, tmp_path):
    """Cut into many segments or none: the same frames, bit for bit, on every FFmpeg (each frame is
    computed from the global frame number alone)."""
    outs = []
    for seconds in (1, 1000):
        spec = blend_spec(media, long_narration, seconds)
        spec["output"]["quality"] = 0
        spec["output"]["path"] = f"out-{seconds}.mp4"
        path = write_spec(tmp_path, spec, f"spec-{seconds}.yaml")
        assert prepare(path, ff).compositor == "raw"
        outs.append(render_spec(path, ff=ff))
    assert outs[0].segments > 8 and outs[1].segments == 1
    assert framemd5(ff, outs[0].output) == framemd5(ff, outs[1].output)


def test_raw_and_ffmpeg_compositors_agree(ff, media, long_narration, tmp_path):
    """The two paths draw the same pictures; they differ only in resampling and rounding details
    (and xfade's fadeblack fades to Y=0 where raw frames fade to video black, Y=16)."""
    videos = {}
    for how in ("raw", "ffmpeg"):
        spec = blend_spec(media, long_narration, 3)
        for slide in spec["slides"]:
            if isinstance(slide.get("transition"), dict) and slide["transition"]["type"] != "fade":
                slide["transition"]["type"] = "fade"
        spec["output"].update(quality=0, path=f"{how}.mp4", compositor="auto" if how == "raw" else "ffmpeg")
        r = render_spec(write_spec(tmp_path, spec, f"{how}.yaml"), ff=ff)
        videos[how] = gray_frames(ff, r.output, 160, 90)
    a, b = videos["raw"], videos["ffmpeg"]
    assert a.shape == b.shape and len(a) == 142
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-9))
    assert np.median(psnr) > 40 and psnr.min() > 30, (np.median(psnr), psnr.min(), int(psnr.argmin()))


@pytest.fixture(scope="module")
def texture(ff, tmp_path_factory):
    p = tmp_path_factory.mktemp("tex") / "texture.png"
    run_ff(ff, "-f", "lavfi", "-i", "nullsrc=s=640x360", "-vf",
           "geq=lum='random(1)*255':cb=128:cr=128,gblur=sigma=1.2", "-frames:v", "1", str(p))
    return p


def test_raw_frames_are_as_sharp_as_the_perspective_path(ff, tmp_path, texture):
    """End to end, the fast path loses no detail against FFmpeg's cubic perspective warp."""
    energy = {}
    for how in ("auto", "ffmpeg"):
        spec = base_spec(out=f"{how}.mp4", w=320, h=180, fps=25)
        spec["output"].update(quality=0, compositor=how)
        spec["slides"] = [{"image": str(texture), "duration": 2,
                           "ken_burns": {"from": {"zoom": 1.1, "x": 0.45}, "to": {"zoom": 1.2, "x": 0.55}}}]
        r = render_spec(write_spec(tmp_path, spec, f"{how}.yaml"), ff=ff)
        frames = gray_frames(ff, r.output, 320, 180)
        energy[how] = np.mean([laplacian_energy(f) for f in frames[5:45:5]])
    assert energy["auto"] > 0.97 * energy["ffmpeg"], energy


def test_dry_run_shows_the_raw_source_and_other_transitions_use_ffmpeg(media, tmp_path):
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}, {"image": str(media["square"]), "duration": 1}]
    dry = subprocess.run([sys.executable, "-m", "vgen", "dry-run", str(write_spec(tmp_path, spec))], capture_output=True,
                         text=True)
    assert dry.returncode == 0, dry.stderr
    assert "# compositor: raw" in dry.stdout
    assert "# raw-frame source: raw yuv420p 160x90 at 10/1 fps, frames [0, 20)" in dry.stdout
    assert "-m vgen.compose" in dry.stdout and "-f rawvideo" in dry.stdout and "VGEN_SOURCE" in dry.stdout
    spec["slides"][1]["transition"] = {"type": "wipeleft", "duration": 0.5}
    dry = subprocess.run([sys.executable, "-m", "vgen", "dry-run", str(write_spec(tmp_path, spec))], capture_output=True,
                         text=True)
    assert "# compositor: ffmpeg (transition(s) wipeleft come from FFmpeg's xfade" in dry.stdout
    assert "-m vgen.compose" not in dry.stdout and "xfade" in dry.stdout


def test_still_slides_are_copied_not_resampled(ff, media, tmp_path, monkeypatch):
    """A still slide costs a copy per frame: its canvas is the finished frame."""
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 2, "ken_burns": "none"}]
    prep = prepare(write_spec(tmp_path, spec), ff)
    src = prep.segment_commands[0].source
    assert src is not None and src.layers[0].move is None

    def refuse(*_a, **_k):
        raise AssertionError("a still slide was resampled")

    monkeypatch.setattr(warp, "resample", refuse)
    frames = [f.copy() for f in compose.frames(src, threads=2)]
    assert len(frames) == 20 and all((f == frames[0]).all() for f in frames)


def test_blend_weights_follow_xfade():
    assert compose.blend_weights("fade", 0, 10) == (1.0, 0.0, 0.0)
    a, b, bg = compose.blend_weights("fade", 5, 10)
    assert (a, b, bg) == (0.5, 0.5, 0.0)
    a, b, bg = compose.blend_weights("fadeblack", 2, 10)  # xfade's fade through black is black early on
    assert a == 0.0 and b < 0.05 and bg > 0.95
