"""Fixtures: tiny real media made with FFmpeg's lavfi sources, and helpers to read renders back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg
from vgen.tools import samples

from helpers import run_ff

os.environ.setdefault("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", "true")
os.environ.setdefault("RUNPOD_SKIP_GPU_CHECK", "true")


@pytest.fixture(scope="session")
def ff() -> FFmpeg:
    return find_ffmpeg()


@pytest.fixture(scope="session")
def media(ff: FFmpeg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder of small assets shared by the whole session (read-only by convention)."""
    d = tmp_path_factory.mktemp("media")
    m: dict[str, Path] = {}
    m["land"] = samples.photo(ff, d / "land.jpg", 640, 480, seed=0)
    m["land2"] = samples.photo(ff, d / "land2.jpg", 640, 360, seed=1)
    m["portrait"] = samples.photo(ff, d / "portrait.png", 300, 600, seed=0)
    m["square"] = samples.photo(ff, d / "square.jpg", 400, 400, seed=1)
    m["tiny"] = samples.photo(ff, d / "tiny.jpg", 40, 30, seed=0)
    m["huge"] = samples.photo(ff, d / "huge.webp", 4096, 4096, seed=1)
    # Left half red, right half blue, fully transparent top half: alpha must show as black.
    m["alpha"] = d / "alpha.png"
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=160x90,format=rgba",
        "-vf",
        "geq=r='if(lt(X,W/2),255,0)':g=0:b='if(lt(X,W/2),0,255)':a='if(lt(Y,H/2),0,255)'",
        "-frames:v",
        "1",
        str(m["alpha"]),
    )
    m["exif6"] = _exif_rotated(d / "exif6.jpg")
    m["clip"] = samples.clip(ff, d / "clip.mp4", 320, 240, 1.0, rate=25)
    m["narration"] = samples.tone(ff, d / "narration.mp3", 4.0)
    m["narration_wav"] = samples.tone(ff, d / "narration.wav", 3.0, rate=22050, channels=2)
    return m


def _exif_rotated(path: Path) -> Path:
    """A 120x60 JPEG stored sideways (top = red band) with EXIF orientation 6 (rotate 90 CW to view).

    Stored pixels: 60 wide x 120 tall; the LEFT column band is red. Viewed upright (90 CW)
    the red band is at the TOP of a 120x60 picture."""
    from PIL import Image

    img = Image.new("RGB", (60, 120), (0, 0, 255))
    for x in range(20):
        for y in range(120):
            img.putpixel((x, y), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, exif=exif.tobytes(), quality=95)
    return path


@pytest.fixture(scope="session")
def long_narration(ff, tmp_path_factory):
    return samples.tone(ff, tmp_path_factory.mktemp("narr") / "narration.mp3", 14.2)
