"""Narrated scenes on real renders: each slide timed by its clip, each clip on its slide's first
frame to the millisecond, chapters in the MP4 and for YouTube, caption files equal to the burned cues."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pysubs2
import pytest

from vgen.pipeline import prepare
from vgen.run.render import render

from helpers import base_spec, gray_frames, run_ff, write_spec

RATE = 48_000


def noise_clip(ff, path: Path, seconds: float, seed: int, rate: int = 44_100) -> Path:
    """A clip with a sharp autocorrelation (noise, not a tone: a tone's period would make the lag
    ambiguous by more than a millisecond)."""
    run_ff(ff, "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=white:r={rate}:a=0.3:s={seed}", "-ac", "1", str(path))
    return path


def pcm(ff, path: Path) -> np.ndarray:
    raw = subprocess.run(
        [ff.path, "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.float32).astype(np.float64)


def lag_ms(track: np.ndarray, clip: np.ndarray, expected: int, window: int = 2400) -> float:
    """Where `clip` sits in `track` against `expected` (in samples), in ms: the cross-correlation
    peak within ±50 ms."""
    n = min(len(clip), RATE // 2)
    c = clip[:n] - clip[:n].mean()
    lo = max(0, expected - window)
    seg = track[lo : expected + window + n]
    corr = np.correlate(seg - seg.mean(), c, mode="valid")
    return (lo + int(np.argmax(corr)) - expected) * 1000 / RATE


def narrated_spec(media, clips, **over):
    spec = base_spec(seconds=300)
    spec["defaults"] = {"narration_pad": 0.5, "transition": {"type": "fade", "duration": 0.4}, "ken_burns": "none"}
    spec["slides"] = [{"image": str(media["land"]), "narration": str(c)} for c in clips]
    spec["audio"] = {"loudness": None}
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def clips(ff, tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return [noise_clip(ff, d / f"c{i}.wav", s, seed=i + 1) for i, s in enumerate((1.3, 0.77, 2.05))]


@pytest.mark.slow
def test_three_narrated_slides_last_their_clips_and_each_clip_starts_on_its_first_frame(ff, media, clips, tmp_path):
    r = render(prepare(write_spec(tmp_path, narrated_spec(media, clips)), ff))
    prep = prepare(write_spec(tmp_path, narrated_spec(media, clips)), ff)
    tl = prep.plan.timeline
    exact, bounds = Fraction(0), []
    for s in (1.3, 0.77, 2.05):
        exact += Fraction(round(s * RATE), RATE) + Fraction(1, 2)
        bounds.append(round(exact * 10))
    assert [s.end for s in tl.slides] == bounds and r.frames == bounds[-1]
    track = pcm(ff, r.output)
    for s, clip in zip(tl.slides, clips):
        assert abs(lag_ms(track, pcm(ff, clip), round(Fraction(s.start) * RATE / 10))) <= 1.0


@pytest.mark.slow
def test_a_clip_runs_on_under_the_next_slide_and_an_overlap_is_one_line(ff, media, clips, tmp_path):
    from helpers import vgen

    spec = narrated_spec(media, clips)
    spec["slides"][0]["duration"] = 0.6  # its 1.3 s clip runs on under slide 2 (which has no clip here)
    spec["slides"][1] = {"image": str(media["square"]), "duration": 1.0}
    r = render(prepare(write_spec(tmp_path, spec), ff))
    assert abs(lag_ms(pcm(ff, r.output), pcm(ff, clips[0]), 0)) <= 1.0
    spec["slides"][1]["duration"] = 0.5  # now slide 3's clip starts 0.2 s before slide 1's ends
    bad = vgen("dry-run", write_spec(tmp_path, spec, "bad.yaml"))
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert bad.returncode == 2 and len(lines) == 1
    assert "slides[0].narration: slide 1's narration (1.30 s) runs 0.20 s into slide 3's narration" in lines[0]


@pytest.mark.slow
def test_sixty_generated_clips_total_exact_to_the_frame_and_the_last_still_aligned(ff, media, tmp_path):
    lengths = [0.31 + (i * 0.137) % 0.9 for i in range(60)]
    clips = [
        noise_clip(ff, tmp_path / f"n{i}.wav", s, seed=100 + i, rate=22_050 if i % 2 else 44_100)
        for i, s in enumerate(lengths)
    ]
    spec = narrated_spec(media, clips)
    spec["output"]["fps"] = 24
    spec["defaults"]["transition"] = "none"
    r = render(prepare(write_spec(tmp_path, spec), ff))
    total = sum(Fraction(round(s * RATE), RATE) + Fraction(1, 2) for s in lengths)
    assert r.frames == round(total * 24)
    tl = prepare(write_spec(tmp_path, spec), ff).plan.timeline
    last = tl.slides[-1]
    assert abs(lag_ms(pcm(ff, r.output), pcm(ff, clips[-1]), round(Fraction(last.start) * RATE / 24))) <= 1.0


def chapters_of(ff, path: Path) -> list[tuple[float, str]]:
    """The MP4's chapters: `ffprobe -show_chapters` where there is an ffprobe, else FFmpeg's own
    metadata dump (the imageio-ffmpeg wheel has no ffprobe)."""
    if ff.ffprobe:
        out = subprocess.run(
            [ff.ffprobe, "-v", "error", "-show_chapters", "-of", "json", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [(round(float(c["start_time"]), 3), c["tags"]["title"]) for c in json.loads(out)["chapters"]]
    out = subprocess.run(
        [ff.path, "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"], capture_output=True, text=True, check=True
    ).stdout
    got = []
    for block in out.split("[CHAPTER]")[1:]:
        fields = dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
        num, den = fields["TIMEBASE"].split("/")
        got.append((round(int(fields["START"]) * int(num) / int(den), 3), fields["title"]))
    return got


@pytest.mark.slow
def test_chapters_are_in_the_mp4_and_the_description_and_survive_a_rerender(ff, media, tmp_path):
    lengths = (4.5, 6.0, 5.5, 11.0)
    clips = [noise_clip(ff, tmp_path / f"k{i}.wav", s, seed=7 + i) for i, s in enumerate(lengths)]
    spec = narrated_spec(media, clips, segments={"seconds": 5})
    for i, title in ((1, "The roads"), (3, "Bridges")):
        spec["slides"][i]["chapter"] = title
    path = write_spec(tmp_path, spec)
    prep = prepare(path, ff)
    starts = [s.start / 10 for s in prep.plan.timeline.slides]
    r = render(prep)
    want = [(0.0, "Intro"), (starts[1], "The roads"), (starts[3], "Bridges")]
    assert chapters_of(ff, r.output) == want
    assert (tmp_path / "out.chapters.txt").read_text() == "00:00 Intro\n00:05 The roads\n00:17 Bridges\n"
    too_short = [w for w in prep.warnings if "lasts" in w]
    assert len(too_short) == 1 and "slides[0]" in too_short[0] and "'Intro' lasts 5.0 s" in too_short[0]
    spec["slides"][3]["image"] = str(media["square"])  # an edit: only its segments render again
    again = render(prepare(write_spec(tmp_path, spec), ff))
    assert 0 < again.segments_reused < again.segments and chapters_of(ff, again.output) == want


def caption_band(ff, path: Path) -> list[bool]:
    frames = gray_frames(ff, path, 160, 90)
    return [bool(f[60:90].max() > 200) for f in frames]


@pytest.fixture(scope="module")
def dark(ff, tmp_path_factory):
    p = tmp_path_factory.mktemp("dark") / "dark.png"
    run_ff(ff, "-f", "lavfi", "-i", "color=c=0x202020:s=320x180", "-frames:v", "1", str(p))
    return p


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["vgen", "whisper"])
def test_a_word_timed_cue_shows_exactly_while_its_words_are_spoken_and_sidecars_match(ff, dark, clips, tmp_path, shape):
    words = [
        {"word": "Roads", "start": 0.2, "end": 0.5},
        {"word": "ran.", "start": 0.5, "end": 0.9},
        {"word": "Far", "start": 1.5, "end": 1.8},
        {"word": "away.", "start": 1.8, "end": 2.0},
    ]
    doc = words if shape == "vgen" else {"text": "Roads ran. Far away.", "segments": [{"id": 0, "words": words}]}
    (tmp_path / "w.json").write_text(json.dumps(doc))
    spec = base_spec()
    spec["defaults"] = {"narration_pad": 0.5, "transition": "none", "ken_burns": "none"}
    spec["slides"] = [
        {
            "image": str(dark),
            "narration": str(clips[2]),
            "words": str(tmp_path / "w.json"),
            "text": "Roads ran. Far away.",
        }
    ]
    spec["subtitles"] = {"from": "text", "sidecar": ["srt", "vtt"], "style": {"size": 20, "margin_v": 4}}
    r = render(prepare(write_spec(tmp_path, spec), ff))
    shown = caption_band(ff, r.output)
    assert [i for i, on in enumerate(shown) if on] == [2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 18, 19]
    assert r.sidecars == [tmp_path / "out.srt", tmp_path / "out.vtt"]
    for name in ("out.srt", "out.vtt"):
        subs = pysubs2.load(str(tmp_path / name))
        assert [(e.start, e.end, e.plaintext) for e in subs] == [(200, 900, "Roads ran."), (1500, 2000, "Far away.")]


@pytest.mark.slow
def test_burn_false_writes_the_sidecars_and_leaves_the_picture(ff, dark, clips, tmp_path):
    spec = base_spec()
    spec["defaults"] = {"transition": "none", "ken_burns": "none"}
    spec["slides"] = [{"image": str(dark), "narration": str(clips[1]), "text": "Only in the file."}]
    spec["subtitles"] = {"from": "text", "sidecar": ["srt"], "burn": False}
    r = render(prepare(write_spec(tmp_path, spec), ff))
    assert not any(caption_band(ff, r.output))
    assert [e.plaintext for e in pysubs2.load(str(tmp_path / "out.srt"))] == ["Only in the file."]
