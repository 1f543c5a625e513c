"""The Flask side: send a spec to a RunPod endpoint running `vgen serve-runpod`, and follow it.

Standard library only at import (no numpy, numba or renderer: `import vgen.client` takes a few
milliseconds), so a web app needs nothing beyond vgen itself; `build_job` loads the spec with
vgen's models when it is called:

    from vgen.remote.client import RunPodClient, Storage, build_job
    storage = Storage.from_env()                      # SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY
    job = build_job("ep-42.yaml", storage, "assets", output_bucket="videos", output_path="ch-a/ep-42.mp4")
    client = RunPodClient("my-endpoint-id")           # RUNPOD_API_KEY
    job_id = client.run(job, webhook="https://app.example/hooks/render")
    client.status(job_id)                             # {"status": "IN_PROGRESS", "output": {...progress}}
"""

from __future__ import annotations

import json
import mimetypes
import os
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from vgen.errors import VgenError
from vgen.files import file_sha256
from vgen.remote.names import encode_signed, host_of, quote_name

if TYPE_CHECKING:
    from vgen.model.limits import FontLimits
    from vgen.remote.fanout import FanOut

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
DEFAULT_API = "https://api.runpod.ai/v2"


class ClientError(VgenError):
    """A request to RunPod or Storage failed; never carries the keys."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: the keys would go with them (urllib keeps every header but the
    body's on a redirect, to any host). The 3xx comes back as an HTTPError."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _request(
    method: str,
    url: str,
    key: str,
    body: Any = None,
    data: bytes | Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Any]:
    h = {"Authorization": f"Bearer {key}", "apikey": key, **(headers or {})}
    payload = data
    if body is not None:
        payload = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=payload, headers=h, method=method)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw and "json" in resp.headers.get("Content-Type", "") else raw
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400 and exc.code != 304:
            location = exc.headers.get("Location")
            to = host_of(urllib.parse.urljoin(url, location)) if location else "nowhere (no Location)"
            raise ClientError(
                f"{method} {host_of(url)}{urllib.parse.urlsplit(url).path}: HTTP {exc.code}, a redirect to {to}: "
                "not followed",
                "the keys are never sent on a redirect; point the URL at the service itself",
            ) from None
        return exc.code, exc.read()[:300].decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        raise ClientError(f"{method} {url.split('?')[0]}: {exc.reason}", "check the URL and the network") from exc


@dataclass(frozen=True)
class RunPodClient:
    endpoint: str
    api_key: str = ""
    api_base: str | None = None  # given > VGEN_RUNPOD_API > RunPod's public API

    def __post_init__(self) -> None:
        if not self.api_key:
            key = os.environ.get("RUNPOD_API_KEY", "")
            if not key:
                raise ClientError("RUNPOD_API_KEY is not set", "export it, or pass api_key")
            object.__setattr__(self, "api_key", key)
        base = self.api_base or os.environ.get("VGEN_RUNPOD_API") or DEFAULT_API
        object.__setattr__(self, "api_base", base.rstrip("/"))

    def _url(self, *parts: str) -> str:
        assert self.api_base is not None  # set in __post_init__
        return "/".join([self.api_base, self.endpoint, *parts])

    def run(self, job_input: dict[str, Any], webhook: str | None = None) -> str:
        body: dict[str, Any] = {"input": job_input}
        if webhook:
            body["webhook"] = webhook
        code, resp = _request("POST", self._url("run"), self.api_key, body)
        if code != 200 or not isinstance(resp, dict) or "id" not in resp:
            raise ClientError(f"/run answered HTTP {code}: {str(resp)[:200]}")
        return str(resp["id"])

    def status(self, job_id: str) -> dict[str, Any]:
        code, resp = _request("GET", self._url("status", job_id), self.api_key)
        if code != 200 or not isinstance(resp, dict):
            raise ClientError(f"/status/{job_id} answered HTTP {code}: {str(resp)[:200]}")
        return resp

    def cancel(self, job_id: str) -> dict[str, Any]:
        code, resp = _request("POST", self._url("cancel", job_id), self.api_key)
        if code != 200:
            raise ClientError(f"/cancel/{job_id} answered HTTP {code}: {str(resp)[:200]}")
        return resp if isinstance(resp, dict) else {}

    def render(self, spec_path: str | Path, storage: Storage, *, workers: int, **options: Any) -> FanOut:
        """One video on up to `workers` workers of this endpoint (`vgen.remote.fanout.FanOut.start`:
        asset_bucket, output, work, retries, state_path, ...); `.wait()` runs it, `.cancel()` stops it."""
        from vgen.remote.fanout import FanOut

        return FanOut.start(self, spec_path, storage, workers=workers, **options)

    def wait(
        self,
        job_id: str,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        poll_s: float = 2.0,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Poll /status until the job ends; every answer goes to `on_update`."""
        started = time.monotonic()
        while True:
            st = self.status(job_id)
            if on_update:
                on_update(st)
            if st.get("status") in FINAL:
                return st
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise ClientError(f"job {job_id} still {st.get('status')} after {timeout_s:.0f} s")
            time.sleep(poll_s)


