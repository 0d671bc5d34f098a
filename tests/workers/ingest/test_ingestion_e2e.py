"""End to end: producers publish with plain nats-py; a real nats-server; a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest
from nats.aio.client import Client

from events.audit_types import AuditEventType
from tests.helpers import eventually
from tests.workers.ingest.events_factory import (
    T0,
    dumps,
    envelope,
    file_changed,
    later,
    message_sent,
)
from workers.config import Config
from workers.ingest.outcomes import Incoming, Outcome, Result
from workers.nats.streams import ensure_streams
from workers.repositories.integrity import check
from workers.service.worker import Worker


async def publish(nc: Client, subject: str, body: bytes, msg_id: str | None = None) -> None:
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    await nc.jetstream().publish(subject, body, headers=headers)


async def settled(worker: Worker, count: int) -> None:
    stats = worker.ingestor.stats
    await eventually(
        lambda: stats.applied + stats.duplicates + stats.dead >= count, what=f"{count} events"
    )


async def audit_count(worker: Worker, tenant: uuid.UUID, kind: AuditEventType) -> int:
    page = await worker.store.transact(
        lambda tr: worker.ingestor.repos.audit.list_by_event(tr, tenant, kind, limit=1000)
    )
    return len(page.items)


async def test_every_subject_ends_as_records_indexes_counters_and_audit(
    settings: Config, start_worker, producer: Client
) -> None:
    worker = await start_worker(settings)
    t, conv, session, agent, user = (uuid.uuid4() for _ in range(5))
    events = [
        (
            "conversation.created",
            envelope(t, conversation_id=str(conv), title="Refactor auth", tags=["a"]),
        ),
        ("message.sent", message_sent(t, conv, tokens=7, at=later(1))),
        ("message.sent", message_sent(t, conv, tokens=5, at=later(2))),
        ("file.changed", file_changed(t, session, "created", "src/a.py", b"x = 1\n", later(1))),
        ("file.changed", file_changed(t, session, "modified", "src/a.py", b"x = 2\n", later(2))),
        (
            "file.changed",
            file_changed(t, session, "renamed", "src/b.py", at=later(3), previous_path="src/a.py"),
        ),
        ("file.changed", file_changed(t, session, "accessed", "src/b.py", at=later(4))),
        (
            "agent.configured",
            envelope(t, agent_id=str(agent), name="reviewer", agent_type="specialist"),
        ),
        (
            "agent.executed",
            envelope(
                t,
                later(1),
                agent_id=str(agent),
                status="success",
                memory={"facts": {"lang": "python"}, "decisions": ["d1"]},
            ),
        ),
        (
            "agent.executed",
            envelope(
                t,
                later(2),
                agent_id=str(agent),
                status="error",
                error="boom",
                memory={"facts": {"db": "fdb"}},
            ),
        ),
        ("setting.changed", envelope(t, user=user, category="theme", key="color", value="dark")),
        ("audit.user_login", envelope(t, event_data={"method": "sso"})),
    ]
    for subject, body in events:
        await publish(producer, subject, dumps(body))
    await settled(worker, len(events))

    repos = worker.ingestor.repos

    def read(tr):  # type: ignore[no-untyped-def]
        return (
            repos.conversations.get_by_id(tr, t, conv),
            repos.files.get_by_path(tr, t, session, "src/b.py"),
            repos.files.get_by_path(tr, t, session, "src/a.py", include_deleted=True),
            repos.agents.get_by_id(tr, t, agent),
            repos.settings.get(tr, t, user, __import__("events").SettingCategory.THEME, "color"),
        )

    c, f, old_path, a, s = await worker.store.transact(read)
    assert (
        c is not None and c.title == "Refactor auth" and (c.message_count, c.token_count) == (2, 12)
    )
    assert f is not None and old_path is None
    assert f.checksum == hashlib.sha256(b"x = 2\n").hexdigest()
    assert f.last_accessed_at == later(4)
    assert a is not None and a.memory.facts == {"lang": "python", "db": "fdb"}
    assert (a.execution_count, a.error_count, a.memory.decisions) == (2, 1, ["d1"])
    assert s is not None and s.value == "dark"
    expected = {
        AuditEventType.CONVERSATION_CREATED: 1,
        AuditEventType.MESSAGE_SENT: 2,
        AuditEventType.FILE_CREATED: 1,
        AuditEventType.FILE_UPDATED: 2,
        AuditEventType.FILE_ACCESSED: 1,
        AuditEventType.AGENT_CONFIGURED: 1,
        AuditEventType.AGENT_EXECUTED: 1,
        AuditEventType.AGENT_ERROR: 1,
        AuditEventType.SETTING_CHANGED: 1,
        AuditEventType.USER_LOGIN: 1,
    }
    for kind, n in expected.items():
        assert await audit_count(worker, t, kind) == n, kind
    assert (await check(worker.store, repos)).clean


async def test_an_event_published_again_is_applied_once(
    settings: Config, start_worker, producer: Client
) -> None:
    """A producer that re-sends (no Nats-Msg-Id: JetStream stores every copy) costs nothing:
    each copy after the first, in a later batch, finds the dedupe mark."""
    worker = await start_worker(settings)
    t, conv = uuid.uuid4(), uuid.uuid4()
    body = message_sent(t, conv, tokens=3)
    await publish(producer, "message.sent", dumps(body))
    await settled(worker, 1)  # committed: the copies below come in later batches
    for _ in range(2):  # the same event again, past JetStream's door (no Nats-Msg-Id)
        await publish(producer, "message.sent", dumps(body))
    await publish(producer, "message.sent", dumps(body), msg_id=body["event_id"])
    await settled(worker, 4)
    counts = await worker.store.transact(
        lambda tr: worker.ingestor.repos.conversations.counts(tr, t, conv)
    )
    assert counts == (1, 3)
    assert worker.ingestor.stats.duplicates == 3
    assert await audit_count(worker, t, AuditEventType.MESSAGE_SENT) == 1


async def test_a_message_redelivered_after_its_commit_is_applied_once(
    settings: Config, start_worker, producer: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker commits an event and does not ack it within ACK_WAIT_S (as if it died between
    commit and ack): JetStream delivers it again, and the dedupe mark makes that a duplicate."""
    worker = await start_worker(settings, ack_wait_s=2.0)
    apply = worker.ingestor.apply
    outcomes: list[list[Outcome]] = []
    delivered_again = asyncio.Event()

    async def commit_then_hold_the_ack(batch: list[Incoming]) -> list[Result]:
        results = await apply(batch)  # committed
        outcomes.append([r.outcome for r in results])
        if len(outcomes) == 1:  # no ack until JetStream has delivered the message again
            await asyncio.wait_for(delivered_again.wait(), timeout=60)
        delivered_again.set()
        return results

    monkeypatch.setattr(worker.ingestor, "apply", commit_then_hold_the_ack)
    t, conv = uuid.uuid4(), uuid.uuid4()
    await publish(producer, "message.sent", dumps(message_sent(t, conv, tokens=3)))
    js = producer.jetstream()

    async def acked_after_a_redelivery() -> bool:
        info = await js.consumer_info("EVENTS", "workers-messages")
        return len(outcomes) >= 2 and info.num_ack_pending == 0 and info.num_pending == 0

    await eventually(acked_after_a_redelivery, what="the redelivered message acked")
    assert outcomes[0] == [Outcome.APPLIED]
    assert all(o == [Outcome.DUPLICATE] for o in outcomes[1:]), outcomes
    redelivered = worker.metrics.registry.get_sample_value(
        "workers_events_redelivered_total", {"subject": "message.sent"}
    )
    assert redelivered is not None and redelivered >= 1  # JetStream's own delivery count
    counts = await worker.store.transact(
        lambda tr: worker.ingestor.repos.conversations.counts(tr, t, conv)
    )
    assert counts == (1, 3)
    assert await audit_count(worker, t, AuditEventType.MESSAGE_SENT) == 1


