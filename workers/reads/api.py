"""The reads service's endpoints: each one's subject, request model and what it answers.

A request is JSON validated by its endpoint's model (an unknown field is refused, not ignored:
it would answer another question). Lists answer `{"items": [...], "next": TOKEN | null}`,
each item the JSON `query --json` prints; pass `next` back as `after` for the following
page. One record answers the record itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events import AgentType, AuditEventType, SettingCategory
from workers.reads.kinds import RecordKind as K

SERVICE_NAME = "reads"
SERVICE_VERSION = "1.0.0"
SUBJECT_PREFIX = "reads"
"""Endpoint E answers on `reads.E`; in the multi-tenant mode on `reads.<tenant>.E` in the
workers' account, which a tenant's account imports as `reads.E` (the server puts the tenant
there, as for events)."""


class ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: UUID | None = Field(
        None,
        description="The tenant. Required in the single-tenant mode; in the multi-tenant mode "
        "it comes from the caller's NATS credentials and must be left out.",
    )

    def filters(self) -> dict[str, Any]:
        """The fields that are query filters (everything but the tenant and paging)."""
        return self.model_dump(exclude={"tenant", "limit", "offset", "after"}, exclude_none=True)


class PageRequest(ReadRequest):
    limit: int = Field(
        50, ge=1, description="Most records in this answer (capped by READS_MAX_PAGE)."
    )
    offset: int = Field(
        0,
        ge=0,
        le=10_000,
        description="Skip this many matches first (each one is read: use `after` for deep pages).",
    )
    after: str | None = Field(
        None, description="`next` of the previous answer: continue from there (deep pages)."
    )


class ById(ReadRequest):
    id: UUID


class ConversationsBySession(PageRequest):
    session: UUID


class ConversationsByUser(PageRequest):
    user: UUID
    session: UUID | None = None


class Messages(PageRequest):
    conversation: UUID


class TokenCount(ReadRequest):
    conversation: UUID


class AuditByUser(PageRequest):
    user: UUID
    event_type: AuditEventType | None = None
    since: AwareDatetime | None = Field(None, description="From this time on, inclusive.")
    until: AwareDatetime | None = Field(None, description="Before this time, exclusive.")


class AuditByEventType(PageRequest):
    event_type: AuditEventType
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class AuditByDate(PageRequest):
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class FilesBySession(PageRequest):
    session: UUID
    user: UUID | None = None
    include_deleted: bool = False


class FileByPath(ReadRequest):
    session: UUID
    path: str = Field(min_length=1)
    include_deleted: bool = False


class FileById(ReadRequest):
    id: UUID
    include_deleted: bool = False


class AgentsByTenant(PageRequest):
    pass


class AgentsByType(PageRequest):
    type: AgentType


class SettingGet(ReadRequest):
    user: UUID
    category: SettingCategory
    key: str = Field(min_length=1)


class SettingsOfUser(PageRequest):
    user: UUID
    category: SettingCategory | None = None


class SettingsByCategory(PageRequest):
    category: SettingCategory


class Page(BaseModel):
    """A list's answer."""

    items: list[dict[str, Any]]
    next: str | None = Field(description="Pass as `after` for the next page; null: the last.")


class TokenCountAnswer(BaseModel):
    conversation: UUID
    messages: int
    tokens: int


class RestoreStatus(BaseModel):
    """Whether `files restore` would bring a file back, and until when."""

    id: UUID
    file_path: str
    is_deleted: bool
    deleted_at: AwareDatetime | None
    purge_after: AwareDatetime | None = Field(
        description="When the files purge may take it (null: not deleted, or held)."
    )
    held: bool = Field(description="A legal hold keeps it from the purge.")
    restorable: bool
    reason: str | None = Field(description="Why it cannot be restored in place, if not.")


@dataclass(frozen=True)
class Endpoint:
    name: str  # the subject after the prefix, e.g. `messages.list`
    request: type[ReadRequest]
    kind: K | None  # what it reads through the queries; None: an answer of its own
    description: str

    @property
    def lists(self) -> bool:
        return issubclass(self.request, PageRequest)

    @property
    def answer(self) -> type[BaseModel] | None:
        """The answer's model, where it is not a record of `kind`."""
        if self.lists:
            return Page
        own: dict[str, type[BaseModel]] = {
            "messages.token_count": TokenCountAnswer,
            "files.restore_status": RestoreStatus,
        }
        return own.get(self.name)


ENDPOINTS = (
    Endpoint("conversation.get", ById, K.CONVERSATION, "A conversation by id."),
    Endpoint(
        "conversation.by_session",
        ConversationsBySession,
        K.CONVERSATION,
        "Conversations of a workspace session.",
    ),
    Endpoint(
        "conversation.by_user",
        ConversationsByUser,
        K.CONVERSATION,
        "Conversations of a user (of one session, if given).",
    ),
    Endpoint("messages.list", Messages, K.MESSAGES, "A conversation's messages, oldest first."),
    Endpoint("messages.get", ById, K.MESSAGES, "A message by id."),
    Endpoint(
        "messages.token_count", TokenCount, None, "A conversation's message and token counts."
    ),
    Endpoint("audit.get", ById, K.AUDIT, "An audit record by id."),
    Endpoint(
        "audit.by_user",
        AuditByUser,
        K.AUDIT,
        "Audit records of a user (optionally of one type, in a date range).",
    ),
    Endpoint(
        "audit.by_event_type",
        AuditByEventType,
        K.AUDIT,
        "Audit records of one type (optionally in a date range).",
    ),
    Endpoint("audit.by_date", AuditByDate, K.AUDIT, "Audit records in a date range."),
    Endpoint("files.by_session", FilesBySession, K.FILES, "Files of a workspace session."),
    Endpoint("files.by_path", FileByPath, K.FILE, "The file at a path of a session."),
    Endpoint("files.get", FileById, K.FILE, "A file by id."),
    Endpoint(
        "files.restore_status",
        ById,
        None,
        "Whether a soft-deleted file can be restored, and until when.",
    ),
    Endpoint("agents.by_tenant", AgentsByTenant, K.AGENTS, "The tenant's agents."),
    Endpoint("agents.by_type", AgentsByType, K.AGENTS, "The tenant's agents of one type."),
    Endpoint("agents.get", ById, K.AGENT, "An agent by id."),
    Endpoint("settings.get", SettingGet, K.SETTINGS, "One setting of a user."),
    Endpoint(
        "settings.get_all",
        SettingsOfUser,
        K.SETTINGS,
        "A user's settings (of one category, if given).",
    ),
    Endpoint(
        "settings.by_category",
        SettingsByCategory,
        K.SETTINGS,
        "Every user's settings of one category.",
    ),
)
