"""`vgen render`, `clean`, `dry-run` and `validate`: the commands of one spec's render."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import typer
from rich.markup import escape

from vgen.cli.app import CompositorOpt, SpecArg, command, compositor_option, err, out
from vgen.errors import AssetProblems, VgenError

WorkDirOpt = typer.Option(None, "--work-dir", help="Segment store (default: next to the output).")


@command()
def render(
    spec: Path = SpecArg,
    work_dir: Path | None = WorkDirOpt,
    fresh: bool = typer.Option(False, "--fresh", help="Ignore finished segments in the store; render all again."),
    retries: int = typer.Option(2, "--retries", min=0, help="Extra tries for a failed or stalled FFmpeg run."),
    stall_timeout: float = typer.Option(
        120.0, "--stall-timeout", min=1, help="Kill FFmpeg after this many seconds without progress."
    ),
    jobs: int = typer.Option(
        1, "--jobs", "-j", min=1, help="Render up to N segments at once (many cores, several NVENC sessions)."
    ),
    draft: bool = typer.Option(
        False, "--draft", help="Fast check render: quarter size, half fps, fastest preset, *.draft.mp4."
    ),
    compositor: str | None = CompositorOpt,
    disk_check: bool = typer.Option(
        True, "--disk-check/--no-disk-check", help="Stop early when the disk looks too small."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the output path and errors."),
    json_lines: bool = typer.Option(False, "--json", help="Print one JSON progress event per line instead of bars."),
    runpod: str | None = typer.Option(
        None, "--runpod", metavar="ENDPOINT_ID", help="Render on this RunPod endpoint's workers instead (fan-out)."
    ),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="With --runpod: render on up to N workers at once."),
    asset_bucket: str = typer.Option(
        "vgen-assets", "--asset-bucket", help="With --runpod: Storage bucket for the files."
    ),
    output_bucket: str = typer.Option("videos", "--output-bucket", help="With --runpod: the video's bucket."),
    output_path: str | None = typer.Option(None, "--output-path", help="With --runpod: its name (default: SPEC.mp4)."),
    output_target: str = typer.Option("supabase", "--output-target", help="With --runpod: supabase, s3 or local."),
    work_bucket: str = typer.Option("vgen-work", "--work-bucket", help="With --runpod: bucket of the pieces."),
    work_target: str = typer.Option("s3", "--work-target", help="With --runpod: s3, supabase or local."),
    keep_work: bool = typer.Option(
        False, "--keep-work", help="With --runpod: keep the pieces, so an edit re-renders only its chunks."
    ),
    price: float | None = typer.Option(
        None, "--price-per-gpu-second", envvar="VGEN_PRICE_PER_GPU_SECOND", help="With --runpod: for the cost estimate."
    ),
    state: Path | None = typer.Option(
        None, "--state", help="With --runpod: the render's state file; an existing one is resumed."
    ),
) -> None:
    """Render SPEC to its output MP4, resuming from finished segments (or on RunPod workers: --runpod)."""
    if runpod:
        from vgen.cli.remote import fan_out

        target = {"bucket": output_bucket, "path": output_path or f"{spec.stem}.mp4", "target": output_target}
        work = {"bucket": work_bucket, "target": work_target}
        fan_out(spec, runpod, workers, asset_bucket, target, work, keep_work, price, state, retries, json_lines, quiet)
        return
    from vgen.pipeline import prepare
    from vgen.run.progress import Event, RichProgress, json_listener
    from vgen.run.render import Options
    from vgen.run.render import render as do_render

    opts = Options(
        work_dir=work_dir, fresh=fresh, retries=retries, stall_timeout=stall_timeout, jobs=jobs, disk_check=disk_check
    )
    _stop_on_signals()
    prep = prepare(spec, work_dir=work_dir, draft=draft, compositor=compositor_option(compositor))
    if json_lines:
        do_render(prep, json_listener(sys.stdout), opts)
        return
    if quiet or not err.is_terminal:

        def lines(e: Event) -> None:  # no terminal: the plan and notices, no bars
            if not quiet and e.stage in ("notice", "plan"):
                err.print(f"{e.stage}: {escape(e.message)}")

        result = do_render(prep, lines, opts)
    else:
        with RichProgress(err) as bars:
            result = do_render(prep, bars, opts)
    if quiet:
        out.print(str(result.output))
        return
    out.print(
        f"[green]done:[/] {result.output} — {result.frames} frames, {result.duration_s:.2f} s, {result.encoder}, "
        f"{result.segments} segment(s) ({result.segments_reused} reused), {result.render_s:.1f} s "
        f"({result.realtime_factor:.2f}x real time), {result.size_bytes / 1e6:.1f} MB"
    )


def _stop_on_signals() -> None:
    """SIGTERM (a worker being stopped) and Ctrl-C stop FFmpeg and unwind: pieces are kept."""
    from vgen.run.runner import request_stop

    def handler(signum: int, frame: object) -> None:
        request_stop(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@command()
def clean(
    spec: Path = SpecArg,
    work_dir: Path | None = typer.Option(None, "--work-dir", help="The store to remove (default: next to the output)."),
    draft: bool = typer.Option(False, "--draft", help="Remove the draft render's store instead."),
) -> None:
    """Remove the segment store of SPEC (finished segments and audio); the output video stays."""
    from vgen.model.spec import as_draft, load_spec
    from vgen.pipeline import default_work_dir
    from vgen.run.store import Store

    loaded = load_spec(spec)
    if draft:
        loaded = as_draft(loaded)
    folder = (work_dir or default_work_dir(loaded.output_path.resolve())).resolve()
    freed = Store(folder).clean()
    out.print(f"removed {folder} ({freed / 1e6:.1f} MB)" if freed else f"nothing to remove at {folder}")


@command("dry-run")
def dry_run(
    spec: Path = SpecArg,
    work_dir: Path | None = WorkDirOpt,
    draft: bool = typer.Option(False, "--draft", help="Show the draft render's plan."),
    compositor: str | None = CompositorOpt,
) -> None:
    """Print the plan, every filter graph and the exact commands `render` would run, without rendering."""
    from vgen.pipeline import dry_run_script, prepare

    prep = prepare(spec, work_dir=work_dir, draft=draft, compositor=compositor_option(compositor))
    sys.stdout.write(dry_run_script(prep, str(spec)))


@command()
def validate(spec: Path = SpecArg) -> None:
    """Check the spec and every asset (exists, decodes, sizes, durations); report all problems at once."""
    from vgen.ffmpeg.binary import find_ffmpeg
    from vgen.model.spec import load_spec
    from vgen.pipeline import load_and_check

    loaded, ff = load_spec(spec), find_ffmpeg()  # a spec that does not load, or no FFmpeg: one error
    try:
        checked = load_and_check(loaded, ff, thorough=True)
    except AssetProblems as exc:
        problems: tuple[str, ...] = exc.problems
    except VgenError as exc:
        problems = (str(exc),)
    else:
        for w in checked.warnings:
            err.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
        tl = checked.timeline
        out.print(f"[green]ok:[/] {spec}: {len(tl.slides)} slides, {tl.seconds:.2f} s, {tl.total_frames} frames")
        return
    for p in problems:
        err.print(f"[bold red]error:[/] {escape(p)}", soft_wrap=True)
    err.print(f"{len(problems)} problem(s) in {spec}")
    raise typer.Exit(2)
