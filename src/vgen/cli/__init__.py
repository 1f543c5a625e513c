"""The `vgen` command line: parse, call the library, print. No logic of its own."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vgen import __version__
from vgen.ffmpeg import commands
from vgen.picture import source as compose
from vgen.errors import VgenError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
    help="Render narrated slideshows (images, clips, captions) to long MP4s, in checkpointed segments.",
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
_state = {"debug": False}

SpecArg = typer.Argument(..., help="The YAML spec file.", exists=False)


def _fail(exc: BaseException) -> None:
    """One red line with the fix; a traceback only with --debug."""
    if _state["debug"]:
        err.print_exception()
    if isinstance(exc, VgenError):
        hint = f" [dim]— {escape(exc.hint)}[/]" if exc.hint else ""
        err.print(f"[bold red]error:[/] {escape(exc.message)}{hint}", soft_wrap=True)
        tail = getattr(exc, "stderr_tail", "")
        if tail:
            err.print(f"[dim]{escape(tail)}[/]", soft_wrap=True)
        cmd = getattr(exc, "command", "")
        if cmd:
            err.print(f"[dim]command: {escape(cmd)}[/]", soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)} [dim]— check the path and "
                  "its permissions[/]", soft_wrap=True)
        raise typer.Exit(2)
    if isinstance(exc, KeyboardInterrupt):
        code = getattr(exc, "exit_code", 130)
        err.print("[bold red]interrupted:[/] finished segments are kept; run the same command to resume")
        raise typer.Exit(code)
    err.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} (rerun with --debug)")
    raise typer.Exit(1)


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and FFmpeg commands on errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    _state["debug"] = debug
    if version:
        out.print(f"vgen {__version__}")
        raise typer.Exit(0)


@app.command()
def render(
    spec: Path = SpecArg,
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Segment store (default: next to the output)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore finished segments in the store; render all again."),
    retries: int = typer.Option(2, "--retries", min=0, help="Extra tries for a failed or stalled FFmpeg run."),
    stall_timeout: float = typer.Option(120.0, "--stall-timeout", min=1, help="Kill FFmpeg after this many seconds without progress."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Render up to N segments at once (many cores, several NVENC sessions)."),
    draft: bool = typer.Option(False, "--draft", help="Fast check render: quarter size, half fps, fastest preset, *.draft.mp4."),
    compositor: Optional[str] = typer.Option(None, "--compositor", help="auto or ffmpeg: overrides the spec's output.compositor."),
    disk_check: bool = typer.Option(True, "--disk-check/--no-disk-check", help="Stop early when the disk looks too small."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the output path and errors."),
    json_lines: bool = typer.Option(False, "--json", help="Print one JSON progress event per line instead of bars."),
) -> None:
    """Render SPEC to its output MP4, resuming from finished segments."""
    from vgen.run.progress import RichProgress, json_listener, null_listener
    from vgen.run.render import Options, prepare
    from vgen.run.render import render as do_render

    opts = Options(work_dir=work_dir, fresh=fresh, retries=retries, stall_timeout=stall_timeout, jobs=jobs,
                   disk_check=disk_check)
    _stop_on_signals()
    try:
        prep = prepare(spec, work_dir=work_dir, draft=draft, compositor=_compositor(compositor))
        if json_lines:
            result = do_render(prep, json_listener(sys.stdout), opts)
        elif quiet or not err.is_terminal:
            listener = null_listener
            if not quiet:
                def listener(e):  # type: ignore[no-untyped-def]
                    if e.stage in ("notice", "plan"):
                        err.print(f"{e.stage}: {escape(e.message)}")
            result = do_render(prep, listener, opts)
        else:
            with RichProgress(err) as bars:
                result = do_render(prep, bars, opts)
    except (VgenError, KeyboardInterrupt) as exc:
        _fail(exc)
        return
    except Exception as exc:  # noqa: BLE001 - reported as one line, traceback with --debug
        _fail(exc)
        return
    if json_lines:
        return
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


@app.command()
def clean(
    spec: Path = SpecArg,
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="The store to remove (default: next to the output)."),
    draft: bool = typer.Option(False, "--draft", help="Remove the draft render's store instead."),
) -> None:
    """Remove the segment store of SPEC (finished segments and audio); the output video stays."""
    from vgen.run.store import Store
    from vgen.run.render import default_work_dir
    from vgen.model.spec import as_draft, load_spec

    try:
        loaded = load_spec(spec)
        if draft:
            loaded = as_draft(loaded)
        folder = (work_dir or default_work_dir(loaded.output_path.resolve())).resolve()
        freed = Store(folder).clean()
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    out.print(f"removed {folder} ({freed / 1e6:.1f} MB)" if freed else f"nothing to remove at {folder}")


def _compositor(value: str | None) -> str | None:
    if value not in (None, "auto", "ffmpeg"):
        raise VgenError(f"--compositor {value!r} is not a compositor", "use auto (raw frames) or ffmpeg (filter graphs)")
    return value


@app.command("dry-run")
def dry_run(
    spec: Path = SpecArg,
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Segment store (default: next to the output)."),
    draft: bool = typer.Option(False, "--draft", help="Show the draft render's plan."),
    compositor: Optional[str] = typer.Option(None, "--compositor", help="auto or ffmpeg: overrides the spec's output.compositor."),
) -> None:
    """Print the plan, every filter graph and the exact commands `render` would run, without rendering."""
    from vgen.run.render import prepare

    try:
        prep = prepare(spec, work_dir=work_dir, draft=draft, compositor=_compositor(compositor))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    plan, tl = prep.plan, prep.plan.timeline
    print(f"# vgen dry-run of {spec}: {tl.width}x{tl.height} @ {tl.fps} fps, {tl.total_frames} frames "
          f"({tl.seconds:.3f} s), encoder {plan.encoder.name}, FFmpeg {prep.ff.version} ({prep.ff.path})")
    if plan.encoder.notice:
        print(f"# notice: {plan.encoder.notice}")
    print(f"# compositor: {prep.compositor}" + (f" ({prep.compositor_notice})" if prep.compositor_notice else ""))
    print("# slides (global frames; visible = with transitions):")
    for s in tl.slides:
        t = f", transition in: {s.trans_in.type} {s.trans_in.frames} fr" if s.trans_in else ""
        m = s.move
        move = "static" if m.is_static else f"zoom {m.z0:g}->{m.z1:g} x {m.x0:.3g}->{m.x1:.3g} y {m.y0:.3g}->{m.y1:.3g} {m.easing}"
        print(f"#   {s.index + 1:>4} {s.kind} {s.source.name}: [{s.start}, {s.end}) visible [{s.clip_start}, "
              f"{s.clip_end}), {s.fit}, {move}{t}")
    print("# segments:")
    for seg in plan.segments:
        print(f"#   {seg.index + 1:>4}: frames [{seg.first}, {seg.end}) = {seg.frames} fr, slides "
              f"{','.join(str(i + 1) for i in seg.slides)}, key {seg.key[:16]}")
    print(f"# audio: {plan.audio.samples} samples at 48 kHz, key {plan.audio.key[:16]}")
    print("set -o pipefail  # a raw-frame source that fails must fail its segment")
    print(f"mkdir -p {shlex.quote(str(plan.work_dir))} {shlex.quote(str(plan.output.parent))}")
    for path, text in prep.files:
        print(f"cat > {shlex.quote(str(path))} <<'VGEN_FILE'\n{text.rstrip()}\nVGEN_FILE")
    if plan.audio.loudness is not None:
        scan = commands.loudness_command(prep.ff, plan)
        print("\n# audio, pass 1: measure the loudness of the mix (render reads the JSON it prints)")
        print(f"cat > {shlex.quote(str(scan.script))} <<'VGEN_GRAPH'\n{scan.script_text.rstrip()}\nVGEN_GRAPH")
        print(scan.shell())
        print("# audio, pass 2 (below) then adds loudnorm with the measured_* values of pass 1 and linear=true")
    for cmd in (*prep.segment_commands, prep.audio_command):
        print(f"\n# {cmd.label}")
        if cmd.script is not None:
            print(f"cat > {shlex.quote(str(cmd.script))} <<'VGEN_GRAPH'\n{cmd.script_text.rstrip()}\nVGEN_GRAPH")
        if cmd.source is not None and cmd.source_file is not None:
            print(f"# raw-frame source: {compose.describe(cmd.source)}")
            print(f"cat > {shlex.quote(str(cmd.source_file))} <<'VGEN_SOURCE'\n{cmd.source.to_json()}\nVGEN_SOURCE")
        print(cmd.shell())
        print(f"mv {shlex.quote(str(cmd.tmp))} {shlex.quote(str(cmd.output))}")
    print("\n# join (no re-encode) and mux the audio")
    listing = commands.concat_list([c.output for c in prep.segment_commands]).rstrip()
    print(f"cat > {shlex.quote(str(commands.join_list_path(plan)))} <<'VGEN_LIST'\n{listing}\nVGEN_LIST")
    print(prep.join_command.shell())
    print(f"mv {shlex.quote(str(prep.join_command.tmp))} {shlex.quote(str(plan.output))}")


@app.command()
def validate(spec: Path = SpecArg) -> None:
    """Check the spec and every asset (exists, decodes, sizes, durations); report all problems at once."""
    from vgen.ffmpeg.binary import find_ffmpeg
    from vgen.run.render import check_transitions, load_spec_captions
    from vgen.model.spec import load_spec
    from vgen.model.timeline import build_timeline, gather_facts

    try:
        loaded = load_spec(spec)
        ff = find_ffmpeg()
        facts, problems = gather_facts(loaded, ff, decode=True)
        warnings: list[str] = []
        if not problems:
            try:
                tl = build_timeline(loaded, facts)
                check_transitions(loaded, tl, ff)
                captions, _ = load_spec_captions(loaded, tl, ff)
                warnings = list(captions.warnings) if captions else []
            except VgenError as exc:
                problems.append(str(exc))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    for w in warnings if not problems else []:
        err.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
    if problems:
        for p in problems:
            err.print(f"[bold red]error:[/] {escape(p)}", soft_wrap=True)
        err.print(f"{len(problems)} problem(s) in {spec}")
        raise typer.Exit(2)
    out.print(f"[green]ok:[/] {spec}: {len(loaded.spec.slides)} slides, {tl.seconds:.2f} s, {tl.total_frames} frames")


@app.command()
def frame(
    spec: Path = SpecArg,
    at: Optional[str] = typer.Option(None, "--at", help="Time: HH:MM:SS.s, MM:SS.s or seconds."),
    slide: Optional[int] = typer.Option(None, "--slide", help="Slide number (1-based): the middle of its solo part."),
    output: Path = typer.Option(Path("frame.png"), "--output", "-o", help="PNG to write."),
    compositor: Optional[str] = typer.Option(None, "--compositor", help="auto or ffmpeg: overrides the spec's output.compositor."),
) -> None:
    """Render the one frame the full render shows at a time (motion, transition, caption), in about a second."""
    from vgen.tools.frame import parse_time, render_frame

    try:
        if (at is None) == (slide is None):
            raise VgenError("give exactly one of --at or --slide", "e.g. --at 01:02:03.5 or --slide 412")
        r = render_frame(spec, output, parse_time(at) if at is not None else None, slide,
                         compositor=_compositor(compositor))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    out.print(f"{r.path}: frame {r.frame} ({r.seconds:.3f} s), slide(s) {', '.join(map(str, r.slides))}")


@app.command("compare")
def compare_cmd(
    a: Path = typer.Argument(..., help="The reference video (e.g. the old renderer's)."),
    b: Path = typer.Argument(..., help="The video to check against it (e.g. vgen's)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    min_ssim: Optional[float] = typer.Option(None, "--min-ssim", help="Fail (exit 1) below this mean SSIM."),
    min_psnr: Optional[float] = typer.Option(None, "--min-psnr", help="Fail below this mean PSNR (dB)."),
    min_vmaf: Optional[float] = typer.Option(None, "--min-vmaf", help="Fail below this VMAF score."),
    max_offset_ms: Optional[float] = typer.Option(None, "--max-offset-ms", help="Fail when the audio is offset more."),
    max_loudness_diff: Optional[float] = typer.Option(None, "--max-loudness-diff", help="Fail when loudness differs more (LU)."),
    max_duration_diff: Optional[float] = typer.Option(None, "--max-duration-diff", help="Fail when durations differ more (s)."),
    vmaf: bool = typer.Option(True, "--vmaf/--no-vmaf", help="Compute VMAF where the FFmpeg has libvmaf."),
    window: float = typer.Option(1.0, "--window", min=0.1, help="Seconds per stretch in the worst-stretches list."),
) -> None:
    """Compare two videos for a cut-over: durations, A/V offset, loudness, PSNR/SSIM/VMAF, worst stretches."""
    from vgen.tools.compare import check, compare
    from vgen.ffmpeg.binary import find_ffmpeg

    try:
        report = compare(find_ffmpeg(), a, b, vmaf=vmaf, window_s=window)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    fails = check(report, min_ssim=min_ssim, min_psnr=min_psnr, min_vmaf=min_vmaf, max_offset_ms=max_offset_ms,
                  max_loudness_diff=max_loudness_diff, max_duration_diff_s=max_duration_diff)
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
            ("audio", f"{report.a.audio_s:.3f} s" if report.a.audio_s else "none",
             f"{report.b.audio_s:.3f} s" if report.b.audio_s else "none"),
            ("loudness", f"{report.a.loudness_lufs} LUFS", f"{report.b.loudness_lufs} LUFS"),
        ):
            t.add_row(label, escape(fa), escape(fb))
        out.print(t)
        if report.scaled:
            out.print(f"[yellow]note:[/] {escape(report.scaled)}")
        vm = f", VMAF {report.vmaf:.2f}" if report.vmaf is not None else ""
        off = f"{report.audio_offset_ms:+.1f} ms" if report.audio_offset_ms is not None else "n/a"
        out.print(f"PSNR {report.psnr:.2f} dB, SSIM {report.ssim:.5f}{vm}, audio offset (b vs a) {off}")
        out.print("worst stretches by SSIM: " + ", ".join(
            f"{w['start_s']:.1f}-{w['end_s']:.1f} s ({w['ssim']:.4f})" for w in report.worst))
        for f in fails:
            err.print(f"[bold red]fail:[/] {escape(f)}")
    if fails:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec, for editors (yaml-language-server) and CI checks."""
    import json

    from vgen.model.spec import json_schema

    print(json.dumps(json_schema(), indent=2))


