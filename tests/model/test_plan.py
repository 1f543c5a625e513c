"""Timeline -> Plan: where segments are cut, and what their content keys (and the audio key) depend on.

Pure: timelines are built from hand-made facts, and asset contents come from a fake `digest`.
(tests/model/test_timeline.py already checks the cut count with transitions, that no cut falls inside a
transition, and that editing one slide changes only the keys of the segments showing it.)
"""

from __future__ import annotations

from pathlib import Path

from vgen.ffmpeg.encoders import EncoderChoice
from vgen.model.plan import build_plan, cut_points, segment_key
from vgen.model.spec import validate_data
from vgen.model.timeline import build_timeline

from helpers import made_up_facts

SPEC = Path("/x/spec.yaml")
ENC = EncoderChoice("libx264", ("-c:v", "libx264", "-crf", "21"))


def timeline(slides, defaults=None, audio=None, fps=30, base=SPEC):
    data = {"version": 1, "output": {"width": 320, "height": 180, "fps": fps}, "slides": slides}
    if defaults:
        data["defaults"] = defaults
    if audio:
        data["audio"] = audio
    loaded = validate_data(data, base)
    return build_timeline(loaded, made_up_facts(loaded))  # images 640x480, clips 2 s, sound 3 s


def names(p: Path) -> str:
    """The fake digest: a file's content is its name."""
    return p.name


def plan_of(tl, seconds=10.0, enc=ENC, version="5.1.6", digest=names):
    return build_plan(tl, seconds, enc, version, Path("/o.mp4"), Path("/w"), digest)


def slides(n, seconds=2.0, **extra):
    return [{"image": f"{i}.jpg", "duration": seconds, **extra} for i in range(n)]


FADE = {"transition": {"type": "fade", "duration": 0.5}}


# --- cut points -----------------------------------------------------------------------------


def test_a_cut_that_would_fall_in_a_transition_moves_to_the_nearest_hold_edge():
    # Two 2 s slides, a 1 s fade centred on frame 60: holds [0, 45) and [75, 120). The target (60) is
    # in the fade; both hold edges are 15 frames away and the earlier one wins.
    tl = timeline(slides(2), defaults={"transition": {"type": "fade", "duration": 1.0}})
    assert [s.hold for s in tl.slides] == [(0, 45), (75, 120)]
    assert cut_points(tl, 60) == [45]
    assert cut_points(tl, 40) == [40, 80]  # targets inside holds stay where they are


def test_cuts_lie_in_holds_near_every_target_and_increase():
    tl = timeline(slides(60, 1.0), defaults={"transition": {"type": "fade", "duration": 0.6}})  # 1800 frames
    target = 95
    cuts = cut_points(tl, target)
    count = round(tl.total_frames / target)
    assert len(cuts) == count - 1
    assert cuts == sorted(set(cuts)) and cuts[0] > 0 and cuts[-1] < tl.total_frames
    for j, c in enumerate(cuts, start=1):
        assert any(s.hold_start <= c <= s.hold_end for s in tl.slides), c
        # A transition is 18 frames: the nearest hold edge is at most 9 frames from any target.
        assert abs(c - round(j * tl.total_frames / count)) <= 9


def test_without_transitions_cuts_land_exactly_on_the_targets():
    tl = timeline(slides(10, 1.0), defaults={"transition": "none"})  # 300 frames
    assert cut_points(tl, 100) == [100, 200]
    assert cut_points(tl, 70) == [75, 150, 225]  # 4 segments of the whole length, not 70 + a rest


def test_dense_targets_never_cut_twice_at_one_frame():
    """Targets closer together than a transition: two would land on the same hold edge (an empty
    segment); the second moves on to the next hold, and targets with nowhere left to go are dropped."""
    tl = timeline(slides(2), defaults={"transition": {"type": "fade", "duration": 1.0}})  # holds [0, 45), [75, 120)
    cuts = cut_points(tl, 8)  # 15 targets, 8 frames apart; 48 and 56 both clamp to 45, 64 and 72 to 75
    assert cuts == [8, 16, 24, 32, 40, 45, 75, 80, 88, 96, 104, 112]
    plan = plan_of(tl, seconds=8 / 30)
    assert all(s.frames > 0 for s in plan.segments) and len(plan.segments) == len(cuts) + 1


def test_a_video_shorter_than_about_one_and_a_half_segments_is_not_cut():
    tl = timeline(slides(3), defaults=FADE)  # 180 frames
    assert cut_points(tl, 300) == []
    assert cut_points(tl, 121) == []  # 180 / 121 rounds to one segment
    assert cut_points(tl, 120) == [90]  # 1.5 rounds to two
    plan = plan_of(tl, seconds=10)
    assert [(s.first, s.end, s.slides) for s in plan.segments] == [(0, 180, (0, 1, 2))]