async def test_every_class_of_bad_input_is_dead_lettered_with_its_reason_and_batch_mates_apply(
    settings: Config, start_worker, producer: Client
) -> None:
    t, conv = uuid.uuid4(), uuid.uuid4()
    bad = {
        "malformed JSON": ("message.sent", b'{"event_id": '),
        "empty body": ("message.sent", b""),
        "invalid UTF-8": ("message.sent", b'{"content": "\xff\xfe"}'),
        "missing field": (
            "message.sent",
            dumps({k: v for k, v in message_sent(t, conv).items() if k != "role"}),
        ),
        "bad tenant": ("message.sent", dumps(message_sent(t, conv) | {"tenant_id": "tenant-42"})),
        "oversized field": ("message.sent", dumps(message_sent(t, conv) | {"model": "m" * 500})),
        "naive time": (
            "message.sent",
            dumps(message_sent(t, conv) | {"occurred_at": "2026-11-26T09:00:00"}),
        ),
        "bad checksum": (
            "file.changed",
            dumps(file_changed(t, uuid.uuid4(), "created", "a", b"x") | {"checksum": "XYZ"}),
        ),
        "unknown audit type": ("audit.made_up_thing", dumps(envelope(t))),
        "system audit type": ("audit.data_purged", dumps(envelope(t))),
        "not an object": ("setting.changed", b"[1, 2, 3]"),
    }
    # publish everything first so bad and good share batches, then start the worker
    await ensure_streams(producer.jetstream(), settings)
    for i, (subject, payload) in enumerate(bad.values()):
        await publish(producer, subject, payload)
        await publish(producer, "message.sent", dumps(message_sent(t, conv, tokens=1, at=later(i))))
    worker = await start_worker(settings)
    await settled(worker, 2 * len(bad))
    # a batch is counted at commit; its letters are written while it is settled, just after
    await eventually(lambda: not worker.consumer._tasks, what="the last batch settled")

    assert worker.ingestor.stats.dead == len(bad)
    counts = await worker.store.transact(
        lambda tr: worker.ingestor.repos.conversations.counts(tr, t, conv)
    )
    assert counts == (len(bad), len(bad))
    js = producer.jetstream()
    info = await js.stream_info("DLQ")
    assert info.state.messages == len(bad)
    reasons = []
    for seq in range(1, len(bad) + 1):
        msg = await js.get_msg("DLQ", seq)
        assert msg.headers is not None
        reasons.append(msg.headers["Dlq-Reason"])
        assert msg.headers["Dlq-Subject"] in {s for s, _ in bad.values()}
        assert (msg.headers["Dlq-Subject"], msg.data or b"") in set(bad.values())  # original bytes
    joined = "\n".join(reasons)
    for needle in (
        "Invalid JSON",
        "empty body",
        "role",
        "tenant_id",
        "model",
        "occurred_at",
        "checksum",
        "unknown subject 'audit.made_up_thing'",
        "audit.data_purged",
    ):
        assert needle in joined, needle

    async def all_acked() -> bool:
        infos = [await js.consumer_info("EVENTS", f"workers-{f}") for f in ("messages", "files")]
        return all(i.num_ack_pending == 0 and i.num_pending == 0 for i in infos)

    await eventually(all_acked, what="every original acknowledged")


