"""What a fan-out over RunPod workers costs besides rendering, measured with local workers, and the
model of wall time against workers built from those figures (`python bench/run.py fanout`).

On this 2-core machine the workers share the CPUs, so fan-out cannot be faster here; what is measured
is its overhead: a job's dispatch and start (the plan job: it renders nothing), a chunk's overhead
(its job time less its render time), the asset download, the piece upload and fetch (moto's S3 on
loopback), and the join's stream copy per GB. The model (`vgen.remote.parts.model_wall_s`) then
gives a 1-hour 1080p30 video's wall time on 1-16 RTX 4090 workers; the plot goes next to
BENCHMARKS.md as docs/images/fanout-model.png.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "remote")]

# What the model assumes beyond the measured figures (BENCHMARKS.md says where they come from).
RENDER_FPS_4090 = 300.0  # one vgen render of 1080p30 on a 4090 worker: composition beside NVENC
VIDEO_BYTES_PER_S = 1.0e6  # 1080p30 at vgen's default quality: about 8 Mb/s (run/render.py's estimate)
ASSETS_GB = 1.2  # an hour of slides: 600 photos of 2 MB
NETWORK_S_PER_GB = 8.0  # 1 Gb/s between a worker and storage (the local stand-ins measure themselves)
POLL_S = 2.0  # the caller's default poll interval: a job's end is seen up to this late
WORKERS = (1, 2, 4, 8, 16)


def _timed(fn, *args) -> float:
    t = time.monotonic()
    fn(*args)
    return time.monotonic() - t


def _big_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    return path


def transfer_figures(folder: Path, s3_env: dict[str, str], mb: int = 256) -> dict[str, float]:
    """Seconds per GB: an asset download over HTTP (the worker's fetch), a piece up to and back from S3."""
    from vgen.remote.worker import work
    from vgen.remote.worker.fetch import Limits, fetch_all
    from vgen.remote.worker.job import WorkArea

    os.environ.update(s3_env)
    os.environ["VGEN_ALLOWED_ASSET_HOSTS"] = "127.0.0.1"
    served = folder / "served"
    served.mkdir()
    blob = _big_file(served / "blob.bin", mb << 20)
    gb = blob.stat().st_size / 1e9
    quiet = type("Q", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/blob.bin"
    limits = Limits(allowed_hosts=frozenset({"127.0.0.1"}), max_asset_bytes=1 << 40, max_job_bytes=1 << 40)
    down = _timed(lambda: asyncio.run(fetch_all({"blob.bin": url}, folder / "dl", limits)))
    server.shutdown()
    area = WorkArea(target="s3", bucket="work", prefix="vgen-work/bench")
    piece = f"seg-{'0' * 32}.mp4"
    up = _timed(lambda: asyncio.run(work.put(blob, area, piece, folder / "state", "0" * 64)))
    back = _timed(lambda: asyncio.run(work.fetch(area, piece, folder / "back.mp4")))
    return {"download_s_per_gb": down / gb, "upload_s_per_gb": up / gb, "fetch_s_per_gb": back / gb}


def join_figure(folder: Path, ff, copies: int = 40) -> dict[str, float]:
    """The join's stream copy per GB: one 1080p piece listed `copies` times, joined as the join
    command does (concat demuxer, audio muxed, +faststart)."""
    from helpers import run_ff

    piece, sound = folder / "piece.mp4", folder / "audio.m4a"
    run_ff(ff, "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=10", "-c:v", "libx264", "-preset", "ultrafast",
           "-crf", "16", "-pix_fmt", "yuv420p", str(piece))  # fmt: skip
    run_ff(ff, "-f", "lavfi", "-i", f"sine=d={10 * copies}", "-c:a", "aac", str(sound))
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{piece}'\n" for _ in range(copies)))
    out = folder / "joined.mp4"
    argv = [ff.path, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i",
            str(listing), "-i", str(sound), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-f", "mp4",
            "-movflags", "+faststart", str(out)]  # fmt: skip
    took = _timed(subprocess.run, argv)
    gb = out.stat().st_size / 1e9
    return {"join_s_per_gb": took / gb, "join_gb": round(gb, 3)}


def end_to_end(folder: Path, ff, tus_url: str, s3_env: dict[str, str], runs: int) -> dict:
    """A small spec fanned out over 3 local workers, against the same spec rendered here."""
    import test_fanout as tf
    from plane import STORAGE_KEY, ControlPlane

    from vgen.remote.client import RunPodClient, Storage

    plane = ControlPlane()
    env = {
        "VGEN_ALLOWED_ASSET_HOSTS": "127.0.0.1",
        "SUPABASE_URL": tus_url,
        "SUPABASE_SERVICE_ROLE_KEY": tf.TUS_KEY,
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
        "VGEN_WORK_BUCKET": "work",
        **s3_env,
    }
    workers = tf.Workers(plane, env, folder / "workers")
    for i in range(3):
        workers.start(i)
    os.environ.update(plane.env())
    rows = []
    try:
        for run in range(runs):
            spec = tf.spec_folder(ff, folder / f"spec{run}", slides=12)
            local = _timed(tf.local_render, spec, folder / f"spec{run}")
            t = time.monotonic()
            job = RunPodClient("ep1").render(
                spec, Storage(plane.url, STORAGE_KEY), workers=3, asset_bucket="assets",
                output={"bucket": "videos", "path": f"bench/{run}.mp4"}, work={"target": "s3", "bucket": "work"},
            )  # fmt: skip
            plan_s = time.monotonic() - t
            result = job.wait()
            parts = job.state["parts"]
            plan_job = next(p for p in parts if p["kind"] == "plan")
            chunk_over = [c["job_s"] - c["render_s"] for c in result["chunks"] if c["job_s"] and c["render_s"]]
            rows.append(
                {
                    "local_s": round(local, 2),
                    "caller_plan_and_upload_s": round(plan_s, 2),
                    "fanout_wall_s": result["wall_s"],
                    "gpu_s": result["gpu_s"],
                    "plan_job_s": round(plan_job["ended_at"] - plan_job["sent_at"], 3),
                    "chunk_overhead_s": round(statistics.median(chunk_over), 3),
                    "join_fetch_s": result.get("fetch_s"),
                    "join_s": result.get("join_s"),
                    "frames": result["frames"],
                    "chunks": len(result["chunks"]),
                }
            )
    finally:
        workers.stop()
        plane.close()
    return {"rows": rows, "median": {k: statistics.median(r[k] for r in rows) for k in rows[0]}}


def model(figures: dict[str, float], chunk_overhead_s: float) -> dict:
    """Wall time of 1 h of 1080p30 against workers. Measured here: a job's fixed overhead (plus the
    caller's poll interval) and the join's stream copy per GB. The network legs (assets down, pieces
    up, pieces to the join, the video up) at NETWORK_S_PER_GB; a second curve at the speeds of the
    local stand-ins (moto's S3 is a Python server: slower than a real bucket)."""
    from vgen.remote.parts import Costs, model_wall_s

    def costs(down: float, up: float, fetch: float) -> Costs:
        return Costs(chunk_overhead_s + POLL_S, down, up, figures["join_s_per_gb"], fetch)

    net = NETWORK_S_PER_GB
    assumed = costs(net, net, net)
    local = costs(figures["download_s_per_gb"], figures["upload_s_per_gb"], figures["fetch_s_per_gb"])

    def walls(c: Costs) -> dict[int, float]:
        return {n: model_wall_s(3600, n, RENDER_FPS_4090, 30, VIDEO_BYTES_PER_S, ASSETS_GB, c) for n in WORKERS}

    one_job = 3600 * 30 / RENDER_FPS_4090 + 3.6 * net  # a single job: render, then upload
    return {
        "costs": assumed.__dict__,
        "wall_s": walls(assumed),
        "wall_s_local_storage": walls(local),
        "single_job_s": one_job,
    }


def plot(m: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = list(m["wall_s"])
    ys = [m["wall_s"][n] for n in xs]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(xs, ys, "o-", label="fan-out: measured overheads, 1 Gb/s to storage")
    slow = [m["wall_s_local_storage"][n] for n in xs]
    ax.plot(xs, slow, "s--", color="tab:orange", alpha=0.7, label="fan-out at the local stand-ins' storage speed")
    ax.axhline(m["single_job_s"], color="gray", ls="--", label="one job on one worker")
    ax.axhline(120, color="tab:red", ls=":", label="goal: 2 minutes")
    for x, y in zip(xs, ys):
        ax.annotate(f"{y:.0f} s", (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("RTX 4090 workers")
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"Model: 1 hour of 1080p30 on RTX 4090 workers ({RENDER_FPS_4090:.0f} fps each)")
    ax.set_ylim(0, max(m["single_job_s"], ys[0], slow[0]) * 1.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def fanout_suite(runs: int = 1) -> dict:
    import test_fanout as tf
    from servers import s3_server, tus_server

    from vgen.ffmpeg.binary import find_ffmpeg

    ff = find_ffmpeg()
    folder = Path(tempfile.mkdtemp(prefix="vgen-fanout-bench-"))
    store = folder / "tus"
    store.mkdir()
    try:
        with s3_server("work", secret="bench-secret") as (_, s3_env), tus_server(store, tf.TUS_KEY) as tus_url:
            figures = transfer_figures(folder, s3_env) | join_figure(folder, ff)
            e2e = end_to_end(folder, ff, tus_url, s3_env, runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    med = e2e["median"]
    m = model(figures, chunk_overhead_s=med["chunk_overhead_s"])
    plot(m, ROOT / "docs" / "images" / "fanout-model.png")
    return {
        "figures": {k: round(v, 3) for k, v in figures.items()},
        "end_to_end": e2e,
        "model": m,
        "assumed": {
            "render_fps_4090": RENDER_FPS_4090,
            "video_bytes_per_s": VIDEO_BYTES_PER_S,
            "assets_gb": ASSETS_GB,
            "network_s_per_gb": NETWORK_S_PER_GB,
        },
    }


def table(r: dict) -> str:
    f, med, m = r["figures"], r["end_to_end"]["median"], r["model"]
    lines = [
        "| measured here | value |",
        "|---|---|",
        f"| plan job (dispatch, spec, plan; renders nothing) | {med['plan_job_s']:.2f} s |",
        "| chunk overhead (job time less render time: dispatch, download, plan, upload) | "
        f"{med['chunk_overhead_s']:.2f} s |",
        f"| asset download (HTTP, loopback) | {f['download_s_per_gb']:.2f} s/GB |",
        f"| piece upload to S3 (moto, loopback) | {f['upload_s_per_gb']:.2f} s/GB |",
        f"| piece fetch from S3 (moto, loopback) | {f['fetch_s_per_gb']:.2f} s/GB |",
        f"| join: stream copy of {f['join_gb']} GB + audio | {f['join_s_per_gb']:.2f} s/GB |",
        f"| end to end, {med['frames']} frames in {med['chunks']} chunks: local render / fan-out wall | "
        f"{med['local_s']:.1f} s / {med['fanout_wall_s']:.1f} s (GPU-s {med['gpu_s']:.1f}) |",
        "",
        "| workers | 1 | 2 | 4 | 8 | 16 |",
        "|---|---|---|---|---|---|",
        "| model: 1 h of 1080p30, wall (s) | " + " | ".join(f"{m['wall_s'][n]:.0f}" for n in WORKERS) + " |",
        "| the same at the stand-ins' storage speed (s) | "
        + " | ".join(f"{m['wall_s_local_storage'][n]:.0f}" for n in WORKERS)
        + " |",
        f"| one job on one worker (s) | {m['single_job_s']:.0f} | | | | |",
    ]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    import json

    result = fanout_suite()
    print(table(result))
    print(json.dumps(result, indent=1, default=str))