def test_segments_tile_the_video_and_list_the_slides_on_screen():
    tl = timeline(slides(12), defaults=FADE)  # 720 frames, 15-frame fades
    plan = plan_of(tl, seconds=5)
    segs = plan.segments
    assert [s.index for s in segs] == list(range(len(segs))) and len(segs) == 5
    assert segs[0].first == 0 and segs[-1].end == tl.total_frames
    assert all(a.end == b.first for a, b in zip(segs, segs[1:]))
    for seg in segs:
        on_screen = [s.index for s in tl.slides if s.clip_start < seg.end and s.clip_end > seg.first]
        assert list(seg.slides) == on_screen and seg.frames == seg.end - seg.first


# --- segment keys ---------------------------------------------------------------------------


def test_the_same_input_gives_the_same_keys_and_different_segments_different_keys():
    a = plan_of(timeline(slides(20), defaults=FADE))
    b = plan_of(timeline(slides(20), defaults=FADE))
    assert [s.key for s in a.segments] == [s.key for s in b.segments]
    assert len({s.key for s in a.segments}) == len(a.segments) == 4
    assert a.audio.key == b.audio.key


def test_a_slide_spanning_a_cut_changes_the_keys_on_both_sides():
    tl = timeline(slides(20), defaults=FADE)
    plan = plan_of(tl)
    spanning = [s.index for s in tl.slides if sum(s.index in seg.slides for seg in plan.segments) == 2]
    assert spanning  # cuts lie inside holds, so the slide holding a cut is in both segments
    i = spanning[0]
    edited = plan_of(tl, digest=lambda p: "new" if p.name == f"{i}.jpg" else p.name)
    changed = [a.index for a, b in zip(plan.segments, edited.segments) if a.key != b.key]
    assert len(changed) == 2 and changed == [s.index for s in plan.segments if i in s.slides]


def test_the_digest_not_the_path_decides_the_key():
    """Moving the media folder (same contents) keeps every segment; changed bytes under the same name do not."""
    here = plan_of(timeline(slides(20), defaults=FADE, base=Path("/x/spec.yaml")))
    moved = plan_of(timeline(slides(20), defaults=FADE, base=Path("/elsewhere/spec.yaml")))
    assert [s.key for s in here.segments] == [s.key for s in moved.segments]
    contents = plan_of(timeline(slides(20), defaults=FADE), digest=lambda p: "v2:" + p.name)
    assert not {s.key for s in here.segments} & {s.key for s in contents.segments}


def test_encoder_args_and_ffmpeg_version_change_every_key():
    tl = timeline(slides(20), defaults=FADE)
    base = plan_of(tl)
    for other in (
        plan_of(tl, enc=EncoderChoice("libx264", ("-c:v", "libx264", "-crf", "22"))),
        plan_of(tl, version="6.1.1"),
    ):
        assert all(a.key != b.key for a, b in zip(base.segments, other.segments))
        assert [(s.first, s.end) for s in other.segments] == [(s.first, s.end) for s in base.segments]
    # The encoder's display name is not what decides the pixels; its arguments are.
    renamed = plan_of(tl, enc=EncoderChoice("x264 (fallback)", ENC.args, notice="NVENC unavailable"))
    assert [s.key for s in renamed.segments] == [s.key for s in base.segments]


def test_a_segment_key_ignores_where_slides_outside_it_lie():
    # The second timeline's first slide is 1 s longer and its fifth 1 s shorter: from frame 300 on,
    # both show the same slides at the same places.
    a = timeline(slides(10), defaults={"transition": "none"})
    durations = [3.0, 2.0, 2.0, 2.0, 1.0] + [2.0] * 5
    b = timeline(
        [{"image": f"{i}.jpg", "duration": d} for i, d in enumerate(durations)], defaults={"transition": "none"}
    )
    pa, pb = plan_of(a), plan_of(b)
    assert [(s.first, s.end) for s in pa.segments] == [(s.first, s.end) for s in pb.segments] == [(0, 300), (300, 600)]
    assert pa.segments[1].key == pb.segments[1].key
    assert pa.segments[0].key != pb.segments[0].key

    # The same holds for a segment shifted as a whole: slides 1..3 of a 2 s-longer first slide.
    c = timeline([{"image": f"{i}.jpg", "duration": 4.0 if i == 0 else 2.0} for i in range(10)], FADE)
    a = timeline(slides(10), FADE)
    ka = segment_key(a, 60, 240, (0, 1, 2, 3, 4), ENC, "5.1.6", names)
    assert ka != segment_key(a, 61, 241, (0, 1, 2, 3, 4), ENC, "5.1.6", names)  # relative positions count
    shown = (1, 2, 3)
    ka = segment_key(a, 70, 230, shown, ENC, "5.1.6", names)
    assert ka == segment_key(c, 130, 290, shown, ENC, "5.1.6", names)


