"""Fuzzing the wire: hypothesis-made bodies, bad and good, published to a real worker at once.

Bad ones are bad by construction (random JSON without an `event_id`, wrong types, invalid UUIDs
and timestamps, strings past their limit, deep nesting, invalid UTF-8, lone surrogates, empty
and truncated bodies, arrays and scalars, subjects no producer may use); good ones are the
contract's examples with fresh ids, random content and random extra fields (which a producer
may add). Each hypothesis example publishes its whole batch in one go; then every bad body must
be in the DLQ with a reason, every good one applied, and the same worker still running.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from events.examples import EXAMPLES
from events.subjects import STREAM_DLQ, SUBJECT_MODELS
from tests.helpers import eventually
from workers.config import Config
from workers.nats.dead_letters import REASON, SUBJECT

AUDIT_SUBJECTS = sorted(s for s in SUBJECT_MODELS if s.startswith("audit."))
FAMILIES = sorted(s for s in EXAMPLES if not s.startswith("audit."))
ENVELOPE_REQUIRED = ("event_id", "tenant_id", "occurred_at", "source")
REQUIRED: dict[str, tuple[str, ...]] = {
    "message.sent": ("conversation_id", "message_id", "role", "content"),
    "file.changed": ("workspace_session_id", "change", "file_path"),
    "agent.executed": ("agent_id", "status"),
    "agent.configured": ("agent_id", "name", "agent_type"),
    "conversation.created": ("conversation_id",),
    "conversation.updated": ("conversation_id",),
    "setting.changed": ("user_id", "category", "key"),
    "audit": (),
}
UUID_FIELDS = ("event_id", "tenant_id")
REASONS = ("invalid ", "empty body", "unknown subject")  # how every dead letter's reason starts

Body = dict[str, Any]
Payload = tuple[str, bytes, str]  # subject, bytes, what kind of payload

# -- JSON values -----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)
not_a_string = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)  # accepts everything pydantic accepts as a UUID string, and more
    except ValueError:
        return False
    return True


bad_uuids = st.text(max_size=40).filter(lambda s: not _is_uuid(s))
# Not RFC 3339 with an offset (numeric strings have their own test below).
bad_timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),  # naive: no offset
    st.dates().map(lambda d: d.isoformat()),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz :-", min_size=0, max_size=25),
    st.sampled_from(["2026-13-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-01-01T25:00:00Z"]),
)

# -- valid events ----------------------------------------------------------------------------


def _subject_and_example(subject: str) -> tuple[str, Body]:
    family = "audit.user_login" if subject.startswith("audit.") else subject
    return subject, dict(EXAMPLES[family])


@st.composite
def valid_events(draw: st.DrawFn, tenant: uuid.UUID, rich: bool = True) -> tuple[str, Body]:
    """An example of the contract with a fresh tenant; `rich`: random content and extra fields."""
    subject, body = _subject_and_example(draw(st.sampled_from(FAMILIES + AUDIT_SUBJECTS)))
    body["tenant_id"] = str(tenant)
    if not rich:
        return subject, body
    if subject == "message.sent":
        body |= {"message_id": str(draw(st.uuids())), "content": draw(st.text(max_size=200))}
    model_fields = set(SUBJECT_MODELS[subject].model_fields)
    extra_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in model_fields)
    body |= draw(st.dictionaries(extra_keys, json_values, max_size=2))  # ignored, not refused
    return subject, body


def _valid(subject: str, body: Body) -> Payload:
    return subject, json.dumps(body, ensure_ascii=False).encode(), "valid"


# -- bad payloads ----------------------------------------------------------------------------


def _splice(body: Body, field: str, raw: bytes) -> bytes:
    """`body` as JSON with `field`'s value replaced by raw bytes (whatever they are)."""
    marker = "\ue000splice\ue000"
    text = json.dumps({**body, field: marker}, ensure_ascii=False).encode()
    return text.replace(json.dumps(marker, ensure_ascii=False).encode(), raw)


def _required(subject: str) -> tuple[str, ...]:
    return ENVELOPE_REQUIRED + REQUIRED["audit" if subject.startswith("audit.") else subject]


KINDS = (
    "random json object",
    "not an object",
    "wrong type",
    "missing field",
    "invalid uuid",
    "invalid timestamp",
    "huge string",
    "deep nesting",
    "invalid utf-8",
    "lone surrogate",
    "empty body",
    "truncated",
    "unknown subject",
)


