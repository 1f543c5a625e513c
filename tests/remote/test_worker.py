"""The RunPod worker through the real runpod SDK, real HTTP assets and a real TUS server on 127.0.0.1."""

from __future__ import annotations

import ast
import asyncio
import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from plane import ControlPlane
from servers import s3_server, tus_installed, tus_server

from vgen.remote.worker.fetch import Limits, fetch_all
from vgen.remote.worker.handler import run_job
from vgen.remote.worker.job import JobError
from vgen.remote.worker.upload import tus_upload
from vgen.tools import samples

from helpers import run_ff

ROOT = Path(__file__).resolve().parents[2]
KEY = "service-role-key-for-tests"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):
        _Quiet.requests.append(self.path)


@pytest.fixture(scope="module")
def assets(ff, tmp_path_factory):
    """Media served over HTTP from 127.0.0.1."""
    d = tmp_path_factory.mktemp("served")
    samples.photo(ff, d / "a.jpg", 640, 360, seed=0)
    samples.photo(ff, d / "b.jpg", 640, 360, seed=1)
    samples.tone(ff, d / "narration.mp3", 6.0)
    (d / "big.bin").write_bytes(os.urandom(300_000))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(d)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    # A "clip" that is an HLS playlist whose segment is another file of the worker's disk.
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.ts"
    run_ff(ff, "-f", "lavfi", "-i", "testsrc=s=64x64:d=1", "-c:v", "mpeg2video", "-f", "mpegts", str(secret))
    (d / "evil.m3u8").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n")
    yield base, d
    server.shutdown()


@pytest.fixture(scope="module")
def tus(tmp_path_factory):
    """Node's @tus/server with @tus/file-store, shaped like Supabase's resumable endpoint."""
    if not tus_installed():
        pytest.fail("run `make setup` first: tests/tus needs `npm install` (the Makefile does it)")
    store = tmp_path_factory.mktemp("tus-store")
    with tus_server(store, KEY) as url:
        yield url, store


