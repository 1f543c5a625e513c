"""What the caller and the workers of a fan-out must write the same way: the caller's probe as JSON
(every job rebuilds the caller's timeline from it) and the pieces' names in the work area (every
worker derives them from its own plan). See `vgen.remote.parts` for why the ranges are the
caller's and the names the workers'."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vgen.model.facts import AVFacts, Facts, ImageFacts
    from vgen.pipeline import Prepared


def facts_json(facts: Facts, names: Mapping[Path, str]) -> dict[str, dict[str, Any]]:
    """The caller's probe by the job's asset names, as JSON ("type": image or av; no paths)."""
    from vgen.model.facts import ImageFacts

    out: dict[str, dict[str, Any]] = {}
    for path, fact in facts.items():
        d = {k: v for k, v in dataclasses.asdict(fact).items() if k != "path"}
        out[names[path]] = d | {"type": "image" if isinstance(fact, ImageFacts) else "av"}
    return out


def facts_from_json(data: Mapping[str, Mapping[str, Any]], resolve: Callable[[str], Path]) -> Facts:
    """The caller's facts back, at the job's paths; checked field by field (pydantic)."""
    from pydantic import TypeAdapter

    from vgen.model.facts import AVFacts, ImageFacts

    image, av = TypeAdapter(ImageFacts), TypeAdapter(AVFacts)
    facts: Facts = {}
    for name, d in data.items():
        fields = {k: v for k, v in d.items() if k != "type"} | {"path": resolve(name)}
        one: ImageFacts | AVFacts = (image if d.get("type") == "image" else av).validate_python(fields)
        facts[resolve(name)] = one
    return facts


def piece_name(prep: Prepared, index: int) -> str:
    """A segment's name in the work area, the same on every worker with the same image: its key
    (content, motion, size, encoder, FFmpeg) with what the key leaves to the recipe and is not a
    path: the captions and titles on screen in it, the compositor, and the libvips that makes its
    canvases (a worker without it makes them with FFmpeg: other pixels). The store's own file name
    hashes the whole recipe, paths of the job folder included, so it differs between jobs."""
    seg, tl = prep.plan.segments[index], prep.plan.timeline
    t0, t1 = tl.frame_time(seg.first), tl.frame_time(seg.end)
    extra = [c.segment_digest(t0, t1) for c in prep.burned]
    source = prep.segment_commands[index].source
    engines = sorted({x.image.engine for x in source.layers if x.image}) if source else []
    named = [seg.key, prep.compositor, extra] + ([engines] if engines else [])  # none: the names as before
    digest = hashlib.sha256(json.dumps(named).encode()).hexdigest()
    return f"seg-{digest[:32]}.mp4"


def audio_name(prep: Prepared) -> str:
    return f"audio-{prep.plan.audio.key[:32]}.m4a"
