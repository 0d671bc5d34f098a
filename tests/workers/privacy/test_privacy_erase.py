"""`workers subject erase` on records real events wrote: nothing of the user is left in the
tenant's range of the raw store, `check` is clean, `audit verify` passes, the user's export is
the receipt alone, their later events are dropped and audited, another user's data does not
change by a byte; a held user is refused; a killed erasure finishes when run again."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from events.examples import EXAMPLES
from tests.helpers import cli, eventually
from tests.workers.audit.audit_support import write_key
from tests.workers.ingest.events_factory import dumps, example_story, message_sent
from workers.config import Config
from workers.repositories import Repositories
from workers.service.worker import Worker
from workers.store.keys import Keys
from workers.store.sqlite import SqliteStore

U = uuid.UUID(str(EXAMPLES["message.sent"]["user_id"]))
CONVERSATION = uuid.UUID(str(EXAMPLES["message.sent"]["conversation_id"]))
V = uuid.uuid4()
PERSONAL = ("203.0.113.42", "ide-desktop/1.42.0", str(EXAMPLES["message.sent"]["content"]))


def workers(settings: Config, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli(settings.nats_url, settings.store_url, *args, **env)


async def publish_users(nc: Client, tenant: uuid.UUID, extra: int) -> int:
    """U: the examples' story plus `extra` messages and a dead letter naming U; V: a
    conversation, a setting and a file. Returns how many events should be applied."""
    js = nc.jetstream(publish_async_max_pending=2000)
    n = 0
    for subject, body in example_story(tenant):
        await js.publish(subject, dumps(body))
        n += 1
    for i in range(extra):
        await js.publish_async(
            "message.sent", dumps(message_sent(tenant, CONVERSATION, user=U, content=f"u{i}"))
        )
        n += 1
    theirs = uuid.uuid4()
    await js.publish_async(
        "message.sent", dumps(message_sent(tenant, theirs, user=V, content="v says"))
    )
    setting = copy.deepcopy(EXAMPLES["setting.changed"]) | {
        "tenant_id": str(tenant),
        "event_id": str(uuid.uuid4()),
        "user_id": str(V),
        "ip_address": "198.51.100.7",  # V's own: U's must go, V's stay
        "user_agent": "other-ide/2.0",
    }
    await js.publish_async("setting.changed", dumps(setting))
    file = copy.deepcopy(EXAMPLES["file.changed"]) | {
        "ip_address": "198.51.100.7",
        "user_agent": "other-ide/2.0",
        "tenant_id": str(tenant),
        "event_id": str(uuid.uuid4()),
        "user_id": str(V),
        "workspace_session_id": str(uuid.uuid4()),
    }
    await js.publish_async("file.changed", dumps(file))
    await js.publish_async_completed()
    broken = {"tenant_id": str(tenant), "user_id": str(U), "content": "no envelope"}
    await js.publish("message.sent", dumps(broken))  # dead-lettered, naming U
    return n + 3


async def _dlq_depth(js: Any) -> bool:
    return bool((await js.stream_info("DLQ")).state.messages == 1)


def raw_tenant_range(settings: Config, tenant: uuid.UUID) -> list[tuple[bytes, bytes]]:
    begin, end = Keys().tenant_range(tenant)
    db = settings.store_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT k, v FROM kv WHERE k >= ? AND k < ?", (begin, end)).fetchall()
    return [(bytes(k), bytes(v)) for k, v in rows]


def export(settings: Config, tenant: uuid.UUID, user: uuid.UUID, out: Path) -> dict[str, bytes]:
    done = workers(
        settings,
        "subject",
        "export",
        "--tenant",
        str(tenant),
        "--user",
        str(user),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".jsonl"}


async def test_an_erased_user_leaves_no_trace_the_trail_verifies_and_others_are_untouched(
    settings: Config,
    start_worker: Callable[..., Awaitable[Worker]],
    producer: Client,
    tmp_path: Path,
) -> None:
    worker = await start_worker(settings)
    tenant = uuid.uuid4()
    n = await publish_users(producer, tenant, extra=300)
    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied == n and stats.dead == 1, timeout=60, what="applied")
    js = producer.jetstream()
    await eventually(lambda: _dlq_depth(js), what="the dead letter naming U stored")
    private, public = write_key(tmp_path, "audit")
    keys = {"AUDIT_SIGNING_KEY_FILE": str(private), "AUDIT_PUBLIC_KEYS": str(public)}
    assert workers(settings, "audit", "seal", **keys).returncode == 0
    v_before = export(settings, tenant, V, tmp_path / "v-before")
    assert b"v says" in v_before["messages.jsonl"]

    erased = workers(
        settings, "subject", "erase", "--tenant", str(tenant), "--user", str(U), "--json", **keys
    )
    assert erased.returncode == 0, erased.stderr
    report = json.loads(erased.stdout)
    counts = report["counts"]
    assert {
        k: counts[k] for k in ("dead_letters", "conversations", "messages", "settings", "files")
    } == {"dead_letters": 1, "conversations": 1, "messages": 301, "settings": 1, "files": 1}
    assert counts["audit"] >= n - 3 and report["sealed"].startswith("sealed now")

    # nothing of U in the tenant's range: not the id (text or bytes), not what U wrote or sent
    rows = raw_tenant_range(settings, tenant)
    needles = (str(U).encode(), U.bytes, *(p.encode() for p in PERSONAL))
    found = [(k, needle) for k, v in rows for needle in needles if needle in k or needle in v]
    assert found == [], found[:5]

    check = workers(settings, "check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["clean"], check.stdout
    verify = workers(settings, "audit", "verify", "--tenant", str(tenant), **keys)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    u_after = export(settings, tenant, U, tmp_path / "u-after")
    assert {k: v for k, v in u_after.items() if v} == {"audit.jsonl": u_after["audit.jsonl"]}
    (receipt,) = [json.loads(line) for line in u_after["audit.jsonl"].splitlines()]
    assert receipt["event_type"] == "DataErased" and receipt["id"] == report["receipt"]
    assert receipt["event_data"]["counts"]["messages"] == 301
    assert export(settings, tenant, V, tmp_path / "v-after") == v_before  # byte for byte

    again = workers(
        settings, "subject", "erase", "--tenant", str(tenant), "--user", str(U), "--json", **keys
    )
    assert (
        json.loads(again.stdout)["already_erased"] and json.loads(again.stdout)["counts"] == counts
    )

    applied = stats.applied
    late = message_sent(tenant, CONVERSATION, user=U, content="I am back")
    await producer.jetstream().publish("message.sent", dumps(late))
    await eventually(lambda: stats.applied == applied + 1, what="the late event settled")
    dropped = workers(
        settings,
        "query",
        "audit",
        "--tenant",
        str(tenant),
        "--event-type",
        "ErasedUserEventDropped",
        "--json",
    )
    (record,) = json.loads(dropped.stdout)
    assert record["event_data"]["event_id"] == late["event_id"] and record["user_id"] is None
    assert not [1 for k, v in raw_tenant_range(settings, tenant) if str(U).encode() in k + v]


async def test_a_held_user_is_refused_and_nothing_changes(
    settings: Config,
    start_worker: Callable[..., Awaitable[Worker]],
    producer: Client,
    tmp_path: Path,
) -> None:
    worker = await start_worker(settings)
    tenant = uuid.uuid4()
    n = await publish_users(producer, tenant, extra=10)
    await eventually(lambda: worker.ingestor.stats.applied == n, timeout=60, what="applied")
    before = raw_tenant_range(settings, tenant)
    session = str(EXAMPLES["message.sent"]["workspace_session_id"])
    for hold in (["--user", str(U)], ["--session", session], []):
        added = workers(
            settings, "hold", "add", "--tenant", str(tenant), *hold, "--reason", "case 7"
        )
        assert added.returncode == 0, added.stderr
        refused = workers(settings, "subject", "erase", "--tenant", str(tenant), "--user", str(U))
        assert refused.returncode == 1
        assert (
            refused.stderr.startswith("error: ")
            and "is under a legal hold: nothing was erased" in refused.stderr
        )
        assert workers(settings, "hold", "remove", "--tenant", str(tenant), *hold).returncode == 0
    held_keys = {k for k, _ in raw_tenant_range(settings, tenant)} - {k for k, _ in before}
    assert held_keys == set()  # the holds came and went; nothing else changed
    assert raw_tenant_range(settings, tenant) == before


async def test_an_erasure_killed_midway_finishes_when_run_again_with_exact_counts(
    settings: Config,
    start_worker: Callable[..., Awaitable[Worker]],
    producer: Client,
) -> None:
    worker = await start_worker(settings)
    tenant, extra = uuid.uuid4(), 20_000
    n = await publish_users(producer, tenant, extra=extra)
    await eventually(lambda: worker.ingestor.stats.applied == n, timeout=180, what="applied")
    await worker.stop()
    env = {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "STORE_URL": settings.store_url,
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workers",
            "subject",
            "erase",
            "--tenant",
            str(tenant),
            "--user",
            str(U),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = SqliteStore(settings.store_url.removeprefix("sqlite:///"))
    repos = Repositories(Keys())
    try:

        async def midway() -> bool:
            erasure = await store.read(lambda tr: repos.erasures.get(tr, tenant, U))
            return erasure is not None and erasure.counts.get("messages", 0) >= 1000

        await eventually(midway, timeout=60, what="the erasure under way")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = await store.read(lambda tr: repos.erasures.get(tr, tenant, U))
        assert killed is not None and killed.finished_at is None, "finished before the kill"
        assert 0 < killed.counts["messages"] < extra + 1
    finally:
        await store.close()
        if proc.poll() is None:
            proc.kill()
    rerun = workers(
        settings, "subject", "erase", "--tenant", str(tenant), "--user", str(U), "--json"
    )
    assert rerun.returncode == 0, rerun.stderr
    report: dict[str, Any] = json.loads(rerun.stdout)
    assert not report["already_erased"]
    assert report["counts"]["messages"] == extra + 1 and report["counts"]["conversations"] == 1
    assert not [1 for k, v in raw_tenant_range(settings, tenant) if str(U).encode() in k + v]
    check = workers(settings, "check", "--json")
    assert json.loads(check.stdout)["clean"], check.stdout
    assert asyncio.get_running_loop() is not None


async def test_commits_that_fail_or_land_unseen_leave_the_counts_exact(
    settings: Config,
    start_worker: Callable[..., Awaitable[Worker]],
    producer: Client,
) -> None:
    """1021 (committed, yet reported failed: the step runs again) and 1020 (not committed) on
    the erasure's transactions: the receipt's counts are still exact, nothing is left."""
    worker = await start_worker(settings)
    tenant = uuid.uuid4()
    n = await publish_users(producer, tenant, extra=1000)
    await eventually(lambda: worker.ingestor.stats.applied == n, timeout=60, what="applied")
    faults = {"STORE_FAULTS": "1021:every:3,1020:every:7"}
    erased = workers(
        settings, "subject", "erase", "--tenant", str(tenant), "--user", str(U), "--json", **faults
    )
    assert erased.returncode == 0, erased.stderr
    assert "fault injected: 1021" in erased.stderr  # the faults did fire
    counts = json.loads(erased.stdout)["counts"]
    assert (counts["messages"], counts["conversations"], counts["settings"]) == (1001, 1, 1)
    assert not [1 for k, v in raw_tenant_range(settings, tenant) if str(U).encode() in k + v]
