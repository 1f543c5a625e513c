"""`vgen compare`: what a cut-over from the old renderer needs to know about two videos.

Durations and frame counts, the audio offset between them (cross-correlation), integrated
loudness of each, PSNR and SSIM over the whole video (VMAF where the FFmpeg has libvmaf), the
worst stretches by SSIM, and thresholds that turn the report into a pass/fail exit code.

The same passes also give the curves over time that `vgen compare --report` plots (`OverTime`):
SSIM and PSNR per second from the per-frame stats files, each video's loudness per second from
the per-frame lines of the ebur128 run that measures the integrated loudness, and the audio offset
in windows from the envelopes the global offset is correlated on. They stay out of `--json`.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vgen.errors import MediaError
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.graph import escape_value
from vgen.ffmpeg.probe import AVFacts, audio_seconds, av_facts, count_frames
from vgen.run import child

if TYPE_CHECKING:
    import numpy as np

OFFSET_RATE = 4000  # Hz of the audio envelopes correlated for the offset
PSNR_CAP_DB = 100.0  # per-second PSNR of identical frames (inf) is shown as this
SILENCE_LUFS = -70.0  # loudness per second below this (BS.1770's absolute gate) is shown as this
OFFSET_WINDOW_S = 10.0  # seconds of sound per point of the offset over time


@dataclass
class Side:
    path: str
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    audio_s: float | None
    loudness_lufs: float | None


@dataclass
class OverTime:
    """The report's curves. Entry k of the per-second lists covers [k, k+1) s of its video; PSNR
    is capped at PSNR_CAP_DB, loudness floored at SILENCE_LUFS; offsets are measured in windows of
    `offset_window_s` centred on `offset_t_s` (None where either track is silent there)."""

    ssim: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    loudness_a: list[float] = field(default_factory=list)
    loudness_b: list[float] = field(default_factory=list)
    offset_t_s: list[float] = field(default_factory=list)
    offset_ms: list[float | None] = field(default_factory=list)
    offset_window_s: float = OFFSET_WINDOW_S


@dataclass
class Report:
    a: Side
    b: Side
    scaled: str | None  # how b was brought to a's size/rate, when they differ
    psnr: float
    ssim: float
    vmaf: float | None
    audio_offset_ms: float | None  # > 0: b's sound is late against a's
    worst: list[dict] = field(default_factory=list)  # [{start_s, end_s, ssim}], lowest first
    failures: list[str] = field(default_factory=list)
    # Not in to_json(): the curves of the HTML report, and every threshold checked as (met, line).
    over_time: OverTime = field(default_factory=OverTime)
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def to_json(self) -> str:
        d = asdict(self)
        del d["over_time"], d["checks"]
        return json.dumps(d, indent=2)


def _run(ff: FFmpeg, args: list[str], timeout: int = 7200) -> subprocess.CompletedProcess[str]:
    return child.run(
        [ff.path, "-hide_banner", "-nostdin", "-nostats", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


def loudness_over_time(ff: FFmpeg, path: Path) -> tuple[float | None, list[float]]:
    """Integrated loudness (LUFS) and loudness per second, from one ebur128 run."""
    proc = _run(ff, ["-i", str(path), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"])
    return parse_ebur128(proc.stderr)


def parse_ebur128(log: str) -> tuple[float | None, list[float]]:
    """ebur128's integrated loudness (its summary) and loudness per second: ebur128 logs the
    momentary loudness (400 ms) every 100 ms; a second's loudness is the power mean of the values
    logged in it, floored at SILENCE_LUFS."""
    found = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", log)
    integrated = float(found[-1]) if found and found[-1] != "-inf" else None
    power: dict[int, list[float]] = {}
    for t, m in re.findall(r"\bt:\s*([\d.]+)\s+TARGET:.*?\bM:\s*(-?[\d.]+|-inf|nan)", log):
        second = max(0, math.ceil(float(t) - 1e-6) - 1)  # t is the end of the 100 ms block
        lufs = float(m) if m not in ("-inf", "nan") else SILENCE_LUFS
        power.setdefault(second, []).append(10 ** (max(lufs, SILENCE_LUFS) / 10))
    per_second = [SILENCE_LUFS] * (max(power) + 1 if power else 0)
    for second, ps in power.items():
        per_second[second] = round(max(SILENCE_LUFS, 10 * math.log10(sum(ps) / len(ps))), 2)
    return integrated, per_second


def loudness(ff: FFmpeg, path: Path) -> float | None:
    return loudness_over_time(ff, path)[0]


def _side(ff: FFmpeg, path: Path) -> tuple[Side, AVFacts, list[float]]:
    facts = av_facts(ff, path)
    if not facts.has_video:
        raise MediaError(f"{path}: no video stream", "compare two video files")
    frames, _ = count_frames(ff, path)
    audio_s = audio_seconds(ff, path) if facts.has_audio else None
    lufs, per_second = loudness_over_time(ff, path) if facts.has_audio else (None, [])
    fps = facts.fps or 0.0
    side = Side(
        str(path), facts.width, facts.height, fps, frames, frames / fps if fps else facts.duration, audio_s, lufs
    )
    return side, facts, per_second


def _envelope(ff: FFmpeg, p: Path) -> np.ndarray:
    """A file's first audio track, mono at OFFSET_RATE Hz."""
    import numpy as np

    # first_pts=0 pads a late-starting track with silence: a shift in the container counts.
    raw = child.run(
        [
            ff.path,
            "-v",
            "error",
            "-i",
            str(p),
            "-map",
            "0:a:0",
            "-af",
            "aresample=async=1:first_pts=0",
            "-ac",
            "1",
            "-ar",
            str(OFFSET_RATE),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        timeout=7200,
    ).stdout
    return np.frombuffer(raw, np.float32).astype(np.float64)


def _best_lag(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> int:
    """The shift d in [lo, hi] samples that best lines y[i + d] up with x[i] (cross-correlation)."""
    import numpy as np

    size = 1 << int(np.ceil(np.log2(len(x) + len(y))))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)
    # Shifts >= 0 first: a tie (silence) is resolved to the smallest one of those.
    lags = np.concatenate([np.arange(max(lo, 0), hi + 1), np.arange(lo, min(hi + 1, 0))])
    return int(lags[np.argmax(corr[lags % size])])


def _offsets(
    x: np.ndarray, y: np.ndarray, max_s: float, window_s: float | None
) -> tuple[float, list[float], list[float | None]]:
    """The global offset of y against x (ms, within ±max_s), and the offset in windows of window_s
    around it (window centres in s, offsets in ms; None where either track is silent)."""
    import numpy as np

    n = min(len(x), len(y))
    if n == 0:
        raise MediaError("no audio to compare", "both files need an audio track")
    x, y = x[:n] - x[:n].mean(), y[:n] - y[:n].mean()
    lim = int(max_s * OFFSET_RATE)
    lag = _best_lag(x, y, -lim, lim)
    centres: list[float] = []
    local: list[float | None] = []
    if window_s:
        # Each window of x is correlated, as the whole tracks are, with the same stretch of y shifted
        # by the global offset: a shift away from it must beat the overlap it loses (a steady beat
        # does not pull a window a bar off), and the search stays within half a window.
        w = max(1, int(window_s * OFFSET_RATE))
        reach = min(lim, w // 2)
        quiet = 1e-4 * max(1e-12, float(abs(x).max()), float(abs(y).max()))
        for s in range(0, n, w):
            xs = x[s : s + w]
            if len(xs) < OFFSET_RATE // 2:
                break  # a tail under half a second says nothing
            ys = np.zeros(len(xs))
            lo, hi = max(0, s + lag), min(n, s + lag + len(xs))
            if hi > lo:
                ys[lo - s - lag : hi - s - lag] = y[lo:hi]
            centres.append(round((s + len(xs) / 2) / OFFSET_RATE, 3))
            if xs.std() < quiet or ys.std() < quiet:
                local.append(None)
                continue
            local.append(1000.0 * (lag + _best_lag(xs, ys, -reach, reach)) / OFFSET_RATE)
    return 1000.0 * lag / OFFSET_RATE, centres, local


def audio_offset_ms(ff: FFmpeg, a: Path, b: Path, max_s: float = 10.0) -> float:
    """How late b's sound is against a's, by cross-correlating the two tracks (±max_s)."""
    return _offsets(_envelope(ff, a), _envelope(ff, b), max_s, None)[0]


def audio_offset_over_time(
    ff: FFmpeg, a: Path, b: Path, max_s: float = 10.0, window_s: float = OFFSET_WINDOW_S
) -> tuple[float, list[float], list[float | None]]:
    """`audio_offset_ms` and, from the same decoded tracks, the offset in windows of `window_s`
    (their centres in s, the offsets in ms)."""
    return _offsets(_envelope(ff, a), _envelope(ff, b), max_s, window_s)


def _per_frame(path: Path, key: str) -> list[float]:
    values = []
    for line in path.read_text().splitlines():
        m = re.search(rf"{key}:(\S+)", line)
        if m:
            v = m.group(1)
            values.append(float("inf") if v == "inf" else float(v))
    return values


def per_second(values: list[float], fps: float, cap: float | None = None) -> list[float]:
    """Means of per-frame values over each second of the video (frame i lies in second i // fps);
    `cap` bounds each value first (PSNR's inf for identical frames)."""
    sums: list[float] = []
    counts: list[int] = []
    for i, v in enumerate(values):
        k = int(i / fps + 1e-9)
        while len(sums) <= k:
            sums.append(0.0)
            counts.append(0)
        sums[k] += min(v, cap) if cap is not None else v
        counts[k] += 1
    return [round(t / c, 6) if c else float("nan") for t, c in zip(sums, counts, strict=True)]


def worst_windows(ssim: list[float], fps: float, window_s: float = 1.0, count: int = 5) -> list[dict]:
    """The stretches of `window_s` seconds with the lowest mean SSIM."""
    step = max(1, round(window_s * fps))
    rows = []
    for start in range(0, len(ssim), step):
        chunk = ssim[start : start + step]
        rows.append(
            {
                "start_s": round(start / fps, 3),
                "end_s": round((start + len(chunk)) / fps, 3),
                "ssim": round(sum(chunk) / len(chunk), 6),
            }
        )
    return sorted(rows, key=lambda r: r["ssim"])[:count]


def compare(ff: FFmpeg, a: Path, b: Path, *, vmaf: bool = True, window_s: float = 1.0) -> Report:
    side_a, fa, loud_a = _side(ff, a)
    side_b, fb, loud_b = _side(ff, b)
    scaled = None
    prep_b = "[1:v]"
    filters = []
    if (fa.width, fa.height) != (fb.width, fb.height) or abs(side_a.fps - side_b.fps) > 1e-3:
        scaled = (
            f"b ({fb.width}x{fb.height} @ {side_b.fps:g} fps) was scaled to a's {fa.width}x{fa.height} "
            f"@ {side_a.fps:g} fps before comparing"
        )
        filters.append(f"[1:v]scale={fa.width}:{fa.height}:flags=bicubic,fps={side_a.fps:g}[bs]")
        prep_b = "[bs]"
    with tempfile.TemporaryDirectory(prefix="vgen-compare-") as tmp:
        t = Path(tmp)
        filters += [
            "[0:v]format=yuv420p,split[a1][a2]",
            f"{prep_b}format=yuv420p,split[b1][b2]",
            f"[a1][b1]ssim=stats_file={escape_value(str(t / 'ssim.log'))}[o1]",
            f"[a2][b2]psnr=stats_file={escape_value(str(t / 'psnr.log'))}[o2]",
        ]
        proc = _run(
            ff,
            [
                "-i",
                str(a),
                "-i",
                str(b),
                "-filter_complex",
                ";".join(filters),
                "-map",
                "[o1]",
                "-f",
                "null",
                "-",
                "-map",
                "[o2]",
                "-f",
                "null",
                "-",
            ],
        )
        if proc.returncode != 0:
            raise MediaError(
                f"cannot compare the videos: {proc.stderr.strip().splitlines()[-1:]}", "check that both files decode"
            )
        ssim = _per_frame(t / "ssim.log", "All")
        psnr = _per_frame(t / "psnr.log", "psnr_avg")
        vmaf_score = None
        if vmaf and ff.has_filter("libvmaf"):
            dist = f"[1:v]scale={fa.width}:{fa.height}:flags=bicubic,fps={side_a.fps:g}," if scaled else "[1:v]"
            graph = f"{dist}format=yuv420p[d];[0:v]format=yuv420p[r];[d][r]libvmaf"
            p = _run(ff, ["-i", str(a), "-i", str(b), "-filter_complex", graph, "-f", "null", "-"])
            m = re.search(r"VMAF score: ([\d.]+)", p.stderr)
            vmaf_score = float(m.group(1)) if m else None
    finite = [p for p in psnr if p != float("inf")]
    mean_psnr = float("inf") if not finite else sum(finite) / len(finite)
    offset: float | None = None
    offset_t: list[float] = []
    offset_local: list[float | None] = []
    if side_a.audio_s and side_b.audio_s:
        offset, offset_t, offset_local = audio_offset_over_time(ff, a, b)
    fps = side_a.fps or 25.0
    over_time = OverTime(
        per_second(ssim, fps), per_second(psnr, fps, PSNR_CAP_DB), loud_a, loud_b, offset_t, offset_local
    )
    return Report(
        side_a,
        side_b,
        scaled,
        mean_psnr,
        sum(ssim) / len(ssim) if ssim else 0.0,
        vmaf_score,
        offset,
        worst_windows(ssim, fps, window_s),
        over_time=over_time,
    )


def check(
    report: Report,
    *,
    min_ssim: float | None = None,
    min_psnr: float | None = None,
    min_vmaf: float | None = None,
    max_offset_ms: float | None = None,
    max_loudness_diff: float | None = None,
    max_duration_diff_s: float | None = None,
) -> list[str]:
    """Every threshold the report misses, as one readable line each. `report.checks` gets every
    threshold given, met or not, as (met, line): the pass/fail lines of the HTML report."""
    checks: list[tuple[bool, str]] = []

    def add(missed: bool, fail: str, met: str) -> None:
        checks.append((not missed, fail if missed else met))

    if min_ssim is not None:
        add(report.ssim < min_ssim, f"SSIM {report.ssim:.4f} < {min_ssim}", f"SSIM {report.ssim:.4f} >= {min_ssim}")
    if min_psnr is not None:
        add(
            report.psnr < min_psnr,
            f"PSNR {report.psnr:.2f} dB < {min_psnr} dB",
            f"PSNR {report.psnr:.2f} dB >= {min_psnr} dB",
        )
    if min_vmaf is not None:
        add(
            report.vmaf is None or report.vmaf < min_vmaf,
            f"VMAF {report.vmaf if report.vmaf is not None else 'unavailable'} < {min_vmaf}",
            f"VMAF {report.vmaf} >= {min_vmaf}",
        )
    off = report.audio_offset_ms
    if max_offset_ms is not None:
        add(
            off is None or abs(off) > max_offset_ms,
            f"audio offset {off} ms beyond ±{max_offset_ms} ms",
            f"audio offset {off} ms within ±{max_offset_ms} ms",
        )
    la, lb = report.a.loudness_lufs, report.b.loudness_lufs
    if max_loudness_diff is not None:
        add(
            la is None or lb is None or abs(la - lb) > max_loudness_diff,
            f"loudness {la} vs {lb} LUFS differs by more than {max_loudness_diff} LU",
            f"loudness {la} vs {lb} LUFS differs by at most {max_loudness_diff} LU",
        )
    if max_duration_diff_s is not None:
        durations = f"durations {report.a.duration_s:.3f} s vs {report.b.duration_s:.3f} s"
        add(
            abs(report.a.duration_s - report.b.duration_s) > max_duration_diff_s,
            durations,
            f"{durations} within {max_duration_diff_s} s",
        )
    report.checks = checks
    report.failures = [line for met, line in checks if not met]
    return report.failures
