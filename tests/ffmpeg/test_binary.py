"""Finding FFmpeg (env, PATH, wheel) and probing without ffprobe."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from vgen.errors import FFmpegError
from vgen.ffmpeg import binary as ffmod
from vgen.ffmpeg.probe import av_facts


def test_env_overrides_path(monkeypatch, tmp_path):
    import imageio_ffmpeg

    wheel = imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setenv("VGEN_FFMPEG", wheel)
    path, probe, source = ffmod.locate()
    assert (path, source) == (wheel, "VGEN_FFMPEG")
    monkeypatch.setenv("VGEN_FFMPEG", str(tmp_path / "nope"))
    with pytest.raises(FFmpegError, match="VGEN_FFMPEG"):
        ffmod.locate()


def test_path_then_wheel(monkeypatch, tmp_path):
    monkeypatch.delenv("VGEN_FFMPEG", raising=False)
    monkeypatch.delenv("VGEN_FFPROBE", raising=False)
    if shutil.which("ffmpeg"):
        assert ffmod.locate()[2] == "PATH"
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: the wheel's FFmpeg, no ffprobe
    path, probe, source = ffmod.locate()
    assert source == "imageio-ffmpeg" and probe is None and os.access(path, os.X_OK)
    ff = ffmod.find_ffmpeg()
    assert ff.major >= 5 and "libx264" in ff.encoders and ff.has_filter("perspective")


def test_probing_without_ffprobe_matches_ffprobe(ff, media):
    plain = dataclasses.replace(ff, ffprobe=None)
    for name in ("clip", "narration", "narration_wav"):
        a = av_facts(plain, media[name])
        if ff.ffprobe:
            b = av_facts(ff, media[name])
            assert (a.width, a.height, a.has_audio, a.has_video, a.sample_rate, a.channels) == (
                b.width,
                b.height,
                b.has_audio,
                b.has_video,
                b.sample_rate,
                b.channels,
            )
            assert abs(a.duration - b.duration) < 0.05
    clip = av_facts(plain, media["clip"])
    assert (clip.width, clip.height, round(clip.fps)) == (320, 240, 25) and clip.has_audio


def test_filter_script_option_by_version(ff):
    args = ff.filter_script_args(Path("g.txt"))
    assert args == (["-/filter_complex", "g.txt"] if ff.major >= 7 else ["-filter_complex_script", "g.txt"])


def test_what_a_binary_can_do_is_asked_once_and_asked_again_when_it_changes(ff, monkeypatch, tmp_path):
    """Every vgen run used to start FFmpeg four times (-version, -encoders, -filters, xfade's help)
    before its first frame; the answers are remembered per binary (path, size, mtime)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {ff.path} "$@"\n')
    wrapper.chmod(0o755)

    def inspect() -> tuple[ffmod.FFmpeg, frozenset[str], int]:
        ffmod._inspect.cache_clear()  # a new process, as far as the in-memory cache goes
        ffmod._xfade_names.cache_clear()
        calls.unlink(missing_ok=True)
        found = ffmod._inspect(str(wrapper), None, "VGEN_FFMPEG")
        names = ffmod.xfade_transitions(found)
        return found, names, len(calls.read_text().splitlines()) if calls.exists() else 0

    first, names, ran = inspect()
    assert ran == 4 and first.version == ff.version and "libx264" in first.encoders and "fade" in names
    again, names_again, ran = inspect()
    assert ran == 0 and again == first and names_again == names
    os.utime(wrapper, ns=(1, 1))  # a new build in the same place
    _, _, ran = inspect()
    assert ran == 4
