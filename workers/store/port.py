"""The store port: a narrow, FoundationDB-shaped key-value interface.

Engines (`sqlite.py`, `fdb.py`) implement it; repositories only ever see a `Transaction`.
Keeping the port this small is what lets the FoundationDB engine stay a thin mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")

KeyValue = tuple[bytes, bytes]


class Transaction(Protocol):
    """One FoundationDB-style transaction: serializable, read-your-writes, all or nothing."""

    def get(self, key: bytes) -> bytes | None: ...

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """Point reads issued together (FoundationDB: futures in parallel; SQLite: one query)."""
        ...

    def get_range(
        self,
        begin: bytes,
        end: bytes,
        limit: int = 0,
        reverse: bool = False,
        snapshot: bool = False,
    ) -> list[KeyValue]:
        """Pairs with begin <= key < end in key order (reversed if asked); limit 0 = no limit."""
        ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def clear(self, key: bytes) -> None: ...

    def clear_range(self, begin: bytes, end: bytes) -> None: ...

    def add(self, key: bytes, delta: int) -> None:
        """Atomic add of a little-endian signed int64 (FoundationDB's ADD mutation)."""
        ...


class Store(Protocol):
    """An engine. `transact` runs `fn(tr)` off the event loop, commits, retries retryable errors.

    `fn` may run more than once (a retry after 1020, or after 1021 even though the commit landed),
    so every write path checks a unique marker before writing.
    """

    url: str

    async def transact(self, fn: Callable[[Transaction], T]) -> T: ...

    def transact_sync(self, fn: Callable[[Transaction], T]) -> T:
        """The same, for callers already off the event loop (CLI tools, benchmarks, threads)."""
        ...

    async def read(self, fn: Callable[[Transaction], T]) -> T:
        """Run `fn(tr)` on a consistent snapshot and commit nothing: for queries and checks.

        A write raises 2023 (transaction_read_only). On SQLite a read never takes the write
        lock, so queries, health probes and checks never hold up the workers' commits.
        """
        ...

    def read_sync(self, fn: Callable[[Transaction], T]) -> T:
        """`read` for callers already off the event loop."""
        ...

    async def transact_prepared(self, fn: Callable[[Transaction], T]) -> T:
        """`transact` for a write whose reads are point reads and whose work is heavy: the
        engine may run `fn` on a snapshot first and keep its writes if nothing it read changed
        (see `prepared.py`). Same guarantees as `transact`; `fn` may run more than once."""
        ...

    async def close(self) -> None: ...


def add_int64(old: bytes | None, delta: int) -> bytes:
    """FoundationDB's ADD on a stored value: missing = 0, zero-extended, wraps at 64 bits."""
    return encode_int64((decode_int64(old) + delta + (1 << 63)) % (1 << 64) - (1 << 63))


def encode_int64(n: int) -> bytes:
    return n.to_bytes(8, "little", signed=True)


def decode_int64(raw: bytes | None) -> int:
    """Counters written by `add`; FoundationDB zero-extends shorter values, so do we."""
    if not raw:
        return 0
    return int.from_bytes(raw[:8].ljust(8, b"\x00"), "little", signed=True)
