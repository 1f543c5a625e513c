"""Where the finished video goes: Supabase Storage (resumable TUS, 6 MiB chunks), S3, or a folder.

`preflight(target)` runs before the downloads and the render and finds what would fail after them:
credentials, the bucket (there? its size limit, its MIME types), the object name (Supabase's key rule)
and, with upsert: false, an object already there. `upload(file, target, state)` then sends the file.

Credentials come only from the environment and never appear in logs or errors. No storage request
follows a redirect: a 3xx is an error naming the status and the host it pointed to, since the service
key would go with it. Object names are percent-encoded in every storage URL (`quote_name`). Transient
answers (5xx, 423, 429, a broken connection) are retried with exponential backoff from RETRY_BASE_S,
and a chunk is re-sent only after the server's offset was read again. An interrupted TUS upload
continues where it stopped: its upload URL is kept in `state`, keyed by the file's size and sha256 and
the object's name, so a job sent again (the same bytes joined anew) resumes too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vgen.errors import VgenError
from vgen.files import atomic_write_text, file_sha256, fsync_rename, partial_path
from vgen.remote.names import encode_signed, host_of, quote_name
from vgen.remote.worker.job import JobError, OutputTarget

if TYPE_CHECKING:
    import aiohttp

CHUNK = 6 * 1024 * 1024  # Supabase's resumable endpoint requires 6 MiB chunks
CONTENT_TYPE = "video/mp4"
ATTEMPTS = 5  # tries of one request; the waits between them are RETRY_BASE_S * 1, 2, 4, 8
RETRY_BASE_S = 1.0
# Kept as they are in a storage URL: legal in a path, and left escaped by Storage's decodeURI when it
# signs (a name with '+' sent as %2B would be signed as '%2B' and its URL then fail the signature).
# Supabase Storage's isValidKey (src/storage/limits.ts), with JavaScript's ASCII \w. '?' is in its rule
# but never in an output path (OutputTarget refuses it), so the hint leaves it out.
SUPABASE_KEY_CHAR = re.compile(r"[\w/!\-.*'() &$@=;:+,?]", re.ASCII)
SUPABASE_KEY_HINT = "use ASCII letters, digits, spaces and _ / ! - . * ' ( ) & $ @ = ; : + , only"


class UploadError(VgenError):
    """The upload failed; the message never contains credentials."""


@dataclass(frozen=True)
class Uploaded:
    bucket: str
    path: str
    size_bytes: int
    signed_url: str | None = None
    resumed_from: int = 0


@dataclass(frozen=True)
class Preflight:
    """What the target said before the render. `size_limit`: the most bytes the bucket takes for one
    object (Supabase's file_size_limit), None when the bucket sets none (the server may still have its
    own); `mime_types`: the bucket's allowed_mime_types, None for any."""

    size_limit: int | None = None
    mime_types: tuple[str, ...] | None = None


def require_credentials(target: OutputTarget) -> None:
    """Fail before any work when the target's credentials are missing from the environment."""
    needed = {
        "supabase": ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"),
        "s3": ("BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY"),
        "local": ("VGEN_LOCAL_OUTPUT_DIR",),
    }[target.target]
    missing = [n for n in needed if not os.environ.get(n)]
    if missing:
        raise UploadError(
            f"output target {target.target!r} needs {', '.join(missing)} in the worker's environment",
            "set them on the endpoint (never in the job)",
        )


def check_supabase_name(name: str) -> None:
    """Refuse, before the render, a name Supabase Storage answers with `HTTP 400 Invalid key`."""
    bad = next((c for c in name if not SUPABASE_KEY_CHAR.fullmatch(c)), None)
    if bad is not None:
        raise JobError(
            f"input.output.path: {name!r} has {bad!r}, which Supabase Storage refuses in object names (Invalid key)",
            SUPABASE_KEY_HINT,
        )


def _exists(bucket: str, name: str) -> UploadError:
    return UploadError(f"{bucket}/{name} exists (upsert: false)", "send upsert: true to replace it")


def _size(n: int) -> str:
    return f"{n} bytes ({n / 1e6:.1f} MB)"


