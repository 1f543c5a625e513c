"""The pipeline up to the commands, in the order it runs: load -> media facts -> timeline -> plan -> compile.

    spec.yaml --load--> Spec --probe--> Facts --> Timeline --split--> Plan --compile--> Sources + Commands

`load_and_check` does the first three steps once, for `render`, `dry-run`, `validate` and
`frame` alike; `prepare` adds the plan and every command a render runs. `dry_run_script` prints
those very objects, so what dry-run shows and what render runs cannot disagree. Probing reads
the assets (the only I/O here); nothing is written and no render starts.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vgen.errors import SpecError
from vgen.ffmpeg import captions as captions_mod
from vgen.ffmpeg import commands, probe, titles
from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg, xfade_transitions
from vgen.ffmpeg.captions import Captions
from vgen.ffmpeg.commands import Command
from vgen.ffmpeg.encoders import choose as choose_encoder
from vgen.files import file_digest
from vgen.model import chapters as chapters_mod
from vgen.model.facts import Facts
from vgen.model.limits import Limits
from vgen.model.plan import Plan, build_plan
from vgen.model.spec import LoadedSpec, as_draft, load_spec
from vgen.model.timeline import Timeline, build_timeline, check_length, given_seconds
from vgen.picture.source import choose as choose_compositor
from vgen.picture.source import describe


@dataclass(frozen=True)
class Checked:
    """A spec loaded, its assets probed, its timeline built and every check passed."""

    loaded: LoadedSpec
    ff: FFmpeg
    facts: Facts
    timeline: Timeline
    captions: Captions | None
    fonts_dir: Path | None
    burned: tuple[Captions, ...] = ()  # the ASS scripts burned in: captions (unless burn: false), titles

    @property
    def warnings(self) -> tuple[str, ...]:
        """What will not show as the spec wrote it: captions, title fonts, and chapters against
        YouTube's rules."""
        tl = self.timeline
        where = [self.loaded.where(("slides", max(c.slide, 0), "chapter")) for c in tl.chapters]
        chapter_rules = chapters_mod.warnings(tl.chapters, tl.fps, tl.total_frames, where)
        fonts = dict.fromkeys(t.look.font for t in tl.titles)
        missing = [w for f in fonts if (w := captions_mod.font_warning(f, self.fonts_dir)) is not None]
        own = self.captions.warnings if self.captions else ()
        return tuple(dict.fromkeys((*own, *missing, *chapter_rules)))


def load_and_check(
    spec: str | Path | LoadedSpec,
    ff: FFmpeg | None = None,
    *,
    draft: bool = False,
    thorough: bool = False,
    limits: Limits | None = None,
    facts: Facts | None = None,
) -> Checked:
    """Load the spec (unless given loaded), probe every asset once (`thorough`: decode every image,
    as `validate` does), build the timeline and check transitions and captions. Asset problems are
    raised together (AssetProblems); any other fault as the one error that names it. `limits`:
    `Limits.local()` unless given (the worker passes `Limits.worker()`); `facts`: already probed
    (a fan-out job plans with the caller's, without the files it does not show)."""
    loaded = spec if isinstance(spec, LoadedSpec) else load_spec(spec)
    if draft:
        loaded = as_draft(loaded)
    limits = limits or Limits.local()
    check_length(loaded, given_seconds(loaded), limits, at_least=True)  # before probing a single asset
    ff = ff or find_ffmpeg()
    if facts is None:
        facts = probe.gather(loaded, ff, decode=thorough)
    else:
        facts = probe.own_loops(facts, ff)
    tl = build_timeline(loaded, facts, limits)
    captions_mod.check_words(loaded, tl)
    caps, fonts = captions_mod.for_spec(loaded, tl, ff, limits.captions)
    return Checked(loaded, ff, facts, tl, caps, fonts, titles.burn_scripts(loaded, tl, caps))


def pick_compositor(checked: Checked, requested: str | None) -> tuple[str, str | None]:
    """The compositor (`vgen.picture.source.choose`: vgen's own unless "ffmpeg" is asked for), and
    for the FFmpeg path the check that its xfade knows every transition the spec uses (vgen's own
    compositor draws all of them, whichever FFmpeg is installed)."""
    how, notice = choose_compositor(checked.timeline, requested or checked.loaded.spec.output.compositor)
    if how == "ffmpeg":
        check_transitions(checked.loaded, checked.timeline, checked.ff)
    return how, notice


def check_transitions(loaded: LoadedSpec, tl: Timeline, ff: FFmpeg) -> None:
    """Every transition the timeline uses must be one the FFmpeg in use knows (its xfade draws them)."""
    if not any(s.trans_in for s in tl.slides):
        return
    known = xfade_transitions(ff)
    for s in tl.slides:
        if s.trans_in and s.trans_in.type not in known:
            where = loaded.where(("slides", s.index, "transition", "type"))
            raise SpecError(
                f"{where}: FFmpeg {ff.version} has no xfade transition {s.trans_in.type!r}",
                "use compositor: auto (vgen draws every transition), another transition, or a newer FFmpeg",
            )


