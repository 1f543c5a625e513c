"""Specs written to hurt: every one is refused with one line and exit code 2, quickly and without
growing memory (each runs under a time limit and a memory limit, so a regression fails instead of
hanging the suite)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from helpers import base_spec, write_spec

LIMIT_S = 30
MEMORY = 1 << 30  # 1 GiB of address space beyond what vgen itself maps at start


def vgen_bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """`vgen ARGS` with a wall-clock limit and an address-space cap, as a hostile input gets."""

    def cap() -> None:  # in the child, before exec: only the test's vgen is bounded
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (4 * MEMORY, hard))

    try:
        return subprocess.run(
            [sys.executable, "-m", "vgen", *args],
            capture_output=True,
            text=True,
            timeout=LIMIT_S,
            preexec_fn=cap,
            env={**os.environ, "COLUMNS": "200"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"vgen {' '.join(args)} ran past {LIMIT_S} s")


def one_line_exit_2(r: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(lines) == 1, r.stderr[-2000:]
    assert "unexpected" not in lines[0] and "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


ALIAS_BOMB = """\
version: 1
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
slides: [{image: a.jpg}]
"""


@pytest.mark.parametrize("command", ["validate", "dry-run", "render"])
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, command):
    p = tmp_path / "bomb.yaml"
    p.write_text(ALIAS_BOMB)
    one_line_exit_2(vgen_bounded(command, str(p)), "bomb.yaml:7", "expands to more than 200000 values")


def hostile(media, tmp_path, edit) -> str:
    spec = base_spec()
    spec["slides"] = [{"image": str(media["land"]), "duration": 1}, {"image": str(media["square"])}]
    edit(spec)
    return str(write_spec(tmp_path, spec))


def _set(path: str, value):
    def edit(spec):
        node = spec
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        node[int(leaf) if leaf.isdigit() else leaf] = value

    return edit


@pytest.mark.parametrize(
    "path, value, words",
    [
        ("slides.0.duration", 1e6, "slides[0].duration"),
        ("slides.0.duration", 1e9, "slides[0].duration"),
        ("slides.0.duration", float("inf"), "slides[0].duration: must be a finite number"),
        ("slides.0.duration", float("nan"), "slides[0].duration: must be a finite number"),
        ("defaults.duration", 1e7, "defaults.duration"),
        ("output.fps", 1e-9, "output.fps"),
        ("segments.seconds", 1e-9, "segments.seconds: must be greater than or equal to 0.1"),
        ("segments.seconds", float("inf"), "segments.seconds"),
        ("audio", ["a.mp3"], "audio: must be a valid dictionary"),
        ("audio.music", {"path": "m.mp3", "fade_in": 1e308}, "audio.music.fade_in"),
        ("slides.0.transition", {"type": "fade", "duration": float("inf")}, "slides[0].transition.duration"),
    ],
)
def test_unbounded_and_non_finite_numbers_are_one_line(media, tmp_path, path, value, words):
    spec = hostile(media, tmp_path, _set(path, value))
    one_line_exit_2(vgen_bounded("dry-run", spec), "spec.yaml:", words)


def test_a_video_over_the_length_cap_says_the_cap_and_how_to_raise_it(media, tmp_path, monkeypatch):
    def edit(spec):
        spec["slides"] = [{"image": str(media["land"]), "duration": 20000} for _ in range(3)]  # 16.7 hours

    line = one_line_exit_2(vgen_bounded("dry-run", hostile(media, tmp_path, edit)), "VGEN_MAX_VIDEO_SECONDS")
    assert "16:40:00" in line or "60000" in line


@pytest.mark.slow
def test_a_long_single_slide_plans_in_constant_memory(media, tmp_path):
    """Eleven hours in one slide with a Ken Burns move, at 240 fps: planning no longer walks a list of
    every frame's window (it did: 9.6 M Window objects for this slide, in every segment's plan)."""

    def edit(spec):
        spec["output"]["fps"] = 240
        spec["slides"] = [{"image": str(media["land"]), "duration": 40000, "ken_burns": "zoom-in"}]

    r = vgen_bounded("dry-run", hostile(media, tmp_path, edit))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "9600000 frames" in r.stdout


def test_too_many_segments_are_refused_with_the_length_that_fits(media, tmp_path):
    def edit(spec):
        spec["segments"]["seconds"] = 0.5
        spec["slides"][0]["duration"] = 10000

    one_line_exit_2(
        vgen_bounded("dry-run", hostile(media, tmp_path, edit)),
        "segments.seconds: 0.5 s segments cut this video into 20010 pieces, over 10000",
        "at least 1.0 s",
    )