def _too_big(where: str, size: int, limit: int) -> UploadError:
    return UploadError(
        f"{where}: the video is {size} bytes, over the bucket's file_size_limit of {_size(limit)}",
        "raise the bucket's limit in Supabase Storage, or render a smaller file (bitrate, size, length)",
    )


def _meta(**items: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in items.items())


def _clean(text: str, key: str) -> str:
    """A server's answer as part of a one-line message: no key, no newlines, short."""
    if key:
        text = text.replace(key, "[key]")
    return " ".join(text.split())[:200]


def _short(url: str) -> str:
    """scheme://host/path of a URL: no query (it may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{host_of(url)}{parts.path}"


def _url_path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _requote(url: str) -> str:
    """A URL a server gave, with what is not legal in a URL percent-encoded (valid escapes kept)."""
    return urllib.parse.quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _transient(status: int) -> bool:
    return status >= 500 or status in (423, 429)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    text: str


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    what: str,
    headers: Mapping[str, str],
    data: bytes | None = None,
    json_body: Any = None,
) -> _Answer:
    """One storage request, never following a redirect. `url` is already encoded: sent as it is."""
    import yarl

    async with http.request(
        method, yarl.URL(url, encoded=True), headers=dict(headers), data=data, json=json_body, allow_redirects=False
    ) as r:
        text = "" if method == "HEAD" else (await r.read()).decode("utf-8", "replace")
        answer = _Answer(r.status, r.headers, text)
    if 300 <= answer.status < 400 and answer.status != 304:
        location = answer.headers.get("Location")
        to = host_of(urllib.parse.urljoin(url, location)) if location else "nowhere (no Location)"
        raise UploadError(
            f"{what}: the storage answered HTTP {answer.status}, a redirect to {to}: not followed",
            "the service key is never sent on a redirect; point SUPABASE_URL at Storage itself",
        )
    return answer


async def _retrying(what: str, call: Callable[[], Awaitable[_Answer]]) -> _Answer:
    """`call` until it answers something not transient, ATTEMPTS times at most, backing off."""
    import aiohttp

    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
        try:
            answer = await call()
        except (TimeoutError, aiohttp.ClientError) as exc:
            problem = type(exc).__name__
            continue
        if not _transient(answer.status):
            return answer
        problem = f"HTTP {answer.status}"
    raise UploadError(f"{what}: {problem} after {ATTEMPTS} tries", "the job can be sent again; it resumes")


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "apikey": key}


class _Tus:
    """One TUS upload's requests and the errors they turn into."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        endpoint: str,
        key: str,
        bucket: str,
        name: str,
        upsert: bool,
        size: int,
        size_limit: int | None,
        content_type: str = CONTENT_TYPE,
    ) -> None:
        self.http, self.endpoint, self.key, self.size, self.size_limit = http, endpoint, key, size, size_limit
        self.content_type = content_type
        self.where = f"{bucket}/{name}"
        self.bucket, self.name = bucket, name
        self.base = _headers(key) | {"Tus-Resumable": "1.0.0", "x-upsert": "true" if upsert else "false"}

    def upload_url(self, location: str) -> str:
        """The server's upload URL, joined to the endpoint; only on the endpoint's host (the key goes there)."""
        url = _requote(urllib.parse.urljoin(self.endpoint, location))
        there, here = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(self.endpoint).hostname
        if (there or "").lower() != (here or "").lower():
            raise UploadError(
                f"creating the upload of {self.where}: the server's upload URL is on {host_of(url)}, "
                f"not on SUPABASE_URL's host {host_of(self.endpoint)}: not used",
                "the service key is only sent to SUPABASE_URL's host; check the gateway's X-Forwarded-Host",
            )
        return url

    async def head(self, url: str) -> _Answer:
        what = f"checking the upload of {self.where}"
        return await _retrying(what, lambda: _send(self.http, "HEAD", url, what, self.base))

    async def create(self) -> str:
        what = f"creating the upload of {self.where}"
        headers = self.base | {
            "Upload-Length": str(self.size),
            "Upload-Metadata": _meta(
                bucketName=self.bucket, objectName=self.name, contentType=self.content_type, cacheControl="3600"
            ),
        }
        answer = await _retrying(what, lambda: _send(self.http, "POST", self.endpoint, what, headers))
        if answer.status not in (200, 201):
            raise self.refused(what, answer, self.endpoint)
        location = answer.headers.get("Location")
        if not location:
            raise UploadError(f"{what}: HTTP {answer.status} without a Location header")
        return self.upload_url(location)

    async def chunk(self, url: str, f: Any, offset: int, chunk: int) -> int:
        """Send the chunk at `offset`; return the server's new offset. A transient answer, a broken
        connection or an offset conflict is retried after reading the offset again with HEAD (the server
        may have stored the chunk before the answer was lost)."""
        import aiohttp

        problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
                head = await self.head(url)
                if head.status != 200 or "Upload-Offset" not in head.headers:
                    raise self.refused(f"upload of {self.where} at byte {offset}", head, url)
                offset = int(head.headers["Upload-Offset"])
                if offset >= self.size:
                    return offset
            f.seek(offset)
            data = f.read(chunk)
            what = f"upload of {self.where} at byte {offset}"
            headers = self.base | {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
            try:
                answer = await _send(self.http, "PATCH", url, what, headers, data=data)
            except (TimeoutError, aiohttp.ClientError) as exc:
                problem = type(exc).__name__
                continue
            if answer.status == 204 and "Upload-Offset" in answer.headers:
                return int(answer.headers["Upload-Offset"])
            conflict = answer.status == 409 and "exists" not in answer.text.lower()  # TUS: offset mismatch
            if not (_transient(answer.status) or conflict):
                raise self.refused(what, answer, url)
            problem = f"HTTP {answer.status}"
        raise UploadError(
            f"upload of {self.where} stopped at byte {offset}: {problem} after {ATTEMPTS} tries",
            "the job can be sent again; it resumes",
        )

    def refused(self, what: str, answer: _Answer, url: str) -> UploadError:
        """The error for a final answer that is not a success, saying what it means where that is known."""
        status, said = answer.status, _clean(answer.text, self.key)
        prefix = "/storage/v1/"
        if status == 404 and prefix in urllib.parse.urlsplit(self.endpoint).path and prefix not in _url_path(url):
            return UploadError(
                f"{what}: HTTP 404 at {_short(url)}: the server's upload URL lacks /storage/v1",
                "behind a gateway, a self-hosted Supabase Storage needs REQUEST_ALLOW_X_FORWARDED_PATH=true "
                "(Storage v1.13 and later; before it, TUS_URL_PATH=/storage/v1/upload/resumable)",
            )
        if status == 409:
            return _exists(self.bucket, self.name)
        if status == 413:
            if self.size_limit is None:
                why = "over the storage's upload size limit (the bucket sets none: the server's FILE_SIZE_LIMIT does)"
            elif self.size > self.size_limit:
                why = f"over the bucket's file_size_limit of {_size(self.size_limit)}"
            else:
                why = (
                    f"within the bucket's file_size_limit of {_size(self.size_limit)}, so the server's own "
                    "FILE_SIZE_LIMIT (or the project's plan) is lower"
                )
            return UploadError(
                f"{what}: HTTP 413: the video is {self.size} bytes, {why}",
                "raise the limit, or render a smaller file (bitrate, size, length)",
            )
        if status == 400 and "invalid key" in said.lower():
            return UploadError(f"{what}: HTTP 400 {said}", SUPABASE_KEY_HINT)
        if status in (401, 403):
            return UploadError(
                f"{what}: HTTP {status}: the storage refused the service key", "check SUPABASE_SERVICE_ROLE_KEY"
            )
        return UploadError(f"{what}: HTTP {status} {said}".strip())


def _read_state(state: Path) -> dict[str, Any]:
    try:
        saved = json.loads(state.read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


async def tus_upload(
    file: Path,
    endpoint: str,
    key: str,
    bucket: str,
    name: str,
    upsert: bool,
    state: Path,
    chunk: int = CHUNK,
    max_chunks: int | None = None,
    *,
    sha256: str | None = None,
    size_limit: int | None = None,
    content_type: str = CONTENT_TYPE,
) -> int:
    """Upload `file` with the TUS protocol; return the offset it resumed from (0 for a fresh upload).
    `state` remembers the upload URL for this content (size and `sha256`, computed here when None) and
    object, so a retry or a re-sent job continues; `max_chunks` stops early (tests); `size_limit` (the
    bucket's, when known) goes into the message of a 413."""
    import aiohttp

    size = file.stat().st_size
    digest = sha256 or await asyncio.to_thread(file_sha256, file)
    ident = {"size": size, "sha256": digest, "name": f"{bucket}/{name}", "endpoint": endpoint}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300)) as http:
        tus = _Tus(http, endpoint, key, bucket, name, upsert, size, size_limit, content_type)
        url, offset = None, 0
        saved = _read_state(state)
        if saved.get("file") == ident and isinstance(saved.get("url"), str):
            url = tus.upload_url(saved["url"])
            head = await tus.head(url)
            same = head.headers.get("Upload-Length", str(size)) == str(size)
            if head.status == 200 and "Upload-Offset" in head.headers and same:
                offset = int(head.headers["Upload-Offset"])
            else:
                url = None  # expired or gone: start over
        resumed_from = offset
        if url is None:
            url = await tus.create()
            atomic_write_text(state, json.dumps({"url": url, "file": ident}))
        sent = 0
        with file.open("rb") as f:
            while offset < size:
                if max_chunks is not None and sent >= max_chunks:
                    return resumed_from
                offset = await tus.chunk(url, f, offset, chunk)
                sent += 1
    state.unlink(missing_ok=True)
    return resumed_from


