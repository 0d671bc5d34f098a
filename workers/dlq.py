"""`dlq list|show|replay`: read the dead-letter stream and send letters back to their subject."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from events.subjects import DLQ_SUBJECT_PREFIX, STREAM_DLQ, dlq_subject
from workers import dead_letters as dl


@dataclass
class DeadLetter:
    seq: int
    subject: str  # the original subject
    reason: str
    deliveries: str
    failed_at: str
    headers: dict[str, str]
    data: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "subject": self.subject,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "failed_at": self.failed_at,
            "bytes": len(self.data),
        }

    def as_dict(self) -> dict[str, Any]:
        body = self.data.decode("utf-8", errors="replace")
        return {
            **self.summary(),
            "original_headers": dl.original_headers(self.headers),
            "body": body,
        }


def _letter(seq: int, headers: dict[str, str] | None, data: bytes | None) -> DeadLetter:
    h = {k: str(v) for k, v in (headers or {}).items()}  # nats-py may hand back Header objects
    return DeadLetter(
        seq=seq,
        subject=h.get(dl.SUBJECT, "?"),
        reason=h.get(dl.REASON, ""),
        deliveries=h.get(dl.DELIVERIES, ""),
        failed_at=h.get(dl.FAILED_AT, ""),
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
    headers = dl.original_headers(letter.headers)
    if "Nats-Msg-Id" in headers:
        headers["Nats-Msg-Id"] = f"{headers['Nats-Msg-Id']}:replay:{letter.seq}"
    js = nc.jetstream()
    await js.publish(letter.subject, letter.data, headers=headers or None)
    await js.delete_msg(STREAM_DLQ, letter.seq)


async def connect(url: str, **options: Any) -> Client:
    """A short-lived connection for a command; `options` carry credentials and TLS."""
    return await nats.connect(url, connect_timeout=5, max_reconnect_attempts=1, **options)
