"""The shipped NATS configurations: deploy/nats/nats-server.conf (Compose) and the Helm values
(Kubernetes). Both are checked by the real nats-server (`-t`), then run: JetStream fsyncs before
it acks, each publisher reaches only its own subjects, and the real workers do their whole job
(streams, durable pull consumers, acks, dead letters) as the `workers` user."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import nats
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
