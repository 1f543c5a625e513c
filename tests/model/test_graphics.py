"""Graphics placed and timed (pure): overlay rectangles, title frames and looks, spec errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vgen.errors import SpecError
from vgen.model.graphics import look, place
from vgen.model.spec import Overlay, TextStyle, validate_data
from vgen.model.timeline import build_timeline

from helpers import made_up_facts


def spec(**extra):
    data = {
        "version": 1,
        "output": {"width": 1920, "height": 1080, "fps": 30},
        "slides": [{"image": "a.png", "duration": 10}, {"image": "b.png", "duration": 10, "chapter": "Two"}],
    }
    return validate_data(data | extra, Path("/v/spec.yaml"))


def timeline(loaded):
    return build_timeline(loaded, made_up_facts(loaded, image=(800, 600)))


def test_overlays_sit_in_their_corner_in_even_pixels():
    logo = Overlay(image="l.png", width=0.12, margin=0.03)  # top-right by default
    x, y, w, h = place(logo, 500, 250, 1920, 1080)
    assert (w, h) == (230, 116) and (x, y) == (1920 - 230 - 32, 32)  # margin 32.4 -> 32, all even
    assert all(v % 2 == 0 for v in (x, y, w, h))
    assert place(Overlay(image="l.png", position="bottom-left", width=0.1, margin=0), 100, 100, 640, 360) == (
        0,
        296,
        64,
        64,
    )
    assert place(Overlay(image="l.png", position="center", width=0.5), 200, 100, 640, 360)[:2] == (160, 100)
    assert place(Overlay(image="l.png", position={"x": 0.5, "y": 0.5}, width=0.2), 10, 10, 640, 360)[:2] == (256, 116)
    with pytest.raises(ValueError, match="larger than the 640x360 frame"):
        place(Overlay(image="l.png", width=1.0, margin=0.1), 100, 100, 640, 360)
    with pytest.raises(ValueError, match="past the frame's edge"):
        place(Overlay(image="l.png", position={"x": 0.99, "y": 0.5}, width=0.2), 10, 10, 640, 360)


def test_overlay_frames_and_times_as_clock_strings():
    tl = timeline(spec(overlays=[{"image": "l.png", "start": "00:00:02.5", "end": 15}]))
    (o,) = tl.overlays
    assert (o.first, o.end) == (75, 450)
    whole = timeline(spec(overlays=[{"image": "l.png"}])).overlays[0]
    assert (whole.first, whole.end) == (0, 600)


def test_titles_start_with_their_slide_or_time_and_chapters_get_one_each():
    tl = timeline(
        spec(
            titles=[
                {"text": "At two", "at": {"slide": 2}, "duration": 3, "style": "lower-third"},
                {"text": "Late", "at": {"time": "0:19"}, "duration": 5},
            ],
            chapter_titles={"style": "big", "duration": 2},
            styles={"big": {"size": 120, "color": "#FF000080"}},
        )
    )
    got = [(t.text, t.first, t.end, t.style) for t in tl.titles]
    assert got == [
        ("Intro", 0, 60, "big"),
        ("Two", 300, 360, "big"),
        ("At two", 300, 390, "lower-third"),
        ("Late", 570, 600, "title"),  # cut at the video's end
    ]
    big = tl.titles[0].look
    assert big.size == 120 and big.color == "#FF000080" and big.bold  # the rest from the built-in title


def test_built_in_looks_scale_with_the_frame_and_styles_override_field_by_field():
    full, draft = look("title", {}, 1920, 1080), look("title", {}, 960, 540)
    assert draft.size * 2 == full.size and draft.margin_x * 2 == full.margin_x
    third = look("lower-third", {"lower-third": TextStyle(font="Noto Sans", box="#000000")}, 1920, 1080)
    assert third.font == "Noto Sans" and third.box == "#000000FF" and third.align == "bottom-left"


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"titles": [{"text": "x", "at": {"time": 25}}]}, "titles[0].at.time: 25 s is after the video's end"),
        ({"titles": [{"text": "x", "at": {"slide": 3}}]}, "titles[0].at.slide: slide 3, but the spec has 2 slides"),
        ({"overlays": [{"image": "l.png", "width": 1, "margin": 0.2}]}, "overlays[0]: the overlay is 1920x"),
        ({"overlays": [{"image": "l.png", "start": 30}]}, "overlays[0].start: starts at 30 s, after the video ends"),
    ],
)
def test_graphics_that_cannot_show_are_one_clear_error(extra, says):
    with pytest.raises(SpecError) as err:
        timeline(spec(**extra))
    assert says in err.value.message and err.value.message.startswith("spec.yaml:")


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"titles": [{"text": "x", "at": {"slide": 1}, "style": "nope"}]}, "unknown style 'nope'"),
        ({"titles": [{"text": "x", "at": {"slide": 1, "time": 2}}]}, "exactly one of slide"),
        ({"titles": [{"text": "x", "at": {"time": "1:xx"}}]}, "is not a time"),
        ({"overlays": [{"image": "l.png", "start": 5, "end": 4}]}, "must be after start"),
        ({"styles": {"bad name": {}}}, "letters, digits"),
        ({"styles": {"s": {"box": "#00000"}}}, "styles.s.box"),
    ],
)
def test_graphics_keys_are_checked_when_the_spec_loads(extra, says):
    with pytest.raises(SpecError, match=None) as err:
        spec(**extra)
    assert says in err.value.message
