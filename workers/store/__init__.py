"""The store: a FoundationDB-shaped key-value port with an embedded SQLite engine.

`open_store(url)` picks the engine from `STORE_URL`. The FoundationDB engine is imported only
when asked for, so SQLite deployments never need the FoundationDB C client.
"""

from __future__ import annotations

from pathlib import Path

from workers.store.error_codes import StoreError, StoreUnavailable
from workers.store.faults import FaultInjector
from workers.store.port import Store, Transaction, decode_int64, encode_int64

__all__ = [
    "FaultInjector",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Transaction",
    "decode_int64",
    "encode_int64",
    "open_store",
]

ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "fdb:// (default cluster file) or fdb:///path/to/fdb.cluster"
)


def open_store(
    url: str,
    *,
    timeout_s: float = 5.0,
    max_retries: int = 50,
    faults: FaultInjector | None = None,
) -> Store:
    """Open the engine a URL names.

    ``sqlite:///./data/workers.db`` is relative to the working directory (parent directories are
    created); ``sqlite:////abs/file.db`` is absolute. ``fdb://`` uses the default cluster file
    (or ``FDB_CLUSTER_FILE``); ``fdb:///etc/foundationdb/fdb.cluster`` names one.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path or path.endswith("/"):
            raise ValueError(f"store URL {url!r} names no file; accepted forms: {ACCEPTED}")
        from workers.store.sqlite import SqliteStore

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(
            path, url=url, timeout_s=timeout_s, max_retries=max_retries, faults=faults
        )
    if url == "fdb://" or url.startswith("fdb:///"):
        from workers.store.fdb import FdbStore

        cluster_file = url.removeprefix("fdb://") or None
        return FdbStore(
            cluster_file, url=url, timeout_s=timeout_s, max_retries=max_retries, faults=faults
        )
    raise ValueError(f"unknown store URL {url!r}; accepted forms: {ACCEPTED}")
