"""Identifiers and times as the keys want them.

Time-ordered ids are UUIDv7, made *outside* the transaction's retry loop (FoundationDB's
versionstamps need the C client). Times in keys are integer milliseconds since the epoch.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

_NAMESPACE = uuid.UUID("6f6b1f4e-4a7e-4c1e-9a55-3c1d2b7e9f10")


def uuid7(ms: int | None = None) -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit ms timestamp, then random bits; sorts by creation time."""
    return uuid7s(1, ms)[0]


def uuid7s(n: int, ms: int | None = None) -> list[uuid.UUID]:
    """`n` UUIDv7s of one moment, from one read of the system's randomness (a batch's ids)."""
    return Uuid7Block.new(n, ms).ids()


class Uuid7Block(NamedTuple):
    """A batch's UUIDv7s as what they are made from: a moment and 10 random bytes an id. It
    crosses to another process as ~10 bytes an id instead of a pickled UUID object each, and
    every process that makes the ids from it gets the same ones."""

    ms: int
    entropy: bytes

    @classmethod
    def new(cls, n: int, ms: int | None = None) -> Uuid7Block:
        return cls(int(time.time() * 1000) if ms is None else ms, os.urandom(10 * n))

    def ids(self) -> list[uuid.UUID]:
        ts, entropy = self.ms & 0xFFFF_FFFF_FFFF, self.entropy
        out = []
        for i in range(0, len(entropy), 10):
            value = ts << 80 | int.from_bytes(entropy[i : i + 10], "big")
            value = value & _CLEAR | _SET  # version 7, RFC 4122 variant
            out.append(uuid.UUID(int=value))
        return out


_CLEAR = ~(0xF << 76) & ~(0x3 << 62)
_SET = 0x7 << 76 | 0x2 << 62


def derived_id(*parts: object) -> uuid.UUID:
    """A deterministic id (UUIDv5) from its parts, e.g. the file created by one event."""
    return uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts))


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


DAY_MS = 86_400_000


def day_of(ms: int) -> str:
    """The UTC day of a time, as the audit_by_date index spells it."""
    return _day(ms // DAY_MS)


@lru_cache(maxsize=1024)
def _day(day_number: int) -> str:  # strftime is slow, and a batch's events share a few days
    return from_ms(day_number * DAY_MS).strftime("%Y-%m-%d")


def utcnow() -> datetime:
    return datetime.now(UTC)
