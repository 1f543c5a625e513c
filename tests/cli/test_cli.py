"""The command line as a user meets it: exit codes, one-line errors, dry-run, validate, doctor."""

from __future__ import annotations

import re
import subprocess

import pytest

from helpers import base_spec, framemd5, vgen, write_spec


def small(media, tmp_path, **over):
    spec = base_spec()
    spec["slides"] = [
        {"image": str(media["land"]), "duration": 1.0},
        {"image": str(media["square"]), "duration": 1.0, "transition": {"type": "wipeup", "duration": 0.4}},
    ]
    spec.update(over)
    return write_spec(tmp_path, spec)


@pytest.mark.parametrize(
    "case, needle, on_line",
    [
        ("missing", r"spec.yaml:(\d+) slides\[0\].image: .*gone.jpg: image not found", "image:"),
        ("negative", r"spec.yaml:(\d+) slides\[0\].duration: must be greater than 0", "duration: -1"),
        ("unknown_transition", r"spec.yaml:(\d+) slides\[1\].transition.type: unknown transition 'swirl'", "swirl"),
        (
            "too_long",
            r"spec.yaml:(\d+) slides\[1\].transition: slide 1 \(1.00 s\) is shorter than its transitions",
            "transition:",
        ),
        ("bad_yaml", r"spec.yaml:(\d+) invalid YAML", "image: ["),
        ("undecodable", r"spec.yaml:(\d+) slides\[0\].image: .*junk.jpg: not a readable image", "junk.jpg"),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(media, tmp_path, case, needle, on_line):
    p = small(media, tmp_path)
    text = p.read_text()
    if case == "missing":
        text = text.replace(str(media["land"]), str(tmp_path / "gone.jpg"))
    elif case == "negative":
        text = text.replace("duration: 1.0", "duration: -1", 1)
    elif case == "unknown_transition":
        text = text.replace("wipeup", "swirl")
    elif case == "too_long":
        text = text.replace("duration: 0.4", "duration: 3")
    elif case == "bad_yaml":
        text = text.replace("- image:", "- image: [", 1)
    elif case == "undecodable":
        junk = tmp_path / "junk.jpg"
        junk.write_bytes(b"this is not a JPEG")
        text = text.replace(str(media["land"]), str(junk))
    p.write_text(text)
    r = vgen("render", p)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    m = re.search(needle, lines[0])
    assert m and "Traceback" not in r.stderr, lines[0]
    named = int(m.group(1))
    assert any(on_line in ln for ln in text.splitlines()[named - 2 : named])  # it names the culprit's line
    assert not (tmp_path / "out.mp4").exists()
    debug = vgen("--debug", "render", p)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_validate_reports_every_problem(media, tmp_path):
    p = small(media, tmp_path)
    p.write_text(p.read_text().replace(str(media["land"]), "gone1.jpg").replace(str(media["square"]), "gone2.jpg"))
    r = vgen("validate", p)
    assert r.returncode == 2
    assert "slides[0].image" in r.stderr and "slides[1].image" in r.stderr and "2 problem(s)" in r.stderr
    ok = vgen("validate", small(media, tmp_path))
    assert ok.returncode == 0 and "2 slides" in ok.stdout


@pytest.mark.slow
@pytest.mark.parametrize("how, shows", [("auto", "-m vgen.picture"), ("ffmpeg", "xfade")])
def test_dry_run_script_renders_what_render_renders(ff, media, tmp_path, how, shows):
    """dry-run prints exactly what render runs: running its output as a shell script gives the same video."""
    p = small(media, tmp_path, segments={"seconds": 0.5})
    dry = vgen("dry-run", "--compositor", how, p)
    assert dry.returncode == 0, dry.stderr
    assert "# segments:" in dry.stdout and "frames [0," in dry.stdout and shows in dry.stdout
    assert not (tmp_path / "out.mp4").exists()
    subprocess.run(["bash", "-e"], input=dry.stdout, text=True, check=True, capture_output=True)
    scripted = framemd5(ff, tmp_path / "out.mp4")
    (tmp_path / "out.mp4").unlink()
    r = vgen("render", "--fresh", "--quiet", "--compositor", how, p)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("out.mp4")
    assert framemd5(ff, tmp_path / "out.mp4") == scripted


@pytest.mark.slow
def test_json_progress_events(media, tmp_path):
    r = vgen("render", "--json", small(media, tmp_path))
    assert r.returncode == 0, r.stderr
    import json

    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    stages = [e["stage"] for e in events]
    assert stages[0] in ("notice", "plan") and stages[-1] == "done"
    assert "segment" in stages and events[-1]["percent"] == 100.0
    assert any("fps" in e and "eta_s" in e for e in events if e["stage"] == "segment")


@pytest.mark.slow
def test_audio_events_beside_reused_segments_keep_the_overall_progress(media, tmp_path):
    """The audio track renders beside the video: its events carry the video's progress and the
    count of reused segments, so the overall bar neither jumps to 100% nor loses "(N reused)"."""
    import json

    p = small(media, tmp_path, segments={"seconds": 0.5})
    assert vgen("render", "--quiet", p).returncode == 0
    work = tmp_path / ".out.vgen"
    for piece in work.glob("audio-*.m4a"):
        piece.unlink()  # the video is kept, the audio must be made again
    r = vgen("render", "--json", p)
    assert r.returncode == 0, r.stderr
    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    plan = next(e for e in events if e["stage"] == "plan")
    audio = [e for e in events if e["stage"] == "audio" and e.get("message") != "audio ready"]
    assert plan["reused"] == plan["segments"] > 1 and audio
    assert all(e["reused"] == plan["reused"] for e in audio)
    assert all(e["done_frames"] == plan["done_frames"] for e in audio)


def test_doctor_names_ffmpeg_and_encoders():
    r = vgen("doctor")
    assert r.returncode == 0
    assert "ffmpeg" in r.stdout and "libx264" in r.stdout and "h264_nvenc" in r.stdout
    assert "libvips" in r.stdout
    off = vgen("doctor", env={"VGEN_CANVASES": "ffmpeg"})
    assert off.returncode == 0 and "made by an FFmpeg run" in off.stdout
