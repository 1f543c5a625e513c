"""Chapters: where they start, YouTube's rules for them, and the description block. Pure.

A chapter begins at the first frame of each slide that names one. YouTube shows chapters only
when the first starts at 0:00, there are at least three, each lasts at least 10 s, and they
ascend; vgen adds a 0:00 chapter (`chapters_intro`) when the first slide names none, and warns,
naming the slide, for every other rule a spec breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

YOUTUBE_MIN_CHAPTERS = 3
YOUTUBE_MIN_SECONDS = 10
YOUTUBE_TITLE_CHARS = 100  # longer titles are cut off in the player's chapter list


@dataclass(frozen=True)
class Chapter:
    frame: int  # first global frame
    title: str
    slide: int  # 0-based index of the slide that starts it (-1: the added intro)


def chapters(starts: list[tuple[int, int, str]], intro: str) -> tuple[Chapter, ...]:
    """Chapters from (slide index, first frame, title) of each slide that names one; a 0:00 chapter
    titled `intro` when the first of them starts later. None when no slide names a chapter."""
    if not starts:
        return ()
    out = [Chapter(frame, title, slide) for slide, frame, title in starts]
    if out[0].frame > 0:
        out.insert(0, Chapter(0, intro, -1))
    return tuple(out)


def stamp(seconds: float, long: bool) -> str:
    """YouTube's timestamp: m:ss, or h:mm:ss for a video of an hour or more (floored to the second,
    so a chapter never appears to start after its slide)."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if long else f"{s // 60:02d}:{s % 60:02d}"


def description(chs: tuple[Chapter, ...], fps: Fraction, total_frames: int) -> str:
    """The block to paste into a YouTube description: one `00:00 Title` line per chapter."""
    long = total_frames / fps >= 3600
    return "".join(f"{stamp(float(c.frame / fps), long)} {c.title}\n" for c in chs)


def warnings(chs: tuple[Chapter, ...], fps: Fraction, total_frames: int, where: list[str]) -> list[str]:
    """Every YouTube rule the chapters break, as one line each; `where[i]` names chapter i's slide."""
    if not chs:
        return []
    out = []
    if len(chs) < YOUTUBE_MIN_CHAPTERS:
        out.append(f"{where[0]}: {len(chs)} chapter(s): YouTube shows chapters only from {YOUTUBE_MIN_CHAPTERS} on")
    ends = [c.frame for c in chs[1:]] + [total_frames]
    long = total_frames / fps >= 3600
    for i, (c, end) in enumerate(zip(chs, ends)):
        seconds = float((end - c.frame) / fps)
        if seconds < YOUTUBE_MIN_SECONDS:
            out.append(
                f"{where[i]}: chapter {c.title!r} lasts {seconds:.1f} s: YouTube needs {YOUTUBE_MIN_SECONDS} s "
                "or more for each (merge it with a neighbour)"
            )
        if len(c.title) > YOUTUBE_TITLE_CHARS:
            out.append(
                f"{where[i]}: chapter title of {len(c.title)} characters: YouTube shows about {YOUTUBE_TITLE_CHARS}"
            )
        if i and stamp(float(c.frame / fps), long) == stamp(float(chs[i - 1].frame / fps), long):
            out.append(
                f"{where[i]}: chapter {c.title!r} starts in the same second as the one before it: "
                "YouTube needs ascending times"
            )
    return out


def ffmetadata(chs: tuple[Chapter, ...], fps: Fraction, total_frames: int) -> str:
    """FFmpeg's metadata file with the chapters, in frames of the video's own rate (exact)."""
    lines = [";FFMETADATA1"]
    ends = [c.frame for c in chs[1:]] + [total_frames]
    for c, end in zip(chs, ends):
        title = "".join("\\" + ch if ch in "=;#\\\n" else ch for ch in c.title)
        lines += [
            "[CHAPTER]",
            f"TIMEBASE={fps.denominator}/{fps.numerator}",
            f"START={c.frame}",
            f"END={end}",
            f"title={title}",
        ]
    return "\n".join(lines) + "\n"
