"""The pipeline up to the commands: dry_run_script prints exactly the prepared commands; asset problems come together.

`prepare` probes the tiny assets of `media` but renders nothing.
"""

from __future__ import annotations

import re
import shlex

import pytest

from vgen.errors import AssetProblems
from vgen.ffmpeg import commands
from vgen.picture.source import Source
from vgen.pipeline import dry_run_script, load_and_check, prepare

from helpers import base_spec, write_spec

HEREDOC = re.compile(r"^cat > (\S+) <<'(VGEN_\w+)'$")


def tiny_spec(media, folder):
    spec = base_spec(seconds=1)  # 160x90 at 10 fps, 1 s segments
    spec["slides"] = [
        {"image": str(media["land"]), "duration": 1.5, "ken_burns": "zoom-in"},
        {"image": str(media["square"]), "duration": 1.0, "transition": {"type": "fade", "duration": 0.4}},
        {"video": str(media["clip"]), "transition": "none"},  # fills to the narration's end (4 s)
    ]
    spec["audio"] = {"narration": str(media["narration"])}
    return write_spec(folder, spec)


def parse(script: str):
    """(heredocs as {(path, tag): body}, shell lines that are neither comments, heredocs nor mv/mkdir/set)."""
    docs, runs, mvs = {}, [], []
    lines = iter(script.splitlines())
    for line in lines:
        m = HEREDOC.match(line)
        if m:
            body = []
            for inner in lines:
                if inner == m.group(2):
                    break
                body.append(inner)
            else:
                raise AssertionError(f"unterminated heredoc {m.group(2)}")
            key = (shlex.split(m.group(1))[0], m.group(2))
            assert key not in docs
            docs[key] = "\n".join(body)
        elif line.startswith("mv "):
            mvs.append(line)
        elif line and not line.startswith(("#", "mkdir ", "set -o pipefail")):
            runs.append(line)
    return docs, runs, mvs


@pytest.fixture(scope="module", params=["raw", "ffmpeg"])
def prepared(request, ff, media, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"pipeline-{request.param}")
    prep = prepare(tiny_spec(media, folder), ff, compositor=request.param)
    return prep, dry_run_script(prep, "tiny.yaml")


def test_the_prepared_plan_is_the_tiny_spec(prepared):
    prep, _ = prepared
    tl = prep.plan.timeline
    assert (tl.width, tl.height, tl.fps, tl.total_frames) == (160, 90, 10, 40)
    assert len(prep.segment_commands) == len(prep.plan.segments) == 4
    assert prep.plan.audio.loudness == -14


def test_the_script_starts_with_the_plan(prepared):
    prep, script = prepared
    plan = prep.plan
    lines = script.splitlines()
    assert lines[0].startswith("# vgen dry-run of tiny.yaml: 160x90 @ 10 fps, 40 frames (4.000 s), encoder libx264")
    assert f"FFmpeg {prep.ff.version}" in lines[0]
    assert f"# compositor: {prep.compositor}" in lines
    assert (
        "#      1 image land.jpg: [0, 15) 1.500 s (given) visible [0, 17), cover, "
        "zoom 1->1.2 x 0.5->0.5 y 0.5->0.5 linear" in lines
    )
    assert any(ln.startswith("#      2 image square.jpg: [15, 25) 1.000 s (given) visible [13, 25)") for ln in lines)
    assert "transition in: fade 4 fr" in script
    for seg in plan.segments:
        slides = ",".join(str(i + 1) for i in seg.slides)
        want = f"#   {seg.index + 1:>4}: frames [{seg.first}, {seg.end}) = {seg.frames} fr, slides {slides}, key "
        assert want + seg.key[:16] in lines
    audio = f"# audio: {plan.audio.samples} samples at 48 kHz, key {plan.audio.key[:16]}"
    assert audio in lines
    assert lines.index("# segments:") < lines.index(audio)


def test_every_command_in_the_script_is_the_shell_form_of_a_prepared_command(prepared):
    prep, script = prepared
    _, runs, _ = parse(script)
    scan = commands.loudness_command(prep.ff, prep.plan)
    want = [scan, *prep.segment_commands, prep.audio_command, prep.join_command]
    assert runs == [c.shell() for c in want]
    if prep.compositor == "raw":
        assert all(" -m vgen.picture " in r for r in runs[1:5])
    else:
        assert not any("vgen.picture" in r for r in runs)


def test_a_heredoc_for_every_graph_and_source(prepared):
    prep, script = prepared
    docs, _, _ = parse(script)
    scan = commands.loudness_command(prep.ff, prep.plan)
    graphs = [c for c in (scan, *prep.segment_commands, prep.audio_command) if c.script is not None]
    sources = [c for c in prep.segment_commands if c.source is not None]
    if prep.compositor == "raw":
        assert len(sources) == 4 and len(graphs) == 2  # the loudness scan and the mix
    else:
        assert not sources and len(graphs) == 6
    for c in graphs:
        assert docs[(str(c.script), "VGEN_GRAPH")] == c.script_text.rstrip()
    for c in sources:
        body = docs[(str(c.source_file), "VGEN_SOURCE")]
        assert Source.from_json(body) == c.source
    listing = docs[(str(commands.join_list_path(prep.plan)), "VGEN_LIST")]
    assert listing + "\n" == commands.concat_list([c.output for c in prep.segment_commands])
    assert len(docs) == len(graphs) + len(sources) + 1  # nothing else is written


def test_a_mv_into_place_after_every_command(prepared):
    prep, script = prepared
    _, _, mvs = parse(script)
    cmds = [*prep.segment_commands, prep.audio_command, prep.join_command]
    assert mvs == [f"mv {shlex.quote(str(c.tmp))} {shlex.quote(str(c.output))}" for c in cmds]
    lines = script.splitlines()
    for c in cmds:  # each right after its own command
        assert lines[lines.index(c.shell()) + 1] == f"mv {shlex.quote(str(c.tmp))} {shlex.quote(str(c.output))}"
    assert shlex.split(mvs[-1])[-1] == str(prep.plan.output)


def test_the_join_list_comes_before_the_join(prepared):
    prep, script = prepared
    lines = script.splitlines()
    listing = lines.index(f"cat > {shlex.quote(str(commands.join_list_path(prep.plan)))} <<'VGEN_LIST'")
    assert lines.index(prep.audio_command.shell()) < listing < lines.index(prep.join_command.shell())


def test_missing_assets_are_reported_together_each_with_its_spec_line(ff, media, tmp_path):
    spec = base_spec()
    spec["slides"] = [
        {"image": str(tmp_path / "gone-1.jpg"), "duration": 1},
        {"image": str(media["land"]), "duration": 1},
        {"image": str(tmp_path / "gone-2.png"), "duration": 1},
    ]
    path = write_spec(tmp_path, spec)
    text = path.read_text().splitlines()
    line = {name: next(i + 1 for i, ln in enumerate(text) if name in ln) for name in ("gone-1.jpg", "gone-2.png")}
    with pytest.raises(AssetProblems) as caught:
        load_and_check(path, ff)
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"spec.yaml:{line['gone-1.jpg']} slides[0].image: ")
    assert problems[1].startswith(f"spec.yaml:{line['gone-2.png']} slides[2].image: ")
    assert "gone-1.jpg" in problems[0] and "gone-2.png" in problems[1]
    assert "and 1 more" in str(caught.value)
