"""Prepared commands -> segments -> audio -> join -> verify: the one place where renders happen.

`vgen.pipeline.prepare` builds everything `dry-run` prints; `render` runs exactly those commands, reusing
checked pieces from the store, retrying failed or stalled runs, and renames the output into
place only after its frames, duration and audio length are verified.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import functools
import gc
import operator
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vgen import machine
from vgen.errors import FFmpegError, MediaError
from vgen.ffmpeg import audio, commands
from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg
from vgen.ffmpeg.commands import Command
from vgen.ffmpeg.probe import audio_length, frame_count
from vgen.files import atomic_write_text, fsync_file, fsync_rename
from vgen.model.plan import Plan, Segment
from vgen.model.timeline import Timeline
from vgen.pipeline import Prepared, prepare
from vgen.run.progress import Emit, Event, null_listener
from vgen.run.runner import DiskFull, disk_full, run
from vgen.run.store import Store


@dataclass(frozen=True)
class Options:
    work_dir: Path | None = None
    fresh: bool = False
    retries: int = 2
    stall_timeout: float = 120.0
    jobs: int = 1
    disk_check: bool = True


@dataclass
class Result:
    output: Path
    frames: int
    duration_s: float
    encoder: str
    segments: int
    segments_reused: int
    render_s: float
    size_bytes: int
    notices: list[str] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)  # captions (.srt, .vtt) and chapters (.chapters.txt)

    @property
    def realtime_factor(self) -> float:
        """Seconds of video rendered per second of wall time."""
        return self.duration_s / self.render_s if self.render_s > 0 else 0.0


def _run_checked(
    prep: Prepared, cmd: Command, emit: Emit, opts: Options, base: Event, on_frames: Callable[[int], int] | None = None
) -> None:
    """Run with retries; a piece counts only when its output is checked, then renamed atomically.
    `on_frames(done_in_this_step)` returns the frames done in the whole render (for parallel runs)."""
    tl = prep.plan.timeline
    attempts = opts.retries + 1
    for attempt in range(1, attempts + 1):
        started = time.monotonic()

        def progress(frames: int, out_s: float, speed: float, started: float = started) -> None:
            done = frames if cmd.frames else round(out_s * float(tl.fps))
            elapsed = max(time.monotonic() - started, 1e-6)
            fps = done / elapsed
            left = (cmd.frames or round(cmd.seconds * float(tl.fps))) - done
            overall = on_frames(done) if on_frames else base.done_frames
            emit(
                dataclasses.replace(
                    base,
                    time=time.time(),
                    frames=done,
                    done_frames=overall,
                    fps=round(fps, 2),
                    speed=round(speed, 3),
                    eta_s=round(left / fps, 1) if fps > 0 else None,
                )
            )

        try:
            run(cmd, progress, opts.stall_timeout)
            if cmd.frames:
                try:
                    got = frame_count(prep.ff, cmd.tmp)
                except MediaError as exc:  # FFmpeg said nothing, yet its file is unreadable
                    if shutil.disk_usage(cmd.tmp.parent).free < 1_000_000:
                        raise disk_full(cmd.label, cmd.tmp.parent) from exc
                    raise FFmpegError(f"{cmd.label} wrote an unreadable file: {exc.message}", exc.hint) from exc
                if got != cmd.frames:
                    raise FFmpegError(
                        f"{cmd.label} produced {got} frames, expected {cmd.frames}",
                        "this is a vgen bug; please report it with `vgen dry-run` output",
                    )
            fsync_rename(cmd.tmp, cmd.output)
            return
        except (DiskFull, KeyboardInterrupt):
            cmd.tmp.unlink(missing_ok=True)  # a half-written piece is never left to be mistaken
            raise
        except FFmpegError as exc:
            cmd.tmp.unlink(missing_ok=True)
            if attempt == attempts:
                raise FFmpegError(
                    f"{exc.message} (after {attempts} tr{'ies' if attempts > 1 else 'y'})",
                    exc.hint,
                    exc.stderr_tail,
                    exc.command,
                ) from exc
            emit(Event("notice", f"{cmd.label}: {exc.message}; retrying ({attempt}/{opts.retries})"))


# Rough size of the encoded video at quality 21, in bits per pixel per frame (1080p30 ~ 8 Mb/s),
# doubling every 6 quality steps down; generous, since running out of disk costs more.
_BPP_AT_21 = 0.15


def estimate_bytes(plan: Plan, segments: int) -> int:
    """Disk a render needs: the segments still to render plus the joined output."""
    tl, q = plan.timeline, _quality(plan)
    per_frame = tl.width * tl.height * _BPP_AT_21 * 2 ** ((21 - q) / 6) / 8
    todo = sum(s.frames for s in plan.segments[:segments]) if segments else 0
    audio = tl.seconds * 192_000 / 8
    return int((todo + tl.total_frames) * per_frame + 2 * audio + 10_000_000)


def _quality(plan: Plan) -> int:
    args = list(plan.encoder.args)
    for flag in ("-crf", "-cq", "-qp"):
        if flag in args:
            return int(args[args.index(flag) + 1])
    return 21


def check_disk(plan: Plan, todo_segments: int) -> None:
    need = estimate_bytes(plan, todo_segments)
    for folder in {plan.work_dir, plan.output.parent}:
        free = shutil.disk_usage(_existing(folder)).free
        if free < need:
            raise DiskFull(
                f"not enough disk in {folder}: this render needs about {need / 1e9:.2f} GB, {free / 1e9:.2f} GB free",
                "free space, use --work-dir on a bigger disk, or --no-disk-check if the estimate is wrong",
            )


def _existing(p: Path) -> Path:
    while not p.exists():
        p = p.parent
    return p


def verify_output(ff: FFmpeg, path: Path, tl: Timeline) -> float:
    """Check the finished file: exact frame count and duration, audio within one frame."""
    frames = frame_count(ff, path)
    if frames != tl.total_frames:
        raise FFmpegError(f"{path}: {frames} frames, expected {tl.total_frames}", "rerun; the segments are checked")
    video_s = tl.seconds  # exact: the frame count is
    audio_s = audio_length(ff, path)
    one = float(1 / tl.fps)
    if abs(audio_s - video_s) > one:
        raise FFmpegError(
            f"{path}: video {video_s:.3f} s, audio {audio_s:.3f} s, expected {tl.seconds:.3f} s", "rerun with --fresh"
        )
    return video_s


def render(prep: Prepared, emit: Emit = null_listener, opts: Options = Options()) -> Result:
    """Render the prepared plan to its output file."""
    plan, ff, tl = prep.plan, prep.ff, prep.plan.timeline
    started = time.monotonic()
    machine.bound_arenas()  # before the render's threads start: see vgen.machine
    notices = [n for n in (plan.encoder.notice, prep.compositor_notice) if n]
    for notice in notices:
        emit(Event("notice", notice))
    notices += list(prep.warnings)
    for w in prep.warnings:
        emit(Event("notice", w))
    if prep.compositor == "raw":  # load the compiled resampler while the store is checked
        kinds = {s.trans_in.type for s in tl.slides if s.trans_in}
        threading.Thread(target=_warm, args=(kinds,), daemon=True, name="warm").start()
    store = Store(plan.work_dir)
    # A finished piece is hashed into the manifest beside the next one (under a second per GB),
    # the last one beside the join; every record is written before render() returns or raises.
    recorder = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="record")
    records: list[concurrent.futures.Future[None]] = []
    store.lock()
    try:
        store.discard_partials()
        for path, text in prep.files:
            atomic_write_text(path, text)
        n = len(plan.segments)
        todo = [
            (seg, cmd)
            for seg, cmd in zip(plan.segments, prep.segment_commands)
            if opts.fresh or not store.valid_video(ff, cmd.output, seg.frames)
        ]
        reused = n - len(todo)
        done_frames = sum(seg.frames for seg in plan.segments) - sum(seg.frames for seg, _ in todo)
        if opts.disk_check:
            check_disk(plan, len(todo))
        emit(
            Event(
                "plan",
                f"{n} segment(s), {tl.total_frames} frames, encoder {plan.encoder.name}"
                + (f", {reused} reused" if reused else ""),
                segments=n,
                total_frames=tl.total_frames,
                done_frames=done_frames,
                reused=reused,
            )
        )
        lock = threading.Lock()
        running: dict[int, int] = {}
        finished = [done_frames]

        def tally() -> int:  # frames done in the whole render; the caller holds `lock`
            return finished[0] + sum(running.values())

        def overall(index: int, frames: int) -> int:
            with lock:
                running[index] = frames
                return tally()

        def done_so_far(_: int = 0) -> int:
            with lock:
                return tally()

        def one(seg: Segment, cmd: Command) -> None:
            base = Event("segment", cmd.label, seg.index, n, 0, seg.frames, finished[0], tl.total_frames, reused=reused)
            _run_checked(prep, cmd, emit, opts, base, lambda f: overall(seg.index, f))
            records.append(recorder.submit(store.record_piece, cmd.output, _piece(seg)))
            with lock:
                running.pop(seg.index, None)
                finished[0] += seg.frames
                total_done = tally()
            emit(
                Event(
                    "segment",
                    f"{cmd.label} done",
                    seg.index,
                    n,
                    seg.frames,
                    seg.frames,
                    total_done,
                    tl.total_frames,
                    reused=reused,
                )
            )

        # The audio track needs none of the video: it renders beside it where a core is spare (on a
        # GPU box, for free), else first. Either way a failure is raised once the segments are done.
        sound = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio")
        audio_base = Event("audio", "audio", total_frames=tl.total_frames, segments=n, reused=reused)
        audio_done = sound.submit(_render_audio, prep, store, emit, opts, audio_base, done_so_far)
        if not audio_beside_video():
            concurrent.futures.wait([audio_done])
        try:
            _run_all(one, todo, opts.jobs)
        finally:
            sound.shutdown(wait=True)  # a stop reaches its FFmpeg too (runner.request_stop)
        audio_done.result()
        emit(
            Event(
                "audio",
                "audio ready",
                done_frames=tl.total_frames,
                total_frames=tl.total_frames,
                segments=n,
                reused=reused,
            )
        )

        atomic_write_text(
            commands.join_list_path(plan), commands.concat_list([c.output for c in prep.segment_commands])
        )
        jcmd = prep.join_command
        jcmd.output.parent.mkdir(parents=True, exist_ok=True)
        run(jcmd, None, opts.stall_timeout)
        emit(Event("verify", "checking the output", done_frames=tl.total_frames, total_frames=tl.total_frames))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fsync") as disk:
            synced = disk.submit(fsync_file, jcmd.tmp)  # to disk while it is checked
            duration = verify_output(ff, jcmd.tmp, tl)
            synced.result()
        for r in records:
            r.result()
        fsync_rename(jcmd.tmp, jcmd.output)
        for path, text in prep.sidecars:  # after the video: a sidecar never describes a video not there
            atomic_write_text(path, text)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"the disk is full ({exc.filename or plan.work_dir})",
                "free space and run the same command: finished segments are kept",
            ) from exc
        raise
    finally:
        recorder.shutdown(wait=True)  # checked pieces are recorded even when a later step fails
        prep.join_command.tmp.unlink(missing_ok=True)
        store.unlock()
    result = Result(
        plan.output,
        tl.total_frames,
        duration,
        plan.encoder.name,
        n,
        reused,
        time.monotonic() - started,
        plan.output.stat().st_size,
        notices,
        [path for path, _ in prep.sidecars],
    )
    emit(
        Event(
            "done",
            str(plan.output),
            segments=n,
            done_frames=tl.total_frames,
            total_frames=tl.total_frames,
            reused=reused,
        )
    )
    return result


def audio_beside_video() -> bool:
    """Render the audio track beside the video segments only where a core is spare (3 or more).
    On 2 cores the composer and the encoder keep both busy: beside them the audio took as long in
    all (10 minutes of 640x360: 52.2 s against 51.6 s first, medians of 3 pairs), and its encoder
    (~55 MB RSS) added to the peak memory for as long as it ran (~12 s for 60 minutes)."""
    return machine.usable_cores() > 2


def _render_audio(
    prep: Prepared, store: Store, emit: Emit, opts: Options, base: Event, overall: Callable[[int], int]
) -> None:
    """The audio piece (loudness scan first when the spec asks for it), unless a checked one is kept.
    `overall()` gives the video frames done so far, for the progress events."""
    plan, ff, tl = prep.plan, prep.ff, prep.plan.timeline
    acmd = prep.audio_command
    if not opts.fresh and store.valid_audio(ff, acmd.output, tl.seconds, float(1 / tl.fps)):
        return
    base = dataclasses.replace(base, done_frames=overall(0))
    if plan.audio.loudness is not None:
        scan = commands.loudness_command(ff, plan)
        emit(dataclasses.replace(base, message="loudness scan"))
        measured = audio.parse_loudnorm(run(scan, None, opts.stall_timeout).stderr_tail)
        acmd = commands.audio_command(ff, plan, measured)
    _run_checked(prep, acmd, emit, opts, base, overall)
    store.record_piece(acmd.output, {"key": plan.audio.key, "samples": plan.audio.samples})


def _warm(kinds: set[str]) -> None:
    from vgen.picture import canvas, rgbyuv, transitions, warp

    warp.warm()
    transitions.warm(kinds)
    if canvas.engine():
        rgbyuv.warm()
    _freeze_once()


@functools.cache
def _freeze_once() -> None:
    """numba leaves ~100,000 objects behind; every full collection during a render walked them all
    (~0.25 ms a frame at 1080p). They live as long as the process: out of the collector's way. Once
    per process: a worker serving job after job must not freeze each job's own objects too (frozen
    reference cycles are never collected)."""
    gc.freeze()


def _run_all(fn: Callable[[Segment, Command], None], todo: list[tuple[Segment, Command]], jobs: int) -> None:
    """Run segments, up to `jobs` at once; the first failure stops the rest (finished ones stay)."""
    if jobs <= 1:
        for seg, cmd in todo:
            fn(seg, cmd)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="segment") as pool:
        futures = [pool.submit(fn, seg, cmd) for seg, cmd in todo]
        try:
            for fut in concurrent.futures.as_completed(futures):
                fut.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _piece(seg: Segment) -> dict[str, Any]:
    return {"key": seg.key, "first": seg.first, "end": seg.end, "frames": seg.frames}


def render_spec(
    spec_path: str | Path, emit: Emit = null_listener, opts: Options = Options(), ff: FFmpeg | None = None
) -> Result:
    return render(prepare(spec_path, ff or find_ffmpeg(), opts.work_dir), emit, opts)


def render_pieces(
    prep: Prepared, indices: range, emit: Emit = null_listener, opts: Options = Options()
) -> list[tuple[Segment, Path]]:
    """Only the segments `indices` of the plan, each checked and recorded in the store as `render`
    does, with no audio and no join: a chunk of a render fanned out over several machines
    (vgen.remote.fanout). Progress counts the chunk's frames. Returns each segment with its file."""
    plan, ff = prep.plan, prep.ff
    machine.bound_arenas()
    todo = [(plan.segments[i], prep.segment_commands[i]) for i in indices]
    total = sum(seg.frames for seg, _ in todo)
    store = Store(plan.work_dir)
    store.lock()
    try:
        store.discard_partials()
        for path, text in prep.files:
            atomic_write_text(path, text)
        done = 0
        n = len(plan.segments)
        emit(Event("plan", f"segments {indices.start + 1}-{indices.stop} of {n}", segments=n, total_frames=total))
        for seg, cmd in todo:
            if not opts.fresh and store.valid_video(ff, cmd.output, seg.frames):
                done += seg.frames
                continue
            base = Event("segment", cmd.label, seg.index, n, 0, seg.frames, done, total)
            _run_checked(prep, cmd, emit, opts, base, functools.partial(operator.add, done))
            store.record_piece(cmd.output, _piece(seg))
            done += seg.frames
            emit(Event("segment", f"{cmd.label} done", seg.index, n, seg.frames, seg.frames, done, total))
    finally:
        store.unlock()
    return [(seg, cmd.output) for seg, cmd in todo]


def render_audio_piece(prep: Prepared, emit: Emit = null_listener, opts: Options = Options()) -> Path:
    """Only the audio track of the plan, checked and recorded in the store (see `render_pieces`)."""
    tl = prep.plan.timeline
    store = Store(prep.plan.work_dir)
    store.lock()
    try:
        store.discard_partials()
        base = Event("audio", "audio", total_frames=tl.total_frames)
        _render_audio(prep, store, emit, opts, base, lambda f: f)
    finally:
        store.unlock()
    return prep.audio_command.output
