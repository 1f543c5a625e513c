"""Plan -> FFmpeg commands: argument lists, partial and final paths, graph scripts, segment file names.

Pure except the concat-list check at the end: a hand-made timeline (no probing) and an FFmpeg
context whose version is made up, since building a command runs nothing.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from vgen.ffmpeg import commands, graph
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.commands import GLOBAL_ARGS, audio_command, concat_list, join_command, segment_command, segment_path
from vgen.ffmpeg.encoders import EncoderChoice
from vgen.files import partial_path
from vgen.model.plan import build_plan
from vgen.model.spec import validate_data
from vgen.model.timeline import build_timeline
from vgen.picture.source import Source

from helpers import made_up_facts, run_ff

FF5 = FFmpeg("/opt/ff/bin/ffmpeg", None, "5.1.6-0+deb12u1", "PATH")
FF7 = FFmpeg("/opt/ff/bin/ffmpeg", None, "7.1", "PATH")
ENC = EncoderChoice("libx264", ("-c:v", "libx264", "-crf", "21"))
SLIDES = [
    {"image": "a.jpg", "duration": 2},
    {"image": "b.jpg", "duration": 2, "ken_burns": "none"},
    {"video": "c.mp4", "duration": 2},
    {"image": "a.jpg", "duration": 2, "ken_burns": "pan-left"},
]


def make_plan(base="/m", work="/w", enc=ENC, slides=SLIDES, version="5.1.6", out="/o/out.mp4"):
    data = {"version": 1, "output": {"width": 160, "height": 90, "fps": 10}, "slides": slides}
    data["audio"] = {"narration": "n.mp3"}
    loaded = validate_data(data, Path(base) / "spec.yaml")
    tl = build_timeline(loaded, made_up_facts(loaded))
    return build_plan(tl, 3, enc, version, Path(out), Path(work), lambda p: p.name)


PLAN = make_plan()


def seg_cmds(plan=PLAN, ff=FF5, compositor="raw"):
    return [segment_command(ff, plan, s, compositor=compositor) for s in plan.segments]


def all_cmds(plan=PLAN, ff=FF5):
    return [*seg_cmds(plan, ff), *seg_cmds(plan, ff, "ffmpeg"), audio_command(ff, plan), join_command(ff, plan)]


def test_the_plan_has_several_segments():
    assert len(PLAN.segments) == 3  # 8 s in 3 s pieces: the checks below see more than one


@pytest.mark.parametrize("ff", [FF5, FF7])
def test_every_command_starts_with_the_binary_and_the_global_args(ff):
    for cmd in all_cmds(ff=ff):
        assert cmd.argv[0] == ff.path
        assert cmd.argv[1 : 1 + len(GLOBAL_ARGS)] == GLOBAL_ARGS, cmd.label
        assert cmd.argv.count("-progress") == 1


def test_every_command_writes_its_partial_path_and_names_the_final_one():
    for cmd in all_cmds():
        assert cmd.tmp == partial_path(cmd.output), cmd.label
        assert cmd.argv[-1] == str(cmd.tmp)
        assert str(cmd.output) not in cmd.argv
        assert cmd.tmp.parent == cmd.output.parent and cmd.tmp.name.startswith(".")


def test_outputs_live_in_the_work_dir_except_the_join():
    for cmd in [*seg_cmds(), audio_command(FF5, PLAN)]:
        assert cmd.output.parent == PLAN.work_dir
    assert join_command(FF5, PLAN).output == PLAN.output == Path("/o/out.mp4")
    names = [c.output.name for c in seg_cmds()]
    assert [n[:10] for n in names] == ["seg-00000-", "seg-00001-", "seg-00002-"]
    assert all(len(n) == len("seg-00000-") + 16 + len(".mp4") and n.endswith(".mp4") for n in names)
    assert len(set(names)) == 3


def test_frame_counts_and_seconds():
    segs = seg_cmds()
    assert [c.frames for c in segs] == [s.frames for s in PLAN.segments]
    assert sum(c.frames for c in segs) == PLAN.timeline.total_frames == 80
    assert [c.seconds for c in segs] == [pytest.approx(s.frames / 10) for s in PLAN.segments]
    j = join_command(FF5, PLAN)
    assert (j.frames, j.seconds) == (80, pytest.approx(8.0))
    assert audio_command(FF5, PLAN).frames == 0


@pytest.mark.parametrize(("ff", "option"), [(FF5, "-filter_complex_script"), (FF7, "-/filter_complex")])
def test_graphs_go_through_a_script_file(ff, option):
    graphed = [*seg_cmds(ff=ff, compositor="ffmpeg"), audio_command(ff, PLAN)]
    for cmd in graphed:
        assert "-filter_complex" not in cmd.argv, cmd.label
        assert cmd.script is not None and cmd.script == cmd.output.with_suffix(".graph.txt")
        i = cmd.argv.index(option)
        assert cmd.argv[i + 1] == str(cmd.script)
        assert ";\n" in cmd.script_text and cmd.script_text.endswith("\n")
        assert not any(a in ("-filter_complex_script", "-/filter_complex") for a in cmd.argv[i + 2 :])
    assert "xfade" in graphed[0].script_text or "perspective" in graphed[0].script_text
    assert any("xfade" in c.script_text for c in graphed[:-1])  # the fade between slides 1 and 2


@pytest.mark.parametrize(
    ("version", "option"),
    [
        ("5.1.6-0+deb12u1", "-filter_complex_script"),
        ("6.1.1", "-filter_complex_script"),
        ("n6.0", "-filter_complex_script"),
        ("7.0", "-/filter_complex"),
        ("n7.1", "-/filter_complex"),
        ("7.1-static", "-/filter_complex"),
        ("8.0", "-/filter_complex"),
    ],
)
def test_filter_script_args_by_version(version, option):
    ff = FFmpeg("ffmpeg", None, version, "PATH")
    assert ff.filter_script_args(Path("/w/g.txt")) == [option, "/w/g.txt"]


def test_raw_frame_segments_read_their_frames_from_the_pipe():
    for cmd, seg in zip(seg_cmds(), PLAN.segments):
        assert cmd.script is None and cmd.script_text == ""  # no captions: nothing for FFmpeg to filter
        assert cmd.argv[cmd.argv.index("-i") + 1] == "pipe:0"
        assert cmd.source is not None and (cmd.source.first, cmd.source.end) == (seg.first, seg.end)
        assert cmd.source_file == cmd.output.with_suffix(".source.json")
        assert [layer.slide for layer in cmd.source.layers] == list(seg.slides)
        assert Source.from_json(cmd.source.to_json()) == cmd.source


def test_the_shell_form_of_a_raw_frame_command_pipes_vgen_picture():
    cmd = seg_cmds()[0]
    assert cmd.source_file is not None
    head = f"{shlex.quote(sys.executable)} -m vgen.picture {shlex.quote(str(cmd.source_file))} | "
    assert cmd.shell() == head + shlex.join(cmd.argv)
    words = shlex.split(cmd.shell())
    bar = words.index("|")
    assert words[:bar] == [sys.executable, "-m", "vgen.picture", str(cmd.source_file)]
    assert words[bar + 1 :] == list(cmd.argv)


def test_the_shell_form_of_other_commands_is_their_argv():
    for cmd in [seg_cmds(compositor="ffmpeg")[0], audio_command(FF5, PLAN), join_command(FF5, PLAN)]:
        assert cmd.source is None and "vgen.picture" not in cmd.shell()
        assert shlex.split(cmd.shell()) == list(cmd.argv)
    odd = make_plan(base="/media/it's here", work="/w/my work")
    for cmd in [*seg_cmds(odd, compositor="ffmpeg"), audio_command(FF5, odd), *seg_cmds(odd)]:
        words = shlex.split(cmd.shell())
        assert words[-len(cmd.argv) :] == list(cmd.argv)


def test_audio_command_reads_the_narration_and_writes_the_keyed_piece():
    cmd = audio_command(FF5, PLAN)
    assert cmd.output == PLAN.work_dir / f"audio-{PLAN.audio.key[:16]}.m4a"
    assert cmd.argv[cmd.argv.index("-i") + 1] == "/m/n.mp3"
    assert cmd.seconds == pytest.approx(8.0)
    assert {"-c:a", "aac"} <= set(cmd.argv)


def test_join_command_concatenates_the_list_and_muxes_the_audio_without_reencoding():
    cmd = join_command(FF5, PLAN)
    argv = list(cmd.argv)
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [str(commands.join_list_path(PLAN)), str(audio_command(FF5, PLAN).output)]
    assert argv[argv.index("-i") - 4 : argv.index("-i")] == ["-f", "concat", "-safe", "0"]
    assert argv[argv.index("-c") + 1] == "copy" and "+faststart" in argv
    assert cmd.script is None and cmd.source is None


# --- segment file names ---------------------------------------------------------------------


def names(cmds):
    return [c.output.name for c in cmds]


def test_segment_names_stay_when_nothing_changes():
    again = make_plan()
    for how in ("raw", "ffmpeg"):
        assert names(seg_cmds(again, compositor=how)) == names(seg_cmds(compositor=how))
    # Nor when the media folder or the work folder moves: contents are in the key, not paths.
    moved = make_plan(base="/elsewhere", work="/tmp/other")
    for how in ("raw", "ffmpeg"):
        assert names(seg_cmds(moved, compositor=how)) == names(seg_cmds(compositor=how))
        assert all(c.output.parent == Path("/tmp/other") for c in seg_cmds(moved, compositor=how))


def test_segment_names_change_with_the_recipe():
    raw, graph = names(seg_cmds()), names(seg_cmds(compositor="ffmpeg"))
    assert not set(raw) & set(graph)  # same plan keys, rendered another way
    seg = PLAN.segments[0]
    assert segment_path(PLAN, seg, "a") == segment_path(PLAN, seg, "a") != segment_path(PLAN, seg, "b")
    other_enc = make_plan(enc=EncoderChoice("libx264", ("-c:v", "libx264", "-crf", "22")))
    assert not set(names(seg_cmds(other_enc))) & set(raw)
    other_ff = make_plan(version="6.1")
    assert not set(names(seg_cmds(other_ff))) & set(raw)


@pytest.mark.parametrize("compositor", ["raw", "ffmpeg"])
def test_segment_names_change_when_vgen_would_render_the_same_key_another_way(compositor, monkeypatch):
    """The plan key says what is shown; the name adds how (graph, options, canvas commands): a vgen
    whose filters changed never reuses a segment an older one rendered."""
    before = seg_cmds(compositor=compositor)
    monkeypatch.setattr(graph, "SCALE_FLAGS", "bicubic")  # read when each graph is built
    after = seg_cmds(compositor=compositor)
    assert [a.output.parent for a in after] == [b.output.parent for b in before]
    assert all(a.output != b.output for a, b in zip(after, before))  # every segment scales a picture
    assert [a.output.name[:10] for a in after] == [b.output.name[:10] for b in before]


def test_only_the_segments_showing_an_edited_slide_get_new_names():
    edited = [*SLIDES[:3], {**SLIDES[3], "ken_burns": "zoom-in"}]
    before, after = seg_cmds(), seg_cmds(make_plan(slides=edited))
    shows_last = [3 in s.slides for s in PLAN.segments]
    assert shows_last == [False, False, True]
    assert [a.output != b.output for a, b in zip(before, after)] == shows_last


# --- the concat list ------------------------------------------------------------------------


def test_concat_list_escapes_single_quotes():
    assert concat_list([Path("/w/a.mp4"), Path("/w/it's.mp4")]) == "file '/w/a.mp4'\nfile '/w/it'\\''s.mp4'\n"
    assert concat_list([]) == ""
    assert concat_list([Path("/w/''.mp4")]) == "file '/w/'\\'''\\''.mp4'\n"


def test_ffmpeg_reads_the_concat_list_with_quotes_in_names(ff, tmp_path):
    from vgen.ffmpeg.probe import frame_count

    parts = [tmp_path / "it's one.mp4", tmp_path / "two''.mp4"]
    for n, p in enumerate(parts, start=2):
        run_ff(ff, "-f", "lavfi", "-i", "testsrc=s=64x36:r=10", "-frames:v", str(n), "-c:v", "libx264", str(p))
    listing = tmp_path / "segments.txt"
    listing.write_text(concat_list(parts), encoding="utf-8")
    out = tmp_path / "joined.mp4"
    run_ff(ff, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    assert frame_count(ff, out) == 5
