"""The durable consumers' backlog, polled from JetStream every few seconds into two gauges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from workers.observability.metrics import Metrics

log = logging.getLogger(__name__)

POLL_EVERY_S = 5.0


async def poll_pending(
    js: JetStreamContext,
    stream: str,
    durables: Iterable[str],
    metrics: Metrics,
    every_s: float = POLL_EVERY_S,
) -> None:
    """Until cancelled: `workers_consumer_pending` and `_ack_pending` for each durable."""
    names, failing = list(durables), False
    while True:
        try:
            for durable in names:
                info = await js.consumer_info(stream, durable, timeout=every_s)
                metrics.consumer_pending.labels(durable).set(info.num_pending or 0)
                metrics.consumer_ack_pending.labels(durable).set(info.num_ack_pending or 0)
            if failing:
                log.info("consumer info available again")
            failing = False
        except (NatsError, TimeoutError) as e:
            if not failing:  # once per outage; /readyz tells whether NATS is connected
                log.warning("cannot read consumer info (pending gauges are stale): %r", e)
            failing = True
        await asyncio.sleep(every_s)
