"""What can be read: the record kinds of `query` and of the reads service (a module of its own
so the command line's argument types import nothing heavy)."""

from __future__ import annotations

from enum import StrEnum


class RecordKind(StrEnum):
    """What `query` reads."""

    CONVERSATION = "conversation"
    MESSAGES = "messages"
    AUDIT = "audit"
    FILES = "files"
    FILE = "file"
    AGENTS = "agents"
    AGENT = "agent"
    SETTINGS = "settings"
