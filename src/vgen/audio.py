"""The audio track: rendered once for the whole timeline, exactly as long as the video.

Narration is resampled to 48 kHz stereo and padded with silence to the last sample; without
narration the track is silence. One AAC encode, muxed at the end: no seams between segments.
"""

from __future__ import annotations

from typing import Any

import ffmpeg as ffm

from vgen.plan import AudioJob
from vgen.timeline import AUDIO_RATE


def audio_stream(job: AudioJob) -> Any:
    if job.narration is None:
        src = ffm.input(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi").audio
    else:
        src = ffm.input(str(job.narration)).audio
    return (
        src.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_fmts="fltp", sample_rates=AUDIO_RATE, channel_layouts="stereo")
        .filter("apad", whole_len=job.samples)
        .filter("atrim", end_sample=job.samples)
    )


AUDIO_CODEC_ARGS = ("-c:a", "aac", "-b:a", "192k")
