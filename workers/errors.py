"""The application's error tree: named for what happened, carrying the offending value."""

from __future__ import annotations

from pydantic import ValidationError


class WorkersError(Exception):
    """Base of every error the workers raise on purpose."""


class NotFound(WorkersError):
    def __init__(self, what: str, ident: object) -> None:
        self.what, self.ident = what, ident
        super().__init__(f"{what} {ident} not found")


class InvalidContinuation(WorkersError):
    def __init__(self, token: str) -> None:
        super().__init__(f"continuation {token[:40]!r} does not belong to this query")


class PathOccupied(WorkersError):
    """A restore onto a path where another file is live: restoring would hide it."""

    def __init__(self, path: str, occupant: object) -> None:
        self.path, self.occupant = path, occupant
        super().__init__(
            f"cannot restore to {path!r}: file {occupant} is live there; "
            "restore to another path with --to PATH"
        )


def summarize(e: ValidationError) -> str:
    """A validation error in one line: the first five problems, each `field: message`."""
    parts = []
    for err in e.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = e.error_count() - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
