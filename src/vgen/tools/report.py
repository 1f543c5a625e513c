"""`vgen compare --report`: the comparison of two videos as one self-contained HTML page.

The figures `vgen compare` prints, the pass/fail line of every threshold given, the curves over
time (SSIM and PSNR per second, both videos' loudness per second, the audio offset in windows)
and, for each worst stretch, the frame at its middle from both videos beside an amplified
difference. Images are embedded as data URIs (plots PNG, frames JPEG): the page can be mailed or
attached to a ticket as it is, and opens without a network.

Plots need matplotlib, the optional extra `report` (`pip install 'vgen[report]'`); it is imported
here only, drawn with the Agg canvas (no display), and the renderer never loads it.
"""

from __future__ import annotations

import base64
import html
import io
import math
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vgen.errors import FFmpegError, VgenError
from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg
from vgen.files import fsync_rename, partial_path
from vgen.run import child
from vgen.tools.compare import PSNR_CAP_DB, SILENCE_LUFS, Report

FRAME_WIDTH = 640  # pixels of the frames shown (never wider than video a)
DIFF_GAIN = 4  # the difference image shows |a - b| times this
JPEG_QUALITY = 85


@dataclass
class StretchFrames:
    """The frames of one worst stretch: its middle frame of a, of b (at a's size) and |a - b|."""

    start_s: float
    end_s: float
    ssim: float
    frame: int  # index in video a
    time_s: float
    a_jpeg: bytes | None  # None: no frame decoded there
    b_jpeg: bytes | None
    diff_jpeg: bytes | None
    mean_diff: float | None  # mean |a - b| over pixels and channels, in 0-255 steps
    max_diff: int | None


def require_matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise VgenError("the HTML report needs matplotlib", "pip install 'vgen[report]'") from e
    return Figure


