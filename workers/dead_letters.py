"""The dead-letter stream: the original bytes, subject and headers, plus why and when."""

from __future__ import annotations

import time
from typing import Protocol

from nats.aio.msg import Msg

from events.subjects import dlq_subject

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