@pytest.fixture
def worker_env(monkeypatch, tmp_path, tus):
    env = {
        "VGEN_WORK_ROOT": str(tmp_path / "work"),
        "VGEN_ALLOWED_ASSET_HOSTS": "127.0.0.1",
        "SUPABASE_URL": tus[0],
        "SUPABASE_SERVICE_ROLE_KEY": KEY,
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RUNPOD_WEBHOOK_GET_JOB", raising=False)
    return env


def job(base: str, *, segments: float = 300, key: str = "ep-42", slides: int = 2, **over) -> dict:
    spec = {
        "version": 1,
        "output": {"width": 160, "height": 90, "fps": 10, "encoder": "libx264", "preset": "p1"},
        "segments": {"seconds": segments},
        "defaults": {"duration": 1.0, "transition": {"type": "fade", "duration": 0.4}},
        "slides": [{"image": f"images/{'ab'[i % 2]}.jpg"} for i in range(slides - 1)] + [{"image": "images/b.jpg"}],
        "audio": {"narration": "audio/narration.mp3"},
    }
    inp = {
        "spec": spec,
        "assets": {
            "images/a.jpg": f"{base}/a.jpg",
            "images/b.jpg": f"{base}/b.jpg",
            "audio/narration.mp3": f"{base}/narration.mp3",
        },
        "output": {"bucket": "videos", "path": f"channel-a/{key}.mp4", "upsert": True},
        "job_key": key,
    }
    inp.update(over)
    return {"id": "job-1", "input": inp}


def stored(store: Path, bucket: str, path: str) -> Path:
    return store / f"{bucket}/{path}".replace("/", "__")


@pytest.mark.slow
def test_job_through_the_runpod_sdk_uploads_the_video_byte_for_byte(ff, assets, tus, worker_env, tmp_path):
    base, _ = assets
    j = job(base)
    j["input"]["output"]["signed_url_seconds"] = 3600
    r = subprocess.run(
        [sys.executable, "-m", "vgen", "serve-runpod", "--test_input", json.dumps(j)],
        capture_output=True,
        text=True,
        env={**os.environ, **worker_env},
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if "Job result:" in ln)
    out = ast.literal_eval(line.split("Job result:", 1)[1].strip())["output"]
    assert out["bucket"] == "videos" and out["path"] == "channel-a/ep-42.mp4" and out["encoder"] == "libx264"
    assert out["frames"] == 60 and out["duration_s"] == 6.0 and out["segments"] == 1
    assert out["signed_url"] == f"{tus[0]}/storage/v1/object/sign/videos/channel-a/ep-42.mp4?token=test-token"
    uploaded = stored(tus[1], "videos", "channel-a/ep-42.mp4")
    data = uploaded.read_bytes()
    assert len(data) == out["size_bytes"] and hashlib.sha256(data).hexdigest() == out["sha256"]
    from vgen.ffmpeg.probe import count_frames

    assert count_frames(ff, uploaded)[0] == 60
    assert not (Path(worker_env["VGEN_WORK_ROOT"]) / "ep-42").exists()  # checkpoints go after the upload


def test_an_upload_cut_midway_resumes_without_starting_over(tus, tmp_path):
    endpoint = tus[0] + "/storage/v1/upload/resumable"
    f = tmp_path / "big.mp4"
    f.write_bytes(os.urandom(15 * 1024 * 1024))
    state = tmp_path / "upload.json"
    first = asyncio.run(tus_upload(f, endpoint, KEY, "videos", "big.mp4", True, state, max_chunks=1))
    assert first == 0 and state.exists()
    resumed = asyncio.run(tus_upload(f, endpoint, KEY, "videos", "big.mp4", True, state))
    assert resumed == 6 * 1024 * 1024  # continued after the first 6 MiB chunk
    assert stored(tus[1], "videos", "big.mp4").read_bytes() == f.read_bytes() and not state.exists()


@pytest.mark.slow
def test_a_killed_job_resumes_its_segments_with_the_same_job_key(ff, assets, tus, worker_env):
    base, _ = assets
    j = job(base, segments=1.0, key="ep-43", slides=12)
    j["input"]["spec"]["audio"] = None
    j["input"]["assets"].pop("audio/narration.mp3")
    cmd = [sys.executable, "-m", "vgen", "serve-runpod", "--test_input", json.dumps(j)]
    env = {**os.environ, **worker_env}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    manifest = Path(worker_env["VGEN_WORK_ROOT"]) / "ep-43" / "store" / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if sum(k.startswith("seg-") for k in json.loads(manifest.read_text())["pieces"]) >= 3:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if "Job result:" in ln)
    out = ast.literal_eval(line.split("Job result:", 1)[1].strip())["output"]
    assert out["segments_reused"] >= 3 and out["frames"] == 120


def _err(result: dict) -> str:
    assert set(result) == {"error"}, result
    return result["error"]


@pytest.mark.parametrize(
    "case, words",
    [
        ("dotdot", "no '..'"),
        ("absolute", "no leading '/'"),
        ("spec_outside", "spec: asset name '../../etc/passwd'"),
        ("not_sent", "spec names files the job does not send"),
        ("ftp", "only http(s)"),
    ],
)
def test_hostile_jobs_are_refused_before_anything_is_written(assets, worker_env, tmp_path, case, words):
    base, _ = assets
    j = job(base)
    inp = j["input"]
    if case == "dotdot":
        inp["assets"]["../x.jpg"] = f"{base}/a.jpg"
    elif case == "absolute":
        inp["assets"]["/tmp/x.jpg"] = f"{base}/a.jpg"
    elif case == "spec_outside":
        inp["spec"]["slides"][0]["image"] = "../../etc/passwd"
    elif case == "not_sent":
        inp["spec"]["slides"][0]["image"] = "images/other.jpg"
    elif case == "ftp":
        inp["assets"]["images/a.jpg"] = "ftp://127.0.0.1/a.jpg"
    assert words in _err(asyncio.run(run_job(j)))
    assert not list(tmp_path.parent.glob("x.jpg")) and not Path("/tmp/x.jpg").exists()


def test_loopback_urls_need_the_allow_list(assets, worker_env, monkeypatch):
    base, _ = assets
    monkeypatch.delenv("VGEN_ALLOWED_ASSET_HOSTS")
    assert "private/loopback/link-local address: refused" in _err(asyncio.run(run_job(job(base))))


