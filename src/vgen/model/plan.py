"""Timeline -> Plan: segments (frame ranges cut inside holds), their content keys, the audio job.

A segment key hashes everything that decides its pixels: the slides it shows (their asset
*contents*, fit, motion, transitions, positions relative to the segment), the output size and
rate, the encoder settings and the FFmpeg version. Same key, same pixels: safe to reuse.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vgen.model.facts import AVFacts
from vgen.model.spec import MusicTrack
from vgen.model.timeline import ClipTL, Timeline

if TYPE_CHECKING:
    from vgen.ffmpeg.encoders import EncoderChoice

# Bump when ffmpeg/graph.py or picture/ (source, draw, warp) change what a given key renders (4: int16 kernel;
# 5: still frames cut at even offsets, looping clips started by their measured loop shift).
GRAPH_VERSION = 5
AUDIO_VERSION = 1


@dataclass(frozen=True)
class Segment:
    index: int
    first: int  # global frames [first, end)
    end: int
    slides: tuple[int, ...]
    key: str

    @property
    def frames(self) -> int:
        return self.end - self.first


@dataclass(frozen=True)
class AudioJob:
    key: str
    samples: int
    narration: Path | None
    music: tuple[tuple[MusicTrack, AVFacts], ...] = ()  # played in turn
    loudness: float | None = None
    clips: tuple[ClipTL, ...] = ()  # the slides' own narration, at their sample positions


@dataclass(frozen=True)
class Plan:
    timeline: Timeline
    encoder: EncoderChoice
    segments: tuple[Segment, ...]
    audio: AudioJob
    output: Path
    work_dir: Path


def cut_points(tl: Timeline, target_frames: int) -> list[int]:
    """Segment boundaries near every `target_frames`, each inside some slide's hold."""
    total = tl.total_frames
    count = max(1, round(total / max(target_frames, 1)))
    holds = [s.hold for s in tl.slides]
    ends = [hi for _, hi in holds]
    cuts: list[int] = []
    for j in range(1, count):
        best = _nearest_in_a_hold(holds, ends, round(j * total / count), cuts[-1] if cuts else 0, total)
        if best is not None:
            cuts.append(best)
    return cuts


def _nearest_in_a_hold(
    holds: list[tuple[int, int]], ends: list[int], target: int, after: int, total: int
) -> int | None:
    """The frame nearest `target` inside a hold, in (after, total); the earliest hold wins a tie.
    Holds are in order and do not overlap, so a target clamped into each, c(i), grows with i: the
    valid holds are a contiguous run, and the nearest is beside the target's own place in it (or at
    an end of the run). Bisection keeps a long video's planning O(segments log slides)."""

    def c(i: int) -> int:
        lo, hi = holds[i]
        return min(max(target, lo), hi)

    n = len(holds)
    first = bisect.bisect_right(range(n), after, key=c)  # c(i) > after (and > 0)
    stop = bisect.bisect_left(range(n), total, key=c)  # c(i) < total
    if first >= stop:
        return None
    here = bisect.bisect_left(ends, target)  # the first hold ending at or after the target
    best = None
    for i in sorted({first, stop - 1, here - 1, here} & set(range(first, stop))):
        if best is None or abs(c(i) - target) < abs(best - target):
            best = c(i)
    return best


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def segment_key(
    tl: Timeline,
    first: int,
    end: int,
    slides: tuple[int, ...],
    encoder: EncoderChoice,
    ffmpeg_version: str,
    digest: Callable[[Path], str],
) -> str:
    parts = []
    for i in slides:
        s = tl.slides[i]
        parts.append(
            {
                "kind": s.kind,
                "content": digest(s.source),
                "fit": s.fit,
                "move": s.move.__dict__,
                "clip": [s.clip_start - first, s.clip_end - first],
                "len": s.frames,
                "trans": s.trans_in.__dict__ | {"first": s.trans_in.first - first} if s.trans_in else None,
                "orientation": getattr(s.facts, "orientation", 1),
            }
        )
    overlays = [
        {
            "content": digest(o.path),
            "orientation": o.facts.orientation,
            "rect": [o.x, o.y, o.width, o.height],
            "frames": [max(o.first, first) - first, min(o.end, end) - first],
            "opacity": o.opacity,
        }
        for o in tl.overlays
        if o.first < end and o.end > first
    ]
    return _hash(
        {
            "v": GRAPH_VERSION,
            "frames": end - first,
            "size": [tl.width, tl.height],
            "fps": str(tl.fps),
            "slides": parts,
            "encoder": list(encoder.args),
            "ffmpeg": ffmpeg_version,
        }
        | ({"overlays": overlays} if overlays else {})  # a key without graphics stays as it was
    )


def build_plan(
    tl: Timeline,
    segment_seconds: float,
    encoder: EncoderChoice,
    ffmpeg_version: str,
    output: Path,
    work_dir: Path,
    digest: Callable[[Path], str],
) -> Plan:
    bounds = [0, *cut_points(tl, round(segment_seconds * float(tl.fps))), tl.total_frames]
    segments = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        shown = tuple(s.index for s in tl.visible(a, b))
        segments.append(Segment(i, a, b, shown, segment_key(tl, a, b, shown, encoder, ffmpeg_version, digest)))
    narration = tl.narration.path if tl.narration else None
    audio_key = _hash(
        {
            "v": AUDIO_VERSION,
            "samples": tl.audio_samples,
            "narration": digest(narration) if narration else None,
            "ffmpeg": ffmpeg_version,
            "music": [[t.model_dump(), digest(f.path)] for t, f in tl.music],
            "loudness": tl.loudness,
        }
        | ({"clips": [[digest(c.path), c.start, c.samples, c.span] for c in tl.clips]} if tl.clips else {})
    )
    job = AudioJob(audio_key, tl.audio_samples, narration, tl.music, tl.loudness, tl.clips)
    return Plan(tl, encoder, tuple(segments), job, output, work_dir)
