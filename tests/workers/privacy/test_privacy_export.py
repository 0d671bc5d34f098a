"""`workers subject export`: a user's records, each kind a JSON Lines file, and a manifest whose
counts and SHA-256 match the files; nobody else's records; a folder in use refused."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from events.examples import EXAMPLES
from tests.helpers import cli, eventually
from tests.workers.ingest.events_factory import dumps, example_story, message_sent
from workers.config import Config
from workers.service.worker import Worker

USER = uuid.UUID(str(EXAMPLES["message.sent"]["user_id"]))
CONVERSATION = str(EXAMPLES["message.sent"]["conversation_id"])


async def publish_story(nc: Client, tenant: uuid.UUID) -> int:
    """The examples' story for `tenant` (one user), plus 1,200 more messages of the user's
    conversation (more than a page) and a conversation of another user."""
    js = nc.jetstream(publish_async_max_pending=2000)
    n = 0
    for subject, body in example_story(tenant):
        await js.publish(subject, dumps(body))
        n += 1
    for i in range(1200):
        body = message_sent(tenant, uuid.UUID(CONVERSATION), content=f"m{i}", user=USER)
        await js.publish_async("message.sent", dumps(body))
        n += 1
    other = message_sent(tenant, uuid.uuid4(), content="not theirs", user=uuid.uuid4())
    await js.publish_async("message.sent", dumps(other))
    await js.publish_async_completed()
    return n + 1


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_export_writes_every_kind_of_the_users_records_and_a_matching_manifest(
    settings: Config,
    start_worker: Callable[..., Awaitable[Worker]],
    producer: Client,
    tmp_path: Path,
) -> None:
    worker = await start_worker(settings)
    tenant = uuid.uuid4()
    n = await publish_story(producer, tenant)
    await eventually(lambda: worker.ingestor.stats.applied == n, timeout=60, what="applied")
    out = tmp_path / "export"
    who = ("--tenant", str(tenant), "--user", str(USER), "--out", str(out))
    done = cli(settings.nats_url, settings.store_url, "subject", "export", *who)
    assert done.returncode == 0, done.stderr
    assert "export: messages 1,000" in done.stderr  # the progress line, while it runs
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["tenant"], manifest["user"]) == (str(tenant), str(USER))
    for name, entry in manifest["files"].items():
        data = (out / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["records"] == len(data.splitlines()), name
    counts = {name: entry["records"] for name, entry in manifest["files"].items()}
    assert counts == {
        "conversations.jsonl": 1,
        "messages.jsonl": 1201,
        "files.jsonl": 1,
        "settings.jsonl": 1,
        "agents.jsonl": 1,
        "audit.jsonl": counts["audit.jsonl"],
    }
    assert counts["audit.jsonl"] >= n - 1  # each of U's events audited (the other user's not)
    messages = lines(out / "messages.jsonl")
    assert {m["conversation_id"] for m in messages} == {CONVERSATION}
    assert "not theirs" not in (out / "messages.jsonl").read_text()
    assert {a["user_id"] for a in lines(out / "audit.jsonl")} == {str(USER)}
    assert lines(out / "agents.jsonl")[0]["id"] == EXAMPLES["agent.configured"]["agent_id"]
    assert done.stdout.startswith(f"exported {sum(counts.values()):,} records of user {USER}")

    again = cli(settings.nats_url, settings.store_url, "subject", "export", *who)
    assert again.returncode == 2
    assert again.stderr == f"error: {out} is not an empty folder: give a new or empty one\n"
