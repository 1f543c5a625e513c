"""Media facts: image headers through Pillow, audio/video through ffprobe or, without it, `ffmpeg -i`.

`gather` probes every asset of a spec once, before anything is built from it; the checks of the
files vgen writes itself (frame counts, audio lengths) read their MP4 boxes (`vgen.ffmpeg.mp4`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from vgen import cache
from vgen.errors import AssetProblems, MediaError, last_line
from vgen.ffmpeg import mp4
from vgen.ffmpeg.binary import FFmpeg, input_safety_args
from vgen.model.facts import AVFacts, Facts, ImageFacts
from vgen.model.spec import LoadedSpec
from vgen.run import child

T = TypeVar("T")

Image.MAX_IMAGE_PIXELS = 300_000_000  # huge photos are fine; decompression bombs are not

# Pillow's name of a format found in a file's content -> FFmpeg's decoder for it.
_DECODERS = {
    "JPEG": "mjpeg",
    "MPO": "mjpeg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
    "PPM": "ppm",
    "TGA": "targa",
    "JPEG2000": "jpeg2000",
    "QOI": "qoi",
    "DDS": "dds",
}

# EXIF orientations whose displayed image has width and height swapped.
_SWAPS_AXES = {5, 6, 7, 8}


def _missing(path: Path, what: str) -> MediaError:
    return MediaError(f"{path}: {what} not found", "check the path; relative paths resolve against the spec's folder")


def image_facts(path: Path, *, decode: bool = False) -> ImageFacts:
    """Read an image header (and with `decode`, every pixel) without starting FFmpeg."""
    if not path.is_file():
        raise _missing(path, "image")
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = int(img.getexif().get(0x0112, 1) or 1)
            has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            codec = _DECODERS.get(img.format or "", "")
            if decode:
                img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{path}: not a readable image ({exc})", "re-export it as JPEG, PNG or WebP") from exc
    if orientation not in range(1, 9):
        orientation = 1
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return ImageFacts(path, width, height, orientation, has_alpha, path.stat().st_size, codec)


def av_facts(ff: FFmpeg, path: Path) -> AVFacts:
    """Probe an audio or video file: ffprobe's JSON where there is an ffprobe, else `ffmpeg -i`."""
    if not path.is_file():
        raise _missing(path, "media file")
    facts = _ffprobe(ff.ffprobe, path) if ff.ffprobe else _ffmpeg_i(ff.path, path)
    if facts.duration <= 0 or not (facts.has_audio or facts.has_video):
        raise MediaError(
            f"{path}: no audio or video stream FFmpeg can read", "re-encode it, e.g. to MP4 (H.264) or MP3"
        )
    return facts


def _ffprobe(ffprobe: str, path: Path) -> AVFacts:
    cmd = [ffprobe, "-v", "error", *input_safety_args(), "-print_format", "json", "-show_format", "-show_streams"]
    cmd.append(str(path))
    proc = child.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    if proc.returncode != 0:
        raise MediaError(f"{path}: FFmpeg cannot read it ({last_line(proc.stderr)})", "re-encode or replace the file")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(data.get("format", {}).get("duration") or 0)
    if duration <= 0:
        duration = max((float(s.get("duration") or 0) for s in streams), default=0.0)
    fps = 0.0
    if video:
        num, _, den = str(video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1").partition("/")
        fps = float(num) / float(den or 1) if float(den or 1) else 0.0
    return AVFacts(
        path,
        duration,
        int(video.get("width", 0)) if video else 0,
        int(video.get("height", 0)) if video else 0,
        fps,
        video is not None,
        audio is not None,
        int(audio.get("sample_rate", 0)) if audio else 0,
        int(audio.get("channels", 0)) if audio else 0,
        path.stat().st_size,
    )


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})(?:.*?([\d.]+) fps)?")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: .*?(\d+) Hz, ([^,]+)")
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "5.1(side)": 6, "7.1": 8}


def parse_ffmpeg_info(text: str, path: Path, size_bytes: int = 0) -> AVFacts:
    """Facts from the stream summary `ffmpeg -i FILE` prints (for FFmpeg builds without ffprobe)."""
    d = _DURATION.search(text)
    duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else 0.0
    v = _VIDEO.search(text)
    a = _AUDIO.search(text)
    channels = 0
    if a:
        layout = a.group(2).strip()
        m = re.match(r"(\d+) channels", layout)
        channels = int(m.group(1)) if m else _LAYOUTS.get(layout, 2)
    return AVFacts(
        path,
        duration,
        int(v.group(1)) if v else 0,
        int(v.group(2)) if v else 0,
        float(v.group(3)) if v and v.group(3) else 0.0,
        v is not None,
        a is not None,
        int(a.group(1)) if a else 0,
        channels,
        size_bytes,
    )


