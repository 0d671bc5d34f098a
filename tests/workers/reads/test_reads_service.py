"""The reads service on a real nats-server, over records real events wrote through a worker:
every endpoint answers, pages come back each record once and in order, another tenant's record
is not found, a malformed request is a 400 with the reason, `$SRV.INFO` lists every endpoint
with its schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from events.examples import EXAMPLES
from tests.helpers import eventually
from tests.workers.ingest.events_factory import dumps, example_story, message_sent
from workers.config import Config
from workers.reads.api import ENDPOINTS
from workers.reads.service import ReadService
from workers.service.wiring import open_configured_store, repositories
from workers.service.worker import Worker
from workers.store.sqlite import SqliteStore

USER = uuid.UUID(str(EXAMPLES["message.sent"]["user_id"]))
SESSION = uuid.UUID(str(EXAMPLES["message.sent"]["workspace_session_id"]))
CONVERSATION = uuid.UUID(str(EXAMPLES["message.sent"]["conversation_id"]))
AGENT = uuid.UUID(str(EXAMPLES["agent.configured"]["agent_id"]))
SETTING = EXAMPLES["setting.changed"]


class Reads:
    """A client of the service, as the IDE would be: plain nats-py requests."""

    def __init__(self, nc: Client, tenant: uuid.UUID | None) -> None:
        self.nc, self.tenant = nc, tenant

    async def raw(self, endpoint: str, data: bytes) -> tuple[dict[str, str], Any]:
        msg = await self.nc.request(f"reads.{endpoint}", data, timeout=10)
        headers = msg.headers or {}
        return headers, json.loads(msg.data) if msg.data else None

    async def ask(self, endpoint: str, **fields: Any) -> Any:
        body = {"tenant": str(self.tenant)} if self.tenant else {}
        headers, answer = await self.raw(endpoint, json.dumps(body | fields, default=str).encode())
        assert "Nats-Service-Error-Code" not in headers, headers
        return answer

    async def error(self, endpoint: str, **fields: Any) -> tuple[str, str]:
        body = {"tenant": str(self.tenant)} if self.tenant else {}
        headers, _ = await self.raw(endpoint, json.dumps(body | fields, default=str).encode())
        return headers["Nats-Service-Error-Code"], headers["Nats-Service-Error"]


async def publish_story(nc: Client, tenant: uuid.UUID) -> list[dict[str, Any]]:
    """The examples' story (login, agent, conversation, message, run, file, setting) for
    `tenant`, then the file deleted: what the IDE, the agent runtime and the file-monitor send."""
    js = nc.jetstream()
    story = example_story(tenant)
    for subject, body in story:
        await js.publish(subject, dumps(body))
    deleted = dict(next(b for subject, b in story if subject == "file.changed")) | {
        "event_id": str(uuid.uuid4()),
        "change": "deleted",
        "occurred_at": "2025-11-26T10:00:00.000Z",
    }
    for field in ("file_size", "checksum", "mime_type"):
        deleted.pop(field, None)
    await js.publish("file.changed", dumps(deleted))
    return [*(body for _, body in story), deleted]


@pytest.fixture
async def serving(
    settings: Config, start_worker: Callable[..., Awaitable[Worker]]
) -> AsyncIterator[tuple[Worker, ReadService, Client]]:
    worker = await start_worker(settings)
    store = open_configured_store(settings)  # its own, as `serve-reads` has
    service = ReadService(settings, store, repositories(settings))
    nc = await nats.connect(settings.nats_url)
    await service.start(nc)
    yield worker, service, nc
    await service.stop()
    await nc.close()
    await store.close()


async def test_every_endpoint_answers_from_records_real_events_wrote(
    serving: tuple[Worker, ReadService, Client], producer: Client
) -> None:
    worker, _, nc = serving
    tenant = uuid.uuid4()
    sent = await publish_story(producer, tenant)
    await eventually(lambda: worker.ingestor.stats.applied == len(sent), what="the story applied")
    reads = Reads(nc, tenant)

    conversation = await reads.ask("conversation.get", id=CONVERSATION)
    assert conversation["id"] == str(CONVERSATION)
    assert conversation["title"] == EXAMPLES["conversation.updated"]["title"]
    assert [
        c["id"] for c in (await reads.ask("conversation.by_session", session=SESSION))["items"]
    ] == [str(CONVERSATION)]
    assert [c["id"] for c in (await reads.ask("conversation.by_user", user=USER))["items"]] == [
        str(CONVERSATION)
    ]

    messages = (await reads.ask("messages.list", conversation=CONVERSATION))["items"]
    assert [m["content"] for m in messages] == [EXAMPLES["message.sent"]["content"]]
    assert (await reads.ask("messages.get", id=messages[0]["id"]))["id"] == messages[0]["id"]
    count = await reads.ask("messages.token_count", conversation=CONVERSATION)
    assert count == {
        "conversation": str(CONVERSATION),
        "messages": 1,
        "tokens": EXAMPLES["message.sent"]["token_count"],
    }

    trail = (await reads.ask("audit.by_user", user=USER, limit=100))["items"]
    assert {a["event_type"] for a in trail} >= {"UserLogin", "MessageSent", "ConversationCreated"}
    logins = (await reads.ask("audit.by_event_type", event_type="UserLogin"))["items"]
    assert [a["event_type"] for a in logins] == ["UserLogin"]
    window = await reads.ask(
        "audit.by_date", since="2025-11-26T09:00:00Z", until="2025-11-26T09:29:00Z"
    )
    assert {a["event_type"] for a in window["items"]} == {"UserLogin", "AgentConfigured"}
    assert (await reads.ask("audit.get", id=logins[0]["id"]))["id"] == logins[0]["id"]

    path = EXAMPLES["file.changed"]["file_path"]
    assert (await reads.ask("files.by_session", session=SESSION))["items"] == []  # deleted
    (gone,) = (await reads.ask("files.by_session", session=SESSION, include_deleted=True))["items"]
    assert (gone["file_path"], gone["is_deleted"]) == (path, True)
    code, reason = await reads.error("files.by_path", session=SESSION, path=path)
    assert (code, reason) == ("404", f"file {path} not found")
    assert (await reads.ask("files.by_path", session=SESSION, path=path, include_deleted=True))[
        "id"
    ] == gone["id"]
    assert (await reads.ask("files.get", id=gone["id"], include_deleted=True))["id"] == gone["id"]
    status = await reads.ask("files.restore_status", id=gone["id"])
    assert status["is_deleted"] and status["restorable"] and not status["held"]
    assert status["purge_after"] is not None and status["reason"] is None

    agents = (await reads.ask("agents.by_tenant"))["items"]
    assert [a["id"] for a in agents] == [str(AGENT)]
    typed = await reads.ask("agents.by_type", type=EXAMPLES["agent.configured"]["agent_type"])
    assert [a["id"] for a in typed["items"]] == [str(AGENT)]
    assert (await reads.ask("agents.get", id=AGENT))["name"] == EXAMPLES["agent.configured"]["name"]

    one = await reads.ask(
        "settings.get", user=USER, category=SETTING["category"], key=SETTING["key"]
    )
    assert one["value"] == SETTING["value"]
    assert [s["key"] for s in (await reads.ask("settings.get_all", user=USER))["items"]] == [
        SETTING["key"]
    ]
    by_category = await reads.ask("settings.by_category", category=SETTING["category"])
    assert [s["key"] for s in by_category["items"]] == [SETTING["key"]]
    # every endpoint the service declares was asked above
    asked = {e.name for e in ENDPOINTS}
    assert len(asked) == 20


async def test_paging_through_10000_messages_returns_each_once_in_order(
    serving: tuple[Worker, ReadService, Client], producer: Client
) -> None:
    worker, _, nc = serving
    tenant, conversation, n = uuid.uuid4(), uuid.uuid4(), 10_000
    js = producer.jetstream(publish_async_max_pending=2000)
    sent = []
    for i in range(n):
        body = message_sent(tenant, conversation, content=f"m{i}", tokens=1)
        sent.append(body["message_id"])
        await js.publish_async("message.sent", dumps(body))
    await js.publish_async_completed()
    await eventually(lambda: worker.ingestor.stats.applied == n, timeout=120, what="all applied")
    reads = Reads(nc, tenant)
    seen: list[str] = []
    after = None
    while True:
        page = await reads.ask("messages.list", conversation=conversation, limit=50, after=after)
        assert len(page["items"]) <= 50
        seen += [m["id"] for m in page["items"]]
        after = page["next"]
        if after is None:
            break
    messages = worker.ingestor.repos.messages
    stored: list[str] = []
    token = None
    while True:  # the repository's own walk, in its pages
        page = await worker.store.read(
            lambda tr: messages.list_by_conversation(tr, tenant, conversation, 0, 1000, token)
        )
        stored += [str(m.id) for m in page.items]
        if (token := page.next) is None:
            break
    assert seen == stored  # the repository's order, each once
    assert sorted(seen) == sorted(str(m) for m in sent)
    assert len(set(seen)) == n
    offset = await reads.ask("messages.list", conversation=conversation, offset=9_990, limit=50)
    assert [m["id"] for m in offset["items"]] == seen[9_990:]


async def test_another_tenants_record_is_not_found_and_bad_requests_say_why(
    serving: tuple[Worker, ReadService, Client], producer: Client
) -> None:
    worker, _, nc = serving
    theirs = uuid.uuid4()
    sent = await publish_story(producer, theirs)
    await eventually(lambda: worker.ingestor.stats.applied == len(sent), what="applied")
    mine = Reads(nc, uuid.uuid4())
    assert await mine.error("conversation.get", id=CONVERSATION) == (
        "404",
        f"conversation {CONVERSATION} not found",
    )
    assert (await mine.ask("messages.list", conversation=CONVERSATION))["items"] == []
    assert (await mine.error("agents.get", id=AGENT))[0] == "404"

    code, reason = await mine.error("messages.list", conversation="not-a-uuid")
    assert code == "400" and reason.startswith(
        "bad request: conversation: Input should be a valid UUID"
    )
    code, reason = await mine.error("messages.list", conversation=CONVERSATION, limit=0)
    assert (code, reason) == (
        "400",
        "bad request: limit: Input should be greater than or equal to 1",
    )
    code, reason = await mine.error("conversation.get", id=CONVERSATION, title="x")
    assert (code, reason) == ("400", "bad request: title: Extra inputs are not permitted")
    code, reason = await mine.error("messages.list", conversation=CONVERSATION, after="forged")
    assert code == "400" and "does not belong to this query" in reason
    headers, _ = await mine.raw("messages.list", b"{not json")
    assert headers["Nats-Service-Error-Code"] == "400"
    assert headers["Nats-Service-Error"].startswith("bad request: body: Invalid JSON")
    no_tenant = Reads(nc, None)
    assert await no_tenant.error("conversation.get", id=CONVERSATION) == (
        "400",
        "bad request: tenant: Field required",
    )


async def test_srv_info_lists_every_endpoint_with_its_schemas(
    serving: tuple[Worker, ReadService, Client],
) -> None:
    _, _, nc = serving
    info = json.loads((await nc.request("$SRV.INFO.reads", b"", timeout=5)).data)
    assert info["name"] == "reads"
    by_subject = {e["subject"]: e for e in info["endpoints"]}
    assert set(by_subject) == {f"reads.{e.name}" for e in ENDPOINTS}
    for endpoint in ENDPOINTS:
        meta = by_subject[f"reads.{endpoint.name}"]["metadata"]
        request = json.loads(meta["request_schema"])
        assert request == endpoint.request.model_json_schema()
        assert json.loads(meta["response_schema"])  # a schema, or what the record is
    assert json.loads((await nc.request("$SRV.PING.reads", b"", timeout=5)).data)["name"] == "reads"


async def test_limits_a_tiny_deadline_answers_504_and_a_failing_store_503(
    settings: Config, start_worker: Callable[..., Awaitable[Worker]], tmp_path: Path
) -> None:
    await start_worker(settings)
    nc = await nats.connect(settings.nats_url)
    store = open_configured_store(settings)
    slow = settings.model_copy(update={"reads_deadline_s": 1e-9})
    # a real SQLite store on which every transaction is already too old (1007), never retried
    failing = SqliteStore(tmp_path / "store.db", timeout_s=1e-9, max_retries=0)
    services = [
        ReadService(slow, store, repositories(settings)),
        ReadService(settings, failing, repositories(settings)),
    ]
    try:
        reads = Reads(nc, uuid.uuid4())
        await services[0].start(nc)
        code, reason = await reads.error("agents.by_tenant")
        assert code == "504" and "READS_DEADLINE_S (1e-09 s)" in reason
        await services[0].stop()
        await services[1].start(nc)
        code, reason = await reads.error("agents.by_tenant")
        assert (code, reason.split(":")[0]) == ("503", "store unavailable")
        assert "1007" in reason
    finally:
        for service in services:
            await service.stop()
        await nc.close()
        await store.close()
        await failing.close()
