"""The caller's pure rules of a fanned-out render (`vgen.remote.fanout`): chunks, the assets a chunk
needs, the wall-time model; the rules both sides share (facts as JSON, piece names) are the
worker's, in `vgen.remote.worker.pieces`. No I/O here.

How the two sides agree. The caller probes the assets and plans: its timeline decides every frame
(cut points depend only on the timeline), so the chunk ranges are the caller's. Content keys include
the FFmpeg version and the encoder (NVENC on the worker, maybe x264 here), so the *pieces* are named
by the workers: every fan-out job rebuilds the plan from the caller's facts and asset digests (no
download needed to plan), checks that its segment bounds are the caller's, and names each piece by
its own key. A plan job tells the caller those names and which pieces storage already holds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vgen.model.spec import LoadedSpec
    from vgen.model.timeline import Timeline

# RunPod's default execution timeout is 600 s; a chunk should take a fraction of it, retries and a
# slow worker included. At the 4090 rate assumed in BENCHMARKS.md (about 10x real time at 1080p30,
# composition beside NVENC), 180 s of video renders in about 20 s plus the job's fixed costs.
MAX_CHUNK_SECONDS = 180.0
# Roles a chunk downloads only where its segments show them; every other file (captions, word
# timings, fonts) every job that plans gets, and the audio job the sound.
PICTURE_ROLES = ("image", "video", "overlay")
SOUND_ROLES = ("narration", "clip", "music")


def chunk_ranges(
    frames: Sequence[int], fps: float, workers: int, max_chunk_s: float = MAX_CHUNK_SECONDS
) -> list[tuple[int, int]]:
    """Contiguous ranges [first, end) of segment indices, one job each: `workers` of them, or a
    multiple of it where a chunk would pass `max_chunk_s` of video (whole rounds: no worker idles
    while one renders a last chunk alone); at most one per segment (a segment is the plan's
    smallest piece). Ranges are balanced by frames."""
    n = len(frames)
    total = sum(frames)
    want = chunk_count(total / fps, workers, max_chunk_s) if total else 1
    count = max(1, min(n, want))
    ranges: list[tuple[int, int]] = []
    start, acc = 0, 0
    for i, f in enumerate(frames):
        acc += f
        left = count - len(ranges) - 1  # chunks still to start after this one
        if left > 0 and (acc >= total * (len(ranges) + 1) / count or n - (i + 1) == left):
            ranges.append((start, i + 1))
            start = i + 1
    ranges.append((start, n))
    return [r for r in ranges if r[0] < r[1]]


def chunk_count(video_s: float, workers: int, max_chunk_s: float = MAX_CHUNK_SECONDS) -> int:
    """Chunks of at most `max_chunk_s`, in whole rounds of `workers`."""
    return workers * max(1, math.ceil(video_s / max_chunk_s / workers))


def most_workers(segments: int, workers: int) -> int:
    """The workers a render can use: one segment each at most."""
    return max(1, min(workers, segments))


def chunk_assets(tl: Timeline, first: int, end: int, names: Mapping[Path, str], always: Iterable[str]) -> list[str]:
    """The asset names a chunk of global frames [first, end) downloads: the slides and overlays on
    screen in it, plus `always` (captions, word timings, fonts)."""
    shown = {s.source for s in tl.visible(first, end)}
    shown |= {o.path for o in tl.overlays if o.first < end and o.end > first}
    return sorted({names[p] for p in shown if p in names} | set(always))


def asset_roles(loaded: LoadedSpec) -> dict[str, set[str]]:
    """Each asset name the spec uses, with its roles (a file may be an image and an overlay)."""
    roles: dict[str, set[str]] = {}
    for ref in loaded.spec.assets():
        roles.setdefault(ref.path, set()).add(ref.role)
    return roles


@dataclasses.dataclass(frozen=True)
class Costs:
    """What one fan-out costs besides rendering, measured (bench/fanout.py): per job, dispatch and
    start (s); per GB, asset download, piece upload, piece download and the join's stream copy."""

    dispatch_s: float
    download_s_per_gb: float
    upload_s_per_gb: float
    join_s_per_gb: float
    fetch_s_per_gb: float


def model_wall_s(
    video_s: float,
    workers: int,
    render_fps: float,
    fps: float,
    bytes_per_s: float,
    assets_gb: float,
    costs: Costs,
    max_chunk_s: float = MAX_CHUNK_SECONDS,
) -> float:
    """Wall time of a fanned-out render of `video_s` seconds on `workers` machines, each rendering
    `render_fps` frames/s, the output `bytes_per_s` of video per second: the chunks in rounds
    (each: dispatch, its share of the assets, render, upload of its pieces), then the join (fetch
    every piece, stream copy, the final upload). The audio job runs beside the first round."""
    chunks = chunk_count(video_s, workers, max_chunk_s)
    rounds = chunks // workers
    chunk_s = video_s / chunks
    chunk_gb = chunk_s * bytes_per_s / 1e9
    one = (
        costs.dispatch_s
        + assets_gb / chunks * costs.download_s_per_gb
        + chunk_s * fps / render_fps
        + chunk_gb * costs.upload_s_per_gb
    )
    total_gb = video_s * bytes_per_s / 1e9
    join = costs.dispatch_s + total_gb * (costs.fetch_s_per_gb + costs.join_s_per_gb + costs.upload_s_per_gb)
    return rounds * one + join
