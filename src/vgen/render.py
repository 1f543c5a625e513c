"""Plan -> segments -> audio -> join -> verify: the one place where renders happen.

`prepare` builds everything `dry-run` prints; `render` runs exactly those commands, reusing
checked pieces from the store, retrying failed or stalled runs, and renames the output into
place only after its frames, duration and audio length are verified.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vgen import commands
from vgen.checkpoint import Store, atomic_write_text, fsync_rename
from vgen.commands import Command
from vgen.encoders import choose
from vgen.errors import FFmpegError, SpecError
from vgen.ffmpeg import FFmpeg, find_ffmpeg, xfade_transitions
from vgen.plan import Plan, Segment, build_plan, file_digest
from vgen.probe import audio_seconds, count_frames
from vgen.progress import Emit, Event, null_listener
from vgen.runner import run
from vgen.spec import LoadedSpec, load_spec
from vgen.timeline import Timeline, load_timeline


@dataclass(frozen=True)
class Prepared:
    loaded: LoadedSpec
    ff: FFmpeg
    plan: Plan
    segment_commands: tuple[Command, ...]
    audio_command: Command
    join_command: Command


@dataclass(frozen=True)
class Options:
    work_dir: Path | None = None
    fresh: bool = False
    retries: int = 2
    stall_timeout: float = 120.0


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

    @property
    def realtime_factor(self) -> float:
        """Seconds of video rendered per second of wall time."""
        return self.duration_s / self.render_s if self.render_s > 0 else 0.0


def default_work_dir(output: Path) -> Path:
    return output.parent / f".{output.stem}.vgen"


def check_transitions(loaded: LoadedSpec, tl: Timeline, ff: FFmpeg) -> None:
    used = {s.trans_in.type for s in tl.slides if s.trans_in}
    if not used:
        return
    known = xfade_transitions(ff)
    for s in tl.slides:
        if s.trans_in and s.trans_in.type not in known:
            where = loaded.where(("slides", s.index, "transition", "type"))
            raise SpecError(f"{where}: FFmpeg {ff.version} has no xfade transition {s.trans_in.type!r}",
                            "pick another transition, or use a newer FFmpeg (VGEN_FFMPEG)")


def prepare(spec_path: str | Path, ff: FFmpeg | None = None, work_dir: Path | None = None) -> Prepared:
    """Everything a render will run, computed without running it (dry-run prints this)."""
    loaded = load_spec(spec_path)
    ff = ff or find_ffmpeg()
    tl = load_timeline(loaded, ff)
    check_transitions(loaded, tl, ff)
    encoder = choose(ff, loaded.spec.output, tl.fps)
    output = loaded.output_path.resolve()
    work = (work_dir or default_work_dir(output)).resolve()
    plan = build_plan(tl, loaded.spec.segments.seconds, encoder, ff.version, output, work, file_digest)
    segs = tuple(commands.segment_command(ff, plan, s) for s in plan.segments)
    return Prepared(loaded, ff, plan, segs, commands.audio_command(ff, plan), commands.join_command(ff, plan))


def _run_checked(prep: Prepared, cmd: Command, emit: Emit, opts: Options, base: Event) -> None:
    """Run with retries; a piece counts only when its output is checked, then renamed atomically."""
    tl = prep.plan.timeline
    attempts = opts.retries + 1
    for attempt in range(1, attempts + 1):
        started = time.monotonic()

        def progress(frames: int, out_s: float, speed: float) -> None:
            done = frames if cmd.frames else round(out_s * float(tl.fps))
            elapsed = max(time.monotonic() - started, 1e-6)
            fps = done / elapsed
            left = (cmd.frames or round(cmd.seconds * float(tl.fps))) - done
            emit(Event(**{**base.__dict__, "time": time.time(), "frames": done,
                          "done_frames": base.done_frames + (done if base.stage == "segment" else 0),
                          "fps": round(fps, 2), "speed": round(speed, 3),
                          "eta_s": round(left / fps, 1) if fps > 0 else None}))

        try:
            run(cmd, progress, opts.stall_timeout)
            if cmd.frames:
                got, _ = count_frames(prep.ff, cmd.tmp)
                if got != cmd.frames:
                    raise FFmpegError(f"{cmd.label} produced {got} frames, expected {cmd.frames}",
                                      "this is a vgen bug; please report it with `vgen dry-run` output")
            fsync_rename(cmd.tmp, cmd.output)
            return
        except FFmpegError as exc:
            cmd.tmp.unlink(missing_ok=True)
            if attempt == attempts:
                raise FFmpegError(
                    f"{exc.message} (after {attempts} tr{'ies' if attempts > 1 else 'y'})",
                    exc.hint, exc.stderr_tail, exc.command,
                ) from exc
            emit(Event("notice", f"{cmd.label}: {exc.message}; retrying ({attempt}/{opts.retries})"))


def verify_output(ff: FFmpeg, path: Path, tl: Timeline) -> float:
    """Check the finished file: exact frame count and duration, audio within one frame."""
    frames, _ = count_frames(ff, path)
    if frames != tl.total_frames:
        raise FFmpegError(f"{path}: {frames} frames, expected {tl.total_frames}", "rerun; the segments are checked")
    video_s = tl.seconds  # exact: the frame count is
    audio_s = audio_seconds(ff, path)
    one = float(1 / tl.fps)
    if abs(audio_s - video_s) > one:
        raise FFmpegError(f"{path}: video {video_s:.3f} s, audio {audio_s:.3f} s, expected {tl.seconds:.3f} s",
                          "rerun with --fresh")
    return video_s


def render(prep: Prepared, emit: Emit = null_listener, opts: Options = Options()) -> Result:
    """Render the prepared plan to its output file."""
    plan, ff, tl = prep.plan, prep.ff, prep.plan.timeline
    started = time.monotonic()
    notices = [plan.encoder.notice] if plan.encoder.notice else []
    for n in notices:
        emit(Event("notice", n))
    store = Store(plan.work_dir)
    store.lock()
    try:
        store.discard_partials()
        n, done, reused = len(plan.segments), 0, 0
        emit(Event("plan", f"{n} segment(s), {tl.total_frames} frames, encoder {plan.encoder.name}",
                   segments=n, total_frames=tl.total_frames))
        for seg, cmd in zip(plan.segments, prep.segment_commands):
            base = Event("segment", cmd.label, seg.index, n, 0, seg.frames, done, tl.total_frames, reused=reused)
            if not opts.fresh and store.valid_video(ff, cmd.output, seg.frames):
                reused += 1
                done += seg.frames
                emit(Event("segment", f"{cmd.label} reused", seg.index, n, seg.frames, seg.frames, done,
                           tl.total_frames, reused=reused))
                continue
            _run_checked(prep, cmd, emit, opts, base)
            store.record(cmd.output.name, _piece(seg))
            done += seg.frames
            emit(Event("segment", f"{cmd.label} done", seg.index, n, seg.frames, seg.frames, done,
                       tl.total_frames, reused=reused))

        acmd = prep.audio_command
        if opts.fresh or not store.valid_audio(ff, acmd.output, tl.seconds, float(1 / tl.fps)):
            _run_checked(prep, acmd, emit, opts, Event("audio", "audio", total_frames=tl.total_frames,
                                                       done_frames=done, segments=n, reused=reused))
            store.record(acmd.output.name, {"key": plan.audio.key, "samples": plan.audio.samples})
        emit(Event("audio", "audio ready", done_frames=done, total_frames=tl.total_frames, segments=n, reused=reused))

        atomic_write_text(commands.join_list_path(plan), commands.concat_list([c.output for c in prep.segment_commands]))
        jcmd = prep.join_command
        jcmd.output.parent.mkdir(parents=True, exist_ok=True)
        run(jcmd, None, opts.stall_timeout)
        emit(Event("verify", "checking the output", done_frames=done, total_frames=tl.total_frames))
        duration = verify_output(ff, jcmd.tmp, tl)
        fsync_rename(jcmd.tmp, jcmd.output)
    finally:
        prep.join_command.tmp.unlink(missing_ok=True)
        store.unlock()
    result = Result(plan.output, tl.total_frames, duration, plan.encoder.name, n, reused,
                    time.monotonic() - started, plan.output.stat().st_size, notices)
    emit(Event("done", str(plan.output), segments=n, done_frames=tl.total_frames, total_frames=tl.total_frames,
               reused=reused))
    return result


def _piece(seg: Segment) -> dict:
    return {"key": seg.key, "first": seg.first, "end": seg.end, "frames": seg.frames}


def render_spec(spec_path: str | Path, emit: Emit = null_listener, opts: Options = Options(),
                ff: FFmpeg | None = None) -> Result:
    return render(prepare(spec_path, ff or find_ffmpeg(), opts.work_dir), emit, opts)
