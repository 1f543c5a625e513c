"""`vgen compare`: what a cut-over from the old renderer needs to know about two videos.

Durations and frame counts, the audio offset between them (cross-correlation), integrated
loudness of each, PSNR and SSIM over the whole video (VMAF where the FFmpeg has libvmaf), the
worst stretches by SSIM, and thresholds that turn the report into a pass/fail exit code.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vgen.errors import MediaError
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.graph import escape_value
from vgen.ffmpeg.probe import AVFacts, audio_seconds, av_facts, count_frames
from vgen.run import child

OFFSET_RATE = 4000  # Hz of the audio envelopes correlated for the offset


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _run(ff: FFmpeg, args: list[str], timeout: int = 7200) -> subprocess.CompletedProcess[str]:
    return child.run(
        [ff.path, "-hide_banner", "-nostdin", "-nostats", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


def loudness(ff: FFmpeg, path: Path) -> float | None:
    proc = _run(ff, ["-i", str(path), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"])
    found = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", proc.stderr)
    return float(found[-1]) if found and found[-1] != "-inf" else None


def _side(ff: FFmpeg, path: Path) -> tuple[Side, AVFacts]:
    facts = av_facts(ff, path)
    if not facts.has_video:
        raise MediaError(f"{path}: no video stream", "compare two video files")
    frames, _ = count_frames(ff, path)
    audio_s = audio_seconds(ff, path) if facts.has_audio else None
    lufs = loudness(ff, path) if facts.has_audio else None
    fps = facts.fps or 0.0
    return Side(
        str(path), facts.width, facts.height, fps, frames, frames / fps if fps else facts.duration, audio_s, lufs
    ), facts


def audio_offset_ms(ff: FFmpeg, a: Path, b: Path, max_s: float = 10.0) -> float:
    """How late b's sound is against a's, by cross-correlating the two tracks (±max_s)."""
    import numpy as np

    def pcm(p: Path) -> np.ndarray:
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

    x, y = pcm(a), pcm(b)
    n = min(len(x), len(y))
    if n == 0:
        raise MediaError("no audio to compare", "both files need an audio track")
    x, y = x[:n] - x[:n].mean(), y[:n] - y[:n].mean()
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)
    lim = int(max_s * OFFSET_RATE)
    lags = np.concatenate([corr[: lim + 1], corr[-lim:]])
    idx = int(np.argmax(lags))
    lag = idx if idx <= lim else idx - len(lags)
    return 1000.0 * lag / OFFSET_RATE


def _per_frame(path: Path, key: str) -> list[float]:
    values = []
    for line in path.read_text().splitlines():
        m = re.search(rf"{key}:(\S+)", line)
        if m:
            v = m.group(1)
            values.append(float("inf") if v == "inf" else float(v))
    return values


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
    side_a, fa = _side(ff, a)
    side_b, fb = _side(ff, b)
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
    offset = audio_offset_ms(ff, a, b) if side_a.audio_s and side_b.audio_s else None
    return Report(
        side_a,
        side_b,
        scaled,
        mean_psnr,
        sum(ssim) / len(ssim) if ssim else 0.0,
        vmaf_score,
        offset,
        worst_windows(ssim, side_a.fps or 25.0, window_s),
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
    """Every threshold the report misses, as one readable line each."""
    fails = []
    if min_ssim is not None and report.ssim < min_ssim:
        fails.append(f"SSIM {report.ssim:.4f} < {min_ssim}")
    if min_psnr is not None and report.psnr < min_psnr:
        fails.append(f"PSNR {report.psnr:.2f} dB < {min_psnr} dB")
    if min_vmaf is not None and (report.vmaf is None or report.vmaf < min_vmaf):
        fails.append(f"VMAF {report.vmaf if report.vmaf is not None else 'unavailable'} < {min_vmaf}")
    if max_offset_ms is not None and (report.audio_offset_ms is None or abs(report.audio_offset_ms) > max_offset_ms):
        fails.append(f"audio offset {report.audio_offset_ms} ms beyond ±{max_offset_ms} ms")
    la, lb = report.a.loudness_lufs, report.b.loudness_lufs
    if max_loudness_diff is not None and (la is None or lb is None or abs(la - lb) > max_loudness_diff):
        fails.append(f"loudness {la} vs {lb} LUFS differs by more than {max_loudness_diff} LU")
    if max_duration_diff_s is not None and abs(report.a.duration_s - report.b.duration_s) > max_duration_diff_s:
        fails.append(f"durations {report.a.duration_s:.3f} s vs {report.b.duration_s:.3f} s")
    report.failures = fails
    return fails
