"""`vgen serve-runpod` (the worker) and `submit`, `status`, `cancel` (the client side of RunPod)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from vgen.cli.app import SpecArg, command, err, out
from vgen.errors import VgenError

if TYPE_CHECKING:
    from vgen.remote.client import RunPodClient

EndpointOpt = typer.Option(..., "--endpoint", "-e", help="The RunPod endpoint ID.", envvar="VGEN_RUNPOD_ENDPOINT")
ApiOpt = typer.Option(None, "--api-base", help="RunPod API base URL (tests, self-hosted gateways).")


@command("serve-runpod", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve_runpod(ctx: typer.Context) -> None:
    """Run as a RunPod Serverless worker (needs the runpod extra); SDK flags such as --test_input pass through."""
    if importlib.util.find_spec("runpod") is None:
        raise VgenError("the runpod SDK is not installed", "pip install 'vgen[runpod]'")
    from vgen.remote.worker.handler import serve

    serve(ctx.args, lambda line: err.print(escape(line), soft_wrap=True))


@command()
def submit(
    spec: Path = SpecArg,
    endpoint: str = EndpointOpt,
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends, with a progress bar."),
    asset_bucket: str = typer.Option("vgen-assets", "--asset-bucket", help="Storage bucket for the spec's files."),
    output_bucket: str = typer.Option("videos", "--output-bucket", help="Bucket the worker uploads the video to."),
    output_path: str | None = typer.Option(
        None, "--output-path", help="Object name of the video (default: <spec name>.mp4)."
    ),
    job_key: str | None = typer.Option(None, "--job-key", help="Names the checkpoints; resend with it to resume."),
    webhook: str | None = typer.Option(None, "--webhook", help="URL RunPod calls when the job ends."),
    api_base: str | None = ApiOpt,
) -> None:
    """Upload SPEC's files to Supabase Storage (once per content), send the job to RunPod, optionally wait."""
    from vgen.remote.client import RunPodClient, Storage, build_job

    client = RunPodClient(endpoint, api_base=api_base)
    storage = Storage.from_env()

    def said(rel: str, skipped: bool) -> None:
        err.print(f"asset {escape(rel)}: {'already stored' if skipped else 'uploaded'}")

    job = build_job(
        spec,
        storage,
        asset_bucket,
        output_bucket,
        output_path or f"{spec.stem}.mp4",
        job_key,
        on_asset=said,
        on_skip=lambda name, why: err.print(f"asset {escape(name)}: {why}"),
    )
    job_id = client.run(job, webhook)
    out.print(job_id)
    if wait:
        _follow(client, job_id)


def _follow(client: RunPodClient, job_id: str) -> None:
    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"), console=err
    ) as bar:
        task = bar.add_task("IN_QUEUE", total=100)

        def update(st: dict[str, Any]) -> None:
            o = st.get("output")
            o = o if isinstance(o, dict) else {}
            status = st.get("status", "?")
            label = f"{status} {o.get('stage', '')}".strip()
            bar.update(task, description=label, completed=o.get("percent", 100 if status == "COMPLETED" else 0))

        final = client.wait(job_id, update, poll_s=float(os.environ.get("VGEN_POLL_SECONDS", "2")))
    print(json.dumps(final, indent=2))
    if final.get("status") != "COMPLETED":
        raise typer.Exit(1)


def fan_out(
    spec: Path,
    endpoint: str,
    workers: int,
    asset_bucket: str,
    output: dict[str, Any],
    work: dict[str, Any],
    keep_work: bool,
    price: float | None,
    state: Path | None,
    retries: int,
    json_lines: bool,
    quiet: bool,
) -> None:
    """`vgen render --runpod`: one bar (or one JSON line per poll) over every job of the fan-out."""
    import sys

    from vgen.remote.client import RunPodClient, Storage
    from vgen.remote.fanout import FanOut

    client = RunPodClient(endpoint)
    if state is not None and state.exists():
        job = FanOut.resume(client, state)
        if not quiet:
            err.print(f"resuming {escape(str(state))}")
    else:
        job = client.render(
            spec,
            Storage.from_env(),
            workers=workers,
            asset_bucket=asset_bucket,
            output=output,
            work=work,
            retries=retries,
            keep_work=keep_work,
            price_per_gpu_second=price,
            state_path=state,
        )
    try:
        if json_lines or quiet or not err.is_terminal:

            def line(p: dict[str, Any]) -> None:
                if json_lines:
                    sys.stdout.write(json.dumps(p) + "\n")
                    sys.stdout.flush()

            result = job.wait(on_progress=line)
        else:
            result = job.wait(on_progress=_fan_out_bar())
    except KeyboardInterrupt:
        job.cancel()
        err.print("cancelled: every job of the render was cancelled")
        raise typer.Exit(130) from None
    if quiet:
        out.print(f"{result['bucket']}/{result['path']}")
        return
    print(json.dumps(result) if json_lines else json.dumps(result, indent=2))  # --json: the last line


def _fan_out_bar() -> Any:
    """A rich bar over all jobs: frames, chunks done/running/queued, fps, ETA."""
    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"), console=err)
    task = bar.add_task("planning", total=100)
    bar.start()

    def update(p: dict[str, Any]) -> None:
        eta = f"ETA {p['eta_s']:.0f} s" if p.get("eta_s") is not None else "ETA -"
        label = (
            f"{p['stage']:<6} {p['frames']}/{p['total_frames']} fr, chunks {p['done']} done {p['running']} running "
            f"{p['queued']} queued, {p['fps']:.0f} fps, {eta}"
        )
        bar.update(task, description=label, completed=p["percent"])
        if p["stage"] == "done":
            bar.stop()

    return update


@command()
def status(
    job_id: str,
    endpoint: str = EndpointOpt,
    api_base: str | None = ApiOpt,
    wait: bool = typer.Option(False, "--wait", help="Follow it until it ends."),
) -> None:
    """Print a RunPod job's status (and its progress or result)."""
    from vgen.remote.client import RunPodClient

    client = RunPodClient(endpoint, api_base=api_base)
    if wait:
        _follow(client, job_id)
    else:
        print(json.dumps(client.status(job_id), indent=2))


@command()
def cancel(job_id: str, endpoint: str = EndpointOpt, api_base: str | None = ApiOpt) -> None:
    """Cancel a RunPod job: the worker stops FFmpeg; finished segments stay for a resend with its job_key."""
    from vgen.remote.client import RunPodClient

    print(json.dumps(RunPodClient(endpoint, api_base=api_base).cancel(job_id), indent=2))