def _signed(root: str, signed: str) -> str:
    return f"{root}/storage/v1{encode_signed(signed)}"


async def signed_url(bucket: str, name: str, seconds: int) -> str:
    import aiohttp

    root, key = os.environ["SUPABASE_URL"].rstrip("/"), os.environ["SUPABASE_SERVICE_ROLE_KEY"]
    what = f"signing {bucket}/{name}"
    url = f"{root}/storage/v1/object/sign/{quote_name(bucket)}/{quote_name(name)}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        answer = await _retrying(
            what, lambda: _send(http, "POST", url, what, _headers(key), json_body={"expiresIn": seconds})
        )
    if answer.status != 200:
        raise UploadError(f"{what} failed: HTTP {answer.status} {_clean(answer.text, key)}".strip())
    try:
        signed = json.loads(answer.text)["signedURL"]
    except (ValueError, KeyError, TypeError):
        raise UploadError(f"{what}: the answer has no signedURL: {_clean(answer.text, key)}") from None
    return _signed(root, str(signed))


async def _supabase_preflight(target: OutputTarget, content_type: str = CONTENT_TYPE) -> Preflight:
    import aiohttp

    check_supabase_name(target.path)
    root, key = os.environ["SUPABASE_URL"].rstrip("/"), os.environ["SUPABASE_SERVICE_ROLE_KEY"]
    bucket, where = target.bucket, f"{target.bucket}/{target.path}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        what = f"checking bucket {bucket}"
        url = f"{root}/storage/v1/bucket/{quote_name(bucket)}"
        answer = await _retrying(what, lambda: _send(http, "GET", url, what, _headers(key)))
        try:
            info = json.loads(answer.text) if answer.text else {}
        except ValueError:
            info = {}
        info = info if isinstance(info, dict) else {}
        if answer.status != 200:
            said = _clean(str(info.get("message") or answer.text), key)
            # Storage v1 answers its errors with HTTP 400 and the real status in the body
            if answer.status == 404 or str(info.get("statusCode")) == "404" or "not found" in said.lower():
                raise UploadError(
                    f"bucket {bucket} does not exist", "create it in Supabase Storage, or fix output.bucket"
                )
            if answer.status in (401, 403) or str(info.get("statusCode")) in ("401", "403"):
                raise UploadError(
                    f"{what}: the storage refused the service key ({said})", "check SUPABASE_SERVICE_ROLE_KEY"
                )
            raise UploadError(f"{what}: HTTP {answer.status} {said}".strip())
        limit = info.get("file_size_limit")
        types = info.get("allowed_mime_types")
        mime_types = tuple(str(t) for t in types) if isinstance(types, list) else None
        if mime_types is not None and not _mime_allowed(content_type, mime_types):
            raise UploadError(
                f"bucket {bucket} does not accept {content_type} (allowed_mime_types: {', '.join(mime_types)[:200]})",
                f"add {content_type} to the bucket's allowed MIME types",
            )
        if not target.upsert:
            # HEAD /object/BUCKET/NAME (Storage v0.40 and later): 200 when it is there; a missing object is
            # HTTP 400 (Storage v1 puts the real 404 in a body HEAD does not have) or 404.
            what = f"checking whether {where} exists"
            url = f"{root}/storage/v1/object/{quote_name(bucket)}/{quote_name(target.path)}"
            answer = await _retrying(what, lambda: _send(http, "HEAD", url, what, _headers(key)))
            if answer.status == 200:
                raise _exists(bucket, target.path)
            if answer.status not in (400, 404):
                raise UploadError(f"{what}: HTTP {answer.status}")
    return Preflight(size_limit=limit if isinstance(limit, int) and limit > 0 else None, mime_types=mime_types)


