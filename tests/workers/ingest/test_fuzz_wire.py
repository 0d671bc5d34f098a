"""Fuzzing the wire: hypothesis-made bodies and subjects, bad and good, against a real worker.

Bad ones are bad by construction (random JSON without an `event_id`, wrong types, invalid UUIDs
and timestamps, strings past their limit, deep nesting, invalid UTF-8 anywhere in a body, lone
surrogate escapes, empty and blank bodies, truncated bodies, arrays and scalars, subjects no
producer may use); good ones are the contract's examples with fresh ids, random content and
random extra fields (which a producer may add).

The decoding properties run hundreds of examples without NATS. The wire tests share one
nats-server and one worker per test: each hypothesis example publishes its whole batch at once,
then every bad body must be in the DLQ with its reason, every good one applied, and the same
worker still running. Shrinking is on: a failing batch shrinks to the body that breaks it.
"""

from __future__ import annotations

import json
import logging
import string
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.js.errors import NoStreamResponseError

from events.audit_types import SYSTEM_AUDIT_TYPES
from events.examples import EXAMPLES
from events.subjects import (
    DLQ_SUBJECT_PREFIX,
    EVENT_SUBJECTS,
    FAMILIES,
    STREAM_DLQ,
    STREAM_EVENTS,
    SUBJECT_MODELS,
    audit_subject,
)
from tests.helpers import eventually, matches
from workers.config import Config
from workers.ingest.core import decode
from workers.ingest.outcomes import Incoming
from workers.nats.dead_letters import REASON, SUBJECT
from workers.nats.subscribers import durable_name

AUDIT_SUBJECTS = sorted(s for s in SUBJECT_MODELS if s.startswith("audit."))
EVENT_FAMILIES = sorted(s for s in EXAMPLES if not s.startswith("audit."))
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


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


bad_uuids = st.text(max_size=40).filter(lambda s: not _is_uuid(s))
# Not RFC 3339 with an offset (numeric strings have their own test below).
bad_timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),  # naive: no offset
    st.dates().map(lambda d: d.isoformat()),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz :-", min_size=0, max_size=25),
    st.sampled_from(["2026-13-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-01-01T25:00:00Z"]),
)

# -- invalid UTF-8, lone surrogates, blank bodies, unknown subjects --------------------------

_continuation = st.integers(0x80, 0xBF)
invalid_utf8_sequences = st.one_of(
    _continuation.map(lambda b: bytes([b])),  # a continuation byte with no lead
    st.integers(0xF5, 0xFF).map(lambda b: bytes([b])),  # bytes UTF-8 never uses
    st.tuples(st.sampled_from([0xC0, 0xC1]), _continuation).map(bytes),  # overlong, 2 bytes
    st.tuples(st.just(0xE0), st.integers(0x80, 0x9F), _continuation).map(bytes),  # 3 bytes
    st.tuples(st.just(0xF0), st.integers(0x80, 0x8F), _continuation, _continuation).map(bytes),
    st.tuples(st.just(0xF4), st.integers(0x90, 0xBF), _continuation, _continuation).map(bytes),
    st.integers(0xD800, 0xDFFF).map(lambda c: chr(c).encode("utf-8", "surrogatepass")),
    st.characters(min_codepoint=0x80, exclude_categories=("Cs",)).flatmap(
        lambda c: st.integers(1, len(c.encode()) - 1).map(lambda n: c.encode()[:n])  # cut short
    ),
    st.binary(min_size=1, max_size=8).filter(lambda b: not _is_utf8(b)),
)
"""Byte sequences no UTF-8 text contains, whatever valid text surrounds them."""


def _json_inner(text: str, ascii_only: bool) -> bytes:
    """`text` as it appears between the quotes of a JSON string."""
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1].encode()


string_parts = st.builds(_json_inner, st.text(max_size=8), st.booleans())


@st.composite
def lone_surrogate_literals(draw: st.DrawFn) -> bytes:
    """A JSON string literal with a `\\uXXXX` surrogate escape that has no partner: a high one
    not followed by a low one, or a low one alone (the text around it pairs its own)."""
    code = draw(st.integers(0xD800, 0xDFFF))
    escape = (f"\\u{code:04x}" if draw(st.booleans()) else f"\\u{code:04X}").encode()
    literal = b'"' + draw(string_parts) + escape + draw(string_parts) + b'"'
    assert _has_lone_surrogate(json.loads(literal)), literal
    return literal


blank_bodies = st.text(alphabet=" \t\r\n", max_size=40).map(str.encode)
"""Empty, or nothing but JSON whitespace."""

subject_tokens = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1)
SYSTEM_SUBJECTS = sorted(audit_subject(t) for t in SYSTEM_AUDIT_TYPES)
FAMILY_PREFIXES = sorted({s.split(".")[0] for f in FAMILIES for s in f.subjects})


