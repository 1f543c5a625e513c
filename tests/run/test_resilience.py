"""Never lose a long render: resume after kill -9, checked reuse, edits, watchdog, disk, jobs, lock."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vgen.errors import FFmpegError
from vgen.ffmpeg.probe import audio_length
from vgen.pipeline import default_work_dir, prepare
from vgen.run.render import Options, render, verify_output
from vgen.run.store import Store

from helpers import base_spec, framemd5, vgen, write_spec


def long_spec(media, tmp_path, n=8, out="out.mp4", segment_s=1.0):
    spec = base_spec(out=out, seconds=segment_s)
    pics = [media["land"], media["land2"], media["square"], media["portrait"]]
    spec["defaults"] = {"duration": 1.0, "transition": {"type": "fade", "duration": 0.4}}
    spec["slides"] = [{"image": str(pics[i % 4])} for i in range(n)]
    return write_spec(tmp_path, spec)


def recorded(work: Path) -> list[str]:
    """The finished pieces the manifest records."""
    try:
        return list(json.loads((work / "manifest.json").read_text())["pieces"])
    except (OSError, ValueError, KeyError):
        return []


def pieces(work: Path) -> list[str]:
    """The finished video segments (the audio piece renders beside them)."""
    return [k for k in recorded(work) if k.startswith("seg-")]


def no_ffmpeg_on(work: Path, wait: float = 3.0) -> bool:
    deadline = time.monotonic() + wait
    while subprocess.run(["pgrep", "-f", str(work)], capture_output=True).stdout.strip():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.slow
def test_kill_9_mid_render_then_resume_is_identical(ff, media, tmp_path):
    spec = long_spec(media, tmp_path / "a", n=12)
    reference = render(prepare(long_spec(media, tmp_path / "ref", n=12), ff))
    work = default_work_dir((tmp_path / "a" / "out.mp4").resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "vgen", "render", "--quiet", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(pieces(work)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    done_before = len(pieces(work))
    assert 3 <= done_before < 12, "the kill must land mid-render"
    assert not (tmp_path / "a" / "out.mp4").exists()
    assert no_ffmpeg_on(work)  # FFmpeg children die with their parent (PR_SET_PDEATHSIG)

    resumed = render(prepare(spec, ff))
    assert resumed.segments_reused >= done_before
    assert framemd5(ff, resumed.output) == framemd5(ff, reference.output)


@pytest.mark.slow
def test_damaged_segments_are_detected_and_redone(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=6)
    first = render(prepare(spec, ff))
    work = default_work_dir(first.output)
    segs = sorted(work.glob("seg-*.mp4"))
    with segs[1].open("r+b") as f:  # truncated
        f.truncate(segs[1].stat().st_size // 2)
    data = bytearray(segs[2].read_bytes())  # one flipped byte in the middle: still "a file"
    data[len(data) // 2] ^= 0xFF
    segs[2].write_bytes(bytes(data))
    again = render(prepare(spec, ff))
    assert again.segments_reused == again.segments - 2
    assert framemd5(ff, again.output) == framemd5(ff, first.output)


@pytest.mark.slow
def test_piece_without_manifest_entry_is_decoded_before_reuse(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=4)
    first = render(prepare(spec, ff))
    work = default_work_dir(first.output)
    (work / "manifest.json").unlink()  # as after a crash between rename and record
    again = render(prepare(spec, ff))
    assert again.segments_reused == again.segments


@pytest.mark.slow
def test_a_kept_audio_piece_of_the_wrong_length_is_redone_and_a_short_output_refused(ff, media, tmp_path):
    """The audio piece and the output are checked by the length their MP4 boxes give (no decode):
    a recorded piece that lasts too little is rendered again, and an output whose audio is too
    short never replaces the old one."""
    spec = long_spec(media, tmp_path, n=4)
    first = render(prepare(spec, ff))
    work = default_work_dir(first.output)
    piece = next(work.glob("audio-*.m4a"))
    short = tmp_path / "short.m4a"
    subprocess.run([ff.path, "-v", "error", "-i", str(piece), "-t", "2", "-c", "copy", str(short)], check=True)
    shutil.copy(short, piece)
    store = Store(work)
    store.record_piece(piece, {})  # recorded as it is now: only its length can tell
    assert not store.valid_audio(ff, piece, first.duration_s, 0.1)
    again = render(prepare(spec, ff))
    assert abs(audio_length(ff, again.output) - again.duration_s) < 0.05
    assert abs(audio_length(ff, piece) - again.duration_s) < 0.05

    joined = tmp_path / "joined.mp4"
    subprocess.run(
        [
            ff.path,
            "-v",
            "error",
            "-i",
            str(again.output),
            "-i",
            str(short),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c",
            "copy",
            str(joined),
        ],
        check=True,
    )
    with pytest.raises(FFmpegError, match="audio 2.0"):
        verify_output(ff, joined, prepare(spec, ff).plan.timeline)


@pytest.mark.slow
def test_an_edit_rerenders_only_the_touched_segments(ff, media, tmp_path):
    folder = tmp_path / "edit"
    folder.mkdir()
    pics = []
    for i in range(10):
        p = folder / f"{i}.jpg"
        shutil.copy(media["land"] if i % 2 else media["land2"], p)
        pics.append(p)
    spec = base_spec(seconds=1.0)
    spec["defaults"] = {"duration": 1.0, "transition": {"type": "fade", "duration": 0.4}}
    spec["slides"] = [{"image": str(p)} for p in pics]
    path = write_spec(folder, spec)
    first = render(prepare(path, ff))
    before = framemd5(ff, first.output)
    plan = prepare(path, ff).plan
    touched = [s.index for s in plan.segments if 6 in s.slides]
    shutil.copy(media["square"], pics[6])  # same name, new content
    second_prep = prepare(path, ff)
    second = render(second_prep)
    assert second.segments - second.segments_reused == len(touched) == 2
    audio = second_prep.audio_command.output
    assert audio == prepare(path, ff).audio_command.output and audio.exists()  # audio unchanged: reused
    after = framemd5(ff, second.output)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert changed and all(plan.segments[t].first <= changed[0] for t in touched[:1])
    assert changed[-1] < plan.segments[touched[-1]].end  # nothing after the touched segments moved


def _hanging_ffmpeg(ff, tmp_path: Path, marker: Path) -> Path:
    """A stand-in FFmpeg: the first segment run hangs (no progress), everything else is real."""
    script = tmp_path / "ffmpeg-hangs"
    script.write_text(f"""#!/usr/bin/env bash
