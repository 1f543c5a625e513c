"""The Typer app, its two consoles, and the one error wrapper every command goes through."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from vgen import __version__
from vgen.errors import VgenError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Render narrated slideshows (images, clips, captions) to long MP4s, in checkpointed segments.",
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

SpecArg = typer.Argument(..., help="The YAML spec file.", exists=False)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """The global options of this invocation (`vgen --debug ...`), set once by `main_options`."""

    debug: bool = False


settings = Settings()


def _typer_own(exc: BaseException) -> bool:
    """typer's exits and usage errors (from click, or the copy of click newer typers carry)."""
    return isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith(("click", "typer"))


def fail(exc: BaseException) -> NoReturn:
    """One red line with the fix, and the exit code of the error; a traceback only with --debug."""
    if settings.debug:
        err.print_exception()
    if isinstance(exc, VgenError):
        hint = f" [dim]— {escape(exc.hint)}[/]" if exc.hint else ""
        err.print(f"[bold red]error:[/] {escape(exc.message)}{hint}", soft_wrap=True)
        for label, extra in (("", getattr(exc, "stderr_tail", "")), ("command: ", getattr(exc, "command", ""))):
            if extra:
                err.print(f"[dim]{label}{escape(extra)}[/]", soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(
            f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)} [dim]— check the path and "
            "its permissions[/]",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if isinstance(exc, KeyboardInterrupt):
        err.print("[bold red]interrupted:[/] finished segments are kept; run the same command to resume")
        raise typer.Exit(getattr(exc, "exit_code", 130))
    err.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} (rerun with --debug)")
    raise typer.Exit(1)


def command(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """`app.command`, with every failure of the command reported by `fail`."""

    def register(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*a: Any, **kw: Any) -> Any:
            try:
                return fn(*a, **kw)
            except (Exception, KeyboardInterrupt) as exc:  # one line, traceback with --debug
                if _typer_own(exc):
                    raise
                fail(exc)

        app.command(*args, **kwargs)(guarded)
        return fn

    return register


def compositor_option(value: str | None) -> str | None:
    if value not in (None, "auto", "ffmpeg"):
        raise VgenError(
            f"--compositor {value!r} is not a compositor", "use auto (raw frames) or ffmpeg (filter graphs)"
        )
    return value


CompositorOpt = typer.Option(None, "--compositor", help="auto or ffmpeg: overrides the spec's output.compositor.")


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and FFmpeg commands on errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    settings.debug = debug
    if version:
        out.print(f"vgen {__version__}")
        raise typer.Exit(0)
