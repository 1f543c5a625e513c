"""The spec (version 1): pydantic models of exactly what the user wrote, defaults applied.

`load_spec` turns YAML into a `LoadedSpec`; every error names the file, the line and the
spec path (`spec.yaml:14 slides[3].duration: must be greater than 0`) and says how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from vgen.errors import SpecError

# Every transition name of FFmpeg's xfade filter, 9's included: vgen's compositor draws them all
# (vgen.picture.transitions); with compositor: ffmpeg they are checked against the FFmpeg in use.
XFADE_TRANSITIONS = frozenset(
    [
        "fade",
        "wipeleft",
        "wiperight",
        "wipeup",
        "wipedown",
        "slideleft",
        "slideright",
        "slideup",
        "slidedown",
        "circlecrop",
        "rectcrop",
        "distance",
        "fadeblack",
        "fadewhite",
        "radial",
        "smoothleft",
        "smoothright",
        "smoothup",
        "smoothdown",
        "circleopen",
        "circleclose",
        "vertopen",
        "vertclose",
        "horzopen",
        "horzclose",
        "dissolve",
        "pixelize",
        "diagtl",
        "diagtr",
        "diagbl",
        "diagbr",
        "hlslice",
        "hrslice",
        "vuslice",
        "vdslice",
        "hblur",
        "fadegrays",
        "wipetl",
        "wipetr",
        "wipebl",
        "wipebr",
        "squeezeh",
        "squeezev",
        "zoomin",
        "fadefast",
        "fadeslow",
        "hlwind",
        "hrwind",
        "vuwind",
        "vdwind",
        "coverleft",
        "coverright",
        "coverup",
        "coverdown",
        "revealleft",
        "revealright",
        "revealup",
        "revealdown",
    ]
)
KEN_BURNS_PRESETS = ("zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down")
NVENC_PRESETS = tuple(f"p{i}" for i in range(1, 8))
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
DAY = 86_400  # seconds: no one number of a spec stands for more (the whole video has its own cap)
Encoder = Literal["auto", "h264_nvenc", "hevc_nvenc", "libx264", "libx265"]
Easing = Literal["linear", "ease-in", "ease-out", "ease-in-out"]
Fit = Literal["cover", "contain"]


_CLOCK = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?)$")


def clock_seconds(text: str) -> float:
    """'01:02:03.5', '2:03.5' or '123.5' -> seconds; ValueError for anything else."""
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a time: write it as HH:MM:SS.s, MM:SS.s or seconds")
    seconds = 0.0
    for part in (p for p in m.groups() if p is not None):
        seconds = seconds * 60 + float(part)
    return seconds


def _seconds(v: Any) -> Any:
    return clock_seconds(v) if isinstance(v, str) else v


# A point in the video: seconds, or a clock string ("00:12:30") as people read it off a player.
Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0, le=DAY)]


class _Model(BaseModel):
    # allow_inf_nan=False: Infinity and NaN are refused as numbers (one line each), not carried into
    # frame arithmetic that never ends.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Output(_Model):
    path: str = Field("out/video.mp4", description="Output MP4; relative paths resolve against the spec's folder.")
    width: int = Field(1920, ge=16, le=8192, description="Frame width in pixels (even).")
    height: int = Field(1080, ge=16, le=8192, description="Frame height in pixels (even).")
    fps: float = Field(30, ge=1, le=240, description="Frames per second.")
    encoder: Encoder = Field("auto", description="auto: NVENC when a test encode works, else libx264.")
    quality: int = Field(21, ge=0, le=51, description="Constant quality: -cq for NVENC, -crf for x264/x265.")
    preset: str = Field("p4", description="NVENC p1..p7, or an x264 preset name (p-presets map to one).")
    lookahead: int = Field(16, ge=0, le=64, description="NVENC -rc-lookahead frames.")
    compositor: Literal["auto", "ffmpeg"] = Field(
        "auto",
        description="auto: image slides are composed in vgen's threads and piped raw to FFmpeg (fast); "
        "ffmpeg: every frame comes from an FFmpeg filter graph (perspective warp, xfade).",
    )

    @field_validator("width", "height")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"must be even for yuv420p video, e.g. {v + 1}")
        return v

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in NVENC_PRESETS + X264_PRESETS:
            raise ValueError(f"unknown preset {v!r}; use p1..p7 or one of {', '.join(X264_PRESETS)}")
        return v


class Segments(_Model):
    seconds: float = Field(300, ge=0.1, le=DAY, description="Target length of one checkpoint segment, in seconds.")


class Transition(_Model):
    type: str = Field("fade", description="none, or any xfade transition name of FFmpeg.")
    duration: float = Field(0.5, ge=0, le=60, description="Seconds, centred on the slide boundary.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"type": v}
        return v

    @field_validator("type")
    @classmethod
    def _known(cls, v: str) -> str:
        if v != "none" and v not in XFADE_TRANSITIONS:
            raise ValueError(f"unknown transition {v!r}; use none or an xfade name such as fade, slideleft, wipeup")
        return v

    @property
    def is_cut(self) -> bool:
        return self.type == "none" or self.duration == 0


class KenBurnsPoint(_Model):
    zoom: float = Field(1.0, ge=1.0, le=10.0, description=">= 1.0, relative to the fitted frame.")
    x: float = Field(0.5, ge=0.0, le=1.0, description="Focal point, 0..1 of the image width.")
    y: float = Field(0.5, ge=0.0, le=1.0, description="Focal point, 0..1 of the image height.")


class KenBurnsMove(_Model):
    from_: KenBurnsPoint = Field(default_factory=KenBurnsPoint, alias="from")
    to: KenBurnsPoint = Field(default_factory=KenBurnsPoint)
    easing: Easing = "linear"


KenBurns = Literal["auto", "none", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down"] | KenBurnsMove


class Defaults(_Model):
    duration: float = Field(5, gt=0, le=DAY, description="Seconds a slide lasts when it gives no duration.")
    narration_pad: float = Field(
        0.5,
        ge=0,
        le=60,
        description="Seconds of silence after a slide's own narration (a narrated slide lasts "
        "its clip plus this, unless it gives a duration).",
    )
    transition: Transition = Field(default_factory=Transition)
    ken_burns: KenBurns = "auto"
    fit: Fit = "cover"


class Slide(_Model):
    image: str | None = Field(None, description="Image file (JPEG, PNG, WebP, ...).")
    video: str | None = Field(None, description="Video clip, looped to fill the slide; its sound is dropped.")
    duration: float | None = Field(None, gt=0, le=DAY, description="Seconds; default: defaults.duration.")
    transition: Transition | None = Field(None, description="The transition INTO this slide.")
    ken_burns: KenBurns | None = None
    fit: Fit | None = None
    narration: str | None = Field(
        None,
        description="This slide's own narration (a TTS clip): it starts with the slide; without a duration "
        "the slide lasts the clip plus defaults.narration_pad.",
    )
    chapter: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="A chapter starts with this slide (MP4 chapters, the YouTube description block).",
    )
    text: str | None = Field(
        None, max_length=100_000, description="What the narration says: captions with subtitles.from: text."
    )
    words: str | None = Field(
        None,
        description="Word timings of this slide's narration: JSON [{word, start, end}] in seconds from the "
        "clip's start, or Whisper's verbose_json.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Slide:
        if (self.image is None) == (self.video is None):
            raise ValueError("a slide needs exactly one of image: or video:")
        if self.words is not None and self.narration is None:
            raise ValueError("words: are the timings of the slide's narration: give narration: too")
        return self

    @property
    def kind(self) -> Literal["image", "video"]:
        return "image" if self.image is not None else "video"

    @property
    def source(self) -> str:
        source = self.image if self.image is not None else self.video
        assert source is not None  # _one_source
        return source


class MusicTrack(_Model):
    path: str = Field(description="Music file (MP3, WAV, M4A, OGG, ...).")
    volume: float = Field(0.15, ge=0, le=4, description="Linear gain of the music bed.")
    loop: bool = Field(True, description="Loop to fill the video (in a list: the last track loops).")
    duck: bool = Field(True, description="Lower the music while the narration speaks, recover in pauses.")
    fade_in: float = Field(2.0, ge=0, le=3600, description="Seconds of fade-in at the track's start.")
    fade_out: float = Field(3.0, ge=0, le=3600, description="Seconds of fade-out at the video's end.")


class Audio(_Model):
    narration: str | None = Field(None, description="Narration track; the video is at least this long.")
    music: MusicTrack | list[MusicTrack] | None = Field(None, description="A music bed, or tracks played in turn.")
    loudness: float | None = Field(-14, ge=-40, le=-5, description="Integrated loudness target, LUFS; null: untouched.")

    @property
    def tracks(self) -> list[MusicTrack]:
        if self.music is None:
            return []
        return list(self.music) if isinstance(self.music, list) else [self.music]


_COLOR = r"^#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$"


class SubtitleStyle(_Model):
    font: str = Field("DejaVu Sans", pattern=r"^[^,{}\\\n\r]+$", description="Font family (no commas).")
    size: int = Field(48, ge=4, le=400, description="Font size in output pixels.")
    color: str = Field("#FFFFFF", pattern=_COLOR, description="#RRGGBB or #AARRGGBB (AA: 00 = opaque).")
    outline_color: str = Field("#000000", pattern=_COLOR)
    outline: float = Field(3, ge=0, le=50, description="Outline width in pixels.")
    margin_v: int = Field(60, ge=0, le=2000, description="Distance from the top/bottom edge in pixels.")
    position: Literal["bottom", "top", "middle"] = "bottom"


class Subtitles(_Model):
    path: str | None = Field(None, description=".srt, .vtt or .ass (an .ass file keeps its own styles).")
    from_: Literal["text"] | None = Field(
        None, alias="from", description="text: captions from the slides' text, timed by their narration."
    )
    style: SubtitleStyle = Field(default_factory=SubtitleStyle)
    fonts_dir: str | None = Field(None, description="Folder of font files to use.")
    sidecar: list[Literal["srt", "vtt"]] = Field(
        default_factory=list, description="Also write the cues as these files next to the video (YouTube's upload)."
    )
    burn: bool = Field(True, description="false: sidecar files only; the picture is left alone.")
    highlight: str | None = Field(
        None,
        pattern=_COLOR,
        description="With word timings (slides' words:): the word being spoken in this colour, karaoke-style.",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> Subtitles:
        if (self.path is None) == (self.from_ is None):
            raise ValueError("subtitles need exactly one of path: (a caption file) or from: text")
        if not self.burn and not self.sidecar:
            raise ValueError("burn: false writes sidecar files only: give sidecar: [srt, vtt] too")
        return self


_CSS_COLOR = r"^#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$"
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]
Align = Literal["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"]
STYLE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Point(_Model):
    x: float = Field(ge=0, le=1, description="Centre of the overlay, 0..1 of the frame width.")
    y: float = Field(ge=0, le=1, description="Centre of the overlay, 0..1 of the frame height.")


class Overlay(_Model):
    image: str = Field(description="PNG or WebP (with alpha), or any image: drawn over the picture.")
    position: Corner | Point = Field("top-right", description="A corner, center, or {x, y}: its centre.")
    width: float = Field(0.12, gt=0, le=1, description="Of the frame width (the height keeps the aspect).")
    margin: float = Field(0.03, ge=0, le=0.5, description="Distance from the frame's edges, of the frame height.")
    opacity: float = Field(1.0, ge=0, le=1, description="Applied once, over the image's own alpha.")
    start: Seconds = Field(0, description="Seconds (or HH:MM:SS) it appears.")
    end: Seconds | None = Field(None, description="Seconds (or HH:MM:SS) it goes; null: the video's end.")

    @model_validator(mode="after")
    def _order(self) -> Overlay:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end:g} s) must be after start ({self.start:g} s)")
        return self


class TitleAt(_Model):
    slide: int | None = Field(None, ge=1, description="The title starts with this slide (1 = the first).")
    time: Seconds | None = Field(None, description="Or at this time: seconds or HH:MM:SS.")

    @model_validator(mode="after")
    def _one(self) -> TitleAt:
        if (self.slide is None) == (self.time is None):
            raise ValueError("give exactly one of slide: (1 = the first) or time:")
        return self


Animation = Literal["fade", "slide-up", "none"]


class Title(_Model):
    text: str = Field(min_length=1, max_length=500, description="Plain text (never ASS tags); a newline breaks it.")
    at: TitleAt
    duration: float = Field(4, gt=0, le=3600, description="Seconds on screen.")
    style: str = Field("title", pattern=STYLE_NAME, description="title, lower-third, thumbnail or one of styles:.")
    animation: Animation = "fade"


class ChapterTitles(_Model):
    style: str = Field("title", pattern=STYLE_NAME)
    duration: float = Field(4, gt=0, le=3600)
    animation: Animation = "fade"


class TextStyle(_Model):
    """A named look for titles; what it leaves out comes from the built-in style of the same name
    (or from `title`)."""

    font: str | None = Field(None, pattern=r"^[^,{}\\\n\r]+$", description="Font family (no commas).")
    size: int | None = Field(None, ge=4, le=1000, description="Font size in output pixels.")
    color: str | None = Field(None, pattern=_CSS_COLOR, description="#RRGGBB or #RRGGBBAA (AA: FF = opaque).")
    outline: float | None = Field(None, ge=0, le=50, description="Outline width in pixels.")
    outline_color: str | None = Field(None, pattern=_CSS_COLOR)
    box: str | None = Field(None, pattern=_CSS_COLOR, description="A box behind the text: #RRGGBB or #RRGGBBAA.")
    bold: bool | None = None
    align: Align | None = Field(None, description="Where on the frame, e.g. center, bottom-left.")
    margin_x: int | None = Field(None, ge=0, le=4000, description="Distance from the left/right edge in pixels.")
    margin_v: int | None = Field(None, ge=0, le=4000, description="Distance from the top/bottom edge in pixels.")


AssetRole = Literal["image", "video", "narration", "clip", "words", "music", "subtitles", "fonts", "overlay"]


@dataclass(frozen=True)
class AssetRef:
    """A file the spec names: where in the spec (`loc`), the path as written, and what it is."""

    loc: tuple[str | int, ...]
    path: str
    role: AssetRole


class Spec(_Model):
    version: Literal[1] = Field(description="Spec format version; always 1.")
    output: Output = Field(default_factory=Output)
    segments: Segments = Field(default_factory=Segments)
    defaults: Defaults = Field(default_factory=Defaults)
    slides: list[Slide] = Field(min_length=1)
    audio: Audio | None = None
    subtitles: Subtitles | None = None
    chapters_intro: str = Field(
        "Intro",
        min_length=1,
        max_length=500,
        description="Title of the 0:00 chapter vgen adds when slides have chapters but the first slide does not.",
    )
    overlays: list[Overlay] = Field(default_factory=list, description="Images over the picture (a channel logo).")
    titles: list[Title] = Field(default_factory=list, description="Text events over the picture.")
    chapter_titles: bool | ChapterTitles = Field(
        False, description="true (or a style, duration, animation): a title of each chapter at its start."
    )
    styles: dict[str, TextStyle] = Field(default_factory=dict, description="Named looks of titles.")
    fonts_dir: str | None = Field(None, description="Folder of font files for titles and captions.")

    @field_validator("styles")
    @classmethod
    def _style_names(cls, v: dict[str, TextStyle]) -> dict[str, TextStyle]:
        for name in v:
            if not re.match(STYLE_NAME, name):
                raise ValueError(f"style name {name!r}: letters, digits, '-' and '_' only")
        return v

    @model_validator(mode="after")
    def _known_styles(self) -> Spec:
        known = {"title", "lower-third", "thumbnail", *self.styles}
        chosen = [(f"titles[{i}].style", t.style) for i, t in enumerate(self.titles)]
        if isinstance(self.chapter_titles, ChapterTitles):
            chosen.append(("chapter_titles.style", self.chapter_titles.style))
        for where, name in chosen:
            if name not in known:
                raise ValueError(
                    f"{where}: unknown style {name!r}; use title, lower-third, thumbnail or add it to styles:"
                )
        if self.fonts_dir is not None and self.subtitles is not None and self.subtitles.fonts_dir is not None:
            raise ValueError("fonts_dir and subtitles.fonts_dir: give the fonts folder once (fonts_dir)")
        return self

    @property
    def fonts(self) -> tuple[tuple[str, ...], str] | None:
        """Where the spec names its fonts folder, and the folder as written (one for all text)."""
        if self.fonts_dir is not None:
            return ("fonts_dir",), self.fonts_dir
        if self.subtitles is not None and self.subtitles.fonts_dir is not None:
            return ("subtitles", "fonts_dir"), self.subtitles.fonts_dir
        return None

    @model_validator(mode="after")
    def _one_narration(self) -> Spec:
        if self.audio is not None and self.audio.narration is not None:
            narrated = next((i for i, s in enumerate(self.slides) if s.narration is not None), None)
            if narrated is not None:
                raise ValueError(
                    f"audio.narration and slides[{narrated}].narration: give one narration for the whole video or "
                    "one per slide, not both"
                )
        return self

    @property
    def narrated_slides(self) -> bool:
        return any(s.narration is not None for s in self.slides)

    def assets(self) -> list[AssetRef]:
        """Every file the spec names, in spec order: the one list that probing, validation, the
        worker's job checks and the client's uploads all read."""
        refs = [AssetRef(("slides", i, s.kind), s.source, s.kind) for i, s in enumerate(self.slides)]
        for i, s in enumerate(self.slides):
            if s.narration is not None:
                refs.append(AssetRef(("slides", i, "narration"), s.narration, "clip"))
            if s.words is not None:
                refs.append(AssetRef(("slides", i, "words"), s.words, "words"))
        if self.audio is not None:
            if self.audio.narration is not None:
                refs.append(AssetRef(("audio", "narration"), self.audio.narration, "narration"))
            single = not isinstance(self.audio.music, list)
            for i, track in enumerate(self.audio.tracks):
                loc: tuple[str | int, ...] = ("audio", "music", "path") if single else ("audio", "music", i, "path")
                refs.append(AssetRef(loc, track.path, "music"))
        if self.subtitles is not None and self.subtitles.path is not None:
            refs.append(AssetRef(("subtitles", "path"), self.subtitles.path, "subtitles"))
        for i, ov in enumerate(self.overlays):
            refs.append(AssetRef(("overlays", i, "image"), ov.image, "overlay"))
        if self.fonts is not None:
            refs.append(AssetRef(self.fonts[0], self.fonts[1], "fonts"))
        return refs


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and where it came from (relative paths resolve against `base_dir`)."""

    spec: Spec
    path: Path
    base_dir: Path
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict, compare=False, repr=False)

    def resolve(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def where(self, loc: tuple[Any, ...]) -> str:
        """`spec.yaml:14 slides[3].duration` for a spec path."""
        return f"{self.path.name}:{line_of(self.lines, loc)} {format_loc(loc)}"

    @property
    def output_path(self) -> Path:
        return self.resolve(self.spec.output.path)


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    """Line of the deepest part of `loc` that the YAML has (a missing key points at its parent)."""
    loc = tuple(loc)
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _node_lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            _node_lines(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, path + (i,), out)


def _message(err: ErrorDetails) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or fix its spelling (vgen accepts only the keys of spec version 1)"
    if kind == "missing":
        return "is required"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg.replace("Input should be", "must be")


def _branch(part: Any) -> bool:
    """A part of a pydantic error location that names a union's branch (`MusicTrack`,
    `list[MusicTrack]`, `function-after[...]`, `literal[...]`), not a key of the spec."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part.startswith("function-"))


def validate_data(data: Any, path: Path, lines: dict[tuple[Any, ...], int] | None = None) -> LoadedSpec:
    """Validate already-parsed spec data (YAML or a JSON job) into a LoadedSpec."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise SpecError(f"{path.name}:1 the spec must be a mapping with version: and slides:", "see configs/demo.yaml")
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(p for p in err["loc"] if not _branch(p)), _message(err)) for err in exc.errors()]
        # Unions report each branch: keep the first message per location, and drop a location that
        # a deeper one explains (a music track's bad fade_in, not also "must be a valid list").
        seen: dict[tuple[Any, ...], str] = {}
        for loc, msg in problems:
            if not any(len(other) > len(loc) and other[: len(loc)] == loc for other, _ in problems):
                seen.setdefault(loc, msg)
        first_loc, first_msg = next(iter(seen.items()))
        more = f" (and {len(seen) - 1} more problem{'s' if len(seen) > 2 else ''})" if len(seen) > 1 else ""
        where = f"{path.name}:{line_of(lines, first_loc)} {format_loc(first_loc)}"
        raise SpecError(f"{where}: {first_msg}{more}", f"fix {path}") from exc
    return LoadedSpec(spec=spec, path=path, base_dir=path.parent.resolve(), lines=lines)