@dataclass(frozen=True)
class Storage:
    """Supabase Storage, for the job's assets: uploaded once per content, then signed."""

    url: str
    key: str

    @classmethod
    def from_env(cls) -> Storage:
        url, key = os.environ.get("SUPABASE_URL", ""), os.environ.get("SUPABASE_SERVICE_ROLE_KEY", "")
        if not url or not key:
            raise ClientError("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY must be set", "export them")
        return cls(url.rstrip("/"), key)

    def _object(self, bucket: str, name: str, kind: str = "object") -> str:
        """The URL of an object, its names percent-encoded; a name that could reach another is refused."""
        parts = [bucket, *urllib.parse.unquote(name).split("/")]
        if "/" in bucket or {"", ".", ".."} & set(parts) or any(unicodedata.category(c) == "Cc" for c in name):
            where = f"{bucket}/{name}"
            raise ClientError(f"{where!r} is not a plain object name (no '.', '..', empty parts, control characters)")
        return f"{self.url}/storage/v1/{kind}/{quote_name(bucket)}/{quote_name(name)}"

    def exists(self, bucket: str, name: str) -> bool:
        code, _ = _request("HEAD", self._object(bucket, name), self.key)
        return code == 200

    def put(self, bucket: str, name: str, path: Path) -> None:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        url = self._object(bucket, name)
        with path.open("rb") as f:
            code, resp = _request(
                "POST",
                url,
                self.key,
                data=f,
                headers={"Content-Type": ctype, "Content-Length": str(path.stat().st_size), "x-upsert": "true"},
                timeout=600,
            )
        if code not in (200, 201):
            raise ClientError(f"uploading {path.name} to {bucket}/{name}: HTTP {code} {str(resp)[:200]}")

    def sign(self, bucket: str, name: str, seconds: int) -> str:
        """A signed download URL, encoded (Storage answers the path raw: spaces and all)."""
        code, resp = _request("POST", self._object(bucket, name, "object/sign"), self.key, {"expiresIn": seconds})
        if code != 200 or not isinstance(resp, dict) or not isinstance(resp.get("signedURL"), str):
            raise ClientError(f"signing {bucket}/{name}: HTTP {code}")
        return self.url + "/storage/v1" + encode_signed(resp["signedURL"])


