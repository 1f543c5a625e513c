"""vgen benchmarks: ratios measured side by side in one run (this machine is shared and noisy).

    python bench/run.py [resilience] [compose] [transitions] [graphics] [picture] [loops] [scaling] [fanout]
                        [--runs 3] [--seconds 60]

Writes bench/results.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from vgen.ffmpeg.binary import find_ffmpeg
from vgen.tools import samples

HERE = Path(__file__).resolve().parent


def vgen(*args: str) -> float:
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "vgen", *args], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def ten_minute_spec(folder: Path, ff) -> Path:
    """600 s, 100 slides of 6 s with Ken Burns and fades, 640x360 @ 25 fps, 60 s segments."""
    pics = [samples.photo(ff, folder / f"p{i}.jpg", 1280, 960, seed=i) for i in range(4)]
    slides = []
    for i in range(100):
        img = folder / f"slide{i:03d}.jpg"
        shutil.copy(pics[i % 4], img)
        slides.append({"image": img.name})
    spec = {
        "version": 1,
        "output": {
            "path": "out.mp4",
            "width": 640,
            "height": 360,
            "fps": 25,
            "encoder": "libx264",
            "preset": "p3",
            "quality": 23,
        },
        "segments": {"seconds": 60},
        "defaults": {"duration": 6, "transition": {"type": "fade", "duration": 1.0}, "ken_burns": "auto"},
        "slides": slides,
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def pieces(work: Path) -> int:
    try:
        return sum(1 for k in json.loads((work / "manifest.json").read_text())["pieces"] if k.startswith("seg-"))
    except (OSError, ValueError, KeyError):
        return 0


def resilience(runs: int) -> dict:
    ff = find_ffmpeg()
    rows = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            spec = ten_minute_spec(folder, ff)
            full = vgen("render", "--fresh", "--quiet", str(spec))
            segments = len(list((folder / ".out.vgen").glob("seg-*.mp4")))
            # Kill -9 once 90% of the segments are finished, then resume.
            shutil.rmtree(folder / ".out.vgen")
            (folder / "out.mp4").unlink()
            proc = subprocess.Popen(
                [sys.executable, "-m", "vgen", "render", "--quiet", str(spec)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while pieces(folder / ".out.vgen") < round(0.9 * segments) and proc.poll() is None:
                time.sleep(0.05)
            proc.kill()
            proc.wait()
            resume = vgen("render", "--quiet", str(spec))
            # One slide edited (its image's content swapped), then rendered again.
            shutil.copy(folder / "p1.jpg", folder / "slide050.jpg")
            edit = vgen("render", "--quiet", str(spec))
            rows.append(
                {"full_s": full, "resume_after_kill_at_90_s": resume, "one_slide_edit_s": edit, "segments": segments}
            )
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {
        "runs": rows,
        "median": med,
        "resume_ratio": med["resume_after_kill_at_90_s"] / med["full_s"],
        "edit_ratio": med["one_slide_edit_s"] / med["full_s"],
    }


def machine() -> dict:
    ff = find_ffmpeg()
    return {
        "python": platform.python_version(),
        "cpu_count": __import__("os").cpu_count(),
        "ffmpeg": f"{ff.version} ({ff.source})",
        "platform": platform.platform(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "suites",
        nargs="*",
        default=["compose", "transitions", "graphics", "picture", "loops", "scaling", "resilience", "fanout"],
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60, help="length of the composition case")
    ap.add_argument("--slow-runs", type=int, default=1, help="runs of the slow peers (zoompan recipe, MoviePy)")
    args = ap.parse_args()
    results = HERE / "results.json"
    out = json.loads(results.read_text()) if results.exists() else {}
    out["machine"] = machine()
    if "resilience" in args.suites:
        r = resilience(args.runs)
        out["resilience"] = r
        m = r["median"]
        print("| 10-minute spec (100 slides, 640x360@25, 60 s segments) | seconds (median) | vs full render |")
        print("|---|---|---|")
        print(f"| full render | {m['full_s']:.1f} | 1.00 |")
        print(f"| resume after kill -9 at 90% | {m['resume_after_kill_at_90_s']:.1f} | {r['resume_ratio']:.3f} |")
        print(f"| re-render after a one-slide edit | {m['one_slide_edit_s']:.1f} | {r['edit_ratio']:.3f} |")
    if "compose" in args.suites:
        import compose

        out["compose"] = compose.compose_suite(args.runs, args.seconds, args.slow_runs)
        print(compose.table(out["compose"]))
    if "transitions" in args.suites:
        import compose

        out["transitions"] = tr = compose.transitions_suite(args.runs, args.seconds)
        print(
            f"ten non-fade transitions / ten fades: {tr['ratio']:.3f} (medians {tr['median_s']}, pairs "
            f"{[round(x, 3) for x in tr['pair_ratios']]})"
        )
    if "graphics" in args.suites:
        import compose

        out["graphics"] = gr = compose.graphics_suite(args.runs, args.seconds)
        print(
            f"with graphics (logo, captions, titles) / without: {gr['ratio']:.3f}, "
            f"{gr['cpu_ms_per_frame']:.2f} ms of CPU per frame (medians {gr['median_s']}, pairs "
            f"{[round(x, 3) for x in gr['pair_ratios']]})"
        )
    if "picture" in args.suites:
        import picture

        out["picture"] = picture.picture_suite(args.runs, args.seconds)
        print(picture.table(out["picture"]))
    if "loops" in args.suites:
        import picture

        out["loops"] = lp = picture.loops_suite()
        print(
            f"last segment's clip, 10 min into a 7.32 s loop: {lp['planned_cpu_s']} CPU-s (skips {lp['skip']} frames)"
            f" against {lp['from_start_cpu_s']} decoding from the clip's start ({lp['first_frame']} frames)"
        )
    if "scaling" in args.suites:
        import compose

        out["scaling"] = s = compose.scaling_suite(runs=args.runs)
        print(
            f"peak RSS 60 min / 1 min: {s['rss_ratio']}, peak PSS: {s['pss_ratio']}, "
            f"time per minute 60 min / 1 min: {s['time_per_minute_ratio']}"
        )
        print(json.dumps(s["rows"]))
    if "fanout" in args.suites:
        import fanout

        out["fanout"] = fanout.fanout_suite(runs=args.runs)
        print(fanout.table(out["fanout"]))
    results.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["machine"]))


if __name__ == "__main__":
    main()
