"""Image canvases made in the renderer's own process by libvips, instead of one FFmpeg per slide.

The same steps as `graph.canvas_stream`'s FFmpeg command (upright, over black where transparent,
scaled to the canvas size, cropped to the box the move shows, BT.709 limited-range yuv420p), at
a fraction of the CPU: no FFmpeg start-up (~0.1 s of dynamic linking per slide for Debian's
build), JPEGs decoded at 1/2, 1/4 or 1/8 of their size in the DCT and WebPs scaled while they
decode where the canvas is that much smaller ("shrink-on-load"), and libvips' Lanczos-3 (its
bicubic where it enlarges) on 8-bit pixels, in the file's own axes, turned upright after. A
`Recipe` is the pure description (it is part of the segment's name, with the libvips
version); `load` runs it. JPEG, PNG and WebP only (what photo slides are): other formats, and
`contain` slides (their blurred backdrop is an FFmpeg graph), keep the FFmpeg command.

The pixels are not FFmpeg's to the bit (another resampler, another JPEG upsampling; CMYK JPEGs go
through their ICC profile, which FFmpeg ignores): tests/picture/test_canvas.py holds them within
40 dB PSNR of the FFmpeg command's on photos and 33 dB on synthetic worst cases.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from vgen.ffmpeg import graph
from vgen.model.facts import ImageFacts
from vgen.model.timeline import SlideTL, Timeline

CODECS = ("mjpeg", "png", "webp")  # FFmpeg's names for the contents libvips loads here


@dataclass(frozen=True)
class Recipe:
    """An image slide's canvas as libvips makes it: the upright image scaled to `scale` (w, h;
    each axis on its own, as FFmpeg's `scale=w:h`), then `crop` (x, y, w, h) of that."""

    path: str
    codec: str  # mjpeg | png | webp: the loader and its shrink-on-load
    orientation: int  # EXIF 1..8
    scale: tuple[int, int]
    crop: tuple[int, int, int, int]
    engine: str  # "libvips 8.18.7": a canvas made by another version is another segment
    alpha: bool = False  # the probe's has_alpha: over black; else any alpha band is dropped, as FFmpeg does

    def pathless(self) -> tuple[object, ...]:
        """What decides the canvas besides the image's content (which the plan key holds)."""
        return (self.codec, self.orientation, self.scale, self.crop, self.engine, self.alpha)


class Error(Exception):
    """libvips could not make a canvas (an image it cannot read): FFmpeg's command makes it."""


@functools.cache
def engine() -> str | None:
    """ "libvips X.Y.Z" where pyvips and its library load, else None: canvases then come from FFmpeg,
    as they also do with VGEN_CANVASES=ffmpeg (the FFmpeg command's pixels, to compare)."""
    if os.environ.get("VGEN_CANVASES", "").lower() == "ffmpeg":
        return None
    try:
        import pyvips
    except (ImportError, OSError):
        return None
    pyvips.cache_set_max(0)  # every canvas is made once: nothing to keep
    # One thread: canvases are made beside the composer and the encoder, and libvips' threads on
    # one picture cost more CPU in all (0.74 against 0.56 s for a 4096x4096 WebP).
    pyvips.vips_lib.vips_concurrency_set(1)
    return f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"


def recipe(slide: SlideTL, tl: Timeline, geo: graph.Canvas | None, vips: str | None) -> Recipe | None:
    """The libvips recipe of an image slide's canvas (`geo`: its `graph.Canvas`, None for a still
    slide), or None where the FFmpeg command makes it: no libvips, a `contain` fit, another format."""
    facts = slide.facts
    if vips is None or slide.fit != "cover" or not isinstance(facts, ImageFacts) or facts.codec not in CODECS:
        return None
    if geo is None:  # the still frame, cut where graph.canvas_stream cuts it
        cw, ch, x, y = graph.still_window(slide, tl)
        crop = (x, y, tl.width, tl.height)
        return Recipe(str(slide.source), facts.codec, facts.orientation, (cw, ch), crop, vips, facts.has_alpha)
    return Recipe(str(slide.source), facts.codec, facts.orientation, (geo.cw, geo.ch), geo.box, vips, facts.has_alpha)


