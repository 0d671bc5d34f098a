"""message.sent: the message, its conversation's counters, and a MessageSent audit record."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from events import AuditEventType, MessageSent
from workers.handlers.conversation_events import OTHER, Origin, fold
from workers.handlers.unit import Unit
from workers.records import Message, version_of
from workers.repositories.conversations import Fold


def on_message_sent(work: list[tuple[Unit, MessageSent]]) -> None:
    """A run of message.sent events of one batch, in order: one read for every message's
    existence check instead of one per event (the messages durable's batches are all this)."""
    if not work:
        return
    first = work[0][0]
    tr, repos = first.tr, first.repos
    # A message may arrive before its conversation.created, or before an earlier message.
    # Each conversation of the run is folded once, with the messages that may start it (the
    # earliest, and the earliest naming a user or a session): one read per conversation, a
    # write only when they start it or move its start earlier. The record is never read per
    # message, and a conversation that exists is not rewritten for its messages.
    runs: dict[tuple[UUID, UUID], list[MessageSent]] = {}
    for _, event in work:
        runs.setdefault((event.tenant_id, event.conversation_id), []).append(event)
    folds = [(t, c, _fold_messages(t, c, _origins(events))) for (t, c), events in runs.items()]
    repos.conversations.merge_many(tr, folds)
    messages = [
        Message(
            tenant_id=event.tenant_id,
            id=event.message_id,
            conversation_id=event.conversation_id,
            user_id=event.user_id,
            role=event.role,
            content=event.content,
            model=event.model,
            token_count=event.token_count or 0,
            created_at=event.occurred_at,
        )
        for _, event in work
    ]
    repos.messages.create_many(tr, messages)  # a re-sent message (an id stored already): kept
    for unit, event in work:  # audited alike, new or re-sent: the same records in any order
        unit.audit(
            event,
            AuditEventType.MESSAGE_SENT,
            conversation_id=str(event.conversation_id),
            message_id=str(event.message_id),
            role=event.role.value,
            token_count=event.token_count,
            content_bytes=len(event.content.encode()),
        )


def _order(e: MessageSent) -> tuple[datetime, int]:
    """The order of `version_of` (occurred_at, then the id's bytes), without building it."""
    return e.occurred_at, e.event_id.int


def _origins(events: list[MessageSent]) -> list[MessageSent]:
    """The messages that may start the conversation: the earliest, and the earliest naming a
    user or a session when the earliest does not (one C-level `min` in the common case)."""
    earliest = min(events, key=_order)
    found = [earliest]
    for attr in ("user_id", "workspace_session_id"):
        if getattr(earliest, attr) is None:
            naming = [e for e in events if getattr(e, attr) is not None]
            if naming:
                found.append(min(naming, key=_order))
    return found


def _fold_messages(tenant_id: UUID, conversation_id: UUID, events: Iterable[MessageSent]) -> Fold:
    origins = [
        Origin(
            OTHER,
            version_of(e.occurred_at, e.event_id),
            e.occurred_at,
            e.user_id,
            e.workspace_session_id,
        )
        for e in {id(e): e for e in events}.values()
    ]
    return lambda current: fold(current, tenant_id, conversation_id, origins)
