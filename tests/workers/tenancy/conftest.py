"""The multi-tenant fixtures: a real nats-server started with the accounts the project
generates, two tenants with a credential per role, and one worker of the WORKERS account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import PubAck

from events import AuditEventType
from tests.helpers import store_url
from tests.workers.ingest.events_factory import dumps
from workers.config import Config
from workers.nats.local_server import LocalNatsServer
from workers.nats.tenancy import ROLE_SUBJECTS, WORKERS_USER, Credential, Registry
from workers.service.worker import Worker, build_worker

REFUSED_WITHIN_S = 2.0


@dataclass
class Tenancy:
    server: LocalNatsServer
    registry: Registry
    worker: Worker
    a: uuid.UUID
    b: uuid.UUID
    creds: dict[tuple[uuid.UUID, str], Credential]  # (tenant, role): one per role

    @property
    def a_files(self) -> Credential:
        return self.creds[(self.a, "file-monitor")]

    @property
    def b_files(self) -> Credential:
        return self.creds[(self.b, "file-monitor")]


@pytest.fixture
async def tenancy(tmp_path: Path, key_root: str) -> AsyncIterator[Tenancy]:
    registry = Registry(tmp_path / "data")
    a, b = uuid.uuid4(), uuid.uuid4()
    registry.add(a)
    registry.add(b)
    creds = {(t, role): registry.issue(t, role) for t in (a, b) for role in ROLE_SUBJECTS}
    registry.save()
    server = LocalNatsServer(tmp_path / "data" / "nats", accounts=registry.accounts_conf)
    server.start()
    settings = Config(
        _env_file=None,  # type: ignore[call-arg]
        nats_url=server.url,
        nats_user=WORKERS_USER,
        nats_password=registry.workers_password(),
        store_url=store_url(tmp_path / "store.db"),
        key_root=key_root,
        multi_tenant=True,
        metrics_port=9100,  # FastStream's metrics on the worker's registry (not served here)
        batch_size=100,
        data_dir=tmp_path / "data",
    )
    worker = build_worker(settings)
    await worker.start()
    try:
        yield Tenancy(server, registry, worker, a, b, creds)
    finally:
        await worker.stop()
        server.stop()


class Producer:
    """A producer's connection with its credential; the server's refusals are collected."""

    def __init__(self, nc: Client, refusals: list[str]) -> None:
        self.nc, self.refusals = nc, refusals

    async def publish(self, subject: str, body: dict[str, Any], **headers: str) -> PubAck | None:
        """JetStream's ack, or None when the server refused (a permissions violation)."""
        try:
            return await self.nc.jetstream().publish(
                subject, dumps(body), timeout=REFUSED_WITHIN_S, headers=headers or None
            )
        except NatsTimeout:
            return None


async def connect(server: LocalNatsServer, cred: Credential) -> Producer:
    refusals: list[str] = []

    async def on_error(e: Exception) -> None:
        refusals.append(str(e))

    nc = await nats.connect(
        server.url,
        user=cred.user,
        password=cred.password,
        error_cb=on_error,
        allow_reconnect=False,
        connect_timeout=2,
    )
    return Producer(nc, refusals)


async def tenant_keys(t: Tenancy, tenant: uuid.UUID) -> int:
    begin, end = t.worker.ingestor.repos.keys.tenant_range(tenant)
    return len(await t.worker.store.transact(lambda tr: tr.get_range(begin, end)))


async def audits(t: Tenancy, tenant: uuid.UUID, kind: AuditEventType) -> list[Any]:
    repos = t.worker.ingestor.repos
    page = await t.worker.store.transact(lambda tr: repos.audit.list_by_event(tr, tenant, kind))
    return list(page.items)
