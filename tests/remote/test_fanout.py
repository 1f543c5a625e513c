"""One video fanned out over three worker processes running the real runpod SDK loop: jobs from the
control-plane stand-in (tests/remote/plane.py), pieces in moto's S3 server, the video uploaded to
the TUS server; the result against a one-machine render of the same spec."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from plane import STORAGE_KEY, ControlPlane
from servers import s3_server, tus_installed, tus_server

from vgen.remote.parts import Costs, chunk_ranges, model_wall_s

from helpers import base_spec, framemd5, vgen, write_spec

ROOT = Path(__file__).resolve().parents[2]
TUS_KEY = "service-role-key-for-tests"
WORKERS = 3

# The fan-out tests start three workers and render several videos: they run on the system FFmpeg
# only, not again with the wheel's (VGEN_FFMPEG), to keep `make test` within its time; the job
# kinds and the join are FFmpeg-independent code, and the pure rules below run on both.
# One xdist process runs the whole module (`--dist loadgroup` in the Makefile): its three workers and
# servers start once, and the two renders that share a work area never run beside each other's farm.
pytestmark = pytest.mark.xdist_group("fanout")
heavy = pytest.mark.skipif(
    "imageio_ffmpeg" in os.environ.get("VGEN_FFMPEG", ""), reason="fan-out runs on one FFmpeg (see above)"
)


# --- pure rules -------------------------------------------------------------------------------------


def test_chunks_cover_every_segment_in_order_and_balance_frames():
    assert chunk_ranges([5] * 10, 10, 3) == [(0, 3), (3, 6), (6, 10)] or chunk_ranges([5] * 10, 10, 3) == [
        (0, 4),
        (4, 7),
        (7, 10),
    ]
    for frames, workers in [([5] * 10, 3), ([1, 100, 1, 1], 2), ([7], 8), ([3] * 40, 16), ([10] * 5, 5)]:
        ranges = chunk_ranges(frames, 10, workers)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(frames)
        assert all(a < b for a, b in ranges) and all(r[1] == s[0] for r, s in zip(ranges, ranges[1:]))
        assert len(ranges) == min(len(frames), workers)
    # a long video gets chunks short enough for RunPod's default execution timeout
    long = chunk_ranges([600] * 120, 30, 2, max_chunk_s=180)  # 40 min of 20 s segments
    assert len(long) >= 14 and max(sum([600] * (b - a)) for a, b in long) / 30 <= 200


def test_the_model_falls_with_workers_and_counts_the_join():
    costs = Costs(dispatch_s=2.0, download_s_per_gb=10, upload_s_per_gb=10, join_s_per_gb=2, fetch_s_per_gb=10)
    walls = [model_wall_s(3600, n, 300, 30, 1e6, 1.0, costs) for n in (1, 2, 4, 8, 16)]
    assert walls == sorted(walls, reverse=True)
    assert walls[-1] > 3.6 * (10 + 2 + 10)  # the join of 3.6 GB stays, whatever the workers


# --- the fan-out through the SDK's worker loop ------------------------------------------------------


@pytest.fixture(scope="module")
def tus(tmp_path_factory):
    if not tus_installed():
        pytest.fail("run `make setup` first: tests/tus needs `npm install` (the Makefile does it)")
    store = tmp_path_factory.mktemp("tus-store")
    with tus_server(store, TUS_KEY) as url:
        yield url, store


@pytest.fixture(scope="module")
def s3():
    with s3_server("work") as served:
        yield served


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG (Linux): the worker is killed when the test process dies, however it dies."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Workers:
    """`vgen serve-runpod` processes taking jobs from the plane, each with its own disk."""

    def __init__(self, plane: ControlPlane, env: dict[str, str], root: Path) -> None:
        self.plane, self.env, self.root = plane, env, root
        self.procs: dict[int, subprocess.Popen] = {}

    def start(self, i: int) -> None:
        name = f"worker-{i}"
        env = {**os.environ, **self.env, **self.plane.worker_env(name), "VGEN_WORK_ROOT": str(self.root / name)}
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "vgen", "serve-runpod"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # a pytest killed outright leaves no worker behind
        )

    def kill(self, i: int) -> None:
        """kill -9 of the worker and of its FFmpeg children (a machine gone, not a stopped program)."""
        os.killpg(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait()

    def index_of(self, worker: str) -> int:
        return int(worker.rsplit("-", 1)[1])

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # idle workers: nothing to finish
            p.wait()


@pytest.fixture(scope="module")
def farm(tus, s3, tmp_path_factory):
    """The plane, three workers and the caller's environment, shared by the module's tests."""
    plane = ControlPlane()
    env = {
        "VGEN_ALLOWED_ASSET_HOSTS": "127.0.0.1",
        "SUPABASE_URL": tus[0],
        "SUPABASE_SERVICE_ROLE_KEY": TUS_KEY,
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
        "VGEN_WORK_BUCKET": "work",
        **s3[1],
    }
    workers = Workers(plane, env, tmp_path_factory.mktemp("workers"))
    for i in range(WORKERS):
        workers.start(i)
    yield plane, workers
    workers.stop()
    plane.close()


@pytest.fixture
def caller(farm, monkeypatch):
    """The caller's side: RunPod's API and the assets' Storage are the plane."""
    plane, _ = farm
    for k, v in plane.env().items():
        monkeypatch.setenv(k, v)
    from vgen.remote.client import RunPodClient, Storage

    return RunPodClient("ep1"), Storage(plane.url, STORAGE_KEY)