@st.composite
def bad_payloads(draw: st.DrawFn, tenant: uuid.UUID, kind: str) -> Payload:
    subject, body = draw(valid_events(tenant, rich=False))
    field = draw(st.sampled_from(_required(subject)))
    if kind == "random json object":
        keys = st.text(max_size=12).filter(lambda k: k != "event_id")
        data = json.dumps(draw(st.dictionaries(keys, json_values, max_size=6))).encode()
    elif kind == "not an object":
        data = json.dumps(draw(st.one_of(scalars, st.lists(json_values, max_size=4)))).encode()
    elif kind == "wrong type":
        data = json.dumps({**body, field: draw(not_a_string)}).encode()
    elif kind == "missing field":
        data = json.dumps({k: v for k, v in body.items() if k != field}).encode()
    elif kind == "invalid uuid":
        data = json.dumps({**body, draw(st.sampled_from(UUID_FIELDS)): draw(bad_uuids)}).encode()
    elif kind == "invalid timestamp":
        data = json.dumps({**body, "occurred_at": draw(bad_timestamps)}).encode()
    elif kind == "huge string":  # `source` holds at most 64 characters
        size = draw(st.one_of(st.integers(65, 5000), st.sampled_from([100_001, 1_000_000])))
        data = json.dumps({**body, "source": "s" * size}).encode()
    elif kind == "deep nesting":
        depth = draw(st.one_of(st.integers(2, 200), st.sampled_from([1_000, 5_000, 100_000])))
        data = _splice(body, field, b"[" * depth + b"]" * depth)
    elif kind == "invalid utf-8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80", b"\xf8\x88"]))
        data = _splice(body, "source", b'"ide' + junk + b'"')
    elif kind == "lone surrogate":
        data = _splice(body, "source", b'"ide\\ud800"')
    elif kind == "empty body":
        data = draw(st.sampled_from([b"", b" ", b"\n"]))
    elif kind == "truncated":
        whole = json.dumps(body).encode()
        data = whole[: draw(st.integers(1, len(whole) - 1))]
    else:
        system = ["audit.data_purged", "audit.file_restored"]
        letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20)
        unknown = letters.map(lambda s: f"audit.{s}").filter(lambda s: s not in SUBJECT_MODELS)
        subject = draw(st.one_of(st.sampled_from(system), unknown))
        data = json.dumps(body).encode()
    return subject, data, kind


class Batch(list[Payload]):
    """A drawn batch; its repr (what hypothesis prints for a failing example) stays short."""

    def __repr__(self) -> str:
        kinds = Counter(kind for _, _, kind in self)
        return f"Batch({len(self)} bodies: {dict(sorted(kinds.items()))})"


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """Every kind of bad body (2 to 4 of each) among 25 to 50 valid events, shuffled."""
    tenant = draw(st.uuids())
    bad = [
        p for k in KINDS for p in draw(st.lists(bad_payloads(tenant, k), min_size=2, max_size=4))
    ]
    events = draw(st.lists(valid_events(tenant), min_size=25, max_size=50))
    ids = draw(st.lists(st.uuids(), min_size=len(events), max_size=len(events), unique=True))
    good = [_valid(s, {**b, "event_id": str(i)}) for (s, b), i in zip(events, ids, strict=True)]
    return Batch(draw(st.permutations(bad + good)))


# -- the test --------------------------------------------------------------------------------


async def _dead_letters(producer: Client, first_seq: int) -> list[tuple[bytes, dict[str, str]]]:
    js = producer.jetstream()
    last = (await js.stream_info(STREAM_DLQ)).state.last_seq
    letters = []
    for seq in range(first_seq, last + 1):
        msg = await js.get_msg(STREAM_DLQ, seq)
        # nats-py parses headers with `email`: a non-ASCII value comes back as a `Header`
        letters.append((msg.data or b"", {k: str(v) for k, v in (msg.headers or {}).items()}))
    return letters


@pytest.fixture
async def fuzz_worker(settings: Config, start_worker: Any) -> Any:
    return await start_worker(settings)