def _mime_allowed(mime: str, allowed: tuple[str, ...]) -> bool:
    """Storage's rule: the same type and subtype, or the same type and '*'."""
    kind, _, sub = mime.partition("/")
    return any(a.partition("/")[0] == kind and a.partition("/")[2] in ("*", sub) for a in allowed)


def _s3_client() -> Any:
    import boto3  # optional: pip install boto3

    return boto3.client(
        "s3",
        endpoint_url=os.environ["BUCKET_ENDPOINT_URL"],
        aws_access_key_id=os.environ["BUCKET_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["BUCKET_SECRET_ACCESS_KEY"],
    )


def _s3_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError, also when boto3's transfer wrapped it."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            err = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return str(err.get("Code") or status or "")
        seen = seen.__cause__ or seen.__context__
    return ""


def _s3_exists(s3: Any, bucket: str, name: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=name)
        return True
    except s3.exceptions.ClientError as exc:
        if _s3_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise UploadError(f"checking whether {bucket}/{name} exists: S3 answered {_s3_code(exc)}") from None


def _s3_preflight(target: OutputTarget) -> Preflight:
    s3 = _s3_client()
    try:
        s3.head_bucket(Bucket=target.bucket)
    except s3.exceptions.ClientError as exc:
        code = _s3_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise UploadError(f"bucket {target.bucket} does not exist", "create it, or fix output.bucket") from None
        raise UploadError(
            f"checking bucket {target.bucket}: S3 answered {code}", "check the BUCKET_* credentials"
        ) from None
    if not target.upsert and _s3_exists(s3, target.bucket, target.path):
        raise _exists(target.bucket, target.path)
    return Preflight()


def _s3_upload(file: Path, bucket: str, name: str, upsert: bool = True, content_type: str = CONTENT_TYPE) -> None:
    """boto3's managed upload (multipart for big files). With upsert false: a checked head, then a
    conditional write: PutObject and CompleteMultipartUpload carry If-None-Match: *, so an object another
    writer made after the check is not replaced either (S3, and moto 5, answer 412). A server without
    conditional writes (501) gets the plain write, after the head check."""
    s3 = _s3_client()
    extra = {"ContentType": content_type}
    if upsert:
        s3.upload_file(str(file), bucket, name, ExtraArgs=extra)
        return
    if _s3_exists(s3, bucket, name):
        raise _exists(bucket, name)

    def if_none_match(params: dict[str, Any], **_: Any) -> None:
        params["IfNoneMatch"] = "*"

    events = [f"before-parameter-build.s3.{op}" for op in ("PutObject", "CompleteMultipartUpload")]
    for event in events:
        s3.meta.events.register(event, if_none_match)
    try:
        s3.upload_file(str(file), bucket, name, ExtraArgs=extra)
    except Exception as exc:  # boto3's S3UploadFailedError, wrapping the ClientError
        code = _s3_code(exc)
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise _exists(bucket, name) from None
        if code not in ("NotImplemented", "501"):
            raise UploadError(f"uploading to {bucket}/{name}: S3 answered {code or type(exc).__name__}") from None
        for event in events:
            s3.meta.events.unregister(event, if_none_match)
        s3.upload_file(str(file), bucket, name, ExtraArgs=extra)


def _local_dest(target: OutputTarget) -> Path:
    return Path(os.environ["VGEN_LOCAL_OUTPUT_DIR"]) / target.bucket / target.path


def _local_preflight(target: OutputTarget) -> Preflight:
    """The folder is there or can be made (nothing is created here); the file absent with upsert false."""
    dest = _local_dest(target)
    there = dest.parent
    while not there.exists() and there != there.parent:
        there = there.parent
    if not there.is_dir():
        raise UploadError(f"local output: {there} is not a folder", "check VGEN_LOCAL_OUTPUT_DIR")
    if not os.access(there, os.W_OK | os.X_OK):
        raise UploadError(f"local output: {there} is not writable", "check VGEN_LOCAL_OUTPUT_DIR")
    if dest.exists() and not target.upsert:
        raise _exists(target.bucket, target.path)
    return Preflight()


async def preflight(target: OutputTarget, content_type: str = CONTENT_TYPE) -> Preflight:
    """Check the target before downloading and rendering anything, so a job that cannot be stored fails
    in seconds: its credentials; for Supabase the object name against Storage's key rule, the bucket
    (GET /storage/v1/bucket/NAME: there, its file_size_limit, its allowed_mime_types accepting
    video/mp4) and, with upsert false, no object of that name (HEAD /storage/v1/object/BUCKET/NAME);
    for S3 the bucket (head_bucket) and, with upsert false, no object (head_object); for a folder, that
    it is there or can be made and, with upsert false, no file. Raises a VgenError (UploadError, or
    JobError for a name Storage refuses) with one line to report; returns the limits found, for
    `upload(..., checked=...)`."""
    require_credentials(target)
    if target.target == "supabase":
        return await _supabase_preflight(target, content_type)
    if target.target == "s3":
        return await asyncio.to_thread(_s3_preflight, target)
    return _local_preflight(target)


async def upload(
    file: Path,
    target: OutputTarget,
    state: Path,
    *,
    sha256: str | None = None,
    checked: Preflight | None = None,
    content_type: str = CONTENT_TYPE,
) -> Uploaded:
    """Store `file` at `target`. `sha256`: the file's digest when the caller has it (else computed here),
    which keys the resumable upload's state; `checked`: what `preflight(target)` returned before the
    render (else it runs here). A file over the bucket's size limit is refused before anything is sent."""
    require_credentials(target)
    size = file.stat().st_size
    if checked is None:
        checked = await preflight(target, content_type)
    if checked.size_limit is not None and size > checked.size_limit:
        raise _too_big(f"{target.bucket}/{target.path}", size, checked.size_limit)
    if target.target == "local":
        dest = _local_dest(target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and not target.upsert:
            raise _exists(target.bucket, target.path)
        part = partial_path(dest)
        shutil.copyfile(file, part)
        fsync_rename(part, dest)
        return Uploaded(target.bucket, target.path, size)
    if target.target == "s3":
        await asyncio.to_thread(_s3_upload, file, target.bucket, target.path, target.upsert, content_type)
        return Uploaded(target.bucket, target.path, size)
    check_supabase_name(target.path)
    endpoint = os.environ["SUPABASE_URL"].rstrip("/") + "/storage/v1/upload/resumable"
    resumed = await tus_upload(
        file,
        endpoint,
        os.environ["SUPABASE_SERVICE_ROLE_KEY"],
        target.bucket,
        target.path,
        target.upsert,
        state,
        sha256=sha256,
        size_limit=checked.size_limit,
        content_type=content_type,
    )
    url = await signed_url(target.bucket, target.path, target.signed_url_seconds) if target.signed_url_seconds else None
    return Uploaded(target.bucket, target.path, size, url, resumed)
