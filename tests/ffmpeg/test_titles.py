"""Titles and highlighted words as ASS (pure): escaping, placement, timing, the segment digest."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vgen.ffmpeg.captions import Captions, ass_literal, to_ass
from vgen.ffmpeg.titles import css_to_ass, event, style_line
from vgen.model.cues import Cue, Word
from vgen.model.graphics import TitleTL, look
from vgen.model.spec import SubtitleStyle


def test_user_text_can_never_become_an_override_tag():
    hostile = "{\\fnX}\\N {\\pos(0,0)} \\\\ }{ \\h"
    text = ass_literal(hostile)
    # Every brace is escaped and every backslash followed by a word joiner: libass reads no tag.
    assert "{" not in text.replace("\\{", "") and "}" not in text.replace("\\}", "")
    assert all(text[i + 1] in "{}\u2060" for i, ch in enumerate(text) if ch == "\\")
    assert ass_literal("one\r\ntwo\nthree") == "one\\Ntwo\\Nthree"


def test_a_title_event_is_placed_animated_and_timed_half_a_frame_early():
    t = TitleTL(0, "Part one", 300, 420, "lower-third", look("lower-third", {}, 1920, 1080), "slide-up")
    line = event(t, Fraction(30), 1920, 1080)
    # 300 -> 9.983 s, 420 -> 13.983 s: half a frame before each, on the 10 ms grid
    assert line.startswith("Dialogue: 1,0:00:09.98,0:00:13.98,vgen-lower-third,")
    assert "{\\an1\\move(96,953,96,910,0,400)\\fad(300,300)}Part one" in line
    still = event(TitleTL(0, "x", 0, 30, "title", look("title", {}, 1920, 1080), "none"), Fraction(30), 1920, 1080)
    assert "0:00:00.00," in still and "\\pos(960,540)}x" in still and "fad" not in still


def test_styles_turn_css_colours_into_ass_and_boxes_into_opaque_boxes():
    assert css_to_ass("#FFD54A") == "&H004AD5FF" and css_to_ass("#000000A0") == "&H5F000000"
    boxed = style_line("lower-third", look("lower-third", {}, 1920, 1080))
    fields = boxed.split(",")
    assert fields[0] == "Style: vgen-lower-third" and fields[15] == "3" and fields[5] == "&H5F000000"


def test_the_spoken_word_is_coloured_in_events_that_follow_the_words():
    cue = Cue(1, 0, 1.0, 2.5, "one two\nthree", (Word("one", 1.0, 1.4), Word("two", 1.6, 2.0), Word("three", 2.0, 2.5)))
    ass = to_ass([cue], SubtitleStyle(), 640, 360, highlight="#FF0000")
    events = [ln for ln in ass.splitlines() if ln.startswith("Dialogue")]
    assert events == [
        "Dialogue: 0,0:00:01.00,0:00:01.40,Default,,0,0,0,,{\\1c&H0000FF&}one{\\r} two\\Nthree",
        "Dialogue: 0,0:00:01.40,0:00:01.60,Default,,0,0,0,,one two\\Nthree",
        "Dialogue: 0,0:00:01.60,0:00:02.00,Default,,0,0,0,,one {\\1c&H0000FF&}two{\\r}\\Nthree",
        "Dialogue: 0,0:00:02.00,0:00:02.50,Default,,0,0,0,,one two\\N{\\1c&H0000FF&}three{\\r}",
    ]
    plain = to_ass([cue], SubtitleStyle(), 640, 360)
    assert [ln for ln in plain.splitlines() if ln.startswith("Dialogue")] == [
        "Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,one two\\Nthree"
    ]


def test_a_segment_digest_counts_only_the_events_on_screen_in_it():
    a = to_ass([], SubtitleStyle(), 640, 360, events=("Dialogue: 1,0:00:10.00,0:00:12.00,vgen-title,,0,0,0,,A",))
    b = a.replace(",,A", ",,B")
    ca, cb = Captions(Path("s.yaml"), a, (), ()), Captions(Path("s.yaml"), b, (), ())
    assert ca.segment_digest(0, 9.99) == cb.segment_digest(0, 9.99)  # before the title: the same pixels
    assert ca.segment_digest(9, 11) != cb.segment_digest(9, 11)
