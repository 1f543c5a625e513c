"""Composition speed: the same Ken Burns slideshow rendered every common way, side by side.

    python bench/run.py compose [--runs 3] [--seconds 60]
    python bench/run.py scaling

The case: 1920x1080 at 30 fps, 6 photo-like 3000x2000 slides with a slow zoom and pan, 1 s
crossfades, libx264 `veryfast` crf 20 (vgen's exact encoder arguments for every row), and the
same pair again with x264 held to one thread: a core to spare for the composer, as on a GPU box.
Each row is timed in runs of its own; its peak memory comes from one more run, sampled.
Sharpness is the Laplacian energy of the middle 512x512 of frames of the first slide (higher
keeps more detail); smoothness the rms residual of the frame-to-frame motion of a 64x64 patch
(tests/motion.py: phase correlation, then the spread around the linear trend).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from vgen.ffmpeg import graph  # noqa: E402
from vgen.ffmpeg.binary import find_ffmpeg  # noqa: E402
from vgen.ffmpeg.commands import GLOBAL_ARGS  # noqa: E402
from vgen.pipeline import prepare  # noqa: E402
from vgen.tools import samples  # noqa: E402

from motion import displacements, jitter  # noqa: E402

W, H, FPS, SLIDES = 1920, 1080, 30, 6


def moves(i: int) -> dict:
    a, b = (0.45, 0.55) if i % 2 == 0 else (0.55, 0.45)
    return {"from": {"zoom": 1.0, "x": a, "y": 0.5}, "to": {"zoom": 1.15, "x": b, "y": 0.45}}


def write_spec(
    folder: Path,
    name: str,
    seconds: float,
    w: int = W,
    h: int = H,
    slides: int = SLIDES,
    quality: int = 20,
    preset: str = "veryfast",
    compositor: str = "auto",
) -> Path:
    pics = sorted(folder.glob("p*.jpg"))
    spec = {
        "version": 1,
        "output": {
            "path": f"{name}.mp4",
            "width": w,
            "height": h,
            "fps": FPS,
            "encoder": "libx264",
            "quality": quality,
            "preset": preset,
            "compositor": compositor,
        },
        "segments": {"seconds": 300},
        "defaults": {"duration": seconds / slides, "transition": {"type": "fade", "duration": 1}},
        "slides": [{"image": pics[i % len(pics)].name, "ken_burns": moves(i)} for i in range(slides)],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process and all its descendants, in bytes (Linux /proc). RSS counts the
    shared libraries of every FFmpeg again; PSS splits shared pages among the processes that map
    them, so a tree's PSS is the memory it actually holds. A child caught between fork and exec
    maps its parent's pages (a vfork child shares its very address space): it is not counted again."""
    rss = pss = 0
    todo = [(pid, "")]
    while todo:
        p, parent_exe = todo.pop()
        try:
            exe = os.readlink(f"/proc/{p}/exe")
            if exe == parent_exe:  # forked or vforked, not yet exec'd: the parent's own pages
                continue
            with open(f"/proc/{p}/statm") as f:
                rss += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss += next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("Pss:"))
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [(int(c), exe) for c in f.read().split()]
        except (OSError, ValueError, StopIteration):
            pass
    return rss, pss


def timed(
    argv: list[str],
    cwd: Path,
    stdout=subprocess.DEVNULL,
    sample: float | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, int, int]:
    """Wall seconds, then peak RSS and PSS of the whole process tree when `sample` (seconds between
    samples) is given, else 0, 0. Time and memory are measured in separate runs: a 10 ms sampler
    (needed to catch an image's FFmpeg, ~50 MB PSS for ~0.2 s) costs ~4.6 ms of CPU per sample on a
    vgen tree, a quarter of a core, and slowed `vgen render` by 4.6 s and encode alone by 2 s on 2 cores."""
    peak = [0, 0]
    t = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    done = threading.Event()

    def watch(every: float) -> None:
        while not done.is_set():
            rss, pss = tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(every)

    th = threading.Thread(target=watch, args=(sample,), daemon=True) if sample else None
    if th:
        th.start()
    _, err = proc.communicate()
    wall = time.monotonic() - t
    done.set()
    if th:
        th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]}... failed: {err.decode()[-2000:]}")
    return wall, peak[0], peak[1]


def vgen_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "vgen", *args]


