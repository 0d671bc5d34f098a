"""The NATS side of the workers: FastStream pull subscribers, acks, naks and dead letters.

One durable pull consumer per subject family, shared by every worker process. A batch is
fetched, applied in one store transaction (`Ingestor`), and only then acknowledged, one ack
per message (never AckPolicy.ALL: with several workers on a durable it would ack messages
another worker has not committed). FastStream's own acking is off (`AckPolicy.MANUAL`) and
its decoder is bypassed, so a malformed body cannot fail its batch-mates.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections.abc import Awaitable, Callable
from functools import reduce
from typing import Annotated, Any, cast

from faststream import AckPolicy, Context
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.subscriber.usecases import BatchPullStreamSubscriber
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig
from nats.js.errors import ServiceUnavailableError

from events import subjects
from workers.config import Config
from workers.ingest.ingestor import Ingestor
from workers.ingest.outcomes import Incoming, Outcome, Result
from workers.nats.dead_letters import dead_letter
from workers.observability.logs import event_fields
from workers.observability.metrics import Metrics
from workers.tasks import cancel_and_wait

log = logging.getLogger(__name__)


def durable_name(family: str) -> str:
    return f"workers-{family}"


async def _raw(msg: StreamMessage[Any]) -> None:
    """Skip FastStream's JSON decoding: the ingestor validates each raw body itself."""
    return None


