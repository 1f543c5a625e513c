"""Media facts: what the timeline needs to know about each asset (sizes, durations, streams).

Probing fills these in (`vgen.ffmpeg.probe`); everything after it reads them and never opens a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImageFacts:
    path: Path
    width: int  # as displayed, after the EXIF orientation
    height: int
    orientation: int  # EXIF 1..8
    has_alpha: bool
    size_bytes: int
    codec: str = ""  # FFmpeg's decoder for the format found in the content ("": one FFmpeg infers)


@dataclass(frozen=True)
class AVFacts:
    path: Path
    duration: float
    width: int = 0
    height: int = 0
    fps: float = 0.0
    has_video: bool = False
    has_audio: bool = False
    sample_rate: int = 0
    channels: int = 0
    size_bytes: int = 0
    # How far FFmpeg's -stream_loop moves the video on per loop, "num/den" seconds, measured with the
    # FFmpeg in use (`probe.loop_seconds`; video slides only, "" unmeasured): a long looping clip then
    # starts each segment at its frame instead of decoding from its start (`graph.clip_skip`).
    loop: str = ""


Facts = dict[Path, ImageFacts | AVFacts]  # by resolved asset path