def stream_takes(subject: str) -> bool:
    """Whether stream EVENTS stores a message published on `subject`."""
    return any(matches(subject, pattern) for pattern in EVENT_SUBJECTS)


unknown_subjects = st.one_of(
    st.sampled_from(SYSTEM_SUBJECTS),  # audit types only the system writes
    st.tuples(st.sampled_from(FAMILY_PREFIXES), subject_tokens).map(".".join),  # a family's
    st.tuples(st.sampled_from(sorted(SUBJECT_MODELS)), subject_tokens).map(".".join),  # deeper
    st.lists(subject_tokens, min_size=1, max_size=3).map(".".join),  # outside every family
).filter(lambda s: s not in SUBJECT_MODELS and s.split(".")[0] != DLQ_SUBJECT_PREFIX)
"""Subjects no producer may use: in every family, below a known subject, and outside them."""

# -- valid events ----------------------------------------------------------------------------


def _subject_and_example(subject: str) -> tuple[str, Body]:
    family = "audit.user_login" if subject.startswith("audit.") else subject
    return subject, dict(EXAMPLES[family])


@st.composite
def valid_events(draw: st.DrawFn, tenant: uuid.UUID, rich: bool = True) -> tuple[str, Body]:
    """An example of the contract with a fresh tenant; `rich`: random content and extra fields."""
    subject, body = _subject_and_example(draw(st.sampled_from(EVENT_FAMILIES + AUDIT_SUBJECTS)))
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

MARKER = "\ue000splice\ue000"


def _splice(body: Body, field: str, raw: bytes) -> bytes:
    """`body` as JSON with `field`'s value replaced by raw bytes (whatever they are)."""
    return _spliced({**body, field: MARKER}, raw)


def _spliced(body: Body, raw: bytes) -> bytes:
    """`body` as JSON with the string MARKER (a value or a key) replaced by raw bytes."""
    text = json.dumps(body, ensure_ascii=False).encode()
    return text.replace(json.dumps(MARKER, ensure_ascii=False).encode(), raw)


def _required(subject: str) -> tuple[str, ...]:
    return ENVELOPE_REQUIRED + REQUIRED["audit" if subject.startswith("audit.") else subject]


@st.composite
def in_a_string(draw: st.DrawFn, subject: str, body: Body, literal: bytes) -> bytes:
    """`body` with a JSON string `literal` as a required field's value, as an ignored extra
    field's value, or as an extra field's key."""
    where = draw(st.sampled_from(["required value", "extra value", "extra key"]))
    if where == "required value":
        return _splice(body, draw(st.sampled_from(_required(subject))), literal)
    if where == "extra value":
        return _splice(body, "x-" + draw(subject_tokens), literal)
    return _spliced({**body, MARKER: draw(scalars)}, literal)


@st.composite
def invalid_utf8_bodies(draw: st.DrawFn, subject: str, body: Body) -> bytes:
    """Invalid UTF-8 inside a string of an otherwise valid event, or anywhere in bytes."""
    junk = draw(invalid_utf8_sequences)
    if draw(st.booleans()):
        literal = b'"' + draw(string_parts) + junk + draw(string_parts) + b'"'
        data = draw(in_a_string(subject, body, literal))
    else:
        around = st.tuples(st.binary(max_size=40), st.binary(max_size=40))
        # random bytes may complete a sequence cut short: keep only what stays invalid
        data = draw(around.map(lambda t: t[0] + junk + t[1]).filter(lambda d: not _is_utf8(d)))
    assert not _is_utf8(data), data
    return data


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
    "blank body",
    "truncated",
    "unknown subject",
)


@st.composite
def bad_payloads(
    draw: st.DrawFn,
    tenant: uuid.UUID,
    kind: str,
    subjects: st.SearchStrategy[str] = unknown_subjects,
) -> Payload:
    """A body of `kind`, bad by construction; an unknown subject is drawn from `subjects`."""
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
        data = draw(invalid_utf8_bodies(subject, body))
    elif kind == "lone surrogate":
        data = draw(in_a_string(subject, body, draw(lone_surrogate_literals())))
    elif kind == "blank body":
        data = draw(blank_bodies)
    elif kind == "truncated":
        whole = json.dumps(body).encode()
        data = whole[: draw(st.integers(1, len(whole) - 1))]
    else:
        subject = draw(subjects)
        data = json.dumps(body).encode()
    return subject, data, kind


