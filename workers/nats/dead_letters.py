"""The dead-letter stream: a letter is the original bytes, subject and headers, plus why and
when. Writing letters (the workers) and reading, replaying them (`dlq list|show|replay`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol
from uuid import UUID

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from pydantic import BaseModel, Field

from events.subjects import DLQ_SUBJECT_PREFIX, STREAM_DLQ, dlq_subject

REASON = "Dlq-Reason"
SUBJECT = "Dlq-Subject"
DELIVERIES = "Dlq-Deliveries"
STREAM_SEQ = "Dlq-Stream-Seq"
FAILED_AT = "Dlq-Failed-At"
ORIGINAL_HEADER = "Dlq-Orig-"  # original headers, renamed so JetStream does not act on them


class Publisher(Protocol):
    async def __call__(self, subject: str, payload: bytes, headers: dict[str, str]) -> None: ...


def dead_letter_headers(msg: Msg, reason: str) -> dict[str, str]:
    meta = msg.metadata
    headers = {f"{ORIGINAL_HEADER}{k}": v for k, v in (msg.headers or {}).items()}
    headers |= {
        # the same letter written again (the original's ack lost to a crash) is dropped by
        # JetStream's duplicate window instead of appearing twice
        "Nats-Msg-Id": f"dlq:{meta.stream}:{meta.sequence.stream}",
        REASON: _one_line(reason),
        SUBJECT: msg.subject,
        DELIVERIES: str(meta.num_delivered),
        STREAM_SEQ: str(meta.sequence.stream),
        FAILED_AT: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return headers


async def dead_letter(publish: Publisher, msg: Msg, reason: str) -> None:
    """Publish and wait for JetStream's ack: only then may the original be acked."""
    await publish(dlq_subject(msg.subject), msg.data, dead_letter_headers(msg, reason))


def original_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k.removeprefix(ORIGINAL_HEADER): v
        for k, v in headers.items()
        if k.startswith(ORIGINAL_HEADER)
    }


def _one_line(text: str) -> str:
    """Header values are one line of ASCII (nats-py decodes others as RFC 2047 objects):
    keep them readable, escaped and bounded."""
    flat = " ".join(text.split())
    return flat.encode("ascii", "backslashreplace").decode("ascii")[:4000]


class DeadLetter(BaseModel):
    """A letter as `dlq list|show` report it; `data` and `headers` are the original's."""

    seq: int
    subject: str  # the original subject
    reason: str
    deliveries: str
    failed_at: str
    headers: dict[str, str] = Field(exclude=True)
    data: bytes = Field(exclude=True)

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json") | {"bytes": len(self.data)}

    def as_dict(self) -> dict[str, Any]:
        body = self.data.decode("utf-8", errors="replace")
        return {**self.summary(), "original_headers": original_headers(self.headers), "body": body}


def _letter(seq: int, headers: dict[str, str] | None, data: bytes | None) -> DeadLetter:
    h = {k: str(v) for k, v in (headers or {}).items()}  # nats-py may hand back Header objects
    return DeadLetter(
        seq=seq,
        subject=h.get(SUBJECT, "?"),
        reason=h.get(REASON, ""),
        deliveries=h.get(DELIVERIES, ""),
        failed_at=h.get(FAILED_AT, ""),
        headers=h,
        data=data or b"",
    )


async def letters(nc: Client, subject: str | None = None) -> AsyncIterator[DeadLetter]:
    """Every dead letter in sequence order (optionally of one original subject)."""
    js = nc.jetstream()
    filter_subject = dlq_subject(subject) if subject else f"{DLQ_SUBJECT_PREFIX}.>"
    seq = 1
    while True:
        try:  # the next letter at or after `seq` (deleted ones are skipped by the server)
            raw = await js.get_msg(STREAM_DLQ, seq=seq, subject=filter_subject, next=True)
        except NotFoundError:
            return
        assert raw.seq is not None
        seq = raw.seq + 1
        yield _letter(raw.seq, raw.headers, raw.data)


async def get(nc: Client, seq: int) -> DeadLetter | None:
    try:
        raw = await nc.jetstream().get_msg(STREAM_DLQ, seq=seq)
    except NotFoundError:
        return None
    return _letter(seq, raw.headers, raw.data)


async def replay(nc: Client, letter: DeadLetter) -> None:
    """Publish the original bytes and headers to the original subject, then drop the letter.

    `Nats-Msg-Id` is suffixed: within JetStream's duplicate window the original id would be
    silently dropped; the workers' own dedupe still applies the event at most once.
    """
    headers = original_headers(letter.headers)
    if "Nats-Msg-Id" in headers:
        headers["Nats-Msg-Id"] = f"{headers['Nats-Msg-Id']}:replay:{letter.seq}"
    js = nc.jetstream()
    await js.publish(letter.subject, letter.data, headers=headers or None)
    await js.delete_msg(STREAM_DLQ, letter.seq)


async def connect(url: str, **options: Any) -> Client:
    """A short-lived connection for a command; `options` carry credentials and TLS."""
    return await nats.connect(url, connect_timeout=5, max_reconnect_attempts=1, **options)


async def discard(nc: Client, letter: DeadLetter) -> None:
    """Drop a letter for good (`dlq discard`): the operator decided it will never be replayed."""
    await nc.jetstream().delete_msg(STREAM_DLQ, letter.seq)


async def remove_about(nc: Client, tenant: UUID, user: UUID, dry_run: bool = False) -> int:
    """Delete every letter whose body names `user` of `tenant` (an erasure: a letter replayed
    later would bring the user's data back); how many were (`dry_run`: would be) deleted."""
    who, where = str(user).encode(), str(tenant).encode()
    doomed = [
        letter.seq
        async for letter in letters(nc)
        if who in letter.data and (where in letter.data or str(tenant) in letter.subject)
    ]
    js = nc.jetstream()
    for seq in [] if dry_run else doomed:
        await js.delete_msg(STREAM_DLQ, seq)
    return len(doomed)


def typed(letter: DeadLetter, full: bool = False) -> dict[str, Any]:
    """A letter as `dlq list|show --json` print it: counts and sequences as numbers (the
    headers carry them as text); `full` adds the original headers and body."""
    out = letter.as_dict() if full else letter.summary()
    for name, header in (("deliveries", DELIVERIES), ("stream_seq", STREAM_SEQ)):
        text = letter.headers.get(header, "")
        out[name] = int(text) if text.isdigit() else None
    return out
