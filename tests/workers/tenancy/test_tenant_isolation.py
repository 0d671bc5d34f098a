"""Multi-tenant mode on a real nats-server started with the accounts the project generates:
a producer writes only into the tenant it authenticated as, publishes only its role's
subjects, and a revoked credential is shut out while the workers keep running."""

from __future__ import annotations

import uuid

import pytest

from events import AuditEventType
from tests.helpers import eventually
from tests.workers.ingest.events_factory import file_changed, message_sent
from tests.workers.tenancy.conftest import Tenancy, audits, connect, tenant_keys
from workers.nats.streams import tenant_stream_name
from workers.nats.tenancy import reload_server


async def test_own_event_applied_in_own_tenant(tenancy: Tenancy) -> None:
    t = tenancy
    a = await connect(t.server, t.a_files)
    session = uuid.uuid4()
    ack = await a.publish("file.changed", file_changed(t.a, session, "created", "a.py", b"x"))
    assert ack is not None and ack.stream == tenant_stream_name(str(t.a))
    await eventually(lambda: t.worker.ingestor.stats.applied == 1, what="A's event applied")
    repos = t.worker.ingestor.repos
    found = await t.worker.store.transact(
        lambda tr: repos.files.get_by_path(tr, t.a, session, "a.py")
    )
    assert found is not None
    await a.nc.close()


async def test_other_tenant_in_payload_is_dead_lettered_and_audited(tenancy: Tenancy) -> None:
    t = tenancy
    a = await connect(t.server, t.a_files)
    before_b = await tenant_keys(t, t.b)
    spoof = file_changed(t.b, uuid.uuid4(), "created", "stolen.py", b"x")
    assert await a.publish("file.changed", spoof) is not None  # the stream takes it ...
    await eventually(lambda: t.worker.ingestor.stats.dead == 1, what="the spoof dead-lettered")
    js = t.worker.broker.config.connection_state.stream  # type: ignore[attr-defined]
    letter = await js.get_last_msg("DLQ", f"dlq.tenant.{t.a}.file.changed")
    assert f"is not the publisher's tenant {t.a}" in letter.headers["Dlq-Reason"]
    assert await tenant_keys(t, t.b) == before_b == 0  # ... and nothing is written in B
    (record,) = await audits(t, t.a, AuditEventType.UNAUTHORIZED_ACCESS)
    assert record.event_data["claimed_tenant_id"] == str(t.b)
    await a.nc.close()


async def test_role_and_other_tenants_subjects_refused_by_the_server(tenancy: Tenancy) -> None:
    t = tenancy
    a = await connect(t.server, t.a_files)
    assert await a.publish("message.sent", message_sent(t.a, uuid.uuid4())) is None
    other = f"tenant.{t.b}.file.changed"
    assert await a.publish(other, file_changed(t.b, uuid.uuid4(), "created", "b.py")) is None
    dead_letter = file_changed(t.a, uuid.uuid4(), "created", "c.py")
    assert await a.publish("dlq.file.changed", dead_letter) is None
    await eventually(lambda: len(a.refusals) == 3, what="three permission violations")
    assert all("permissions violation" in r for r in a.refusals)
    stream = await t.worker.broker.config.connection_state.stream.stream_info("EVENTS")  # type: ignore[attr-defined]
    assert stream.state.messages == 0
    assert await tenant_keys(t, t.a) == await tenant_keys(t, t.b) == 0
    await a.nc.close()


async def test_reused_event_id_never_makes_the_other_tenants_event_a_duplicate(
    tenancy: Tenancy,
) -> None:
    t = tenancy
    a, b = await connect(t.server, t.a_files), await connect(t.server, t.b_files)
    theirs = file_changed(t.b, uuid.uuid4(), "created", "b.py", b"b")
    mine = file_changed(t.a, uuid.uuid4(), "created", "a.py", b"a") | {
        "event_id": theirs["event_id"]
    }
    msg_id = theirs["event_id"]  # A first, with B's event id as its Nats-Msg-Id too
    mine_ack = await a.publish("file.changed", mine, **{"Nats-Msg-Id": msg_id})
    theirs_ack = await b.publish("file.changed", theirs, **{"Nats-Msg-Id": msg_id})
    assert mine_ack is not None and theirs_ack is not None
    assert not theirs_ack.duplicate  # not dropped at the stream ...
    await eventually(lambda: t.worker.ingestor.stats.applied == 2, what="both applied")
    assert t.worker.ingestor.stats.duplicates == 0  # ... nor in the store
    repos = t.worker.ingestor.repos
    pairs = [(t.a, uuid.UUID(msg_id)), (t.b, uuid.UUID(msg_id))]
    assert await t.worker.store.transact(lambda tr: repos.applied.applied(tr, pairs)) == [
        True,
        True,
    ]
    # within one tenant the window still drops a re-sent message
    again = await b.publish("file.changed", theirs, **{"Nats-Msg-Id": msg_id})
    assert again is not None and again.duplicate
    await a.nc.close()
    await b.nc.close()


async def test_revoked_credential_cannot_connect_or_publish(tenancy: Tenancy) -> None:
    t = tenancy
    a = await connect(t.server, t.a_files)
    assert t.registry.revoke(t.a, "file-monitor") == 1
    t.registry.save()
    assert reload_server(t.server.pid_file)
    await eventually(lambda: a.nc.is_closed, what="the revoked connection closed by the server")
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await connect(t.server, t.a_files)
    b = await connect(t.server, t.b_files)  # the others, and the workers, carry on
    assert await b.publish("file.changed", file_changed(t.b, uuid.uuid4(), "created", "ok"))
    await eventually(lambda: t.worker.ingestor.stats.applied == 1, what="B's event applied")
    await b.nc.close()


async def test_metrics_are_labelled_by_subject_not_by_tenant(tenancy: Tenancy) -> None:
    t = tenancy
    for tenant, cred in ((t.a, t.a_files), (t.b, t.b_files)):
        producer = await connect(t.server, cred)
        body = file_changed(tenant, uuid.uuid4(), "created", "a.py", b"x")
        assert await producer.publish("file.changed", body) is not None
        await producer.nc.close()
    await eventually(lambda: t.worker.ingestor.stats.applied == 2, what="both applied")
    labels = [
        dict(sample.labels)
        for family in t.worker.metrics.registry.collect()
        for sample in family.samples
        if family.name.startswith(("faststream_", "workers_"))
    ]
    values = {v for each in labels for v in each.values()}
    assert "file.changed" in values  # FastStream's and ours: one series per subject ...
    assert not [v for v in values if str(t.a) in v or str(t.b) in v]  # ... for every tenant
