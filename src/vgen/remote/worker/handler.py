"""The async RunPod handler: validate, download, render (resuming by job_key), upload, report.

FFmpeg runs in worker threads; a cancel or timeout from RunPod stops every FFmpeg at once.
Checkpoints stay after a failure (a retried job resumes) and go after a successful upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml

from vgen.errors import VgenError
from vgen.files import file_sha256
from vgen.model.chapters import stamp
from vgen.model.limits import FontLimits
from vgen.model.limits import Limits as RenderLimits
from vgen.model.spec import AssetRef, LoadedSpec, format_loc, parse_yaml, validate_data
from vgen.model.timeline import check_length, given_seconds
from vgen.pipeline import Prepared, prepare
from vgen.remote.worker.fetch import Limits, check_fonts, fetch_all, fetch_text, font_caps
from vgen.remote.worker.job import JobError, JobInput, OutputTarget, parse_job, safe_name
from vgen.remote.worker.upload import Preflight, preflight, require_credentials, upload
from vgen.run import child
from vgen.run.progress import Event
from vgen.run.render import Options, Result, render
from vgen.run.runner import Interrupted, request_stop, reset_stop

ProgressSink = Callable[[dict[str, Any]], None]


def work_root() -> Path:
    env = os.environ.get("VGEN_WORK_ROOT")
    if env:
        return Path(env)
    if Path("/runpod-volume").is_dir():
        return Path("/runpod-volume/vgen")
    return Path(tempfile.gettempdir()) / "vgen-jobs"


def job_name(ref: AssetRef) -> str:
    """The job's name for a file the spec names: the path as written; for a fonts folder, as a
    plain folder name ('fonts/' and './fonts' are 'fonts'), whose fonts the job sends as
    'fonts/NAME.ttf'."""
    return str(PurePosixPath(ref.path)) if ref.role == "fonts" else ref.path


def job_assets(spec: dict[str, Any], out: Path) -> tuple[dict[str, Any], LoadedSpec]:
    """The spec with its output forced into the job folder, validated; every file it names, and its
    fonts folder, a safe relative name. A bad spec is refused here, before any download."""
    spec = dict(spec)
    output = spec.get("output")
    spec["output"] = (dict(output) if isinstance(output, dict) else {}) | {"path": str(out)}
    loaded = validate_data(spec, Path("spec"))
    for ref in loaded.spec.assets():
        try:
            safe_name(job_name(ref))
        except ValueError as exc:
            raise JobError(f"spec: {exc} ({format_loc(ref.loc)})") from None
    return spec, loaded


def fonts_folders(loaded: LoadedSpec) -> dict[str, str]:
    """The spec's fonts folders by their job names, each with the spec key that names it."""
    return {job_name(r): format_loc(r.loc) for r in loaded.spec.assets() if r.role == "fonts"}


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


