"""Canvases made by libvips (vgen.picture.canvas) are the FFmpeg command's picture: the same size,
crop, orientation and colours, within a resampler's difference; where libvips fails, FFmpeg's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vgen.ffmpeg.binary import FFmpeg
from vgen.picture import canvas, draw
from vgen.picture.source import Layer
from vgen.pipeline import prepare

from helpers import base_spec, run_ff, write_spec

pytestmark = pytest.mark.skipif(canvas.engine() is None, reason="pyvips does not load here")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b) ** 2).mean()
    return float(10 * np.log10(255**2 / max(mse, 1e-9)))


def layers(ff: FFmpeg, tmp_path, slides: list[dict], w: int = 160, h: int = 90) -> list[Layer]:
    spec = base_spec(w=w, h=h)
    spec["slides"] = slides
    cmd = prepare(write_spec(tmp_path, spec), ff).segment_commands[0]
    assert cmd.source is not None
    return list(cmd.source.layers)


def both(layer: Layer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(libvips, FFmpeg) canvases of a layer, as Y, U, V planes."""
    assert layer.image is not None, "the layer's canvas is a libvips recipe"
    w, h = layer.width, layer.height
    size = w * h * 3 // 2
    out = []
    for raw in (canvas.load(layer.image), draw._one_frame(layer.argv, size, "test", "")):
        assert len(raw) == size
        buf = np.frombuffer(raw, np.uint8)
        n = w * h
        out.append([buf[:n].reshape(h, w), buf[n : n * 5 // 4], buf[n * 5 // 4 :]])
    return out[0], out[1]


@pytest.fixture(scope="module")
def photo(ff, tmp_path_factory):
    """Photo-like: flat areas, edges and grain (deterministic: FFmpeg's `gradients` is not)."""
    p = tmp_path_factory.mktemp("canvas") / "photo.jpg"
    src = "testsrc2=s=1200x800,gblur=sigma=1.5,noise=alls=14:allf=u:all_seed=3"
    run_ff(ff, "-f", "lavfi", "-i", src, "-frames:v", "1", "-q:v", "2", str(p))
    return p


def test_a_photos_canvas_matches_the_ffmpeg_commands_within_40_db(ff, photo, tmp_path):
    """Moving canvases (decoded at 1/2 by the DCT, then Lanczos) and the still frame (3.75x smaller,
    cut at the same even offset as FFmpeg's crop): the same picture through another resampler."""
    for kb in ("zoom-in", "pan-left", "none"):
        (layer,) = layers(ff, tmp_path, [{"image": str(photo), "duration": 1, "ken_burns": kb}], 320, 180)
        vips, ref = both(layer)
        for name, a, b in zip("YUV", vips, ref):
            assert psnr(a, b) >= 40, (kb, name, psnr(a, b))
        assert abs(float(vips[0].mean()) - float(ref[0].mean())) < 1.5


def test_every_format_and_scale_keeps_its_picture(ff, media, tmp_path):
    """Worst cases: synthetic pixel-level detail (fractals, cellular automata) scaled 23x down (a
    4096x4096 WebP), 4x up (a 40x30 JPEG), a PNG, EXIF orientation 6: another resampler's
    difference, nowhere near a shifted, turned or recoloured picture (~10-20 dB)."""
    for key in ("land", "portrait", "huge", "tiny", "exif6", "square"):
        (layer,) = layers(ff, tmp_path, [{"image": str(media[key]), "duration": 1, "ken_burns": "pan-right"}])
        vips, ref = both(layer)
        for name, a, b in zip("YUV", vips, ref):
            assert psnr(a, b) >= 33, (key, name, psnr(a, b))


def _quadrants(tmp_path, orientation: int):
    """A 64x48 JPEG, four flat quadrants (red, green, blue, white as stored), EXIF orientation n."""
    from PIL import Image

    img = Image.new("RGB", (64, 48))
    for (x, y), c in zip(
        [(0, 0), (32, 0), (0, 24), (32, 24)], [(220, 40, 40), (40, 200, 60), (40, 60, 220), (240,) * 3]
    ):
        img.paste(c, (x, y, x + 32, y + 24))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_turn_the_picture_as_ffmpeg_does(ff, tmp_path, orientation):
    path = _quadrants(tmp_path, orientation)
    (layer,) = layers(ff, tmp_path, [{"image": str(path), "duration": 1, "ken_burns": "none"}])
    vips, ref = both(layer)
    for name, a, b in zip("YUV", vips, ref):
        assert psnr(a, b) >= 30, (orientation, name, psnr(a, b))  # turned wrongly: ~10 dB


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_large_turned_photo_gets_its_canvas_from_libvips(ff, tmp_path, orientation):
    """Turned after the resize: a 4032x3024 phone photo stored upside down (3) or sideways (6) is
    read top to bottom once (turning the whole decoded image first failed on a sequential read)."""
    from PIL import Image

    path = tmp_path / f"phone{orientation}.jpg"
    img = Image.radial_gradient("L").resize((4032, 3024)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, exif=exif.tobytes(), quality=90)
    (layer,) = layers(ff, tmp_path, [{"image": str(path), "duration": 1, "ken_burns": "zoom-in"}], 320, 180)
    vips, ref = both(layer)  # canvas.load raises where libvips fails: no silent fallback here
    for name, a, b in zip("YUV", vips, ref):
        assert psnr(a, b) >= 40, (orientation, name, psnr(a, b))


def test_a_transparent_png_lies_over_black_as_in_the_ffmpeg_command(ff, tmp_path):
    path = tmp_path / "a.png"
    geq = "geq=r=200:g=120:b=40:a='if(lt(X,W/2),255,100)'"
    run_ff(ff, "-f", "lavfi", "-i", "color=c=black:s=96x54,format=rgba", "-vf", geq, "-frames:v", "1", str(path))
    (layer,) = layers(ff, tmp_path, [{"image": str(path), "duration": 1, "ken_burns": "none"}])
    vips, ref = both(layer)
    for a, b in zip(vips, ref):
        inner = (slice(4, -4), slice(4, 76)) if a.ndim == 2 else slice(None)  # the seam blurs differently
        assert abs(a[inner].astype(int) - b[inner]).max() <= 2 if a.ndim == 2 else psnr(a, b) >= 35


def test_where_libvips_fails_the_ffmpeg_command_makes_the_canvas(ff, media, tmp_path):
    (layer,) = layers(ff, tmp_path, [{"image": str(media["land"]), "duration": 1}])
    assert layer.image is not None
    broken = dataclasses.replace(layer, image=dataclasses.replace(layer.image, path=str(tmp_path / "gone.jpg")))
    with pytest.raises(canvas.Error, match="gone.jpg"):
        canvas.load(broken.image)
    got = draw.load_canvas(broken)
    ref = draw.planes_of(layer, draw._one_frame(layer.argv, layer.width * layer.height * 3 // 2, "t", ""))
    assert got.y is not None and ref.y is not None and np.array_equal(got.y, ref.y)


def test_the_canvas_engine_is_part_of_the_segments_name(ff, media, tmp_path, monkeypatch):
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}]
    path = write_spec(tmp_path, spec)
    with_vips, vips = prepare(path, ff).segment_commands[0], canvas.engine()
    monkeypatch.setattr(canvas, "engine", lambda: None)  # as VGEN_CANVASES=ffmpeg, or no pyvips
    without = prepare(path, ff).segment_commands[0]
    assert without.source is not None and without.source.layers[0].image is None
    assert with_vips.output != without.output
    from vgen.picture.source import describe

    assert with_vips.source is not None and f"1 canvas(es) by {vips}" in describe(with_vips.source)
    assert "canvas(es)" not in describe(without.source)


def test_a_fan_out_piece_is_named_after_the_libvips_that_made_its_canvases(ff, media, tmp_path, monkeypatch):
    from vgen.remote.worker.pieces import piece_name

    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}]
    path = write_spec(tmp_path, spec)
    with_vips = piece_name(prepare(path, ff), 0)
    monkeypatch.setattr(canvas, "engine", lambda: None)
    assert piece_name(prepare(path, ff), 0) != with_vips
