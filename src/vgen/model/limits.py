"""How much one render may ask for: the video's length, and in worker jobs captions, fonts, children and time.

A local render trusts its user and bounds only the video's length (a typo such as `duration:
1e6` must not plan for days). A worker takes jobs from anyone holding the endpoint's key, so
`Limits.worker()` also bounds what libass, FFmpeg and the job as a whole may consume. Every
limit has an environment variable; SECURITY.md lists them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from vgen.errors import VgenError

HOUR = 3600


@dataclass(frozen=True)
class CaptionLimits:
    """Bounds on a caption file: a 5 KB .ass file of override tags took libass 102 s and 4.6 GB for
    one second of video, one 10 MB SRT line 80 s and 4.4 GB, 100k overlapping cues 44 s."""

    max_bytes: int = 4 * 1024 * 1024  # the caption file itself
    max_cues: int = 20_000  # a two-hour video has 2,000 to 4,000
    max_cue_chars: int = 2_000  # one cue's text (an .ass Dialogue line's text)
    max_overlapping: int = 16  # cues on screen at once
    max_tags: int = 50_000  # ASS override tags in the whole file
    max_tags_per_cue: int = 64
    max_scale: float = 1_000.0  # \fscx, \fscy in percent; \fs and style sizes in multiples of the frame height / 100
    max_blur: float = 50.0  # \blur, \be, \bord, \shad and their x/y forms, in pixels


# What FreeType reads for libass: TrueType and OpenType fonts and their collections.
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


@dataclass(frozen=True)
class FontLimits:
    """Bounds on a fonts folder sent with a worker job: libass hands every file in it to FreeType,
    in memory, in each FFmpeg that burns captions. `vgen.client.build_job` checks the same caps
    before it uploads anything."""

    max_bytes: int = 32 * 1024**2  # one font file: a CJK collection is 20 to 30 MB
    max_fonts: int = 64  # font files in the folder
    max_total_bytes: int = 256 * 1024**2  # all of them, loaded by each captioning FFmpeg

    @classmethod
    def from_env(cls) -> FontLimits:
        """VGEN_MAX_FONT_BYTES, VGEN_MAX_FONTS and VGEN_MAX_FONTS_TOTAL_BYTES, else the defaults."""
        return cls(
            max_bytes=int(_env_float("VGEN_MAX_FONT_BYTES", cls.max_bytes)),
            max_fonts=int(_env_float("VGEN_MAX_FONTS", cls.max_fonts)),
            max_total_bytes=int(_env_float("VGEN_MAX_FONTS_TOTAL_BYTES", cls.max_total_bytes)),
        )


@dataclass(frozen=True)
class Limits:
    max_video_seconds: float = 12 * HOUR
    max_segments: int = 10_000  # each is an FFmpeg run and a command to plan: 12 hours in 5 s pieces
    max_slides: int | None = None
    captions: CaptionLimits | None = None
    fonts: FontLimits | None = None  # a fonts folder sent with the job
    max_job_seconds: float | None = None  # the whole job: download, render, upload
    child_memory_bytes: int | None = None  # each FFmpeg child's data segment (RLIMIT_DATA)

    @classmethod
    def local(cls) -> Limits:
        """A render on the user's own machine: the length cap only (VGEN_MAX_VIDEO_SECONDS)."""
        return cls(max_video_seconds=_env_float("VGEN_MAX_VIDEO_SECONDS", cls.max_video_seconds))

    @classmethod
    def worker(cls) -> Limits:
        """A job from the network: every bound, each overridable from the worker's environment."""
        caps = CaptionLimits()
        captions = dataclasses.replace(
            caps,
            max_cues=int(_env_float("VGEN_MAX_CUES", caps.max_cues)),
            max_cue_chars=int(_env_float("VGEN_MAX_CUE_CHARS", caps.max_cue_chars)),
            max_bytes=int(_env_float("VGEN_MAX_CAPTION_BYTES", caps.max_bytes)),
        )
        return cls(
            max_video_seconds=_env_float("VGEN_MAX_VIDEO_SECONDS", cls.max_video_seconds),
            max_slides=int(_env_float("VGEN_MAX_SLIDES", 50_000)),
            captions=captions,
            fonts=FontLimits.from_env(),
            max_job_seconds=_env_float("VGEN_MAX_JOB_SECONDS", 3 * HOUR),
            child_memory_bytes=int(_env_float("VGEN_MAX_CHILD_MEMORY", 8 * 1024**3)),
        )


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise VgenError(f"{name}={raw!r} is not a positive number", f"set {name} to a number, or unset it")
    return value
