"""Dead letters on a real nats-server: a transient failure is nak'ed with doubling delays, then
dead-lettered with every header the README promises; once the cause is repaired, `dlq replay`
applies the letter exactly once and removes it; a letter whose write the server holds up for
a while still settles its batch."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from events.subjects import STREAM_DLQ, STREAM_EVENTS
from tests.helpers import cli, eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from workers.config import Config
from workers.nats import dead_letters as dlq
from workers.nats.local_server import LocalNatsServer
from workers.nats.subscribers import BatchConsumer, durable_name
from workers.service.worker import Worker
from workers.store import FaultInjector
from workers.store.error_codes import COMMIT_UNKNOWN_RESULT, NOT_COMMITTED

MESSAGES = durable_name("messages")  # the durable that takes message.sent
ACKS = (b"", b"+ACK")  # JetStream reads an empty reply as an ack (nats-py sends that)


@dataclass(frozen=True)
class Settled:
    """One delivery of a message, as the worker settled it on its ack subject."""

    delivered: int  # this delivery's number (1: the first)
    stream_seq: int
    reply: bytes  # +ACK, -NAK {"delay": ns}, …


async def watch_settlements(nc: Client, durable: str) -> list[Settled]:
    """Every ack and nak a worker sends for `durable`'s messages, in order: the ack subject
    carries the delivery's number, the payload what the worker answered."""
    seen: list[Settled] = []

    async def record(msg: Msg) -> None:
        meta = Msg.Metadata._from_reply(msg.subject)
        if meta.consumer == durable:
            seen.append(Settled(meta.num_delivered, meta.sequence.stream, msg.data))

    await nc.subscribe("$JS.ACK.>", cb=record)
    await nc.flush()
    return seen


async def failing_worker(
    start_worker: Any, settings: Config, code: int = NOT_COMMITTED, **overrides: Any
) -> Worker:
    """A worker whose every commit fails with `code` (FoundationDB's 1020 or 1021) past the
    store's retries: a transient failure, so each delivery is nak'ed until MAX_DELIVER."""
    worker: Worker = await start_worker(settings, **overrides)
    faults = {
        NOT_COMMITTED: FaultInjector(rate_1020=1.0),
        COMMIT_UNKNOWN_RESULT: FaultInjector(rate_1021=1.0),
    }
    worker.store.faults = faults[code]  # type: ignore[attr-defined]
    worker.store.max_retries = 1  # type: ignore[attr-defined]
    return worker


async def one_letter(producer: Client) -> dlq.DeadLetter:
    js = producer.jetstream()

    async def dead_lettered() -> bool:
        return (await js.stream_info(STREAM_DLQ)).state.messages == 1

    await eventually(dead_lettered, what="the event in the DLQ")
    [letter] = [x async for x in dlq.letters(producer)]
    return letter


