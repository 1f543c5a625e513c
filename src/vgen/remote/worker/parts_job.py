"""The worker's fan-out jobs: plan, chunk, audio and join (see `vgen.remote.parts` for how the caller
and the workers agree on ranges and names, `vgen.remote.fanout` for the caller).

Every job rebuilds the caller's timeline from the facts it sends (nothing to download for that), the
plan with this worker's FFmpeg and encoder, and checks its segment bounds against the caller's. A
chunk downloads only the files its segments show (the caller picks them), renders those segments
into its store as `render` would, and puts each piece in the work area under its name; the audio job
the mix; the join fetches every piece into a store, checks each against what its worker reported
(size, SHA-256) and its frame count, then runs the very `render` of a single job, which finds every
piece checked, joins by stream copy, verifies the output and is uploaded the same way.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vgen.errors import FFmpegError, VgenError
from vgen.files import file_digest, file_sha256
from vgen.model.limits import Limits as RenderLimits
from vgen.model.spec import LoadedSpec, load_spec
from vgen.pipeline import Prepared
from vgen.remote.worker import work
from vgen.remote.worker.job import JobError, JobInput, Piece
from vgen.remote.worker.pieces import audio_name, facts_from_json, piece_name
from vgen.run import child
from vgen.run.render import Options, render, render_audio_piece, render_pieces
from vgen.run.runner import reset_stop
from vgen.run.store import Store

ProgressSink = Any


def prepare_given(
    spec_file: Path, facts: dict[str, dict[str, Any]], digests: dict[str, str], work_dir: Path, limits: RenderLimits
) -> Prepared:
    """`pipeline.prepare` with the caller's facts for the probe and its digests for the files this
    job did not download, so the commands are those of a local render of the spec. A file that is
    here must have the content the caller planned with."""
    from vgen.pipeline import prepare

    loaded = load_spec(spec_file)
    names = {loaded.resolve(name): name for name in digests}

    def digest(path: Path) -> str:
        name = names.get(path)
        if name is None:
            raise JobError(f"input.digests: no digest for {path.name}", "send every asset's sha256")
        if path.is_file():
            real = file_digest(path)
            if real != digests[name]:
                raise JobError(f"asset {name!r}: its content is not the one the caller planned with (sha256)")
            return real
        return digests[name]

    try:
        fact_map = facts_from_json(facts, loaded.resolve)
    except ValueError as exc:
        raise JobError(f"input.facts: {' '.join(str(exc).split())[:300]}") from None
    return prepare(loaded, work_dir=work_dir, limits=limits, facts=fact_map, digest=digest)


def check_bounds(prep: Prepared, bounds: list[tuple[int, int]]) -> None:
    """The worker's cut points must be the caller's: both come from the same timeline."""
    mine = [(s.first, s.end) for s in prep.plan.segments]
    if mine != [tuple(b) for b in bounds]:
        at = next((i for i, (a, b) in enumerate(zip(mine, bounds)) if a != tuple(b)), min(len(mine), len(bounds)))
        raise JobError(
            f"this worker plans {len(mine)} segments, the caller {len(bounds)}; they differ from segment {at + 1}",
            "the caller and the worker must run the same vgen version",
        )


async def run_part(
    inp: JobInput, spec: dict[str, Any], loaded: LoadedSpec, folder: Path, progress: ProgressSink, limits: RenderLimits
) -> dict[str, Any]:
    from vgen.remote.worker.handler import fetch_assets, render_in_thread

    assert inp.facts is not None and inp.digests is not None and inp.bounds is not None and inp.work is not None
    area = inp.work
    checked = None
    if inp.kind in ("plan", "join") and inp.output is not None:
        from vgen.remote.worker.handler import _sidecar_targets
        from vgen.remote.worker.upload import preflight

        checked = await preflight(inp.output)  # a join that cannot be stored fails before any chunk renders
        for target, content_type in _sidecar_targets(loaded, inp.output).values():
            await preflight(target, content_type)
    spec_file = await fetch_assets(inp, loaded, spec, folder / "assets", limits, progress)
    reset_stop()
    child.limit_memory(limits.child_memory_bytes)
    started = time.monotonic()
    prep = await asyncio.to_thread(prepare_given, spec_file, inp.facts, inp.digests, folder / "store", limits)
    check_bounds(prep, inp.bounds)
    n = len(prep.plan.segments)
    base = {"ffmpeg": prep.ff.version, "encoder": prep.plan.encoder.name}

    if inp.kind == "plan":
        names = [piece_name(prep, i) for i in range(n)] + [audio_name(prep)]
        sem = asyncio.Semaphore(16)

        async def entry(name: str) -> dict[str, Any] | None:
            async with sem:
                return await work.read_entry(area, name, folder)

        kept = await asyncio.gather(*(entry(name) for name in names))
        _tidy(folder)
        return base | {"names": names, "kept": list(kept)}

    if inp.kind == "chunk":
        assert inp.segments is not None
        first, end = inp.segments
        if not 0 <= first < end <= n:
            raise JobError(f"input.segments: [{first}, {end}) is outside the plan's {n} segments")
        done = await render_in_thread(
            _with_tail(lambda: render_pieces(prep, range(first, end), _Sink(progress), Options()))
        )
        render_s = time.monotonic() - started
        pieces = []
        for seg, path in done:
            pieces.append(await _put(path, area, piece_name(prep, seg.index), seg.index, seg.frames, folder))
        _tidy(folder)
        return base | {"pieces": pieces, "render_s": round(render_s, 3), "frames": sum(p["frames"] for p in pieces)}

    if inp.kind == "audio":
        path = await render_in_thread(_with_tail(lambda: render_audio_piece(prep, _Sink(progress), Options())))
        render_s = time.monotonic() - started
        piece = await _put(path, area, audio_name(prep), -1, 0, folder)
        _tidy(folder)
        return base | {"pieces": [piece], "render_s": round(render_s, 3), "frames": 0}

    return await _join(inp, prep, folder, progress, checked, started)


T = TypeVar("T")


def _with_tail(work: Callable[[], T]) -> Callable[[], T]:
    """`work`, whose FFmpeg failure carries FFmpeg's last lines in its message: the caller of a
    fan-out sees only the job's error string, and names the chunk it came from."""

    def run() -> T:
        try:
            return work()
        except FFmpegError as exc:
            tail = " | ".join(line.strip() for line in exc.stderr_tail.strip().splitlines()[-4:] if line.strip())
            raise FFmpegError(exc.message + (f"; FFmpeg said: {tail}" if tail else ""), exc.hint) from None

    return run


