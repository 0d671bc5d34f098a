"""Every stream and subject name, and which model each subject carries.

A dead letter of subject S is published on `dlq.S`. Audit subjects are `audit.<snake_case>`;
only producer audit types have one here: the system's own (DataPurged, FileRestored) are never
accepted from a producer, so `model_for_subject` returns None for them.
"""

from __future__ import annotations

from events.audit_types import AUDIT_TYPE_BY_SNAKE, PRODUCER_AUDIT_TYPES, AuditEventType
from events.base import Event
from events.models import (
    AgentConfigured,
    AgentExecuted,
    AuditReported,
    ConversationCreated,
    ConversationUpdated,
    FileChanged,
    MessageSent,
    SettingChanged,
)

STREAM_EVENTS = "EVENTS"
STREAM_DLQ = "DLQ"
DLQ_SUBJECT_PREFIX = "dlq"

MESSAGE_SENT = "message.sent"
FILE_CHANGED = "file.changed"
AGENT_EXECUTED = "agent.executed"
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
AGENT_CONFIGURED = "agent.configured"
SETTING_CHANGED = "setting.changed"
AUDIT_PREFIX = "audit"


def audit_subject(t: AuditEventType) -> str:
    """`AuditEventType.USER_LOGIN` -> `audit.user_login`."""
    return f"{AUDIT_PREFIX}.{t.snake}"


def dlq_subject(subject: str) -> str:
    """`message.sent` -> `dlq.message.sent`, where its dead letters go."""
    return f"{DLQ_SUBJECT_PREFIX}.{subject}"


EVENT_SUBJECTS: tuple[str, ...] = (
    MESSAGE_SENT,
    FILE_CHANGED,
    AGENT_EXECUTED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    AGENT_CONFIGURED,
    SETTING_CHANGED,
    f"{AUDIT_PREFIX}.*",
)
"""The subject filters of stream EVENTS."""

DLQ_SUBJECTS: tuple[str, ...] = (f"{DLQ_SUBJECT_PREFIX}.>",)
"""The subject filters of stream DLQ."""

SUBJECT_MODELS: dict[str, type[Event]] = {
    MESSAGE_SENT: MessageSent,
    FILE_CHANGED: FileChanged,
    AGENT_EXECUTED: AgentExecuted,
    CONVERSATION_CREATED: ConversationCreated,
    CONVERSATION_UPDATED: ConversationUpdated,
    AGENT_CONFIGURED: AgentConfigured,
    SETTING_CHANGED: SettingChanged,
    **{audit_subject(t): AuditReported for t in PRODUCER_AUDIT_TYPES},
}
"""Every concrete subject a producer may publish on, and the model of its body."""


def model_for_subject(subject: str) -> type[Event] | None:
    """The model of `subject`'s body, or None when no producer may publish on it."""
    return SUBJECT_MODELS.get(subject)


def audit_type_for_subject(subject: str) -> AuditEventType | None:
    """`audit.user_login` -> UserLogin; None unless a producer may publish on `subject`."""
    prefix, _, snake = subject.partition(".")
    if prefix != AUDIT_PREFIX or subject not in SUBJECT_MODELS:
        return None
    return AUDIT_TYPE_BY_SNAKE[snake]
