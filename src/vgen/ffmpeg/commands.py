"""Plan -> the exact FFmpeg commands: one per segment, the audio track, the join. Pure.

Graphs go through a script file (`-filter_complex_script`, `-/filter_complex` on FFmpeg 7+)
so a spec with thousands of slides never meets the argument-length limit.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg as ffm

from vgen.ffmpeg import audio, graph
from vgen.ffmpeg.binary import FFmpeg
from vgen.ffmpeg.captions import Captions
from vgen.files import partial_path
from vgen.model.chapters import ffmetadata
from vgen.model.plan import Plan, Segment
from vgen.model.timeline import Timeline
from vgen.picture import canvas
from vgen.picture.source import Source, build_source

GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats", "-progress", "pipe:1")


@dataclass(frozen=True)
class Command:
    """One FFmpeg run: it writes `tmp`, which the runner checks and renames to `output`."""

    label: str
    argv: tuple[str, ...]
    output: Path
    tmp: Path
    frames: int = 0  # video frames it must produce (0: audio)
    seconds: float = 0.0
    script: Path | None = None
    script_text: str = ""
    source: Source | None = None  # raw frames piped to FFmpeg's stdin
    source_file: Path | None = None  # where the source is written, as JSON, for the shell form

    def shell(self) -> str:
        if self.source is None:
            return shlex.join(self.argv)
        assert self.source_file is not None
        return f"{shlex.quote(sys.executable)} -m vgen.picture {shlex.quote(str(self.source_file))} | " + shlex.join(
            self.argv
        )


def _pairs(args: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {args[i].lstrip("-"): args[i + 1] for i in range(0, len(args), 2)}


def compile_args(ff: FFmpeg, out: Any, script: Path | None) -> tuple[tuple[str, ...], str]:
    argv = out.compile(cmd=ff.path)
    argv[1:1] = GLOBAL_ARGS  # before the inputs: FFmpeg ignores trailing options
    text = ""
    if "-filter_complex" in argv:
        i = argv.index("-filter_complex")
        text = _one_chain_a_line(argv[i + 1]) + "\n"
        assert script is not None
        argv[i : i + 2] = ff.filter_script_args(script)
    return tuple(argv), text


_SEPARATOR = re.compile(r"(?<!\\)((?:\\\\)*);")  # a ';' after an even run of backslashes: not escaped


def _one_chain_a_line(graph_text: str) -> str:
    """The graph with a line break after each chain separator, for the script a reader opens. Only
    real separators: a ';' inside a value (a caption file named `a;b.ass`) is escaped as `\\;` and
    must stay where it is, or FFmpeg reads the rest of the name as a new chain."""
    return _SEPARATOR.sub(lambda m: m.group(0) + "\n", graph_text)


def segment_path(plan: Plan, seg: Segment, recipe: str = "") -> Path:
    """A segment's file: named by its plan key and the exact graph and options that render it, so
    a changed vgen or FFmpeg never reuses a piece rendered another way."""
    digest = hashlib.sha256(f"{seg.key}\n{recipe}".encode()).hexdigest()[:16]
    return plan.work_dir / f"seg-{seg.index:05d}-{digest}.mp4"


_PLACEHOLDER = "@VGEN_SEGMENT@"


def raw_input(tl: Timeline) -> Any:
    """FFmpeg's side of the pipe from `vgen.picture`: raw BT.709 yuv420p frames at the output size and rate,
    tagged as such (untagged, FFmpeg 7+ assumes BT.601 and converts them to the BT.709 output)."""
    return ffm.input(
        "pipe:0",
        f="rawvideo",
        pixel_format="yuv420p",
        video_size=(tl.width, tl.height),
        framerate=graph.rate(tl.fps),
        color_range="tv",
        colorspace="bt709",
        color_primaries="bt709",
        color_trc="bt709",
    )


def frames_stream(
    ff: FFmpeg,
    tl: Timeline,
    first: int,
    end: int,
    subs: tuple[Path, ...],
    fonts_dir: Path | None,
    compositor: str = "raw",
) -> tuple[Any, Source | None]:
    """The video of global frames [first, end): piped raw from `vgen.picture` ("raw", see `source.choose`),
    or the FFmpeg filter graph ("ffmpeg"); overlays are drawn by that compositor, the ASS scripts
    (captions, titles) burned in by FFmpeg either way."""
    if compositor == "ffmpeg":
        return graph.segment_graph(tl, first, end, subs, fonts_dir), None
    source = build_source(ff, tl, first, end, canvas.engine())
    stream = raw_input(tl).video
    if subs:
        stream = graph.burn_captions(stream, first, subs, fonts_dir).filter("format", "yuv420p")
    return stream, source


def segment_command(
    ff: FFmpeg,
    plan: Plan,
    seg: Segment,
    scripts: tuple[Captions, ...] = (),
    fonts_dir: Path | None = None,
    compositor: str = "raw",
) -> Command:
    tl = plan.timeline
    subs = tuple(c.file_for(plan.work_dir) for c in scripts)
    stream, source = frames_stream(ff, tl, seg.first, seg.end, subs, fonts_dir, compositor)
    stub = plan.work_dir / f"{_PLACEHOLDER}.mp4"
    out = ffm.output(stream, str(partial_path(stub)), f="mp4", **_pairs(plan.encoder.args))
    argv, text = compile_args(ff, out, stub.with_suffix(".graph.txt"))
    sources = {str(s.source) for s in tl.slides} | {str(o.path) for o in tl.overlays}

    def pathless(args: tuple[str, ...]) -> str:  # the media's contents are in the plan key, not their paths
        return " ".join("<input>" if a in sources else a for a in args[1:] if _PLACEHOLDER not in a)

    recipe = text + "\n" + pathless(argv)
    if source is not None:  # what each canvas command makes, and where its frames fall in the segment
        recipe += (
            "\n"
            + "\n".join(
                pathless(layer.argv)
                + repr(
                    (
                        layer.width,
                        layer.height,
                        layer.clip_start - seg.first,
                        layer.clip_end - seg.first,
                        layer.move,
                        layer.canvas,
                        *(layer.image.pathless() if layer.image else ()),
                    )
                )
                for layer in source.layers
            )
            + repr([(b.type, b.first - seg.first, b.frames) for b in source.blends])
            + "".join(
                "\n" + pathless(o.argv) + repr((o.x, o.y, o.width, o.height, o.first - seg.first, o.end - seg.first))
                for o in source.overlays
            )
        )
    # Only the events on screen in this segment decide its pixels, not the whole script.
    t0, t1 = tl.frame_time(seg.first), tl.frame_time(seg.end)
    for c, path in zip(scripts, subs):
        recipe = recipe.replace(graph.escape_value(str(path)), c.segment_digest(t0, t1))
    final = segment_path(plan, seg, recipe)
    argv = tuple(a.replace(_PLACEHOLDER, final.stem) for a in argv)
    script = final.with_suffix(".graph.txt") if text else None
    return Command(
        f"segment {seg.index + 1}",
        argv,
        final,
        partial_path(final),
        seg.frames,
        seg.frames / float(tl.fps),
        script,
        text,
        source,
        final.with_suffix(".source.json") if source else None,
    )


def audio_path(plan: Plan) -> Path:
    return plan.work_dir / f"audio-{plan.audio.key[:16]}.m4a"


def loudness_command(ff: FFmpeg, plan: Plan) -> Command:
    """Pass 1 of loudness normalisation: measure the mix (loudnorm prints JSON at info level)."""
    script = plan.work_dir / f"loudness-{plan.audio.key[:16]}.graph.txt"
    out = ffm.output(audio.loudness_scan(plan.audio), "-", f="null")
    argv, text = compile_args(ff, out, script)
    argv = tuple("info" if a == "error" and argv[i - 1] == "-loglevel" else a for i, a in enumerate(argv))
    return Command("loudness scan", argv, Path("/dev/null"), Path("/dev/null"), 0, plan.timeline.seconds, script, text)


def audio_command(ff: FFmpeg, plan: Plan, measured: audio.Measured | None = None) -> Command:
    """The final mix, encoded once (pass 2 of the loudness normalisation when there is a target)."""
    final = audio_path(plan)
    tmp = partial_path(final)
    script = final.with_suffix(".graph.txt")
    out = ffm.output(audio.final_stream(plan.audio, measured), str(tmp), f="mp4", **_pairs(audio.AUDIO_CODEC_ARGS))
    argv, text = compile_args(ff, out, script)
    return Command("audio", argv, final, tmp, 0, plan.timeline.seconds, script, text)


def concat_list(paths: list[Path]) -> str:
    """The concat demuxer's list; quotes in names are escaped as the demuxer expects."""
    return "".join("file '{}'\n".format(str(p).replace("'", "'\\''")) for p in paths)


