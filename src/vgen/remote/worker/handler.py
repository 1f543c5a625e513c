"""The async RunPod handler: validate, download, render (resuming by job_key), upload, report.

FFmpeg runs in worker threads; a cancel or timeout from RunPod stops every FFmpeg at once.
Checkpoints stay after a failure (a retried job resumes) and go after a successful upload.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from vgen.errors import VgenError
from vgen.files import file_sha256
from vgen.model.spec import AssetRef, format_loc, validate_data
from vgen.pipeline import prepare
from vgen.remote.worker.fetch import Limits, fetch_all, fetch_text
from vgen.remote.worker.job import JobError, parse_job, safe_name
from vgen.remote.worker.upload import require_credentials, upload
from vgen.run.progress import Event
from vgen.run.render import Options, render
from vgen.run.runner import Interrupted, request_stop, reset_stop

ProgressSink = Callable[[dict[str, Any]], None]


def work_root() -> Path:
    env = os.environ.get("VGEN_WORK_ROOT")
    if env:
        return Path(env)
    if Path("/runpod-volume").is_dir():
        return Path("/runpod-volume/vgen")
    return Path(tempfile.gettempdir()) / "vgen-jobs"


def job_assets(spec: dict[str, Any], out: Path) -> tuple[dict[str, Any], list[AssetRef]]:
    """The spec with its output forced into the job folder, validated, and the files it names: every
    one a safe relative name, no fonts folder. A bad spec is refused here, before any download."""
    spec = dict(spec)
    spec["output"] = dict(spec.get("output") or {}) | {"path": str(out)}
    refs = validate_data(spec, Path("spec")).spec.assets()
    for ref in refs:
        if ref.role == "fonts":
            raise JobError(
                "spec: subtitles.fonts_dir is not supported in worker jobs",
                "use fonts installed in the image (DejaVu), or burn an .ass file's own fonts",
            )
        try:
            safe_name(ref.path)
        except ValueError as exc:
            raise JobError(f"spec: {exc} ({format_loc(ref.loc)})") from None
    return spec, refs


class Throttle:
    """RunPod progress updates every few percent or seconds, from the render's event stream."""

    def __init__(self, sink: ProgressSink, every_percent: float = 2.0, every_s: float = 5.0) -> None:
        self.sink, self.every_percent, self.every_s = sink, every_percent, every_s
        self.last_percent, self.last_time = -100.0, 0.0

    def __call__(self, e: Event) -> None:
        now = time.monotonic()
        final = e.stage in ("plan", "done", "verify")
        if not final and e.percent - self.last_percent < self.every_percent and now - self.last_time < self.every_s:
            return
        self.last_percent, self.last_time = e.percent, now
        self.sink(
            {
                "stage": e.stage,
                "percent": round(e.percent, 1),
                "fps": e.fps,
                "eta_s": e.eta_s,
                "segment": None if e.segment is None else e.segment + 1,
                "segments": e.segments,
                "reused": e.reused,
                "message": e.message,
            }
        )


async def run_job(job: dict[str, Any], progress: ProgressSink | None = None) -> dict[str, Any]:
    """One job, start to upload. Returns the output dict, or {"error": "..."}."""
    try:
        return await _run(job, progress or (lambda p: None))
    except VgenError as exc:
        return {"error": str(exc)}
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


