"""Captions: SRT/VTT parsed and checked, written as one ASS script in output pixels; .ass kept as is.

libass burns them in inside each segment's graph, timed against the global timeline, so a cue
that spans a segment cut shows on both sides without a flicker.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vgen.errors import FFmpegError, SpecError
from vgen.ffmpeg.binary import FFmpeg
from vgen.model import cues as made
from vgen.model.cues import Cue, WordsError
from vgen.model.limits import CaptionLimits
from vgen.model.spec import LoadedSpec, SubtitleStyle
from vgen.model.timeline import AUDIO_RATE, Timeline

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_CUE_TIMES = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_ALIGN = {"bottom": 2, "middle": 5, "top": 8}


@dataclass(frozen=True)
class Captions:
    """What the graph needs: the ASS file to burn in, its text, and warnings for the user."""

    source: Path
    ass_text: str | None  # None: the user's own .ass file is used as it is
    cues: tuple[Cue, ...]
    warnings: tuple[str, ...]

    @property
    def digest(self) -> str:
        body = self.ass_text if self.ass_text is not None else self.source.read_text("utf-8", "replace")
        return hashlib.sha256(body.encode()).hexdigest()

    def segment_digest(self, t0: float, t1: float) -> str:
        """What decides a segment's pixels: the script's head (styles) and its events on screen in
        [t0, t1), read from the script itself, so captions, highlights and titles all count."""
        if self.ass_text is None:
            return self.digest
        head, _, events = self.ass_text.partition("[Events]")
        shown = []
        for line in events.splitlines():
            if line.startswith("Dialogue:"):
                parts = line.split(",", 3)
                if len(parts) == 4 and _ass_seconds(parts[1]) < t1 and _ass_seconds(parts[2]) > t0:
                    shown.append(line)
        return hashlib.sha256((head + "\n".join(shown)).encode()).hexdigest()

    def file_for(self, work_dir: Path) -> Path:
        return self.source if self.ass_text is None else work_dir / f"captions-{self.digest[:16]}.ass"


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def parse_cues(text: str, name: str) -> list[Cue]:
    """Cues of an SRT or WebVTT file; a malformed cue is an error naming its number and line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    cues: list[Cue] = []
    i = 0
    if lines and lines[0].startswith("WEBVTT"):
        i = 1
    while i < len(lines):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            break
        block_start = i
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        if block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing = next((n for n, ln in enumerate(block[:2]) if "-->" in ln), None)
        number = len(cues) + 1
        if timing is None or not (m := _CUE_TIMES.match(block[timing])):
            raise SpecError(
                f"{name}:{block_start + 1} cue {number}: no valid 'start --> end' time line",
                "write times as 00:01:02,500 --> 00:01:04,000",
            )
        start, end = _seconds(*m.group(1, 2, 3, 4)), _seconds(*m.group(5, 6, 7, 8))
        if end <= start:
            raise SpecError(
                f"{name}:{block_start + timing + 1} cue {number}: ends before it starts", "fix its end time"
            )
        body = "\n".join(block[timing + 1 :]).strip()
        cues.append(Cue(number, block_start + timing + 1, start, end, body))
    return cues


def check_cues(cues: list[Cue], name: str, video_s: float) -> list[str]:
    """Warnings for cues that will not show as written (errors are raised by the parser)."""
    warnings = []
    for a, b in zip(cues, cues[1:]):
        if b.start < a.end:
            warnings.append(f"{name}:{b.line} cue {b.number} overlaps cue {a.number}; both show, stacked")
    for c in cues:
        if c.start >= video_s:
            warnings.append(
                f"{name}:{c.line} cue {c.number} starts at {c.start:.2f} s, after the video ends "
                f"({video_s:.2f} s); it is not shown"
            )
    return warnings


def ass_color(color: str) -> str:
    """#RRGGBB or #AARRGGBB -> ASS &HAABBGGRR (alpha 00 = opaque)."""
    c = color.lstrip("#")
    a, rgb = ("00", c) if len(c) == 6 else (c[:2], c[2:])
    return f"&H{a}{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}".upper()