def _ffmpeg_i(ffmpeg: str, path: Path) -> AVFacts:
    proc = child.run(
        [ffmpeg, "-hide_banner", *input_safety_args(), "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )
    if "Duration:" not in proc.stderr:
        raise MediaError(f"{path}: FFmpeg cannot read it ({last_line(proc.stderr)})", "re-encode or replace the file")
    return parse_ffmpeg_info(proc.stderr, path, path.stat().st_size)


def _frames_to_null(ff: FFmpeg, path: Path, args: list[str], timeout: int, fails: str) -> tuple[int, str]:
    """Run FFmpeg on the first video stream into the null muxer; (frames it counted, its stderr).
    `fails` says what a failure means, in the error."""
    argv = [ff.path, "-hide_banner", "-nostats", *args[:2], "-i", str(path), "-map", "0:v:0", *args[2:]]
    argv += ["-f", "null", "-", "-progress", "pipe:1"]
    proc = child.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout)
    frames = [int(m) for m in re.findall(r"^frame=(\d+)", proc.stdout, re.MULTILINE)]
    if proc.returncode != 0 or not frames:
        raise MediaError(f"{path}: {fails} ({last_line(proc.stderr)})", "delete it and render again")
    return frames[-1], proc.stderr


def count_frames(ff: FFmpeg, path: Path) -> tuple[int, float]:
    """(video frames, seconds) of a file, by stream-copying it to the null muxer: exact and fast."""
    frames, stderr = _frames_to_null(ff, path, ["-v", "info", "-c", "copy"], 600, "cannot read its video")
    d = _DURATION.search(stderr)
    seconds = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else 0.0
    return frames, seconds


def _from_boxes(path: Path, what: str, read: Callable[[Path], T], ask_ffmpeg: Callable[[], T]) -> T:
    """`read(path)` from the MP4's boxes; FFmpeg where the layout is not one `mp4` knows. A cut-off
    or unreadable file is an error either way: FFmpeg would only count what its index lists."""
    try:
        return read(path)
    except mp4.Damaged as exc:
        raise MediaError(f"{path}: cannot read its {what} ({exc})", "delete it and render again") from exc
    except mp4.Unknown:
        return ask_ffmpeg()
    except OSError as exc:
        raise MediaError(f"{path}: cannot read it ({exc.strerror or exc})", "delete it and render again") from exc


def frame_count(ff: FFmpeg, path: Path) -> int:
    """Video frames of a file vgen wrote (a segment, the output): read from its MP4 sample table in
    a millisecond, or counted by FFmpeg (`count_frames`) where that table is not the usual one."""
    return _from_boxes(path, "video", mp4.video_frames, lambda: count_frames(ff, path)[0])


def audio_length(ff: FFmpeg, path: Path) -> float:
    """Length of the audio track of a file vgen wrote (the audio piece, the output): read from its
    MP4 boxes in a millisecond (decoding took 1.1 s per 15 minutes of AAC here, on the critical
    path at the end of every render), or decoded where the boxes are not the usual ones."""
    return _from_boxes(path, "audio", mp4.audio_seconds, lambda: audio_seconds(ff, path))


def decoded_frames(ff: FFmpeg, path: Path) -> int:
    """Frames of the first video stream, by decoding every one of them (slow, thorough)."""
    return _frames_to_null(ff, path, ["-v", "error", "-xerror"], 3600, "does not decode")[0]


def audio_seconds_cached(ff: FFmpeg, path: Path) -> float:
    """audio_seconds, remembered per (file, size, mtime, FFmpeg version): a two-hour narration is
    decoded once, not on every render, dry-run or `vgen frame`."""
    key = cache.file_key(path, ff.version)
    known = cache.get("audio-durations", key)
    if isinstance(known, (int, float)):
        return float(known)
    seconds = audio_seconds(ff, path)
    cache.put("audio-durations", key, seconds)
    return seconds


def loop_seconds(ff: FFmpeg, path: Path) -> str:
    """How far FFmpeg's `-stream_loop` moves the first video stream on per loop, as exact "num/den"
    seconds ("" where it cannot tell), remembered per (file, FFmpeg version). Measured, not
    predicted: both 5.1 and 9 take the video's packet span plus one frame, but whether an unused
    audio stream counts depends on whether the demuxer skips it. The clip is looped once with the
    render's own input options and its packets copied (nothing decoded): the first packet of the
    second pass, less that of the first."""
    key = cache.file_key(path, ff.version)
    known = cache.get("loop-periods", key)
    if isinstance(known, str):
        return known
    argv = [ff.path, "-hide_banner", "-nostdin", "-v", "error", "-stream_loop", "1", *input_safety_args()]
    argv += ["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
    proc = child.run(argv, capture_output=True, text=True, errors="replace", timeout=600)
    found = _loop_shift(proc.stdout) if proc.returncode == 0 else ""
    cache.put("loop-periods", key, found)
    return found


def own_loops(facts: Facts, ff: FFmpeg) -> Facts:
    """Given facts (a fan-out job plans with the caller's) with every loop shift the caller measured
    measured again by this FFmpeg where the file is here: the shift is that of the FFmpeg that
    decodes the clip. (Piece names do not depend on it; the frames do.)"""
    out = dict(facts)
    for path, f in facts.items():
        if isinstance(f, AVFacts) and f.loop and path.is_file():
            out[path] = dataclasses.replace(f, loop=loop_seconds(ff, path))
    return out


def _loop_shift(framecrc: str) -> str:
    """The shift between the two passes of a once-looped stream in framecrc's listing ("" unless the
    passes have the same packets, the second shifted by one positive amount)."""
    from fractions import Fraction

    tb = re.search(r"^#tb 0: (\d+)/(\d+)", framecrc, re.MULTILINE)
    pts = [int(m) for m in re.findall(r"^0,\s*-?\d+,\s*(-?\d+),", framecrc, re.MULTILINE)]
    if tb is None or len(pts) < 2 or len(pts) % 2:
        return ""
    n = len(pts) // 2
    shifts = {b - a for a, b in zip(pts[:n], pts[n:])}
    if len(shifts) != 1 or (shift := shifts.pop()) <= 0:
        return ""
    seconds = Fraction(shift * int(tb[1]), int(tb[2]))
    return f"{seconds.numerator}/{seconds.denominator}"


def audio_seconds(ff: FFmpeg, path: Path) -> float:
    """Length of the first audio stream, by decoding it: samples written / rate (exact, any build)."""
    proc = child.run(
        [
            ff.path,
            "-hide_banner",
            "-nostats",
            "-v",
            "error",
            *input_safety_args(),
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-ar",
            "48000",
            "-f",
            "s16le",
            "-y",
            "/dev/null",
            "-progress",
            "pipe:1",
        ],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=900,
    )
    sizes = [int(m) for m in re.findall(r"^total_size=(\d+)", proc.stdout, re.MULTILINE)]
    if proc.returncode != 0 or not sizes:
        raise MediaError(f"{path}: cannot decode its audio ({last_line(proc.stderr)})", "delete it and render again")
    return sizes[-1] / 2 / 48000


def gather(loaded: LoadedSpec, ff: FFmpeg, *, decode: bool = False) -> Facts:
    """Probe every asset the spec names, once (`decode`: every image pixel too, as `validate` does).
    Raises AssetProblems with one line per problem, each naming its spec line."""
    facts: Facts = {}
    problems: list[str] = []
    for ref in loaded.spec.assets():
        if ref.role in ("subtitles", "fonts", "words"):  # checked with the captions, against the timeline
            continue
        path = loaded.resolve(ref.path)
        if path in facts and ref.role not in ("narration", "clip"):
            continue
        try:
            facts[path] = _probe(ff, path, ref.role, decode)
        except MediaError as exc:
            problems.append(f"{loaded.where(ref.loc)}: {exc}")
    if problems:
        raise AssetProblems(problems)
    return facts


def _probe(ff: FFmpeg, path: Path, role: str, decode: bool) -> ImageFacts | AVFacts:
    if role in ("image", "overlay"):
        return image_facts(path, decode=decode)
    av = av_facts(ff, path)
    if role == "video" and not av.has_video:
        raise MediaError(f"{path}: has no video stream", "use image: for pictures, or a video file")
    if role in ("narration", "clip", "music") and not av.has_audio:
        raise MediaError(f"{path}: has no audio stream", "give an audio file (MP3, WAV, M4A, OGG)")
    if role == "video":
        av = dataclasses.replace(av, loop=loop_seconds(ff, path))
    if role in ("narration", "clip"):  # the decoded length, not the header's: the video's length depends on it
        av = dataclasses.replace(av, duration=audio_seconds_cached(ff, path))
        if av.duration <= 0:
            raise MediaError(f"{path}: the clip has no audio samples (0 s)", "export the narration again")
    return av
