"""The envelope every event carries."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress

from events.fields import Rfc3339


class Event(BaseModel):
    """The envelope of every event; never published on its own, only as one of its subclasses."""

    # Spelled out, not shared, so that the pydantic mypy plugin sees `frozen`. `extra="ignore"`:
    # a producer may add optional fields without its events being dead-lettered.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    event_id: UUID = Field(description="Unique per event: the dedupe key (and `Nats-Msg-Id`).")
    tenant_id: UUID
    occurred_at: Rfc3339 = Field(description="RFC 3339 with an offset, e.g. `...T09:30:00Z`.")
    user_id: UUID | None = None
    workspace_session_id: UUID | None = None
    source: str = Field(min_length=1, max_length=64, description='e.g. "ide", "file-monitor".')
    ip_address: IPvAnyAddress | None = None
    user_agent: str | None = Field(default=None, max_length=1024)
