"""The work area of a fanned-out render: pieces under PREFIX/NAME in the worker's own storage.

Pieces go up through `upload.upload` (TUS for Supabase, boto3 for S3, a copy for a folder), the one
place that stores files; this module adds what a work area needs besides: is a piece there, fetch
it, remove the area. The credentials are the worker's, from its environment, as for the output.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import urllib.parse
from pathlib import Path

from vgen.files import fsync_rename, partial_path
from vgen.remote.names import quote_name
from vgen.remote.worker.job import JobError, OutputTarget, WorkArea
from vgen.remote.worker.upload import (
    UploadError,
    _headers,
    _local_dest,
    _retrying,
    _s3_client,
    _s3_exists,
    _send,
    require_credentials,
    signed_url,
    upload,
)

WORK_BUCKET_ENV = "VGEN_WORK_BUCKET"
PREFIX_ROOT = "vgen-work/"
PIECE = re.compile(r"^(seg|audio)-[0-9a-f]{16,64}\.(mp4|m4a)(\.json)?$")


def allowed(work: WorkArea) -> None:
    """A job names its work area, but only inside the one the worker allows: the bucket of
    VGEN_WORK_BUCKET, under vgen-work/. The area is read, written and removed (only its pieces),
    so it must never reach the videos or anything else the credentials can touch."""
    bucket = os.environ.get(WORK_BUCKET_ENV, "")
    if not bucket:
        raise JobError(f"this worker takes no fan-out jobs: {WORK_BUCKET_ENV} is not set", "set it on the endpoint")
    if work.bucket != bucket or not work.prefix.startswith(PREFIX_ROOT):
        raise JobError(
            f"input.work: {work.bucket}/{work.prefix} is outside the worker's work area {bucket}/{PREFIX_ROOT}",
            f"use bucket {bucket} and a prefix under {PREFIX_ROOT}",
        )


def _supabase() -> tuple[str, str]:
    return os.environ["SUPABASE_URL"].rstrip("/"), os.environ["SUPABASE_SERVICE_ROLE_KEY"]


async def exists(work: WorkArea, name: str) -> bool:
    """Is PREFIX/NAME in the work area (an upload that did not finish is not)?"""
    target = work.piece(name)
    require_credentials(target)
    if work.target == "local":
        return _local_dest(target).is_file()
    if work.target == "s3":
        return await asyncio.to_thread(_s3_exists, _s3_client(), work.bucket, target.path)
    import aiohttp

    root, key = _supabase()
    url = f"{root}/storage/v1/object/{quote_name(work.bucket)}/{quote_name(target.path)}"
    what = f"checking {work.bucket}/{target.path}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        answer = await _retrying(what, lambda: _send(http, "HEAD", url, what, _headers(key)))
    return answer.status == 200


async def put(file: Path, work: WorkArea, name: str, state: Path, sha256: str) -> None:
    await upload(file, work.piece(name), state, sha256=sha256, content_type=_type(name))


def _type(name: str) -> str:
    return "audio/mp4" if name.endswith(".m4a") else "video/mp4"


async def fetch(work: WorkArea, name: str, dest: Path) -> None:
    """PREFIX/NAME into `dest` (through a partial file: a cut download is never taken for the piece)."""
    target = work.piece(name)
    require_credentials(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    if work.target == "local":
        src = _local_dest(target)
        if not src.is_file():
            raise UploadError(f"work area: {work.bucket}/{target.path} is missing")
        shutil.copyfile(src, part)
    elif work.target == "s3":
        s3 = _s3_client()
        try:
            await asyncio.to_thread(s3.download_file, work.bucket, target.path, str(part))
        except Exception as exc:  # botocore's ClientError: its code, never the credentials
            from vgen.remote.worker.upload import _s3_code

            raise UploadError(f"work area: fetching {work.bucket}/{target.path}: S3 answered {_s3_code(exc)}") from None
    else:
        await _fetch_supabase(target, part)
    fsync_rename(part, dest)


async def _fetch_supabase(target: OutputTarget, part: Path) -> None:
    """Through a signed URL, which Storage serves without the key (the key is never sent to a download)."""
    import aiohttp

    url = await signed_url(target.bucket, target.path, 600)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300)) as http,
        http.get(url, allow_redirects=False) as resp,
    ):
        if resp.status != 200:
            raise UploadError(f"work area: fetching {target.bucket}/{target.path}: HTTP {resp.status}")
        with part.open("wb") as f:
            async for chunk in resp.content.iter_chunked(1 << 20):
                f.write(chunk)


async def remove(work: WorkArea) -> None:
    """Remove every object under PREFIX/ (the render's pieces); what cannot be removed is left."""
    target = OutputTarget(bucket=work.bucket, path=work.prefix, target=work.target)
    require_credentials(target)
    if work.target == "local":
        folder = _local_dest(target)
        for path in folder.iterdir() if folder.is_dir() else ():
            if PIECE.match(path.name):
                path.unlink(missing_ok=True)
        return
    if work.target == "s3":
        await asyncio.to_thread(_s3_remove, work)
        return
    import aiohttp

    root, key = _supabase()
    what = f"removing {work.bucket}/{work.prefix}/"
    listing = f"{root}/storage/v1/object/list/{quote_name(work.bucket)}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        answer = await _retrying(
            what,
            lambda: _send(
                http, "POST", listing, what, _headers(key), json_body={"prefix": work.prefix, "limit": 10000}
            ),
        )
        if answer.status != 200:
            return  # a server without listing keeps the pieces: they are named by content, harmless
        import json

        listed = json.loads(answer.text)
        names = [
            f"{work.prefix}/{o['name']}"
            for o in listed
            if isinstance(listed, list)
            if isinstance(o, dict) and PIECE.match(str(o.get("name")))
        ]
        if names:
            url = f"{root}/storage/v1/object/{quote_name(work.bucket)}"
            await _retrying(
                what, lambda: _send(http, "DELETE", url, what, _headers(key), json_body={"prefixes": names})
            )


def _s3_remove(work: WorkArea) -> None:
    s3 = _s3_client()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=work.bucket, Prefix=work.prefix + "/")
    for page in pages:
        keys = [
            {"Key": o["Key"]}
            for o in page.get("Contents", [])
            if o["Key"].count("/") == work.prefix.count("/") + 1 and PIECE.match(o["Key"].rsplit("/", 1)[1])
        ]
        if keys:
            s3.delete_objects(Bucket=work.bucket, Delete={"Objects": keys, "Quiet": True})


def quoted(work: WorkArea) -> str:
    """The work area for messages."""
    return urllib.parse.unquote(f"{work.target}:{work.bucket}/{work.prefix}/")


async def put_entry(work: WorkArea, entry: dict[str, object], folder: Path) -> None:
    """NAME.json beside the piece NAME, written after it: what its worker reported (size, SHA-256,
    frames), read by a later plan job so that a kept piece is checked like a new one."""
    import json

    name = f"{entry['name']}.json"
    path = folder / name
    path.write_text(json.dumps(entry), encoding="utf-8")
    await upload(path, work.piece(name), folder / f"upload-{name}", content_type="application/json")


async def read_entry(work: WorkArea, name: str, folder: Path) -> dict[str, object] | None:
    """The entry NAME.json of a piece in the work area, or None when the piece is not there whole."""
    import json

    if not await exists(work, f"{name}.json"):
        return None
    dest = folder / "entries" / f"{name}.json"
    try:
        await fetch(work, f"{name}.json", dest)
        entry = json.loads(dest.read_text(encoding="utf-8"))
    except (UploadError, OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("name") == name else None