class _Sink:
    """The render's events as RunPod progress updates (the handler's throttle)."""

    def __init__(self, progress: ProgressSink) -> None:
        from vgen.remote.worker.handler import Throttle

        self.throttle = Throttle(progress)

    def __call__(self, e: Any) -> None:
        self.throttle(e)


async def _put(path: Path, area: Any, name: str, index: int, frames: int, folder: Path) -> dict[str, Any]:
    digest = await asyncio.to_thread(file_sha256, path)
    await work.put(path, area, name, folder / f"upload-{name}.state", digest)
    entry = {"index": index, "name": name, "size": path.stat().st_size, "sha256": digest, "frames": frames}
    await work.put_entry(area, entry, folder)
    return entry


def _tidy(folder: Path) -> None:
    from vgen.remote.worker.handler import work_root

    if folder.resolve().parent == work_root().resolve():
        shutil.rmtree(folder, ignore_errors=True)  # the pieces are in the work area


async def _join(
    inp: JobInput, prep: Prepared, folder: Path, progress: ProgressSink, checked: Any, started: float
) -> dict[str, Any]:
    from vgen.remote.worker.handler import Throttle, _sidecar_targets, deliver, render_in_thread, work_root

    assert inp.pieces is not None and inp.work is not None and inp.output is not None
    area, plan = inp.work, prep.plan
    n = len(plan.segments)
    by_index = {p.index: p for p in inp.pieces}
    store = Store(plan.work_dir)
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    bad: list[int] = []
    progress({"stage": "fetch", "percent": 0})
    fetched = time.monotonic()

    async def one(index: int) -> None:
        entry = by_index.get(index)
        if index < 0:
            name, dest = audio_name(prep), prep.audio_command.output
        else:
            name, dest = piece_name(prep, index), prep.segment_commands[index].output
        if entry is None or entry.name != name:
            bad.append(index)  # rendered for another plan, or by a worker with another FFmpeg
            return
        try:
            if not _matches(dest, entry):
                await work.fetch(area, name, dest)
        except VgenError:
            bad.append(index)
            return
        if not _matches(dest, entry):
            bad.append(index)
            return
        info: dict[str, Any] = {"size": entry.size, "sha256": entry.sha256}
        if index < 0:
            store.record(dest.name, info | {"key": plan.audio.key, "samples": plan.audio.samples})
            tl = plan.timeline
            ok = store.valid_audio(prep.ff, dest, tl.seconds, float(1 / tl.fps))
        else:
            seg = plan.segments[index]
            store.record(dest.name, info | {"key": seg.key, "first": seg.first, "end": seg.end, "frames": seg.frames})
            ok = store.valid_video(prep.ff, dest, seg.frames)
        if not ok:
            bad.append(index)

    sem = asyncio.Semaphore(8)

    async def limited(index: int) -> None:
        async with sem:
            await one(index)

    await asyncio.gather(*(limited(i) for i in [*range(n), -1]))
    if bad:
        return {"bad_pieces": sorted(bad)}  # the caller renders those again, then sends the join again
    fetch_s = time.monotonic() - fetched
    joined = time.monotonic()
    result = await render_in_thread(lambda: render(prep, Throttle(progress), Options()))
    assert result.segments_reused == n, "every piece was checked above"
    join_s = time.monotonic() - joined
    extras = _sidecar_targets(prep.loaded, inp.output)
    out = await deliver(result, prep, inp.output, folder, time.monotonic() - started, checked, extras, progress)
    out |= {"fetch_s": round(fetch_s, 3), "join_s": round(join_s, 3)}
    if not inp.keep_work:
        await work.remove(area)
    if folder.resolve().parent == work_root().resolve():
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _matches(path: Path, entry: Piece) -> bool:
    return path.is_file() and path.stat().st_size == entry.size and file_sha256(path) == entry.sha256
