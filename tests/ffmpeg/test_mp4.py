"""Frame counts read from MP4 sample tables: the same numbers FFmpeg counts, on files FFmpeg wrote;
cut-off files refused; layouts the reader does not know handed to FFmpeg."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from vgen.errors import MediaError
from vgen.ffmpeg import mp4
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.probe import audio_length, audio_seconds, count_frames, frame_count

from helpers import run_ff


def made(ff: FFmpeg, path: Path, frames: int, *extra: str) -> Path:
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s=160x90:r=25:d={frames / 25}",
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000:d=2",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        *extra,
        str(path),
    )
    return path


@pytest.mark.parametrize("extra", [(), ("-movflags", "+faststart")], ids=["moov-last", "faststart"])
def test_counts_what_ffmpeg_counts(ff, tmp_path, extra):
    video = made(ff, tmp_path / "v.mp4", 37, *extra)
    assert mp4.video_frames(video) == count_frames(ff, video)[0] == 37


def test_the_video_track_is_found_after_the_audio_track(ff, tmp_path):
    video = tmp_path / "v.mp4"
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000:d=1",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x64:r=10:d=1",
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        str(video),
    )
    assert mp4.video_frames(video) == 10


def test_a_64_bit_box_size_is_read(ff, tmp_path):
    """Files over 4 GiB carry mdat with a 64-bit size; FFmpeg reserves 8 bytes for it (a 'free'
    box just before mdat). The same file rewritten that way counts the same and still plays."""
    video = made(ff, tmp_path / "v.mp4", 12)
    data = bytearray(video.read_bytes())
    at = data.index(b"mdat") - 4
    assert data[at - 8 : at] == struct.pack(">I4s", 8, b"free")
    size = struct.unpack_from(">I", data, at)[0]
    data[at - 8 : at + 8] = struct.pack(">I4sQ", 1, b"mdat", size + 8)
    wide = tmp_path / "wide.mp4"
    wide.write_bytes(bytes(data))
    assert mp4.video_frames(wide) == count_frames(ff, wide)[0] == 12


@pytest.mark.parametrize("keep", [0.3, 0.97, 0.9999])
def test_a_cut_off_file_is_refused(ff, tmp_path, keep):
    """A killed writer or a full disk leaves a short file: never a count, neither here nor through
    the fallback (FFmpeg itself would count the packets its moov lists)."""
    whole = made(ff, tmp_path / "v.mp4", 25, "-movflags", "+faststart")
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(mp4.Damaged):
        mp4.video_frames(cut)
    with pytest.raises(MediaError, match="cut.mp4"):
        frame_count(ff, cut)


def test_a_fragmented_file_is_counted_by_ffmpeg(ff, tmp_path):
    video = made(ff, tmp_path / "frag.mp4", 30, "-movflags", "+frag_keyframe+empty_moov", "-g", "10")
    with pytest.raises(mp4.Unknown):
        mp4.video_frames(video)
    assert frame_count(ff, video) == 30


def test_not_an_mp4_at_all(ff, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10abcd" + b"x" * 100)
    with pytest.raises(MediaError):
        frame_count(ff, junk)
    with pytest.raises(MediaError):
        frame_count(ff, tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    "rate,seconds,extra", [(48000, 7.3, ()), (44100, 3.01, ("-movflags", "+faststart")), (22050, 2.5, ("-ac", "1"))]
)
def test_audio_length_is_the_samples_written(ff, tmp_path, rate, seconds, extra):
    """The edit list trims the AAC encoder's priming and padding: the length is the exact number of
    samples FFmpeg was given, at any rate (a decode by FFmpeg 5.1 also counts the padding)."""
    sound = tmp_path / "a.m4a"
    run_ff(ff, "-f", "lavfi", "-i", f"sine=r={rate}", "-t", str(seconds), "-c:a", "aac", *extra, str(sound))
    assert mp4.audio_seconds(sound) == pytest.approx(seconds, abs=1e-3)
    assert audio_length(ff, sound) == pytest.approx(audio_seconds(ff, sound), abs=1024 / rate)


def test_audio_length_of_a_joined_file(ff, tmp_path):
    """Video first, audio second, stream-copied: what `vgen render` joins and then checks."""
    video = made(ff, tmp_path / "v.mp4", 50)
    assert mp4.audio_seconds(video) == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(mp4.Unknown, match="soun"):
        mp4.audio_seconds(made(ff, tmp_path / "silent.mp4", 10, "-an"))


def test_audio_length_of_a_cut_off_or_odd_file(ff, tmp_path):
    whole = made(ff, tmp_path / "v.mp4", 25, "-movflags", "+faststart")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    with pytest.raises(MediaError, match="cut.mp4"):
        audio_length(ff, cut)
    delayed = tmp_path / "delayed.mp4"  # an empty edit first: FFmpeg decides (here by decoding)
    run_ff(
        ff,
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000:d=1",
        "-itsoffset",
        "0.5",
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000:d=1",
        "-map",
        "1:a",
        "-c:a",
        "aac",
        str(delayed),
    )
    with pytest.raises(mp4.Unknown):
        mp4.audio_seconds(delayed)
    assert audio_length(ff, delayed) == pytest.approx(audio_seconds(ff, delayed))
