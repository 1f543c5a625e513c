"""Facts worth remembering between runs, in small JSON files under ~/.cache/vgen (XDG_CACHE_HOME).

Each entry is keyed by what it was computed from (a file's path, size and mtime, ...), so a
changed file is a miss, never a stale answer. A cache is a convenience: an unreadable or
read-only cache folder only means computing again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vgen.files import partial_path

KEEP = 500  # entries per file; the oldest go first


def file_key(path: Path, *more: str) -> str:
    """A key that changes when the file does: resolved path, size, mtime, and `more`."""
    st = path.stat()
    return "|".join([str(path.resolve()), str(st.st_size), str(st.st_mtime_ns), *more])


def _file(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "vgen" / f"{name}.json"


def get(name: str, key: str) -> Any | None:
    try:
        return json.loads(_file(name).read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def put(name: str, key: str, value: Any) -> None:
    cache = _file(name)
    try:
        known = json.loads(cache.read_text())
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    known.pop(key, None)
    known[key] = value
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = partial_path(cache, unique=True)
        tmp.write_text(json.dumps(dict(list(known.items())[-KEEP:])))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home must not stop a render
