"""`vgen storyboard`: the whole video at a glance, one tile per slide, before rendering it.

Each tile is the frame at the middle of its slide's hold, drawn the way the render draws it, at
tile size: the same raw-frame sources (`picture.source`) on a timeline of the tile's size (the
same frames, fits, motion and overlays), and the very ASS scripts the render burns (captions,
titles, highlights: libass scales them from the script's PlayRes). All tiles go through one FFmpeg
for the text: each tile is one frame of a slow stream (one frame every `spacing` seconds), and the
events on screen at the tile's time are copied to that frame's time, so libass draws exactly
what it draws at that moment of the video (fades and moves included), once for all tiles.

A chapter starts a new row under its title; a sheet too tall for one image is cut into pages.
The HTML form embeds the tiles, links each to its time in the video and shows the spec's warnings
next to the slides they name.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import html
import io
import math
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ffmpeg as ffm
import numpy as np

from vgen import machine
from vgen.errors import FFmpegError
from vgen.ffmpeg import graph
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.captions import Captions, ass_time
from vgen.files import fsync_rename, partial_path
from vgen.model.facts import ImageFacts
from vgen.model.spec import LoadedSpec
from vgen.model.timeline import SlideTL, Timeline, build_timeline
from vgen.picture.draw import draw, frames, load_overlay, planes_of
from vgen.picture.source import Source, build_source
from vgen.pipeline import Checked, load_and_check
from vgen.run import child

if TYPE_CHECKING:
    from vgen.picture.overlay import Prepared
from vgen.tools.frame import pick_frame

TILE_WIDTH = 320
COLUMNS = 6
MAX_PAGE_HEIGHT = 12_000  # pixels of one sheet; a taller board is cut into pages
LABEL_H, HEADER_H, GAP = 34, 30, 6
_SLIDE_REF = re.compile(r"slides\[(\d+)\]")


@dataclass(frozen=True)
class Tile:
    slide: int  # 0-based
    frame: int  # global frame shown
    start_s: float
    duration_s: float
    chapter: str | None  # the chapter the slide belongs to
    opens_chapter: bool


@dataclass(frozen=True)
class StoryboardResult:
    pages: tuple[Path, ...]
    html: Path | None
    tiles: int
    seconds: float  # time it took


def tiles_of(checked: Checked) -> list[Tile]:
    """One tile per slide: the middle of its hold (as `vgen frame --slide` picks it), its times
    and its chapter."""
    tl = checked.timeline
    starts = {c.frame: c.title for c in tl.chapters}
    chapter: str | None = None
    out = []
    for s in tl.slides:
        opens = s.start in starts
        if opens:
            chapter = starts[s.start]
        f = pick_frame(tl, None, s.index + 1)
        out.append(
            Tile(s.index, f, tl.frame_time(s.start), tl.frame_time(s.end) - tl.frame_time(s.start), chapter, opens)
        )
    return out


def tile_size(tl: Timeline, width: int) -> tuple[int, int]:
    w = max(16, width // 2 * 2)
    return w, max(16, round(w * tl.height / tl.width / 2) * 2)


def at_size(loaded: LoadedSpec, width: int, height: int) -> LoadedSpec:
    """The spec drawn at another frame size (every placement is relative to the frame)."""
    out = loaded.spec.output.model_copy(update={"width": width, "height": height})
    return dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"output": out}))


BATCH = 16  # images fitted by one FFmpeg: its start-up (~0.2 s for Debian's build) is paid once per batch


def _canvases(ff: FFmpeg, tl: Timeline, slides: list[int], work: Path) -> dict[int, bytes]:
    """The canvases of image slides at tile size, BATCH to an FFmpeg run: the very streams the
    render's canvas commands write (`graph.canvas_stream`), each to a file of its own."""
    out: dict[int, bytes] = {}
    batches: list[list[int]] = []
    for i in slides:  # a file once per batch: ffmpeg-python merges equal inputs into one node
        home = next(
            (b for b in batches if len(b) < BATCH and all(tl.slides[j].source != tl.slides[i].source for j in b)), None
        )
        if home is None:
            batches.append([i])
        else:
            home.append(i)
    for batch in batches:
        outs = []
        for i in batch:
            s = tl.slides[i]
            stream, _ = graph.canvas_stream(graph.slide_input(s, tl.fps, shrink(s)).video, s, tl)
            outs.append(ffm.output(stream, str(work / f"canvas-{i}.yuv"), f="rawvideo", pix_fmt="yuv420p", vframes=1))
        argv = ffm.merge_outputs(*outs).compile(cmd=ff.path)
        argv[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        proc = child.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        if proc.returncode != 0:
            raise FFmpegError.from_process(
                "storyboard: preparing the images failed", proc.stderr, "vgen validate", argv
            )
        for i in batch:
            path = work / f"canvas-{i}.yuv"
            out[i] = path.read_bytes()
            path.unlink()
    return out


def shrink(slide: SlideTL) -> int:
    """How many halvings a JPEG's decode may take and still hold the tile's working canvas."""
    f = slide.facts
    assert isinstance(f, ImageFacts)
    w, h = (f.height, f.width) if f.orientation >= 5 else (f.width, f.height)  # as stored, before EXIF turns it
    need = max(slide.canvas_w, slide.canvas_h * w / h) * graph.work_factor(slide)
    n = 0
    while n < 3 and w / 2 ** (n + 1) >= need:
        n += 1
    return n


def _pictures(ff: FFmpeg, tl: Timeline, tiles: list[Tile], work: Path) -> list[np.ndarray]:
    """Each tile's frame as raw yuv420p at tile size, composed by the render's own `draw`."""
    sources = [build_source(ff, tl, t.frame, t.frame + 1) for t in tiles]
    stills = sorted({x.slide for src in sources for x in src.layers if not x.clip})
    workers = max(1, machine.usable_cores())
    chunks = [stills[k::workers] for k in range(workers)]
    canvases: dict[int, bytes] = {}
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="tile") as pool:
        for got in pool.map(lambda c: _canvases(ff, tl, c, work), chunks):
            canvases |= got
        marks: dict[tuple[str, ...], Prepared] = {}

        def one(src: Source) -> np.ndarray:
            if any(x.clip for x in src.layers):  # a clip's frame is decoded from its start: its own run
                return next(frames(src, threads=1)).copy()
            loaded = {x.slide: planes_of(x, canvases[x.slide]) for x in src.layers}
            shown = {}
            for o in src.overlays:
                if o.argv not in marks:  # the same overlay on every tile: prepared once
                    marks[o.argv] = load_overlay(o)
                shown[o.index] = marks[o.argv]
            return draw(src, loaded, src.first, None, shown)

        return list(pool.map(one, sources))


