"""MP4 boxes read directly: a finished file's frame count in a millisecond, without an FFmpeg run.

vgen checks every segment it writes, every kept segment on resume and the joined output for
their exact frame count. A stream copy to FFmpeg's null muxer takes ~0.15 s a file; the count
is also written in the file, as the sample count of the video track (`moov/trak/mdia/minf/
stbl/stsz`, ISO 14496-12). Reading it also shows the file was finished: FFmpeg writes `moov`
last (or moves it first with +faststart), and here the top-level boxes must tile the file
exactly, so a truncated file (full disk, killed writer) is refused rather than miscounted.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Callable, Iterator

_PATH_TO_SAMPLES = (b"minf", b"stbl", b"stsz")


class Damaged(ValueError):
    """The file is cut short or was never finished: no count can be trusted, by any reader."""


class Unknown(ValueError):
    """A layout this reader does not count (fragmented, no `stsz`, no video track): ask FFmpeg."""


def boxes(read: Callable[[int, int], bytes], start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in [start, end), reading headers with read(pos, n)."""
    pos = start
    while pos < end:
        head = read(pos, 16)
        if len(head) < 8 or end - pos < 8:
            raise Damaged(f"a box header is cut off at byte {pos}")
        size, kind = struct.unpack_from(">I4s", head)
        skip = 8
        if size == 1:  # 64-bit size (files over 4 GiB)
            if len(head) < 16:
                raise Damaged(f"a box header is cut off at byte {pos}")
            size, skip = struct.unpack_from(">Q", head, 8)[0], 16
        elif size == 0:  # runs to the end
            size = end - pos
        if size < skip or pos + size > end:
            raise Damaged(f"box {kind.decode('latin-1')!r} at byte {pos} runs past the end ({pos + size} > {end})")
        yield kind, pos + skip, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    for k, a, b in boxes(lambda p, n: data[p:p + n], start, end):
        if k == kind:
            return a, b
    raise Unknown(f"no {kind.decode('latin-1')!r} box")


def video_frames(path: Path) -> int:
    """Frames of the first video track of a complete MP4: the sample count of its `stsz` box."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size

        def read(pos: int, n: int) -> bytes:
            f.seek(pos)
            return f.read(n)

        moov = None
        for kind, a, b in boxes(read, 0, size):  # top level: headers only, mdat is never read
            if kind == b"moov":
                moov = read(a, b - a)
    if moov is None:
        raise Damaged("no 'moov' box: the file was never finished")
    data = moov
    for kind, a, b in boxes(lambda p, n: data[p:p + n], 0, len(data)):
        if kind != b"trak":
            continue
        a, b = _child(data, a, b, b"mdia")
        h, _ = _child(data, a, b, b"hdlr")  # version/flags, pre_defined, then the handler type
        if data[h + 8:h + 12] != b"vide":
            continue
        for name in _PATH_TO_SAMPLES:
            a, b = _child(data, a, b, name)
        if b - a < 12:
            raise Damaged("an 'stsz' box is cut off")
        count = struct.unpack_from(">I", data, a + 8)[0]  # after version/flags and sample_size
        if count == 0:  # samples in movie fragments, not in moov
            raise Unknown("no samples in 'moov' (a fragmented MP4?)")
        return int(count)
    raise Unknown("no video track")