@pytest.mark.parametrize("listed", [False, True], ids=["refused", "allow-listed"])
def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused(assets, tmp_path, monkeypatch, listed):
    """DNS rebinding: the name resolves to a public address when the URL is checked and to
    127.0.0.1 when the download connects. The addresses connected to are checked, so nothing is
    fetched from the worker's own loopback; a host on the allow-list still downloads through the
    same fake lookups (they reach the server, so the refusal is not an accident of the test)."""
    base, _ = assets
    port = int(base.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    # check_url looks a name up only when it is not listed: its answer is the public one
    answers = iter(([] if listed else ["93.184.216.34"]) + ["127.0.0.1"] * 10)

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    limits = Limits(allowed_hosts=frozenset({"rebind.test"} if listed else ()))
    seen = len(_Quiet.requests)
    fetch = fetch_all({"a.jpg": f"http://rebind.test:{port}/a.jpg"}, tmp_path / "job", limits)
    if listed:
        assert asyncio.run(fetch) == (tmp_path / "job" / "a.jpg").stat().st_size > 0
        return
    with pytest.raises(JobError, match="rebind.test resolves to 127.0.0.1"):
        asyncio.run(fetch)
    assert _Quiet.requests[seen:] == [] and not list((tmp_path / "job").iterdir())


def test_oversized_assets_are_refused(assets, worker_env, monkeypatch):
    base, _ = assets
    monkeypatch.setenv("VGEN_MAX_ASSET_BYTES", "100000")
    j = job(base)
    j["input"]["assets"]["images/a.jpg"] = f"{base}/big.bin"
    assert "over VGEN_MAX_ASSET_BYTES" in _err(asyncio.run(run_job(j)))


def test_the_hls_check_can_fail(ff, assets):
    """Without vgen's input limits FFmpeg follows the playlist and reads the other file: the test
    below means something."""
    base, d = assets
    r = subprocess.run(
        [ff.path, "-v", "error", "-i", str(d / "evil.m3u8"), "-f", "null", "-"],
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_an_hls_playlist_posing_as_a_clip_cannot_read_other_files(assets, worker_env):
    base, _ = assets
    j = job(base)
    j["input"]["spec"]["slides"][0] = {"video": "clips/evil.m3u8", "duration": 1.0}
    j["input"]["assets"]["clips/evil.m3u8"] = f"{base}/evil.m3u8"
    err = _err(asyncio.run(run_job(j)))
    assert "clips/evil.m3u8" in err and "FFmpeg cannot read it" in err


def test_a_missing_credential_is_named_never_shown(assets, worker_env, monkeypatch):
    base, _ = assets
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY")
    err = _err(asyncio.run(run_job(job(base))))
    assert "SUPABASE_SERVICE_ROLE_KEY" in err and KEY not in err
    assert not (Path(worker_env["VGEN_WORK_ROOT"]) / "ep-42").exists()  # refused before any download


def test_bad_input_comes_back_as_one_readable_string(worker_env):
    err = _err(asyncio.run(run_job({"id": "x", "input": {"assets": {}, "output": {"bucket": "v", "path": "a.mp4"}}})))
    assert err.startswith("input.") and "spec" in err


def test_progress_updates_are_throttled_and_carry_stage_percent_fps_eta():
    from vgen.remote.worker.handler import Throttle
    from vgen.run.progress import Event

    sent: list[dict] = []
    t = Throttle(sent.append, every_percent=5, every_s=3600)
    t(Event("plan", "2 segments", total_frames=1000, segments=2))
    for f in range(0, 1001, 10):  # 100 frame events
        t(Event("segment", "segment 1", 0, 2, f, 1000, f, 1000, fps=25.0, eta_s=(1000 - f) / 25))
    t(Event("done", "out.mp4", done_frames=1000, total_frames=1000))
    assert 20 <= len(sent) <= 24  # every 5%, plus plan and done
    mid = sent[5]
    assert mid["stage"] == "segment" and mid["fps"] == 25.0 and mid["eta_s"] is not None and mid["segment"] == 1
    assert sent[-1]["stage"] == "done" and sent[-1]["percent"] == 100.0


@pytest.mark.slow
def test_worker_loop_sends_progress_then_the_result_to_the_control_plane(assets, tus, worker_env):
    """The SDK's real worker loop (not the local test mode) against a control plane on 127.0.0.1."""
    base, _ = assets
    j = job(base, segments=1.0, key="ep-44", slides=6)
    j["id"] = "job-44"
    plane = ControlPlane([j])  # the stand-in the fan-out tests share (tests/remote/plane.py)
    env = {**os.environ, **worker_env, **plane.worker_env("worker-1")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vgen", "serve-runpod"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any("bucket" in json.dumps(p[1]) for p in plane.posts):
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        plane.close()
    updates = [p for path, p in plane.posts if p.get("status") == "IN_PROGRESS"]
    final = [p for path, p in plane.posts if "bucket" in json.dumps(p.get("output", {}))]
    assert all(path.startswith("/job-done/job-44") for path, _ in plane.posts), [p for p, _ in plane.posts]
    seg = [u["output"] for u in updates if u["output"]["stage"] == "segment"]
    assert len(updates) >= 3 and seg and {"stage", "percent", "fps", "eta_s"} <= set(seg[-1])
    stages = [u["output"]["stage"] for u in updates]
    assert "download" in stages and "segment" in stages and "upload" in stages
    assert final and final[0]["output"]["path"] == "channel-a/ep-44.mp4" and final[0]["output"]["frames"] == 60


@pytest.mark.slow
def test_s3_target_through_an_s3_server_on_loopback(assets, worker_env, monkeypatch):
    """moto's S3 server on 127.0.0.1 stands in for any S3-compatible bucket (RunPod's helpers' names)."""
    with s3_server("videos", secret="test-secret") as (s3, env):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        base, _ = assets
        j = job(base, key="ep-45")
        j["input"]["output"]["target"] = "s3"
        out = asyncio.run(run_job(j))
        assert "error" not in out, out
        body = s3.get_object(Bucket="videos", Key="channel-a/ep-45.mp4")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == out["sha256"] and len(body) == out["size_bytes"]


@pytest.mark.slow
def test_spec_url_replaces_spec(ff, assets, tus, worker_env):
    base, d = assets
    j = job(base, key="ep-46")
    (d / "ep-46.yaml").write_text(__import__("yaml").safe_dump(j["input"].pop("spec")))
    j["input"]["spec_url"] = f"{base}/ep-46.yaml"
    out = asyncio.run(run_job(j))
    assert "error" not in out, out
    assert out["frames"] == 60 and stored(tus[1], "videos", "channel-a/ep-46.mp4").stat().st_size == out["size_bytes"]


@pytest.mark.slow
def test_a_cancelled_job_stops_ffmpeg_keeps_segments_and_resumes(assets, tus, worker_env):
    """RunPod cancels or times out a job: the task is cancelled, FFmpeg stops, the store stays."""
    base, _ = assets
    j = job(base, segments=1.0, key="ep-47", slides=12)
    j["input"]["spec"]["audio"] = None
    j["input"]["assets"].pop("audio/narration.mp3")
    manifest = Path(worker_env["VGEN_WORK_ROOT"]) / "ep-47" / "store" / "manifest.json"

    def done_segments() -> int:
        try:
            return sum(k.startswith("seg-") for k in json.loads(manifest.read_text())["pieces"])
        except (OSError, ValueError, KeyError):
            return 0

    async def cancel_midway() -> None:
        task = asyncio.create_task(run_job(j))
        while done_segments() < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    kept = done_segments()
    assert 2 <= kept < 12
    work = Path(worker_env["VGEN_WORK_ROOT"]) / "ep-47"
    assert not subprocess.run(["pgrep", "-f", str(work)], capture_output=True).stdout.strip()
    out = asyncio.run(run_job(j))
    assert out["segments_reused"] >= kept and out["frames"] == 120


@pytest.mark.parametrize("field, value", [("job_key", ".."), ("job_key", "."), ("bucket", "..")])
def test_dot_keys_and_buckets_are_refused(assets, worker_env, field, value):
    base, _ = assets
    j = job(base)
    if field == "job_key":
        j["input"]["job_key"] = value
    else:
        j["input"]["output"]["bucket"] = value
    assert f"input.{'output.' if field == 'bucket' else ''}{field}" in _err(asyncio.run(run_job(j)))
    assert Path(worker_env["VGEN_WORK_ROOT"]).parent.exists()


def test_home_relative_names_cannot_reach_outside(assets, worker_env):
    base, _ = assets
    j = job(base)
    j["input"]["assets"]["~/notes.srt"] = f"{base}/a.jpg"
    assert "plain relative path" in _err(asyncio.run(run_job(j)))


# --- hostile jobs: each attack kept as a regression test, through the worker's real code ----------


class _TwoWrites(http.server.BaseHTTPRequestHandler):
    """Serves `body` in two writes a moment apart (a spec arriving in two TCP segments), or a
    100 MB spec, without Content-Length."""

    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/yaml")
        self.end_headers()
        if self.path == "/huge.yaml":
            self.wfile.write(b"version: 1\nslides:\n")
            for _ in range(100):
                self.wfile.write(b"  - {image: images/a.jpg}\n" * 40_000)  # ~1 MB a write
            return
        half = len(self.body) // 2
        self.wfile.write(self.body[:half])
        self.wfile.flush()
        time.sleep(0.3)
        self.wfile.write(self.body[half:])


@pytest.fixture
def spec_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TwoWrites)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_a_spec_url_sent_in_two_writes_is_read_to_its_end(assets, tus, worker_env, spec_server):
    base, _ = assets
    j = job(base, key="ep-48", slides=5)
    _TwoWrites.body = __import__("yaml").safe_dump(j["input"].pop("spec")).encode()
    j["input"]["spec_url"] = f"{spec_server}/spec.yaml"
    out = asyncio.run(run_job(j))
    assert "error" not in out, out
    assert out["frames"] == 60  # 5 slides of 1 s under 6 s of narration (the last fills): all five read


def test_a_spec_url_over_the_cap_says_so(assets, worker_env, spec_server):
    base, _ = assets
    j = job(base, key="ep-49")
    j["input"].pop("spec")
    j["input"]["spec_url"] = f"{spec_server}/huge.yaml"
    assert "over 4 MiB" in _err(asyncio.run(run_job(j)))


BOMB = (
    "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh"))
    + "slides: [{image: images/a.jpg}]\n"
)


