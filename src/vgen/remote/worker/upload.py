"""Where the finished video goes: Supabase Storage (resumable TUS, 6 MiB chunks), S3, or a folder.

Credentials come only from the environment and never appear in logs or errors. An interrupted
TUS upload continues where it stopped: its upload URL is kept next to the file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vgen.errors import VgenError
from vgen.files import fsync_rename, partial_path
from vgen.remote.worker.job import OutputTarget

CHUNK = 6 * 1024 * 1024  # Supabase's resumable endpoint requires 6 MiB chunks


class UploadError(VgenError):
    """The upload failed; the message never contains credentials."""


@dataclass(frozen=True)
class Uploaded:
    bucket: str
    path: str
    size_bytes: int
    signed_url: str | None = None
    resumed_from: int = 0


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


def _meta(**items: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in items.items())


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
) -> int:
    """Upload `file` with the TUS protocol; return the offset it resumed from (0 for a fresh upload).
    `state` remembers the upload URL so a retry continues; `max_chunks` stops early (tests)."""
    import aiohttp

    size = file.stat().st_size
    base = {
        "Authorization": f"Bearer {key}",
        "apikey": key,
        "Tus-Resumable": "1.0.0",
        "x-upsert": "true" if upsert else "false",
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300)) as http:
        url, offset = None, 0
        ident = {"size": size, "mtime_ns": file.stat().st_mtime_ns, "name": f"{bucket}/{name}"}
        if state.is_file():
            saved = json.loads(state.read_text())
            url = saved.get("url") if saved.get("file") == ident else None  # another file: start over
        if url:
            async with http.head(url, headers=base) as r:
                if r.status == 200 and "Upload-Offset" in r.headers:
                    offset = int(r.headers["Upload-Offset"])
                else:
                    url = None
        resumed_from = offset
        if url is None:
            headers = base | {
                "Upload-Length": str(size),
                "Upload-Metadata": _meta(
                    bucketName=bucket, objectName=name, contentType="video/mp4", cacheControl="3600"
                ),
            }
            async with http.post(endpoint, headers=headers) as r:
                if r.status not in (200, 201):
                    raise UploadError(
                        f"creating the upload of {bucket}/{name} failed: HTTP {r.status} "
                        f"{(await r.text())[:200].strip()}"
                    )
                url = r.headers["Location"]
            state.write_text(json.dumps({"url": url, "file": ident}))
        sent = 0
        with file.open("rb") as f:
            while offset < size:
                if max_chunks is not None and sent >= max_chunks:
                    return resumed_from
                f.seek(offset)
                data = f.read(chunk)
                for attempt in range(4):
                    try:
                        if attempt:  # the server may have stored the chunk before the connection broke
                            async with http.head(url, headers=base) as r:
                                offset = int(r.headers.get("Upload-Offset", offset))
                            if offset >= size:
                                break
                            f.seek(offset)
                            data = f.read(chunk)
                        headers = base | {
                            "Upload-Offset": str(offset),
                            "Content-Type": "application/offset+octet-stream",
                        }
                        async with http.patch(url, data=data, headers=headers) as r:
                            if r.status != 204:
                                raise UploadError(f"upload of {bucket}/{name} at byte {offset}: HTTP {r.status}")
                            offset = int(r.headers["Upload-Offset"])
                        break
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        if attempt == 3:
                            raise UploadError(
                                f"upload of {bucket}/{name} stopped at byte {offset}: {type(exc).__name__}",
                                "the job can be sent again; it resumes",
                            ) from exc
                        await asyncio.sleep(2**attempt)
                sent += 1
    state.unlink(missing_ok=True)
    return resumed_from


async def signed_url(bucket: str, name: str, seconds: int) -> str:
    import aiohttp

    root, key = os.environ["SUPABASE_URL"].rstrip("/"), os.environ["SUPABASE_SERVICE_ROLE_KEY"]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{root}/storage/v1/object/sign/{bucket}/{name}",
            json={"expiresIn": seconds},
            headers={"Authorization": f"Bearer {key}", "apikey": key},
        ) as r,
    ):
        if r.status != 200:
            raise UploadError(f"signing {bucket}/{name} failed: HTTP {r.status}")
        return root + "/storage/v1" + (await r.json())["signedURL"]


def _s3_upload(file: Path, bucket: str, name: str) -> None:
    import boto3  # optional: pip install boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["BUCKET_ENDPOINT_URL"],
        aws_access_key_id=os.environ["BUCKET_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["BUCKET_SECRET_ACCESS_KEY"],
    )
    s3.upload_file(str(file), bucket, name, ExtraArgs={"ContentType": "video/mp4"})  # multipart for big files


async def upload(file: Path, target: OutputTarget, state: Path) -> Uploaded:
    require_credentials(target)
    size = file.stat().st_size
    if target.target == "local":
        dest = Path(os.environ["VGEN_LOCAL_OUTPUT_DIR"]) / target.bucket / target.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and not target.upsert:
            raise UploadError(f"{target.bucket}/{target.path} exists", "send upsert: true to replace it")
        part = partial_path(dest)
        shutil.copyfile(file, part)
        fsync_rename(part, dest)
        return Uploaded(target.bucket, target.path, size)
    if target.target == "s3":
        await asyncio.to_thread(_s3_upload, file, target.bucket, target.path)
        return Uploaded(target.bucket, target.path, size)
    endpoint = os.environ["SUPABASE_URL"].rstrip("/") + "/storage/v1/upload/resumable"
    resumed = await tus_upload(
        file, endpoint, os.environ["SUPABASE_SERVICE_ROLE_KEY"], target.bucket, target.path, target.upsert, state
    )
    url = await signed_url(target.bucket, target.path, target.signed_url_seconds) if target.signed_url_seconds else None
    return Uploaded(target.bucket, target.path, size, url, resumed)