def zoompan_argv(ff: str, folder: Path, seconds: float, enc: tuple[str, ...]) -> list[str]:
    """The recipe found in most tutorials: upscale to 8000 px wide, zoompan, chain of xfades."""
    per = seconds / SLIDES
    clip = [per + 1] * (SLIDES - 1) + [per]  # each xfade eats 1 s of overlap
    pics = sorted(folder.glob("p*.jpg"))
    inputs, parts = [], []
    for i in range(SLIDES):
        n = round(clip[i] * FPS)
        inputs += ["-i", str(pics[i % len(pics)])]
        x0, x1 = (0.45, 0.55) if i % 2 == 0 else (0.55, 0.45)
        parts.append(
            f"[{i}:v]scale=8000:-1,zoompan=z='1+0.15*on/{n}':x='iw*({x0}+{x1 - x0}*on/{n})-iw/zoom/2'"
            f":y='ih*(0.5-0.05*on/{n})-ih/zoom/2':d={n}:s={W}x{H}:fps={FPS},format=yuv420p[v{i}]"
        )
    last, offset = "v0", 0.0
    for i in range(1, SLIDES):
        offset += clip[i - 1] - 1
        parts.append(f"[{last}][v{i}]xfade=transition=fade:duration=1:offset={offset:g}[x{i}]")
        last = f"x{i}"
    return [
        ff,
        *GLOBAL_ARGS[:-2],
        *inputs,
        "-filter_complex",
        ";".join(parts),
        "-map",
        f"[{last}]",
        *enc,
        "zoompan.mp4",
    ]


SPARE_ENCODE = "encode alone, x264 on one thread"
SPARE_VGEN = "vgen render, x264 on one thread (a core to spare for composition)"
ONE_THREAD = """#!/bin/bash
# {ff}, with libx264 held to one thread: -threads 1 just before the output (the last argument)
args=("$@")
n=${{#args[@]}}
for a in "${{args[@]}}"; do
  if [ "$a" = libx264 ]; then
    exec {ff} "${{args[@]:0:n-1}}" -threads 1 "${{args[n-1]}}"
  fi
done
exec {ff} "$@"
"""


MOVIEPY = r"""
# The slideshow as MoviePy users write it: a zoom by resizing every frame, a pan by moving it.
import sys
from moviepy import CompositeVideoClip, ImageClip, vfx
seconds, slides, W, H, fps = float(sys.argv[1]), int(sys.argv[2]), 1920, 1080, 30
pics, per, clips = sys.argv[3:], float(sys.argv[1]) / int(sys.argv[2]), []
for i in range(slides):
    d = per + (1 if i < slides - 1 else 0)
    img = ImageClip(pics[i % len(pics)])
    img = img.resized(max(W / img.w, H / img.h))  # cover
    bw, bh = img.w, img.h
    x0, x1 = (0.45, 0.55) if i % 2 == 0 else (0.55, 0.45)
    z = lambda t, d=d: 1 + 0.15 * t / d
    def pos(t, d=d, z=z, x0=x0, x1=x1, bw=bw, bh=bh):
        w, h = bw * z(t), bh * z(t)
        fx, fy = x0 + (x1 - x0) * t / d, 0.5 - 0.05 * t / d
        return (min(0, max(W - w, W / 2 - fx * w)), min(0, max(H - h, H / 2 - fy * h)))
    c = img.resized(z).with_position(pos).with_duration(d).with_start(i * per)
    clips.append(c.with_effects([vfx.CrossFadeIn(1)]) if i else c)
CompositeVideoClip(clips, size=(W, H)).with_duration(seconds).write_videofile(
    "moviepy.mp4", fps=fps, codec="libx264", preset="veryfast", ffmpeg_params=["-crf", "20"], threads=2,
    audio=False, logger=None)
"""


