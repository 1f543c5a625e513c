"""One error type with a hint, raised where the fault is known; the CLI prints it as one line."""

from __future__ import annotations


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


class FFmpegError(VgenError):
    """FFmpeg is missing, lacks a feature, or a run failed."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", stderr_tail: str = "", command: str = "") -> None:
        super().__init__(message, hint)
        self.stderr_tail = stderr_tail
        self.command = command
