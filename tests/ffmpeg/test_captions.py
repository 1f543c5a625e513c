"""Burned-in captions: parsing and checks, escaping, and what shows on screen, when."""

from __future__ import annotations

import pytest

from vgen.errors import SpecError
from vgen.ffmpeg.captions import ass_color, check_cues, parse_cues, to_ass
from vgen.ffmpeg.graph import escape_value
from vgen.model.spec import SubtitleStyle
from vgen.pipeline import prepare
from vgen.run.render import render

from helpers import base_spec, gray_frames, run_ff, vgen, write_spec

SRT = """1
00:00:01,000 --> 00:00:02,000
Hello <i>world</i>

2
00:00:03,000 --> 00:00:04,500
Second {line} with a \\ backslash
"""


@pytest.fixture(scope="module")
def dark(ff, tmp_path_factory):
    p = tmp_path_factory.mktemp("dark") / "dark.png"
    run_ff(ff, "-f", "lavfi", "-i", "color=c=0x202020:s=320x180", "-frames:v", "1", str(p))
    return p


def test_srt_and_vtt_parse_the_same():
    vtt = (
        "WEBVTT\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.000 align:start\nHello <i>world</i>\n\n"
        "00:00:03.000 --> 00:00:04.500\nSecond {line} with a \\ backslash\n"
    )
    a, b = parse_cues(SRT, "a.srt"), parse_cues(vtt, "a.vtt")
    assert [(c.start, c.end, c.text) for c in a] == [(c.start, c.end, c.text) for c in b]
    assert a[1].start == 3.0 and a[1].end == 4.5


def test_malformed_cue_names_cue_and_line():
    bad = SRT.replace("00:00:03,000 --> 00:00:04,500", "00:00:03 -> 00:00:04")
    with pytest.raises(SpecError, match=r"a.srt:5 cue 2: no valid 'start --> end' time line"):
        parse_cues(bad, "a.srt")
    with pytest.raises(SpecError, match="cue 1: ends before it starts"):
        parse_cues("1\n00:00:02,000 --> 00:00:01,000\nx\n", "a.srt")


def test_overlap_and_late_cues_are_warned_about():
    cues = parse_cues(SRT.replace("00:00:03,000 --> 00:00:04,500", "00:00:01,500 --> 00:00:09,000"), "a.srt")
    warnings = check_cues(cues, "a.srt", video_s=5.0)
    assert any("cue 2 overlaps cue 1" in w for w in warnings)
    late = check_cues(parse_cues("1\n00:00:06,000 --> 00:00:07,000\nlate\n", "a.srt"), "a.srt", 5.0)
    assert late and "after the video ends" in late[0] and "cue 1" in late[0]


def test_ass_text_is_literal_and_styled():
    ass = to_ass(parse_cues(SRT, "a.srt"), SubtitleStyle(color="#FF8000", outline_color="#80000000"), 1920, 1080)
    assert "PlayResX: 1920" in ass and "PlayResY: 1080" in ass
    assert ",&H000080FF," in ass and ",&H80000000," in ass  # #RRGGBB -> &HAABBGGRR
    assert "Hello {\\i1}world{\\i0}" in ass
    assert "\\{line\\}" in ass  # braces cannot open override blocks
    assert ass_color("#112233") == "&H00332211"


@pytest.mark.parametrize("hostile", ["a'b", "c:d", "e,f", "g\\h", "[i]", "j;k", "l=m", "x'],[y];z\\:"])
def test_escaping_matches_ffmpeg_python_and_survives_ffmpeg(ff, tmp_path, hostile):
    import ffmpeg as ffm

    compiled = ffm.input("in.mp4").filter("ass", filename=hostile).output("o.mp4").compile()
    graph = (
        compiled[compiled.index("-filter_complex") + 1]
        if "-filter_complex" in compiled
        else compiled[compiled.index("-vf") + 1]
        if "-vf" in compiled
        else ""
    )
    assert escape_value(hostile) in graph


