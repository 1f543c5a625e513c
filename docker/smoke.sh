#!/usr/bin/env bash
# For a machine with Docker and an NVIDIA GPU (with NVENC): build the worker image, run it once on
# test_input.json exactly as RunPod would, and check that the result is an NVENC-encoded video of
# the right length. Usage: docker/smoke.sh [image-tag]
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-vgen-worker:smoke}"
docker build -f docker/Dockerfile -t "$tag" .
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The local output target exists only when VGEN_LOCAL_OUTPUT_DIR is set: for this smoke test, not in production.
docker run --rm --gpus all -e VGEN_REQUIRE_NVENC=1 -e VGEN_LOCAL_OUTPUT_DIR=/tmp/vgen-output -v "$out:/tmp/vgen-output" "$tag" \
  vgen serve-runpod --test_input "$(cat test_input.json)" | tee "$out/log.txt"
grep -q "'encoder': 'h264_nvenc'" "$out/log.txt" || { echo "FAIL: the job did not encode with NVENC"; exit 1; }
video="$out/smoke/test_input.mp4"
[ -s "$video" ] || { echo "FAIL: no video at $video"; exit 1; }
frames="$(docker run --rm -v "$out:/v" --entrypoint ffprobe "$tag" -v error -count_packets -select_streams v:0 \
  -show_entries stream=codec_name,nb_read_packets -of csv=p=0 "/v/smoke/test_input.mp4")"
echo "video stream: $frames"
# 3 + 3 + 3 + 3 s of slides at 25 fps = 300 frames, H.264.
[ "$frames" = "h264,300" ] || { echo "FAIL: expected h264,300"; exit 1; }
echo "OK: NVENC-encoded, 300 frames (12.0 s)"
