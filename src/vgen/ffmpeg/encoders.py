"""Encoder profiles -> FFmpeg output arguments, and whether NVENC really works here.

NVENC follows the production set-up (preset p4, tune hq, VBR with constant quality, lookahead
16, High profile, closed GOP); x264/x265 get the same quality as CRF and a mapped preset.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction

from vgen.errors import FFmpegError
from vgen.ffmpeg.binary import FFmpeg
from vgen.model.spec import Output

# NVENC p-presets -> the x264/x265 preset of similar speed/quality balance on a CPU.
P_TO_X264 = {
    "p1": "ultrafast",
    "p2": "superfast",
    "p3": "veryfast",
    "p4": "faster",
    "p5": "fast",
    "p6": "medium",
    "p7": "slow",
}
NVENC = ("h264_nvenc", "hevc_nvenc")


@dataclass(frozen=True)
class EncoderChoice:
    name: str
    args: tuple[str, ...]
    notice: str = ""  # one line for the user when `auto` fell back


# The graph makes BT.709 limited-range pictures; say so in the stream, as YouTube expects.
COLOR_ARGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]


def video_args(encoder: str, out: Output, fps: Fraction) -> list[str]:
    """Output options of one video encoder (no input/output paths)."""
    return _codec_args(encoder, out, fps) + COLOR_ARGS


def _codec_args(encoder: str, out: Output, fps: Fraction) -> list[str]:
    gop = str(max(1, round(float(fps) * 2)))
    if encoder in NVENC:
        preset = out.preset if out.preset.startswith("p") else "p4"
        args = [
            "-c:v",
            encoder,
            "-preset",
            preset,
            "-tune",
            "hq",
            "-rc",
            "vbr",
            "-cq",
            str(out.quality),
            "-b:v",
            "0",
            "-rc-lookahead",
            str(out.lookahead),
        ]
        args += ["-profile:v", "high" if encoder == "h264_nvenc" else "main"]
        args += ["-g", gop, "-flags", "+cgop", "-pix_fmt", "yuv420p"]
        return args + (["-tag:v", "hvc1"] if encoder == "hevc_nvenc" else [])
    preset = P_TO_X264.get(out.preset, out.preset)
    if encoder == "libx264":
        # quality 0 is lossless, which needs the High 4:4:4 Predictive profile x264 picks itself.
        # -crf 0 still quantises chroma (chroma QP offset); -qp 0 is lossless in every plane.
        rate = ["-crf", str(out.quality), "-profile:v", "high"] if out.quality > 0 else ["-qp", "0"]
        return ["-c:v", "libx264", "-preset", preset, *rate, "-g", gop, "-flags", "+cgop", "-pix_fmt", "yuv420p"]
    if encoder == "libx265":
        return [
            "-c:v",
            "libx265",
            "-preset",
            preset,
            "-crf",
            str(out.quality),
            "-g",
            gop,
            "-x265-params",
            "open-gop=0:log-level=error",
            "-pix_fmt",
            "yuv420p",
            "-tag:v",
            "hvc1",
        ]
    raise FFmpegError(f"unknown encoder {encoder}", "use auto, h264_nvenc, hevc_nvenc, libx264 or libx265")


def diagnose_nvenc(stderr: str) -> str:
    """One sentence for what FFmpeg said when NVENC would not open (its real messages)."""
    if "Driver does not support the required nvenc API version" in stderr:
        m = re.search(r"Required: ([\d.]+) Found: ([\d.]+)", stderr)
        d = re.search(r"minimum required Nvidia driver for nvenc is ([\d.]+)", stderr)
        need = f"NVENC API {m.group(1)}, the driver offers {m.group(2)}" if m else "a newer NVENC API"
        floor = f" (driver {d.group(1)} or newer)" if d else ""
        return (
            f"The NVIDIA driver is too old for this FFmpeg: it needs {need}{floor}; run on a host with a newer "
            "driver (on RunPod, allow only CUDA versions the driver floor supports)."
        )
    if "libnvidia-encode" in stderr:
        return (
            "The container cannot load the driver's NVENC library (libnvidia-encode): set "
            "NVIDIA_DRIVER_CAPABILITIES=compute,video,utility; without 'video' it is not mounted."
        )
    if "libcuda" in stderr or "nvcuda.dll" in stderr:
        return (
            "No NVIDIA driver is visible here (no GPU, or the container was started without --gpus / the "
            "NVIDIA runtime)."
        )
    if "No capable devices found" in stderr or "unsupported device" in stderr or "No NVENC capable" in stderr:
        return (
            "This GPU has no NVENC video encoder (data-centre GPUs such as A100, H100 and H200 lack it): "
            "choose an RTX, L4, L40 or A-series workstation GPU."
        )
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return f"NVENC did not open: {lines[0] if lines else 'no message'}"


@functools.lru_cache(maxsize=16)
def try_encoder(ffmpeg_path: str, encoder: str) -> str:
    """Encode one small frame; return '' when it works, else FFmpeg's last error line."""
    cmd = [ffmpeg_path, "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=256x256:r=1"]
    cmd += ["-frames:v", "1", "-c:v", encoder, "-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return ""
    if "nvenc" in encoder:
        return diagnose_nvenc(proc.stderr)
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[0] if lines else f"exit code {proc.returncode}"


def choose(ff: FFmpeg, out: Output, fps: Fraction) -> EncoderChoice:
    """The encoder the output will use: `auto` takes NVENC only when a test encode works."""
    if out.encoder == "auto":
        problem = try_encoder(ff.path, "h264_nvenc") if "h264_nvenc" in ff.encoders else "not built in"
        if not problem:
            return EncoderChoice("h264_nvenc", tuple(video_args("h264_nvenc", out, fps)))
        notice = f"NVENC unavailable, encoding with libx264: {problem}"
        return EncoderChoice("libx264", tuple(video_args("libx264", out, fps)), notice)
    if out.encoder not in ff.encoders:
        raise FFmpegError(f"{ff.path} has no {out.encoder} encoder", "use encoder: auto, or an FFmpeg built with it")
    if out.encoder in NVENC:
        problem = try_encoder(ff.path, out.encoder)
        if problem:
            raise FFmpegError(
                f"{out.encoder} does not work here: {problem}",
                "use encoder: auto or libx264 on machines without an NVIDIA GPU with NVENC",
            )
    return EncoderChoice(out.encoder, tuple(video_args(out.encoder, out, fps)))