async def test_a_late_file_event_is_audited_and_never_rolls_the_file_back(
    settings: Config, start_worker, producer: Client
) -> None:
    worker = await start_worker(settings)
    t, session = uuid.uuid4(), uuid.uuid4()
    await publish(
        producer,
        "file.changed",
        dumps(file_changed(t, session, "created", "a.py", b"v1", later(1))),
    )
    await publish(
        producer,
        "file.changed",
        dumps(file_changed(t, session, "modified", "a.py", b"v3", later(3))),
    )
    await publish(
        producer,
        "file.changed",
        dumps(file_changed(t, session, "modified", "a.py", b"v2", later(2))),
    )
    await settled(worker, 3)
    f = await worker.store.transact(
        lambda tr: worker.ingestor.repos.files.get_by_path(tr, t, session, "a.py")
    )
    assert f is not None and f.checksum == hashlib.sha256(b"v3").hexdigest()
    page = await worker.store.transact(
        lambda tr: worker.ingestor.repos.audit.list_by_event(tr, t, AuditEventType.FILE_UPDATED)
    )
    # each modify audited once, describing its own event: the same records in any order
    assert sorted(a.event_data["checksum"] for a in page.items) == sorted(
        hashlib.sha256(v).hexdigest() for v in (b"v2", b"v3")
    )


async def test_content_of_any_size_nats_accepts_is_stored_intact(
    settings: Config, start_worker, producer: Client
) -> None:
    worker = await start_worker(settings)
    t, conv = uuid.uuid4(), uuid.uuid4()
    content = "".join(chr(0x41 + i % 26) for i in range(3_000_000))  # 3 MB, 30 chunks
    body = message_sent(t, conv, content=content)
    await publish(producer, "message.sent", dumps(body))
    await settled(worker, 1)
    m = await worker.store.transact(
        lambda tr: worker.ingestor.repos.messages.get_by_id(tr, t, uuid.UUID(body["message_id"]))
    )
    assert m is not None and m.content == content
    assert (m.conversation_id, m.role.value, m.token_count, m.created_at) == (conv, "user", 10, T0)
    page = await worker.store.transact(
        lambda tr: worker.ingestor.repos.audit.list_by_event(tr, t, AuditEventType.MESSAGE_SENT)
    )
    assert [a.event_data["content_bytes"] for a in page.items] == [len(content.encode())]
