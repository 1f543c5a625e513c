"""vgen: narrated slideshows (images, clips, music, captions) rendered to long MP4s in checkpointed segments.

The library behind the `vgen` command. The names below are its public API; each is imported on
first use, so `import vgen` (and the light `vgen.client`) loads neither pydantic nor numpy:

    import vgen
    prep = vgen.prepare("spec.yaml")          # load, probe, timeline, plan, commands
    result = vgen.render(prep)                # segments, audio, join, checks
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "load_spec": "vgen.model.spec",
    "validate_data": "vgen.model.spec",
    "Spec": "vgen.model.spec",
    "LoadedSpec": "vgen.model.spec",
    "load_and_check": "vgen.pipeline",
    "Checked": "vgen.pipeline",
    "prepare": "vgen.pipeline",
    "Prepared": "vgen.pipeline",
    "dry_run_script": "vgen.pipeline",
    "render": "vgen.run.render",
    "render_spec": "vgen.run.render",
    "Options": "vgen.run.render",
    "Result": "vgen.run.render",
    "Event": "vgen.run.progress",
    "FFmpeg": "vgen.ffmpeg.binary",
    "find_ffmpeg": "vgen.ffmpeg.binary",
    "VgenError": "vgen.errors",
    "SpecError": "vgen.errors",
    "MediaError": "vgen.errors",
    "AssetProblems": "vgen.errors",
    "FFmpegError": "vgen.errors",
    "RunPodClient": "vgen.remote.client",
    "Storage": "vgen.remote.client",
    "build_job": "vgen.remote.client",
    "render_frame": "vgen.tools.frame",
    "compare": "vgen.tools.compare",
}
__all__ = [
    "__version__",
    "load_spec",
    "validate_data",
    "Spec",
    "LoadedSpec",
    "load_and_check",
    "Checked",
    "prepare",
    "Prepared",
    "dry_run_script",
    "render",
    "render_spec",
    "Options",
    "Result",
    "Event",
    "FFmpeg",
    "find_ffmpeg",
    "VgenError",
    "SpecError",
    "MediaError",
    "AssetProblems",
    "FFmpegError",
    "RunPodClient",
    "Storage",
    "build_job",
    "render_frame",
    "compare",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'vgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from vgen.errors import AssetProblems, FFmpegError, MediaError, SpecError, VgenError
    from vgen.ffmpeg.binary import FFmpeg, find_ffmpeg
    from vgen.model.spec import LoadedSpec, Spec, load_spec, validate_data
    from vgen.pipeline import Checked, Prepared, dry_run_script, load_and_check, prepare
    from vgen.remote.client import RunPodClient, Storage, build_job
    from vgen.run.progress import Event
    from vgen.run.render import Options, Result, render, render_spec
    from vgen.tools.compare import compare
    from vgen.tools.frame import render_frame
