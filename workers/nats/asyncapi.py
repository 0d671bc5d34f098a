"""The AsyncAPI document (`make docs`): the same subscribers, annotated with the event models."""

from __future__ import annotations

from faststream import AsyncAPI, FastStream
from nats.aio.msg import Msg

from workers.config import Config
from workers.nats.broker import make_broker
from workers.nats.subscribers import subscribe_all


async def _never(msgs: list[Msg]) -> None:
    raise RuntimeError("the documentation app does not consume")


broker = make_broker(Config())
subscribe_all(broker, _never, Config(), document=True)
app = FastStream(
    broker,
    specification=AsyncAPI(
        title="IDE event workers",
        version="0.1.0",
        description="Events the IDE, the file-monitor and the agent runtime publish to JetStream.",
    ),
)
