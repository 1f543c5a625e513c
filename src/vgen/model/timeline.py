"""Spec + media facts -> Timeline: every time turned into whole frames, once.

Slide i starts where slide i-1 ends; the transition into a slide is centred on that
boundary. Each slide is *visible* from `clip_start` to `clip_end` (its hold plus the halves
of its transitions). Everything here is pure: media facts come in as arguments (probing them is
`vgen.ffmpeg.probe.gather`).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from vgen.errors import SpecError
from vgen.model import graphics, kenburns
from vgen.model.chapters import Chapter, chapters
from vgen.model.facts import AVFacts, Facts, ImageFacts
from vgen.model.limits import Limits
from vgen.model.spec import LoadedSpec, MusicTrack, Slide

AUDIO_RATE = 48_000


@dataclass(frozen=True)
class TransitionTL:
    type: str
    frames: int
    first: int  # first global frame of the transition


@dataclass(frozen=True)
class ClipTL:
    """A slide's own narration on the audio timeline, in samples at AUDIO_RATE: it starts on the
    slide's first frame, sample-exact, and owns the track until the next narrated slide starts."""

    path: Path
    start: int  # first sample
    samples: int  # the clip's own length
    span: int  # samples until the next clip (or the video's end): the clip, then silence

    @property
    def seconds(self) -> float:
        return self.samples / AUDIO_RATE


@dataclass(frozen=True)
class SlideTL:
    index: int
    kind: Literal["image", "video"]
    source: Path
    start: int  # boundary frames: the slide owns [start, end) of the cut-only timeline
    end: int
    clip_start: int  # frames on screen, transitions included
    clip_end: int
    hold_start: int  # frames where this slide alone is on screen: [hold_start, hold_end)
    hold_end: int
    trans_in: TransitionTL | None
    fit: str
    move: kenburns.Move
    canvas_w: float  # the fitted canvas at working factor 1, in output pixels
    canvas_h: float
    facts: ImageFacts | AVFacts
    timed_by: Literal["given", "default", "narration", "fills narration"] = "given"  # where its length comes from
    clip: ClipTL | None = None  # its own narration

    @property
    def frames(self) -> int:
        return self.clip_end - self.clip_start

    @property
    def hold(self) -> tuple[int, int]:
        return self.hold_start, self.hold_end


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    fps: Fraction
    total_frames: int
    slides: tuple[SlideTL, ...]
    narration: AVFacts | None
    music: tuple[tuple[MusicTrack, AVFacts], ...] = ()
    loudness: float | None = None
    chapters: tuple[Chapter, ...] = ()
    overlays: tuple[graphics.OverlayTL, ...] = ()
    titles: tuple[graphics.TitleTL, ...] = ()

    @property
    def clips(self) -> tuple[ClipTL, ...]:
        """The slides' own narration clips, in order."""
        return tuple(s.clip for s in self.slides if s.clip is not None)

    @property
    def seconds(self) -> float:
        return float(self.total_frames / self.fps)

    @property
    def audio_samples(self) -> int:
        return round(self.total_frames * AUDIO_RATE / self.fps)

    def frame_time(self, frame: int) -> float:
        return float(frame / self.fps)

    def visible(self, first: int, end: int) -> tuple[SlideTL, ...]:
        """The slides on screen somewhere in global frames [first, end), in order. Both ends of the
        slides' visible ranges grow with their index, so two bisections find them: planning a
        video of many segments and slides stays O(segments log slides)."""
        lo = bisect.bisect_right(self._clip_ends, first)  # the first slide still on screen at `first`
        hi = bisect.bisect_left(self._clip_starts, end)  # the first slide that starts at `end` or later
        return self.slides[lo:hi]

    @functools.cached_property
    def _clip_starts(self) -> list[int]:
        return [s.clip_start for s in self.slides]

    @functools.cached_property
    def _clip_ends(self) -> list[int]:
        return [s.clip_end for s in self.slides]


