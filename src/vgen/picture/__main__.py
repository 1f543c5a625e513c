"""`python -m vgen.picture source.json`: a segment's raw frames to stdout, as `dry-run` shows them."""

from __future__ import annotations

import sys
from pathlib import Path

from vgen.picture.draw import feed
from vgen.picture.source import Source


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m vgen.picture SOURCE.json > frames.yuv", file=sys.stderr)
        return 2
    src = Source.from_json(Path(args[0]).read_text(encoding="utf-8"))
    try:
        feed(src, sys.stdout.buffer)
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
