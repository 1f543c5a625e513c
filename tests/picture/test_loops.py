"""Looping clips whose loop is not a whole number of output frames: each segment starts at its
frame (decoding at most the loops of one exact period before it), and the frames are the same as
one uninterrupted decode, on both compositors."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from vgen.ffmpeg import graph, probe
from vgen.pipeline import prepare
from vgen.run.render import render_spec

from helpers import base_spec, framemd5, run_ff, write_spec


@pytest.fixture(scope="module")
def clip(ff, tmp_path_factory):
    """26 frames at 25 fps (a 1.04 s loop: 10.4 frames at 10 fps) and a longer audio track, which
    must not count in the loop: only the video is used."""
    p = tmp_path_factory.mktemp("loops") / "c.mp4"
    run_ff(
        ff,
        *("-f", "lavfi", "-i", "testsrc=s=160x120:r=25:d=1.04", "-f", "lavfi", "-i", "sine=d=1.5"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(p)),
    )
    return p


def test_the_loop_shift_is_measured_from_the_video_alone(ff, clip):
    assert Fraction(probe.loop_seconds(ff, clip)) == Fraction(26, 25)


def test_a_loop_listing_with_unequal_passes_is_no_measurement():
    head = "#tb 0: 1/12800\n"
    one = (
        head
        + "0, 0, 0, 512, 9, 0x1\n0, 512, 512, 512, 9, 0x1\n0, 1024, 1024, 512, 9, 0x1\n0, 1536, 1536, 512, 9, 0x1\n"
    )
    assert probe._loop_shift(one) == "2/25"  # 1024 ticks of 1/12800 s
    uneven = (
        head
        + "0, 0, 0, 512, 9, 0x1\n0, 512, 512, 512, 9, 0x1\n0, 1024, 1024, 512, 9, 0x1\n0, 1536, 1600, 512, 9, 0x1\n"
    )
    assert probe._loop_shift(uneven) == "" and probe._loop_shift(head) == ""


@pytest.mark.slow
@pytest.mark.parametrize("compositor", ["auto", "ffmpeg"])
def test_a_long_looping_clip_is_cut_into_segments_without_a_seam(ff, clip, tmp_path, compositor):
    outs = []
    for seconds in (1, 1000):
        spec = base_spec(out=f"out-{seconds}.mp4", seconds=seconds)
        spec["output"].update(quality=0, compositor=compositor)
        spec["slides"] = [{"video": str(clip), "duration": 8}]
        path = write_spec(tmp_path, spec, f"spec-{seconds}.yaml")
        prep = prepare(path, ff)
        if seconds == 1:
            slide = prep.plan.timeline.slides[0]
            # 52 output frames = 5 loops: a segment skips first % 52 frames, not all `first` of them
            assert [graph.clip_skip(slide, seg.first, prep.plan.timeline.fps) for seg in prep.plan.segments[:7]] == [
                seg.first % 52 for seg in prep.plan.segments[:7]
            ]
            assert prep.plan.segments[6].first >= 52
            cmd = prep.segment_commands[6]
            text = " ".join(cmd.source.layers[0].argv) if cmd.source else (cmd.script_text or "")
            assert f"start_frame={prep.plan.segments[6].first % 52}" in text, re.findall(r"trim=[^;\]]*", text)
        outs.append(render_spec(path, ff=ff))
    assert outs[0].segments >= 6 and outs[1].segments == 1
    assert framemd5(ff, outs[0].output) == framemd5(ff, outs[1].output)


def test_a_fan_out_job_measures_the_loop_again_with_its_own_ffmpeg(ff, clip, tmp_path):
    """The caller's facts carry its FFmpeg's measurement; a worker that has the clip takes its own."""
    from vgen.model.facts import AVFacts

    given = {
        clip: AVFacts(clip, 1.5, 160, 120, 25.0, True, True, loop="9/7"),
        tmp_path / "gone.mp4": AVFacts(tmp_path / "gone.mp4", 2.0, loop="2/1"),
    }
    own = probe.own_loops(given, ff)
    assert own[clip].loop == "26/25" and own[tmp_path / "gone.mp4"].loop == "2/1"
