"""The spec contract: names, defaults, and errors that name the file, line and spec path."""

from __future__ import annotations

import pytest

from vgen.errors import SpecError
from vgen.model.spec import KenBurnsMove, Transition, load_spec

GOOD = """\
version: 1
output:
  width: 320
  height: 180
slides:
  - image: a.jpg
    duration: 2
  - video: b.mp4
    transition: {type: slideleft, duration: 1.0}
    ken_burns: {from: {zoom: 1.0, x: 0.5, y: 0.5}, to: {zoom: 1.2, x: 0.6, y: 0.4}, easing: ease-in-out}
"""


def load(tmp_path, text):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return load_spec(p)


def test_defaults_match_the_contract(tmp_path):
    s = load(tmp_path, GOOD).spec
    assert (s.output.fps, s.output.encoder, s.output.quality, s.output.preset, s.output.lookahead) == (
        30,
        "auto",
        21,
        "p4",
        16,
    )
    assert s.output.path == "out/video.mp4" and s.segments.seconds == 300
    assert s.defaults.duration == 5 and s.defaults.transition == Transition(type="fade", duration=0.5)
    assert s.defaults.ken_burns == "auto" and s.defaults.fit == "cover"
    kb = s.slides[1].ken_burns
    assert isinstance(kb, KenBurnsMove) and kb.from_.zoom == 1.0 and kb.to.x == 0.6 and kb.easing == "ease-in-out"


def test_relative_paths_resolve_against_the_spec_folder(tmp_path):
    loaded = load(tmp_path, GOOD)
    assert loaded.output_path == tmp_path.resolve() / "out/video.mp4"
    assert loaded.resolve("a.jpg") == tmp_path.resolve() / "a.jpg"


@pytest.mark.parametrize(
    "edit, where, words",
    [
        (("    duration: 2", "    duration: -1"), "spec.yaml:7 slides[0].duration", "greater than 0"),
        (("  height: 180", "  height: 180\n  colour: red"), "spec.yaml:5 output.colour", "unknown key"),
        (("{type: slideleft", "{type: slidesideways"), "spec.yaml:9 slides[1].transition.type", "unknown transition"),
        (("  width: 320", "  width: 321"), "spec.yaml:3 output.width", "even"),
        (("version: 1", "version: 2"), "spec.yaml:1 version", "must be 1"),
        (("  - video: b.mp4", "  - duration: 3"), "spec.yaml:8 slides[1]", "exactly one of image: or video:"),
        (("easing: ease-in-out", "easing: bouncy"), "spec.yaml:10 slides[1].ken_burns", ""),
    ],
)
def test_errors_name_line_and_path(tmp_path, edit, where, words):
    with pytest.raises(SpecError) as e:
        load(tmp_path, GOOD.replace(*edit))
    msg = str(e.value)
    assert msg.startswith(where), msg
    assert words in msg
    assert "\n" not in msg


def test_bad_yaml_names_the_line(tmp_path):
    with pytest.raises(SpecError) as e:
        load(tmp_path, GOOD.replace("  - video: b.mp4", "  - video: [b.mp4"))
    assert str(e.value).startswith("spec.yaml:") and "invalid YAML" in str(e.value)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_transition_shorthand(tmp_path):
    s = load(tmp_path, GOOD.replace("{type: slideleft, duration: 1.0}", "none")).spec
    assert s.slides[1].transition is not None and s.slides[1].transition.is_cut


def test_shared_yaml_anchors_still_load(tmp_path):
    """yaml.safe_dump writes an anchor for an object used twice (a shared transition): such specs load."""
    import yaml

    fade = {"type": "fade", "duration": 0.5}
    text = yaml.safe_dump({"version": 1, "slides": [{"image": "a.jpg", "transition": fade}] * 3})
    assert "*id001" in text
    assert len(load(tmp_path, text).spec.slides) == 3


def test_a_recursive_alias_is_one_line(tmp_path):
    with pytest.raises(SpecError, match=r"spec.yaml:2 a YAML alias refers to itself"):
        load(tmp_path, "version: 1\na: &a [1, *a]\nslides: [{image: a.jpg}]\n")