def default_work_dir(output: Path) -> Path:
    """The segment store of an output: a hidden folder beside it."""
    return output.parent / f".{output.stem}.vgen"


@dataclass(frozen=True)
class Prepared:
    """Everything a render runs, computed without running anything."""

    loaded: LoadedSpec
    ff: FFmpeg
    plan: Plan
    segment_commands: tuple[Command, ...]
    audio_command: Command
    join_command: Command
    captions: Captions | None = None
    compositor: str = "raw"  # see vgen.picture.source.choose
    compositor_notice: str | None = None
    warnings: tuple[str, ...] = ()
    burned: tuple[Captions, ...] = ()  # the ASS scripts burned into the picture (Checked.burned)

    @property
    def files(self) -> tuple[tuple[Path, str], ...]:
        """Files the commands read that vgen writes first: the ASS scripts, the chapters."""
        out = []
        for c in self.burned:
            if c.ass_text is not None:
                out.append((c.file_for(self.plan.work_dir), c.ass_text))
        if self.plan.timeline.chapters:
            out.append((commands.chapters_path(self.plan), commands.chapters_metadata(self.plan)))
        return tuple(out)

    @property
    def sidecars(self) -> tuple[tuple[Path, str], ...]:
        """Files written next to the video once it is finished: the cues as SRT/VTT, exactly as they
        are burned (or would be), and the chapters as a YouTube description block."""
        out: list[tuple[Path, str]] = []
        sub, c, tl = self.loaded.spec.subtitles, self.captions, self.plan.timeline
        video = self.plan.output
        if sub is not None and c is not None:
            for kind in sub.sidecar:
                text = captions_mod.to_srt(c.cues) if kind == "srt" else captions_mod.to_vtt(c.cues)
                out.append((video.with_suffix(f".{kind}"), text))
        if tl.chapters:
            out.append(
                (video.with_suffix(".chapters.txt"), chapters_mod.description(tl.chapters, tl.fps, tl.total_frames))
            )
        return tuple(out)


def prepare(
    spec_path: str | Path | LoadedSpec,
    ff: FFmpeg | None = None,
    work_dir: Path | None = None,
    draft: bool = False,
    compositor: str | None = None,
    limits: Limits | None = None,
    facts: Facts | None = None,
    digest: Callable[[Path], str] = file_digest,
) -> Prepared:
    """Everything a render will run (dry-run prints this). `compositor` (auto or ffmpeg) overrides the
    spec's output.compositor; `limits` and `facts` as for `load_and_check`; `digest`: the content
    hash of an asset for the plan's keys (a fan-out job is given those of files it lacks)."""
    checked = load_and_check(spec_path, ff, draft=draft, limits=limits, facts=facts)
    loaded, ff, tl = checked.loaded, checked.ff, checked.timeline
    encoder = choose_encoder(ff, loaded.spec.output, tl.fps)
    output = loaded.output_path.resolve()
    work = (work_dir or default_work_dir(output)).resolve()
    plan = build_plan(tl, loaded.spec.segments.seconds, encoder, ff.version, output, work, digest)
    how, notice = pick_compositor(checked, compositor)
    segs = tuple(commands.segment_command(ff, plan, s, checked.burned, checked.fonts_dir, how) for s in plan.segments)
    return Prepared(
        loaded,
        ff,
        plan,
        segs,
        commands.audio_command(ff, plan),
        commands.join_command(ff, plan),
        checked.captions,
        how,
        notice,
        checked.warnings,
        checked.burned,
    )


_TIMED_BY = {
    "given": "given",
    "default": "default",
    "narration": "narration + pad",
    "fills narration": "fills to the narration's end",
}


def clock_at(frame: int, tl: Timeline) -> str:
    """A frame's time as H:MM:SS.ss."""
    t = tl.frame_time(frame)
    return f"{int(t // 3600)}:{int(t // 60 % 60):02d}:{t % 60:05.2f}"


def _heredoc(path: Path, text: str, tag: str) -> str:
    return f"cat > {shlex.quote(str(path))} <<'{tag}'\n{text.rstrip()}\n{tag}"


