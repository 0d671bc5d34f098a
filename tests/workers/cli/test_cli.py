"""The command line, as a user runs it: `python -m workers …` against a real NATS and store."""

from __future__ import annotations

import json
import uuid

from nats.aio.client import Client

from tests.helpers import eventually
from tests.workers.cli.cli_support import workers
from tests.workers.ingest.events_factory import dumps, message_sent
from workers.config import Config


def cli(settings: Config, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return workers(*args, nats=settings.nats_url, store=settings.store_url, stdin=stdin)


async def test_demo_burst_can_be_published_queried_checked_and_seen_in_status(
    settings: Config, start_worker
) -> None:
    worker = await start_worker(settings)
    published = cli(settings, "publish", "--demo")
    assert published.code == 0, published.err
    assert published.lines()[0] == (
        f"published 41 events to {settings.nats_url}: 41 stored, 0 duplicates (stored before), "
        "0 failed"
    )
    tenant = published.out.split("demo tenant: ")[1].split()[0]
    await eventually(lambda: worker.ingestor.stats.applied == 41, what="the demo applied")

    convs = json.loads(cli(settings, "query", "conversation", "--tenant", tenant, "--json").out)
    assert len(convs) == 3 and all(c["message_count"] == 8 for c in convs)
    messages = cli(
        settings, "query", "messages", "--tenant", tenant, "--conversation", convs[0]["id"],
        "--offset", "2", "--limit", "3",
    )  # fmt: skip
    assert (messages.code, len(messages.lines()), messages.err) == (0, 3, "(3 messages)\n")
    sent = cli(
        settings, "query", "audit", "--tenant", tenant, "--event-type", "message_sent",
        "--since", "1h", "--json",
    )  # fmt: skip
    assert {a["event_type"] for a in json.loads(sent.out)} == {"MessageSent"}
    missing = cli(settings, "query", "agent", "--tenant", tenant, "--id", str(uuid.uuid4()))
    assert (missing.code, missing.err.startswith("error: agent ")) == (1, True)
    assert missing.err.endswith(" not found\n")

    status: dict = {}  # type: ignore[type-arg]

    def acked() -> bool:  # acks follow the commits, asynchronously
        status.update(json.loads(cli(settings, "status", "--json").out))
        return {c["pending"] + c["ack_pending"] for c in status["nats"]["consumers"]} == {0}

    await eventually(acked, what="every event acked, as `status` shows it")
    assert {s["name"]: s["messages"] for s in status["nats"]["streams"]} == {"EVENTS": 41, "DLQ": 0}
    assert len(status["nats"]["consumers"]) == 6 and status["nats"]["dlq_depth"] == 0
    [seen] = status["store"]["tenants"]
    assert seen["tenant"] == tenant and seen["last_event_at"] is not None
    assert seen["records"] == {
        "conversations": 3, "messages": 24, "audit": 41, "files": 4, "agents": 1, "settings": 1,
    }  # fmt: skip
    assert status["store"]["bytes"] > 0 and set(status["scheduler"]) == {"files", "audit", "dedupe"}
    listed = json.loads(cli(settings, "tenants", "list", "--json").out)
    assert [t.pop("credentials") for t in listed] == [[]]  # single-tenant mode: none issued
    assert listed == status["store"]["tenants"]

    check = cli(settings, "check")
    assert (check.code, check.out) == (
        0, "1 tenant, 74 records, 164 index entries: clean\n"
    ), check.err  # fmt: skip
    assert "checking: 1 tenant" in check.err  # progress


async def test_a_rejected_publish_fails_and_a_duplicate_is_counted_as_one(
    settings: Config, start_worker
) -> None:
    """An event no stream takes is not "published": exit 1 with the reason. An event sent
    again is dropped by JetStream's duplicate window, and said to be."""
    await start_worker(settings)  # the streams
    good = json.dumps({**message_sent(uuid.uuid4(), uuid.uuid4()), "subject": "message.sent"})
    lost = json.dumps({"subject": "mesage.sent", "event_id": str(uuid.uuid4())})
    first = cli(settings, "publish", "-", stdin=f"{good}\n{lost}\n")
    assert (first.code, first.out, first.err) == (
        1,
        f"published 2 events to {settings.nats_url}: 1 stored, 0 duplicates (stored before), "
        "1 failed\n",
        "error: 1 event not stored: no stream takes subject 'mesage.sent'\n",
    )
    again = cli(settings, "publish", "-", stdin=good)
    assert (again.code, again.out) == (
        0,
        f"published 1 event to {settings.nats_url}: 0 stored, 1 duplicate (stored before), "
        "0 failed\n",
    )


async def test_dead_letters_can_be_listed_shown_replayed_and_discarded(
    settings: Config, start_worker, producer: Client
) -> None:
    worker = await start_worker(settings)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    broken = dumps(message_sent(tenant, conv) | {"role": "robot"})
    await producer.jetstream().publish("message.sent", broken)
    await producer.jetstream().publish("message.sent", b"\xff not utf-8")
    await eventually(lambda: worker.ingestor.stats.dead == 2, what="two dead letters")

    listed = json.loads(cli(settings, "dlq", "list", "--json").out)
    assert [(x["subject"], x["deliveries"]) for x in listed] == [("message.sent", 1)] * 2
    first, second = listed[0]["seq"], listed[1]["seq"]
    shown = json.loads(cli(settings, "dlq", "show", str(first), "--json").out)
    assert shown["body"] == broken.decode() and isinstance(shown["stream_seq"], int)

    for action in ("show", "replay", "discard"):  # the same words whatever the action
        absent = cli(settings, "dlq", action, "999", str(first))
        assert (absent.code, absent.out) == (1, ""), action
        assert absent.err == "error: dead letter 999 not found (`dlq list` shows the DLQ)\n"

    replayed = cli(settings, "dlq", "replay", str(first))
    assert (replayed.code, replayed.out) == (0, f"replayed {first} to message.sent\n")
    await eventually(lambda: worker.ingestor.stats.dead == 3, what="the replay dead-lettered again")
    discarded = cli(settings, "dlq", "discard", "--all")
    assert discarded.code == 0 and f"discarded {second} (message.sent)" in discarded.lines()
    assert discarded.err == "1 letter named no tenant: discarded without an audit record\n"
    assert cli(settings, "dlq", "list").err == "(0 dead letters)\n"
    receipts = cli(
        settings,
        "query",
        "audit",
        "--tenant",
        str(tenant),
        "--event-type",
        "DataDiscarded",
        "--json",
    )
    [receipt] = json.loads(receipts.out)  # the broken message's letter, discarded after replay
    assert receipt["event_data"]["rule"] == "dlq_discard"


async def test_publish_reads_json_lines_from_stdin_and_sends_broken_lines_on_subject(
    settings: Config, start_worker
) -> None:
    worker = await start_worker(settings)
    tenant, conv = uuid.uuid4(), uuid.uuid4()
    good = {**message_sent(tenant, conv), "subject": "message.sent"}
    lines = json.dumps(good) + "\n\n{not json\n"
    result = cli(settings, "publish", "-", "--subject", "message.sent", stdin=lines)
    assert result.code == 0, result.err
    await eventually(
        lambda: (worker.ingestor.stats.applied, worker.ingestor.stats.dead) == (1, 1),
        what="one applied and one dead-lettered",
    )
