"""The reads service in the multi-tenant mode: the tenant is the caller's NATS account (put in
the subject by the server), never the request's; readers are the IDE and the agent runtime."""

from __future__ import annotations

import json
import uuid

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from tests.helpers import eventually
from tests.workers.ingest.events_factory import message_sent
from tests.workers.tenancy.conftest import Tenancy, connect
from workers.reads.service import ReadService
from workers.service.wiring import open_configured_store, repositories


async def test_a_tenants_reader_reads_its_own_records_only(tenancy: Tenancy) -> None:
    t = tenancy
    settings = t.worker.settings
    store = open_configured_store(settings)
    service = ReadService(settings, store, repositories(settings))
    workers = await nats.connect(
        t.server.url,
        user=settings.nats_user,
        password=settings.nats_password.get_secret_value() if settings.nats_password else None,
    )
    await service.start(workers)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    a_ide = await connect(t.server, t.creds[(t.a, "ide")])
    b_ide = await connect(t.server, t.creds[(t.b, "ide")])
    try:
        assert await a_ide.publish("message.sent", message_sent(t.a, mine, content="a")) is not None
        assert (
            await b_ide.publish("message.sent", message_sent(t.b, theirs, content="b")) is not None
        )
        await eventually(lambda: t.worker.ingestor.stats.applied == 2, what="both applied")

        async def ask(nc: nats.NATS, endpoint: str, **body: object) -> tuple[dict[str, str], bytes]:
            msg = await nc.request(f"reads.{endpoint}", json.dumps(body).encode(), timeout=5)
            return msg.headers or {}, msg.data

        _, data = await ask(a_ide.nc, "messages.list", conversation=str(mine))
        assert [m["content"] for m in json.loads(data)["items"]] == ["a"]
        headers, _ = await ask(a_ide.nc, "conversation.get", id=str(theirs))
        assert headers["Nats-Service-Error-Code"] == "404"  # B's conversation: not A's to see
        _, data = await ask(a_ide.nc, "messages.list", conversation=str(theirs))
        assert json.loads(data)["items"] == []
        headers, _ = await ask(a_ide.nc, "conversation.get", id=str(theirs), tenant=str(t.b))
        assert headers["Nats-Service-Error-Code"] == "400"
        assert "comes from your NATS credentials" in headers["Nats-Service-Error"]
        _, data = await ask(b_ide.nc, "conversation.get", id=str(theirs))
        assert json.loads(data)["id"] == str(theirs)
        info = json.loads((await a_ide.nc.request("$SRV.INFO.reads", b"", timeout=5)).data)
        assert info["name"] == "reads"
        try:  # every tenant's counters and last errors: not a tenant's to read
            await a_ide.nc.request("$SRV.STATS.reads", b"", timeout=1)
            raise AssertionError("a tenant read the service's statistics")
        except (NatsTimeout, NoRespondersError):
            pass
        await eventually(lambda: len(a_ide.refusals) == 1, what="the STATS request refused")

        monitor = await connect(t.server, t.a_files)  # a file-monitor reads nothing
        try:
            await monitor.nc.request("reads.messages.list", b"{}", timeout=1)
            raise AssertionError("the file-monitor's read was answered")
        except (NatsTimeout, NoRespondersError):
            pass
        await eventually(lambda: len(monitor.refusals) == 1, what="the permissions violation")
        await monitor.nc.close()
    finally:
        await a_ide.nc.close()
        await b_ide.nc.close()
        await service.stop()
        await workers.close()
        await store.close()