def remapped(script: Captions, source_text: str, times: list[float], spacing: float) -> str:
    """The script with, for each tile k, the events on screen at video time times[k] moved to time
    (k + 1) * spacing (their start and end shifted alike, so a fade or move is at the same point;
    `spacing` exceeds every event, so no moved event reaches another tile or below zero)."""
    head, _, events = source_text.partition("[Events]")
    lines = events.splitlines()
    fmt = next((ln for ln in lines if ln.startswith("Format:")), "")
    out = [head + "[Events]", fmt]
    dialogues = []
    for line in lines:
        if line.startswith("Dialogue:"):
            parts = line.split(",", 3)
            if len(parts) == 4:
                dialogues.append((_seconds(parts[1]), _seconds(parts[2]), parts))
    for k, t in enumerate(times):
        shift = (k + 1) * spacing - t
        for start, end, parts in dialogues:
            if start <= t < end:
                new = [parts[0], ass_time(start + shift), ass_time(end + shift), parts[3]]
                out.append(",".join(new))
    return "\n".join(out) + "\n"


def _seconds(text: str) -> float:
    h, m, s = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _longest_event(texts: list[str]) -> float:
    longest = 0.0
    for text in texts:
        for line in text.splitlines():
            if line.startswith("Dialogue:"):
                parts = line.split(",", 3)
                if len(parts) == 4:
                    longest = max(longest, _seconds(parts[2]) - _seconds(parts[1]))
    return longest