def dry_run_script(prep: Prepared, spec_label: str) -> str:
    """The plan as comments, then every file and command of the render as a shell script that
    renders the same video: what `vgen dry-run` prints."""
    plan, tl = prep.plan, prep.plan.timeline
    out = [
        f"# vgen dry-run of {spec_label}: {tl.width}x{tl.height} @ {tl.fps} fps, {tl.total_frames} frames "
        f"({tl.seconds:.3f} s), encoder {plan.encoder.name}, FFmpeg {prep.ff.version} ({prep.ff.path})"
    ]
    if plan.encoder.notice:
        out.append(f"# notice: {plan.encoder.notice}")
    out.append(f"# compositor: {prep.compositor}" + (f" ({prep.compositor_notice})" if prep.compositor_notice else ""))
    out.append("# slides (global frames; visible = with transitions):")
    for s in tl.slides:
        t = f", transition in: {s.trans_in.type} {s.trans_in.frames} fr" if s.trans_in else ""
        m = s.move
        move = (
            "static"
            if m.is_static
            else (f"zoom {m.z0:g}->{m.z1:g} x {m.x0:.3g}->{m.x1:.3g} y {m.y0:.3g}->{m.y1:.3g} {m.easing}")
        )
        length = f"{float((s.end - s.start) / tl.fps):.3f} s ({_TIMED_BY[s.timed_by]})"
        clip = f", narration {s.clip.path.name} {s.clip.seconds:.3f} s from sample {s.clip.start}" if s.clip else ""
        out.append(
            f"#   {s.index + 1:>4} {s.kind} {s.source.name}: [{s.start}, {s.end}) {length} visible [{s.clip_start}, "
            f"{s.clip_end}), {s.fit}, {move}{t}{clip}"
        )
    if tl.chapters:
        out.append("# chapters (YouTube description block written next to the video):")
        block = chapters_mod.description(tl.chapters, tl.fps, tl.total_frames)
        out += [f"#   {line}" for line in block.splitlines()]
    if prep.captions is not None and prep.captions.cues:
        sub = prep.loaded.spec.subtitles
        burned = "burned in" if sub is not None and sub.burn else "not burned in"
        lit = ", the spoken word highlighted" if sub is not None and sub.highlight and prep.burned else ""
        out.append(f"# captions: {len(prep.captions.cues)} cue(s), {burned}{lit}")
    if tl.overlays:
        out.append("# overlays (drawn over slides and transitions):")
        for o in tl.overlays:
            out.append(
                f"#   {o.index + 1:>4} {o.path.name}: {o.width}x{o.height} at ({o.x}, {o.y}), opacity {o.opacity:g}, "
                f"frames [{o.first}, {o.end}) = {clock_at(o.first, tl)}-{clock_at(o.end, tl)}"
            )
    if tl.titles:
        out.append("# titles (libass, in the captions' pass):")
        for title in tl.titles:
            made = "chapter" if title.index < 0 else f"titles[{title.index}]"
            out.append(
                f"#   {made}: {title.text!r} {title.style}, {title.animation}, frames [{title.first}, {title.end}) "
                f"= {clock_at(title.first, tl)}-{clock_at(title.end, tl)}"
            )
    for w in prep.warnings:
        out.append(f"# warning: {w}")
    out.append("# segments:")
    for seg in plan.segments:
        out.append(
            f"#   {seg.index + 1:>4}: frames [{seg.first}, {seg.end}) = {seg.frames} fr, slides "
            f"{','.join(str(i + 1) for i in seg.slides)}, key {seg.key[:16]}"
        )
    out.append(f"# audio: {plan.audio.samples} samples at 48 kHz, key {plan.audio.key[:16]}")
    out.append("set -o pipefail  # a raw-frame source that fails must fail its segment")
    out.append(f"mkdir -p {shlex.quote(str(plan.work_dir))} {shlex.quote(str(plan.output.parent))}")
    out += [_heredoc(path, text, "VGEN_FILE") for path, text in prep.files]
    if plan.audio.loudness is not None:
        scan = commands.loudness_command(prep.ff, plan)
        assert scan.script is not None
        out.append("\n# audio, pass 1: measure the loudness of the mix (render reads the JSON it prints)")
        out.append(_heredoc(scan.script, scan.script_text, "VGEN_GRAPH"))
        out.append(scan.shell())
        out.append("# audio, pass 2 (below) then adds loudnorm with the measured_* values of pass 1 and linear=true")
    for cmd in (*prep.segment_commands, prep.audio_command):
        out.append(f"\n# {cmd.label}")
        if cmd.script is not None:
            out.append(_heredoc(cmd.script, cmd.script_text, "VGEN_GRAPH"))
        if cmd.source is not None and cmd.source_file is not None:
            out.append(f"# raw-frame source: {describe(cmd.source)}")
            out.append(_heredoc(cmd.source_file, cmd.source.to_json(), "VGEN_SOURCE"))
        out.append(cmd.shell())
        out.append(f"mv {shlex.quote(str(cmd.tmp))} {shlex.quote(str(cmd.output))}")
    out.append("\n# join (no re-encode) and mux the audio")
    listing = commands.concat_list([c.output for c in prep.segment_commands])
    out.append(_heredoc(commands.join_list_path(plan), listing, "VGEN_LIST"))
    out.append(prep.join_command.shell())
    out.append(f"mv {shlex.quote(str(prep.join_command.tmp))} {shlex.quote(str(plan.output))}")
    if prep.sidecars:
        out.append("\n# next to the video: captions and chapters")
        out += [_heredoc(path, text, "VGEN_FILE") for path, text in prep.sidecars]
    return "\n".join(out) + "\n"
