"""Frame arithmetic: pure, no FFmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from vgen.errors import SpecError
from vgen.ffmpeg.encoders import EncoderChoice
from vgen.model.facts import AVFacts, ImageFacts
from vgen.model.plan import build_plan, cut_points
from vgen.model.spec import validate_data
from vgen.model.timeline import build_timeline, fps_fraction


def tl_for(slides, fps=30, narration=None, defaults=None):
    data = {"version": 1, "output": {"width": 320, "height": 180, "fps": fps}, "slides": slides}
    if defaults:
        data["defaults"] = defaults
    facts = {}
    loaded = validate_data(data | ({"audio": {"narration": "n.mp3"}} if narration else {}), Path("/x/spec.yaml"))
    for s in slides:
        p = loaded.resolve(s.get("image") or s.get("video"))
        facts[p] = ImageFacts(p, 640, 480, 1, False, 1) if "image" in s else AVFacts(p, 2.0, 320, 240, 25, True)
    if narration:
        facts[loaded.resolve("n.mp3")] = AVFacts(loaded.resolve("n.mp3"), narration, has_audio=True)
    return build_timeline(loaded, facts)


def test_durations_become_whole_frames_without_drift():
    # 1000 slides of 1/3 s at 29.97 fps: rounding each would drift; cumulative boundaries do not.
    tl = tl_for([{"image": "a.jpg", "duration": 1 / 3}] * 1000, fps=29.97, defaults={"transition": "none"})
    assert tl.fps == Fraction(30000, 1001)
    assert tl.total_frames == round(1000 / 3 * 30000 / 1001)


def test_transition_is_centred_on_the_boundary():
    tl = tl_for(
        [
            {"image": "a.jpg", "duration": 2},
            {"image": "b.jpg", "duration": 2, "transition": {"type": "fade", "duration": 1}},
        ]
    )
    a, b = tl.slides
    assert (a.start, a.end, b.start, b.end) == (0, 60, 60, 120)
    assert b.trans_in.first == 45 and b.trans_in.frames == 30
    assert (a.clip_start, a.clip_end, b.clip_start, b.clip_end) == (0, 75, 45, 120)
    assert a.hold == (0, 45) and b.hold == (75, 120)


def test_last_slide_fills_to_the_narration():
    tl = tl_for([{"image": "a.jpg", "duration": 2}, {"image": "b.jpg"}], narration=7.5)
    assert tl.slides[1].end == 225 and tl.total_frames == 225


def test_narration_longer_than_slides_is_an_error_saying_by_how_much():
    with pytest.raises(SpecError, match=r"narration \(7.50 s\) is 3.50 s longer than the slides \(4.00 s\)"):
        tl_for([{"image": "a.jpg", "duration": 2}, {"image": "b.jpg", "duration": 2}], narration=7.5)


def test_transition_longer_than_its_slides_is_an_error():
    with pytest.raises(SpecError, match=r"slides\[2\].transition: slide 2 \(0.50 s\) is shorter than its transitions"):
        tl_for(
            [{"image": "a.jpg", "duration": 2}, {"image": "b.jpg", "duration": 0.5}, {"image": "c.jpg", "duration": 2}],
            defaults={"transition": {"type": "fade", "duration": 0.8}},
        )


def test_segments_cut_inside_holds_never_in_transitions():
    slides = [{"image": "a.jpg", "duration": 1.0}] * 200
    tl = tl_for(slides, defaults={"transition": {"type": "fade", "duration": 0.9}})
    cuts = cut_points(tl, 30 * 7)
    assert len(cuts) == round(tl.total_frames / 210) - 1
    for c in cuts:
        for s in tl.slides:
            t = s.trans_in
            assert not (t and t.first < c < t.first + t.frames)


def test_keys_change_only_for_touched_segments():
    slides = [{"image": f"{i}.jpg", "duration": 2.0} for i in range(30)]
    tl = tl_for(slides)
    enc = EncoderChoice("libx264", ("-crf", "21"))
    digest = lambda p: p.name  # noqa: E731 - content stands in for the name here
    plan = build_plan(tl, 10, enc, "5.1", Path("/o.mp4"), Path("/w"), digest)
    edited = build_plan(
        tl, 10, enc, "5.1", Path("/o.mp4"), Path("/w"), lambda p: "new" if p.name == "7.jpg" else p.name
    )
    changed = [a.index for a, b in zip(plan.segments, edited.segments) if a.key != b.key]
    assert changed == [s.index for s in plan.segments if 7 in s.slides]
    assert plan.audio.key == edited.audio.key


def test_fps_fractions():
    assert (
        fps_fraction(29.97) == Fraction(30000, 1001)
        and fps_fraction(25) == 25
        and fps_fraction(59.94) == Fraction(60000, 1001)
    )
