"""The AsyncAPI document (`make docs`): the same subscribers, annotated with the event models."""

from __future__ import annotations

from typing import Any

from faststream import AsyncAPI, FastStream
from nats.aio.msg import Msg

from events import (
    AgentConfigured,
    AgentExecuted,
    AuditReported,
    ConversationCreated,
    ConversationUpdated,
    FileChanged,
    MessageSent,
    SettingChanged,
)
from workers.app import make_broker
from workers.consumer import subscribe_all
from workers.settings import Settings

PAYLOADS: dict[str, Any] = {
    "messages": MessageSent,
    "files": FileChanged,
    "agents": AgentExecuted | AgentConfigured,
    "conversations": ConversationCreated | ConversationUpdated,
    "settings": SettingChanged,
    "audit": AuditReported,
}


async def _never(msgs: list[Msg]) -> None:
    raise RuntimeError("the documentation app does not consume")


broker = make_broker(Settings())
subscribe_all(broker, _never, Settings(), PAYLOADS)
app = FastStream(
    broker,
    specification=AsyncAPI(
        title="IDE event workers",
        version="0.1.0",
        description="Events the IDE, the file-monitor and the agent runtime publish to JetStream.",
    ),
)
