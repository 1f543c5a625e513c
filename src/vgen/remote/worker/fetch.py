"""Assets: downloaded concurrently and streamed to disk, within size caps, from allowed hosts only.

Private, loopback and link-local addresses are refused unless their host is listed in
VGEN_ALLOWED_ASSET_HOSTS, on the very addresses the download connects to (so a name that
resolves elsewhere a moment later, DNS rebinding, gains nothing); names stay inside the job
folder; nothing follows links out of it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vgen.files import discard_partials, partial_path
from vgen.remote.worker.job import JobError, safe_name

if TYPE_CHECKING:
    import aiohttp

CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_asset_bytes: int = 2 * 1024**3
    max_job_bytes: int = 8 * 1024**3
    allowed_hosts: frozenset[str] = frozenset()
    concurrency: int = 8

    @classmethod
    def from_env(cls) -> Limits:
        hosts = frozenset(
            h.strip().lower() for h in os.environ.get("VGEN_ALLOWED_ASSET_HOSTS", "").split(",") if h.strip()
        )
        return cls(
            int(os.environ.get("VGEN_MAX_ASSET_BYTES", cls.max_asset_bytes)),
            int(os.environ.get("VGEN_MAX_JOB_BYTES", cls.max_job_bytes)),
            hosts,
        )


def _listed(host: str, port: int | None, limits: Limits) -> bool:
    return host in limits.allowed_hosts or bool(port and f"{host}:{port}" in limits.allowed_hosts)


def refuse_private(host: str, address: str) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 zone (fe80::1%eth0) is no part of it
    if not ip.is_global or ip.is_multicast:  # private, loopback, link-local, CGNAT, reserved, ...
        raise JobError(
            f"{host} resolves to {ip}, a private/loopback/link-local address: refused "
            "(list the host in VGEN_ALLOWED_ASSET_HOSTS to allow it)"
        )


def check_url(url: str, limits: Limits) -> None:
    """Refuse schemes other than http(s), hosts off the allow-list, and private addresses (checked
    again on the addresses the download connects to: `GuardedResolver`)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise JobError(f"{url!r}: only http(s) URLs with a host are fetched")
    listed = _listed(host, parts.port, limits)
    if limits.allowed_hosts and not listed:
        raise JobError(f"{host}: not in VGEN_ALLOWED_ASSET_HOSTS")
    if listed:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise JobError(f"{host}: cannot resolve ({exc})") from exc
    for info in infos:
        refuse_private(host, str(info[4][0]))


def guarded_connector(limits: Limits) -> aiohttp.TCPConnector:
    """aiohttp's connector, resolving through `GuardedResolver`: the addresses checked are the ones
    connected to. Checking a name once and letting the client look it up again leaves a gap: a DNS
    server answering a public address first and 127.0.0.1 a moment later (DNS rebinding) would
    have the worker fetch from its own loopback or the cloud's metadata address. The lookups go
    through the system's getaddrinfo, as check_url's do (aiohttp would otherwise use aiodns
    where it is installed, as it is with the runpod SDK here)."""
    import aiohttp
    from aiohttp.abc import ResolveResult
    from aiohttp.resolver import ThreadedResolver

    class GuardedResolver(ThreadedResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            found = await super().resolve(host, port, family)
            if not _listed(host.lower(), port, limits):
                for info in found:
                    refuse_private(host, info["host"])
            return found

    return aiohttp.TCPConnector(resolver=GuardedResolver())


def inside(folder: Path, name: str) -> Path:
    """The path of `name` in `folder`, refusing anything (links included) that lands outside."""
    path = folder / safe_name(name)
    real = path.parent.resolve()
    if real != folder.resolve() and folder.resolve() not in real.parents:
        raise JobError(f"asset {name!r} would be written outside the job folder")
    if path.is_symlink():
        raise JobError(f"asset {name!r} is a link")
    return path


BUNDLED = "bundled://"


def copy_bundled(name: str, url: str, folder: Path) -> int:
    """A sample shipped in the image (VGEN_BUNDLED_DIR), for smoke tests without network."""
    root = os.environ.get("VGEN_BUNDLED_DIR")
    if not root:
        raise JobError(f"asset {name!r}: bundled:// needs VGEN_BUNDLED_DIR (set in the docker image)")
    src = inside(Path(root), url[len(BUNDLED) :])
    if not src.is_file():
        raise JobError(f"asset {name!r}: no bundled sample {url[len(BUNDLED) :]!r}")
    dest = inside(folder, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest.stat().st_size


async def fetch_all(assets: dict[str, str], folder: Path, limits: Limits) -> int:
    """Download every asset into `folder`; return the bytes written."""
    import aiohttp

    folder.mkdir(parents=True, exist_ok=True)
    bundled = {n: u for n, u in assets.items() if u.startswith(BUNDLED)}
    assets = {n: u for n, u in assets.items() if n not in bundled}
    copied = sum(copy_bundled(n, u, folder) for n, u in bundled.items())
    for name, url in assets.items():
        inside(folder, name)
        check_url(url, limits)
    total = [0]
    lock = asyncio.Lock()
    sem = asyncio.Semaphore(limits.concurrency)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)

    async def one(session: aiohttp.ClientSession, name: str, url: str) -> None:
        dest = inside(folder, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = partial_path(dest)
        async with sem, session.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise JobError(f"asset {name!r}: HTTP {resp.status} from {urlsplit(url).hostname}")
            if resp.content_length and resp.content_length > limits.max_asset_bytes:
                raise JobError(
                    f"asset {name!r} is {resp.content_length} bytes, over VGEN_MAX_ASSET_BYTES "
                    f"({limits.max_asset_bytes})"
                )
            size = 0
            with part.open("wb") as f:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    async with lock:
                        total[0] += len(chunk)
                        over_job = total[0] > limits.max_job_bytes
                    if size > limits.max_asset_bytes:
                        raise JobError(f"asset {name!r} is over VGEN_MAX_ASSET_BYTES ({limits.max_asset_bytes})")
                    if over_job:
                        raise JobError(f"the job's assets are over VGEN_MAX_JOB_BYTES ({limits.max_job_bytes})")
                    f.write(chunk)
        part.replace(dest)

    async with aiohttp.ClientSession(timeout=timeout, connector=guarded_connector(limits)) as session:
        tasks = [asyncio.create_task(one(session, n, u)) for n, u in assets.items()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            discard_partials(folder, recursive=True)
            raise
    return total[0] + copied


async def fetch_text(url: str, limits: Limits, max_bytes: int = 4 * 1024**2) -> str:
    """A small text document (the spec_url), under the same rules as assets."""
    import aiohttp

    check_url(url, limits)
    async with (
        aiohttp.ClientSession(connector=guarded_connector(limits)) as session,
        session.get(url, allow_redirects=False) as resp,
    ):
        if resp.status != 200:
            raise JobError(f"spec_url: HTTP {resp.status}")
        if resp.content_length and resp.content_length > max_bytes:
            raise JobError(f"spec_url: the spec is {resp.content_length} bytes, over {max_bytes // 1024**2} MiB")
        data = bytearray()
        async for chunk in resp.content.iter_chunked(CHUNK):  # to the end: one read() returns what has arrived
            data += chunk
            if len(data) > max_bytes:
                raise JobError(f"spec_url: the spec is over {max_bytes // 1024**2} MiB", "send a smaller spec")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JobError(f"spec_url: not UTF-8 text (byte {exc.start})", "save the spec as UTF-8") from None
