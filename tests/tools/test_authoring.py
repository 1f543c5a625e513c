"""Authoring and cut-over: one frame at any time, drafts, the JSON Schema, init, and compare."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from vgen.pipeline import prepare
from vgen.run.render import render
from vgen.tools import samples
from vgen.tools.frame import parse_time, render_frame

from helpers import base_spec, mixed_spec, run_ff, vgen, write_spec

ROOT = Path(__file__).resolve().parents[2]


def rgb_of(ff, path: Path, index: int | None, w: int, h: int) -> np.ndarray:
    """A frame as RGB through the same BT.709 limited-range conversion vgen frame uses."""
    sel = f"select=eq(n\\,{index})," if index is not None else ""
    raw = subprocess.run(
        [
            ff.path,
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"{sel}scale=in_color_matrix=bt709:in_range=tv,format=rgb24",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(float)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def full(ff, media, tmp_path_factory):
    """A lossless full render of the mixed spec, with captions, cut into 1 s segments."""
    d = tmp_path_factory.mktemp("full")
    narration = samples.tone(ff, d / "narration.mp3", 14.2)
    spec = mixed_spec(media, narration, seconds=1)
    spec["output"]["quality"] = 0
    (d / "cap.srt").write_text("1\n00:00:02,000 --> 00:00:05,000\nA caption across segments\n")
    spec["subtitles"] = {"path": str(d / "cap.srt"), "style": {"size": 14, "margin_v": 8}}
    path = write_spec(d, spec)
    prep = prepare(path, ff)
    return path, render(prep), prep


@pytest.mark.slow
def test_frame_equals_the_full_render(ff, full, tmp_path):
    path, result, prep = full
    tl = prep.plan.timeline
    cuts = [s.first for s in prep.plan.segments]
    mid_transition = next(s.trans_in for s in tl.slides if s.trans_in and s.trans_in.frames >= 4)
    picks = {
        "start": 0,
        "mid-transition": mid_transition.first + mid_transition.frames // 2,
        "segment boundary": cuts[3],
        "before boundary": cuts[3] - 1,
        "caption": 30,
        "last": tl.total_frames - 1,
    }
    for name, f in picks.items():
        r = render_frame(path, tmp_path / f"{name}.png", at=f / 10 + 0.01, ff=ff)
        assert r.frame == f
        got = rgb_of(ff, r.path, None, 160, 90)
        want = rgb_of(ff, result.output, f, 160, 90)
        assert psnr(got, want) > 45, (name, psnr(got, want))  # the same picture (lossless render)


def test_frame_by_slide_and_time_parsing(ff, full, tmp_path):
    path, _, prep = full
    r = render_frame(path, tmp_path / "s.png", slide=3, ff=ff)
    s = prep.plan.timeline.slides[2]
    assert s.hold[0] <= r.frame < s.hold[1] and r.slides == (3,)
    assert parse_time("01:02:03.5") == 3723.5 and parse_time("2:03.5") == 123.5 and parse_time("7") == 7
    bad = vgen("frame", path, "--at", "99:00", "-o", tmp_path / "x.png")
    assert bad.returncode == 2 and "outside the video" in bad.stderr


@pytest.mark.slow
def test_draft_is_small_fast_and_keeps_its_own_store(ff, media, tmp_path):
    spec = base_spec(w=320, h=180, fps=20, seconds=1)
    spec["slides"] = [{"image": str(media["land"]), "duration": 2}, {"image": str(media["square"]), "duration": 2}]
    path = write_spec(tmp_path, spec)
    final = render(prepare(path, ff))
    draft_prep = prepare(path, ff, draft=True)
    draft = render(draft_prep)
    assert draft.output.name == "out.draft.mp4" and final.output.name == "out.mp4"
    from vgen.ffmpeg.probe import av_facts

    f = av_facts(ff, draft.output)
    assert (f.width, f.height, round(f.fps)) == (160, 90, 10) and draft.frames == 40
    assert "ultrafast" in draft_prep.segment_commands[0].shell()
    assert draft_prep.plan.work_dir != prepare(path, ff).plan.work_dir
    assert not (
        {p.name for p in draft_prep.plan.work_dir.glob("seg-*")}
        & {p.name for p in prepare(path, ff).plan.work_dir.glob("seg-*")}
    )
    # Drafts never stand in for finals: the final render still reuses only its own segments.
    again = render(prepare(path, ff))
    assert again.segments_reused == again.segments


def test_schema_validates_the_examples_and_rejects_a_broken_spec(tmp_path):
    import jsonschema

    r = vgen("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    for p in (ROOT / "configs").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(p.read_text()), schema)
    broken = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    broken["output"]["encoder"] = "h265_magic"
    broken["slides"][0]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.slow
def test_init_writes_a_starter_that_validates_once_its_files_exist(ff, tmp_path):
    r = vgen("init", "spec.yaml", cwd=tmp_path)
    assert r.returncode == 0
    text = (tmp_path / "spec.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    for i in range(1, 4):
        samples.photo(ff, tmp_path / "images" / f"{i:03d}.jpg", 320, 240, seed=i)
    samples.tone(ff, tmp_path / "audio" / "narration.mp3", 20)
    ok = vgen("validate", "spec.yaml", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    again = vgen("init", "spec.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.fixture(scope="module")
def video(ff, tmp_path_factory):
    """6 s of moving picture with a clicky soundtrack (sharp onsets make offsets measurable)."""
    d = tmp_path_factory.mktemp("cmp")
    v = d / "a.mp4"
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=10:d=6",
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='if(lt(mod(t\\,0.7)\\,0.03)\\,sin(2*PI*880*t)\\,0)+0.01*random(0)':s=48000:d=6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "12",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        "-shortest",
        str(v),
    )
    return v


def compare_json(*args) -> tuple[int, dict]:
    r = vgen("compare", "--json", *args)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {}


@pytest.mark.slow
def test_compare_with_itself(video):
    rc, rep = compare_json(video, video, "--min-ssim", "0.999", "--max-offset-ms", "1")
    assert rc == 0 and rep["ssim"] == pytest.approx(1.0) and rep["audio_offset_ms"] == 0
    assert rep["a"]["frames"] == rep["b"]["frames"] == 60 and rep["scaled"] is None


@pytest.mark.slow
def test_compare_reports_a_shifted_audio_track(ff, video, tmp_path):
    shifted = tmp_path / "shifted.mp4"
    run_ff(
        ff,
        "-i",
        str(video),
        "-itsoffset",
        "0.2",
        "-i",
        str(video),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        str(shifted),
    )
    rc, rep = compare_json(video, shifted, "--max-offset-ms", "50")
    assert abs(rep["audio_offset_ms"] - 200) <= 100  # within one frame (10 fps)
    assert rc == 1  # the threshold is missed


@pytest.mark.slow
def test_compare_names_the_damaged_second(ff, video, tmp_path):
    damaged = tmp_path / "damaged.mp4"
    run_ff(
        ff,
        "-i",
        str(video),
        "-vf",
        "drawbox=x=0:y=0:w=iw:h=ih/2:color=black:t=fill:enable='between(t,3,3.99)'",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "12",
        "-c:a",
        "copy",
        str(damaged),
    )
    rc, rep = compare_json(video, damaged, "--min-ssim", "0.99")
    assert rep["worst"][0]["start_s"] == 3.0 and rep["worst"][0]["ssim"] < rep["worst"][1]["ssim"]
    assert rc == 1


@pytest.mark.slow
def test_compare_scales_a_different_size_and_says_so(ff, video, tmp_path):
    small = tmp_path / "small.mp4"
    run_ff(
        ff, "-i", str(video), "-vf", "scale=80:46,fps=5", "-c:v", "libx264", "-crf", "12", "-c:a", "copy", str(small)
    )
    rc, rep = compare_json(video, small)
    assert rc == 0 and "scaled" in rep["scaled"] and 0.3 < rep["ssim"] < 1.0
    if rep["vmaf"] is not None:  # FFmpeg builds with libvmaf (the wheel's FFmpeg 9)
        assert 0 <= rep["vmaf"] <= 100
