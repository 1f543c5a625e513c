"""Titles as ASS: a style per look and an event per title, burned by libass in the captions' pass.

libass shapes the text (right-to-left scripts included), draws outlines and boxes and finds the
fonts through fontconfig (or the spec's fonts folder). Every title is placed with `\\pos` (or
`\\move` for slide-up), so its place never depends on ASS margins, and its text is escaped:
braces and backslashes a user writes are text, never override tags.

Event times sit half a frame before the title's first and last frames: libass compares them with
each frame's time truncated to the millisecond, and a time at a frame's exact start could land
either side of it.
"""

from __future__ import annotations

import math
from fractions import Fraction

from vgen.ffmpeg.captions import Captions, ass_literal, ass_time, to_ass
from vgen.model.graphics import TextLook, TitleTL
from vgen.model.spec import LoadedSpec, SubtitleStyle
from vgen.model.timeline import Timeline

_NUMPAD = {
    "bottom-left": 1,
    "bottom": 2,
    "bottom-right": 3,
    "left": 4,
    "center": 5,
    "right": 6,
    "top-left": 7,
    "top": 8,
    "top-right": 9,
}
FADE_MS = 300  # fade in and out (at most a quarter of the title's time)
SLIDE_MS = 400  # slide-up: the move's length
SLIDE_BY = 0.04  # of the frame height: how far a slide-up title rises


def css_to_ass(css: str) -> str:
    """#RRGGBBAA (AA: FF = opaque) -> ASS &HAABBGGRR (AA: 00 = opaque)."""
    c = css.lstrip("#")
    alpha = 255 - int(c[6:8] or "FF", 16)
    return f"&H{alpha:02X}{c[4:6]}{c[2:4]}{c[0:2]}".upper()


def style_name(name: str) -> str:
    return f"vgen-{name}"


def style_line(name: str, look: TextLook) -> str:
    """An ASS style of a look: an opaque box (BorderStyle 3, padded by a quarter of the size) or
    an outline."""
    if look.box is not None:
        border, outline, edge, back = 3, float(max(2, round(look.size / 4))), css_to_ass(look.box), css_to_ass(look.box)
    else:
        border, outline, edge, back = 1, look.outline, css_to_ass(look.outline_color), "&H80000000"
    return (
        f"Style: {style_name(name)},{look.font},{look.size},{css_to_ass(look.color)},&H000000FF,{edge},{back},"
        f"{-1 if look.bold else 0},0,0,0,100,100,0,0,{border},{outline:g},0,{_NUMPAD[look.align]},"
        f"{look.margin_x},{look.margin_x},{look.margin_v},1"
    )


def anchor(look: TextLook, width: int, height: int) -> tuple[int, int]:
    """The point `\\pos` puts the text's alignment point at."""
    x = {"left": look.margin_x, "right": width - look.margin_x}.get(look.align.split("-")[-1], width // 2)
    vertical = look.align.split("-")[0]
    y = {"top": look.margin_v, "bottom": height - look.margin_v}.get(vertical, height // 2)
    return x, y


def _cs(frame: int, fps: Fraction) -> float:
    """An event time half a frame before `frame` starts, on ASS's 10 ms grid."""
    return max(0.0, math.floor((frame - Fraction(1, 2)) / fps * 100) / 100)


def event(t: TitleTL, fps: Fraction, width: int, height: int) -> str:
    """The Dialogue line of one title: placed, animated, its text escaped."""
    start, end = _cs(t.first, fps), _cs(t.end, fps)
    ms = round((end - start) * 1000)
    x, y = anchor(t.look, width, height)
    tags = f"\\an{_NUMPAD[t.look.align]}"
    if t.animation == "slide-up":
        rise = round(height * SLIDE_BY)
        tags += f"\\move({x},{y + rise},{x},{y},0,{min(SLIDE_MS, ms // 2)})"
    else:
        tags += f"\\pos({x},{y})"
    if t.animation != "none":
        fade = min(FADE_MS, ms // 4)
        tags += f"\\fad({fade},{fade})"
    return (
        f"Dialogue: 1,{ass_time(start)},{ass_time(end)},{style_name(t.style)},,0,0,0,,{{{tags}}}{ass_literal(t.text)}"
    )


def titles_ass(tl: Timeline) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(style lines, event lines) of the timeline's titles."""
    looks = {t.style: t.look for t in tl.titles}
    styles = tuple(style_line(name, look) for name, look in sorted(looks.items()))
    events = tuple(event(t, tl.fps, tl.width, tl.height) for t in tl.titles)
    return styles, events


def burn_scripts(loaded: LoadedSpec, tl: Timeline, captions: Captions | None) -> tuple[Captions, ...]:
    """The ASS scripts burned into the picture, in order: the captions with the titles in one
    script, or the user's own .ass script and then one of the titles (its styles and PlayRes
    stay its own)."""
    sub = loaded.spec.subtitles
    burned = captions if sub is not None and sub.burn else None
    if not tl.titles:
        return (burned,) if burned is not None else ()
    styles, events = titles_ass(tl)
    if burned is not None and burned.ass_text is not None:
        assert sub is not None
        text = to_ass(burned.cues, sub.style, tl.width, tl.height, sub.highlight, styles, events)
        return (Captions(burned.source, text, burned.cues, burned.warnings),)
    only_titles = Captions(loaded.path, to_ass((), SubtitleStyle(), tl.width, tl.height, None, styles, events), (), ())
    return (burned, only_titles) if burned is not None else (only_titles,)
