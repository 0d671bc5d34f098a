"""The command line: `workers COMMAND` or `python -m workers COMMAND` (see `app`)."""

from workers.cli.app import app, main

__all__ = ["app", "main"]