def fps_fraction(fps: float) -> Fraction:
    """29.97 -> 30000/1001, 30 -> 30: NTSC rates exact, others as written."""
    for base in (24, 30, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(str(fps)).limit_denominator(1001)


def to_frames(seconds: float, fps: Fraction) -> int:
    return round(Fraction(str(seconds)) * fps)


def canvas_size(fit: str, img_w: int, img_h: int, out_w: int, out_h: int) -> tuple[float, float]:
    """Size of the fitted canvas: cover fills the frame (overflowing one way); contain is the frame."""
    if fit == "contain":
        return float(out_w), float(out_h)
    s = max(out_w / img_w, out_h / img_h)
    return img_w * s, img_h * s


def _transition_for(slide: Slide, loaded: LoadedSpec) -> tuple[str, float]:
    t = slide.transition or loaded.spec.defaults.transition
    return t.type, (0.0 if t.is_cut else t.duration)


def clock(seconds: float) -> str:
    """12345.6 -> '3:25:45'."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def check_length(loaded: LoadedSpec, seconds: float, limits: Limits, *, at_least: bool = False) -> None:
    """The video's length against `limits.max_video_seconds`, as one line naming both."""
    cap = limits.max_video_seconds
    if seconds > cap:
        raise SpecError(
            f"{loaded.where(('slides',))}: the video would last {'at least ' if at_least else ''}{clock(seconds)} "
            f"({seconds:.0f} s), over the {clock(cap)} cap",
            "shorten it, or raise VGEN_MAX_VIDEO_SECONDS (in seconds) where it renders",
        )
    segments = seconds / loaded.spec.segments.seconds
    if segments > limits.max_segments:
        raise SpecError(
            f"{loaded.where(('segments', 'seconds'))}: {loaded.spec.segments.seconds:g} s segments cut this video "
            f"into {segments:.0f} pieces, over {limits.max_segments}",
            f"use segments of at least {seconds / limits.max_segments:.1f} s",
        )
    if limits.max_slides is not None and len(loaded.spec.slides) > limits.max_slides:
        raise SpecError(
            f"{loaded.where(('slides',))}: {len(loaded.spec.slides)} slides, over the cap of {limits.max_slides}",
            "split the video, or raise VGEN_MAX_SLIDES where it renders",
        )


def given_seconds(loaded: LoadedSpec) -> float:
    """The length the slides' own durations add up to (a last slide that fills to the narration
    counts as nothing): a lower bound, known before any asset is fetched or probed."""
    spec, n = loaded.spec, len(loaded.spec.slides)
    narrated = bool(spec.audio and spec.audio.narration)

    def least(i: int, s: Slide) -> float:
        if s.duration is not None:
            return s.duration
        if s.narration is not None:
            return spec.defaults.narration_pad  # plus its clip, unknown until probed
        return 0.0 if i == n - 1 and narrated else spec.defaults.duration

    return sum(least(i, s) for i, s in enumerate(spec.slides))


def build_timeline(loaded: LoadedSpec, facts: Facts, limits: Limits | None = None) -> Timeline:
    """All slide and transition frames of the spec. Raises SpecError naming the spec line."""
    limits = limits or Limits()
    spec = loaded.spec
    out = spec.output
    fps = fps_fraction(out.fps)
    narration = None
    if spec.audio and spec.audio.narration:
        narration = _av(facts, loaded.resolve(spec.audio.narration))

    # Boundaries of the cut-only timeline, rounded from cumulative time: no drift over hours.
    bounds = [0]
    elapsed = Fraction(0)
    n = len(spec.slides)
    timed_by: list[Literal["given", "default", "narration", "fills narration"]] = []
    for i, slide in enumerate(spec.slides):
        if slide.duration is None and i == n - 1 and narration is not None:
            timed_by.append("fills narration")
            narr_end = math.ceil(Fraction(str(narration.duration)) * fps - Fraction(1, 1000))
            if narr_end - bounds[-1] < 1:
                raise SpecError(
                    f"{loaded.where(('slides', i))}: the narration ({narration.duration:.2f} s) ends before the last "
                    f"slide starts ({float(bounds[-1] / fps):.2f} s)",
                    "give the last slide a duration, or shorten the slides before it",
                )
            bounds.append(narr_end)
            continue
        if slide.duration is not None:
            elapsed += Fraction(str(slide.duration))
            timed_by.append("given")
        elif slide.narration is not None:  # its clip plus the pad, added exactly: no drift over hours
            clip = _av(facts, loaded.resolve(slide.narration))
            elapsed += Fraction(round(clip.duration * AUDIO_RATE), AUDIO_RATE) + Fraction(
                str(spec.defaults.narration_pad)
            )
            timed_by.append("narration")
        else:
            elapsed += Fraction(str(spec.defaults.duration))
            timed_by.append("default")
        end = round(elapsed * fps)
        if end <= bounds[-1]:
            raise SpecError(f"{loaded.where(('slides', i, 'duration'))}: shorter than one frame", "make it longer")
        bounds.append(end)
    total = bounds[-1]
    check_length(loaded, float(total / fps), limits)

    if narration is not None and narration.duration > float(total / fps) + float(1 / fps):
        over = narration.duration - float(total / fps)
        raise SpecError(
            f"{loaded.where(('audio', 'narration'))}: the narration ({narration.duration:.2f} s) is {over:.2f} s "
            f"longer than the slides ({float(total / fps):.2f} s)",
            "lengthen the slides by that much, or leave the last slide without a duration so it fills to the narration",
        )

    clips = _clips(loaded, facts, bounds, fps)

    # Transitions, centred on the boundaries.
    trans: list[TransitionTL | None] = [None]
    for i in range(1, n):
        kind, secs = _transition_for(spec.slides[i], loaded)
        frames = to_frames(secs, fps)
        trans.append(TransitionTL(kind, frames, bounds[i] - frames // 2) if frames > 0 else None)

    slides = []
    for i, slide in enumerate(spec.slides):
        t_in, t_out = trans[i], trans[i + 1] if i + 1 < n else None
        clip_start = t_in.first if t_in else bounds[i]
        clip_end = t_out.first + t_out.frames if t_out else bounds[i + 1]
        hold_start = t_in.first + t_in.frames if t_in else clip_start
        hold_end = t_out.first if t_out else clip_end
        if hold_end < hold_start or clip_start < 0:
            secs = float((bounds[i + 1] - bounds[i]) / fps)
            t_in_s = float(t_in.frames / fps) if t_in else 0.0
            t_out_s = float(t_out.frames / fps) if t_out else 0.0
            blame = ("slides", i + 1, "transition") if t_out and t_out_s >= t_in_s else ("slides", i, "transition")
            raise SpecError(
                f"{loaded.where(blame)}: slide {i + 1} ({secs:.2f} s) is shorter than its transitions "
                f"(in {t_in_s:.2f} s, out {t_out_s:.2f} s; each covers half its length of the slide)",
                "shorten the transitions or lengthen the slide",
            )
        path = loaded.resolve(slide.source)
        f = facts[path]
        fit = slide.fit or spec.defaults.fit
        if isinstance(f, ImageFacts):
            cw, ch = canvas_size(fit, f.width, f.height, out.width, out.height)
        else:
            cw, ch = float(out.width), float(out.height)
        kb = slide.ken_burns if slide.ken_burns is not None else spec.defaults.ken_burns
        if slide.video is not None:
            kb = "none"  # clips move by themselves
        move = kenburns.resolve(kb, i, cw, ch, out.width, out.height)
        slides.append(
            SlideTL(
                index=i,
                kind="image" if slide.image is not None else "video",
                source=path,
                start=bounds[i],
                end=bounds[i + 1],
                clip_start=clip_start,
                clip_end=clip_end,
                hold_start=hold_start,
                hold_end=hold_end,
                trans_in=t_in,
                fit=fit,
                move=move,
                canvas_w=cw,
                canvas_h=ch,
                facts=f,
                timed_by=timed_by[i],
                clip=clips.get(i),
            )
        )
    music = tuple((t, _av(facts, loaded.resolve(t.path))) for t in (spec.audio.tracks if spec.audio else []))
    loudness = spec.audio.loudness if spec.audio else None
    named = [(i, bounds[i], s.chapter) for i, s in enumerate(spec.slides) if s.chapter is not None]
    chs = chapters(named, spec.chapters_intro)
    at = functools.partial(to_frames, fps=fps)
    seconds = float(total / fps)
    ovs = graphics.overlays(loaded, facts, at, total, seconds)
    titles = graphics.titles(loaded, bounds[:-1], chs, at, total, seconds)
    return Timeline(out.width, out.height, fps, total, tuple(slides), narration, music, loudness, chs, ovs, titles)


def _clips(loaded: LoadedSpec, facts: Facts, bounds: list[int], fps: Fraction) -> dict[int, ClipTL]:
    """Each narrated slide's clip on the audio timeline. A clip may run on under the slides after
    its own (when its slide gives a shorter duration) but must end before the next clip starts and
    before the video ends: one error names both slides, the overlap and the fix."""
    narrated = [(i, s) for i, s in enumerate(loaded.spec.slides) if s.narration is not None]
    end_sample = round(Fraction(bounds[-1]) * AUDIO_RATE / fps)
    starts = [round(Fraction(bounds[i]) * AUDIO_RATE / fps) for i, _ in narrated]
    out: dict[int, ClipTL] = {}
    for k, (i, slide) in enumerate(narrated):
        assert slide.narration is not None
        path = loaded.resolve(slide.narration)
        samples = round(_av(facts, path).duration * AUDIO_RATE)
        stop = starts[k + 1] if k + 1 < len(narrated) else end_sample
        if starts[k] + samples > stop:
            over = (starts[k] + samples - stop) / AUDIO_RATE
            if k + 1 < len(narrated):
                j = narrated[k + 1][0]
                what = f"runs {over:.2f} s into slide {j + 1}'s narration"
                fix = (
                    f"leave slide {i + 1} without a duration (it then lasts its clip plus the pad), lengthen it by "
                    f"{over:.2f} s, or start slide {j + 1} later"
                )
            else:
                what = f"runs {over:.2f} s past the end of the video"
                fix = f"leave slide {i + 1} without a duration, or lengthen the slides after it by {over:.2f} s"
            raise SpecError(
                f"{loaded.where(('slides', i, 'narration'))}: slide {i + 1}'s narration ({samples / AUDIO_RATE:.2f} s) "
                f"{what}",
                fix,
            )
        out[i] = ClipTL(path, starts[k], samples, stop - starts[k])
    return out


def _av(facts: Facts, path: Path) -> AVFacts:
    f = facts[path]
    assert isinstance(f, AVFacts), f"{path} was probed as an image"
    return f
