"""Assets: downloaded concurrently and streamed to disk, within size caps, from allowed hosts only.

Private, loopback and link-local addresses are refused unless their host is listed in
VGEN_ALLOWED_ASSET_HOSTS, on the very addresses the download connects to (so a name that
resolves elsewhere a moment later, DNS rebinding, gains nothing); names stay inside the job
folder; nothing follows links out of it. A fonts folder holds fonts only: checked by name before
the download and by content after it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vgen.files import discard_partials, partial_path
from vgen.model.limits import FONT_SUFFIXES, FontLimits
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


async def fetch_all(
    assets: dict[str, str], folder: Path, limits: Limits, caps: Mapping[str, tuple[int, str]] | None = None
) -> int:
    """Download every asset into `folder`; return the bytes written. `caps`: a smaller size cap for
    some assets, with the variable that sets it (fonts: VGEN_MAX_FONT_BYTES)."""
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
        cap, variable = (caps or {}).get(name, (limits.max_asset_bytes, "VGEN_MAX_ASSET_BYTES"))
        if cap > limits.max_asset_bytes:
            cap, variable = limits.max_asset_bytes, "VGEN_MAX_ASSET_BYTES"
        dest = inside(folder, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = partial_path(dest)
        async with sem, session.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise JobError(f"asset {name!r}: HTTP {resp.status} from {urlsplit(url).hostname}")
            if resp.content_length and resp.content_length > cap:
                raise JobError(f"asset {name!r} is {resp.content_length} bytes, over {variable} ({cap})")
            size = 0
            with part.open("wb") as f:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    async with lock:
                        total[0] += len(chunk)
                        over_job = total[0] > limits.max_job_bytes
                    if size > cap:
                        raise JobError(f"asset {name!r} is over {variable} ({cap})")
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


# --- fonts folders -------------------------------------------------------------------------------

# The first four bytes of a font FreeType reads: TrueType (version 1.0, and Apple's 'true'),
# OpenType with CFF outlines ('OTTO'), a collection of either ('ttcf').
FONT_MAGIC = (b"\x00\x01\x00\x00", b"true", b"OTTO", b"ttcf")
_SEND_FONTS = "send only .ttf, .otf, .ttc or .otc fonts there"


def font_caps(names: Iterable[str], folder: str, where: str, limits: FontLimits) -> dict[str, tuple[int, str]]:
    """The job's assets in its fonts folder `folder` (`where`: the spec key naming it), checked
    before any download: font files by name, directly inside the folder (libass reads no
    subfolder, nor hidden files), at most VGEN_MAX_FONTS of them. Returns their size cap
    (VGEN_MAX_FONT_BYTES) for `fetch_all`."""
    caps: dict[str, tuple[int, str]] = {}
    for name in names:
        if name == folder:
            raise JobError(f"asset {name!r} is the fonts folder ({where}) itself", f"send its fonts as {folder}/NAME")
        if not name.startswith(folder + "/"):
            continue
        file = name[len(folder) + 1 :]
        if "/" in file or file.startswith("."):
            raise JobError(
                f"asset {name!r}: libass reads fonts from directly inside {folder!r} ({where}), "
                "not from its subfolders or hidden files",
                f"send it as {folder}/{file.rsplit('/', 1)[-1].lstrip('.')}",
            )
        if PurePosixPath(file).suffix.lower() not in FONT_SUFFIXES:
            raise JobError(f"asset {name!r} is in the fonts folder ({where}) but is not a font file", _SEND_FONTS)
        caps[name] = (limits.max_bytes, "VGEN_MAX_FONT_BYTES")
    if len(caps) > limits.max_fonts:
        raise JobError(
            f"{where}: the job sends {len(caps)} fonts, over VGEN_MAX_FONTS ({limits.max_fonts})",
            "send only the fonts the video uses",
        )
    return caps


def _not_a_font(path: Path, limits: FontLimits) -> str | None:
    """Why the file at `path` may not stay in a fonts folder, or None."""
    if path.is_symlink() or not path.is_file():
        return "is not a plain file"
    if path.suffix.lower() not in FONT_SUFFIXES:
        return "is not a font file"
    size = path.stat().st_size
    if size > limits.max_bytes:
        return f"is {size} bytes, over VGEN_MAX_FONT_BYTES ({limits.max_bytes})"
    with path.open("rb") as f:
        head = f.read(4)
    if head not in FONT_MAGIC:
        return f"is not a font: it does not start as TrueType or OpenType does (it starts with {head!r})"
    return None


def check_fonts(assets: Path, folder: str, where: str, limits: FontLimits) -> int:
    """After the download: every file in the fonts folder `folder` (of the job's `assets`) a font
    by name and by content, within VGEN_MAX_FONT_BYTES, VGEN_MAX_FONTS and
    VGEN_MAX_FONTS_TOTAL_BYTES, and at least one. The folder is made when no font was sent to it
    (a resent job finds its fonts there). A file that is not a font is removed, so that the job
    sent again without it is not refused for it, and the job is refused. Returns the fonts' count."""
    path = inside(assets, folder)
    if path.exists() and not path.is_dir():
        raise JobError(f"{where}: {folder!r} is a file in the job, not a folder", f"send the fonts as {folder}/NAME")
    path.mkdir(parents=True, exist_ok=True)
    discard_partials(path)
    count = total = 0
    for file in sorted(path.iterdir()):
        if file.name.startswith("."):
            continue  # libass skips hidden files
        problem = _not_a_font(file, limits)
        if problem is not None:
            if file.is_dir() and not file.is_symlink():
                shutil.rmtree(file, ignore_errors=True)
            else:
                file.unlink(missing_ok=True)
            name = f"{folder}/{file.name}"
            raise JobError(f"asset {name!r} in the fonts folder ({where}) {problem}: refused", _SEND_FONTS)
        count += 1
        total += file.stat().st_size
    if count > limits.max_fonts:
        raise JobError(f"{where}: {count} fonts, over VGEN_MAX_FONTS ({limits.max_fonts})", "send fewer fonts")
    if total > limits.max_total_bytes:
        raise JobError(
            f"{where}: the fonts are {total} bytes in all, over VGEN_MAX_FONTS_TOTAL_BYTES ({limits.max_total_bytes})",
            "send only the fonts the video uses",
        )
    if not count:
        raise JobError(f"{where}: the job sends no font for {folder!r}", f"send them as {folder}/NAME.ttf")
    return count