def build_job(
    spec_path: str | Path,
    storage: Storage,
    asset_bucket: str,
    output_bucket: str,
    output_path: str,
    job_key: str | None = None,
    url_seconds: int = 86_400,
    upsert: bool = True,
    on_asset: Callable[[str, bool], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """The job input for a local spec: its assets uploaded by content hash (skipped when already
    there), signed, and named by the relative paths the spec uses. A fonts folder is sent as its
    fonts, each an asset named FOLDER/NAME (`fonts/Inter-Bold.ttf`); `on_skip(name, why)` hears of
    the other files in it, which are not sent."""
    sent = upload_assets(spec_path, storage, asset_bucket, url_seconds, on_asset, on_skip)
    job: dict[str, Any] = {
        "spec": sent.spec,
        "assets": sent.urls,
        "output": {"bucket": output_bucket, "path": output_path, "upsert": upsert},
    }
    if job_key:
        job["job_key"] = job_key
    return job


@dataclass(frozen=True)
class SentAssets:
    """A spec's files in Storage: the spec as the job carries it (no output path), each file's
    signed URL and sha256 by the name the spec uses, and where each name is on this machine."""

    spec: dict[str, Any]
    urls: dict[str, str]
    digests: dict[str, str]
    files: dict[str, Path]


def upload_assets(
    spec_path: str | Path,
    storage: Storage,
    asset_bucket: str,
    url_seconds: int = 86_400,
    on_asset: Callable[[str, bool], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> SentAssets:
    """Every file a spec names uploaded once by content hash (`sha256/HEX.ext`) and signed: what
    `build_job` and a fan-out (`vgen.remote.fanout`) send."""
    from vgen.model.limits import FontLimits  # with pydantic: only when a job is built
    from vgen.model.spec import load_spec

    loaded = load_spec(spec_path)
    data = loaded.spec.model_dump(by_alias=True, exclude_none=True)
    files: dict[str, Path] = {}
    for ref in loaded.spec.assets():
        if ref.role == "fonts":
            files |= _fonts_of(ref.path, loaded.resolve(ref.path), FontLimits.from_env(), on_skip)
        else:
            files.setdefault(ref.path, loaded.resolve(ref.path))
    assets: dict[str, str] = {}
    digests: dict[str, str] = {}
    for rel, path in files.items():
        if path.is_dir():
            raise ClientError(f"{rel}: a folder, where the spec names a file", "name the file itself")
        digests[rel] = file_sha256(path)
        name = f"sha256/{digests[rel]}{path.suffix.lower()}"
        there = storage.exists(asset_bucket, name)
        if not there:
            storage.put(asset_bucket, name, path)
        if on_asset:
            on_asset(rel, there)
        assets[rel] = storage.sign(asset_bucket, name, url_seconds)
    data.get("output", {}).pop("path", None)
    return SentAssets(data, assets, digests, files)


def _fonts_of(
    rel: str, folder: Path, limits: FontLimits, on_skip: Callable[[str, str], None] | None
) -> dict[str, Path]:
    """The fonts directly inside a fonts folder (`rel` as the spec writes it) by their job names,
    `rel/NAME` ('fonts/' and './fonts' give 'fonts/NAME'), within the worker's caps: libass reads
    no subfolder and no hidden file, FreeType only the formats of FONT_SUFFIXES."""
    from vgen.model.limits import FONT_SUFFIXES

    if not folder.is_dir():
        raise ClientError(f"{rel}: the fonts folder is not a folder", "fix fonts_dir")
    base = str(PurePosixPath(rel))
    fonts: dict[str, Path] = {}
    total = 0
    for path in sorted(folder.iterdir()):
        name = f"{base}/{path.name}"
        if path.name.startswith("."):
            continue
        if not path.is_file() or path.suffix.lower() not in FONT_SUFFIXES:
            if on_skip:
                why = "a folder (libass reads none)" if path.is_dir() else f"not a font ({', '.join(FONT_SUFFIXES)})"
                on_skip(name, f"not sent: {why}")
            continue
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ClientError(
                f"{name}: {size} bytes, over the worker's font cap VGEN_MAX_FONT_BYTES ({limits.max_bytes})",
                "remove it from the fonts folder (or subset it), or raise VGEN_MAX_FONT_BYTES on the worker and here",
            )
        fonts[name] = path
        total += size
    if not fonts:
        raise ClientError(
            f"{rel}: the fonts folder holds no font file ({', '.join(FONT_SUFFIXES)})",
            "add the fonts, or remove fonts_dir",
        )
    if len(fonts) > limits.max_fonts:
        raise ClientError(
            f"{rel}: {len(fonts)} fonts, over the worker's cap VGEN_MAX_FONTS ({limits.max_fonts})",
            "keep only the fonts the video uses, or raise VGEN_MAX_FONTS on the worker and here",
        )
    if total > limits.max_total_bytes:
        raise ClientError(
            f"{rel}: the fonts are {total} bytes in all, over the worker's cap VGEN_MAX_FONTS_TOTAL_BYTES "
            f"({limits.max_total_bytes})",
            "keep only the fonts the video uses, or raise VGEN_MAX_FONTS_TOTAL_BYTES on the worker and here",
        )
    return fonts