for a in "$@"; do
  case "$a" in *seg-*.partial)
    if [ ! -e {marker} ]; then touch {marker}; exec sleep 600; fi;;
  esac
done
exec {ff.path} "$@"
""")
    script.chmod(0o755)
    return script


@pytest.mark.slow
def test_watchdog_kills_a_hanging_ffmpeg_and_retries(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=3)
    marker = tmp_path / "hung-once"
    env = {"VGEN_FFMPEG": str(_hanging_ffmpeg(ff, tmp_path, marker)), "VGEN_FFPROBE": ff.ffprobe or ""}
    started = time.monotonic()
    r = vgen("render", "--stall-timeout", "2", spec, env=env)
    assert r.returncode == 0, r.stderr
    assert marker.exists() and time.monotonic() - started < 60
    assert "no progress for 2 s" in r.stderr and "retrying" in r.stderr


@pytest.mark.slow
def test_failure_after_retries_names_segment_command_and_stderr(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=3)
    marker = tmp_path / "hung-once"
    env = {"VGEN_FFMPEG": str(_hanging_ffmpeg(ff, tmp_path, marker)), "VGEN_FFPROBE": ff.ffprobe or ""}
    r = vgen("render", "--stall-timeout", "1", "--retries", "0", spec, env=env)
    assert r.returncode == 1
    assert "segment 1: FFmpeg made no progress for 1 s" in r.stderr and "command: " in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_sigterm_stops_ffmpeg_keeps_segments_and_resume_finishes(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=12)
    work = default_work_dir((tmp_path / "out.mp4").resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "vgen", "render", "--quiet", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(pieces(work)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and "interrupted" in err
    kept = len(pieces(work))
    assert kept >= 2 and not list(work.glob(".*.partial"))
    assert any(k.startswith("audio-") for k in recorded(work))  # rendered beside the first segments, kept
    assert no_ffmpeg_on(work)
    assert render(prepare(spec, ff)).segments_reused >= kept


@pytest.mark.slow
def test_jobs_2_equals_jobs_1(ff, media, tmp_path):
    one = render(prepare(long_spec(media, tmp_path / "one", n=8), ff), opts=Options(jobs=1))
    two = render(prepare(long_spec(media, tmp_path / "two", n=8), ff), opts=Options(jobs=2))
    assert one.segments == two.segments >= 6
    assert framemd5(ff, one.output) == framemd5(ff, two.output)


@pytest.mark.slow
def test_second_render_on_the_same_store_is_refused(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=12)
    work = default_work_dir((tmp_path / "out.mp4").resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "vgen", "render", "--quiet", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (work / ".lock").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    r = vgen("render", spec)
    proc.wait(timeout=120)
    assert r.returncode == 2 and "is in use by another vgen render" in r.stderr
    assert proc.returncode == 0


@pytest.mark.slow
def test_clean_removes_the_store(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=3)
    r = render(prepare(spec, ff))
    work = default_work_dir(r.output)
    assert work.exists()
    c = vgen("clean", spec)
    assert c.returncode == 0 and "removed" in c.stdout and not work.exists() and r.output.exists()
    assert render(prepare(spec, ff)).segments_reused == 0


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_too_small_is_refused_before_starting(ff, media, tmp_path, tiny_disk):
    spec = long_spec(media, tmp_path, n=8, out=str(tiny_disk / "out.mp4"))
    r = vgen("render", spec)
    assert r.returncode == 1 and "not enough disk in" in r.stderr and "GB free" in r.stderr
    assert not list(tiny_disk.rglob("seg-*"))


@pytest.mark.slow
def test_disk_full_mid_render_is_reported_and_store_stays_usable(ff, media, tmp_path, tiny_disk):
    spec = base_spec(out=str(tiny_disk / "out.mp4"), w=320, h=180, fps=25, seconds=1.0)
    spec["output"]["quality"] = 0  # lossless: big enough to fill 600 kB
    spec["slides"] = [{"image": str(media["huge"]), "duration": 2.0, "ken_burns": "zoom-in"}] * 3
    path = write_spec(tmp_path, spec)
    r = vgen("render", "--no-disk-check", "--retries", "0", path)
    assert r.returncode == 1 and "the disk is full" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    work = default_work_dir(Path(tiny_disk / "out.mp4"))
    assert not list(work.glob(".*.partial"))  # no half-written piece left to be mistaken
    kept = pieces(work)
    # Room again (here: a bigger tmpfs size): the same command resumes from the finished pieces.
    subprocess.run(["mount", "-o", "remount,size=50m", str(tiny_disk)], check=True)
    r2 = vgen("render", "--quiet", path)
    assert r2.returncode == 0, r2.stderr
    assert len(kept) >= 1


def test_manifest_survives_parallel_records(tmp_path):
    """--jobs records pieces from several threads at once: no entry may be lost."""
    import threading

    from vgen.run.store import Store

    store = Store(tmp_path)
    pieces_dir = tmp_path
    files = []
    for i in range(16):
        f = pieces_dir / f"seg-{i:05d}-x.mp4"
        f.write_bytes(b"x" * (i + 1))
        files.append(f)
    threads = [threading.Thread(target=store.record_piece, args=(f, {"i": i})) for i, f in enumerate(files)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.manifest()["pieces"]) == 16


@pytest.mark.slow
def test_clean_removes_only_store_files(ff, media, tmp_path):
    spec = long_spec(media, tmp_path, n=3)
    r = render(prepare(spec, ff))
    c = vgen("clean", spec, "--work-dir", tmp_path)  # pointed at the project folder by mistake
    assert c.returncode == 2 and "does not look like a vgen store" in c.stderr
    assert spec.exists() and r.output.exists()


@pytest.mark.slow
def test_a_rerender_from_kept_pieces_writes_the_same_bytes(ff, media, tmp_path):
    """A job sent again re-joins its kept pieces; the joined file is byte-identical (not just the same
    frames), so an upload keyed by the file's sha256 resumes where the first one stopped."""
    spec = long_spec(media, tmp_path, n=4)
    first = render(prepare(spec, ff))
    digest = hashlib.sha256(first.output.read_bytes()).hexdigest()
    os.utime(first.output, (1, 1))
    again = render(prepare(spec, ff))
    assert again.segments_reused == again.segments
    assert hashlib.sha256(again.output.read_bytes()).hexdigest() == digest