# Environment variables whose values never leave the worker, whatever echoes them.
SECRET_NAMES = (
    "SUPABASE_SERVICE_ROLE_KEY",
    "BUCKET_SECRET_ACCESS_KEY",
    "BUCKET_ACCESS_KEY_ID",
    "RUNPOD_API_KEY",
    "RUNPOD_AI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


def redact(text: str) -> str:
    """`text` with every secret of the worker's environment replaced: an error string goes back to
    the caller, and RunPod stores and shows it. The named secrets, and any variable whose name says
    it is one (…KEY, …SECRET…, …TOKEN, …PASSWORD), of 8 characters or more."""
    marks = ("KEY", "SECRET", "TOKEN", "PASSWORD")
    values = {v for k, v in os.environ.items() if (k in SECRET_NAMES or any(m in k.upper() for m in marks))}
    for value in sorted((v for v in values if len(v) >= 8), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text


def job_folder(job: dict[str, Any], job_key: str | None) -> Path:
    """The job's folder under the work root: its job_key (validated: a plain name), else a hash of
    RunPod's job id, which is a string from the network and never a path (an id of `../../x`
    once wrote outside the root). The same id finds the same folder, so a retried job resumes."""
    if job_key:
        return work_root() / job_key
    ident = str(job.get("id") or "job")
    return work_root() / f"id-{hashlib.sha256(ident.encode()).hexdigest()[:24]}"


async def run_job(job: dict[str, Any], progress: ProgressSink | None = None) -> dict[str, Any]:
    """One job, start to upload, within the worker's limits (VGEN_MAX_JOB_SECONDS for all of it).
    Returns the output dict, or {"error": "..."} in one line that carries no secret."""
    try:
        limits = RenderLimits.worker()
        run = _run(job, progress or (lambda p: None), limits)
        if limits.max_job_seconds is None:
            return await run
        try:
            return await asyncio.wait_for(run, limits.max_job_seconds)
        except TimeoutError:
            raise JobError(
                f"the job ran past VGEN_MAX_JOB_SECONDS ({limits.max_job_seconds:.0f} s) and was stopped",
                "finished segments are kept: send it again with its job_key to resume, or raise the limit",
            ) from None
    except VgenError as exc:
        return {"error": redact(str(exc))}
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return {"error": redact(f"{type(exc).__name__}: {exc}")[:500]}


SIDECAR_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt", "chapters": "text/plain"}


def _kind_of(path: Path) -> str:
    return "chapters" if path.name.endswith(".chapters.txt") else path.suffix.lstrip(".")


def _sidecar_targets(loaded: LoadedSpec, video: OutputTarget) -> dict[str, tuple[OutputTarget, str]]:
    """Where the files written next to the video go: beside it in the same bucket (ep-42.mp4 ->
    ep-42.srt, ep-42.vtt, ep-42.chapters.txt), with their content types."""
    spec = loaded.spec
    kinds: list[str] = list(spec.subtitles.sidecar) if spec.subtitles is not None else []
    if any(s.chapter is not None for s in spec.slides):
        kinds.append("chapters")
    base = PurePosixPath(video.path)
    out: dict[str, tuple[OutputTarget, str]] = {}
    for kind in kinds:
        suffix = ".chapters.txt" if kind == "chapters" else f".{kind}"
        target = video.model_copy(update={"path": str(base.with_suffix(suffix)), "signed_url_seconds": None})
        out[kind] = (target, SIDECAR_TYPES[kind])
    return out


def _noalias_dump(spec: dict[str, Any]) -> str:
    """YAML without anchors and aliases (the spec loader refuses aliases)."""

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(spec, Dumper=Dumper, sort_keys=False, allow_unicode=True)


async def _run(job: dict[str, Any], progress: ProgressSink, limits: RenderLimits) -> dict[str, Any]:
    inp = parse_job(job.get("input"))
    if inp.output is not None:
        require_credentials(inp.output)  # before any download or render
    if inp.work is not None:
        from vgen.remote.worker.work import allowed

        allowed(inp.work)
        require_credentials(inp.work.piece("seg-0.mp4"))
    folder = job_folder(job, inp.job_key)
    fetch_limits = Limits.from_env()
    spec = inp.spec
    if spec is None:
        assert inp.spec_url is not None
        spec, _ = parse_yaml(await fetch_text(inp.spec_url, fetch_limits), Path("spec_url"))
        if not isinstance(spec, dict):
            raise JobError("spec_url: not a YAML/JSON mapping")
    spec, loaded = job_assets(spec, folder / "out.mp4")
    check_length(loaded, given_seconds(loaded), limits, at_least=True)  # a day-long spec is not downloaded
    if inp.kind != "render":
        from vgen.remote.worker.parts_job import run_part

        return await run_part(inp, spec, loaded, folder, progress, limits)
    assert inp.output is not None  # parse_job: a render has one
    # The bucket, the names, objects already there, MIME types: checked before any download or render.
    checked = await preflight(inp.output)
    extras = _sidecar_targets(loaded, inp.output)
    for target, content_type in extras.values():
        await preflight(target, content_type)
    refs = loaded.spec.assets()
    missing = [
        r.path
        for r in refs
        if r.role != "fonts" and r.path not in inp.assets and not (folder / "assets" / r.path).exists()
    ]
    if missing:
        raise JobError(
            f"spec names files the job does not send: {', '.join(sorted(set(missing)))[:300]}",
            "add them to input.assets",
        )
    spec_file = await fetch_assets(inp, loaded, spec, folder / "assets", limits, progress)

    reset_stop()
    child.limit_memory(limits.child_memory_bytes)  # every FFmpeg of this worker, from here on
    started = time.monotonic()
    prep = await asyncio.to_thread(prepare, spec_file, None, folder / "store", limits=limits)
    result = await render_in_thread(lambda: render(prep, Throttle(progress), Options()))
    out = await deliver(result, prep, inp.output, folder, time.monotonic() - started, checked, extras, progress)
    if folder.resolve().parent == work_root().resolve():
        shutil.rmtree(folder, ignore_errors=True)  # uploaded: the checkpoints have served
    return out


async def fetch_assets(
    inp: JobInput, loaded: LoadedSpec, spec: dict[str, Any], assets: Path, limits: RenderLimits, progress: ProgressSink
) -> Path:
    """Download the job's assets (fonts checked by name before, by content after) and write the spec
    beside them; returns the spec file."""
    fetch_limits = Limits.from_env()
    fonts = fonts_folders(loaded)  # their fonts are job assets named FOLDER/NAME.ttf
    font_limits = limits.fonts or FontLimits()
    caps: dict[str, tuple[int, str]] = {}
    for fonts_dir, where in fonts.items():
        caps |= font_caps(inp.assets, fonts_dir, where, font_limits)
    progress({"stage": "download", "percent": 0})
    await fetch_all(inp.assets, assets, fetch_limits, caps)
    for fonts_dir, where in fonts.items():
        check_fonts(assets, fonts_dir, where, font_limits)  # by content, before FreeType sees them
    spec_file = assets / ".vgen-job-spec.yaml"
    spec_file.write_text(_noalias_dump(spec), encoding="utf-8")
    return spec_file


T = TypeVar("T")


async def render_in_thread(work: Callable[[], T]) -> T:
    """Run a render step in a thread; a cancel or timeout from RunPod stops its FFmpeg at once."""

    def here() -> T:
        try:
            return work()
        except Interrupted as exc:  # a KeyboardInterrupt subclass: asyncio would re-raise it as fatal
            raise JobError(f"stopped: {exc}", "send the job again with its job_key to resume") from None

    task = asyncio.create_task(asyncio.to_thread(here))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        request_stop(signal.SIGTERM)  # RunPod cancelled or timed out the job: stop FFmpeg now
        await asyncio.gather(task, return_exceptions=True)
        raise


async def deliver(
    result: Result,
    prep: Prepared,
    target: OutputTarget,
    folder: Path,
    render_s: float,
    checked: Preflight,
    extras: dict[str, tuple[OutputTarget, str]],
    progress: ProgressSink,
) -> dict[str, Any]:
    """Upload a finished video and the files beside it; the job's output: where it went and what it is."""
    progress({"stage": "upload", "percent": 100})
    digest = await asyncio.to_thread(file_sha256, result.output)
    up = await upload(result.output, target, folder / "upload.json", sha256=digest, checked=checked)
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
    if result.notices:
        out["notices"] = list(result.notices)  # what the render warned of: a missing font, a fallback encoder
    files: dict[str, str] = {}
    for path in result.sidecars:  # captions and chapters, next to the video
        kind = _kind_of(path)
        sidecar, content_type = extras[kind]
        sent = await upload(path, sidecar, folder / f"upload-{kind}.json", content_type=content_type)
        files[kind] = sent.path
    if files:
        out["files"] = files
    tl = prep.plan.timeline
    if tl.chapters:
        long = tl.total_frames / tl.fps >= 3600
        out["chapters"] = [
            {"start_s": round(tl.frame_time(c.frame), 3), "time": stamp(tl.frame_time(c.frame), long), "title": c.title}
            for c in tl.chapters
        ]
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