def test_fit_motion_and_transitions_of_a_slide_are_in_its_keys():
    base = plan_of(timeline(slides(20), defaults=FADE))
    variants = [
        [{**s, "fit": "contain"} if i == 7 else s for i, s in enumerate(slides(20))],
        [{**s, "ken_burns": "none"} if i == 7 else s for i, s in enumerate(slides(20))],
        [
            {**s, "transition": {"type": "fadeblack", "duration": 0.5}} if i == 7 else s
            for i, s in enumerate(slides(20))
        ],
    ]
    touched = {s.index for s in base.segments if 7 in s.slides}
    for v in variants:
        edited = plan_of(timeline(v, defaults=FADE))
        changed = {a.index for a, b in zip(base.segments, edited.segments) if a.key != b.key}
        assert changed == touched, v[7]


# --- the audio key --------------------------------------------------------------------------

NARRATED = {"narration": "voice.mp3", "loudness": -14}


def test_the_audio_key_follows_narration_content_and_loudness():
    tl = timeline(slides(2), audio=NARRATED)
    key = plan_of(tl).audio.key
    assert plan_of(timeline(slides(2), audio=NARRATED)).audio.key == key
    assert plan_of(tl, digest=lambda p: "v2" if p.name == "voice.mp3" else p.name).audio.key != key
    assert plan_of(timeline(slides(2), audio={**NARRATED, "loudness": -16})).audio.key != key
    assert plan_of(timeline(slides(2), audio={**NARRATED, "loudness": None})).audio.key != key
    assert plan_of(tl, version="6.1.1").audio.key != key
    assert plan_of(timeline(slides(3), audio=NARRATED)).audio.key != key  # a longer video: more samples


def test_the_audio_key_follows_every_music_setting_and_file():
    music = {"path": "bed.mp3", "volume": 0.15}
    key = plan_of(timeline(slides(2), audio={**NARRATED, "music": music})).audio.key
    assert key != plan_of(timeline(slides(2), audio=NARRATED)).audio.key
    for change in ({"volume": 0.3}, {"loop": False}, {"duck": False}, {"fade_in": 1.0}, {"fade_out": 0.5}):
        other = plan_of(timeline(slides(2), audio={**NARRATED, "music": {**music, **change}})).audio.key
        assert other != key, change
    tl = timeline(slides(2), audio={**NARRATED, "music": music})
    assert plan_of(tl, digest=lambda p: "v2" if p.name == "bed.mp3" else p.name).audio.key != key
    two = plan_of(timeline(slides(2), audio={**NARRATED, "music": [music, {"path": "b2.mp3"}]})).audio.key
    assert two != key


def test_the_audio_key_ignores_the_pictures():
    key = plan_of(timeline(slides(4), defaults=FADE, audio=NARRATED)).audio.key
    pictures = [{"image": f"other-{i}.jpg", "duration": 2.0, "fit": "contain", "ken_burns": "none"} for i in range(4)]
    edited = plan_of(timeline(pictures, defaults={"transition": "none"}, audio=NARRATED))
    assert edited.audio.key == key
    tl = timeline(slides(4), defaults=FADE, audio=NARRATED)
    assert plan_of(tl, enc=EncoderChoice("libx265", ("-c:v", "libx265"))).audio.key == key
    assert plan_of(tl, seconds=1).audio.key == key


def _cut_points_by_brute_force(holds, total, target_frames):
    """The first implementation: every hold tried for every cut (O(segments x slides))."""
    count = max(1, round(total / max(target_frames, 1)))
    cuts = []
    for j in range(1, count):
        target = round(j * total / count)
        best = None
        for lo, hi in holds:
            c = min(max(target, lo), hi)
            if (cuts and c <= cuts[-1]) or c <= 0 or c >= total:
                continue
            if best is None or abs(c - target) < abs(best - target):
                best = c
        if best is not None:
            cuts.append(best)
    return cuts


def test_bisected_cut_points_equal_the_brute_force_ones_on_random_timelines():
    import random
    from types import SimpleNamespace

    rng = random.Random(7)
    for _ in range(5000):
        holds, pos = [], 0
        for i in range(rng.randint(1, 12)):
            lo = pos + (rng.choice([0, 0, 1, 2, 5]) if i else 0)
            holds.append((lo, lo + rng.choice([0, 1, 3, 10, 40])))
            pos = holds[-1][1]
        total = pos + rng.choice([0, 1, 5])
        if total == 0:
            continue
        tl = SimpleNamespace(total_frames=total, slides=[SimpleNamespace(hold=h) for h in holds])
        target = rng.choice([1, 2, 3, 7, 20, 50])
        assert cut_points(tl, target) == _cut_points_by_brute_force(holds, total, target), (holds, total, target)