def spec_folder(ff, folder: Path, slides: int = 6) -> Path:
    """A spec with captions burned in, music and a fade between slides, cut in 1 s segments;
    its files named relative to it, as a job names them."""
    from vgen.tools import samples

    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        samples.photo(ff, folder / "img" / f"p{i}.jpg", 320, 180, seed=i)
    samples.music(ff, folder / "music.mp3", 3.0)
    s = base_spec(seconds=1.0)
    s["defaults"] = {"duration": 0.8, "transition": {"type": "fade", "duration": 0.3}}
    s["slides"] = [{"image": f"img/p{i * 3 // slides}.jpg", "text": f"Slide {i + 1}"} for i in range(slides)]
    s["subtitles"] = {"from": "text"}
    s["audio"] = {"music": {"path": "music.mp3", "fade_in": 0.5, "fade_out": 0.5}}
    return write_spec(folder, s)


def samples_of(ff, path: Path) -> bytes:
    return subprocess.run(
        [ff.path, "-v", "error", "-i", str(path), "-map", "0:a", "-f", "s16le", "-"], capture_output=True, check=True
    ).stdout


def local_render(spec: Path, tmp: Path) -> Path:
    from vgen.run.render import Options, render_spec

    return render_spec(spec, opts=Options(work_dir=tmp / "local-store")).output


def stored(tus, path: str) -> Path:
    return tus[1] / f"videos/{path}".replace("/", "__")


def fan_out(caller, spec: Path, path: str, **over):
    client, storage = caller
    options = {
        "workers": WORKERS,
        "asset_bucket": "assets",
        "output": {"bucket": "videos", "path": path},
        "work": {"target": "s3", "bucket": "work"},
    } | over
    return client.render(spec, storage, **options)


@pytest.fixture(scope="module")
def reference(ff, tmp_path_factory):
    """The spec and its one-machine render."""
    folder = tmp_path_factory.mktemp("fan")
    spec = spec_folder(ff, folder)
    return spec, local_render(spec, folder)


