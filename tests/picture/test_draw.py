"""The raw-frame source (vgen's own composition, piped to FFmpeg): seamless, faithful, sharp."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vgen.picture import canvas, draw, warp
from vgen.picture.source import Source
from vgen.pipeline import load_and_check, prepare
from vgen.run.render import render_spec

from helpers import base_spec, framemd5, gray_frames, laplacian_energy, mixed_spec, run_ff, vgen, write_spec, yuv_frames


def blend_spec(media, narration, seconds: float) -> dict:
    """The mixed spec (clip, contain, alpha, EXIF, tiny and huge images) with the blends raw frames
    draw themselves: fade, fadeblack, fadewhite and cuts."""
    spec = mixed_spec(media, narration, seconds)
    kinds = iter(["fadeblack", "none", "fadewhite"])  # the three slides that set a transition
    for slide in spec["slides"][1:]:
        if "transition" in slide:
            kind = next(kinds)
            slide["transition"] = "none" if kind == "none" else {"type": kind, "duration": 0.5}
    return spec


@pytest.mark.slow
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


@pytest.mark.slow
def test_raw_and_ffmpeg_compositors_agree(ff, media, long_narration, tmp_path, monkeypatch):
    """The two paths draw the same pictures; they differ only in resampling and rounding details
    (and xfade's fadeblack fades to Y=0 where raw frames fade to video black, Y=16). Both from the
    FFmpeg commands' canvases: the compositors are compared here, the canvases in test_canvas.py."""
    monkeypatch.setattr(canvas, "engine", lambda: None)
    videos = {}
    for how in ("raw", "ffmpeg"):
        spec = blend_spec(media, long_narration, 3)
        for slide in spec["slides"]:
            if isinstance(slide.get("transition"), dict) and slide["transition"]["type"] != "fade":
                slide["transition"]["type"] = "fade"
        spec["output"].update(quality=0, path=f"{how}.mp4", compositor="auto" if how == "raw" else "ffmpeg")
        r = render_spec(write_spec(tmp_path, spec, f"{how}.yaml"), ff=ff)
        videos[how] = yuv_frames(ff, r.output, 160, 90)
    a, b = videos["raw"], videos["ffmpeg"]
    assert a.shape == b.shape and len(a) == 142
    n = 160 * 90
    for name, plane in (("Y", slice(0, n)), ("U", slice(n, n * 5 // 4)), ("V", slice(n * 5 // 4, None))):
        mse = ((a[:, plane] - b[:, plane]) ** 2).mean(axis=1)
        psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-9))
        # A chroma plane off by half a sample in either direction drops below these.
        assert np.median(psnr) > 40 and psnr.min() > 30, (name, np.median(psnr), psnr.min(), int(psnr.argmin()))


@pytest.fixture(scope="module")
def texture(ff, tmp_path_factory):
    p = tmp_path_factory.mktemp("tex") / "texture.png"
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=640x360",
        "-vf",
        "geq=lum='random(1)*255':cb=128:cr=128,gblur=sigma=1.2",
        "-frames:v",
        "1",
        str(p),
    )
    return p


@pytest.mark.slow
def test_raw_frames_are_as_sharp_as_the_perspective_path(ff, tmp_path, texture):
    """End to end, the fast path loses no detail against FFmpeg's cubic perspective warp."""
    energy = {}
    for how in ("auto", "ffmpeg"):
        spec = base_spec(out=f"{how}.mp4", w=320, h=180, fps=25)
        spec["output"].update(quality=0, compositor=how)
        spec["slides"] = [
            {
                "image": str(texture),
                "duration": 2,
                "ken_burns": {"from": {"zoom": 1.1, "x": 0.45}, "to": {"zoom": 1.2, "x": 0.55}},
            }
        ]
        r = render_spec(write_spec(tmp_path, spec, f"{how}.yaml"), ff=ff)
        frames = gray_frames(ff, r.output, 320, 180)
        energy[how] = np.mean([laplacian_energy(f) for f in frames[5:45:5]])
    assert energy["auto"] > 0.97 * energy["ffmpeg"], energy


def test_dry_run_shows_the_raw_source_for_every_transition_and_ffmpeg_only_when_asked(media, tmp_path):
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}, {"image": str(media["square"]), "duration": 1}]
    for kind in ("fade", "wipeleft", "dissolve", "hlwind"):  # hlwind: FFmpeg 9's xfade only; vgen draws it anyway
        spec["slides"][1]["transition"] = {"type": kind, "duration": 0.5}
        dry = vgen("dry-run", write_spec(tmp_path, spec))
        assert dry.returncode == 0, dry.stderr
        assert "# compositor: raw\n" in dry.stdout and f"blends {kind} 5 fr into slide 2" in dry.stdout
        assert "# raw-frame source: raw yuv420p 160x90 at 10/1 fps, frames [0, 20)" in dry.stdout
        assert "-m vgen.picture" in dry.stdout and "-f rawvideo" in dry.stdout and "xfade" not in dry.stdout
    spec["slides"][1]["transition"] = {"type": "wipeleft", "duration": 0.5}
    dry = vgen("dry-run", "--compositor", "ffmpeg", write_spec(tmp_path, spec))
    assert "# compositor: ffmpeg\n" in dry.stdout
    assert "-m vgen.picture" not in dry.stdout and "xfade=duration=0.5:offset=0.8:transition=wipeleft" in dry.stdout


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
    frames = [f.copy() for f in draw.frames(src, threads=2)]
    assert len(frames) == 20 and all((f == frames[0]).all() for f in frames)


