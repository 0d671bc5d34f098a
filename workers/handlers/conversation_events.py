"""conversation.created / conversation.updated: the Conversation record and its audit.

The record is the fold of its events in (occurred_at, event_id) order, whatever order they
arrive in. Each field an event carries is last writer wins, by the version kept per field in
`Conversation.versions`. `created_at`, `user_id` and `workspace_session_id` come from the
earliest conversation.created when there is one, else from the earliest event seen (a
message.sent may start the conversation): an "origin" ranks a created before any other event,
then by version. `updated_at` is the newest conversation event's time (never before
`created_at`); messages do not move it, so that a message never rewrites its conversation
once it exists, and two workers' messages to one conversation never conflict on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from events import (
    AuditEventType,
    ConversationCreated,
    ConversationStatus,
    ConversationUpdated,
)
from workers.handlers.unit import Unit
from workers.records import Conversation, legacy_version, version_of, version_time

_FIELDS = (
    "title",
    "description",
    "status",
    "ai_provider",
    "tags",
    "related_conversations",
    "summary",
)
CREATED, OTHER = "0", "1"  # origin ranks: a conversation.created's details come first


class Origin(NamedTuple):
    """An event as a candidate for the conversation's creation time, user and session."""

    rank: str  # CREATED or OTHER
    version: str
    at: datetime
    user_id: UUID | None
    workspace_session_id: UUID | None

    @property
    def key(self) -> str:
        return self.rank + self.version


def fold(
    current: Conversation | None,
    tenant_id: UUID,
    conversation_id: UUID,
    origins: Iterable[Origin],
    version: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Conversation:
    """`current` with some events folded in: `origins` (every event is one), and the fields of
    one conversation event at `version`. Returns `current` itself when nothing changes."""
    versions = dict(current.versions) if current is not None else {}
    if current is not None and not versions:
        versions = _legacy_versions(current)
    update: dict[str, Any] = {}
    for o in origins:
        if o.key < versions.get("origin", "~"):
            versions["origin"], update["created_at"] = o.key, o.at
        for attr in ("user_id", "workspace_session_id"):
            value = getattr(o, attr)
            if value is not None and o.key < versions.get(attr, "~"):
                versions[attr], update[attr] = o.key, value
    if version is not None:
        for f, value in (fields or {}).items():
            if versions.get(f, "") < version:
                versions[f], update[f] = version, value
        if versions.get("updated_at", "") < version:
            versions["updated_at"] = version
    if current is not None and versions == current.versions and not update:
        return current
    created_at = update.get("created_at", current.created_at if current else None)
    assert created_at is not None  # a new conversation always has an origin
    newest = versions.get("updated_at")
    update["updated_at"] = max(created_at, version_time(newest)) if newest else created_at
    update["versions"] = versions
    if current is None:
        return Conversation(tenant_id=tenant_id, id=conversation_id, **update)
    return current.model_copy(update=update)


def _legacy_versions(c: Conversation) -> dict[str, str]:
    """Versions for a record stored before they existed: its values as of its own times."""
    born, last = legacy_version(c.created_at), legacy_version(c.updated_at)
    versions = {f: last for f in _FIELDS} | {"updated_at": last, "origin": CREATED + born}
    for attr in ("user_id", "workspace_session_id"):
        if getattr(c, attr) is not None:
            versions[attr] = CREATED + born
    return versions


def on_conversation_created(unit: Unit, event: ConversationCreated) -> None:
    _upsert(unit, event, CREATED)
    unit.audit(event, AuditEventType.CONVERSATION_CREATED, conversation_id=event.conversation_id)


def on_conversation_updated(unit: Unit, event: ConversationUpdated) -> None:
    changed = _upsert(unit, event, OTHER)
    kind = (
        AuditEventType.CONVERSATION_DELETED
        if event.status == ConversationStatus.DELETED
        else AuditEventType.CONVERSATION_UPDATED
    )
    unit.audit(event, kind, conversation_id=event.conversation_id, changed=sorted(changed))


def _upsert(unit: Unit, event: ConversationCreated | ConversationUpdated, rank: str) -> set[str]:
    """Fold the event into its conversation (creating it if unknown); the fields it carries."""
    changes = {f: getattr(event, f) for f in _FIELDS if f in event.model_fields_set}
    changes = {k: v for k, v in changes.items() if v is not None or k in ("title", "summary")}
    version = version_of(event.occurred_at, event.event_id)
    origin = Origin(rank, version, event.occurred_at, event.user_id, event.workspace_session_id)
    t, c = event.tenant_id, event.conversation_id
    unit.repos.conversations.merge_many(
        unit.tr, [(t, c, lambda cur: fold(cur, t, c, [origin], version, changes))]
    )
    return set(changes)
