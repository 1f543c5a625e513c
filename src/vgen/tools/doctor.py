"""`vgen doctor`: which FFmpeg, what it can really do, and what is missing with the fix."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.encoders import try_encoder
from vgen.picture import canvas

ENCODERS = ("h264_nvenc", "hevc_nvenc", "libx264", "libx265")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def checks(ff: FFmpeg) -> list[Check]:
    out = [
        Check("ffmpeg", True, f"{ff.path} ({ff.version}, from {ff.source})"),
        Check(
            "ffprobe",
            ff.ffprobe is not None,
            ff.ffprobe or "none: probing parses `ffmpeg -i` instead",
            "" if ff.ffprobe else "optional: apt-get install ffmpeg, or set VGEN_FFPROBE",
        ),
    ]
    for enc in ENCODERS:
        if enc not in ff.encoders:
            out.append(
                Check(
                    enc,
                    False,
                    "not built into this FFmpeg",
                    "use an FFmpeg with NVENC (the imageio-ffmpeg wheel or the docker image)"
                    if "nvenc" in enc
                    else "use an FFmpeg built with it",
                )
            )
            continue
        problem = try_encoder(ff.path, enc)
        fix = "vgen falls back to libx264 (encoder: auto)" if problem and "nvenc" in enc else ""
        out.append(Check(enc, not problem, problem or "works (one-frame test encode)", fix))
    for name, fix in (
        ("perspective", "needed for Ken Burns motion"),
        ("xfade", "needed for transitions"),
        ("ass", "libass, needed for burned-in captions"),
    ):
        out.append(
            Check(
                f"filter {name}",
                ff.has_filter(name),
                "present" if ff.has_filter(name) else "missing",
                "" if ff.has_filter(name) else f"{fix}: use Debian's ffmpeg or the imageio-ffmpeg wheel",
            )
        )
    vips = canvas.engine()
    out.append(
        Check(
            "libvips",
            vips is not None,
            f"{vips}: makes the JPEG, PNG and WebP canvases in-process"
            if vips
            else "not loaded: every canvas is made by an FFmpeg run (slower)",
            "" if vips else "pip install pyvips pyvips-binary (or unset VGEN_CANVASES=ffmpeg)",
        )
    )
    fc = shutil.which("fc-list")
    fonts = subprocess.run([fc], capture_output=True, text=True).stdout.count("\n") if fc else 0
    out.append(
        Check(
            "fonts",
            fonts > 0,
            f"{fonts} fonts (fontconfig)" if fc else "fontconfig not found",
            "" if fonts else "apt-get install fonts-dejavu-core fontconfig",
        )
    )
    return out
