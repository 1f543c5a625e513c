"""Scenes timed by their own narration, chapters and their YouTube rules: pure, no FFmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from vgen.errors import SpecError
from vgen.model import chapters
from vgen.model.facts import AVFacts, ImageFacts
from vgen.model.spec import load_spec, validate_data
from vgen.model.timeline import AUDIO_RATE, build_timeline


def timeline(slides, clips, fps=30, pad=0.5, intro=None, **top):
    data = {
        "version": 1,
        "output": {"width": 320, "height": 180, "fps": fps},
        "defaults": {"narration_pad": pad, "transition": "none"},
        "slides": slides,
        **top,
    }
    if intro:
        data["chapters_intro"] = intro
    loaded = validate_data(data, Path("/x/spec.yaml"))
    facts = {}
    for s in slides:
        facts[loaded.resolve(s["image"])] = ImageFacts(loaded.resolve(s["image"]), 640, 360, 1, False, 1)
        if "narration" in s:
            p = loaded.resolve(s["narration"])
            facts[p] = AVFacts(p, clips[s["narration"]], has_audio=True)
    return loaded, build_timeline(loaded, facts)


def test_a_narrated_slide_lasts_its_clip_plus_the_pad_in_whole_frames():
    clips = {"a.wav": 2.0, "b.wav": 3.21, "c.wav": 1.007}
    slides = [{"image": "i.jpg", "narration": n} for n in clips]
    _, tl = timeline(slides, clips, pad=0.6)
    ends = [s.end for s in tl.slides]
    exact = [Fraction(0)]
    for d in clips.values():
        exact.append(exact[-1] + Fraction(round(d * AUDIO_RATE), AUDIO_RATE) + Fraction("0.6"))
    assert ends == [round(e * 30) for e in exact[1:]]  # cumulative rounding: no drift
    assert [s.timed_by for s in tl.slides] == ["narration"] * 3
    assert [c.start for c in tl.clips] == [round(Fraction(s.start) * AUDIO_RATE / 30) for s in tl.slides]
    assert [c.samples for c in tl.clips] == [96000, 154080, 48336]
    assert sum(c.span for c in tl.clips) == tl.audio_samples  # clips and silences tile the whole track


def test_hours_of_narrated_slides_do_not_drift():
    clips = {f"{i}.wav": 5 + (i % 7) * 0.1234567 for i in range(720)}  # two hours of paragraphs at 29.97
    slides = [{"image": "i.jpg", "narration": n} for n in clips]
    _, tl = timeline(slides, clips, fps=29.97, pad=0.5)
    seconds = sum(Fraction(round(d * AUDIO_RATE), AUDIO_RATE) + Fraction(1, 2) for d in clips.values())
    assert tl.total_frames == round(seconds * Fraction(30000, 1001))
    last = tl.clips[-1]
    assert abs(last.start / AUDIO_RATE - tl.frame_time(tl.slides[-1].start)) <= 1 / AUDIO_RATE


def test_a_given_duration_lets_the_clip_run_on_under_the_next_slide():
    clips = {"a.wav": 6.0, "b.wav": 1.0}
    slides = [
        {"image": "i.jpg", "narration": "a.wav", "duration": 2},
        {"image": "i.jpg", "duration": 5},
        {"image": "i.jpg", "narration": "b.wav"},
    ]
    _, tl = timeline(slides, clips)
    assert tl.slides[0].end == 60 and tl.clips[0].samples == 6 * AUDIO_RATE  # runs on under slide 2
    assert tl.clips[0].span == tl.clips[1].start  # up to the next clip


def test_a_clip_that_runs_into_the_next_narration_names_both_slides():
    clips = {"a.wav": 6.0, "b.wav": 1.0}
    slides = [
        {"image": "i.jpg", "narration": "a.wav", "duration": 2},
        {"image": "i.jpg", "duration": 3},
        {"image": "i.jpg", "narration": "b.wav"},
    ]
    with pytest.raises(
        SpecError,
        match=r"slides\[0\]\.narration: slide 1's narration \(6\.00 s\) runs 1\.00 s "
        r"into slide 3's narration",
    ) as e:
        timeline(slides, clips)
    assert "leave slide 1 without a duration" in e.value.hint


def test_a_clip_past_the_video_end_is_an_error():
    with pytest.raises(SpecError, match=r"runs 3\.00 s past the end of the video"):
        timeline([{"image": "i.jpg", "narration": "a.wav", "duration": 2}], {"a.wav": 5.0})


@pytest.mark.parametrize(
    "slides, words",
    [
        ([{"image": "i.jpg", "words": "w.json"}], "give narration: too"),
        ([{"image": "i.jpg", "narration": "a.wav"}], "one narration for the whole video or one per slide"),
    ],
)
def test_narration_rules_of_the_spec(tmp_path, slides, words):
    import yaml

    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "slides": slides, "audio": {"narration": "all.mp3"}}))
    with pytest.raises(SpecError, match=words):
        load_spec(p)


def test_chapters_start_on_their_slides_with_an_intro_at_zero():
    clips = {"a.wav": 12.0, "b.wav": 12.0, "c.wav": 12.0}
    slides = [
        {"image": "i.jpg", "narration": "a.wav"},
        {"image": "i.jpg", "narration": "b.wav", "chapter": "Roads"},
        {"image": "i.jpg", "narration": "c.wav", "chapter": "Bridges"},
    ]
    _, tl = timeline(slides, clips, intro="Welcome")
    assert [(c.frame, c.title, c.slide) for c in tl.chapters] == [
        (0, "Welcome", -1),
        (375, "Roads", 1),
        (750, "Bridges", 2),
    ]
    assert chapters.description(tl.chapters, tl.fps, tl.total_frames) == "00:00 Welcome\n00:12 Roads\n00:25 Bridges\n"
    assert chapters.warnings(tl.chapters, tl.fps, tl.total_frames, ["a", "b", "c"]) == []


def test_the_description_block_uses_hours_past_an_hour():
    chs = (chapters.Chapter(0, "A", 0), chapters.Chapter(30 * 3725, "B", 1), chapters.Chapter(30 * 3730, "C", 2))
    assert chapters.description(chs, Fraction(30), 30 * 7200) == "0:00:00 A\n1:02:05 B\n1:02:10 C\n"


def test_each_youtube_rule_a_spec_breaks_is_a_warning_naming_the_slide():
    fps = Fraction(30)
    chs = (chapters.Chapter(0, "Intro", 0), chapters.Chapter(30 * 4, "x" * 120, 3))
    got = chapters.warnings(chs, fps, 30 * 60, ["spec.yaml:5 slides[0].chapter", "spec.yaml:20 slides[3].chapter"])
    assert len(got) == 3
    assert got[0].startswith("spec.yaml:5") and "2 chapter(s)" in got[0]
    assert got[1].startswith("spec.yaml:5") and "lasts 4.0 s" in got[1]
    assert got[2].startswith("spec.yaml:20") and "120 characters" in got[2]
    same = (chapters.Chapter(0, "A", 0), chapters.Chapter(10, "B", 1), chapters.Chapter(900, "C", 2))
    assert any("same second" in w for w in chapters.warnings(same, fps, 1800, ["a", "b", "c"]))


def test_ffmetadata_is_exact_in_frames_and_escapes_titles():
    text = chapters.ffmetadata(
        (chapters.Chapter(0, "a=b;c#d", 0), chapters.Chapter(300, "Two", 1)), Fraction(30000, 1001), 900
    )
    assert "TIMEBASE=1001/30000\nSTART=0\nEND=300\ntitle=a\\=b\\;c\\#d" in text and "START=300\nEND=900" in text
