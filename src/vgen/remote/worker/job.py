"""The job a RunPod worker receives, validated; errors become one readable string."""

from __future__ import annotations

import unicodedata
import urllib.parse
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vgen.errors import VgenError


class JobError(VgenError):
    """A job that cannot run as sent; its message goes back to the caller."""


def safe_name(name: str) -> str:
    """A relative path inside the job folder: no absolute paths, no '..', no empty parts."""
    p = PurePosixPath(name)
    if (
        not name
        or p.is_absolute()
        or "\\" in name
        or name.startswith("~")
        or any(part in ("..", "", ".") for part in name.split("/"))
    ):
        raise ValueError(f"asset name {name!r} must be a plain relative path inside the job (no '..', no leading '/')")
    return str(p)


def object_name(name: str) -> str:
    """An object name in a bucket that names exactly that object in a storage URL and on disk: no '%',
    '?' or '#' (a URL would read them as an escape, a query, a fragment), no control characters, no
    '.', '..' or empty parts (also once percent-decoded), no leading or trailing '/', no '\\'."""
    bad = next((c for c in name if c in "%?#\\" or unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise ValueError(
            f"{name!r} has {bad!r}: an object name has no '%', '?', '#', '\\' or control characters "
            "(in a storage URL they would name another object)"
        )
    if name.startswith("/") or name.endswith("/"):
        raise ValueError(f"{name!r} must not start or end with '/'")
    if any(part in ("", ".", "..") for part in urllib.parse.unquote(name).split("/")):
        raise ValueError(f"{name!r} must be a plain object name: no '.', '..' or empty parts")
    return name


class OutputTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    path: str = Field(min_length=1, max_length=1024)
    upsert: bool = False
    signed_url_seconds: int | None = Field(None, ge=60, le=31_536_000, description="Return a signed download URL.")
    target: Literal["supabase", "s3", "local"] = "supabase"

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return safe_name(object_name(v))


class WorkArea(BaseModel):
    """Where the pieces of a fanned-out render wait for their join: PREFIX/NAME in a bucket of the
    worker's own storage (its credentials, as for the output)."""

    model_config = ConfigDict(extra="forbid")
    target: Literal["supabase", "s3", "local"] = "s3"
    bucket: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    prefix: str = Field(min_length=1, max_length=512)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return safe_name(object_name(v))

    def piece(self, name: str) -> OutputTarget:
        """The piece `name` as an upload target (replaced when it is there: same name, same bytes)."""
        return OutputTarget(bucket=self.bucket, path=f"{self.prefix}/{name}", upsert=True, target=self.target)


class Piece(BaseModel):
    """A piece in the work area as its worker reported it; the join checks the object against it."""

    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=-1)  # -1: the audio track
    name: str = Field(pattern=r"^(seg|audio)-[0-9a-f]{16,64}\.(mp4|m4a)$")
    size: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    frames: int = Field(0, ge=0)


# What a job does: "render" the whole video (the default); for a fan-out (vgen.remote.fanout) "plan"
# (the worker's piece names, which pieces the work area holds), "chunk" (some segments), "audio"
# (the mix) and "join" (the pieces joined, checked and uploaded as "render" uploads its video).
Kind = Literal["render", "plan", "chunk", "audio", "join"]


class JobInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind = "render"
    spec: dict[str, Any] | None = None
    spec_url: str | None = None
    assets: dict[str, str] = Field(
        default_factory=dict,
        description="Relative name -> http(s) URL, or bundled://NAME for a sample shipped in the image (smoke tests).",
    )
    output: OutputTarget | None = None
    job_key: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    # Fan-out jobs: the caller's probe of every asset (name -> ImageFacts/AVFacts fields, "type":
    # "image" or "av") and their sha256, so every job builds the caller's timeline without
    # downloading what it does not show; the frame bounds of the caller's segments, which the
    # worker's plan must reproduce; the segments [first, end) a chunk renders.
    facts: dict[str, dict[str, Any]] | None = None
    digests: dict[str, str] | None = None
    bounds: list[tuple[int, int]] | None = None
    segments: tuple[int, int] | None = None
    work: WorkArea | None = None
    pieces: list[Piece] | None = None  # join: every segment's piece, then the audio's (index -1)
    keep_work: bool = False  # join: leave the pieces for an incremental re-render

    @model_validator(mode="after")
    def _one_spec(self) -> JobInput:
        if (self.spec is None) == (self.spec_url is None):
            raise ValueError("give exactly one of spec or spec_url")
        if self.kind in ("render", "join") and self.output is None:
            raise ValueError("output: Field required")
        if self.kind != "render":
            missing = [n for n in ("facts", "digests", "bounds", "work") if getattr(self, n) is None]
            if self.kind == "chunk" and self.segments is None:
                missing.append("segments")
            if self.kind == "join" and self.pieces is None:
                missing.append("pieces")
            if missing:
                raise ValueError(f"a {self.kind} job needs {', '.join(missing)}")
        return self

    @field_validator("assets")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for name, url in v.items():
            safe_name(name)
            if not url.lower().startswith(("http://", "https://", "bundled://")):
                raise ValueError(f"asset {name!r}: only http(s) URLs are fetched (or bundled:// samples of the image)")
        return v


def parse_job(raw: Any) -> JobInput:
    try:
        return JobInput.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise JobError(f"input.{where}: {msg}{more}") from exc
