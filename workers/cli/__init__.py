"""The command line: `python -m workers COMMAND` (see `parser`)."""

from workers.cli.parser import main, parser

__all__ = ["main", "parser"]
