"""How the CLI prints: records as one readable line each or JSON (`--json`), counts with the
right noun, and JSON of plain data (times as RFC 3339, numbers as numbers)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

from pydantic import BaseModel

COLUMNS: dict[str, tuple[str, ...]] = {
    "Conversation": ("id", "title", "status", "message_count", "token_count", "updated_at"),
    "Message": ("created_at", "role", "id", "token_count", "content"),
    "Audit": ("occurred_at", "event_type", "id", "user_id", "event_data"),
    "File": ("file_path", "id", "file_size", "checksum", "is_deleted", "updated_at"),
    "Agent": ("id", "name", "agent_type", "execution_count", "error_count", "last_status"),
    "Setting": ("user_id", "category", "key", "value"),
}

NOUNS = {
    "conversation": "conversation",
    "messages": "message",
    "audit": "audit record",
    "files": "file",
    "agents": "agent",
    "settings": "setting",
}


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 file`, `3 files`, `0 audit records`, `2 index entries`."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def human(record: BaseModel, width: int = 60) -> str:
    data = record.model_dump(mode="json")
    cols = COLUMNS.get(type(record).__name__, tuple(data))
    parts = []
    for col in cols:
        value = data.get(col)
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > width:
            text = text[: width - 1] + "…"
        parts.append(f"{col}={text}")
    return "  ".join(parts)


def print_json(data: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(data, indent=2, default=str) + "\n")


def print_one(record: BaseModel, as_json: bool, out: TextIO = sys.stdout) -> None:
    if as_json:
        out.write(record.model_dump_json(indent=2) + "\n")
    else:
        out.write(human(record, width=10_000) + "\n")


async def print_stream(
    records: AsyncIterator[BaseModel], as_json: bool, out: TextIO = sys.stdout
) -> int:
    """Print as records arrive (a JSON array is opened first and closed last)."""
    count = 0
    if as_json:
        out.write("[")
    async for record in records:
        if as_json:
            out.write(("\n" if count == 0 else ",\n") + record.model_dump_json())
        else:
            out.write(human(record) + "\n")
        count += 1
    if as_json:
        out.write("\n]\n" if count else "]\n")
    return count
