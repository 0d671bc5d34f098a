"""The shipped NATS configurations: deploy/nats/nats-server.conf (Compose) and the Helm values
(Kubernetes). Both are checked by the real nats-server (`-t`), then run: JetStream fsyncs before
it acks, each publisher reaches only its own subjects, the real workers do their whole job
(streams, durable pull consumers, acks, dead letters) as the `workers` user, and the real reads
service, as the `workers` user too, answers the readers (`ide`, `agent-runtime`) and nobody
else, with replicas sharing the requests."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest

from tests.deploy.conftest import (
    CONFIGS,
    NATS_CONF,
    NATS_VALUES,
    PASSWORD_ENV,
    USERS,
    RunningNats,
    load_yaml,
    load_yaml_documents,
    password_variable,
)
from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, message_sent
from workers.config import Config
from workers.nats.local_server import find_binary
from workers.nats.streams import ensure_streams
from workers.reads.api import SERVICE_NAME
from workers.reads.service import ReadService
from workers.service.wiring import open_configured_store, repositories

EVENT_SUBJECTS = (
    "file.changed",
    "message.sent",
    "conversation.created",
    "conversation.updated",
    "setting.changed",
    "audit.user_login",
    "agent.executed",
    "agent.configured",
)
ALL_SUBJECTS = (*EVENT_SUBJECTS, "dlq.message.sent")
MAY_PUBLISH = {
    "file-monitor": {"file.changed"},
    "ide": {
        "message.sent",
        "conversation.created",
        "conversation.updated",
        "setting.changed",
        "audit.user_login",
    },
    "agent-runtime": {"agent.executed", "agent.configured"},
    "workers": {"dlq.message.sent"},
    "admin": set(ALL_SUBJECTS),
}


def nats_server_test(conf: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_binary(), "-t", "-c", str(conf)],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("name", list(CONFIGS))
def test_nats_server_accepts_the_shipped_config(name: str, tmp_path: Path) -> None:
    conf = tmp_path / "nats.conf"
    conf.write_text(CONFIGS[name](tmp_path / "js", 4222, 8222))
    result = nats_server_test(conf, PASSWORD_ENV)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_nats_server_accepts_the_compose_config_file_as_is() -> None:
    result = nats_server_test(NATS_CONF, PASSWORD_ENV)
    assert result.returncode == 0, result.stderr


def test_the_compose_config_holds_no_password_and_refuses_to_start_without_them() -> None:
    result = nats_server_test(NATS_CONF, {})
    assert result.returncode != 0
    assert "NATS_" in result.stderr and "PASSWORD" in result.stderr


def test_the_compose_config_fsyncs_every_write() -> None:
    text = NATS_CONF.read_text()
    assert "sync_interval: always" in text


def test_helm_values_run_three_jetstream_servers_on_volumes_that_fsync_every_write() -> None:
    config = load_yaml(NATS_VALUES)["config"]
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["size"]
    assert jetstream["merge"]["sync_interval"] == "always"


def test_helm_values_take_every_password_from_the_users_secret() -> None:
    values = load_yaml(NATS_VALUES)
    env = values["container"]["env"]
    (secret,) = load_yaml_documents(NATS_VALUES.parent / "users-secret.yaml")
    for user in USERS:
        ref = env[password_variable(user)]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"], f"users-secret.yaml lacks {ref['key']}"
    users = values["config"]["merge"]["authorization"]["users"]
    assert [u["user"] for u in users] == list(USERS)
    for u in users:
        assert u["password"] == f"<< ${password_variable(u['user'])} >>"


def test_monitoring_reports_jetstream_syncing_always(configured_nats: RunningNats) -> None:
    url = f"http://127.0.0.1:{configured_nats.monitor_port}/varz"
    with urllib.request.urlopen(url, timeout=5) as response:
        varz = json.load(response)
    assert varz["jetstream"]["config"]["sync_always"] is True
    assert varz["max_payload"] == 8 * 1024 * 1024


async def connect(server: RunningNats, user: str, errors: list[str]) -> Any:
    async def on_error(e: Exception) -> None:
        errors.append(str(e))

    return await nats.connect(server.url(user), error_cb=on_error, allow_reconnect=False)


async def test_each_user_publishes_only_its_own_subjects(configured_nats: RunningNats) -> None:
    workers = await connect(configured_nats, "workers", [])
    settings = Config(_env_file=None)  # type: ignore[call-arg]
    await ensure_streams(workers.jetstream(), settings)  # what the `streams` job does
    await workers.close()
    stored = 0
    for user in USERS:
        errors: list[str] = []
        nc = await connect(configured_nats, user, errors)
        js = nc.jetstream()
        for subject in ALL_SUBJECTS:
            if subject in MAY_PUBLISH[user]:
                await js.publish(subject, b"{}", timeout=5)  # stored and acknowledged
                stored += 1
            else:
                await nc.publish(subject, b"{}")
                await nc.flush()
                await eventually(
                    lambda s=subject, seen=errors: any(f'"{s}"' in e for e in seen),
                    timeout=5,
                    what=f"a permissions violation for {user} publishing {subject}",
                )
        await nc.close()
    admin = await connect(configured_nats, "admin", [])
    js = admin.jetstream()
    total = (await js.stream_info("EVENTS")).state.messages
    total += (await js.stream_info("DLQ")).state.messages
    await admin.close()
    assert total == stored


async def test_the_workers_user_consumes_acks_and_dead_letters(
    configured_nats: RunningNats, tmp_path: Path, start_worker: Any
) -> None:
    settings = Config(
        nats_url=configured_nats.url("workers"),
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        batch_size=50,
        nak_delay_s=0.05,
        data_dir=tmp_path / "data",
        metrics_port=0,  # no fixed port in tests
        _env_file=None,  # type: ignore[call-arg]
    )
    worker = await start_worker(settings)  # creates the streams and the durable consumers
    errors: list[str] = []
    ide = await connect(configured_nats, "ide", errors)
    js = ide.jetstream()
    tenant, conversation = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        await js.publish("message.sent", dumps(message_sent(tenant, conversation)))
    await js.publish("message.sent", b"{not json")
    await ide.close()
    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied == 3 and stats.dead == 1, what="3 applied, 1 dead")

    admin = await connect(configured_nats, "admin", errors)
    ajs = admin.jetstream()

    async def all_acked() -> bool:
        info = await ajs.consumer_info("EVENTS", "workers-messages")
        return info.num_ack_pending == 0 and info.num_pending == 0

    await eventually(all_acked, timeout=10, what="every message acked by the workers")
    assert (await ajs.stream_info("DLQ")).state.messages == 1
    await admin.close()
    assert not errors, errors


READERS = ("ide", "agent-runtime")
"""The users that may ask the reads service (its requests and its `$SRV` discovery)."""


@asynccontextmanager
async def reads_service(
    server: RunningNats, tmp_path: Path, errors: list[str], replicas: int = 1
) -> AsyncIterator[list[ReadService]]:
    """`serve-reads` in-process, `replicas` times: each its own connection as the `workers`
    user (what the deployments run), all on one SQLite store; every async error of those
    connections (a permissions violation above all) lands in `errors`."""
    settings = Config(
        nats_url=server.url("workers"),
        store_url=f"sqlite:///{tmp_path / 'reads.db'}",
        data_dir=tmp_path / "data",
        metrics_port=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    store = open_configured_store(settings)
    started: list[tuple[Any, ReadService]] = []
    try:
        for _ in range(replicas):
            nc = await connect(server, "workers", errors)
            service = ReadService(settings, store, repositories(settings))
            started.append((nc, service))
            await service.start(nc)
        yield [service for _, service in started]
    finally:
        for nc, service in started:
            await service.stop()
            await nc.drain()
        await store.close()


def requests_answered(service: ReadService) -> int:
    assert service.service is not None
    return sum(endpoint.num_requests for endpoint in service.service.stats().endpoints)


async def test_the_readers_query_the_reads_service_run_as_the_workers_user(
    configured_nats: RunningNats, tmp_path: Path
) -> None:
    service_errors: list[str] = []
    async with reads_service(configured_nats, tmp_path, service_errors):
        for user in READERS:
            errors: list[str] = []
            nc = await connect(configured_nats, user, errors)
            body = json.dumps({"tenant": str(uuid.uuid4())}).encode()
            answer = await nc.request("reads.agents.by_tenant", body, timeout=5)
            assert not (answer.headers or {}).get("Nats-Service-Error"), answer.headers
            assert json.loads(answer.data) == {"items": [], "next": None}
            for verb in ("PING", "INFO"):
                found = json.loads((await nc.request(f"$SRV.{verb}.reads", b"", timeout=5)).data)
                assert found["name"] == SERVICE_NAME, found
            await nc.close()
            assert not errors, f"{user}: {errors}"
    assert not service_errors, f"the workers user was refused: {service_errors}"


async def refused(errors: list[str], subject: str, who: str) -> None:
    """The server's permissions violation for `subject` reaches the connection's error
    callback (nats-py lowercases the server's message: `$SRV` arrives as `$srv`)."""
    quoted = f'"{subject}"'.lower()
    await eventually(
        lambda: any("permissions violation" in e and quoted in e for e in map(str.lower, errors)),
        timeout=5,
        what=f"a permissions violation for {who} on {subject}",
    )


async def test_only_the_readers_reach_the_reads_service(
    configured_nats: RunningNats, tmp_path: Path
) -> None:
    service_errors: list[str] = []
    body = json.dumps({"tenant": str(uuid.uuid4())}).encode()
    async with reads_service(configured_nats, tmp_path, service_errors) as (service,):
        # A producer that is no reader: its requests never leave the server.
        errors: list[str] = []
        fm = await connect(configured_nats, "file-monitor", errors)
        with pytest.raises(nats.errors.TimeoutError):
            await fm.request("reads.agents.by_tenant", body, timeout=1)
        await refused(errors, "reads.agents.by_tenant", "file-monitor")
        await fm.publish("$SRV.PING.reads", b"")
        await fm.flush()
        await refused(errors, "$SRV.PING.reads", "file-monitor")
        await fm.close()
        assert requests_answered(service) == 0, "a refused request reached the service"

        # A reader can neither stand in for the service nor discover every service there is.
        errors = []
        ide = await connect(configured_nats, "ide", errors)
        await ide.subscribe("reads.>")
        await ide.publish("$SRV.PING", b"")
        await ide.flush()
        await refused(errors, "reads.>", "ide subscribing")
        await refused(errors, "$SRV.PING", "ide")
        await ide.close()

        # The service's user answers only the requests it received: allow_responses opens
        # their reply subjects, never `_INBOX.>` as a whole (JetStream's acks to producers go
        # there), nor does it make requests of the service itself.
        errors = []
        workers = await connect(configured_nats, "workers", errors)
        for subject in ("_INBOX.someone.else", "reads.agents.by_tenant"):
            await workers.publish(subject, b"{}")
            await workers.flush()
            await refused(errors, subject, "workers")
        await workers.close()
    assert not service_errors, service_errors


async def test_reads_replicas_share_the_requests(
    configured_nats: RunningNats, tmp_path: Path
) -> None:
    """Each replica subscribes in the services framework's queue group: every request is
    answered once, by one of them, and both take a share."""
    service_errors: list[str] = []
    async with reads_service(configured_nats, tmp_path, service_errors, replicas=2) as services:
        errors: list[str] = []
        ide = await connect(configured_nats, "ide", errors)
        tenant = str(uuid.uuid4())
        sent = 40
        for _ in range(sent):
            answer = await ide.request(
                "reads.agents.by_tenant", json.dumps({"tenant": tenant}).encode(), timeout=5
            )
            assert json.loads(answer.data) == {"items": [], "next": None}
        await ide.close()
        shares = [requests_answered(s) for s in services]
        assert sum(shares) == sent, shares
        assert all(shares), f"one replica took every request: {shares}"
        assert not errors, errors
    assert not service_errors, service_errors
