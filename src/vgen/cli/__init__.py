"""The `vgen` command line: parse, call the library, print. One module per group of commands
(`render`: render, clean, dry-run, validate; `tools`: frame, compare, schema, init, doctor;
`remote`: serve-runpod, submit, status, cancel), all through `app.command`'s error wrapper."""

from vgen.cli import remote, render, tools  # noqa: F401 - registers the commands
from vgen.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
