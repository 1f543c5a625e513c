"""`vgen frame`, `compare`, `schema`, `init` and `doctor`: the commands beside a render."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from vgen.cli.app import CompositorOpt, SpecArg, command, compositor_option, err, out
from vgen.errors import VgenError


@command()
def frame(
    spec: Path = SpecArg,
    at: str | None = typer.Option(None, "--at", help="Time: HH:MM:SS.s, MM:SS.s or seconds."),
    slide: int | None = typer.Option(None, "--slide", help="Slide number (1-based): the middle of its solo part."),
    output: Path = typer.Option(Path("frame.png"), "--output", "-o", help="PNG to write."),
    compositor: str | None = CompositorOpt,
) -> None:
    """Render the one frame the full render shows at a time (motion, transition, caption), in about a second."""
    from vgen.tools.frame import parse_time, render_frame

    if (at is None) == (slide is None):
        raise VgenError("give exactly one of --at or --slide", "e.g. --at 01:02:03.5 or --slide 412")
    r = render_frame(
        spec, output, parse_time(at) if at is not None else None, slide, compositor=compositor_option(compositor)
    )
    out.print(f"{r.path}: frame {r.frame} ({r.seconds:.3f} s), slide(s) {', '.join(map(str, r.slides))}")


@command()
def thumbnail(
    spec: Path = SpecArg,
    at: str = typer.Option(..., "--at", help="Time of the frame: HH:MM:SS.s, MM:SS.s or seconds."),
    title: str | None = typer.Option(None, "--title", help="Text over it, in the thumbnail style."),
    output: Path = typer.Option(Path("thumbnail.jpg"), "--output", "-o", help="JPEG to write."),
) -> None:
    """A 1280x720 JPEG under 2 MB (YouTube's limits) from the exact frame at a time, with a title."""
    from vgen.tools.frame import parse_time
    from vgen.tools.thumbnail import render_thumbnail

    r = render_thumbnail(spec, output, parse_time(at), title)
    out.print(f"{r.path}: 1280x720 JPEG, {r.bytes / 1e6:.2f} MB, from frame {r.frame} ({r.seconds:.3f} s)")


@command()
def storyboard(
    spec: Path = SpecArg,
    output: Path = typer.Option(Path("storyboard.png"), "--output", "-o", help="PNG to write (pages: -01, -02, ...)."),
    html_out: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML page."),
    width: int = typer.Option(320, "--width", min=64, max=1920, help="Tile width in pixels."),
    columns: int = typer.Option(6, "--columns", min=1, max=40, help="Tiles per row."),
) -> None:
    """A contact sheet of the whole video before rendering it: one tile per slide, rows by chapter."""
    from vgen.tools.storyboard import render_storyboard

    r = render_storyboard(spec, output, html_out, width, columns)
    for page in r.pages:
        out.print(f"{page}: storyboard, {r.tiles} slides")
    if r.html is not None:
        out.print(f"{r.html}: storyboard page (HTML)")
    err.print(f"{r.tiles} tiles in {r.seconds:.1f} s")


@command("compare")
def compare_cmd(
    a: Path = typer.Argument(..., help="The reference video (e.g. the old renderer's)."),
    b: Path = typer.Argument(..., help="The video to check against it (e.g. vgen's)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    min_ssim: float | None = typer.Option(None, "--min-ssim", help="Fail (exit 1) below this mean SSIM."),
    min_psnr: float | None = typer.Option(None, "--min-psnr", help="Fail below this mean PSNR (dB)."),
    min_vmaf: float | None = typer.Option(None, "--min-vmaf", help="Fail below this VMAF score."),
    max_offset_ms: float | None = typer.Option(None, "--max-offset-ms", help="Fail when the audio is offset more."),
    max_loudness_diff: float | None = typer.Option(
        None, "--max-loudness-diff", help="Fail when loudness differs more (LU)."
    ),
    max_duration_diff: float | None = typer.Option(
        None, "--max-duration-diff", help="Fail when durations differ more (s)."
    ),
    vmaf: bool = typer.Option(True, "--vmaf/--no-vmaf", help="Compute VMAF where the FFmpeg has libvmaf."),
    window: float = typer.Option(1.0, "--window", min=0.1, help="Seconds per stretch in the worst-stretches list."),
    report_path: Path | None = typer.Option(
        None, "--report", help="Also write one self-contained HTML report: plots and the worst frames side by side."
    ),
) -> None:
    """Compare two videos for a cut-over: durations, A/V offset, loudness, PSNR/SSIM/VMAF, worst stretches."""
    from vgen.ffmpeg.binary import find_ffmpeg
    from vgen.tools.compare import check, compare

    if report_path is not None:  # before the long compare: a missing plotting library fails at once
        from vgen.tools.report import require_matplotlib

        require_matplotlib()
    ff = find_ffmpeg()
    report = compare(ff, a, b, vmaf=vmaf, window_s=window)
    fails = check(
        report,
        min_ssim=min_ssim,
        min_psnr=min_psnr,
        min_vmaf=min_vmaf,
        max_offset_ms=max_offset_ms,
        max_loudness_diff=max_loudness_diff,
        max_duration_diff_s=max_duration_diff,
    )
    if report_path is not None:
        from vgen.tools.report import write_report

        err.print(f"report: {write_report(report, report_path, ff=ff)}")
    if json_out:
        print(report.to_json())
    else:
        t = Table(show_header=True, header_style="bold")
        for col in ("", "a", "b"):
            t.add_column(col)
        for label, fa, fb in (
            ("file", report.a.path, report.b.path),
            ("size", f"{report.a.width}x{report.a.height}", f"{report.b.width}x{report.b.height}"),
            ("fps", f"{report.a.fps:g}", f"{report.b.fps:g}"),
            ("frames", str(report.a.frames), str(report.b.frames)),
            ("duration", f"{report.a.duration_s:.3f} s", f"{report.b.duration_s:.3f} s"),
            (
                "audio",
                f"{report.a.audio_s:.3f} s" if report.a.audio_s else "none",
                f"{report.b.audio_s:.3f} s" if report.b.audio_s else "none",
            ),
            ("loudness", f"{report.a.loudness_lufs} LUFS", f"{report.b.loudness_lufs} LUFS"),
        ):
            t.add_row(label, escape(fa), escape(fb))
        out.print(t)
        if report.scaled:
            out.print(f"[yellow]note:[/] {escape(report.scaled)}")
        vm = f", VMAF {report.vmaf:.2f}" if report.vmaf is not None else ""
        off = f"{report.audio_offset_ms:+.1f} ms" if report.audio_offset_ms is not None else "n/a"
        out.print(f"PSNR {report.psnr:.2f} dB, SSIM {report.ssim:.5f}{vm}, audio offset (b vs a) {off}")
        out.print(
            "worst stretches by SSIM: "
            + ", ".join(f"{w['start_s']:.1f}-{w['end_s']:.1f} s ({w['ssim']:.4f})" for w in report.worst)
        )
        for f in fails:
            err.print(f"[bold red]fail:[/] {escape(f)}")
    if fails:
        raise typer.Exit(1)


@command()
def schema() -> None:
    """Print the JSON Schema of the spec, for editors (yaml-language-server) and CI checks."""
    from vgen.model.spec import json_schema

    print(json.dumps(json_schema(), indent=2))


@command()
def init(path: Path = typer.Argument(Path("spec.yaml"), help="Where to write the starter spec.")) -> None:
    """Write a commented starter spec (never over an existing file)."""
    from vgen.tools.starter import STARTER

    if path.exists():
        raise VgenError(f"{path} already exists", "pick another name; vgen init never overwrites")
    path.write_text(STARTER, encoding="utf-8")
    out.print(f"wrote {path}: add your images and narration, then `vgen validate {path}`")


@command()
def doctor(json_out: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Which FFmpeg vgen uses, the encoders that really work, libass and fonts, and fixes for what is missing."""
    from vgen.ffmpeg.binary import find_ffmpeg
    from vgen.tools.doctor import checks

    found = checks(find_ffmpeg())
    if json_out:
        print(json.dumps([dataclasses.asdict(c) for c in found], indent=2))
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in found:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[yellow]no[/]", escape(c.detail), escape(c.fix))
    out.print(table)
