"""The mix: narration over a looped, faded, ducked music bed, normalised to a loudness target."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from vgen.pipeline import prepare
from vgen.run.render import render

from helpers import base_spec, run_ff, streams, vgen, write_spec


@pytest.fixture(scope="module")
def sounds(ff, tmp_path_factory):
    d = tmp_path_factory.mktemp("sounds")
    s = {}
    # Speech-like bursts at 440 Hz: 2 s on, 2 s off, 8 s, 44.1 kHz mono MP3.
    s["speech"] = d / "speech.mp3"
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=44100:d=8",
        "-af",
        "volume='if(lt(mod(t,4),2),0.5,0)':eval=frame",
        str(s["speech"]),
    )
    # A music bed at 3 kHz, 3 s long (so it must loop), 22.05 kHz stereo OGG.
    s["music_ogg"] = d / "music.ogg"
    run_ff(ff, "-f", "lavfi", "-i", "sine=f=3000:r=22050:d=3", "-ac", "2", "-c:a", "libvorbis", str(s["music_ogg"]))
    s["music_wav"] = d / "music.wav"
    run_ff(ff, "-f", "lavfi", "-i", "sine=f=3000:r=48000:d=3", str(s["music_wav"]))
    s["speech_m4a"] = d / "speech.m4a"
    run_ff(ff, "-i", str(s["speech"]), "-c:a", "aac", str(s["speech_m4a"]))
    s["speech_wav"] = d / "speech.wav"
    run_ff(ff, "-i", str(s["speech"]), "-ar", "16000", "-ac", "2", str(s["speech_wav"]))
    return s


def spec_with(media, audio: dict, seconds: float = 8.0) -> dict:
    spec = base_spec(seconds=3)
    spec["slides"] = [{"image": str(media["land"]), "ken_burns": "none", "duration": seconds}]
    spec["audio"] = audio
    return spec


def integrated_lufs(ff, path) -> float:
    err = subprocess.run(
        [ff.path, "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1])


def band_levels(ff, path, freq: int, windows: list[tuple[float, float]]) -> list[float]:
    """RMS level (dB) of one frequency band of the output, in each time window."""
    raw = subprocess.run(
        [
            ff.path,
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a",
            "-af",
            f"bandpass=f={freq}:width_type=q:w=8,bandpass=f={freq}:width_type=q:w=8,aformat=channel_layouts=mono",
            "-ar",
            "48000",
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    x = np.frombuffer(raw, np.float32)
    return [20 * np.log10(np.sqrt(np.mean(x[int(a * 48000) : int(b * 48000)] ** 2)) + 1e-12) for a, b in windows]


@pytest.mark.slow
def test_mix_meets_the_loudness_target(ff, media, sounds, tmp_path):
    spec = spec_with(
        media,
        {
            "narration": str(sounds["speech"]),
            "music": {"path": str(sounds["music_ogg"]), "volume": 0.3},
            "loudness": -14,
        },
    )
    r = render(prepare(write_spec(tmp_path, spec), ff))
    s = streams(ff, r.output)
    assert s["frames"] == 80 and abs(s["audio_s"] - 8.0) <= 0.1
    assert "48000 Hz, stereo" in s["info"]
    assert abs(integrated_lufs(ff, r.output) - (-14)) <= 1.0


@pytest.mark.slow
def test_ducking_lowers_music_under_speech_and_restores_it(ff, media, sounds, tmp_path):
    windows = [(4.8, 5.8), (6.6, 7.4)]  # speech (4-6 s), pause (6-8 s)
    levels = {}
    for duck in (True, False):
        spec = spec_with(
            media,
            {
                "narration": str(sounds["speech"]),
                "loudness": None,
                "music": {"path": str(sounds["music_wav"]), "volume": 0.3, "duck": duck, "fade_in": 0, "fade_out": 0},
            },
        )
        spec["output"]["path"] = f"duck-{duck}.mp4"
        r = render(prepare(write_spec(tmp_path, spec, f"duck-{duck}.yaml"), ff))
        levels[duck] = band_levels(ff, r.output, 3000, windows)
    under_speech = levels[False][0] - levels[True][0]
    in_pause = levels[False][1] - levels[True][1]
    assert under_speech >= 6, levels  # measured: ~11 dB lower while the narration speaks
    assert in_pause <= 2, levels  # and back within 2 dB in the pause


@pytest.mark.slow
def test_any_sample_rate_layout_and_format(ff, media, sounds, tmp_path):
    for name, music in (("speech_m4a", "music_ogg"), ("speech_wav", "music_wav")):
        spec = spec_with(media, {"narration": str(sounds[name]), "music": {"path": str(sounds[music])}})
        spec["output"]["path"] = f"{name}.mp4"
        r = render(prepare(write_spec(tmp_path, spec, f"{name}.yaml"), ff))
        s = streams(ff, r.output)
        assert "48000 Hz, stereo" in s["info"] and abs(s["audio_s"] - 8.0) <= 0.1


@pytest.mark.slow
def test_music_fades_and_list_of_tracks(ff, media, sounds, tmp_path):
    spec = spec_with(
        media,
        {
            "loudness": None,
            "music": [
                {"path": str(sounds["music_wav"]), "loop": False, "fade_in": 1.0, "volume": 0.5},
                {"path": str(sounds["music_ogg"]), "loop": True, "fade_out": 2.0, "volume": 0.5},
            ],
        },
    )
    r = render(prepare(write_spec(tmp_path, spec), ff))
    start, mid, end = band_levels(ff, r.output, 3000, [(0.0, 0.2), (3.5, 4.5), (7.8, 8.0)])
    assert start < mid - 10 and end < mid - 10  # faded in at the start, out at the end


@pytest.mark.slow
def test_audio_mix_is_reused_until_audio_changes(ff, media, sounds, tmp_path):
    spec = spec_with(media, {"narration": str(sounds["speech"]), "music": {"path": str(sounds["music_ogg"])}})
    path = write_spec(tmp_path, spec)
    first = prepare(path, ff)
    render(first)
    mtime = first.audio_command.output.stat().st_mtime_ns
    again = prepare(path, ff)
    render(again)
    assert again.audio_command.output == first.audio_command.output
    assert again.audio_command.output.stat().st_mtime_ns == mtime  # not recomputed
    spec["audio"]["music"]["volume"] = 0.5
    changed = prepare(write_spec(tmp_path, spec), ff)
    assert changed.audio_command.output != first.audio_command.output


def test_dry_run_shows_the_audio_graph(media, sounds, tmp_path):
    spec = spec_with(media, {"narration": str(sounds["speech"]), "music": {"path": str(sounds["music_ogg"])}})
    r = vgen("dry-run", write_spec(tmp_path, spec))
    assert r.returncode == 0, r.stderr
    assert "sidechaincompress" in r.stdout and "loudnorm" in r.stdout and "amix" in r.stdout