@app.command()
def init(path: Path = typer.Argument(Path("spec.yaml"), help="Where to write the starter spec.")) -> None:
    """Write a commented starter spec (never over an existing file)."""
    from vgen.tools.starter import STARTER

    try:
        if path.exists():
            raise VgenError(f"{path} already exists", "pick another name; vgen init never overwrites")
        path.write_text(STARTER, encoding="utf-8")
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    out.print(f"wrote {path}: add your images and narration, then `vgen validate {path}`")


@app.command("serve-runpod", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve_runpod(ctx: typer.Context) -> None:
    """Run as a RunPod Serverless worker (needs the runpod extra); SDK flags such as --test_input pass through."""
    try:
        import runpod
    except ImportError:
        _fail(VgenError("the runpod SDK is not installed", "pip install 'vgen[runpod]'"))
        return
    from vgen.remote.worker.handler import _NVENC_PROBLEM, handler, startup_check

    problem = startup_check()
    _NVENC_PROBLEM.append(problem)
    err.print(f"vgen worker: NVENC {'ready' if not problem else 'unavailable: ' + escape(problem)}", soft_wrap=True)
    sys.argv = [sys.argv[0], *ctx.args]
    runpod.serverless.start({"handler": handler})


EndpointOpt = typer.Option(..., "--endpoint", "-e", help="The RunPod endpoint ID.", envvar="VGEN_RUNPOD_ENDPOINT")
ApiOpt = typer.Option(None, "--api-base", help="RunPod API base URL (tests, self-hosted gateways).")


@app.command()
def submit(
    spec: Path = SpecArg,
    endpoint: str = EndpointOpt,
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends, with a progress bar."),
    asset_bucket: str = typer.Option("vgen-assets", "--asset-bucket", help="Storage bucket for the spec's files."),
    output_bucket: str = typer.Option("videos", "--output-bucket", help="Bucket the worker uploads the video to."),
    output_path: Optional[str] = typer.Option(None, "--output-path", help="Object name of the video (default: <spec name>.mp4)."),
    job_key: Optional[str] = typer.Option(None, "--job-key", help="Names the checkpoints; resend with it to resume."),
    webhook: Optional[str] = typer.Option(None, "--webhook", help="URL RunPod calls when the job ends."),
    api_base: Optional[str] = ApiOpt,
) -> None:
    """Upload SPEC's files to Supabase Storage (once per content), send the job to RunPod, optionally wait."""
    from vgen.remote.client import RunPodClient, Storage, build_job

    try:
        client = RunPodClient(endpoint, api_base=api_base)
        storage = Storage.from_env()

        def said(rel: str, skipped: bool) -> None:
            err.print(f"asset {escape(rel)}: {'already stored' if skipped else 'uploaded'}")

        job = build_job(spec, storage, asset_bucket, output_bucket, output_path or f"{spec.stem}.mp4", job_key,
                        on_asset=said)
        job_id = client.run(job, webhook)
        out.print(job_id)
        if wait:
            _follow(client, job_id)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


def _follow(client, job_id: str) -> None:  # type: ignore[no-untyped-def]
    import json as _json

    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                  console=err) as bar:
        task = bar.add_task("IN_QUEUE", total=100)

        def update(st: dict) -> None:
            o = st.get("output") if isinstance(st.get("output"), dict) else {}
            status = st.get("status", "?")
            label = f"{status} {o.get('stage', '')}".strip()
            bar.update(task, description=label, completed=o.get("percent", 100 if status == "COMPLETED" else 0))

        final = client.wait(job_id, update, poll_s=float(os.environ.get("VGEN_POLL_SECONDS", "2")))
    print(_json.dumps(final, indent=2))
    if final.get("status") != "COMPLETED":
        raise typer.Exit(1)