def test_a_yaml_alias_bomb_as_spec_url_is_refused_at_once(assets, worker_env, spec_server):
    base, _ = assets
    j = job(base, key="ep-50")
    j["input"].pop("spec")
    _TwoWrites.body = BOMB.encode()
    j["input"]["spec_url"] = f"{spec_server}/bomb.yaml"
    started = time.monotonic()
    err = _err(asyncio.run(run_job(j)))
    assert "aliases" in err and time.monotonic() - started < 10


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda s: s["slides"][0].update(duration=1e6), "slides[0].duration"),
        (lambda s: s["slides"][0].update(duration=float("inf")), "must be a finite number"),
        (lambda s: s.update(audio=["audio/narration.mp3"]), "audio: must be a valid dictionary"),
        (lambda s: s["output"].update(fps=1e-9), "output.fps"),
        (lambda s: s.update(slides=[{"image": "images/a.jpg", "duration": 30000}] * 2), "over the 12:00:00 cap"),
    ],
)
def test_unbounded_specs_are_refused_before_any_download(assets, worker_env, edit, words):
    base, _ = assets
    j = job(base, key="ep-51")
    edit(j["input"]["spec"])
    seen = len(_Quiet.requests)
    assert words in _err(asyncio.run(run_job(j)))
    assert _Quiet.requests[seen:] == []  # refused before a single asset was fetched