def expected_reason(subject: str, data: bytes, kind: str) -> Callable[[str], bool]:
    """What the reason of a dead letter of `kind` must say."""
    if kind == "unknown subject" and subject in SYSTEM_SUBJECTS:
        return lambda reason: reason.startswith(f"subject {subject!r} is written by the system")
    if kind == "unknown subject":
        return lambda reason: reason.startswith(f"unknown subject {subject!r}")
    if kind == "blank body" and not data:
        return lambda reason: reason.startswith("empty body")
    if kind == "invalid utf-8":
        return lambda reason: reason.startswith(f"invalid {subject} event: body is not valid UTF-8")
    if kind in ("lone surrogate", "blank body"):  # refused by the JSON parser
        return lambda reason: reason.startswith(f"invalid {subject} event: body: Invalid JSON")
    return lambda reason: reason.startswith(f"invalid {subject} event: ")


class Batch(list[Payload]):
    """A drawn batch; its repr (what hypothesis prints for a failing example) stays short."""

    def __repr__(self) -> str:
        kinds = Counter(kind for _, _, kind in self)
        return f"Batch({len(self)} bodies: {dict(sorted(kinds.items()))}, {list(self)!r:.2000})"


taken_unknown_subjects = st.one_of(
    st.sampled_from(SYSTEM_SUBJECTS), subject_tokens.map(lambda t: f"audit.{t}")
).filter(lambda s: s not in SUBJECT_MODELS)
"""Unknown subjects stream EVENTS stores anyway (audit.*): the workers dead-letter them."""


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """Every kind of bad body (1 to 3 of each) among 5 to 25 valid events, shuffled."""
    tenant = draw(st.uuids())
    bad = [
        p
        for k in KINDS
        for p in draw(
            st.lists(bad_payloads(tenant, k, taken_unknown_subjects), min_size=1, max_size=3)
        )
    ]
    good = [_valid(*e) for e in draw(st.lists(valid_events(tenant), min_size=5, max_size=25))]
    return Batch(draw(st.permutations(bad + good)))


def with_fresh_ids(batch: Batch) -> Batch:
    """The batch with a new `event_id` in each valid event: the worker outlives the examples,
    and an id an earlier example (or a shrink of it) used would be a duplicate, not applied."""
    return Batch(
        _valid(s, {**json.loads(d), "event_id": str(uuid.uuid4())}) if kind == "valid" else p
        for p in batch
        for s, d, kind in [p]
    )


# -- decoding: many examples, no NATS --------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.sampled_from(KINDS).flatmap(lambda kind: bad_payloads(uuid.uuid4(), kind)),
)
def test_every_bad_body_is_refused_with_the_reason_of_its_kind(payload: Payload) -> None:
    """What a dead letter says is what the decoder says: each kind has its own reason."""
    subject, data, kind = payload
    reason = decode(Incoming(subject, data))
    assert isinstance(reason, str), f"{kind} accepted: {data[:300]!r}"
    assert expected_reason(subject, data, kind)(reason), (kind, reason, data[:300])


@settings(max_examples=200, deadline=None)
@given(subject=unknown_subjects, event=valid_events(uuid.uuid4(), rich=False))
def test_a_valid_body_on_a_subject_no_producer_may_use_is_refused(
    subject: str, event: tuple[str, Body]
) -> None:
    """The subject decides the model: a well-formed event on any other subject (a family's,
    below a known one, or outside them) is refused, never applied as something else."""
    reason = decode(Incoming(subject, json.dumps(event[1]).encode()))
    assert expected_reason(subject, b"", "unknown subject")(str(reason)), reason


# -- on the wire -----------------------------------------------------------------------------


async def _dead_letters(producer: Client, first_seq: int) -> list[tuple[bytes, dict[str, str]]]:
    js = producer.jetstream()
    last = (await js.stream_info(STREAM_DLQ)).state.last_seq
    letters = []
    for seq in range(first_seq, last + 1):
        msg = await js.get_msg(STREAM_DLQ, seq)
        # nats-py parses headers with `email`: a non-ASCII value comes back as a `Header`
        letters.append((msg.data or b"", {k: str(v) for k, v in (msg.headers or {}).items()}))
    return letters


async def _idle(producer: Client, worker: Any) -> bool:
    """Every durable has nothing pending and nothing unacknowledged, no batch in hand: all that
    was published is settled (a letter is written before its message is acked)."""
    js = producer.jetstream()
    for family in FAMILIES:
        info = await js.consumer_info(STREAM_EVENTS, durable_name(family.name))
        if info.num_pending or info.num_ack_pending:
            return False
    return not worker.consumer._tasks


@pytest.fixture
async def fuzz_worker(settings: Config, start_worker: Any) -> Any:
    return await start_worker(settings)