def test_fadeblack_passes_through_video_black(ff, media, tmp_path):
    """Pixels of a real render: early in a fadeblack the frame is black (Y 16), around it pictures."""
    spec = base_spec(fps=10)
    spec["output"]["quality"] = 0
    spec["slides"] = [
        {"image": str(media["land"]), "duration": 2, "ken_burns": "none"},
        {
            "image": str(media["square"]),
            "duration": 2,
            "ken_burns": "zoom-in",
            "transition": {"type": "fadeblack", "duration": 1},
        },
    ]
    r = render_spec(write_spec(tmp_path, spec), ff=ff)
    raw = subprocess.run(
        [ff.path, "-v", "error", "-i", str(r.output), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        capture_output=True,
        check=True,
    ).stdout
    y = np.frombuffer(raw, np.uint8).reshape(-1, 160 * 90 * 3 // 2)[:, : 160 * 90].astype(np.float64)  # Y as coded
    first = 15  # the transition: frames 15..24, progress 1 - i/10
    assert y[first - 3].mean() > 60 and y[first + 12].mean() > 60
    assert abs(y[first + 2].mean() - 16) < 6, y[first + 2].mean()  # progress 0.8: background only
    assert y[first + 5].mean() > y[first + 2].mean() + 10  # the incoming picture fades in


def test_blend_weights_match_xfade_formulas():
    """fadeblack: mix(mix(a, bg, smoothstep(0.8, 1, p)), mix(bg, b, smoothstep(0.2, 1, p)), p), as in vf_xfade.c."""
    from vgen.picture.transitions import _fade_weights

    def smooth(e0, e1, x):
        t = min(max((x - e0) / (e1 - e0), 0), 1)
        return t * t * (3 - 2 * t)

    for i in range(10):
        p = 1 - i / 10
        a, b = _fade_weights("fadeblack", p)
        out_a, out_b = 200.0, 100.0  # any pixel values; the mix is linear in them
        want = (out_a * smooth(0.8, 1, p) + 16 * (1 - smooth(0.8, 1, p))) * p + (
            16 * smooth(0.2, 1, p) + out_b * (1 - smooth(0.2, 1, p))
        ) * (1 - p)
        assert a * out_a + b * out_b + (1 - a - b) * 16 == pytest.approx(want)
    assert _fade_weights("fade", 0.7) == pytest.approx((0.7, 0.3))


@pytest.mark.slow
def test_source_json_round_trip_and_shell_entry(ff, media, tmp_path):
    """What dry-run prints is what runs: the JSON reads back equal, and `python -m vgen.picture`
    writes exactly the frames of the source."""
    spec = base_spec()
    spec["slides"] = [
        {"image": str(media["land"]), "duration": 1},
        {"video": str(media["clip"]), "duration": 1, "transition": {"type": "fade", "duration": 0.4}},
    ]
    src = prepare(write_spec(tmp_path, spec), ff).segment_commands[0].source
    assert src is not None and Source.from_json(src.to_json()) == src
    path = tmp_path / "source.json"
    path.write_text(src.to_json())
    out = subprocess.run([sys.executable, "-m", "vgen.picture", str(path)], capture_output=True, check=True).stdout
    assert len(out) == (src.end - src.first) * src.frame_bytes
    mine = b"".join(f.tobytes() for f in draw.frames(src))
    assert out == mine


@pytest.mark.slow
def test_a_failing_canvas_fails_its_segment_with_the_reason(ff, media, tmp_path):
    import dataclasses

    from vgen.errors import FFmpegError
    from vgen.run.runner import run

    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}]
    cmd = prepare(write_spec(tmp_path, spec), ff).segment_commands[0]
    assert cmd.source is not None
    layer = cmd.source.layers[0]
    gone = str(tmp_path / "gone.jpg")  # libvips fails on it first where it makes canvases, then FFmpeg
    broken = dataclasses.replace(
        layer,
        argv=(ff.path, "-v", "error", "-i", gone, "-f", "rawvideo", "pipe:1"),
        image=dataclasses.replace(layer.image, path=gone) if layer.image else None,
    )
    cmd = dataclasses.replace(cmd, source=dataclasses.replace(cmd.source, layers=(broken,)))
    with pytest.raises(FFmpegError, match="slide 1: preparing its image failed"):
        run(cmd)
    assert not cmd.tmp.exists() or cmd.tmp.stat().st_size < 10_000