def load(r: Recipe) -> bytes:
    """The canvas as one raw yuv420p frame (crop width x height); `Error` where libvips fails or
    is not here, or the image is larger than the probe lets through."""
    if engine() is None:
        raise Error(f"{r.path}: libvips is not loaded")
    import pyvips

    try:
        return _load(r, pyvips)
    except pyvips.Error as exc:
        raise Error(f"{r.path}: {exc}") from exc


MAX_PIXELS = 300_000_000  # as the probe's (Pillow's) limit: a fan-out job plans with given facts


def _load(r: Recipe, pyvips: Any) -> bytes:
    sw, sh = r.scale
    turned = r.orientation in (5, 6, 7, 8)
    lw, lh = (sh, sw) if turned else (sw, sh)  # the scale in the file's own (unturned) axes
    head = pyvips.Image.new_from_file(r.path, access="sequential")
    if head.width * head.height > MAX_PIXELS:
        raise Error(f"{r.path}: {head.width}x{head.height} is over {MAX_PIXELS // 1_000_000} megapixels")
    opts: dict[str, Any] = {}
    if r.codec == "mjpeg":
        shrink = 1
        while shrink < 8 and head.width >= lw * shrink * 2 and head.height >= lh * shrink * 2:
            shrink *= 2  # the DCT's own downscale: sharp, and alias-free
        if shrink > 1:
            opts["shrink"] = shrink
    elif r.codec == "webp":
        f = max(lw / head.width, lh / head.height)
        if f < 1:  # libwebp's area-averaging scaler while it decodes: as sharp as Lanczos (43 dB apart)
            opts["scale"] = f
    img = pyvips.Image.new_from_file(r.path, access="sequential", **opts) if opts else head
    if img.interpretation not in ("srgb", "b-w") or img.format != "uchar":
        img = img.colourspace("srgb")  # 16-bit, CMYK, Lab...: 8-bit sRGB, alpha kept
    if img.hasalpha():  # over black where the probe saw transparency (the FFmpeg command premultiplies)
        img = img.flatten(background=[0]) if r.alpha else img.extract_band(0, n=img.bands - 1)
    if img.bands == 1:
        img = img.bandjoin([img, img])
    if img.format != "uchar":
        img = img.cast("uchar")
    # Scaled in the file's own axes while it streams top to bottom, turned upright after: a turn
    # of the whole decoded image would need all of it at once (and fails on a sequential read).
    img = img.resize(lw / img.width, vscale=lh / img.height, kernel="lanczos3")
    if (img.width, img.height) != (lw, lh):  # libvips rounds the size: never more than a pixel
        img = img.embed(0, 0, lw, lh, extend="copy")
    if r.orientation != 1:
        img = _upright(img.copy_memory(), r.orientation)
    x, y, w, h = r.crop
    rgb = np.ascontiguousarray(img.crop(x, y, w, h).numpy())
    out = np.empty(w * h * 3 // 2, dtype=np.uint8)
    from vgen.picture import rgbyuv

    rgbyuv.to_yuv420(rgb, out)
    return out.tobytes()


def _upright(img: Any, orientation: int) -> Any:
    """EXIF orientation applied, as graph._ORIENT's filters do (5: transpose, 7: transverse)."""
    if orientation == 2:
        return img.fliphor()
    if orientation == 3:
        return img.rot180()
    if orientation == 4:
        return img.flipver()
    if orientation == 5:
        return img.rot90().fliphor()
    if orientation == 6:
        return img.rot90()
    if orientation == 7:
        return img.rot90().flipver()
    if orientation == 8:
        return img.rot270()
    return img