class BatchConsumer:
    """Applies fetched batches, pipelined: FastStream fetches and decodes the next batch while
    the store commits this one. Batches may commit in any order (SQLite's writer happens to
    take them in queue order; FoundationDB runs several at once), and nothing relies on it: two
    batches holding one event conflict on its dedupe mark and the retried one finds it, and the
    stored state is the fold of the events by (occurred_at, event_id) whatever the order."""

    def __init__(
        self,
        ingestor: Ingestor,
        broker: NatsBroker,
        settings: Config,
        in_flight: int = 2,
        metrics: Metrics | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.broker = broker
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._slots = asyncio.Semaphore(in_flight)
        self._tasks: dict[asyncio.Task[None], int] = {}  # batch -> its number of messages

    async def handle(self, msgs: list[Msg]) -> None:
        """Queue the batch and return at once (at most `in_flight` batches are pending)."""
        await self._slots.acquire()
        task = asyncio.create_task(self.apply(msgs))
        self._tasks[task] = len(msgs)
        task.add_done_callback(self._done)

    async def apply(self, msgs: list[Msg]) -> None:
        """Commit, then settle each message: ack, nak with a delay, or dead-letter then ack."""
        started = time.perf_counter()
        results = await self.ingestor.apply([Incoming(m.subject, m.data) for m in msgs])
        committed = time.perf_counter()
        outcomes = [
            await self._settle(msg, result) for msg, result in zip(msgs, results, strict=True)
        ]
        self.metrics.batch_done(msgs, outcomes, started, committed)

    async def drain(self, timeout: float | None = None) -> int:
        """Wait for every queued batch to be committed and settled (graceful shutdown). After
        `timeout` seconds the rest are cancelled, unacked (JetStream redelivers them after
        ACK_WAIT_S; a commit that landed is deduped then): returns how many messages that is."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            _, pending = await asyncio.wait(list(self._tasks), timeout=left)
            if pending and deadline is not None and loop.time() >= deadline:
                unacked = sum(self._tasks.get(t, 0) for t in pending)
                log.warning(
                    "shutdown grace ran out: %d messages in %d batches left unacknowledged; "
                    "JetStream redelivers them",
                    unacked,
                    len(pending),
                    extra={"unacked": unacked, "batches": len(pending)},
                )
                await cancel_and_wait(pending)
                return unacked
        return 0

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._slots.release()
        if not task.cancelled() and (error := task.exception()) is not None:
            # unacked messages are redelivered after ack_wait: nothing is lost
            log.error("batch failed before it was settled: %r", error, exc_info=error)

    async def _settle(self, msg: Msg, result: Result) -> Outcome:
        """Ack, nak or dead-letter `msg`; the outcome it ended with (for the metrics)."""
        if result.outcome is Outcome.RETRY:
            delivered = msg.metadata.num_delivered
            if delivered < self.settings.max_deliver:
                await msg.nak(delay=self.settings.nak_delay_s * 2 ** (delivered - 1))
                return Outcome.RETRY
            result = Result(Outcome.DEAD, f"gave up after {delivered} deliveries: {result.reason}")
        if result.outcome is Outcome.DEAD:
            log.warning(
                "dead-lettered %s (stream seq %s): %s",
                msg.subject,
                msg.metadata.sequence.stream,
                result.reason,
                extra={**event_fields(msg), "reason": result.reason},
            )
            await dead_letter(self._publish, msg, result.reason)
        await msg.ack()
        return result.outcome

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        await self.broker.publish(
            payload,
            subject,
            headers=headers,
            stream=subjects.STREAM_DLQ,
            timeout=DEAD_LETTER_TIMEOUT_S,
        )


DEAD_LETTER_TIMEOUT_S = 5.0
"""How long writing a dead letter waits for JetStream's ack (nats-py's own default). FastStream's
0.5 s gave up while a busy disk or a DLQ leader election delayed the ack: the whole batch then
failed unacknowledged, and its good events waited ACK_WAIT_S for a redelivery."""


IDLE_WAIT_S = 5.0
"""How long one pull request waits for the first message of a batch: an idle durable costs one
request per this many seconds instead of one per FETCH_TIMEOUT_S."""
RECONNECT_PAUSE_S = 0.5


class LongPollBatchSubscriber(BatchPullStreamSubscriber):
    """FastStream's batch pull subscriber with a fetch loop that waits for work cheaply.

    FastStream 0.7's loop asks for a whole batch with the fill timeout (10 ms) and starts over
    when nothing came: an idle durable makes a pull request and gets a status reply every fill
    timeout, and the busy worker's event loop and nats-server pay for every idle durable's
    (measured in docs/performance.md, "The pull loop").

    This loop waits up to IDLE_WAIT_S for one message (one pull request, answered the moment a
    message arrives), then fills the batch as FastStream does: whatever arrives within the
    fill timeout, up to the batch size.
    """

    __slots__ = ()

    async def _consume_pull(self) -> None:
        assert self.subscription, "the subscription is created before this task starts"
        while self.running:
            try:
                messages = await self.subscription.fetch(batch=1, timeout=IDLE_WAIT_S)
            except TimeoutError:  # nats-py's own, or asyncio's bare one from fetch (2.15+)
                continue
            except (ConnectionClosedError, ServiceUnavailableError):
                await asyncio.sleep(RECONNECT_PAUSE_S)  # the client reconnects meanwhile
                continue
            messages += await self._fill(self.pull_sub.batch_size - 1)
            if self.running:
                await self.consume(messages)

    async def _fill(self, most: int) -> list[Msg]:
        """What arrives within the fill timeout, up to `most` (FastStream's own loop)."""
        assert self.subscription
        messages: list[Msg] = []
        deadline = time.monotonic() + (self.pull_sub.timeout or 0.0)
        while len(messages) < most and self.running:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                messages += await self.subscription.fetch(batch=most - len(messages), timeout=left)
            except (TimeoutError, ConnectionClosedError, ServiceUnavailableError):
                break  # keep what arrived: acked after a reconnect, else redelivered
        return messages


def consumer_config(settings: Config) -> ConsumerConfig:
    return ConsumerConfig(
        ack_policy=JsAckPolicy.EXPLICIT,
        max_deliver=settings.max_deliver,
        ack_wait=settings.ack_wait_s,
        max_ack_pending=settings.max_ack_pending,
        max_waiting=512,
    )


Handle = Callable[[list[Msg]], Awaitable[None]]


def subscribe_all(
    broker: NatsBroker,
    handle: Handle,
    settings: Config,
    document: bool = False,
) -> None:
    """One batch subscriber per family of `events.subjects.FAMILIES`. `document` annotates the
    handlers with the families' models for the AsyncAPI document; at run time bodies stay raw
    bytes."""
    stream = JStream(subjects.STREAM_EVENTS, declare=False)
    for family in subjects.FAMILIES:
        payload = reduce(operator.or_, dict.fromkeys(family.models.values())) if document else None

        async def on_batch(body: Any, message: Annotated[Any, Context("message")]) -> None:
            await handle(message.raw_message)

        if payload is not None:
            on_batch.__annotations__["body"] = list[payload]  # type: ignore[valid-type]
        (consumer_filter,) = (
            subjects.tenant_subjects((family.consumer_filter,))
            if settings.multi_tenant
            else (family.consumer_filter,)
        )
        subscriber = broker.subscriber(
            consumer_filter,
            stream=stream,
            durable=durable_name(family.name),
            config=consumer_config(settings),
            pull_sub=PullSub(settings.batch_size, timeout=settings.fetch_timeout_s, batch=True),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw,
            title=f"{family.name}: {consumer_filter}",
        )
        long_poll(subscriber)(on_batch)


def long_poll(subscriber: Any) -> LongPollBatchSubscriber:
    """FastStream builds the subscriber; this gives it the fetch loop above. Checked, so that a
    FastStream release that changes the class fails here instead of polling silently."""
    if type(subscriber) is not BatchPullStreamSubscriber:
        raise TypeError(f"expected FastStream's BatchPullStreamSubscriber, got {type(subscriber)}")
    subscriber.__class__ = LongPollBatchSubscriber
    return cast(LongPollBatchSubscriber, subscriber)