@pytest.mark.slow
def test_hostile_paths_render_and_style_values_are_refused(ff, dark, tmp_path):
    folder = tmp_path / "we'ird: [dir], ;x\\y=z"
    folder.mkdir()
    (folder / "cap's.srt").write_text(SRT)
    spec = base_spec(w=320, h=180)
    spec["slides"] = [{"image": str(dark), "duration": 3, "ken_burns": "none"}]
    spec["subtitles"] = {"path": str(folder / "cap's.srt"), "fonts_dir": str(folder)}
    r = render(prepare(write_spec(tmp_path, spec), ff))
    frames = gray_frames(ff, r.output, 320, 180)
    assert frames[15].max() > 200 and frames[5].max() < 60  # drawn in its cue only: the graph found the files

    for key, value in (("font", "Evil,Font"), ("color", "red'];drawtext=text=x"), ("font", "a}{\\b1")):
        spec["subtitles"]["style"] = {key: value}
        bad = vgen("render", write_spec(tmp_path, spec, "bad.yaml"))
        assert bad.returncode == 2 and f"subtitles.style.{key}" in bad.stderr


def test_caption_shows_exactly_while_its_cue_runs_across_a_segment_cut(ff, dark, tmp_path):
    srt = tmp_path / "cap.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nAcross the cut\n\n2\n00:00:02,200 --> 00:00:02,600\nשלום عالم\n")
    spec = base_spec(w=320, h=180, fps=10, seconds=1.0)
    spec["defaults"] = {"transition": "none", "ken_burns": "none"}
    spec["slides"] = [{"image": str(dark), "duration": 1.0}, {"image": str(dark), "duration": 2.0}]
    spec["subtitles"] = {"path": str(srt), "style": {"size": 24, "margin_v": 20}}
    prep = prepare(write_spec(tmp_path, spec), ff)
    assert [s.first for s in prep.plan.segments] == [0, 10, 20]  # the cue spans the cut at frame 10
    r = render(prep)
    frames = gray_frames(ff, r.output, 320, 180)
    band = frames[:, 130:170, :]
    shown = [i for i in range(len(frames)) if band[i].max() > 200]
    assert shown == list(range(5, 15)) + list(range(22, 26))  # 0.5-1.5 s and 2.2-2.6 s, to the frame
    # No jump or flicker at the cut: the caption is the same picture on both sides of it.
    assert abs(band[9] - band[10]).mean() < 1.0
    assert frames[3].max() < 60  # nothing drawn outside cues


@pytest.mark.slow
def test_missing_font_warns_and_empty_file_errors(ff, dark, tmp_path):
    srt = tmp_path / "cap.srt"
    srt.write_text(SRT)
    spec = base_spec(w=320, h=180)
    spec["slides"] = [{"image": str(dark), "duration": 3, "ken_burns": "none"}]
    spec["subtitles"] = {"path": str(srt), "style": {"font": "No Such Font Family"}}
    r = vgen("render", write_spec(tmp_path, spec))
    assert r.returncode == 0 and "No Such Font Family" in r.stderr and "instead" in r.stderr
    srt.write_text("\n\n")
    r = vgen("render", write_spec(tmp_path, spec))
    assert r.returncode == 2 and "subtitles.path" in r.stderr and "has no cues" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["a;b.ass", "semi;colon;twice.ass", "back\\;slash.ass"])
def test_an_ass_file_with_a_semicolon_in_its_name_renders(ff, dark, tmp_path, name):
    """The graph script is broken into lines at its chain separators only, never at the escaped
    `\\;` of a file name (which made FFmpeg read the rest of the name as a new chain)."""
    ass = tmp_path / name
    ass.write_text(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: 320\nPlayResY: 180\n\n[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Outline, Shadow, Alignment, MarginV\n"
        "Style: Default,DejaVu Sans,40,&H00FFFFFF,0,2,0,2,20\n\n[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hello\n"
    )
    spec = base_spec(w=320, h=180)
    spec["slides"] = [{"image": str(dark), "duration": 3, "ken_burns": "none"}]
    spec["subtitles"] = {"path": str(ass)}
    frames = gray_frames(ff, render(prepare(write_spec(tmp_path, spec), ff)).output, 320, 180)
    assert frames[15].max() > 200 and frames[5].max() < 60
