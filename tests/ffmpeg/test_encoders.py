"""Encoder options: every NVENC option we emit exists in the FFmpeg in use; auto falls back."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction

import pytest

from vgen.ffmpeg.encoders import choose, video_args
from vgen.model.spec import Output


def _listed(ff, what: str) -> set[str]:
    proc = subprocess.run([ff.path, "-hide_banner", "-h", what], capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    return set(re.findall(r"^\s*-([\w-]+)(?:\[[^\]]*\])?\s", text, re.MULTILINE))


@pytest.mark.parametrize("encoder", ["h264_nvenc", "hevc_nvenc"])
def test_every_nvenc_option_is_known_to_this_ffmpeg(ff, encoder):
    if encoder not in ff.encoders:
        pytest.skip(f"{ff.path} has no {encoder}")
    args = video_args(encoder, Output(encoder=encoder), Fraction(30))
    specific = _listed(ff, f"encoder={encoder}")
    generic = _listed(ff, "full")
    options = [a.lstrip("-") for a in args[0::2]]
    for opt in options:
        base = opt.split(":")[0]
        assert base in specific or base in generic or opt in generic, f"-{opt} is not an option of {ff.path}"
    # The production set-up, exactly.
    pairs = dict(zip(args[0::2], args[1::2]))
    assert pairs["-preset"] == "p4" and pairs["-tune"] == "hq" and pairs["-rc"] == "vbr"
    assert pairs["-cq"] == "21" and pairs["-b:v"] == "0" and pairs["-rc-lookahead"] == "16"
    assert pairs["-pix_fmt"] == "yuv420p" and pairs["-flags"] == "+cgop"


def test_nvenc_preset_values_are_valid(ff):
    if "h264_nvenc" not in ff.encoders:
        pytest.skip("no h264_nvenc")
    text = subprocess.run([ff.path, "-hide_banner", "-h", "encoder=h264_nvenc"], capture_output=True, text=True).stdout
    for value in ("p4", "hq", "vbr", "high"):
        assert re.search(rf"^\s+{value}\s", text, re.MULTILINE), value


def test_x264_gets_crf_and_a_mapped_preset():
    pairs = dict(
        zip(*[iter(video_args("libx264", Output(encoder="libx264", preset="p4", quality=23), Fraction(30)))] * 2)
    )
    assert pairs["-c:v"] == "libx264" and pairs["-crf"] == "23" and pairs["-preset"] == "faster"
    lossless = video_args("libx264", Output(encoder="libx264", quality=0), Fraction(30))
    assert "-qp" in lossless and "-crf" not in lossless


def test_auto_falls_back_to_x264_with_a_notice(ff):
    if "h264_nvenc" in ff.encoders:
        from vgen.ffmpeg.encoders import try_encoder

        if not try_encoder(ff.path, "h264_nvenc"):
            pytest.skip("NVENC works here")
    choice = choose(ff, Output(), Fraction(30))
    assert choice.name == "libx264" and "NVENC unavailable" in choice.notice


def test_explicit_nvenc_without_gpu_is_a_clear_error(ff):
    from vgen.errors import FFmpegError
    from vgen.ffmpeg.encoders import try_encoder

    if "h264_nvenc" in ff.encoders and not try_encoder(ff.path, "h264_nvenc"):
        pytest.skip("NVENC works here")
    with pytest.raises(FFmpegError, match="h264_nvenc"):
        choose(ff, Output(encoder="h264_nvenc"), Fraction(30))
