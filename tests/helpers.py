"""Helpers the tests share: writing specs, running the CLI and FFmpeg, reading renders back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vgen.ffmpeg.binary import FFmpeg
from vgen.model.facts import AVFacts, Facts, ImageFacts
from vgen.model.spec import LoadedSpec


def run_ff(ff: FFmpeg, *args: str) -> None:
    subprocess.run([ff.path, "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def write_spec(folder: Path, spec: dict[str, Any], name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return p


def base_spec(out: str = "out.mp4", w: int = 160, h: int = 90, fps: int = 10, seconds: float = 300) -> dict[str, Any]:
    return {
        "version": 1,
        "output": {
            "path": out,
            "width": w,
            "height": h,
            "fps": fps,
            "encoder": "libx264",
            "preset": "ultrafast",
            "quality": 18,
        },
        "segments": {"seconds": seconds},
        "slides": [],
    }


def gray_frames(ff: FFmpeg, path: Path, w: int, h: int, vf: str = "") -> np.ndarray:
    """All frames of a video's luma as float arrays (n, h, w)."""
    filt = f"{vf + ',' if vf else ''}scale={w}:{h}:flags=bicubic,format=gray"
    raw = subprocess.run(
        [ff.path, "-v", "error", "-i", str(path), "-vf", filt, "-f", "rawvideo", "-"], capture_output=True, check=True
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.float64)


def rgb_frame(ff: FFmpeg, path: Path, index: int, w: int, h: int, bt709_in: bool = False) -> np.ndarray:
    """Frame `index` (0-based) as an (h, w, 3) uint8 array (`bt709_in`: read as BT.709 limited
    range, as `vgen frame` converts the frames it shows)."""
    conversion = "scale=in_color_matrix=bt709:in_range=tv," if bt709_in else ""
    raw = subprocess.run(
        [
            ff.path,
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"select=eq(n\\,{index}),{conversion}format=rgb24",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def made_up_facts(
    loaded: LoadedSpec, image: tuple[int, int] = (640, 480), clip_s: float = 2.0, sound_s: float = 3.0
) -> Facts:
    """Media facts for every asset of a spec without probing: images of `image` pixels, video clips
    of `clip_s` seconds (320x240 at 25 fps), sound (narration, music) of `sound_s` seconds."""
    facts: Facts = {}
    for ref in loaded.spec.assets():
        p = loaded.resolve(ref.path)
        if ref.role in ("image", "overlay"):
            facts[p] = ImageFacts(p, *image, 1, False, 1)
        elif ref.role == "video":
            facts[p] = AVFacts(p, clip_s, 320, 240, 25, True)
        else:
            facts[p] = AVFacts(p, sound_s, has_audio=True)
    return facts


def yuv_frames(ff: FFmpeg, path: Path, w: int, h: int) -> np.ndarray:
    """Every frame of a video as one row of its yuv420p bytes (Y, then U, then V), as floats."""
    argv = [ff.path, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    raw = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, w * h * 3 // 2).astype(np.float64)


def streams(ff: FFmpeg, path: Path) -> dict[str, Any]:
    """What a user would check first: codecs, size, frames, durations."""
    from vgen.ffmpeg.probe import audio_seconds, av_facts, count_frames

    facts = av_facts(ff, path)
    frames, _ = count_frames(ff, path)
    info = subprocess.run([ff.path, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return {
        "facts": facts,
        "frames": frames,
        "audio_s": audio_seconds(ff, path) if facts.has_audio else 0.0,
        "info": info,
    }


def framemd5(ff, path) -> list[str]:
    """Decoded video frame hashes: equal lists mean the same pictures."""
    text = subprocess.run(
        [ff.path, "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ln.rsplit(",", 1)[-1].strip() for ln in text.splitlines() if ln and not ln.startswith("#")]


def mixed_spec(media, narration, seconds: float) -> dict:
    spec = base_spec(seconds=seconds)
    spec["defaults"] = {"duration": 1.5, "transition": {"type": "fade", "duration": 0.5}}
    spec["slides"] = [
        {
            "image": str(media["land"]),
            "ken_burns": {
                "from": {"zoom": 1.0, "x": 0.5, "y": 0.5},
                "to": {"zoom": 1.2, "x": 0.6, "y": 0.4},
                "easing": "ease-in-out",
            },
        },
        {
            "image": str(media["portrait"]),
            "fit": "contain",
            "ken_burns": "zoom-out",
            "transition": {"type": "slideleft", "duration": 1.0},
        },
        {"video": str(media["clip"]), "duration": 2.5},  # a 1 s clip looped
        {"image": str(media["square"]), "ken_burns": "pan-right", "transition": "none"},
        {"image": str(media["tiny"]), "ken_burns": "pan-up"},
        {"image": str(media["huge"]), "ken_burns": "zoom-in", "transition": {"type": "wipeleft", "duration": 0.3}},
        {"image": str(media["alpha"]), "ken_burns": "none", "fit": "contain"},
        {"image": str(media["exif6"]), "ken_burns": "pan-down"},
        {"image": str(media["land2"])},  # no duration: fills to the narration's end
    ]
    spec["audio"] = {"narration": str(narration)}
    return spec


VGEN = [sys.executable, "-m", "vgen"]


def vgen(*args, cwd=None, env=None):
    return subprocess.run(
        [*VGEN, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def laplacian_energy(img: np.ndarray) -> float:
    a = img.astype(np.float64)
    lap = a[1:-1, 2:] + a[1:-1, :-2] + a[2:, 1:-1] + a[:-2, 1:-1] - 4 * a[1:-1, 1:-1]
    return float(np.mean(lap[8:-8, 8:-8] ** 2))