async def test_a_dead_letter_carries_the_original_and_every_header_the_readme_names(
    settings: Config, start_worker: Any, producer: Client
) -> None:
    """`dlq show` and a replay depend on these: where the event came from (subject, stream,
    sequence), its own headers, how many deliveries failed and when it was given up."""
    settlements = await watch_settlements(producer, MESSAGES)
    await failing_worker(start_worker, settings, max_deliver=3, nak_delay_s=0.01)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    body = message_sent(tenant, conv)
    data = dumps(body)
    started = datetime.now(UTC).replace(microsecond=0)  # Dlq-Failed-At has whole seconds
    headers = {"Nats-Msg-Id": body["event_id"], "Trace-Id": "trace-7"}
    ack = await producer.jetstream().publish("message.sent", data, headers=headers)

    letter = await one_letter(producer)
    ended = datetime.now(UTC)
    raw = await producer.jetstream().get_msg(STREAM_DLQ, letter.seq)
    assert raw.subject == "dlq.message.sent" and raw.data == data  # the original bytes
    promised = {
        "Nats-Msg-Id": f"dlq:{STREAM_EVENTS}:{ack.seq}",  # a letter written twice is kept once
        dlq.REASON: letter.reason,
        dlq.SUBJECT: "message.sent",
        dlq.DELIVERIES: "3",
        dlq.STREAM_SEQ: str(ack.seq),
        dlq.FAILED_AT: letter.failed_at,
    }
    assert {k: letter.headers.get(k) for k in promised} == promised
    # the original's own headers, all of them, renamed so JetStream does not act on them
    assert dlq.original_headers(letter.headers) == headers
    assert ack.stream == STREAM_EVENTS
    assert letter.reason.startswith("gave up after 3 deliveries: ")
    assert str(NOT_COMMITTED) in letter.reason
    failed_at = datetime.strptime(letter.failed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert started <= failed_at <= ended, (started, letter.failed_at, ended)

    # Dlq-Deliveries is what the server counted: three deliveries, two naks, then one ack
    await eventually(lambda: len(settlements) == 3, what="three settlements")
    assert [(s.delivered, s.stream_seq) for s in settlements] == [(n, ack.seq) for n in (1, 2, 3)]
    assert [s.reply.split(b" ")[0] for s in settlements[:2]] == [b"-NAK", b"-NAK"]
    assert settlements[2].reply in ACKS
    assert letter.summary() == {
        "seq": letter.seq,
        "subject": "message.sent",
        "reason": letter.reason,
        "deliveries": "3",
        "failed_at": letter.failed_at,
        "bytes": len(data),
    }


async def test_a_transient_failure_is_redelivered_after_delays_that_double(
    settings: Config, start_worker: Any, producer: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NAK_DELAY_S, then twice that, then four times: a store that is down gets room to come
    back instead of a redelivery storm. Each nak carries its delay on the wire, and the server
    honours it: the worker never sees the redelivery sooner (a lower bound; no speed asserted).
    """
    first, max_deliver = 0.2, 4
    settlements = await watch_settlements(producer, MESSAGES)
    # the worker's own clock: a nak is timed before it is sent, a delivery once it arrived, so
    # load can only lengthen what is measured, never shorten it
    nak_sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    real_nak, real_apply = Msg.nak, BatchConsumer.apply

    async def timed_nak(msg: Msg, delay: float | None = None) -> None:
        nak_sent[msg.metadata.num_delivered] = time.monotonic()
        await real_nak(msg, delay)

    async def timed_apply(consumer: BatchConsumer, msgs: list[Msg]) -> None:
        for msg in msgs:
            arrived[msg.metadata.num_delivered] = time.monotonic()
        await real_apply(consumer, msgs)

    monkeypatch.setattr(Msg, "nak", timed_nak)
    monkeypatch.setattr(BatchConsumer, "apply", timed_apply)
    await failing_worker(start_worker, settings, max_deliver=max_deliver, nak_delay_s=first)
    await producer.jetstream().publish(
        "message.sent", dumps(message_sent(uuid.uuid4(), uuid.uuid4()))
    )

    await eventually(lambda: len(settlements) == max_deliver, what="every delivery settled")
    delays = [first * 2**n for n in range(max_deliver - 1)]  # 0.2, 0.4, 0.8 s
    naks = [json.loads(s.reply.removeprefix(b"-NAK ")) for s in settlements[:-1]]
    assert naks == [{"delay": int(d * 10**9)} for d in delays]
    assert settlements[-1].reply in ACKS  # the last delivery: dead-lettered, then acked
    assert [s.delivered for s in settlements] == list(range(1, max_deliver + 1))
    for n, delay in enumerate(delays, start=1):
        waited = arrived[n + 1] - nak_sent[n]
        assert waited >= delay, f"delivery {n + 1} came {waited:.3f} s after its nak: < {delay}"
    assert (await one_letter(producer)).deliveries == str(max_deliver)


@pytest.mark.parametrize(
    ("code", "replayed_as"),
    [(NOT_COMMITTED, "applied"), (COMMIT_UNKNOWN_RESULT, "duplicate")],
    ids=["nothing-had-landed", "the-commit-had-landed"],
)
async def test_a_transient_failures_letter_replayed_after_the_repair_is_applied_exactly_once(
    code: int, replayed_as: str, settings: Config, start_worker: Any, producer: Client
) -> None:
    """The operator's way out of an outage: fix the store, `dlq replay`. The event is applied
    once, also when a commit had landed before the failure was reported (1021), and the letter
    is gone from the DLQ."""
    worker = await failing_worker(start_worker, settings, code, max_deliver=2, nak_delay_s=0.01)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    body = message_sent(tenant, conv, tokens=17)
    await producer.jetstream().publish(
        "message.sent", dumps(body), headers={"Nats-Msg-Id": body["event_id"]}
    )
    letter = await one_letter(producer)
    assert letter.reason.startswith(f"gave up after 2 deliveries: {code}")

    worker.store.faults = None  # type: ignore[attr-defined]  # the store is repaired
    stats = worker.ingestor.stats
    applied_before, duplicates_before = stats.applied, stats.duplicates
    replay = cli(settings.nats_url, settings.store_url, "dlq", "replay", str(letter.seq))
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.strip() == f"replayed {letter.seq} to message.sent"

    def settled() -> bool:
        return stats.applied + stats.duplicates > applied_before + duplicates_before

    await eventually(settled, what="the replayed event settled")
    outcome = "applied" if stats.applied > applied_before else "duplicate"
    assert outcome == replayed_as

    def stored(tr: Any) -> tuple[tuple[int, int], int, int]:
        repos = worker.ingestor.repos
        counts = repos.conversations.counts(tr, tenant, conv)
        messages = repos.messages.list_by_conversation(tr, tenant, conv).items
        audits = repos.audit.list_by_date(tr, tenant).items
        return counts, len(messages), len(audits)

    assert await worker.store.transact(stored) == ((1, 17), 1, 1)  # once, not twice
    js = producer.jetstream()
    assert (await js.stream_info(STREAM_DLQ)).state.messages == 0
    assert await dlq.get(producer, letter.seq) is None
    again = cli(settings.nats_url, settings.store_url, "dlq", "replay", str(letter.seq))
    assert again.returncode == 1 and "not found" in again.stderr
    # and the replay itself was acked: nothing of it is left to redeliver
    await eventually(lambda: not worker.consumer._tasks, what="the replay's batch settled")
    info = await js.consumer_info(STREAM_EVENTS, MESSAGES)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


STALL_S = 1.5


async def test_a_letter_written_while_the_server_stalls_still_settles_its_batch(
    settings: Config,
    start_worker: Any,
    producer: Client,
    nats_server: LocalNatsServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """JetStream may take seconds to ack a letter (a busy disk, a clustered DLQ electing its
    leader). A worker that gives up sooner fails the whole batch unacknowledged: the letter's
    batch-mates wait ACK_WAIT_S (a minute) for a redelivery. Here nats-server is stopped
    (SIGSTOP) for STALL_S while the first letter is published."""
    real_publish = BatchConsumer._publish
    stalled: list[int] = []

    async def stall_then_publish(
        consumer: BatchConsumer, subject: str, payload: bytes, headers: dict[str, str]
    ) -> None:
        if not stalled and nats_server.process is not None:
            pid = nats_server.process.pid
            os.kill(pid, signal.SIGSTOP)
            stalled.append(pid)
            asyncio.get_running_loop().call_later(STALL_S, os.kill, pid, signal.SIGCONT)
        await real_publish(consumer, subject, payload, headers)

    monkeypatch.setattr(BatchConsumer, "_publish", stall_then_publish)
    worker = await start_worker(settings)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    js = producer.jetstream()
    await js.publish("message.sent", dumps(message_sent(tenant, conv) | {"role": "robot"}))
    await js.publish("message.sent", dumps(message_sent(tenant, conv)))
    await eventually(lambda: bool(stalled), what="the letter's publish under way")

    async def settled() -> bool:
        info = await js.consumer_info(STREAM_EVENTS, MESSAGES)
        return (info.num_pending, info.num_ack_pending) == (0, 0)

    await eventually(settled, timeout=20, what="both messages acked (ACK_WAIT_S is 60 s)")
    assert (await js.stream_info(STREAM_DLQ)).state.messages == 1
    assert (worker.ingestor.stats.applied, worker.ingestor.stats.dead) == (1, 1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
