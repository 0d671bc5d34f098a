"""`publish`: send JSON events to JetStream as a producer would, and the `--demo` burst."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TextIO

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NoStreamResponseError

from events import subjects as s
from events.audit_types import AuditEventType


@dataclass
class PublishReport:
    """What JetStream answered: an event counts as stored only once acknowledged."""

    sent: int = 0
    stored: int = 0
    duplicates: int = 0  # dropped by JetStream's Nats-Msg-Id window: stored before
    failures: dict[str, int] = field(default_factory=dict)  # reason -> events

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def settle(self, subject: str, ack: asyncio.Future[PubAck]) -> None:
        """Count one acknowledgement, duplicate or refusal (a done callback)."""
        if ack.cancelled():
            reason = "no acknowledgement from JetStream in time"
        elif isinstance(error := ack.exception(), NoStreamResponseError):
            reason = f"no stream takes subject {subject!r}"
        elif error is not None:
            reason = f"refused on {subject!r}: {error}"
        elif ack.result().duplicate:
            self.duplicates += 1
            return
        else:
            self.stored += 1
            return
        self.failures[reason] = self.failures.get(reason, 0) + 1


def read_events(lines: TextIO, subject: str | None) -> Iterator[tuple[str, bytes, str | None]]:
    """(subject, body, event_id) per non-blank line; a line that is not JSON is sent as is.

    Sending a broken line on purpose is how a producer's bug reaches the dead-letter stream.
    """
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError:
            if subject is None:
                raise ValueError(
                    f"line {number}: not JSON, and no --subject to send it on"
                ) from None
            yield subject, line.encode(), None
            continue
        if not isinstance(body, dict):
            if subject is None:
                raise ValueError(f"line {number}: not a JSON object, and no --subject given")
            yield subject, line.encode(), None
            continue
        target = body.pop("subject", None) or subject
        if not target:
            raise ValueError(f"line {number}: no `subject` field and no --subject given")
        event_id = body.get("event_id")
        yield str(target), json.dumps(body).encode(), str(event_id) if event_id else None


def on_tenant_subjects(
    events: Iterable[tuple[str, bytes, str | None]],
) -> Iterator[tuple[str, bytes, str | None]]:
    """The events on `tenant.<tenant_id>.<subject>`: how the workers' own user publishes in the
    multi-tenant mode (a tenant's producers publish the plain subject; the server maps it)."""
    for number, (subject, body, event_id) in enumerate(events, 1):
        try:
            tenant = json.loads(body).get("tenant_id")
            uuid.UUID(str(tenant))
        except (ValueError, AttributeError):
            raise ValueError(
                f"event {number} has no tenant_id (a UUID): in the multi-tenant mode the "
                "workers' user publishes on tenant.<tenant_id>.<subject>; publish it with the "
                "tenant's credentials (`workers tenants creds`) instead"
            ) from None
        yield s.tenant_subject(str(tenant), subject), body, event_id


async def publish_all(
    nc: Client,
    events: Iterable[tuple[str, bytes, str | None]],
    window: int = 2000,
    ack_timeout_s: float = 10.0,
) -> PublishReport:
    """Publish with `Nats-Msg-Id: <event_id>` (JetStream drops duplicates at the door) and
    count every acknowledgement: a subject no stream takes is a failure, not a success."""
    js: JetStreamContext = nc.jetstream(publish_async_max_pending=window)
    report = PublishReport()
    acks: list[asyncio.Future[PubAck]] = []
    for subject, body, event_id in events:
        headers = {"Nats-Msg-Id": event_id} if event_id else None
        ack = await js.publish_async(subject, body, headers=headers)
        ack.add_done_callback(partial(report.settle, subject))
        acks.append(ack)
        report.sent += 1
    waiting = [a for a in acks if not a.done()]
    if waiting:
        _, late = await asyncio.wait(waiting, timeout=ack_timeout_s)
        for ack in late:
            ack.cancel()
        await asyncio.sleep(0)  # let the cancelled futures' callbacks count them
    return report


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def demo_events(
    seed: int | None = None, conversations: int = 3, messages: int = 8
) -> list[dict[str, Any]]:
    """A realistic burst: one tenant, user and session; conversations with messages; file
    changes with real SHA-256 checksums; agent runs; a setting; logins. Each has `subject`."""
    rnd = random.Random(seed)
    tenant, user, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = datetime.now(UTC) - timedelta(minutes=30)
    clock = iter(start + timedelta(seconds=i * 7) for i in range(100_000))

    def base() -> dict[str, Any]:
        """The envelope, fresh for each event."""
        return {
            "event_id": str(uuid.uuid4()),
            "tenant_id": str(tenant),
            "user_id": str(user),
            "workspace_session_id": str(session),
            "occurred_at": _iso(next(clock)),
            "source": "ide",
            "ip_address": "127.0.0.1",
            "user_agent": "demo-ide/1.0",
        }

    out: list[dict[str, Any]] = [
        {
            **base(),
            "subject": s.audit_subject(AuditEventType.USER_LOGIN),
            "event_data": {"method": "sso"},
        },
        {**base(), "subject": s.audit_subject(AuditEventType.SESSION_CREATED), "event_data": {}},
        {
            **base(),
            "subject": s.SETTING_CHANGED,
            "category": "theme",
            "key": "color_scheme",
            "value": "dark",
        },
    ]
    topics = ["refactor the auth module", "write tests for the parser", "explain this stack trace"]
    for c in range(conversations):
        conv = str(uuid.uuid4())
        out.append(
            {
                **base(),
                "subject": s.CONVERSATION_CREATED,
                "conversation_id": conv,
                "title": topics[c % len(topics)].capitalize(),
                "ai_provider": "openrouter",
                "tags": ["demo", f"topic-{c}"],
            }
        )
        for m in range(messages):
            role = "user" if m % 2 == 0 else "assistant"
            text = f"({role}) About how to {topics[c % len(topics)]}: step {m}. " * rnd.randint(
                1, 20
            )
            out.append(
                {
                    **base(),
                    "subject": s.MESSAGE_SENT,
                    "conversation_id": conv,
                    "message_id": str(uuid.uuid4()),
                    "role": role,
                    "content": text,
                    "model": "qwen/qwq-32b",
                    "token_count": len(text) // 4,
                }
            )
    for i, path in enumerate(["src/auth.py", "src/parser.py", "tests/test_parser.py", "README.md"]):
        content = f"# {path}\n" + "x = 1\n" * rnd.randint(1, 200)
        digest = hashlib.sha256(content.encode()).hexdigest()
        fm = {**base(), "source": "file-monitor", "subject": s.FILE_CHANGED, "file_path": path}
        out.append(
            {
                **fm,
                "change": "created",
                "file_size": len(content),
                "mime_type": "text/x-python",
                "checksum": digest,
            }
        )
        if i == 1:
            edited = content + "y = 2\n"
            out.append(
                {
                    **base(),
                    "source": "file-monitor",
                    "subject": s.FILE_CHANGED,
                    "file_path": path,
                    "change": "modified",
                    "file_size": len(edited),
                    "checksum": hashlib.sha256(edited.encode()).hexdigest(),
                }
            )
        if i == 3:
            out.append(
                {
                    **base(),
                    "source": "file-monitor",
                    "subject": s.FILE_CHANGED,
                    "file_path": path,
                    "change": "deleted",
                }
            )
    agent = str(uuid.uuid4())
    out.append(
        {
            **base(),
            "source": "agent-runtime",
            "subject": s.AGENT_CONFIGURED,
            "agent_id": agent,
            "name": "code-reviewer",
            "agent_type": "specialist",
            "config": {
                "mcp_tools": ["filesystem", "git"],
                "a2a_capabilities": ["review"],
                "model_preference": "qwen/qwq-32b",
            },
        }
    )
    for run in range(3):
        ok = run != 1
        out.append(
            {
                **base(),
                "source": "agent-runtime",
                "subject": s.AGENT_EXECUTED,
                "agent_id": agent,
                "status": "success" if ok else "error",
                "duration_ms": rnd.randint(200, 9000),
                "model": "qwen/qwq-32b",
                "token_count": rnd.randint(100, 3000),
                "error": None if ok else "tool call timed out",
                "memory": {
                    "facts": {f"fact_{run}": "the repo uses pytest"},
                    "decisions": [f"run {run}: suggested extracting a helper"],
                    "context": {"last_file": "src/auth.py"},
                },
            }
        )
    out.append({**base(), "subject": s.audit_subject(AuditEventType.USER_LOGOUT), "event_data": {}})
    return out