WIRE = settings(
    max_examples=10,
    deadline=None,  # a NATS round trip per example; shrinking stays on
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one server and one worker for every example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@pytest.mark.timeout(900)  # passes in seconds; a failure shrinks through many NATS round trips
@WIRE
@given(batch=batches())
async def test_fuzzed_bodies_are_dead_lettered_and_valid_ones_applied_by_one_worker(
    batch: Batch,
    fuzz_worker: Any,
    producer: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad input never stops the workers: each bad body is a letter with its reason and its
    original bytes, each good one is applied, in the same batches."""
    worker, batch = fuzz_worker, with_fresh_ids(batch)
    caplog.set_level(logging.ERROR)
    js = producer.jetstream(publish_async_max_pending=1000)
    await eventually(lambda: _idle(producer, worker), what="the previous example settled")
    stats = worker.ingestor.stats
    before = (stats.applied, stats.dead, stats.duplicates, stats.retried)
    first_letter = (await js.stream_info(STREAM_DLQ)).state.last_seq + 1

    for subject, data, _ in batch:  # all at once: one NATS round trip per batch, not per body
        await js.publish_async(subject, data)
    await js.publish_async_completed()

    bad = [(s, d) for s, d, kind in batch if kind != "valid"]
    good = [(s, d) for s, d, kind in batch if kind == "valid"]

    # every message acked (each letter is written before its ack): whatever became of them
    await eventually(lambda: _idle(producer, worker), what="every body settled")

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
    kind_of = {(s, d): kind for s, d, kind in batch if kind != "valid"}
    for data, headers in letters:
        subject = headers[SUBJECT]
        reason_ok = expected_reason(subject, data, kind_of[(subject, data)])
        assert reason_ok(headers.get(REASON, "")), (kind_of[(subject, data)], headers, data[:200])
    assert stats.dead - before[1] == len(bad)
    assert stats.applied - before[0] == len(good)
    assert stats.duplicates == before[2] and stats.retried == before[3]

    def all_marked(tr: Any) -> list[bool]:
        pairs = [(uuid.UUID(b["tenant_id"]), uuid.UUID(b["event_id"])) for b in _bodies(good)]
        return worker.ingestor.repos.applied.applied(tr, pairs)

    assert all(await worker.store.transact(all_marked))
    assert all(s.running for s in worker.broker.subscribers), "a subscriber stopped"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@settings(WIRE, max_examples=25)  # a publish and a letter each: cheap
@given(subjects=st.lists(unknown_subjects, min_size=1, max_size=12, unique=True))
async def test_an_unknown_subject_is_refused_by_the_stream_or_dead_lettered_never_dropped(
    subjects: list[str], fuzz_worker: Any, producer: Client
) -> None:
    """A producer on a subject no one may use learns it: JetStream refuses the publish when no
    stream takes the subject, and when EVENTS does (audit.*) the letter says why."""
    js = producer.jetstream()
    body = json.dumps({**EXAMPLES["audit.user_login"], "event_id": str(uuid.uuid4())}).encode()
    first_letter = (await js.stream_info(STREAM_DLQ)).state.last_seq + 1
    stored_before = (await js.stream_info(STREAM_EVENTS)).state.last_seq
    taken = [s for s in subjects if stream_takes(s)]

    for subject in subjects:
        if stream_takes(subject):
            await js.publish(subject, body)
        else:
            with pytest.raises(NoStreamResponseError):
                await js.publish(subject, body)

    assert (await js.stream_info(STREAM_EVENTS)).state.last_seq - stored_before == len(taken)

    await eventually(lambda: _idle(producer, fuzz_worker), what="what EVENTS took settled")
    letters = await _dead_letters(producer, first_letter)
    assert sorted((h[SUBJECT], data) for data, h in letters) == sorted((s, body) for s in taken)
    for data, headers in letters:
        assert expected_reason(headers[SUBJECT], data, "unknown subject")(headers[REASON])


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


@pytest.mark.parametrize("stamp", ["1700000000", "1700000000000", "1700000000.5", "-1"])
async def test_a_numeric_string_timestamp_is_dead_lettered(
    stamp: str, fuzz_worker: Any, producer: Client
) -> None:
    """pydantic alone reads a numeric string as Unix seconds or milliseconds, guessing by size:
    the contract wants RFC 3339, so the event is a letter naming `occurred_at`, not a guess."""
    worker, js = fuzz_worker, producer.jetstream()
    body = {**EXAMPLES["message.sent"], "event_id": str(uuid.uuid4()), "occurred_at": stamp}
    data = json.dumps(body).encode()
    await js.publish("message.sent", data)

    stats = worker.ingestor.stats
    await eventually(lambda: stats.applied + stats.dead == 1, what="the event settled")
    await eventually(lambda: _idle(producer, worker), what="its letter written, then acked")
    assert (stats.applied, stats.dead) == (0, 1), "applied: the number read as a time"
    [(letter, headers)] = await _dead_letters(producer, 1)
    assert (letter, headers[SUBJECT]) == (data, "message.sent")
    assert headers[REASON].startswith("invalid message.sent event: occurred_at: "), headers
    assert "RFC 3339" in headers[REASON] and repr(stamp) in headers[REASON]


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
