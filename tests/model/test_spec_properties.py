"""Property-based: any spec, valid or not, either plans or fails with one clear line, quickly.

Hypothesis builds specs around the real shape (right keys, hostile values: infinities, NaN,
huge, negative, wrong types, lists for mappings) and random YAML text. The pure stages run on
them with made-up media facts (load -> timeline -> plan -> commands' geometry); a few go through
the real `vgen dry-run` to check the exit code and the one line a user sees.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vgen.errors import SpecError, VgenError
from vgen.ffmpeg.encoders import EncoderChoice
from vgen.model import kenburns
from vgen.model.limits import Limits
from vgen.model.plan import build_plan
from vgen.model.spec import parse_yaml, validate_data
from vgen.model.timeline import build_timeline, check_length, given_seconds

from helpers import base_spec, made_up_facts, write_spec

HOSTILE_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e-9, 1e-300, 1e6, 1e9, 1e308, 2**63, -(2**63), 0.5, 1, 2.5, 30, 60, 86400.5]),
    st.integers(min_value=-(10**12), max_value=10**12),
)
JUNK = st.one_of(
    HOSTILE_NUMBERS,
    st.text(max_size=20),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
VALUE = st.one_of(HOSTILE_NUMBERS, JUNK)
MOVE = st.one_of(
    st.sampled_from(["auto", "none", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down", "spin"]),
    st.fixed_dictionaries(
        {
            "from": st.fixed_dictionaries({"zoom": VALUE, "x": VALUE}),
            "to": st.fixed_dictionaries({"zoom": VALUE, "y": VALUE}),
        }
    ),
)
TRANSITION = st.one_of(
    st.sampled_from(["none", "fade", "wipeleft", "dissolve"]),
    st.fixed_dictionaries({"type": st.sampled_from(["fade", "slideleft"]), "duration": VALUE}),
)
SLIDE = st.fixed_dictionaries(
    {"image": st.sampled_from(["a.jpg", "b.png"])},
    optional={"duration": VALUE, "transition": TRANSITION, "ken_burns": MOVE, "fit": st.sampled_from(["cover", "x"])},
)
SPEC = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2]), "slides": st.lists(SLIDE, min_size=0, max_size=6)},
    optional={
        "output": st.fixed_dictionaries({}, optional={"width": VALUE, "height": VALUE, "fps": VALUE}),
        "segments": st.fixed_dictionaries({"seconds": VALUE}),
        "defaults": st.fixed_dictionaries({}, optional={"duration": VALUE, "transition": TRANSITION}),
        "audio": st.one_of(
            st.lists(st.text(max_size=3), max_size=2),
            st.fixed_dictionaries(
                {},
                optional={
                    "loudness": VALUE,
                    "music": st.fixed_dictionaries(
                        {"path": st.just("m.mp3")}, optional={"fade_in": VALUE, "volume": VALUE}
                    ),
                },
            ),
        ),
        "extra": JUNK,
    },
)


def plan_all_the_way(data) -> None:
    loaded = validate_data(data, Path("/specs/spec.yaml"))
    limits = Limits()
    check_length(loaded, given_seconds(loaded), limits, at_least=True)
    tl = build_timeline(loaded, made_up_facts(loaded, image=(1600, 900), sound_s=30.0), limits)
    plan = build_plan(
        tl,
        loaded.spec.segments.seconds,
        EncoderChoice("libx264", ()),
        "7.0",
        Path("/o.mp4"),
        Path("/w"),
        lambda p: "digest",
    )
    for s in tl.slides:  # the geometry each segment's source needs
        kenburns.bounding_box(s.move, s.frames, s.canvas_w, s.canvas_h, tl.width, tl.height, tl.width, tl.height)
    assert plan.segments and plan.segments[-1].end == tl.total_frames


def one_clear_line(exc: VgenError) -> None:
    text = str(exc)
    assert "\n" not in text and text.strip() and "Traceback" not in text
    assert not isinstance(exc, SpecError) or text.startswith("spec.yaml:")


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(SPEC)
def test_any_spec_plans_or_fails_with_one_line_quickly(data):
    started = time.monotonic()
    try:
        plan_all_the_way(data)
    except VgenError as exc:
        one_clear_line(exc)
    assert time.monotonic() - started < 2


@settings(max_examples=300, deadline=2000)
@given(st.text(alphabet=st.sampled_from(list("ab:- *&[]{}!|>\n'\"#%@`1.e")), max_size=120))
def test_any_yaml_text_parses_or_fails_with_one_line(text):
    try:
        data, _ = parse_yaml(text, Path("spec.yaml"))
        plan_all_the_way(data)
    except VgenError as exc:
        one_clear_line(exc)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SPEC)
def test_vgen_dry_run_on_any_spec_exits_0_or_2_with_one_line(media, tmp_path, data):
    """The real command line, on the media of the suite: exit 0 (it plans) or 2 with one line."""
    spec = base_spec() | {k: v for k, v in data.items() if k != "slides"}
    spec["slides"] = [
        s | {"image": str(media["land"] if s["image"] == "a.jpg" else media["portrait"])} for s in data["slides"]
    ]
    if isinstance(spec.get("audio"), dict) and "music" in spec["audio"]:
        spec["audio"]["music"]["path"] = str(media["narration"])
    try:
        path = write_spec(tmp_path, spec)
    except (ValueError, OverflowError):
        return  # not representable as YAML (yaml.safe_dump refuses some floats): nothing to try
    r = subprocess.run(
        [sys.executable, "-m", "vgen", "dry-run", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin", **_keep_env()},
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode in (0, 2), r.stderr[-2000:]
    if r.returncode == 2:
        assert len(lines) == 1 and lines[0].startswith("error: ") and "unexpected" not in lines[0], r.stderr


def _keep_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith(("VGEN_", "HOME", "XDG_", "PYTHON", "VIRTUAL_ENV"))}


def test_the_properties_can_fail():
    """A spec the strategies produce that must be refused is refused (not silently planned)."""
    bad = {"version": 1, "slides": [{"image": "a.jpg", "duration": math.inf}]}
    try:
        plan_all_the_way(bad)
    except SpecError as exc:
        assert "finite" in str(exc)
    else:
        raise AssertionError("an infinite duration was planned")