async def _run(job: dict[str, Any], progress: ProgressSink) -> dict[str, Any]:
    inp = parse_job(job.get("input"))
    require_credentials(inp.output)  # before any download or render
    key = inp.job_key or str(job.get("id") or "job")
    folder = work_root() / key
    assets = folder / "assets"
    limits = Limits.from_env()
    spec = inp.spec
    if spec is None:
        assert inp.spec_url is not None
        spec = yaml.safe_load(await fetch_text(inp.spec_url, limits))
        if not isinstance(spec, dict):
            raise JobError("spec_url: not a YAML/JSON mapping")
    spec, refs = job_assets(spec, folder / "out.mp4")
    missing = [r.path for r in refs if r.path not in inp.assets and not (assets / r.path).exists()]
    if missing:
        raise JobError(
            f"spec names files the job does not send: {', '.join(sorted(set(missing)))[:300]}",
            "add them to input.assets",
        )
    progress({"stage": "download", "percent": 0})
    await fetch_all(inp.assets, assets, limits)
    spec_file = assets / ".vgen-job-spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    reset_stop()
    started = time.monotonic()
    prep = await asyncio.to_thread(prepare, spec_file, None, folder / "store")

    def render_here() -> Any:
        try:
            return render(prep, Throttle(progress), Options())
        except Interrupted as exc:  # a KeyboardInterrupt subclass: asyncio would re-raise it as fatal
            raise JobError(f"stopped: {exc}", "send the job again with its job_key to resume") from None

    task = asyncio.create_task(asyncio.to_thread(render_here))
    try:
        result = await asyncio.shield(task)
    except asyncio.CancelledError:
        request_stop(signal.SIGTERM)  # RunPod cancelled or timed out the job: stop FFmpeg now
        await asyncio.gather(task, return_exceptions=True)
        raise
    render_s = time.monotonic() - started
    progress({"stage": "upload", "percent": 100})
    digest = await asyncio.to_thread(file_sha256, result.output)
    up = await upload(result.output, inp.output, folder / "upload.json")
    out: dict[str, Any] = {
        "bucket": up.bucket,
        "path": up.path,
        "size_bytes": up.size_bytes,
        "duration_s": round(result.duration_s, 3),
        "frames": result.frames,
        "encoder": result.encoder,
        "render_s": round(render_s, 2),
        "realtime_factor": round(result.duration_s / render_s, 3) if render_s else None,
        "segments": result.segments,
        "segments_reused": result.segments_reused,
        "sha256": digest,
    }
    if up.signed_url:
        out["signed_url"] = up.signed_url
    if folder.resolve().parent == work_root().resolve():
        shutil.rmtree(folder, ignore_errors=True)  # uploaded: the checkpoints have served
    return out


def startup_check() -> str | None:
    """Once at worker start: can NVENC encode a frame here? None when it can, else why not.
    With VGEN_REQUIRE_NVENC=1 a worker without NVENC refuses jobs instead of encoding on the CPU."""
    from vgen.ffmpeg.binary import find_ffmpeg
    from vgen.ffmpeg.encoders import try_encoder

    ff = find_ffmpeg()
    if "h264_nvenc" not in ff.encoders:
        return f"{ff.path} was built without NVENC."
    return try_encoder(ff.path, "h264_nvenc") or None


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def make_handler(nvenc_problem: str | None) -> Handler:
    """The function runpod.serverless.start calls, for a worker whose NVENC check said
    `nvenc_problem` (None: NVENC works). With VGEN_REQUIRE_NVENC=1 a worker without NVENC refuses
    jobs instead of encoding on the CPU."""

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        if nvenc_problem and os.environ.get("VGEN_REQUIRE_NVENC") == "1":
            return {"error": f"this worker refuses jobs (VGEN_REQUIRE_NVENC=1): {nvenc_problem}"}

        def sink(update: dict[str, Any]) -> None:
            if os.environ.get("RUNPOD_WEBHOOK_GET_JOB"):  # a real worker loop; not local test runs
                import runpod

                runpod.serverless.progress_update(job, update)

        return await run_job(job, sink)

    return handler


def serve(sdk_args: list[str], say: Callable[[str], None]) -> None:
    """Run the RunPod worker loop: check NVENC once, say what it found, then take jobs. `sdk_args`
    are the SDK's own flags (--test_input, ...), which it reads from sys.argv."""
    import sys

    import runpod

    problem = startup_check()
    say(f"vgen worker: NVENC {'ready' if not problem else 'unavailable: ' + problem}")
    sys.argv = [sys.argv[0], *sdk_args]
    runpod.serverless.start({"handler": make_handler(problem)})
