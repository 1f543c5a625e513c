"""One error type with a hint, raised where the fault is known; the CLI prints it as one line.

All of vgen's error classes live here, so a caller catches `VgenError` and is done.
"""

from __future__ import annotations

from collections.abc import Sequence


class VgenError(Exception):
    """A problem the user can fix: `message` says what is wrong, `hint` how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SpecError(VgenError):
    """The spec file is malformed or inconsistent."""


class MediaError(VgenError):
    """An asset is missing, undecodable or unsuitable."""


class AssetProblems(MediaError):
    """Several assets failed their checks at once; `problems` has one line for each."""

    def __init__(self, problems: Sequence[str]) -> None:
        more = f" (and {len(problems) - 1} more; run vgen validate)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = tuple(problems)


class FFmpegError(VgenError):
    """FFmpeg is missing, lacks a feature, or a run failed."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", stderr_tail: str = "", command: str = "") -> None:
        super().__init__(message, hint)
        self.stderr_tail = stderr_tail
        self.command = command

    @classmethod
    def from_process(
        cls, what: str, stderr: str | bytes, hint: str = "", command: Sequence[str] | str = "", fallback: str = ""
    ) -> FFmpegError:
        """`what: <FFmpeg's last line>`, with the tail of its stderr and the command attached."""
        text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
        argv = command if isinstance(command, str) else " ".join(command)
        return cls(f"{what}: {last_line(text, fallback or 'no message')}", hint, stderr_tail(text), argv)


def last_line(text: str, default: str = "no message") -> str:
    """The last non-empty line of a program's output: where FFmpeg says what went wrong."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else default


def stderr_tail(text: str, lines: int = 20) -> str:
    """The last `lines` non-empty lines, shown under an error."""
    return "\n".join([ln for ln in text.strip().splitlines() if ln.strip()][-lines:])