@app.command()
def status(job_id: str, endpoint: str = EndpointOpt, api_base: Optional[str] = ApiOpt,
           wait: bool = typer.Option(False, "--wait", help="Follow it until it ends.")) -> None:
    """Print a RunPod job's status (and its progress or result)."""
    import json as _json

    from vgen.remote.client import RunPodClient

    try:
        client = RunPodClient(endpoint, api_base=api_base)
        if wait:
            _follow(client, job_id)
        else:
            print(_json.dumps(client.status(job_id), indent=2))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@app.command()
def cancel(job_id: str, endpoint: str = EndpointOpt, api_base: Optional[str] = ApiOpt) -> None:
    """Cancel a RunPod job: the worker stops FFmpeg; finished segments stay for a resend with its job_key."""
    import json as _json

    from vgen.remote.client import RunPodClient

    try:
        client = RunPodClient(endpoint, api_base=api_base)
        print(_json.dumps(client.cancel(job_id), indent=2))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@app.command()
def doctor(json_out: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Which FFmpeg vgen uses, the encoders that really work, libass and fonts, and fixes for what is missing."""
    import dataclasses
    import json as _json

    from vgen.tools.doctor import checks
    from vgen.ffmpeg.binary import find_ffmpeg

    try:
        ff = find_ffmpeg()
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    if json_out:
        print(_json.dumps([dataclasses.asdict(c) for c in checks(ff)], indent=2))
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks(ff):
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[yellow]no[/]", escape(c.detail), escape(c.fix))
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