MAX_NODES = 200_000  # values of a spec once its YAML aliases are expanded (720 slides need ~10k)


def _expanded_size(root: yaml.Node, path: Path) -> int:
    """How many values the document holds with every alias expanded, counted on the composed graph
    (an alias is a second reference to a node: each distinct node is counted once, with the size of
    its expansion). Nested aliases expand exponentially: 591 bytes once grew a worker to 2.8 GB."""
    sizes: dict[int, int] = {}
    opened: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:  # post-order without recursion: a deep document is no stack overflow either
        node = stack[-1]
        kids = [k for k in _children(node) if id(k) not in sizes]
        line = node.start_mark.line + 1 if node.start_mark else 1
        if kids and id(node) not in opened:
            opened.add(id(node))
            for k in kids:
                if id(k) in opened:
                    raise SpecError(f"{path.name}:{line} a YAML alias refers to itself", "remove the recursion")
            stack.extend(kids)
            continue
        stack.pop()
        size = 1 + sum(sizes[id(k)] for k in _children(node))
        sizes[id(node)] = size
        if size > MAX_NODES:
            raise SpecError(
                f"{path.name}:{line} the spec expands to more than {MAX_NODES} values (nested YAML aliases?)",
                "write it without nested aliases (*name)",
            )
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(text: str, path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML text and record the line of every key and item."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _expanded_size(node, path)  # before anything walks the expansion
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{path.name}:{line} invalid YAML: {problem}", f"fix the syntax in {path}") from exc
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _node_lines(node, (), lines)
    return data, lines


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate a spec file; raise SpecError naming file, line and spec path."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: spec file not found", "check the path; configs/demo.yaml is a working example") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: cannot read the spec: {exc}", "save it as UTF-8 text") from exc
    data, lines = parse_yaml(text, p)
    return validate_data(data, p, lines)


