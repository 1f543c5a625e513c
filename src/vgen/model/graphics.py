"""Graphics over the picture, placed and timed: overlays (a channel logo) and titles. Pure.

An overlay becomes a rectangle of whole, even pixels (4:2:0 chroma stays aligned with it) and a
range of global frames; a title becomes a range of frames with its look resolved from the
built-in styles and the spec's `styles:`. The compositors draw overlays from these
(`picture/draw`, `ffmpeg/graph`); libass draws the titles from the ASS events `ffmpeg/titles`
writes from them. Built-in looks scale with the frame, so a draft render looks like the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from vgen.errors import SpecError
from vgen.model.chapters import Chapter
from vgen.model.facts import Facts, ImageFacts
from vgen.model.spec import ChapterTitles, LoadedSpec, Overlay, Point, TextStyle


@dataclass(frozen=True)
class OverlayTL:
    """An overlay as the compositors draw it: `path` fitted to (width, height) at (x, y), on
    global frames [first, end), its alpha times `opacity`."""

    index: int  # in the spec's overlays:
    path: Path
    x: int
    y: int
    width: int
    height: int
    first: int
    end: int
    opacity: float
    facts: ImageFacts


@dataclass(frozen=True)
class TextLook:
    """A title's look, every field given; colours as #RRGGBBAA (AA: FF = opaque)."""

    font: str
    size: int
    color: str
    outline: float
    outline_color: str
    box: str | None
    bold: bool
    align: str
    margin_x: int
    margin_v: int


@dataclass(frozen=True)
class TitleTL:
    """A title on global frames [first, end); `index` is its place in titles: (-1: a chapter's)."""

    index: int
    text: str
    first: int
    end: int
    style: str
    look: TextLook
    animation: str


def built_in(name: str, width: int, height: int) -> TextLook:
    """The built-in looks, in proportion to the frame (sizes are those of 1080p scaled)."""
    h = height / 1080

    def px(v: float) -> int:
        return max(1, round(v * h))

    if name == "lower-third":
        return TextLook("DejaVu Sans", px(46), "#FFFFFFFF", 0, "#000000FF", "#000000A0", False, "bottom-left",
                        round(width * 0.05), px(170))  # fmt: skip
    if name == "thumbnail":
        return TextLook("DejaVu Sans", px(120), "#FFFFFFFF", px(8), "#000000FF", None, True, "bottom",
                        round(width * 0.05), px(90))  # fmt: skip
    return TextLook("DejaVu Sans", px(84), "#FFFFFFFF", px(4), "#000000FF", None, True, "center",
                    round(width * 0.05), px(60))  # fmt: skip


def css_color(color: str) -> str:
    """#RRGGBB -> #RRGGBBFF; #RRGGBBAA as it is (upper case)."""
    c = color.upper()
    return c if len(c) == 9 else c + "FF"


def look(name: str, styles: dict[str, TextStyle], width: int, height: int) -> TextLook:
    """A style by name: the spec's fields over the built-in style of that name (or `title`)."""
    base = built_in(name if name in ("title", "lower-third", "thumbnail") else "title", width, height)
    given = styles.get(name)
    if given is None:
        return base
    update = {f.name: getattr(given, f.name) for f in fields(TextLook) if getattr(given, f.name) is not None}
    for key in ("color", "outline_color", "box"):
        if update.get(key) is not None:
            update[key] = css_color(update[key])
    return TextLook(**{**base.__dict__, **update})


def even(v: float) -> int:
    return int(round(v / 2)) * 2


def place(ov: Overlay, img_w: int, img_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an overlay on the frame, all even; ValueError when it does not fit."""
    w = max(2, even(ov.width * width))
    h = max(2, even(w * img_h / img_w))
    m = ov.margin * height
    if w + 2 * m > width or h + 2 * m > height:
        raise ValueError(
            f"is {w}x{h} px with a margin of {m:.0f} px: larger than the {width}x{height} frame; "
            "make width: or margin: smaller"
        )
    pos = ov.position
    if isinstance(pos, Point):
        x, y = pos.x * width - w / 2, pos.y * height - h / 2
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise ValueError(f"at {{x: {pos.x:g}, y: {pos.y:g}}} reaches past the frame's edge; move it inwards")
    else:
        x = {"left": m, "right": width - w - m}.get(pos.split("-")[-1], (width - w) / 2)
        y = {"top": m, "bottom": height - h - m}.get(pos.split("-")[0], (height - h) / 2)
    return min(even(x), width - w), min(even(y), height - h), w, h


Frames = Callable[[float], int]  # seconds -> global frame (the timeline's one rounding rule)


def overlays(loaded: LoadedSpec, facts: Facts, frames: Frames, total: int, video_s: float) -> tuple[OverlayTL, ...]:
    """Every overlay of the spec, placed and timed; errors name its spec line."""
    out = loaded.spec.output
    placed = []
    for i, ov in enumerate(loaded.spec.overlays):
        f = facts[loaded.resolve(ov.image)]
        assert isinstance(f, ImageFacts)  # probed as an image
        try:
            x, y, w, h = place(ov, f.width, f.height, out.width, out.height)
        except ValueError as exc:
            raise SpecError(
                f"{loaded.where(('overlays', i))}: the overlay {exc}", "see the README's overlays"
            ) from None
        first = frames(ov.start)
        end = total if ov.end is None else min(total, frames(ov.end))
        if first >= total:
            raise SpecError(
                f"{loaded.where(('overlays', i, 'start'))}: starts at {ov.start:g} s, after the video ends "
                f"({video_s:.2f} s)",
                "give an earlier start, or remove the overlay",
            )
        if end > first:
            placed.append(OverlayTL(i, f.path, x, y, w, h, first, end, ov.opacity, f))
    return tuple(placed)


def titles(
    loaded: LoadedSpec, starts: list[int], chapters: tuple[Chapter, ...], frames: Frames, total: int, video_s: float
) -> tuple[TitleTL, ...]:
    """Every title of the spec, and one per chapter with chapter_titles; `starts` are the slides'
    first frames (their boundaries). A title runs at most to the video's end."""
    spec = loaded.spec
    out = spec.output
    made: list[TitleTL] = []
    for i, t in enumerate(spec.titles):
        if t.at.slide is not None:
            if t.at.slide > len(starts):
                raise SpecError(
                    f"{loaded.where(('titles', i, 'at', 'slide'))}: slide {t.at.slide}, but the spec has "
                    f"{len(starts)} slides",
                    "slides are numbered from 1",
                )
            first = starts[t.at.slide - 1]
        else:
            assert t.at.time is not None
            first = frames(t.at.time)
            if first >= total:
                raise SpecError(
                    f"{loaded.where(('titles', i, 'at', 'time'))}: {t.at.time:g} s is after the video's end "
                    f"({video_s:.2f} s)",
                    "give an earlier time, or remove the title",
                )
        end = min(total, first + max(1, frames(t.duration)))
        made.append(TitleTL(i, t.text, first, end, t.style, look(t.style, spec.styles, out.width, out.height),
                            t.animation))  # fmt: skip
    if spec.chapter_titles and chapters:
        ct = spec.chapter_titles if isinstance(spec.chapter_titles, ChapterTitles) else ChapterTitles()
        chapter_look = look(ct.style, spec.styles, out.width, out.height)
        for c in chapters:
            end = min(total, c.frame + max(1, frames(ct.duration)))
            made.append(TitleTL(-1, c.title, c.frame, end, ct.style, chapter_look, ct.animation))
    return tuple(sorted(made, key=lambda t: (t.first, t.index)))
