"""The audio track: mixed once for the whole timeline, exactly as long as the video.

Narration and music are resampled to 48 kHz stereo; music is looped, faded and ducked under
the narration (sidechain compression); the mix is normalised to the loudness target with a
measured, two-pass `loudnorm` and encoded to AAC once. No seams between segments.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import ffmpeg as ffm

from vgen.errors import FFmpegError
from vgen.ffmpeg.binary import INPUT_SAFETY
from vgen.model.plan import AudioJob
from vgen.model.timeline import AUDIO_RATE

AUDIO_CODEC_ARGS = ("-c:a", "aac", "-b:a", "192k")
TRUE_PEAK = -1.5
LRA = 11
# Ducking: the music drops by ~10-15 dB within ~20 ms of speech and comes back over ~0.5 s.
DUCK = {"threshold": 0.01, "ratio": 20, "attack": 20, "release": 500}


@dataclass(frozen=True)
class Measured:
    """What loudnorm's first pass measured; the second pass uses it for a linear gain."""

    i: float
    tp: float
    lra: float
    thresh: float
    offset: float


def _fit(stream: Any, samples: int | None = None) -> Any:
    s = stream.filter("aresample", AUDIO_RATE).filter(
        "aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE, channel_layouts="stereo"
    )
    if samples is not None:
        s = s.filter("apad", whole_len=samples).filter("atrim", end_sample=samples)
    return s


def _music_bus(job: AudioJob) -> Any | None:
    """The music tracks played in turn (the last one looping when asked), faded, as long as the video."""
    if not job.music:
        return None
    parts = []
    for n, (track, facts) in enumerate(job.music):
        last = n == len(job.music) - 1
        loop = {"stream_loop": -1} if (track.loop and last) else {}
        inp = ffm.input(str(facts.path), **loop, **INPUT_SAFETY)
        s = _fit(inp["a:0"]).filter("volume", f"{track.volume:.6g}")
        if track.fade_in > 0:
            s = s.filter("afade", t="in", st=0, d=f"{track.fade_in:.6g}")
        if track.loop and last:
            s = s.filter("atrim", end_sample=job.samples)
        parts.append(s)
    bus = parts[0] if len(parts) == 1 else ffm.filter(parts, "concat", n=len(parts), v=0, a=1)
    bus = bus.filter("apad", whole_len=job.samples).filter("atrim", end_sample=job.samples)
    fade_out = job.music[-1][0].fade_out
    if fade_out > 0:
        start = max(0.0, job.samples / AUDIO_RATE - fade_out)
        bus = bus.filter("afade", t="out", st=f"{start:.6f}", d=f"{fade_out:.6g}")
    return bus


def _silence(samples: int) -> Any:
    return _fit(ffm.input(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi").audio, samples)


def narration_stream(job: AudioJob) -> Any | None:
    """The narration track: the one file, or the slides' clips in order, each padded with silence
    to exactly its span (to the next clip's first sample), after the silence before the first:
    every clip starts on its slide's first frame, sample-exact, over the whole video."""
    if job.narration is not None:
        return _fit(ffm.input(str(job.narration), **INPUT_SAFETY)["a:0"], job.samples)
    if not job.clips:
        return None
    parts = [_silence(job.clips[0].start)] if job.clips[0].start > 0 else []
    parts += [_fit(ffm.input(str(c.path), **INPUT_SAFETY)["a:0"], c.span) for c in job.clips]
    return parts[0] if len(parts) == 1 else ffm.filter(parts, "concat", n=len(parts), v=0, a=1)


def mix_stream(job: AudioJob) -> Any:
    """Narration over the (ducked) music, or silence, before loudness normalisation."""
    music = _music_bus(job)
    narration = narration_stream(job)
    if narration is None and music is None:
        return _silence(job.samples)
    if music is None:
        return narration
    if narration is None:
        return music
    if any(t.duck for t, _ in job.music):
        split = narration.filter_multi_output("asplit", 2)
        narration, key = split[0], split[1]
        music = ffm.filter([music, key], "sidechaincompress", **DUCK)
    mixed = ffm.filter([narration, music], "amix", inputs=2, duration="first", dropout_transition=0, normalize=0)
    return mixed.filter("atrim", end_sample=job.samples)


def loudness_scan(job: AudioJob) -> Any:
    """Pass 1: measure the mix."""
    return mix_stream(job).filter("loudnorm", I=job.loudness, TP=TRUE_PEAK, LRA=LRA, print_format="json")


def final_stream(job: AudioJob, measured: Measured | None) -> Any:
    """Pass 2: a linear gain to the target from the measured values, back at 48 kHz, exact length."""
    s = mix_stream(job)
    if job.loudness is not None and measured is not None:
        s = s.filter(
            "loudnorm",
            I=job.loudness,
            TP=TRUE_PEAK,
            LRA=LRA,
            measured_I=measured.i,
            measured_TP=measured.tp,
            measured_LRA=measured.lra,
            measured_thresh=measured.thresh,
            offset=measured.offset,
            linear="true",
            print_format="none",
        )
        s = _fit(s, job.samples)
    return s


def parse_loudnorm(stderr: str) -> Measured | None:
    """The JSON block loudnorm prints at the end of pass 1; None for silence (nothing to normalise)."""
    m = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", stderr, re.DOTALL)
    if not m:
        raise FFmpegError(
            "the loudness scan printed no measurement", "rerun with --debug and report it", stderr[-2000:]
        )
    d = json.loads(m.group(0))
    try:
        i = float(d["input_i"])
    except ValueError:
        return None
    if i < -70:  # silence: loudnorm would amplify noise; leave it alone
        return None
    return Measured(i, float(d["input_tp"]), float(d["input_lra"]), float(d["input_thresh"]), float(d["target_offset"]))