def as_draft(loaded: LoadedSpec) -> LoadedSpec:
    """A fast check render: a quarter of the pixels, half the frame rate (at least 10 fps), the
    fastest preset, a clearly named output (`*.draft.mp4`) and so a store of its own."""
    spec = loaded.spec
    out = spec.output
    path = Path(out.path)
    draft_out = out.model_copy(
        update={
            "path": str(path.with_name(f"{path.stem}.draft{path.suffix or '.mp4'}")),
            "width": max(16, out.width // 4 * 2),
            "height": max(16, out.height // 4 * 2),
            "fps": max(10.0, min(out.fps, out.fps / 2)),
            "preset": "p1",
            "quality": min(51, out.quality + 4),
        }
    )
    update: dict[str, Any] = {"output": draft_out}
    if spec.subtitles is not None:
        st = spec.subtitles.style
        style = st.model_copy(
            update={"size": max(4, st.size // 2), "outline": st.outline / 2, "margin_v": st.margin_v // 2}
        )
        update["subtitles"] = spec.subtitles.model_copy(update={"style": style})
    if spec.styles:  # titles' own sizes are output pixels too (the built-in looks scale by themselves)
        update["styles"] = {name: _halved(s) for name, s in spec.styles.items()}
    return LoadedSpec(spec.model_copy(update=update), loaded.path, loaded.base_dir, loaded.lines)


def _halved(style: TextStyle) -> TextStyle:
    half = {
        k: max(4 if k == "size" else 0, v // 2) for k in ("size", "margin_x", "margin_v") if (v := getattr(style, k))
    }
    if style.outline is not None:
        half["outline"] = style.outline / 2
    return style.model_copy(update=half)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of spec version 1, from the models (for editors and CI checks)."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vgen spec, version 1"
    return schema