@settings(
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a NATS round trip per run: no shrink
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(batch=batches())
async def test_fuzzed_bodies_are_dead_lettered_and_valid_ones_applied_by_one_worker(
    batch: Batch,
    fuzz_worker: Any,
    producer: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = fuzz_worker
    caplog.set_level(logging.ERROR)
    js = producer.jetstream(publish_async_max_pending=1000)
    stats = worker.ingestor.stats
    before = (stats.applied, stats.dead, stats.duplicates, stats.retried)
    first_letter = (await js.stream_info(STREAM_DLQ)).state.last_seq + 1

    for subject, data, _ in batch:  # all at once: one NATS round trip per batch, not per body
        await js.publish_async(subject, data)
    await js.publish_async_completed()

    bad = [(s, d) for s, d, kind in batch if kind != "valid"]
    good = [(s, d) for s, d, kind in batch if kind == "valid"]

    async def settled() -> bool:
        now = (stats.applied, stats.dead, stats.duplicates, stats.retried)
        letters = (await js.stream_info(STREAM_DLQ)).state.last_seq - first_letter + 1
        return sum(now) - sum(before) >= len(batch) and letters >= len(bad)

    await eventually(settled, timeout=30, what="every body applied or dead-lettered")
    await eventually(lambda: not worker.consumer._tasks, what="the last batch settled")
    kinds = Counter(kind for _, _, kind in batch)
    print(f"\nfuzz: {len(batch)} bodies, {len(bad)} bad -> DLQ, {len(good)} valid -> applied")
    print(f"fuzz: by kind {dict(sorted(kinds.items()))}")

    letters = await _dead_letters(producer, first_letter)
    dead = Counter((h.get(SUBJECT, ""), data) for data, h in letters)
    unexpected, missing = (
        list((dead - Counter(bad)).elements()),
        list((Counter(bad) - dead).elements()),
    )
    assert not unexpected and not missing, (
        f"DLQ: {len(unexpected)} unexpected letters {_show(unexpected)}, "
        f"{len(missing)} bad bodies missing {_show(missing)}"
    )
    for data, headers in letters:
        assert headers.get(REASON, "").startswith(REASONS), (headers, data[:200])
    assert stats.dead - before[1] == len(bad)
    assert stats.applied - before[0] == len(good)
    assert stats.duplicates == before[2] and stats.retried == before[3]

    def all_marked(tr: Any) -> list[bool]:
        pairs = [(uuid.UUID(b["tenant_id"]), uuid.UUID(b["event_id"])) for b in _bodies(good)]
        return worker.ingestor.repos.applied.applied(tr, pairs)

    assert all(await worker.store.transact(all_marked))
    assert all(s.running for s in worker.broker.subscribers), "a subscriber stopped"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_deeply_nested_body_is_dead_lettered_and_its_batch_mates_applied(
    fuzz_worker: Any, producer: Client
) -> None:
    worker, js, tenant = fuzz_worker, producer.jetstream(), uuid.uuid4()
    _, login = _subject_and_example("audit.user_login")
    _, message = _subject_and_example("message.sent")
    deep = _splice(message, "tenant_id", b"[" * 5_000 + b"]" * 5_000)
    goods = [{**login, "event_id": str(uuid.uuid4()), "tenant_id": str(tenant)} for _ in range(4)]
    await js.publish("audit.user_login", json.dumps(goods[0]).encode())
    await js.publish("message.sent", deep)
    for body in goods[1:]:
        await js.publish("audit.user_login", json.dumps(body).encode())

    async def dead_lettered() -> bool:
        return (await js.stream_info(STREAM_DLQ)).state.messages == 1

    await eventually(dead_lettered, timeout=20, what="the deep body in the DLQ")
    await eventually(lambda: worker.ingestor.stats.applied == 4, what="its batch-mates applied")


def _show(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(subject, data[:300]) for subject, data in items[:3]]


def _bodies(good: list[tuple[str, bytes]]) -> list[Body]:
    return [json.loads(d) for _, d in good]


async def test_a_numeric_string_timestamp_is_dead_lettered() -> None:
    from workers.ingest.core import decode
    from workers.ingest.outcomes import Incoming

    body = {**EXAMPLES["message.sent"], "occurred_at": "1700000000"}
    assert isinstance(decode(Incoming("message.sent", json.dumps(body).encode())), str)


async def test_a_dead_letter_with_a_non_ascii_reason_reads_back_as_text(
    fuzz_worker: Any, producer: Client
) -> None:
    from workers.nats import dead_letters as dlq

    js = producer.jetstream()
    body = {**EXAMPLES["message.sent"], "tenant_id": "café"}
    await js.publish("message.sent", json.dumps(body, ensure_ascii=False).encode())

    async def dead_lettered() -> bool:
        return (await js.stream_info(STREAM_DLQ)).state.messages == 1

    await eventually(dead_lettered, what="the letter")
    letter = await dlq.get(producer, 1)
    assert letter is not None
    json.dumps(letter.summary())  # what `python -m workers dlq list --json` prints
    # headers are ASCII: the reason names the character escaped, readable and JSON-safe
    assert isinstance(letter.reason, str) and "\\xe9" in letter.reason