@heavy
@pytest.mark.slow
def test_a_fanned_out_render_is_identical_to_one_workers(ff, farm, caller, reference, tus, s3, tmp_path):
    """The fan-out, interrupted once a chunk is done (the caller's process dies) and resumed from
    its saved state, against a one-machine render: the same frames, the same samples."""
    plane, _ = farm
    spec, local = reference

    class Died(Exception):
        pass

    before: list[dict] = []

    def die_after_a_chunk(p: dict) -> None:
        before.append(p)
        if p["done"] >= 1:
            raise Died

    state = tmp_path / "state.json"
    job = fan_out(caller, spec, "fan/ep-1.mp4", state_path=state, price_per_gpu_second=0.0003)
    with pytest.raises(Died):
        job.wait(on_progress=die_after_a_chunk)
    # the restarted caller: `vgen render --runpod ... --state` resumes the saved state
    r = vgen("render", spec, "--runpod", "ep1", "--state", state, "--json", env=plane.env())
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    seen, result = lines[:-1], lines[-1]
    out = stored(tus, "fan/ep-1.mp4")
    assert framemd5(ff, out) == framemd5(ff, local)
    assert samples_of(ff, out) == samples_of(ff, local)
    assert result["frames"] == len(framemd5(ff, local)) and result["path"] == "fan/ep-1.mp4"
    chunks = result["chunks"]
    assert len(chunks) == WORKERS and sum(c["frames"] for c in chunks) == result["frames"]
    assert result["gpu_s"] > 0 and result["cost"] == round(result["gpu_s"] * 0.0003, 4) and result["wall_s"] > 0
    kinds = plane.kinds()
    assert kinds.count("plan") == 1 and kinds.count("audio") == 1 and kinds.count("join") == 1
    assert kinds.count("chunk") == len(chunks)  # none sent twice: the resumed handle polled those in flight
    assert len({w for j, w in plane.taken if plane.jobs[j]["input"].get("kind") == "chunk"}) >= 2
    # a chunk downloads only the pictures its segments show
    chunk_inputs = [plane.jobs[j]["input"] for j in plane.jobs if plane.jobs[j]["input"].get("kind") == "chunk"]
    assert any(len([n for n in c["assets"] if n.startswith("img/")]) < 3 for c in chunk_inputs)
    assert all("music.mp3" not in c["assets"] for c in chunk_inputs)
    # one progress stream over all jobs
    last = seen[-1]
    assert last["stage"] == "done" and last["frames"] == result["frames"] and last["done"] == len(chunks)
    # (a chunk renders for seconds and the caller polls every 0.2 s: before the first one is done the
    # stream has shown it running; after the restart all may be done at the first poll)
    assert any(p["running"] for p in before) and all({"fps", "eta_s", "queued"} <= set(p) for p in before + seen)
    # the work area is gone after the upload
    assert s3[0].list_objects_v2(Bucket="work").get("KeyCount", 0) == 0