def gray_crop(ff: str, video: Path, x: int, y: int, size: int, first: int, count: int) -> np.ndarray:
    raw = subprocess.run(
        [
            ff,
            "-v",
            "error",
            "-i",
            str(video),
            "-vf",
            f"select=between(n\\,{first}\\,{first + count - 1}),crop={size}:{size}:{x}:{y},format=gray",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size, size).astype(np.float64)


def quality(ff: str, video: Path) -> tuple[float, float]:
    """(jitter px, Laplacian energy) on the first slide's solo part."""
    patch = gray_crop(ff, video, W // 2 - 32, H // 2 - 32, 64, 30, 200)
    d = displacements(patch, 8, 8)
    big = gray_crop(ff, video, W // 2 - 256, H // 2 - 256, 512, 60, 5)
    lap = big[:, 1:-1, 2:] + big[:, 1:-1, :-2] + big[:, 2:, 1:-1] + big[:, :-2, 1:-1] - 4 * big[:, 1:-1, 1:-1]
    return jitter(d), float(np.mean(lap**2))


def compose_suite(runs: int, seconds: float, slow_runs: int = 1, moviepy: bool = True, spare_runs: int = 3) -> dict:
    ff = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="vgen-bench-") as d:
        folder = Path(d)
        for i in range(SLIDES):
            samples.photo(ff, folder / f"p{i}.jpg", 3000, 2000, seed=i)
        spec = write_spec(folder, "vgen", seconds)
        persp = write_spec(folder, "perspective", seconds, compositor="ffmpeg")
        lossless = write_spec(folder, "lossless", seconds, quality=0, preset="ultrafast")
        prep = prepare(spec, ff)
        enc = list(prep.plan.encoder.args)
        # The frames vgen shows, computed once, losslessly, and stored raw: what "encode alone" encodes.
        subprocess.run(
            vgen_argv("render", "-q", "--fresh", str(lossless)), cwd=folder, check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            [ff.path, "-v", "error", "-y", "-i", "lossless.mp4", "-f", "rawvideo", "-pix_fmt", "yuv420p", "frames.yuv"],
            cwd=folder,
            check=True,
        )
        encode = [
            ff.path,
            *GLOBAL_ARGS[:-2],
            "-f",
            "rawvideo",
            "-pixel_format",
            "yuv420p",
            "-video_size",
            f"{W}x{H}",
            "-framerate",
            str(FPS),
            "-i",
            "frames.yuv",
            *enc,
            "encode.mp4",
        ]
        # Composition alone: the perspective graph into FFmpeg's null muxer; the raw-frame source into /dev/null.
        tl = prep.plan.timeline
        import ffmpeg as ffm

        null_graph = ffm.output(graph.segment_graph(tl, 0, tl.total_frames), "-", f="null").compile(cmd=ff.path)
        src = prep.segment_commands[0].source
        assert src is not None and len(prep.segment_commands) == 1
        (folder / "source.json").write_text(src.to_json())
        rows: dict[str, list[tuple[float, int]]] = {}

        peaks: dict[str, int] = {}

        def measure(
            name: str,
            argv: list[str],
            n: int,
            stdout=subprocess.DEVNULL,
            memory: bool = False,
            env: dict[str, str] | None = None,
        ) -> None:
            """n timed runs; with `memory`, first one more run, sampled every 10 ms, for the peak."""
            if memory:
                peaks[name] = timed(argv, folder, stdout, sample=0.01, env=env)[1]
            for _ in range(n):
                rows.setdefault(name, []).append(timed(argv, folder, stdout, env=env))
                print(f"  {name}: {rows[name][-1][0]:.1f} s", file=sys.stderr, flush=True)

        for run in range(runs):  # interleaved, so drift on a shared machine hits every row alike
            first = run == 0
            measure("encode alone", encode, 1, memory=first)
            measure("vgen render", vgen_argv("render", "-q", "--fresh", str(spec)), 1, memory=first)
            if run < max(slow_runs, 2):  # the slow recipe: two runs are enough to see a 3x gap
                measure(
                    "perspective recipe (vgen --compositor ffmpeg)",
                    vgen_argv("render", "-q", "--fresh", str(persp)),
                    1,
                    memory=first,
                )
                measure("compose only: perspective graph to null", null_graph, 1)
            with open(os.devnull, "wb") as null:
                measure(
                    "compose only: vgen raw frames to /dev/null",
                    [sys.executable, "-m", "vgen.picture", "source.json"],
                    1,
                    null,
                )
        # A core to spare, as on a GPU box where NVENC encodes: the same x264 held to one thread (an
        # FFmpeg wrapper adds -threads 1 to libx264 runs), so the composer has the other core.
        one = folder / "ffmpeg-x264-one-thread"
        one.write_text(ONE_THREAD.format(ff=ff.path))
        one.chmod(0o755)
        pair = [
            (SPARE_ENCODE, [*encode[:-1], "-threads", "1", encode[-1]], None),
            (SPARE_VGEN, vgen_argv("render", "-q", "--fresh", str(spec)), dict(os.environ, VGEN_FFMPEG=str(one))),
        ]
        for run in range(spare_runs):  # ABBA: either row goes first as often
            for name, argv, env in pair if run % 2 == 0 else pair[::-1]:
                measure(name, argv, 1, env=env)
        measure(
            "zoompan recipe (scale=8000, zoompan, xfade)",
            zoompan_argv(ff.path, folder, seconds, tuple(enc)),
            slow_runs,
            memory=True,
        )
        if moviepy:
            (folder / "mp.py").write_text(MOVIEPY)
            measure(
                "MoviePy 2.x (threads=2)",
                [sys.executable, "mp.py", str(seconds), str(SLIDES), *[p.name for p in sorted(folder.glob("p*.jpg"))]],
                slow_runs,
                memory=True,
            )
        outputs = {
            "encode alone": "encode.mp4",
            "vgen render": "vgen.mp4",
            "perspective recipe (vgen --compositor ffmpeg)": "perspective.mp4",
            "zoompan recipe (scale=8000, zoompan, xfade)": "zoompan.mp4",
            "MoviePy 2.x (threads=2)": "moviepy.mp4",
        }
        result = {}
        for name, vals in rows.items():
            wall = statistics.median(v[0] for v in vals)
            row = {"wall_s": [round(v[0], 2) for v in vals], "median_s": round(wall, 2)}
            if name in peaks:
                row["peak_rss_mb"] = round(peaks[name] / 2**20)
            if name in outputs and (folder / outputs[name]).exists():
                jit, lap = quality(ff.path, folder / outputs[name])
                row |= {"jitter_px": round(jit, 3), "laplacian_energy": round(lap, 1)}
            result[name] = row
        base = result["encode alone"]["median_s"]
        for name, row in result.items():
            if not name.startswith("compose only") and name not in (SPARE_ENCODE, SPARE_VGEN):
                row["vs_encode_alone"] = round(row["median_s"] / base, 2)
        if SPARE_VGEN in result:
            spare = result[SPARE_ENCODE]
            result[SPARE_VGEN]["vs_encode_alone"] = round(result[SPARE_VGEN]["median_s"] / spare["median_s"], 3)
            spare["vs_encode_alone"] = 1.0
        pairs = zip(result["encode alone"]["wall_s"], result["vgen render"]["wall_s"])
        result["vgen render"]["pair_ratios"] = [round(v / e, 3) for e, v in pairs]
        p = result["compose only: perspective graph to null"]["median_s"]
        r = result["compose only: vgen raw frames to /dev/null"]["median_s"]
        return {
            "seconds": seconds,
            "runs": runs,
            "slow_runs": slow_runs,
            "rows": result,
            "compose_only_speedup": round(p / r, 2),
        }


def scaling_suite(minutes: tuple[float, float] = (1, 60), runs: int = 1) -> dict:
    """Peak memory and time against length: 640x360, one slide per 10 s, the same six pictures.
    Medians of `runs` renders of each length, the lengths interleaved."""
    ff = find_ffmpeg()
    out = {}
    with tempfile.TemporaryDirectory(prefix="vgen-bench-") as d:
        folder = Path(d)
        for i in range(SLIDES):
            samples.photo(ff, folder / f"p{i}.jpg", 3000, 2000, seed=i)
        specs = {m: write_spec(folder, f"len{m:g}", m * 60, w=640, h=360, slides=round(m * 6)) for m in minutes}
        got: dict[float, list[tuple[float, int, int]]] = {m: [] for m in minutes}
        for _ in range(runs):
            for m in minutes:
                wall, rss, pss = timed(vgen_argv("render", "-q", "--fresh", str(specs[m])), folder, sample=0.01)
                got[m].append((wall, rss, pss))
                print(
                    f"  {m:g} min: {wall:.1f} s, RSS {rss / 2**20:.0f} MB, PSS {pss / 2**20:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
        for m in minutes:
            wall, rss, pss = (statistics.median(x[i] for x in got[m]) for i in range(3))
            out[f"{m:g} min"] = {
                "wall_s": round(wall, 1),
                "peak_rss_mb": round(rss / 2**20),
                "peak_pss_mb": round(pss / 2**20),
                "runs": runs,
                "peak_rss_mb_each": [round(x[1] / 2**20) for x in got[m]],
            }
    a, b = out[f"{minutes[0]:g} min"], out[f"{minutes[1]:g} min"]
    return {
        "rows": out,
        "rss_ratio": round(b["peak_rss_mb"] / a["peak_rss_mb"], 3),
        "pss_ratio": round(b["peak_pss_mb"] / a["peak_pss_mb"], 3),
        "time_per_minute_ratio": round((b["wall_s"] / minutes[1]) / (a["wall_s"] / minutes[0]), 3),
    }


def table(r: dict) -> str:
    lines = [
        f"| way of rendering the same {r['seconds']:g} s | wall (s, median) | vs encode alone | peak RSS (MB) "
        "| jitter (px rms) | Laplacian energy |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in r["rows"].items():
        lines.append(
            f"| {name} | {row['median_s']:.1f} | {row.get('vs_encode_alone', '-')} | {row.get('peak_rss_mb', '-')} | "
            f"{row.get('jitter_px', '-')} | {row.get('laplacian_energy', '-')} |"
        )
    lines.append(f"\ncomposition alone: vgen raw frames {r['compose_only_speedup']}x faster than the perspective graph")
    return "\n".join(lines)


TEN_TRANSITIONS = (
    "wipeleft",
    "slideup",
    "circleopen",
    "dissolve",
    "pixelize",
    "radial",
    "hblur",
    "squeezeh",
    "zoomin",
    "diagtl",
)


def transitions_suite(runs: int, seconds: float) -> dict:
    """The same 1080p slideshow with ten different non-fade transitions and with ten fades (11 slides
    with Ken Burns moves, 1 s transitions), `vgen render` of each, interleaved ABBA: the ratio says
    what drawing xfade's transitions costs beside fades."""
    ff = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="vgen-bench-") as d:
        folder = Path(d)
        for i in range(SLIDES):
            samples.photo(ff, folder / f"p{i}.jpg", 3000, 2000, seed=i)
        specs = {}
        for name, kinds in (("fades", ("fade",) * 10), ("ten", TEN_TRANSITIONS)):
            path = write_spec(folder, name, seconds, slides=11)
            spec = yaml.safe_load(path.read_text())
            for slide, kind in zip(spec["slides"][1:], kinds):
                slide["transition"] = {"type": kind, "duration": 1}
            path.write_text(yaml.safe_dump(spec, sort_keys=False))
            specs[name] = path
        order = [n for _ in range(runs) for n in ("fades", "ten", "ten", "fades")][: 2 * runs]
        times: dict[str, list[float]] = {"fades": [], "ten": []}
        for name in order:
            wall, _, _ = timed(vgen_argv("render", "-q", "--fresh", str(specs[name])), folder)
            times[name].append(wall)
    pairs = [t / f for f, t in zip(times["fades"], times["ten"])]
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "runs": times,
        "median_s": med,
        "ratio": med["ten"] / med["fades"],
        "pair_ratios": pairs,
        "transitions": list(TEN_TRANSITIONS),
        "seconds": seconds,
    }


def _srt(seconds: float, every: float = 3.0) -> str:
    """Two-line captions back to back over the whole video, as a narrated video has them."""
    out, t, n = [], 0.0, 1
    while t + every <= seconds:

        def stamp(x: float) -> str:
            ms = round(x * 1000)
            return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

        out.append(f"{n}\n{stamp(t)} --> {stamp(t + every)}\nCaption number {n}, a line of text\nand a second one\n")
        t, n = t + every, n + 1
    return "\n".join(out)


def graphics_suite(runs: int, seconds: float) -> dict:
    """The 1080p slideshow with and without graphics (a channel logo with alpha, 0.12 of the width,
    over every frame; back-to-back two-line captions; a title every 10 s), `vgen render` of each,
    interleaved ABBA: the wall ratio, and the CPU the graphics cost per frame (children's user +
    system time of each run)."""
    ff = find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="vgen-bench-") as d:
        folder = Path(d)
        for i in range(SLIDES):
            samples.photo(ff, folder / f"p{i}.jpg", 3000, 2000, seed=i)
        samples.logo(ff, folder / "logo.png")
        (folder / "captions.srt").write_text(_srt(seconds), encoding="utf-8")
        specs = {"plain": write_spec(folder, "plain", seconds)}
        path = write_spec(folder, "graphics", seconds)
        spec = yaml.safe_load(path.read_text())
        spec["overlays"] = [{"image": "logo.png", "position": "top-right", "width": 0.12, "opacity": 0.85}]
        spec["subtitles"] = {"path": "captions.srt"}
        spec["titles"] = [
            {"text": f"Part {k + 1}", "at": {"time": 10 * k}, "duration": 4} for k in range(int(seconds // 10))
        ]
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        specs["graphics"] = path
        order = [n for _ in range(runs) for n in ("plain", "graphics", "graphics", "plain")][: 2 * runs]
        times: dict[str, list[float]] = {"plain": [], "graphics": []}
        cpu: dict[str, list[float]] = {"plain": [], "graphics": []}
        for name in order:
            before = os.times()
            wall, _, _ = timed(vgen_argv("render", "-q", "--fresh", str(specs[name])), folder)
            after = os.times()
            times[name].append(wall)
            cpu[name].append(
                after.children_user + after.children_system - before.children_user - before.children_system
            )
    frames = round(seconds * FPS)
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "runs": times,
        "cpu_s": cpu,
        "median_s": med,
        "ratio": med["graphics"] / med["plain"],
        "pair_ratios": [g / p for p, g in zip(times["plain"], times["graphics"])],
        "cpu_ms_per_frame": 1000 * (cpu_med["graphics"] - cpu_med["plain"]) / frames,
        "seconds": seconds,
    }
