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


class JobInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[str, Any] | None = None
    spec_url: str | None = None
    assets: dict[str, str] = Field(
        default_factory=dict,
        description="Relative name -> http(s) URL, or bundled://NAME for a sample shipped in the image (smoke tests).",
    )
    output: OutputTarget
    job_key: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

    @model_validator(mode="after")
    def _one_spec(self) -> JobInput:
        if (self.spec is None) == (self.spec_url is None):
            raise ValueError("give exactly one of spec or spec_url")
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
