#!/usr/bin/env bash
# Composition baseline: 20 s of 1080p30 Ken Burns, vgen render vs encoding the same frames alone.
# Usage: bench/compose_baseline.sh   (after make setup; uses the FFmpeg vgen finds)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
ff="$("$py" -c 'from vgen.ffmpeg import find_ffmpeg; print(find_ffmpeg().path)')"
"$py" - <<'PY'
import yaml
from pathlib import Path
from vgen import samples
from vgen.ffmpeg import find_ffmpeg
ff = find_ffmpeg()
for i in range(4):
    samples.photo(ff, Path(f"p{i}.jpg"), 3000, 2000, seed=i)
kb = {"from": {"zoom": 1.0, "x": 0.45, "y": 0.5}, "to": {"zoom": 1.15, "x": 0.55, "y": 0.45}}
for name, q, preset in (("vgen", 20, "veryfast"), ("lossless", 0, "ultrafast")):
    spec = {"version": 1, "output": {"path": f"{name}.mp4", "width": 1920, "height": 1080, "fps": 30,
                                     "encoder": "libx264", "quality": q, "preset": preset},
            "defaults": {"duration": 5, "transition": {"type": "fade", "duration": 1}},
            "slides": [{"image": f"p{i}.jpg", "ken_burns": kb} for i in range(4)]}
    Path(f"{name}.yaml").write_text(yaml.safe_dump(spec))
PY
"$py" -m vgen render -q --fresh lossless.yaml >/dev/null
"$ff" -v error -y -i lossless.mp4 -f rawvideo -pix_fmt yuv420p frames.yuv
t0=$(date +%s.%N)
"$ff" -v error -y -f rawvideo -pix_fmt yuv420p -s 1920x1080 -r 30 -i frames.yuv -c:v libx264 -preset veryfast \
  -crf 20 -pix_fmt yuv420p enc.mp4
t1=$(date +%s.%N)
"$py" -m vgen render -q --fresh vgen.yaml >/dev/null
t2=$(date +%s.%N)
python3 -c "import sys; a,b,c=map(float,sys.argv[1:]); print(f'encode alone {b-a:.1f} s, vgen render {c-b:.1f} s, ratio {(c-b)/(b-a):.2f}')" "$t0" "$t1" "$t2"