def _clock(seconds: float, _pos: object = None) -> str:
    """An axis tick as h:mm:ss or m:ss (tenths where it falls between seconds)."""
    s = max(0.0, seconds)
    whole = abs(s - round(s)) < 1e-6
    h, rest = divmod(round(s) if whole else s, 3600)
    m, sec = divmod(rest, 60)
    text = f"{sec:02.0f}" if whole else f"{sec:04.1f}"
    return f"{int(h)}:{int(m):02d}:{text}" if h >= 1 else f"{int(m)}:{text}"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _axes(Figure: Any, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = Figure(figsize=(10, 2.8))
    fig.subplots_adjust(left=0.08, right=0.975, bottom=0.17, top=0.9)  # fixed margins: constrained layout is slow
    ax = fig.add_subplot()
    ax.set_xlabel("time (h:mm:ss / m:ss)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 3, 5, 6, 10], integer=True))
    return fig, ax


def _steps(values: list[float]) -> tuple[list[float], list[float]]:
    """Per-second values as a step curve: value k held over [k, k+1)."""
    return [float(k) for k in range(len(values) + 1)], [*values, values[-1]] if values else []


def plots(report: Report) -> list[tuple[str, str, bytes | None, str]]:
    """The curves as (id, title, PNG or None, note): None with a note where there is nothing to draw."""
    Figure = require_matplotlib()
    ot = report.over_time
    worst = report.worst
    out: list[tuple[str, str, bytes | None, str]] = []

    def shade(ax: Any) -> None:
        """The worst stretches as shaded spans, numbered as in the list below the plots."""
        for i, w in enumerate(worst, 1):
            ax.axvspan(w["start_s"], w["end_s"], color="tab:red", alpha=0.12, lw=0, label="worst" if i == 1 else None)
            ax.annotate(
                str(i),
                ((w["start_s"] + w["end_s"]) / 2, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -2),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize="x-small",
                color="tab:red",
            )

    for key, title, ylabel, values, note in (
        ("ssim", "SSIM per second", "SSIM (mean per second)", ot.ssim, "worst stretches shaded"),
        (
            "psnr",
            "PSNR per second",
            "PSNR (dB, mean per second)",
            ot.psnr,
            f"identical frames (PSNR inf) count as {PSNR_CAP_DB:g} dB; worst stretches shaded",
        ),
    ):
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            out.append((key, title, None, "no frames compared"))
            continue
        fig, ax = _axes(Figure, ylabel)
        ax.step(*_steps(values), where="post", color="tab:blue", lw=1.2, label=key.upper())
        shade(ax)
        ax.set_xlim(0, len(values))
        ax.legend(loc="lower left", fontsize="small")
        ax.set_title(title, fontsize="medium")
        out.append((key, title, _png(fig), note))

    title = "Loudness per second"
    if ot.loudness_a or ot.loudness_b:
        fig, ax = _axes(Figure, "LUFS (momentary, per second)")
        for values, name, color, ls in (
            (ot.loudness_a, "a", "tab:blue", "-"),
            (ot.loudness_b, "b", "tab:orange", "--"),
        ):
            if values:
                ax.step(
                    *_steps(values),
                    where="post",
                    color=color,
                    ls=ls,
                    lw=1.2,
                    label=f"{name}: {Path(getattr(report, name).path).name}",
                )
        ax.set_xlim(0, max(len(ot.loudness_a), len(ot.loudness_b)))
        ax.legend(loc="lower left", fontsize="small")
        ax.set_title(title, fontsize="medium")
        note = f"power mean of ebur128's momentary loudness over each second; silence shown as {SILENCE_LUFS:g} LUFS"
        out.append(("loudness", title, _png(fig), note))
    else:
        out.append(("loudness", title, None, "neither video has sound"))

    title = "Audio offset over time"
    points = [(t, v) for t, v in zip(ot.offset_t_s, ot.offset_ms, strict=True) if v is not None]
    if points:
        fig, ax = _axes(Figure, "b late against a (ms)")
        ax.plot([t for t, _ in points], [v for _, v in points], "o-", color="tab:purple", lw=1.2, ms=4, label="window")
        if report.audio_offset_ms is not None:
            ax.axhline(report.audio_offset_ms, color="gray", ls="--", lw=1, label="whole track")
        ax.set_xlim(0, max(report.a.duration_s, ot.offset_t_s[-1] + ot.offset_window_s / 2))
        ax.legend(loc="lower left", fontsize="small")
        ax.set_title(title, fontsize="medium")
        note = f"cross-correlation in windows of {ot.offset_window_s:g} s of sound; silent windows left out"
        out.append(("offset", title, _png(fig), note))
    else:
        why = "both videos need sound" if report.audio_offset_ms is None else "every window is silent"
        out.append(("offset", title, None, why))
    return out


def _middle(report: Report, w: dict) -> tuple[int, float]:
    fps = report.a.fps or 25.0
    first, end = round(w["start_s"] * fps), round(w["end_s"] * fps)
    n = first + max(0, end - first) // 2
    return n, n / fps


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def stretch_frames(ff: FFmpeg, report: Report, width: int = FRAME_WIDTH) -> list[StretchFrames]:
    """The middle frame of every worst stretch from both videos (b scaled to a's size, as compare
    does) and their difference heat map, all from one FFmpeg run (each input seeks to its frame)."""
    from matplotlib import colormaps
    from PIL import Image

    w, h = report.a.width, report.a.height
    shown_w = min(width, w)
    shown = (shown_w, max(2, round(h * shown_w / w / 2) * 2))
    picks = [_middle(report, s) for s in report.worst]
    if not picks:
        return []
    heat = colormaps["inferno"]
    with tempfile.TemporaryDirectory(prefix="vgen-report-") as tmp:
        t = Path(tmp)
        argv = [ff.path, "-hide_banner", "-nostdin", "-v", "error", "-y"]
        outputs: list[str] = []
        for i, (n, _) in enumerate(picks):
            # Accurate seeking drops the frames before the seek time: a quarter frame early keeps frame n.
            at = f"{max(0.0, (n - 0.25) / (report.a.fps or 25.0)):.6f}"
            argv += ["-ss", at, "-i", report.a.path, "-ss", at, "-i", report.b.path]
            for j, vf in ((2 * i, "format=rgb24"), (2 * i + 1, f"scale={w}:{h}:flags=bicubic,format=rgb24")):
                outputs += ["-map", f"{j}:v:0", "-frames:v", "1", "-vf", vf, "-f", "rawvideo", str(t / f"{j}.rgb")]
        argv += outputs
        proc = child.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=3600)
        if proc.returncode != 0:
            raise FFmpegError.from_process("the report's frames could not be read", proc.stderr, "", argv)
        result = []
        for i, ((n, at_s), s) in enumerate(zip(picks, report.worst, strict=True)):
            frames = []
            for j in (2 * i, 2 * i + 1):
                raw = (t / f"{j}.rgb").read_bytes()
                frames.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3) if len(raw) == w * h * 3 else None)
            fa, fb = frames
            a_jpeg, b_jpeg = (
                None if f is None else _jpeg(np.asarray(Image.fromarray(f).resize(shown, Image.Resampling.LANCZOS)))
                for f in frames
            )
            diff_jpeg, mean_diff, max_diff = None, None, None
            if fa is not None and fb is not None:
                d = np.abs(fa.astype(np.int16) - fb.astype(np.int16))
                mean_diff, max_diff = float(d.mean()), int(d.max())
                small = Image.fromarray(d.max(axis=2).astype(np.float32), "F").resize(shown, Image.Resampling.BOX)
                level = np.clip(np.asarray(small) * DIFF_GAIN / 255.0, 0.0, 1.0)
                diff_jpeg = _jpeg((heat(level)[..., :3] * 255).round().astype(np.uint8))
            result.append(
                StretchFrames(
                    s["start_s"], s["end_s"], s["ssim"], n, at_s, a_jpeg, b_jpeg, diff_jpeg, mean_diff, max_diff
                )
            )
    return result


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1240px;
padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #dde;padding:4px 10px;text-align:left;
vertical-align:top}th{background:#f4f5f9}td.path{font-family:ui-monospace,monospace;word-break:break-all}
.note{color:#8a5a00}.muted{color:#667}
ul.checks{list-style:none;padding:0}ul.checks li{padding:4px 10px;margin:3px 0;border-radius:4px;font-weight:600}
li.pass{background:#e6f4ea;color:#1e6b34}li.fail{background:#fce8e6;color:#a3261b}
figure{margin:0}figure.plot img{width:100%;max-width:1000px;height:auto}
.frames{display:grid;grid-template-columns:repeat(3,1fr);gap:10px}.frames img{width:100%;height:auto;
border:1px solid #ccd}figcaption{font-size:13px;color:#445}
.missing{border:1px dashed #ccd;padding:24px;text-align:center;color:#667}
"""


def _img(data: bytes, mime: str, alt: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{html.escape(v)}"' for k, v in attrs.items())
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<img src="{src}" alt="{html.escape(alt)}"{extra}>'


def _num(value: float | None, fmt: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


def report_html(
    report: Report, curves: list[tuple[str, str, bytes | None, str]], stretches: list[StretchFrames], ff: FFmpeg
) -> str:
    """The page: summary, thresholds, curves, worst stretches. Every string from outside is escaped."""
    from vgen import __version__

    e = html.escape
    a, b = report.a, report.b
    name_a, name_b = Path(a.path).name, Path(b.path).name
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>vgen compare: {e(name_a)} vs {e(name_b)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>vgen compare</h1>",
        f'<p class="muted">a (reference): <code>{e(a.path)}</code><br>b (checked): <code>{e(b.path)}</code></p>',
    ]
    rows = [
        ("file", a.path, b.path),
        ("size", f"{a.width}x{a.height}", f"{b.width}x{b.height}"),
        ("fps", f"{a.fps:g}", f"{b.fps:g}"),
        ("frames", str(a.frames), str(b.frames)),
        ("duration", f"{a.duration_s:.3f} s", f"{b.duration_s:.3f} s"),
        ("audio", f"{a.audio_s:.3f} s" if a.audio_s else "none", f"{b.audio_s:.3f} s" if b.audio_s else "none"),
        ("loudness", f"{a.loudness_lufs} LUFS", f"{b.loudness_lufs} LUFS"),
    ]
    parts.append('<h2>Summary</h2><table class="summary"><tr><th></th><th>a</th><th>b</th></tr>')
    for label, va, vb in rows:
        cls = ' class="path"' if label == "file" else ""
        parts.append(f"<tr><th>{e(label)}</th><td{cls}>{e(va)}</td><td{cls}>{e(vb)}</td></tr>")
    parts.append("</table>")
    if report.scaled:
        parts.append(f'<p class="note">note: {e(report.scaled)}</p>')
    offset = _num(report.audio_offset_ms, "+.1f", " ms")
    parts.append('<table class="scores">')
    for label, value in (
        ("PSNR", f"{report.psnr:.2f} dB"),
        ("SSIM", f"{report.ssim:.5f}"),
        ("VMAF", _num(report.vmaf, ".2f") if report.vmaf is not None else "not measured"),
        ("audio offset (b vs a)", offset),
        (
            "worst stretches by SSIM",
            ", ".join(f"{w['start_s']:.1f}-{w['end_s']:.1f} s ({w['ssim']:.4f})" for w in report.worst) or "none",
        ),
    ):
        parts.append(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>")
    parts.append("</table>")

    parts.append("<h2>Thresholds</h2>")
    checks = report.checks or [(False, f) for f in report.failures]
    if checks:
        parts.append('<ul class="checks">')
        for met, line in checks:
            parts.append(f'<li class="{"pass" if met else "fail"}">{"pass" if met else "fail"}: {e(line)}</li>')
        parts.append("</ul>")
    else:
        parts.append('<p class="muted">no thresholds given (--min-ssim, --min-psnr, ...)</p>')

    parts.append("<h2>Over time</h2>")
    for key, title, png, note in curves:
        if png is None:
            parts.append(f'<h3>{e(title)}</h3><p class="missing" id="plot-{e(key)}">{e(note)}</p>')
        else:
            img = _img(png, "image/png", title, id=f"plot-{key}", data_kind="plot")
            parts.append(f'<figure class="plot">{img}<figcaption>{e(title)}: {e(note)}</figcaption></figure>')

    parts.append("<h2>Worst stretches by SSIM</h2>")
    if not stretches:
        parts.append('<p class="muted">no stretches compared</p>')
    for i, s in enumerate(stretches, 1):
        head = f"{i}. {s.start_s:.1f}-{s.end_s:.1f} s, SSIM {s.ssim:.4f}: frame {s.frame} of a, at {s.time_s:.3f} s"
        parts.append(f'<section class="stretch" data-start="{s.start_s:g}"><h3>{e(head)}</h3><div class="frames">')
        diff_note = (
            f"|a - b| x {DIFF_GAIN} (largest of R, G, B; black: equal), mean {s.mean_diff:.1f}, max {s.max_diff}"
            if s.mean_diff is not None
            else f"|a - b| x {DIFF_GAIN}"
        )
        for data, label in (
            (s.a_jpeg, f"a: {name_a} at {s.time_s:.3f} s"),
            (s.b_jpeg, f"b: {name_b} at {s.time_s:.3f} s" + (" (scaled to a's size)" if report.scaled else "")),
            (s.diff_jpeg, f"{diff_note}, at {s.time_s:.3f} s"),
        ):
            body = (
                _img(data, "image/jpeg", label, data_kind="frame", data_t=f"{s.time_s:.3f}")
                if data is not None
                else '<div class="missing">no frame decoded here</div>'
            )
            parts.append(f"<figure>{body}<figcaption>{e(label)}</figcaption></figure>")
        parts.append("</div></section>")

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<p class="muted">vgen {e(__version__)}, FFmpeg {e(ff.version)}, {e(stamp)}</p></body></html>')
    return "\n".join(parts) + "\n"


def write_report(report: Report, out: Path | str, *, ff: FFmpeg | None = None, width: int = FRAME_WIDTH) -> Path:
    """Write `report` (from `compare()`, after `check()` for the threshold lines) as one
    self-contained HTML file at `out`; returns its absolute path. Frames are read again from
    `report.a.path` and `report.b.path`, `width` pixels wide at most."""
    require_matplotlib()  # fail before any work when the extra is missing
    ff = ff or find_ffmpeg()
    out = Path(out).resolve()
    curves = plots(report)
    stretches = stretch_frames(ff, report, width)
    text = report_html(report, curves, stretches, ff)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(out)
    partial.write_text(text, encoding="utf-8")
    fsync_rename(partial, out)
    return out