def _wait_for(cond, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _in_background(job):
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = job.wait()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _chunk_running(plane: ControlPlane, since: int) -> str | None:
    with plane.lock:
        for job_id, rec in list(plane.jobs.items())[since:]:
            out = rec.get("output") or {}
            if rec["input"].get("kind") == "chunk" and rec["status"] == "IN_PROGRESS" and out.get("stage") == "segment":
                return job_id
    return None


@heavy
@pytest.mark.slow
def test_cancelling_a_render_cancels_every_job(ff, farm, caller, reference):
    from vgen.remote.fanout import FanOutCancelled

    plane, workers = farm
    since = len(plane.jobs)
    job = fan_out(caller, reference[0], "fan/ep-3.mp4")
    thread, box = _in_background(job)
    _wait_for(lambda: _chunk_running(plane, since) is not None, what="a chunk rendering")
    job.cancel()
    thread.join(timeout=30)
    assert isinstance(box.get("error"), FanOutCancelled)
    assert plane.running() == []
    mine = list(plane.jobs)[since:]
    assert any(plane.jobs[j]["status"] == "CANCELLED" for j in mine)

    def ffmpeg_left() -> bool:
        return bool(subprocess.run(["pgrep", "-f", str(workers.root)], capture_output=True).stdout.strip())

    _wait_for(lambda: not ffmpeg_left(), timeout=30, what="the workers' FFmpeg to stop")


@heavy
@pytest.mark.slow
def test_a_worker_killed_mid_chunk_is_replaced_then_an_edit_renders_only_its_chunk(ff, farm, caller, tmp_path, tus, s3):
    """kill -9 of a worker rendering a chunk: the chunk goes silent, is cancelled and sent again alone,
    and the video is still the one-machine render's. Its pieces are kept (keep_work), so after a
    one-slide edit the next render sends only the chunk that shows the slide (and no audio job)."""
    import yaml

    plane, workers = farm
    folder = tmp_path / "inc"
    spec = spec_folder(ff, folder)
    since = len(plane.jobs)
    # stall_s: long enough that a live chunk on a loaded 2-core machine never looks lost (a chunk
    # cancelled as stalled while alive may still upload a piece after the work area is removed)
    job = fan_out(caller, spec, "fan/ep-2.mp4", stall_s=15.0, keep_work=True)
    thread, box = _in_background(job)
    _wait_for(lambda: _chunk_running(plane, since) is not None, what="a chunk rendering")
    victim = _chunk_running(plane, since)
    worker = workers.index_of(plane.jobs[victim]["worker"])
    workers.kill(worker)
    workers.start(worker)  # RunPod replaces a lost worker
    thread.join(timeout=240)
    assert "error" not in box, box.get("error")
    first = box["result"]
    out = stored(tus, "fan/ep-2.mp4")
    local = local_render(spec, folder)
    assert framemd5(ff, out) == framemd5(ff, local) and samples_of(ff, out) == samples_of(ff, local)
    assert first["retries"] >= 1 and any("no progress" in e for c in first["chunks"] for e in c["errors"])
    assert plane.jobs[victim]["status"] == "CANCELLED" and s3[0].list_objects_v2(Bucket="work")["KeyCount"] > 0

    data = yaml.safe_load(spec.read_text())
    data["slides"][-1]["image"] = "img/p1.jpg" if data["slides"][-1]["image"] == "img/p0.jpg" else "img/p0.jpg"
    spec.write_text(yaml.safe_dump(data))
    since = len(plane.jobs)
    second = fan_out(caller, spec, "fan/ep-2.mp4").wait()
    sent = plane.kinds(since)
    assert sent.count("chunk") == 1 and "audio" not in sent and sent.count("join") == 1
    assert second["chunks_reused"] == len(second["chunks"]) - 1
    local = local_render(spec, folder)
    assert framemd5(ff, stored(tus, "fan/ep-2.mp4")) == framemd5(ff, local)
    # This time not kept: the join removed the pieces. (A job the caller cancelled as stalled while it
    # was alive, the audio mix above all, can still upload its piece afterwards: named by content,
    # harmless, reused next time; so the segment pieces must be gone.)
    left = {o["Key"].rsplit("/", 1)[1] for o in s3[0].list_objects_v2(Bucket="work").get("Contents", [])}
    assert not any(k.startswith("seg-") for k in left), left


# --- retries and cancellation, against a scripted endpoint ---------------------------------------------


class Scripted:
    """A RunPodClient stand-in whose jobs end as `outcome(input)` says, at the first poll."""

    endpoint = "ep1"

    def __init__(self, outcome) -> None:
        self.outcome, self.sent, self.cancelled = outcome, [], []

    def run(self, inp: dict) -> str:
        self.sent.append(inp)
        return f"job-{len(self.sent)}"

    def status(self, job_id: str) -> dict:
        return {"id": job_id, "executionTime": 1000} | self.outcome(self.sent[int(job_id.split("-")[1]) - 1])

    def cancel(self, job_id: str) -> dict:
        self.cancelled.append(job_id)
        return {}


def _state(retries: int = 1) -> dict:
    from vgen.remote.fanout import STATE_VERSION, _part

    piece = {"name": "audio-" + "a" * 32 + ".m4a", "size": 1, "sha256": "0" * 64, "frames": 0, "index": -1}
    parts = [_part("plan", "r-plan", assets=[]) | {"state": "done"}]
    parts.append(_part("audio", "r-audio", assets=[], frames=0) | {"state": "done", "pieces": [piece]})
    parts += [_part("chunk", f"r-c{i}", segments=[i, i + 1], frames=5, assets=[]) for i in range(3)]
    parts.append(_part("join", "r-join", assets=[]))
    return {
        "version": STATE_VERSION, "render_id": "r", "endpoint": "ep1", "spec": {}, "urls": {}, "digests": {},
        "facts": {}, "bounds": [[0, 5], [5, 10], [10, 15]], "fps": 10.0, "total_frames": 15,
        "output": {"bucket": "videos", "path": "x.mp4"}, "work": {"target": "s3", "bucket": "w", "prefix": "p"},
        "keep_work": False, "workers": 3, "retries": retries, "stall_s": 300.0, "price_per_gpu_second": None,
        "parts": parts, "started": 0.0, "wall_s": 0.0, "result": None, "cancelled": False,
    }  # fmt: skip


def _done(inp: dict) -> dict:
    if inp["kind"] == "join":
        return {"status": "COMPLETED", "output": {"bucket": "videos", "path": "x.mp4", "frames": 15}}
    a = inp["segments"][0]
    piece = {"index": a, "name": f"seg-{a:032x}.mp4", "size": 1, "sha256": "0" * 64, "frames": 5}
    return {"status": "COMPLETED", "output": {"pieces": [piece], "render_s": 0.5}}


def test_a_failed_chunk_is_sent_again_alone_and_then_named_with_ffmpegs_lines(monkeypatch):
    from vgen.remote.fanout import FanOut, FanOutError

    monkeypatch.setenv("VGEN_POLL_SECONDS", "0")
    tries: dict[int, int] = {}

    def flaky(inp: dict) -> dict:  # the chunk of segment 2 fails once, then renders
        if inp["kind"] == "chunk" and inp["segments"][0] == 1:
            tries[1] = tries.get(1, 0) + 1
            if tries[1] == 1:
                return {"status": "FAILED", "error": "segment 2 failed; FFmpeg said: Conversion failed!"}
        return _done(inp)

    client = Scripted(flaky)
    result = FanOut(client, _state()).wait()  # type: ignore[arg-type]
    chunks = [i["segments"] for i in client.sent if i["kind"] == "chunk"]
    assert sorted(chunks) == [[0, 1], [1, 2], [1, 2], [2, 3]] and result["retries"] == 1
    assert [len(i["pieces"]) for i in client.sent if i["kind"] == "join"] == [4]  # 3 segments and the audio
    assert result["chunks"][1]["errors"] == ["FAILED: segment 2 failed; FFmpeg said: Conversion failed!"]

    def broken(inp: dict) -> dict:
        if inp["kind"] == "chunk" and inp["segments"][0] == 2:
            return {"status": "FAILED", "error": "segment 3 failed; FFmpeg said: Invalid data found"}
        if inp["kind"] == "chunk":
            return {"status": "IN_PROGRESS", "output": {"stage": "segment", "percent": 10}}
        return _done(inp)

    client = Scripted(broken)
    with pytest.raises(FanOutError, match=r"chunk of segments 3-3 failed 2 times.*Invalid data found"):
        FanOut(client, _state()).wait()  # type: ignore[arg-type]
    assert len(client.cancelled) == 2  # the chunks still running were cancelled with it


def test_a_piece_the_join_finds_wrong_is_rendered_again(monkeypatch):
    from vgen.remote.fanout import FanOut

    monkeypatch.setenv("VGEN_POLL_SECONDS", "0")
    joins = []

    def once_bad(inp: dict) -> dict:
        if inp["kind"] == "join":
            joins.append(inp)
            if len(joins) == 1:
                return {"status": "COMPLETED", "output": {"bad_pieces": [2]}}
        return _done(inp)

    client = Scripted(once_bad)
    result = FanOut(client, _state()).wait()  # type: ignore[arg-type]
    chunks = [i["segments"] for i in client.sent if i["kind"] == "chunk"]
    assert sorted(chunks) == [[0, 1], [1, 2], [2, 3], [2, 3]] and len(joins) == 2 and result["frames"] == 15


# --- the work area ------------------------------------------------------------------------------------


def test_a_supabase_work_area_keeps_pieces_through_tus_and_signed_urls(tus, tmp_path, monkeypatch):
    import asyncio
    import hashlib

    from vgen.remote.worker import work
    from vgen.remote.worker.job import WorkArea

    monkeypatch.setenv("SUPABASE_URL", tus[0])
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", TUS_KEY)
    area = WorkArea(target="supabase", bucket="videos", prefix="vgen-work/area-1")
    piece = tmp_path / "piece.mp4"
    piece.write_bytes(os.urandom(100_000))
    digest = hashlib.sha256(piece.read_bytes()).hexdigest()
    name = f"seg-{'ab' * 16}.mp4"
    entry = {"index": 3, "name": name, "size": 100_000, "sha256": digest, "frames": 5}

    async def round_trip() -> dict | None:
        assert not await work.exists(area, name) and await work.read_entry(area, name, tmp_path) is None
        await work.put(piece, area, name, tmp_path / "state", digest)
        await work.put_entry(area, entry, tmp_path)
        assert await work.exists(area, name)
        await work.fetch(area, name, tmp_path / "back" / name)
        return await work.read_entry(area, name, tmp_path)

    assert asyncio.run(round_trip()) == entry
    assert (tmp_path / "back" / name).read_bytes() == piece.read_bytes()


@pytest.mark.parametrize(
    "bucket, prefix, words",
    [
        ("videos", "vgen-work/x", "outside the worker's work area"),
        ("work", "channel-a", "outside"),
        (None, "", "no fan-out"),
    ],
)
def test_a_job_reaches_only_the_workers_work_area(monkeypatch, bucket, prefix, words):
    from vgen.remote.worker.job import JobError, WorkArea
    from vgen.remote.worker.work import allowed

    if bucket is None:
        monkeypatch.delenv("VGEN_WORK_BUCKET", raising=False)
        bucket, prefix = "work", "vgen-work/x"
    else:
        monkeypatch.setenv("VGEN_WORK_BUCKET", "work")
    with pytest.raises(JobError, match=words):
        allowed(WorkArea(target="s3", bucket=bucket, prefix=prefix))