def test_a_job_id_never_becomes_a_path_outside_the_work_root(assets, tus, worker_env, tmp_path):
    base, _ = assets
    j = job(base, key="unused")
    j["id"] = "../../escaped"
    del j["input"]["job_key"]
    j["input"]["spec"]["slides"][0]["image"] = "images/missing.jpg"  # fails after the job folder is made
    j["input"]["assets"]["images/missing.jpg"] = f"{base}/missing.jpg"
    asyncio.run(run_job(j))
    root = Path(worker_env["VGEN_WORK_ROOT"])
    assert not (root.parent.parent / "escaped").exists() and not (root.parent / "escaped").exists()
    assert all(root in p.parents for p in root.rglob("*")) and any(root.iterdir())


class _Echo(http.server.BaseHTTPRequestHandler):
    """A storage server that fails every request and echoes its headers (some proxies do)."""

    def log_message(self, *args):
        pass

    def _echo(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = ("error, request was:\n" + "".join(f"{k}: {v}\n" for k, v in self.headers.items())).encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_PATCH = _echo


def test_a_storage_error_that_echoes_the_headers_never_carries_the_key(assets, worker_env, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SUPABASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
        base, _ = assets
        err = _err(asyncio.run(run_job(job(base, key="ep-52"))))
    finally:
        server.shutdown()
    assert "500" in err and KEY not in err and KEY[:12] not in err


def _captions(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


ASS_HEAD = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 160\nPlayResY: 90\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Outline, Shadow, Alignment, MarginV\n"
    "Style: Default,DejaVu Sans,20,&H00FFFFFF,0,1,0,2,10\n\n[Events]\n"
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


@pytest.mark.parametrize(
    "name, text, words",
    [
        (
            "tags.ass",
            ASS_HEAD + "Dialogue: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,," + "{\\blur5}x" * 200 + "\n",
            "override tags",
        ),
        (
            "blur.ass",
            ASS_HEAD + "Dialogue: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,{\\blur900\\fs20000}big\n",
            "\\blur900",
        ),
        ("long.srt", "1\n00:00:00,000 --> 00:00:01,000\n" + "word " * 1000 + "\n", "characters, over 2000"),
        (
            "crowd.srt",
            "".join(f"{i + 1}\n00:00:00,000 --> 00:00:01,000\ncue {i}\n\n" for i in range(400)),
            "cues on screen at once",
        ),
    ],
)
def test_caption_files_that_would_cost_libass_dearly_are_refused(assets, worker_env, tmp_path, name, text, words):
    base, d = assets
    _captions(d, name, text)
    j = job(base, key="ep-53")
    j["input"]["spec"]["subtitles"] = {"path": f"subs/{name}"}
    j["input"]["assets"][f"subs/{name}"] = f"{base}/{name}"
    err = _err(asyncio.run(run_job(j)))
    assert "refused in a worker job" in err and words in err, err


@pytest.mark.slow
def test_a_job_past_its_time_limit_stops_ffmpeg_keeps_its_segments_and_resumes(assets, tus, worker_env, monkeypatch):
    base, _ = assets
    # 40 segments of 720p: seconds of work on any FFmpeg (at 160x90 the wheel's FFmpeg and
    # in-process canvases finished them all within the limit)
    j = job(base, segments=1.0, key="ep-54", slides=40)
    j["input"]["spec"]["output"].update(width=1280, height=720)
    j["input"]["spec"]["audio"] = None
    j["input"]["assets"].pop("audio/narration.mp3")
    manifest = Path(worker_env["VGEN_WORK_ROOT"]) / "ep-54" / "store" / "manifest.json"
    monkeypatch.setenv("VGEN_MAX_JOB_SECONDS", "1.5")
    started = time.monotonic()
    err = _err(asyncio.run(run_job(j)))
    assert "the job ran past VGEN_MAX_JOB_SECONDS (2 s)" in err, err
    assert time.monotonic() - started < 10
    work = Path(worker_env["VGEN_WORK_ROOT"]) / "ep-54"
    deadline = time.monotonic() + 5  # a probe started just before the limit may finish its second
    while subprocess.run(["pgrep", "-f", str(work)], capture_output=True).stdout.strip():
        assert time.monotonic() < deadline, "an FFmpeg of the stopped job is still running"
        time.sleep(0.1)
    kept = sum(k.startswith("seg-") for k in json.loads(manifest.read_text())["pieces"]) if manifest.exists() else 0
    monkeypatch.delenv("VGEN_MAX_JOB_SECONDS")
    out = asyncio.run(run_job(j))
    assert out["frames"] == 400 and out["segments_reused"] >= kept


@pytest.mark.slow
def test_a_narrated_job_uploads_its_caption_files_and_chapters_next_to_the_video(ff, assets, tus, worker_env):
    base, d = assets
    samples.tone(ff, d / "p1.mp3", 2.0)
    samples.tone(ff, d / "p2.mp3", 2.2, freq=550)
    (d / "p1.words.json").write_text(json.dumps(samples.words_of("Roads ran")))
    j = job(base, key="ep-55")
    j["input"]["spec"]["audio"] = None
    j["input"]["spec"]["slides"] = [
        {
            "image": "images/a.jpg",
            "narration": "audio/p1.mp3",
            "words": "audio/p1.words.json",
            "text": "Roads ran",
            "chapter": "Roads",
        },
        {"image": "images/b.jpg", "narration": "audio/p2.mp3", "text": "Bridges held.", "chapter": "Bridges"},
    ]
    j["input"]["spec"]["subtitles"] = {"from": "text", "sidecar": ["srt", "vtt"]}
    assets_ = j["input"]["assets"]
    assets_.pop("audio/narration.mp3")
    assets_ |= {f"audio/{n}": f"{base}/{n}" for n in ("p1.mp3", "p2.mp3", "p1.words.json")}
    out = asyncio.run(run_job(j))
    assert "error" not in out, out
    assert out["files"] == {
        "srt": "channel-a/ep-55.srt",
        "vtt": "channel-a/ep-55.vtt",
        "chapters": "channel-a/ep-55.chapters.txt",
    }
    assert [c["title"] for c in out["chapters"]] == ["Roads", "Bridges"] and out["chapters"][0]["time"] == "00:00"
    srt = stored(tus[1], "videos", "channel-a/ep-55.srt").read_text()
    assert "Roads ran" in srt and "Bridges held." in srt
    assert stored(tus[1], "videos", "channel-a/ep-55.chapters.txt").read_text() == "00:00 Roads\n00:02 Bridges\n"


# --- fonts folders: fonts only, by name and by content, within their caps -----------------------

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")


@pytest.mark.parametrize(
    "case, words",
    [
        ("png", "asset 'fonts/Logo.ttf' in the fonts folder (fonts_dir) is not a font: it does not start as TrueType"),
        ("exe", "asset 'fonts/setup.exe' is in the fonts folder (subtitles.fonts_dir) but is not a font file"),
        ("big", "bytes, over VGEN_MAX_FONT_BYTES (100000)"),
        ("many", "subtitles.fonts_dir: the job sends 2 fonts, over VGEN_MAX_FONTS (1)"),
        ("nested", "libass reads fonts from directly inside 'fonts' (subtitles.fonts_dir)"),
        ("none", "subtitles.fonts_dir: the job sends no font for 'fonts'"),
    ],
)
def test_a_fonts_folder_takes_fonts_only_within_their_caps(ff, assets, worker_env, monkeypatch, case, words):
    """Whichever key names the folder: by name before any download, by content after it (a file
    refused so is removed, so the job sent again without it is not refused for it)."""
    assert DEJAVU.is_file(), "fonts-dejavu-core is needed here"
    base, d = assets
    shutil.copyfile(DEJAVU, d / "serif.ttf")
    samples.photo(ff, d / "logo.png", 32, 32, seed=0)
    j = job(base, key="ep-56")
    spec = j["input"]["spec"]
    for slide in spec["slides"]:
        slide["text"] = "Roads ran north."
    spec["subtitles"] = {"from": "text"}
    (spec if case == "png" else spec["subtitles"])["fonts_dir"] = "fonts/"
    sent = {
        "png": {"Serif.ttf": "serif.ttf", "Logo.ttf": "logo.png"},
        "exe": {"Serif.ttf": "serif.ttf", "setup.exe": "serif.ttf"},
        "big": {"Serif.ttf": "serif.ttf"},
        "many": {"Serif.ttf": "serif.ttf", "Serif2.ttf": "serif.ttf"},
        "nested": {"bold/Serif.ttf": "serif.ttf"},
        "none": {},
    }[case]
    j["input"]["assets"] |= {f"fonts/{name}": f"{base}/{served}" for name, served in sent.items()}
    monkeypatch.setenv("VGEN_MAX_FONT_BYTES", "100000" if case == "big" else "1000000")
    monkeypatch.setenv("VGEN_MAX_FONTS", "1" if case == "many" else "4")
    seen = len(_Quiet.requests)
    err = _err(asyncio.run(run_job(j)))
    assert words in err and "fonts" in err.split(":")[0], err
    fonts = Path(worker_env["VGEN_WORK_ROOT"]) / "ep-56" / "assets" / "fonts"
    if case in ("exe", "many", "nested"):
        assert _Quiet.requests[seen:] == []  # refused by name: nothing downloaded
    if case == "png":
        assert sorted(p.name for p in fonts.iterdir()) == ["Serif.ttf"]
