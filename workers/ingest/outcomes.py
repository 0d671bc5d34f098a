"""What became of each event of a batch: the ingest core's answer to the messaging side."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD = "dead"  # permanent: goes to the dead-letter stream with its reason
    RETRY = "retry"  # transient: redeliver later


class Incoming(NamedTuple):  # a tuple: one is made per message, on the event loop
    subject: str
    data: bytes


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""


APPLIED, DUPLICATE = Result(Outcome.APPLIED), Result(Outcome.DUPLICATE)  # shared: immutable
