"""Every stream and subject name, and which model each subject carries.

A dead letter of subject S is published on `dlq.S`. Audit subjects are `audit.<snake_case>`;
only producer audit types have one here: the system's own (DataPurged, FileRestored) are never
accepted from a producer, so `model_for_subject` returns None for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.audit_types import AUDIT_TYPE_BY_SNAKE, PRODUCER_AUDIT_TYPES, AuditEventType
from events.envelope import Event
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
TENANT_PREFIX = "tenant"
"""Multi-tenant mode: an event of tenant T arrives on `tenant.T.<subject>`, the token put there
by the NATS server (the tenant's account import), never by the producer."""


def audit_subject(t: AuditEventType) -> str:
    """`AuditEventType.USER_LOGIN` -> `audit.user_login`."""
    return f"{AUDIT_PREFIX}.{t.snake}"


def dlq_subject(subject: str) -> str:
    """`message.sent` -> `dlq.message.sent`, where its dead letters go."""
    return f"{DLQ_SUBJECT_PREFIX}.{subject}"


@dataclass(frozen=True)
class Family:
    """Subjects that one durable consumer takes from stream EVENTS (durable `workers-<name>`).

    This table is the one place a subject is added: the stream's subjects, the consumers, the
    models that validate bodies and the AsyncAPI document are all read from it, and a test
    fails while a subject has no handler.
    """

    name: str
    consumer_filter: str  # one subject, or `prefix.*`
    models: dict[str, type[Event]]  # each subject a producer may publish on -> its body's model
    stream_filter: str | None = None  # stream EVENTS takes this instead of each subject

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def stream_subjects(self) -> tuple[str, ...]:
        return (self.stream_filter,) if self.stream_filter else self.subjects


FAMILIES: tuple[Family, ...] = (
    Family("messages", MESSAGE_SENT, {MESSAGE_SENT: MessageSent}),
    Family("files", FILE_CHANGED, {FILE_CHANGED: FileChanged}),
    Family(
        "agents",
        "agent.*",
        {AGENT_EXECUTED: AgentExecuted, AGENT_CONFIGURED: AgentConfigured},
    ),
    Family(
        "conversations",
        "conversation.*",
        {CONVERSATION_CREATED: ConversationCreated, CONVERSATION_UPDATED: ConversationUpdated},
    ),
    Family("settings", SETTING_CHANGED, {SETTING_CHANGED: SettingChanged}),
    Family(
        "audit",
        f"{AUDIT_PREFIX}.*",
        {audit_subject(t): AuditReported for t in PRODUCER_AUDIT_TYPES},
        # every audit.* subject reaches the workers: one no producer may use is dead-lettered
        stream_filter=f"{AUDIT_PREFIX}.*",
    ),
)

FAMILY_BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}

EVENT_SUBJECTS: tuple[str, ...] = tuple(s for f in FAMILIES for s in f.stream_subjects)
"""The subject filters of stream EVENTS."""

DLQ_SUBJECTS: tuple[str, ...] = (f"{DLQ_SUBJECT_PREFIX}.>",)
"""The subject filters of stream DLQ."""

SUBJECT_MODELS: dict[str, type[Event]] = {s: m for f in FAMILIES for s, m in f.models.items()}
"""Every concrete subject a producer may publish on, and the model of its body."""


def tenant_subjects(filters: tuple[str, ...]) -> tuple[str, ...]:
    """`file.changed` -> `tenant.*.file.changed`: the multi-tenant mode's filters."""
    return tuple(f"{TENANT_PREFIX}.*.{f}" for f in filters)


def tenant_subject(tenant: str, subject: str) -> str:
    """("T", "file.changed") -> `tenant.T.file.changed`, where tenant T's events arrive."""
    return f"{TENANT_PREFIX}.{tenant}.{subject}"


def split_tenant(subject: str) -> tuple[str | None, str]:
    """`tenant.T.file.changed` -> ("T", "file.changed"); a plain subject -> (None, subject)."""
    if not subject.startswith(TENANT_PREFIX + "."):
        return None, subject
    tenant, _, rest = subject[len(TENANT_PREFIX) + 1 :].partition(".")
    return tenant, rest


def model_for_subject(subject: str) -> type[Event] | None:
    """The model of `subject`'s body, or None when no producer may publish on it."""
    return SUBJECT_MODELS.get(subject)


def audit_type_for_subject(subject: str) -> AuditEventType | None:
    """`audit.user_login` -> UserLogin; None unless a producer may publish on `subject`."""
    prefix, _, snake = subject.partition(".")
    if prefix != AUDIT_PREFIX or subject not in SUBJECT_MODELS:
        return None
    return AUDIT_TYPE_BY_SNAKE[snake]
