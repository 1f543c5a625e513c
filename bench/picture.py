"""What the picture costs beyond the encoder, on large images of several formats.

    python bench/run.py picture [--runs 4] [--seconds 60]

The case: 1920x1080 at 30 fps, twelve slides of 5 s (three each of a 4096x4096 WebP, a 3000x2000
JPEG, a 1600x2800 PNG and a 2400x1350 JPEG, photo-like: gradients, edges and grain, at the file
sizes of real photos), Ken Burns presets, 1 s fades, libx264 `veryfast` crf 20. Rows, interleaved
ABBA so drift on a shared machine hits each alike:
- encode alone: x264 with vgen's arguments on the very frames vgen shows, read raw from a file;
- vgen render: canvases made by libvips (the default where pyvips loads);
- vgen render, FFmpeg canvases (VGEN_CANVASES=ffmpeg): one FFmpeg per slide, as before.
CPU is the children's user + system time of each run; "beyond the encoder" is a render's CPU less
encode-alone's, per frame (x264's own CPU varies by a few percent between runs, ~1 ms a frame: the
pairs show it). The render process's own CPU (composing, canvases, the pipe; no child) is read
apart, free of that spread. The per-slide preparation is timed apart: each canvas made on its own.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg
from vgen.ffmpeg.commands import GLOBAL_ARGS
from vgen.picture import canvas
from vgen.picture.source import canvas_argv
from vgen.pipeline import prepare

W, H, FPS = 1920, 1080, 30
IMAGES = [("webp", 4096, 4096), ("jpg", 3000, 2000), ("png", 1600, 2800), ("jpg", 2400, 1350)]
ROWS = ("encode alone", "vgen render", "vgen render, FFmpeg canvases")


def photo(ff: FFmpeg, path: Path, w: int, h: int, seed: int) -> Path:
    """A photo-like still that compresses like a photo (grain, edges, smooth areas): a 4096x4096
    WebP of ~4.5 MB, a 3000x2000 JPEG of ~1.3 MB, a 1600x2800 PNG of ~11 MB."""
    grain = 24 if path.suffix == ".webp" else 14
    quality = {".jpg": ["-q:v", "2"], ".webp": ["-quality", "85"]}.get(path.suffix, [])
    graph = f"[0][1]blend=all_mode=softlight:all_opacity=0.6,noise=alls={grain}:allf=u:all_seed={seed}"
    subprocess.run(
        [ff.path, "-v", "error", "-y", "-f", "lavfi", "-i", f"gradients=s={w}x{h}:n=6:seed={seed}:speed=0.01"]
        + ["-f", "lavfi", "-i", f"testsrc2=s={w}x{h}", "-frames:v", "1", "-filter_complex", graph, *quality, str(path)],
        check=True,
    )
    return path


def write_spec(folder: Path, name: str, seconds: float, names: list[str], **output: object) -> Path:
    per = seconds / len(names)
    spec = {
        "version": 1,
        "output": {"path": f"{name}.mp4", "width": W, "height": H, "fps": FPS, "encoder": "libx264"}
        | {"quality": 20, "preset": "veryfast"}
        | output,
        "segments": {"seconds": 300},
        "defaults": {"duration": per, "transition": {"type": "fade", "duration": 1}, "ken_burns": "auto"},
        "slides": [{"image": n} for n in names],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_cpu(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one command and all its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


# `vgen render` in a process that writes its own CPU (every thread: composing, libvips, the pipe;
# no child: not x264, not the audio's FFmpeg) to the file named by VGEN_BENCH_SELF at exit.
SELF_CPU = (
    "import atexit, os, resource, runpy, sys\n"
    "def done():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    open(os.environ['VGEN_BENCH_SELF'], 'w').write(str(r.ru_utime + r.ru_stime))\n"
    "atexit.register(done)\n"
    "sys.argv = ['vgen', *sys.argv[1:]]\n"
    "runpy.run_module('vgen', run_name='__main__')\n"
)


def preparation(ff: FFmpeg, spec: Path) -> dict[str, dict[str, float]]:
    """CPU seconds per canvas by format, libvips (in this process) against the FFmpeg command."""
    tl = prepare(spec, ff).plan.timeline
    vips = canvas.engine()
    assert vips, "pyvips does not load: pip install pyvips pyvips-binary"
    out: dict[str, dict[str, list[float]]] = {}
    for s in tl.slides:
        argv, geo = canvas_argv(ff, s, tl)
        r = canvas.recipe(s, tl, geo, vips)
        assert r is not None
        c = time.process_time()
        canvas.load(r)
        v = time.process_time() - c
        f = run_cpu(list(argv), spec.parent)[1]
        key = f"{s.source.suffix[1:]} {s.facts.width}x{s.facts.height}"
        out.setdefault(key, {"libvips": [], "ffmpeg": []})
        out[key]["libvips"].append(v)
        out[key]["ffmpeg"].append(f)
    return {k: {e: round(statistics.median(x), 3) for e, x in v.items()} for k, v in out.items()}


def picture_suite(runs: int, seconds: float) -> dict:
    ff = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="vgen-bench-") as d:
        folder = Path(d)
        names = []
        for r in range(3):
            for k, (ext, w, h) in enumerate(IMAGES):
                names.append(photo(ff, folder / f"i{r}{k}.{ext}", w, h, seed=4 * r + k + 1).name)
        spec = write_spec(folder, "vgen", seconds, names)
        lossless = write_spec(folder, "lossless", seconds, names, quality=0, preset="ultrafast")
        enc = list(prepare(spec, ff).plan.encoder.args)
        subprocess.run(
            [sys.executable, "-m", "vgen", "render", "-q", "--fresh", str(lossless)],
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        vgen = [sys.executable, "-c", SELF_CPU, "render", "-q", "--fresh"]
        mine = folder / "self-cpu.txt"
        subprocess.run(
            [ff.path, "-v", "error", "-y", "-i", "lossless.mp4", "-f", "rawvideo", "-pix_fmt", "yuv420p", "frames.yuv"],
            cwd=folder,
            check=True,
        )
        raw = ["-f", "rawvideo", "-pixel_format", "yuv420p", "-video_size", f"{W}x{H}", "-framerate", str(FPS)]
        argv = {
            ROWS[0]: ([ff.path, *GLOBAL_ARGS[:-2], *raw, "-i", "frames.yuv", *enc, "encode.mp4"], None),
            ROWS[1]: ([*vgen, str(spec)], dict(os.environ, VGEN_BENCH_SELF=str(mine))),
            ROWS[2]: ([*vgen, str(spec)], dict(os.environ, VGEN_CANVASES="ffmpeg", VGEN_BENCH_SELF=str(mine))),
        }
        wall: dict[str, list[float]] = {k: [] for k in ROWS}
        cpu: dict[str, list[float]] = {k: [] for k in ROWS}
        own: dict[str, list[float]] = {k: [] for k in ROWS[1:]}
        for run in range(runs):
            for name in ROWS if run % 2 == 0 else ROWS[::-1]:
                w, c = run_cpu(argv[name][0], folder, argv[name][1])
                wall[name].append(w)
                cpu[name].append(c)
                if name in own:
                    own[name].append(float(mine.read_text()))
                print(f"  {name}: {w:.1f} s wall, {c:.1f} s CPU", file=sys.stderr, flush=True)
        prep = preparation(ff, spec)
    frames = round(seconds * FPS)
    med_w = {k: statistics.median(v) for k, v in wall.items()}
    med_c = {k: statistics.median(v) for k, v in cpu.items()}
    enc_w, enc_c = wall[ROWS[0]], cpu[ROWS[0]]
    rows = {}
    for name in ROWS:
        rows[name] = {
            "wall_s": [round(x, 2) for x in wall[name]],
            "cpu_s": [round(x, 2) for x in cpu[name]],
            "vs_encode_alone": round(med_w[name] / med_w[ROWS[0]], 3),
            "pair_ratios": [round(x / e, 3) for x, e in zip(wall[name], enc_w)],
            "cpu_ms_per_frame_beyond_encoder": round(1000 * (med_c[name] - med_c[ROWS[0]]) / frames, 2),
            "pair_ms_per_frame": [round(1000 * (x - e) / frames, 2) for x, e in zip(cpu[name], enc_c)],
        }
        if name in own:  # the render process itself: no x264, so none of its run-to-run spread
            rows[name]["own_cpu_s"] = [round(x, 2) for x in own[name]]
            rows[name]["own_ms_per_frame"] = round(1000 * statistics.median(own[name]) / frames, 2)
    return {"seconds": seconds, "runs": runs, "frames": frames, "rows": rows, "preparation_cpu_s": prep}


def table(r: dict) -> str:
    lines = [
        f"| {r['seconds']:.0f} s 1080p30, 12 large images | wall (median) | vs encode alone (pairs) "
        "| CPU beyond the encoder per frame (pairs) | the render process's own CPU per frame |",
        "|---|---|---|---|---|",
    ]
    for name, row in r["rows"].items():
        own = f"{row['own_ms_per_frame']:.2f} ms" if "own_ms_per_frame" in row else "-"
        lines.append(
            f"| {name} | {statistics.median(row['wall_s']):.1f} s | {row['vs_encode_alone']:.3f}x "
            f"({', '.join(f'{x:.2f}' for x in row['pair_ratios'])}) | {row['cpu_ms_per_frame_beyond_encoder']:.2f} ms "
            f"({', '.join(f'{x:.1f}' for x in row['pair_ms_per_frame'])}) | {own} |"
        )
    lines += ["", "| canvas (CPU s, median) | libvips | FFmpeg command |", "|---|---|---|"]
    for k, v in r["preparation_cpu_s"].items():
        lines.append(f"| {k} | {v['libvips']:.3f} | {v['ffmpeg']:.3f} |")
    return "\n".join(lines)


def loops_suite() -> dict:
    """The last segment's clip command of a 10-minute slide of a 7.32 s loop (720p30, 60 s
    segments): as planned (starting at its frame, `graph.clip_skip`) against decoding the clip from
    its start, as every segment did before the loop shift was measured. CPU seconds of each."""
    ff = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="vgen-bench-") as d:
        folder = Path(d)
        src = ["-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=7.32", "-f", "lavfi", "-i", "sine=d=7.5"]
        enc = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
        subprocess.run([ff.path, "-v", "error", "-y", *src, *enc, str(folder / "loop.mp4")], check=True)
        spec = {
            "version": 1,
            "output": {"path": "out.mp4", "width": 1280, "height": 720, "fps": 30, "encoder": "libx264"},
            "segments": {"seconds": 60},
            "slides": [{"video": "loop.mp4", "duration": 600}],
        }
        (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
        prep = prepare(folder / "spec.yaml", ff)
        seg, cmd = prep.plan.segments[-1], prep.segment_commands[-1]
        assert cmd.source is not None
        argv = list(cmd.source.layers[0].argv)
        skip = next(int(a.split("start_frame=")[1].split(":")[0].split("[")[0]) for a in argv if "start_frame=" in a)
        old = [
            a.replace(f"start_frame={skip}", f"start_frame={seg.first}").replace(
                f"end_frame={skip + seg.frames}", f"end_frame={seg.first + seg.frames}"
            )
            for a in argv
        ]
        planned = run_cpu(argv, folder)[1]
        from_start = run_cpu(old, folder)[1]
    return {
        "first_frame": seg.first,
        "skip": skip,
        "loop_s": prep.plan.timeline.slides[0].facts.loop,  # type: ignore[union-attr]
        "planned_cpu_s": round(planned, 2),
        "from_start_cpu_s": round(from_start, 2),
    }