def ass_time(t: float) -> str:
    cs = int(round(t * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def _literal(text: str) -> str:
    text = text.replace("\\", "\\\u2060")  # a word joiner after "\" keeps it literal for libass
    return text.replace("{", "\\{").replace("}", "\\}")


def ass_literal(text: str) -> str:
    """Plain text as ASS (titles): braces and backslashes are text, never override codes; line
    breaks become \\N; nothing else is read as markup."""
    return _literal(text.replace("\r\n", "\n").replace("\r", "\n")).replace("\n", "\\N")


def ass_text_of(body: str) -> str:
    """Cue text as literal ASS: braces and backslashes cannot become override codes; SRT's
    <i>, <b>, <u> become ASS tags, other markup is dropped; line breaks become \\N."""
    body = _literal(body)
    for tag, code in (("i", "i"), ("b", "b"), ("u", "u")):
        body = re.sub(rf"<{tag}>", rf"{{\\{code}1}}", body, flags=re.I)
        body = re.sub(rf"</{tag}>", rf"{{\\{code}0}}", body, flags=re.I)
    body = re.sub(r"<[^>]+>", "", body)
    return body.replace("\n", "\\N")


ASS_FORMAT = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
    "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    "MarginL, MarginR, MarginV, Encoding"
)


def to_ass(
    cues: list[Cue] | tuple[Cue, ...],
    style: SubtitleStyle,
    width: int,
    height: int,
    highlight: str | None = None,
    styles: tuple[str, ...] = (),
    events: tuple[str, ...] = (),
) -> str:
    """One ASS script in output pixels (PlayRes = frame size), so size and margins are pixels:
    the cues in the Default style (with `highlight`, the word being spoken in that colour), then
    the given `styles` and `events` (titles: `ffmpeg/titles`)."""
    head = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        ASS_FORMAT,
        f"Style: Default,{style.font},{style.size},{ass_color(style.color)},&H000000FF,"
        f"{ass_color(style.outline_color)},&H80000000,0,0,0,0,100,100,0,0,1,{style.outline:g},0,"
        f"{_ALIGN[style.position]},{max(10, width // 20)},{max(10, width // 20)},{style.margin_v},1",
        *styles,
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    lines = []
    for c in cues:
        if highlight is not None and c.words:
            lines += _highlighted(c, highlight)
        else:
            lines.append(_dialogue(c.start, c.end, ass_text_of(c.text)))
    return "\n".join(head + lines + list(events)) + "\n"


def _dialogue(start: float, end: float, text: str, style: str = "Default", layer: int = 0) -> str:
    return f"Dialogue: {layer},{ass_time(start)},{ass_time(end)},{style},,0,0,0,,{text}"


def _highlighted(c: Cue, color: str) -> list[str]:
    """A cue as consecutive events, one per stretch between word edges: the same lines each time
    (so nothing moves), the word being spoken in `color`, none in the pauses between words."""
    edges = sorted({c.start, c.end, *(min(max(t, c.start), c.end) for w in c.words for t in (w.start, w.end))})
    hl = ass_color(color)[4:]  # BBGGRR of &HAABBGGRR
    out: list[tuple[float, float, int | None]] = []
    for a, b in zip(edges, edges[1:]):
        if b - a < 0.005:
            continue
        spoken = next((k for k, w in enumerate(c.words) if w.start <= a and b <= w.end), None)
        if out and out[-1][2] == spoken and abs(out[-1][1] - a) < 1e-9:
            out[-1] = (out[-1][0], b, spoken)
        else:
            out.append((a, b, spoken))
    return [_dialogue(a, b, _marked(c, k, hl)) for a, b, k in out]


def _marked(c: Cue, k: int | None, bgr: str) -> str:
    """The cue's text as ASS with word k (of its words, in order) in colour &HBBGGRR."""
    if k is None:
        return ass_text_of(c.text)
    text, at = c.text, 0
    for n, w in enumerate(c.words):
        found = text.find(w.word, at)
        if found < 0:  # a word the text does not hold as written: no highlight rather than a wrong one
            return ass_text_of(c.text)
        if n == k:
            before, word, after = text[:found], text[found : found + len(w.word)], text[found + len(w.word) :]
            return ass_text_of(before) + f"{{\\1c&H{bgr}&}}" + ass_text_of(word) + "{\\r}" + ass_text_of(after)
        at = found + len(w.word)
    return ass_text_of(c.text)


def font_warning(font: str, fonts_dir: Path | None) -> str | None:
    """A warning when fontconfig (or the fonts folder) has no such family: libass will fall back."""
    if fonts_dir is not None and shutil.which("fc-scan"):
        out = subprocess.run(
            ["fc-scan", "--format", "%{family}\n", str(fonts_dir)], capture_output=True, text=True
        ).stdout
        if any(font.lower() in fam.lower().split(",") for fam in out.splitlines()):
            return None
    if not shutil.which("fc-match"):
        return None
    got = subprocess.run(["fc-match", "--format", "%{family}", font], capture_output=True, text=True).stdout
    if font.lower() not in [f.strip().lower() for f in got.split(",")]:
        return f"font {font!r} is not installed; text in it uses {got.split(',')[0] or 'a fallback font'} instead"
    return None


# --- limits for captions from strangers (worker jobs) --------------------------------------------

_OVERRIDE = re.compile(r"\{([^}]*)\}")
_TAG = re.compile(r"\\(fscx|fscy|fs|blur|be|xbord|ybord|bord|xshad|yshad|shad|p)(-?[\d.]+)")
_DRAW_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DRAWING = re.compile(r"\\p[1-9]")
_ASS_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[.](\d{1,3})")


def _over(name: str, what: str, where: str = "") -> SpecError:
    return SpecError(
        f"{name}{where}: {what}: refused in a worker job (limits of VGEN_MAX_CUES, VGEN_MAX_CUE_CHARS, "
        "VGEN_MAX_CAPTION_BYTES and SECURITY.md)",
        "simplify the captions, or render this video where the limits are raised",
    )


def check_cue_limits(cues: list[tuple[int, int, float, float, str]], name: str, limits: CaptionLimits) -> None:
    """(number, line, start, end, text) of each cue against the count, length and overlap caps."""
    if len(cues) > limits.max_cues:
        raise _over(name, f"{len(cues)} cues, over {limits.max_cues}")
    for number, line, _, _, text in cues:
        if len(text) > limits.max_cue_chars:
            raise _over(name, f"cue {number} has {len(text)} characters, over {limits.max_cue_chars}", f":{line}")
    # Cues on screen at once: a sweep over starts and ends (an end frees its place before a start takes it).
    events = sorted([(s, 1, n, ln) for n, ln, s, e, _ in cues] + [(e, 0, n, ln) for n, ln, s, e, _ in cues])
    shown = 0
    for _, starts, number, line in events:
        shown += 1 if starts else -1
        if shown > limits.max_overlapping:
            raise _over(
                name, f"cue {number} makes {shown} cues on screen at once, over {limits.max_overlapping}", f":{line}"
            )


def _ass_seconds(text: str) -> float:
    m = _ASS_TIME.match(text.strip())
    if not m:
        return 0.0
    h, mi, s, frac = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def check_ass_limits(text: str, name: str, height: int, limits: CaptionLimits) -> None:
    """An .ass script against the caps: events (count, length, overlap), override tags (count per
    event and in all), and the sizes libass would rasterise (font sizes and scales, blur, border,
    shadow, drawings) in proportion to the frame."""
    section = ""
    dialogues: list[tuple[int, int, float, float, str]] = []
    fields: list[str] = []
    tags = 0
    max_size = limits.max_scale / 100 * height * 10  # font sizes: ten frame heights at the most scale
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line.lower()
            continue
        key, _, value = line.partition(":")
        if key == "Format":
            fields = [f.strip().lower() for f in value.split(",")]
        elif key == "Style" and section in ("[v4+ styles]", "[v4 styles]"):
            values = dict(zip(fields, (v.strip() for v in value.split(","))))
            for field, cap in (
                ("fontsize", max_size),
                ("scalex", limits.max_scale),
                ("scaley", limits.max_scale),
                ("outline", limits.max_blur),
                ("shadow", limits.max_blur),
            ):
                if _number(values.get(field, "0")) > cap:
                    raise _over(
                        name,
                        f"style {values.get('name', '?')!r} has {field} {values[field]}, over {cap:g}",
                        f":{line_no}",
                    )
        elif key == "Dialogue" and section == "[events]":
            parts = value.split(",", max(len(fields) - 1, 9))
            body = parts[-1]
            values = dict(zip(fields, parts))
            start, end = _ass_seconds(values.get("start", "")), _ass_seconds(values.get("end", ""))
            number = len(dialogues) + 1
            dialogues.append((number, line_no, start, max(end, start), body))
            here = 0
            for block in _OVERRIDE.findall(body):
                here += block.count("\\")
                for tag, amount in _TAG.findall(block):
                    v = abs(_number(amount))
                    cap = {"fs": max_size, "fscx": limits.max_scale, "fscy": limits.max_scale, "p": 4}.get(
                        tag, limits.max_blur
                    )
                    if v > cap:
                        raise _over(name, f"event {number} has \\{tag}{amount}, over {cap:g}", f":{line_no}")
            if here > limits.max_tags_per_cue:
                raise _over(
                    name, f"event {number} has {here} override tags, over {limits.max_tags_per_cue}", f":{line_no}"
                )
            tags += here
            if _DRAWING.search(body):  # drawing mode: its coordinates become a bitmap
                big = max((abs(float(x)) for x in _DRAW_NUMBER.findall(_OVERRIDE.sub("", body))), default=0.0)
                if big > 10 * height:
                    raise _over(name, f"event {number} draws to {big:g} px, over {10 * height}", f":{line_no}")
    if tags > limits.max_tags:
        raise _over(name, f"{tags} override tags, over {limits.max_tags}")
    check_cue_limits(dialogues, name, limits)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def load_captions(
    path: Path,
    style: SubtitleStyle,
    width: int,
    height: int,
    video_s: float,
    fonts_dir: Path | None,
    limits: CaptionLimits | None = None,
) -> Captions:
    """Read, check and convert a caption file; with `limits` (worker jobs), refuse one that would
    cost libass more than a caption file should."""
    if not path.is_file():
        raise SpecError(f"{path}: subtitle file not found", "check subtitles.path")
    suffix = path.suffix.lower()
    if suffix not in (".srt", ".vtt", ".ass", ".ssa"):
        raise SpecError(f"{path}: unknown subtitle format {suffix!r}", "use .srt, .vtt or .ass")
    if limits is not None and path.stat().st_size > limits.max_bytes:
        raise _over(path.name, f"the file is {path.stat().st_size} bytes, over {limits.max_bytes}")
    text = path.read_text(encoding="utf-8", errors="replace")
    warnings = []
    if suffix in (".ass", ".ssa"):
        if "[Events]" not in text:
            raise SpecError(f"{path.name}: not an ASS script (no [Events] section)", "export it again as .ass")
        if limits is not None:
            check_ass_limits(text, path.name, height, limits)
        return Captions(path, None, (), ())
    cues = parse_cues(text, path.name)
    if not cues:
        raise SpecError(f"{path.name}: the subtitle file has no cues", "add cues, or remove subtitles: from the spec")
    if limits is not None:
        check_cue_limits([(c.number, c.line, c.start, c.end, c.text) for c in cues], path.name, limits)
    warnings += check_cues(cues, path.name, video_s)
    if (w := font_warning(style.font, fonts_dir)) is not None:
        warnings.append(w)
    return Captions(path, to_ass(cues, style, width, height), tuple(cues), tuple(warnings))


def _stamp(t: float, sep: str) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def to_srt(cues: tuple[Cue, ...] | list[Cue]) -> str:
    """SubRip: the cues exactly as they are burned in (the same times and lines)."""
    return "".join(f"{n}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n\n" for n, c in enumerate(cues, 1))


def to_vtt(cues: tuple[Cue, ...] | list[Cue]) -> str:
    """WebVTT, for YouTube's caption upload and HTML players."""
    return "WEBVTT\n\n" + "".join(f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n\n" for c in cues)


def read_words(path: Path, clip_s: float) -> list[made.Word]:
    """A slide's word timings (vgen's list or Whisper's verbose_json), checked against its clip."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: word timings not found", "check the path") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpecError(f"{path.name}: not a JSON document ({exc})", "give JSON from your TTS or Whisper") from exc
    try:
        words = made.parse_words(data)
    except WordsError as exc:
        raise SpecError(f"{path.name}: {exc}", "see the README's word timings") from exc
    if words[-1].end > clip_s + 0.25:
        raise SpecError(
            f"{path.name}: the last word ends at {words[-1].end:.2f} s, after the clip ({clip_s:.2f} s)",
            "are these the timings of this slide's narration?",
        )
    return words


def _to_centiseconds(spans: list[made.Span]) -> list[Cue]:
    """Cues at the 10 ms grid of ASS, so a sidecar file carries exactly the times that are burned."""
    out: list[Cue] = []

    def cs(t: float) -> float:
        return round(t * 100) / 100

    for start, end, text, words in spans:
        s, e = cs(start), cs(end)
        if e > s:
            out.append(
                Cue(len(out) + 1, 0, s, e, text, tuple(made.Word(w.word, cs(w.start), cs(w.end)) for w in words))
            )
    return out


def slide_words(loaded: LoadedSpec, tl: Timeline, index: int) -> list[made.Word]:
    """Slide `index`'s word timings, read and checked against its clip; errors name the spec line."""
    s, slide = tl.slides[index], loaded.spec.slides[index]
    assert slide.words is not None and s.clip is not None  # the spec requires narration: with words:
    try:
        return read_words(loaded.resolve(slide.words), s.clip.seconds)
    except SpecError as exc:
        raise SpecError(f"{loaded.where(('slides', index, 'words'))}: {exc.message}", exc.hint) from exc


def check_words(loaded: LoadedSpec, tl: Timeline) -> None:
    """Every word-timings file of the spec, whether or not captions use it (validate reports it)."""
    for i, slide in enumerate(loaded.spec.slides):
        if slide.words is not None:
            slide_words(loaded, tl, i)


def cues_from_slides(loaded: LoadedSpec, tl: Timeline) -> list[Cue]:
    """Cues from each slide's `text`: over its narration (timed by its words where given, else
    spread by sentence length), or over its own time when it has no narration."""
    spans: list[made.Span] = []
    clips = tl.clips
    for s in tl.slides:
        slide = loaded.spec.slides[s.index]
        if not slide.text:
            continue
        if s.clip is None:
            spans += made.from_text(slide.text, tl.frame_time(s.start), tl.frame_time(s.end))
            continue
        start = s.clip.start / AUDIO_RATE
        if slide.words is not None:
            nxt = next((c.start for c in clips if c.start > s.clip.start), tl.audio_samples)
            spans += made.from_words(slide_words(loaded, tl, s.index), start, nxt / AUDIO_RATE)
        else:
            spans += made.from_text(slide.text, start, start + s.clip.seconds)
    return _to_centiseconds(spans)


def for_spec(
    loaded: LoadedSpec, tl: Timeline, ff: FFmpeg, limits: CaptionLimits | None = None
) -> tuple[Captions | None, Path | None]:
    """The spec's captions, checked (against `limits` where given), and the fonts folder (of
    captions and titles alike); errors name the spec line as well as the caption's."""
    sub = loaded.spec.subtitles
    fonts = None
    if loaded.spec.fonts is not None:
        loc, rel = loaded.spec.fonts
        fonts = loaded.resolve(rel).resolve()
        if not fonts.is_dir():
            raise SpecError(f"{loaded.where(loc)}: {fonts} is not a folder", "fix the fonts folder's path")
    if (sub is not None or tl.titles) and not ff.has_filter("ass"):
        raise FFmpegError(
            f"{ff.path} has no libass (filter 'ass'): captions and titles cannot be burned in",
            "use Debian's ffmpeg or the imageio-ffmpeg wheel (VGEN_FFMPEG)",
        )
    if sub is None:
        return None, fonts
    if sub.path is None:  # from: text
        cues = cues_from_slides(loaded, tl)
        warnings: list[str] = []
        if not cues:
            raise SpecError(
                f"{loaded.where(('subtitles', 'from'))}: no slide has text: to make captions from",
                "give slides text:, or remove subtitles:",
            )
        if limits is not None:
            check_cue_limits([(c.number, c.line, c.start, c.end, c.text) for c in cues], "captions", limits)
        if (w := font_warning(sub.style.font, fonts)) is not None:
            warnings.append(w)
        if sub.highlight is not None and not any(c.words for c in cues):
            warnings.append("subtitles.highlight needs word timings (slides' words:); the captions are not highlighted")
        ass = to_ass(cues, sub.style, tl.width, tl.height, sub.highlight)
        return Captions(loaded.path, ass, tuple(cues), tuple(warnings)), fonts
    if sub.sidecar and Path(sub.path).suffix.lower() in (".ass", ".ssa"):
        raise SpecError(
            f"{loaded.where(('subtitles', 'sidecar'))}: sidecar files are made from SRT/VTT cues or "
            "from: text, not from an .ass script",
            "remove sidecar:, or give an .srt or .vtt file",
        )
    try:
        caps = load_captions(
            loaded.resolve(sub.path).resolve(), sub.style, tl.width, tl.height, tl.seconds, fonts, limits
        )
    except SpecError as exc:
        raise SpecError(f"{loaded.where(('subtitles', 'path'))}: {exc.message}", exc.hint) from exc
    return caps, fonts
