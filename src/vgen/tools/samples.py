"""Sample media made with FFmpeg's lavfi sources: the demo's assets and the tests' fixtures.

`python -m vgen.tools.samples DIR` writes the media `configs/demo.yaml` uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg


def _ff(ff: FFmpeg, *args: str) -> None:
    subprocess.run([ff.path, "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def photo(ff: FFmpeg, path: Path, w: int, h: int, seed: int = 0) -> Path:
    """A detailed, photo-like still (fractal plus texture): sharp edges show any resampling fault."""
    path.parent.mkdir(parents=True, exist_ok=True)
    src = [
        f"mandelbrot=s={w}x{h}:start_scale={2.5 + seed * 0.4}:end_pts=1",
        f"testsrc2=s={w}x{h}",
        f"cellauto=s={w}x{h}:rule={18 + seed * 12}",
        f"life=s={w}x{h}:mold=10:ratio=0.{3 + seed % 5}:death_color=#203040:life_color=#e0c080",
    ][seed % 4]
    _ff(ff, "-f", "lavfi", "-i", src, "-frames:v", "1", str(path))
    return path


def clip(ff: FFmpeg, path: Path, w: int, h: int, seconds: float, rate: int = 25) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    video, sound = f"testsrc=s={w}x{h}:r={rate}:d={seconds}", f"sine=f=330:d={seconds}"
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
    _ff(ff, "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", sound, *codecs, str(path))
    return path


def tone(ff: FFmpeg, path: Path, seconds: float, freq: int = 440, rate: int = 44100, channels: int = 1) -> Path:
    """A 'narration': a tone that speaks in bursts (0.8 s on, 0.4 s off)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "mono" if channels == 1 else "stereo"
    bursts = f"volume='if(lt(mod(t,1.2),0.8),1,0)':eval=frame,aformat=channel_layouts={layout}"
    _ff(ff, "-f", "lavfi", "-i", f"sine=f={freq}:r={rate}:d={seconds}", "-af", bursts, str(path))
    return path


def music(ff: FFmpeg, path: Path, seconds: float) -> Path:
    """A soft chord pad (A minor), to loop under the narration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chord = "+".join(f"0.2*sin({f}*2*PI*t)" for f in (220, 261.63, 329.63))
    fades = f"afade=t=in:d=0.05,afade=t=out:st={seconds - 0.05}:d=0.05"
    _ff(ff, "-f", "lavfi", "-i", f"aevalsrc={chord}|{chord}:s=44100:d={seconds}", "-af", fades, str(path))
    return path


def logo(ff: FFmpeg, path: Path, size: int = 256) -> Path:
    """A channel logo with alpha: an amber disc with a white ring, antialiased edges (a PNG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    d = f"hypot(X-{size / 2}\\,Y-{size / 2})"
    ring = f"between({d}\\,{size * 0.27}\\,{size * 0.36})"
    geq = f"geq=r=255:g='if({ring}\\,255\\,176)':b='if({ring}\\,255\\,0)':a='255*clip({size * 0.48}-{d}+0.5\\,0\\,1)'"
    _ff(ff, "-f", "lavfi", "-i", f"color=c=black:s={size}x{size},format=rgba,{geq}", "-frames:v", "1", str(path))
    return path


DEMO_CAPTIONS = """1
00:00:00,500 --> 00:00:04,000
vgen renders narrated slideshows

2
00:00:05,500 --> 00:00:09,500
Ken Burns motion, sub-pixel smooth

3
00:00:11,000 --> 00:00:16,000
looping clips, transitions, music ducked under the voice

4
00:00:23,000 --> 00:00:29,000
rendered in checkpointed segments
"""


# The narrated example's paragraphs: (chapter or None, text); each is one slide with its own clip.
PARAGRAPHS = [
    ("How vgen times a scene", "Every slide has its own narration. Its length sets the slide's."),
    (None, "The pause after each clip comes from narration_pad, in whole frames."),
    ("Chapters for YouTube", "A chapter starts with a slide. The description block is written for you."),
    (None, "Captions follow the words, at most two short lines at a time."),
    ("Caption files", "SubRip and WebVTT files carry exactly the burned cues, ready to upload."),
    (None, "Nothing drifts over two hours: every time is a whole frame."),
]


def words_of(text: str) -> list[dict[str, object]]:
    """Word timings matching `tone`'s bursts: the k-th word is spoken in [1.2 k, 1.2 k + 0.8) s."""
    return [{"word": w, "start": round(1.2 * k, 3), "end": round(1.2 * k + 0.8, 3)} for k, w in enumerate(text.split())]


def narrated_media(folder: Path, ff: FFmpeg | None = None) -> None:
    """The media `configs/narrated.yaml` uses: one tone clip per paragraph, as long as its words
    (a burst per word), with the word timings a TTS engine or Whisper would give."""
    ff = ff or find_ffmpeg()
    for i, (_, text) in enumerate(PARAGRAPHS):
        n = len(text.split())
        tone(ff, folder / "narration" / f"p{i + 1:02d}.mp3", round(1.2 * n - 0.4, 3), freq=330 + 40 * i)
        words = folder / "narration" / f"p{i + 1:02d}.words.json"
        words.write_text(json.dumps(words_of(text), indent=1), encoding="utf-8")


def demo_media(folder: Path, ff: FFmpeg | None = None) -> None:
    ff = ff or find_ffmpeg()
    for i, (w, h) in enumerate([(1600, 1200), (1200, 1600), (1920, 1080), (1000, 1000)]):
        photo(ff, folder / "images" / f"{i + 1:03d}.jpg", w, h, seed=i)
    clip(ff, folder / "clips" / "loop.mp4", 640, 360, 3)
    tone(ff, folder / "audio" / "narration.mp3", 30.0)
    music(ff, folder / "audio" / "music.mp3", 8.0)
    (folder / "captions.srt").write_text(DEMO_CAPTIONS, encoding="utf-8")
    logo(ff, folder / "brand" / "logo.png")
    narrated_media(folder, ff)


if __name__ == "__main__":
    demo_media(Path(sys.argv[1] if len(sys.argv) > 1 else "configs/media"))
