"""The AsyncAPI document (`make docs`): the same subscribers, annotated with the event models,
and the reads service's endpoints with their request models (their answers in the
descriptions; `$SRV.INFO.reads` serves both schemas at run time)."""

from __future__ import annotations

import json
from typing import Any

from faststream import AsyncAPI, FastStream
from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from workers.config import Config
from workers.nats.broker import make_broker
from workers.nats.subscribers import subscribe_all
from workers.reads.api import ENDPOINTS, Endpoint
from workers.reads.service import endpoint_subject, schemas


async def _never(msgs: list[Msg]) -> None:
    raise RuntimeError("the documentation app does not consume")


def document_reads(broker: NatsBroker) -> None:
    for endpoint in ENDPOINTS:
        _document(broker, endpoint)


def _document(broker: NatsBroker, endpoint: Endpoint) -> None:
    answer = json.loads(schemas(endpoint)["response_schema"])

    async def handler(request: Any) -> None:
        raise RuntimeError("the documentation app does not answer")

    handler.__annotations__["request"] = endpoint.request
    broker.subscriber(
        endpoint_subject(endpoint, multi_tenant=False),
        title=f"reads.{endpoint.name}",
        description=f"{endpoint.description} Request-reply (the reads service). Answer: "
        f"{json.dumps(answer)}",
    )(handler)


broker = make_broker(Config())
subscribe_all(broker, _never, Config(), document=True)
document_reads(broker)
app = FastStream(
    broker,
    specification=AsyncAPI(
        title="IDE event workers",
        version="0.1.0",
        description="Events the IDE, the file-monitor and the agent runtime publish to "
        "JetStream, and the reads service's request-reply endpoints.",
    ),
)