def _burn_text(
    ff: FFmpeg, checked: Checked, pictures: list[np.ndarray], times: list[float], w: int, h: int, work: Path
) -> list[np.ndarray]:
    """The tiles with the render's captions and titles drawn on them, as RGB arrays (through the
    BT.709 limited-range conversion `vgen frame` uses)."""
    texts = [c.ass_text if c.ass_text is not None else c.source.read_text("utf-8", "replace") for c in checked.burned]
    spacing = math.ceil(_longest_event(texts)) + 2.0
    vf = ["setpts=N+1", "setsar=1"]  # tile k at (k + 1) * spacing seconds: the time base is `spacing`
    for i, (c, text) in enumerate(zip(checked.burned, texts)):
        path = work / f"board-{i}.ass"
        path.write_text(remapped(c, text, times, spacing), encoding="utf-8")
        fonts = f":fontsdir={graph.escape_value(str(checked.fonts_dir))}" if checked.fonts_dir else ""
        vf.append(f"ass=filename={graph.escape_value(str(path))}{fonts}")
    vf.append("scale=in_color_matrix=bt709:in_range=tv,format=rgb24")
    argv = [ff.path, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
    argv += ["-s", f"{w}x{h}", "-framerate", f"1/{spacing:g}", "-i", "pipe:0", "-vf", ",".join(vf)]
    argv += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = child.run(argv, input=b"".join(p.tobytes() for p in pictures), capture_output=True)
    size = w * h * 3
    if proc.returncode != 0 or len(proc.stdout) != size * len(pictures):
        raise FFmpegError.from_process("storyboard: drawing the text failed", proc.stderr, "", argv)
    return [
        np.frombuffer(proc.stdout[i * size : (i + 1) * size], np.uint8).reshape(h, w, 3) for i in range(len(pictures))
    ]


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _font(size: int, bold: bool = False) -> Any:  # a PIL font: FreeType's, or the built-in bitmap one
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu"):
        try:
            return ImageFont.truetype(f"{folder}/{name}", size)
        except OSError:
            continue
    return ImageFont.load_default()


def _rows(tiles: list[Tile], columns: int) -> list[tuple[str | None, list[int]]]:
    """Rows of tile indices; a chapter starts a new row (its title above it)."""
    rows: list[tuple[str | None, list[int]]] = []
    for i, t in enumerate(tiles):
        if not rows or t.opens_chapter or len(rows[-1][1]) == columns:
            rows.append((t.chapter if t.opens_chapter else None, [i]))
        else:
            rows[-1][1].append(i)
    return rows


def sheets(tiles: list[Tile], images: list[np.ndarray], columns: int, warned: set[int]) -> list[bytes]:
    """The contact sheet(s) as PNG bytes: rows of labelled tiles, pages under MAX_PAGE_HEIGHT."""
    from PIL import Image, ImageDraw

    h, w = images[0].shape[:2]
    rows = _rows(tiles, columns)
    row_h = [(HEADER_H if title else 0) + h + LABEL_H + GAP for title, _ in rows]
    pages: list[list[int]] = [[]]
    height = GAP
    for r, rh in enumerate(row_h):
        if pages[-1] and height + rh > MAX_PAGE_HEIGHT:
            pages.append([])
            height = GAP
        pages[-1].append(r)
        height += rh
    small, bold = _font(13), _font(17, bold=True)
    out = []
    for page in pages:
        sheet = Image.new("RGB", (GAP + columns * (w + GAP), GAP + sum(row_h[r] for r in page)), (24, 24, 28))
        draw = ImageDraw.Draw(sheet)
        y = GAP
        for r in page:
            title, members = rows[r]
            if title:
                draw.text((GAP, y + 4), title, font=bold, fill=(255, 213, 74))
                y += HEADER_H
            for col, i in enumerate(members):
                x = GAP + col * (w + GAP)
                sheet.paste(Image.fromarray(images[i]), (x, y))
                t = tiles[i]
                label = f"#{t.slide + 1}  {clock(t.start_s)}  {t.duration_s:.1f} s"
                draw.text(
                    (x + 2, y + h + 2),
                    label,
                    font=small,
                    fill=(255, 120, 120) if t.slide in warned else (230, 230, 230),
                )
                if t.chapter:
                    draw.text((x + 2, y + h + 17), t.chapter[:40], font=small, fill=(150, 150, 160))
            y += h + LABEL_H + GAP
        buf = io.BytesIO()
        sheet.save(buf, "PNG", compress_level=6)
        out.append(buf.getvalue())
    return out


def page_paths(out: Path, count: int) -> list[Path]:
    """board.png, or board-01.png, board-02.png, ... when the board has pages."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{n:02d}{out.suffix or '.png'}") for n in range(1, count + 1)]


def warnings_by_slide(warnings: tuple[str, ...]) -> dict[int, list[str]]:
    """The spec's warnings under the slides they name (`slides[3]...`); the others under -1."""
    out: dict[int, list[str]] = {}
    for w in warnings:
        m = _SLIDE_REF.search(w)
        out.setdefault(int(m.group(1)) if m else -1, []).append(w)
    return out


def board_html(checked: Checked, tiles: list[Tile], images: list[np.ndarray], out: Path) -> str:
    """The board as one self-contained HTML page: each tile links to its time in the video."""
    from PIL import Image

    video = checked.loaded.output_path.resolve()
    try:
        href = str(video.relative_to(out.parent.resolve()))
    except ValueError:
        href = video.as_uri()
    warned = warnings_by_slide(checked.warnings)
    tl = checked.timeline
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Storyboard: {html.escape(checked.loaded.path.name)}</title><style>",
        "body{background:#18181c;color:#e6e6e6;font:14px system-ui,sans-serif;margin:16px}",
        "h2{color:#ffd54a;margin:18px 0 6px}.row{display:flex;flex-wrap:wrap;gap:8px}",
        ".tile{width:min(320px,30vw)}.tile img{width:100%;display:block}.tile a{color:inherit;text-decoration:none}",
        ".meta{font-size:12px;color:#bbb}.warn{font-size:12px;color:#ff8a80}",
        "</style></head><body>",
        f"<h1>{html.escape(checked.loaded.path.name)}</h1>",
        f"<p>{len(tiles)} slides, {clock(tl.seconds)} ({tl.seconds:.1f} s), {tl.width}x{tl.height} "
        f"@ {float(tl.fps):g} fps; video: {html.escape(href)}</p>",
    ]
    for w in warned.get(-1, []):
        parts.append(f"<p class='warn'>{html.escape(w)}</p>")
    for title, members in _rows(tiles, COLUMNS * 100):
        if title:
            parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append("<div class='row'>")
        for i in members:
            t = tiles[i]
            buf = io.BytesIO()
            Image.fromarray(images[i]).save(buf, "JPEG", quality=82)
            data = base64.b64encode(buf.getvalue()).decode()
            at = tl.frame_time(t.frame)
            parts.append(
                f"<div class='tile' id='slide-{t.slide + 1}'><a href='{html.escape(href)}#t={at:.3f}' "
                f"title='open the video at {clock(at)}'><img alt='slide {t.slide + 1}' "
                f"src='data:image/jpeg;base64,{data}'>"
                f"<div class='meta'>#{t.slide + 1} · {clock(t.start_s)} · {t.duration_s:.1f} s"
                f"{' · ' + html.escape(t.chapter) if t.chapter else ''}</div></a>"
            )
            for w in warned.get(t.slide, []):
                parts.append(f"<div class='warn'>{html.escape(w)}</div>")
            parts.append("</div>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def tile_images(checked: Checked, width: int = TILE_WIDTH) -> tuple[list[Tile], list[np.ndarray]]:
    """The tiles of a checked spec and their pictures (RGB, `width` wide), as the render draws them."""
    ff = checked.ff
    tiles = tiles_of(checked)
    w, h = tile_size(checked.timeline, width)
    small = build_timeline(at_size(checked.loaded, w, h), checked.facts)
    times = [checked.timeline.frame_time(t.frame) for t in tiles]
    with tempfile.TemporaryDirectory(prefix="vgen-board-") as tmp:
        pictures = _pictures(ff, small, tiles, Path(tmp))
        return tiles, _burn_text(ff, checked, pictures, times, w, h, Path(tmp))


def render_storyboard(
    spec_path: str | Path,
    out: Path | None = Path("storyboard.png"),
    html_out: Path | None = None,
    width: int = TILE_WIDTH,
    columns: int = COLUMNS,
    ff: FFmpeg | None = None,
) -> StoryboardResult:
    """The storyboard of a spec: PNG page(s) at `out` and/or an HTML page at `html_out`."""
    began = time.monotonic()
    checked = load_and_check(spec_path, ff)
    tiles, images = tile_images(checked, width)
    written: list[Path] = []
    if out is not None:
        warned = set(warnings_by_slide(checked.warnings)) - {-1}
        pngs = sheets(tiles, images, columns, warned)
        for path, data in zip(page_paths(out.resolve(), len(pngs)), pngs):
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, data)
            written.append(path)
    page = None
    if html_out is not None:
        page = html_out.resolve()
        page.parent.mkdir(parents=True, exist_ok=True)
        _write(page, board_html(checked, tiles, images, page).encode())
    return StoryboardResult(tuple(written), page, len(tiles), time.monotonic() - began)


def _write(path: Path, data: bytes) -> None:
    partial = partial_path(path)
    partial.write_bytes(data)
    fsync_rename(partial, path)
