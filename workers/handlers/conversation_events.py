"""conversation.created / conversation.updated: the Conversation record and its audit."""

from __future__ import annotations

from typing import Any

from events import (
    AuditEventType,
    ConversationCreated,
    ConversationStatus,
    ConversationUpdated,
    MessageSent,
)
from workers.handlers.unit import Unit
from workers.records import Conversation

_FIELDS = (
    "title",
    "description",
    "status",
    "ai_provider",
    "tags",
    "related_conversations",
    "summary",
)


def new_conversation(
    event: ConversationCreated | ConversationUpdated | MessageSent, **details: Any
) -> Conversation:
    """The conversation an event starts: its first event's user, session and time."""
    return Conversation(
        tenant_id=event.tenant_id,
        id=event.conversation_id,
        user_id=event.user_id,
        workspace_session_id=event.workspace_session_id,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        **details,
    )


def on_conversation_created(unit: Unit, event: ConversationCreated) -> None:
    _upsert(unit, event)
    unit.audit(event, AuditEventType.CONVERSATION_CREATED, conversation_id=event.conversation_id)


def on_conversation_updated(unit: Unit, event: ConversationUpdated) -> None:
    changed = _upsert(unit, event)
    kind = (
        AuditEventType.CONVERSATION_DELETED
        if event.status == ConversationStatus.DELETED
        else AuditEventType.CONVERSATION_UPDATED
    )
    unit.audit(event, kind, conversation_id=event.conversation_id, changed=sorted(changed))


def _upsert(unit: Unit, event: ConversationCreated | ConversationUpdated) -> dict[str, Any]:
    """Apply the fields the event carries; create the conversation if it is not known yet."""
    changes = {f: getattr(event, f) for f in _FIELDS if f in event.model_fields_set}
    changes = {k: v for k, v in changes.items() if v is not None or k in ("title", "summary")}
    repos, tr = unit.repos, unit.tr
    current = repos.conversations.get_by_id(tr, event.tenant_id, event.conversation_id)
    if current is None:
        repos.conversations.create(tr, new_conversation(event, **changes))
    else:
        update: dict[str, Any] = {
            **changes,
            "updated_at": max(current.updated_at, event.occurred_at),
        }
        if current.user_id is None and event.user_id is not None:
            update["user_id"] = event.user_id
        if current.workspace_session_id is None and event.workspace_session_id is not None:
            update["workspace_session_id"] = event.workspace_session_id
        repos.conversations.update(tr, current.model_copy(update=update))
    unit.memo.conversations.add((event.tenant_id, event.conversation_id))
    return changes