def join_list_path(plan: Plan) -> Path:
    return plan.work_dir / "segments.txt"


def join_command(ff: FFmpeg, plan: Plan) -> Command:
    """Segments joined without re-encoding, the audio track muxed in, moov atom first."""
    tmp = partial_path(plan.output)
    video = ffm.input(str(join_list_path(plan)), f="concat", safe=0)["v:0"]
    sound = ffm.input(str(audio_path(plan)))["a:0"]
    out = ffm.output(video, sound, str(tmp), c="copy", f="mp4", movflags="+faststart")
    argv, _ = compile_args(ff, out, None)
    tl = plan.timeline
    if tl.chapters:  # a third input with no streams (ffmpeg-python leaves those out): its chapters only
        args = list(argv)
        at = args.index("-map")
        args[at:at] = ["-f", "ffmetadata", "-i", str(chapters_path(plan))]
        out_at = args.index("-f", at + 4)
        args[out_at:out_at] = ["-map_chapters", "2"]
        argv = tuple(args)
    return Command("join", argv, plan.output, tmp, tl.total_frames, tl.seconds)


def chapters_path(plan: Plan) -> Path:
    """The chapters as FFmpeg's metadata file, which the join writes into the MP4 (no re-encode)."""
    text = chapters_metadata(plan)
    return plan.work_dir / f"chapters-{hashlib.sha256(text.encode()).hexdigest()[:16]}.txt"


def chapters_metadata(plan: Plan) -> str:
    tl = plan.timeline
    return ffmetadata(tl.chapters, tl.fps, tl.total_frames)
