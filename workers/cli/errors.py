"""What a command reports instead of a traceback: one line, and the exit code it means."""

from __future__ import annotations

NOT_DONE = 1  # not found, or a part of what was asked failed
USAGE = 2  # the command line or the configuration is wrong


class CommandError(Exception):
    """Printed as `error: <message>`; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = NOT_DONE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageProblem(CommandError):
    """A flag or value the command cannot honour (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)