def test_a_short_clip_stream_is_an_error_not_a_hang(ff, media, tmp_path):
    import dataclasses

    from vgen.errors import FFmpegError

    spec = base_spec()
    spec["slides"] = [{"video": str(media["clip"]), "duration": 2}]
    src = prepare(write_spec(tmp_path, spec), ff).segment_commands[0].source
    assert src is not None and src.layers[0].clip
    two = (
        ff.path,
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "color=s=160x90:r=10:d=0.2",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "pipe:1",
    )
    src = dataclasses.replace(src, layers=(dataclasses.replace(src.layers[0], argv=two),))
    with pytest.raises(FFmpegError, match="decoding its clip stopped early"):
        for _ in draw.frames(src):
            pass


def test_a_move_to_the_far_edge_keeps_the_last_row(ff, media, tmp_path):
    """The canvas is even-sized, so the (even) box a move covers can include its last row and column:
    a pan to the bottom edge shows the image's own bottom row, not a repeated one above it."""
    from vgen.ffmpeg import graph

    spec = base_spec()
    spec["slides"] = [
        {
            "image": str(media["land"]),
            "duration": 2,  # 640x480 on 160x90: canvas 160x120
            "ken_burns": {"from": {"zoom": 1.0, "y": 0.5}, "to": {"zoom": 1.15, "y": 1.0}},
        }
    ]
    tl = load_and_check(write_spec(tmp_path, spec), ff).timeline
    geo = graph.canvas_geometry(tl.slides[0], tl)
    assert geo is not None and geo.ch % 2 == 0 and geo.cw % 2 == 0  # 120 * sqrt(1.15) = 128.7 -> 130
    x, y, w, h = geo.box
    assert y + h == geo.ch and x % 2 == 0 and y % 2 == 0 and w % 2 == 0 and h % 2 == 0


def test_an_unknown_compositor_is_a_one_line_error(media, tmp_path):
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}]
    path = write_spec(tmp_path, spec)
    for command in ("render", "dry-run"):
        r = subprocess.run(
            [sys.executable, "-m", "vgen", command, "--compositor", "gpu", str(path)], capture_output=True, text=True
        )
        assert r.returncode == 2 and "use auto (raw frames) or ffmpeg" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out.mp4").exists()


TEN = ["wipeleft", "slideup", "circleopen", "dissolve", "pixelize", "radial", "hblur", "squeezeh", "zoomin", "diagtl"]


@pytest.mark.slow
def test_the_two_engines_draw_the_same_transitions_frame_by_frame(ff, media, tmp_path, monkeypatch):
    """vgen's own transitions against FFmpeg's xfade in the reference path (--compositor ffmpeg), on
    whole renders: luma is the same picture. (The FFmpeg path runs xfade on 4:4:4 after a bicubic
    upsampling and back, so its chroma differs by design; tests/picture/test_transitions.py holds
    the chroma against xfade fed vgen's own 4:2:0 samples: identical.)"""
    monkeypatch.setattr(canvas, "engine", lambda: None)  # both from FFmpeg's canvases, as above
    spec = base_spec(fps=10)
    pics = [media["land"], media["land2"], media["square"], media["portrait"]]
    spec["defaults"] = {"duration": 1.0, "ken_burns": "none"}
    spec["slides"] = [{"image": str(pics[i % 4])} for i in range(len(TEN) + 1)]
    for slide, kind in zip(spec["slides"][1:], TEN):
        slide["transition"] = {"type": kind, "duration": 0.6}
    videos = {}
    for how in ("auto", "ffmpeg"):
        spec["output"].update(quality=0, path=f"{how}.mp4", compositor=how)
        r = render_spec(write_spec(tmp_path, spec, f"{how}.yaml"), ff=ff)
        videos[how] = yuv_frames(ff, r.output, 160, 90)
    a, b = videos["auto"], videos["ffmpeg"]
    assert a.shape == b.shape and len(a) == 10 * (len(TEN) + 1)
    # Row 0 left out: at p = 1 FFmpeg's slideup reads one row past its plane (5.1 and 9.0; vgen wraps).
    luma = ((a[:, 160 : 160 * 90] - b[:, 160 : 160 * 90]) ** 2).mean(axis=1)
    psnr = 10 * np.log10(255**2 / np.maximum(luma, 1e-9))
    assert psnr.min() >= 40, [(i, round(p, 1)) for i, p in enumerate(psnr) if p < 40]
