"""message.sent: the message, its conversation's counters, and a MessageSent audit record."""

from __future__ import annotations

from events import AuditEventType, MessageSent
from workers.handlers.conversation_events import new_conversation
from workers.handlers.unit import Unit
from workers.records import Message


def on_message_sent(work: list[tuple[Unit, MessageSent]]) -> None:
    """A run of message.sent events of one batch, in order: one read for every message's
    existence check instead of one per event (the messages durable's batches are all this)."""
    if not work:
        return
    first = work[0][0]
    tr, repos, memo = first.tr, first.repos, first.memo
    for _, event in work:
        conversation = (event.tenant_id, event.conversation_id)
        if conversation not in memo.conversations:
            # A message may arrive before its conversation.created: start the conversation,
            # and let the later event fill in its details.
            repos.conversations.create(tr, new_conversation(event))
            memo.conversations.add(conversation)
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
    created = repos.messages.create_many(tr, messages)
    for (unit, event), new in zip(work, created, strict=True):
        unit.audit(
            event,
            AuditEventType.MESSAGE_SENT,
            conversation_id=str(event.conversation_id),
            message_id=str(event.message_id),
            role=event.role.value,
            token_count=event.token_count,
            content_bytes=len(event.content.encode()),
            duplicate_message=None if new else True,
        )
