"""Real renders of tiny specs, checked the way a user would check the output file."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from vgen.pipeline import prepare
from vgen.run.render import render, render_spec

from helpers import base_spec, framemd5, gray_frames, mixed_spec, rgb_frame, run_ff, streams, write_spec


@pytest.mark.slow
def test_mixed_spec_renders_exact_file(ff, media, long_narration, tmp_path):
    spec_path = write_spec(tmp_path, mixed_spec(media, long_narration, seconds=3))
    prep = prepare(spec_path, ff)
    tl = prep.plan.timeline
    # 14.2 s of narration at 10 fps: the last slide ends with it, the video is exactly 142 frames.
    assert tl.total_frames == 142
    assert len(prep.plan.segments) >= 4
    result = render(prep)
    s = streams(ff, result.output)
    f = s["facts"]
    assert (f.width, f.height, round(f.fps)) == (160, 90, 10)
    assert "Video: h264" in s["info"] and "Audio: aac" in s["info"] and "48000 Hz, stereo" in s["info"]
    assert s["frames"] == 142
    assert abs(s["audio_s"] - 14.2) <= 0.1  # audio and video within one frame
    assert result.segments_reused == 0

    # The clip slide (frames 85..110 of its own loop) repeats every second: 1 s clip looped.
    clip = tl.slides[2]
    frames = gray_frames(ff, result.output, 160, 90)
    a, b = clip.hold_start + 1, clip.hold_start + 11
    assert np.abs(frames[a] - frames[b]).mean() < 3
    assert np.abs(frames[a] - frames[a + 5]).mean() > 3  # and it moves in between

    # A second run reuses every checked segment and gives the same pictures.
    first = framemd5(ff, result.output)
    again = render(prepare(spec_path, ff))
    assert again.segments_reused == again.segments
    assert framemd5(ff, again.output) == first


@pytest.mark.slow
def test_segments_join_without_a_seam(ff, media, long_narration, tmp_path):
    """Cut into many segments (next to every transition) or not at all: the same frames, losslessly."""
    outs = []
    for seconds in (1, 1000):
        spec = mixed_spec(media, long_narration, seconds=seconds)
        spec["output"]["quality"] = 0
        spec["output"]["path"] = f"out-{seconds}.mp4"
        r = render_spec(write_spec(tmp_path, spec, f"spec-{seconds}.yaml"), ff=ff)
        outs.append(r)
    assert outs[0].segments > 8 and outs[1].segments == 1
    if ff.major < 7:
        assert framemd5(ff, outs[0].output) == framemd5(ff, outs[1].output)
    else:
        # FFmpeg 7+ negotiates colour properties across the whole graph, so a slide's conversions
        # round by a level here and there depending on its neighbours; a seam, a range change or a
        # frame offset would still show as a far lower PSNR (measured: ~20-30 dB).
        a, b = (gray_frames(ff, o.output, 160, 90) for o in outs)
        mse = np.mean((a - b) ** 2, axis=(1, 2))
        psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-10))
        assert psnr.min() > 40, psnr.min()


def test_alpha_png_and_exif_rotation_come_out_right(ff, media, tmp_path):
    spec = base_spec()
    spec["defaults"] = {"transition": "none", "ken_burns": "none", "duration": 0.5}
    spec["slides"] = [{"image": str(media["alpha"])}, {"image": str(media["exif6"])}]
    r = render_spec(write_spec(tmp_path, spec), ff=ff)
    alpha = rgb_frame(ff, r.output, 0, 160, 90).astype(int)
    assert alpha[10:35, 10:150].max() < 40  # transparent -> black, not garbage
    assert alpha[60:85, 10:70, 0].mean() > 180 and alpha[60:85, 10:70, 2].mean() < 60  # red
    assert alpha[60:85, 90:150, 2].mean() > 180 and alpha[60:85, 90:150, 0].mean() < 60  # blue
    rotated = rgb_frame(ff, r.output, 7, 160, 90).astype(int)
    # Upright, the stored left band is the top band.
    assert rotated[2:20, 20:140, 0].mean() > 180 and rotated[2:20, 20:140, 2].mean() < 80
    assert rotated[60:88, 20:140, 2].mean() > 180 and rotated[60:88, 20:140, 0].mean() < 80


@pytest.mark.slow
@pytest.mark.parametrize("fit", ["cover", "contain"])
def test_presets_move_as_named(ff, media, tmp_path, fit):
    """Each preset starts or ends where its opposite does; static frames never change."""
    spec = base_spec()
    names = ["none", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down"]
    spec["defaults"] = {"transition": "none", "duration": 1.0, "fit": fit}
    spec["slides"] = [
        {"image": str(media["square"] if fit == "cover" else media["portrait"]), "ken_burns": n} for n in names
    ]
    r = render_spec(write_spec(tmp_path, spec), ff=ff)
    frames = gray_frames(ff, r.output, 160, 90)
    assert len(frames) == 70
    first = {n: frames[i * 10] for i, n in enumerate(names)}
    last = {n: frames[i * 10 + 9] for i, n in enumerate(names)}

    def same(a, b):
        return np.abs(a - b).mean() < 4.0  # two resampling paths of a detailed image; moves differ by 10+

    print(
        {n: round(float(np.abs(first[n] - last[n]).mean()), 2) for n in names},
        round(float(np.abs(first["zoom-in"] - first["none"]).mean()), 2),
    )

    assert same(first["none"], last["none"])
    assert same(first["zoom-in"], first["none"]) and not same(last["zoom-in"], first["none"])
    assert same(first["zoom-in"], last["zoom-out"]) and same(last["zoom-in"], first["zoom-out"])
    assert same(first["pan-left"], last["pan-right"]) and same(last["pan-left"], first["pan-right"])
    assert same(first["pan-up"], last["pan-down"]) and not same(first["pan-up"], last["pan-up"])


@pytest.mark.parametrize("name", ["portrait", "square", "tiny", "huge"])
def test_any_image_shape_renders(ff, media, tmp_path, name):
    spec = base_spec()
    spec["slides"] = [
        {"image": str(media[name]), "duration": 1.0, "ken_burns": "zoom-in"},
        {"image": str(media[name]), "duration": 1.0, "fit": "contain", "ken_burns": "pan-left"},
    ]
    r = render_spec(write_spec(tmp_path, spec), ff=ff)
    frames = gray_frames(ff, r.output, 160, 90)
    assert len(frames) == 20
    assert frames.mean() > 20  # a picture, not black


@pytest.mark.slow
def test_narration_is_padded_and_last_slide_fills(ff, media, tmp_path):
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1.0}, {"image": str(media["land2"])}]
    spec["audio"] = {"narration": str(media["narration_wav"])}  # 3 s, 22.05 kHz stereo WAV
    r = render_spec(write_spec(tmp_path, spec), ff=ff)
    s = streams(ff, r.output)
    assert s["frames"] == 30 and abs(s["audio_s"] - 3.0) <= 0.1

    spec["slides"][1]["duration"] = 4.0  # longer than the narration: padded with silence
    r = render_spec(write_spec(tmp_path, spec), ff=ff)
    s = streams(ff, r.output)
    assert s["frames"] == 50 and abs(s["audio_s"] - 5.0) <= 0.1
    vol = subprocess.run(
        [
            ff.path,
            "-hide_banner",
            "-ss",
            "3.5",
            "-i",
            str(r.output),
            "-map",
            "0:a",
            "-af",
            "volumedetect",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    assert "max_volume: -91" in vol or "max_volume: -inf" in vol  # silence after the narration


@pytest.mark.slow
def test_thousand_slides_render_at_low_resolution(ff, media, tmp_path):
    spec = base_spec(w=64, h=36, fps=10, seconds=100)
    spec["defaults"] = {"duration": 0.4, "transition": {"type": "fade", "duration": 0.2}, "ken_burns": "auto"}
    pics = [media["land"], media["land2"], media["square"], media["tiny"]]
    spec["slides"] = [{"image": str(pics[i % 4])} for i in range(1000)]
    path = write_spec(tmp_path, spec)
    prep = prepare(path, ff)
    assert prep.plan.timeline.total_frames == 4000
    assert all(len(c.argv) < 2000 for c in prep.segment_commands)  # graphs travel in script files
    r = render(prep)
    assert streams(ff, r.output)["frames"] == 4000


@pytest.mark.slow
@pytest.mark.parametrize("cores", [2, 8])
def test_audio_renders_beside_the_video_only_where_a_core_is_spare(
    ff, media, long_narration, tmp_path, monkeypatch, cores
):
    """On 2 cores the audio goes first (beside the video it only slowed it and added its encoder's
    memory to the peak); with cores to spare it renders beside the segments."""
    import vgen.run.render as rmod

    monkeypatch.setattr(rmod.machine, "usable_cores", lambda: cores)
    spans: dict[str, tuple[float, float]] = {}

    def timed_run(cmd, *args, **kwargs):
        start = time.monotonic()
        try:
            return real_run(cmd, *args, **kwargs)
        finally:
            spans[cmd.label] = (start, time.monotonic())

    real_run = rmod.run
    monkeypatch.setattr(rmod, "run", timed_run)
    spec = base_spec(seconds=2)
    spec["slides"] = [{"image": str(media["land"]), "duration": 3.0}, {"image": str(media["land2"])}]
    spec["audio"] = {"narration": str(long_narration)}
    r = render(prepare(write_spec(tmp_path, spec), ff))
    sound = [v for k, v in spans.items() if k in ("loudness scan", "audio")]
    audio = (min(v[0] for v in sound), max(v[1] for v in sound))
    segments = sorted(v for k, v in spans.items() if k.startswith("segment"))
    assert len(segments) >= 3
    if cores > 2:
        assert audio[0] < segments[0][1]  # the audio started before the first segment ended
    else:
        assert audio[1] <= segments[0][0]  # the audio ended before the first segment started
    s = streams(ff, r.output)
    assert s["frames"] == r.frames and abs(s["audio_s"] - r.duration_s) <= 0.1


@pytest.mark.slow
@pytest.mark.parametrize("stored, named", [("png", "picture.jpg"), ("mjpeg", "photo.png"), ("png", "noext")])
def test_an_image_whose_name_lies_about_its_format_renders(ff, tmp_path, stored, named):
    """FFmpeg's image2 picks its decoder from the extension; vgen tells it the format Pillow found in
    the content, so what `validate` accepts, `render` renders."""
    path = tmp_path / named
    run_ff(
        ff, "-f", "lavfi", "-i", "color=c=0xC03020:s=64x48", "-frames:v", "1", "-c:v", stored, "-f", "image2", str(path)
    )
    spec = base_spec()
    spec["slides"] = [{"image": str(path), "duration": 1, "ken_burns": "none"}]
    r = render(prepare(write_spec(tmp_path, spec), ff))
    assert r.frames == 10
    assert rgb_frame(ff, r.output, 5, 160, 90)[45, 80, 0] > 150  # the red picture, not an error or black
