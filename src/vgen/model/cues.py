"""Caption cues from what the narration says: a slide's text timed by its word timings, or spread
over its clip. Pure: words and times come in, cues on the output's timeline come out.

With word timings a cue is on screen exactly while its words are spoken. Without them, sentences
share the clip in proportion to their length: an approximation (say so to the user; give
`words:` for exact cues). Either way a cue holds at most two lines of at most ~42 characters and
lasts at most ~7 s, broken at punctuation first: the usual subtitle guidelines (YouTube, Netflix).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

LINE_CHARS = 42
LINES = 2
MAX_CUE_S = 7.0
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"'»”)]*|$)")
_BREAK_AFTER = (".", "!", "?", "…", ";", ":", ",", "—", "–")


@dataclass(frozen=True)
class Cue:
    number: int  # 1-based, in order
    line: int  # line of its timing line in the caption file (0: made from a slide's text)
    start: float  # seconds on the output's timeline
    end: float
    text: str  # lines joined by "\n"
    words: tuple[Word, ...] = ()  # with word timings: each word of `text`, in order, on the video's timeline


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the clip's start
    end: float


class WordsError(ValueError):
    """A word-timings document that is not what vgen reads; the message says where."""


def parse_words(data: Any) -> list[Word]:
    """vgen's own list of {"word", "start", "end"}, or Whisper's verbose_json (its top-level `words`,
    or `segments[].words`). Times in seconds from the clip's start, in order, end >= start."""
    items: Any = data
    if isinstance(data, dict):
        if isinstance(data.get("words"), list):
            items = data["words"]
        elif isinstance(data.get("segments"), list):
            items = [w for seg in data["segments"] if isinstance(seg, dict) for w in seg.get("words") or []]
        else:
            raise WordsError("a JSON object without `words` or `segments[].words` (Whisper's verbose_json)")
    if not isinstance(items, list) or not items:
        raise WordsError("no words: expected a list of {word, start, end}")
    words: list[Word] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise WordsError(f"item {n}: not an object with word, start and end")
        text = item.get("word", item.get("text"))
        start, end = item.get("start"), item.get("end")
        if not isinstance(text, str) or not _number(start) or not _number(end):
            raise WordsError(f"item {n}: needs a string `word` and numbers `start` and `end`")
        start, end = float(start), float(end)
        if end < start or start < 0:
            raise WordsError(f"item {n} ({text.strip()!r}): ends at {end} before it starts at {start}")
        if words and start < words[-1].start - 1e-6:
            raise WordsError(f"item {n} ({text.strip()!r}): starts at {start}, before the word before it")
        if text.strip():
            words.append(Word(text.strip(), start, end))
    if not words:
        raise WordsError("every word is empty")
    return words


def _number(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def lines_of(words: Sequence[str]) -> list[str]:
    """Words wrapped into lines of at most LINE_CHARS (a longer single word stands alone)."""
    lines: list[str] = []
    for w in words:
        if lines and len(lines[-1]) + 1 + len(w) <= LINE_CHARS:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines


def _groups(words: Sequence[Word]) -> Iterable[list[Word]]:
    """Consecutive words in cues: at most LINES lines and MAX_CUE_S seconds, closed at a sentence's
    end, and when full at the last punctuation that leaves the cue at least half full."""
    group: list[Word] = []
    for w in words:
        candidate = [*group, w]
        too_long = len(lines_of([x.word for x in candidate])) > LINES or (w.end - candidate[0].start) > MAX_CUE_S
        if group and too_long:
            cut = _punctuation_cut(group)
            yield group[:cut]
            group = [*group[cut:], w]
            if len(lines_of([x.word for x in group])) > LINES or group[-1].end - group[0].start > MAX_CUE_S:
                yield group[:-1]
                group = [w]
        else:
            group = candidate
        if group and group[-1].word.endswith((".", "!", "?", "…")):
            yield group
            group = []
    if group:
        yield group


def _punctuation_cut(group: Sequence[Word]) -> int:
    for i in range(len(group) - 1, 0, -1):
        if group[i - 1].word.endswith(_BREAK_AFTER) and i >= len(group) / 2:
            return i
    return len(group)


Span = tuple[float, float, str, tuple[Word, ...]]  # start, end, text, its words on the video's timeline


def from_words(words: Sequence[Word], offset: float, end_by: float | None = None) -> list[Span]:
    """(start, end, text, words) of cues that follow the words exactly, `offset` seconds into the
    video (the clip's start); a cue never runs past `end_by`. The words come along, moved by
    `offset`, so the spoken one can be highlighted."""
    out: list[Span] = []
    for group in _groups(words):
        if not group:
            continue
        start, end = offset + group[0].start, offset + group[-1].end
        if end_by is not None:
            end = min(end, end_by)
        if end > start:
            moved = tuple(Word(w.word, offset + w.start, min(offset + w.end, end)) for w in group)
            out.append((start, end, "\n".join(lines_of([w.word for w in group])), moved))
    return out


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(" ".join(text.split())) if s.strip()]


def from_text(text: str, start: float, end: float) -> list[Span]:
    """(start, end, text) of cues spreading `text` over [start, end): each sentence gets a share of
    the time in proportion to its characters, and is cut into cues of two lines at the most."""
    pieces: list[str] = []
    for sentence in sentences(text):
        words = sentence.split()
        chunk: list[str] = []
        for w in words:
            if chunk and len(lines_of([*chunk, w])) > LINES:
                pieces.append(" ".join(chunk))
                chunk = []
            chunk.append(w)
        if chunk:
            pieces.append(" ".join(chunk))
    total = sum(len(p) for p in pieces)
    if not pieces or end <= start:
        return []
    out: list[Span] = []
    t = start
    for p in pieces:
        span = (end - start) * len(p) / total
        words = p.split()
        parts = min(len(words), math.ceil(span / MAX_CUE_S - 1e-9))  # no cue longer than MAX_CUE_S
        for k in range(parts):
            chunk = words[k * len(words) // parts : (k + 1) * len(words) // parts]
            out.append((t + span * k / parts, t + span * (k + 1) / parts, "\n".join(lines_of(chunk)), ()))
        t += span
    return out
