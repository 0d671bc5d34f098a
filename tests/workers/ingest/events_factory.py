"""Event bodies as producers send them (plain dicts -> JSON bytes)."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def envelope(tenant: uuid.UUID, at: datetime = T0, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": str(tenant),
        "occurred_at": iso(at),
        "user_id": str(extra.pop("user", uuid.UUID(int=1))),
        "source": extra.pop("source", "ide"),
        **extra,
    }


def message_sent(
    tenant: uuid.UUID,
    conversation: uuid.UUID,
    tokens: int = 10,
    content: str = "hello",
    at: datetime = T0,
    **extra: Any,
) -> dict[str, Any]:
    return envelope(
        tenant,
        at,
        conversation_id=str(conversation),
        message_id=str(uuid.uuid4()),
        role="user",
        content=content,
        token_count=tokens,
        **extra,
    )


def file_changed(
    tenant: uuid.UUID,
    session: uuid.UUID,
    change: str,
    path: str,
    content: bytes = b"",
    at: datetime = T0,
    **extra: Any,
) -> dict[str, Any]:
    body = envelope(
        tenant,
        at,
        source="file-monitor",
        workspace_session_id=str(session),
        change=change,
        file_path=path,
        **extra,
    )
    if change in ("created", "modified"):
        body |= {"file_size": len(content), "checksum": hashlib.sha256(content).hexdigest()}
    return body


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def example_story(tenant: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """`events.examples` for `tenant`, fresh event ids: (subject, body) in the story's order
    (a login, an agent, a conversation and its message, a run, a file, a retitle, a setting)."""
    from events.examples import EXAMPLES

    return [
        (subject, copy.deepcopy(body) | {"tenant_id": str(tenant), "event_id": str(uuid.uuid4())})
        for subject, body in EXAMPLES.items()
    ]
