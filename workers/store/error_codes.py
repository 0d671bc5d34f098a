"""FoundationDB's error codes and limits, shared by both engines so callers handle one exception
type and both engines refuse the same things with the same codes."""

from __future__ import annotations

TRANSACTION_TOO_OLD = 1007
FUTURE_VERSION = 1009
NOT_COMMITTED = 1020
COMMIT_UNKNOWN_RESULT = 1021
TRANSACTION_TIMED_OUT = 1031
PROCESS_BEHIND = 1037
DATABASE_LOCKED = 1038
CLUSTER_VERSION_CHANGED = 1039
COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED = 1042  # named proxy_memory_limit_exceeded before 7.0
BATCH_TRANSACTION_THROTTLED = 1051
GRV_PROXY_MEMORY_LIMIT_EXCEEDED = 1078
BLOB_GRANULE_REQUEST_FAILED = 1079
TAG_THROTTLED = 1213
PROXY_TAG_THROTTLED = 1223
TRANSACTION_THROTTLED_HOT_SHARD = 1235
KEY_OUTSIDE_LEGAL_RANGE = 2004
INVERTED_RANGE = 2005
TRANSACTION_READ_ONLY = 2023
TRANSACTION_TOO_LARGE = 2101
KEY_TOO_LARGE = 2102
VALUE_TOO_LARGE = 2103
UNKNOWN_TENANT = 2131

KEY_LIMIT = 10_000  # bytes: a longer key is 2102 (CLIENT_KNOBS->KEY_SIZE_LIMIT)
VALUE_LIMIT = 100_000  # bytes: a longer value is 2103 (CLIENT_KNOBS->VALUE_SIZE_LIMIT)
MAX_KEY = b"\xff"  # user keys stop here: a write at or past it is 2004 (normalKeys.end)

RETRYABLE = frozenset(
    {
        # Transaction::onError (fdbclient/NativeAPI.actor.cpp): back off, reset, return
        NOT_COMMITTED,
        COMMIT_UNKNOWN_RESULT,
        DATABASE_LOCKED,
        COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED,
        GRV_PROXY_MEMORY_LIMIT_EXCEEDED,
        PROCESS_BEHIND,
        BATCH_TRANSACTION_THROTTLED,
        TAG_THROTTLED,
        BLOB_GRANULE_REQUEST_FAILED,
        PROXY_TAG_THROTTLED,
        TRANSACTION_THROTTLED_HOT_SHARD,
        # ... and after FUTURE_VERSION_RETRY_DELAY
        TRANSACTION_TOO_OLD,
        FUTURE_VERSION,
        # MultiVersionTransaction::onError: the cluster was upgraded, retry on the new client
        CLUSTER_VERSION_CHANGED,
        # fdb_error_predicate(RETRYABLE) of 7.2-era clients (tenants only: never seen here)
        UNKNOWN_TENANT,
    }
)
"""Every code FoundationDB's client retries: `tr.on_error(code)` backs off, resets the
transaction and returns for these, and raises the error again for any other code.

`FdbStore` passes every error to `on_error` and lets the client decide (as `@fdb.transactional`
does); this set is what `StoreError.retryable` tells callers (the ingestor naks a retryable
batch for redelivery and splits or dead-letters the rest) and what SQLite retries. It is the
union of `Transaction::onError`, `MultiVersionTransaction::onError` and
`fdb_error_predicate(FDB_ERROR_PREDICATE_RETRYABLE)` over the 7.x clients; a code that a given
client does not know it cannot raise. 1031 (transaction_timed_out) is not in it: the client
never retries it, and the engines report it as `StoreUnavailable`, transient.
"""

DESCRIPTIONS = {
    TRANSACTION_TOO_OLD: "transaction_too_old: transaction ran past the 5 s deadline",
    FUTURE_VERSION: "future_version: a storage server is behind the read version",
    NOT_COMMITTED: "not_committed: transaction conflicted and was not committed",
    COMMIT_UNKNOWN_RESULT: "commit_unknown_result: the commit may or may not have been applied",
    TRANSACTION_TIMED_OUT: "transaction_timed_out: the transaction's timeout option expired",
    PROCESS_BEHIND: "process_behind: a storage process does not have recent mutations",
    DATABASE_LOCKED: "database_locked: the database is locked (a restore or DR switch)",
    CLUSTER_VERSION_CHANGED: "cluster_version_changed: the cluster's protocol version changed",
    COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED: (
        "commit_proxy_memory_limit_exceeded: a commit proxy is out of memory for commits"
    ),
    BATCH_TRANSACTION_THROTTLED: "batch_transaction_throttled: batch-priority rate limit hit",
    GRV_PROXY_MEMORY_LIMIT_EXCEEDED: (
        "grv_proxy_memory_limit_exceeded: a GRV proxy is out of memory for read versions"
    ),
    BLOB_GRANULE_REQUEST_FAILED: "blob_granule_request_failed: a blob granule read failed",
    TAG_THROTTLED: "tag_throttled: the transaction's tag is throttled",
    PROXY_TAG_THROTTLED: "proxy_tag_throttled: the proxy's tag throttling delay ran out",
    TRANSACTION_THROTTLED_HOT_SHARD: (
        "transaction_throttled_hot_shard: the commit writes to a throttled hot shard"
    ),
    KEY_OUTSIDE_LEGAL_RANGE: "key_outside_legal_range: a user key must sort before \\xff",
    INVERTED_RANGE: "inverted_range: the range's begin key is after its end key",
    TRANSACTION_READ_ONLY: "transaction_read_only: a read-only transaction cannot write",
    TRANSACTION_TOO_LARGE: "transaction_too_large: transaction exceeds 10,000,000 bytes",
    KEY_TOO_LARGE: "key_too_large: key exceeds 10,000 bytes",
    VALUE_TOO_LARGE: "value_too_large: value exceeds 100,000 bytes",
    UNKNOWN_TENANT: "unknown_tenant: the tenant was not found",
}


class StoreError(Exception):
    """An error from the store, carrying FoundationDB's numeric code."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        text = DESCRIPTIONS.get(code, "store error")
        super().__init__(f"{code} {text}" + (f" ({detail})" if detail else ""))

    @property
    def retryable(self) -> bool:
        """True for every code FoundationDB's client retries (`RETRYABLE`): try it again."""
        return self.code in RETRYABLE


class StoreUnavailable(StoreError):
    """The store could not be reached or opened, or a transaction timed out (1031); callers
    treat it as transient."""

    def __init__(self, detail: str) -> None:
        super().__init__(0, detail)

    @property
    def retryable(self) -> bool:
        return True


def check_write_key(key: bytes) -> None:
    """A written key's checks, in FoundationDB's order (ReadYourWritesTransaction::set): 2004
    (at or past \\xff), then 2102 (too large). Both engines raise them at the call."""
    if key >= MAX_KEY:
        raise StoreError(KEY_OUTSIDE_LEGAL_RANGE, f"key {key[:16]!r}... is at or past \\xff")
    if len(key) > KEY_LIMIT:
        raise StoreError(KEY_TOO_LARGE, f"{len(key)} bytes")


def check_clear_range(begin: bytes, end: bytes) -> None:
    """A cleared range's checks, on both engines: 2005 (begin > end: FoundationDB would fail
    the commit with it), then 2004 (a bound past \\xff). begin == end clears nothing."""
    if begin > end:
        raise StoreError(INVERTED_RANGE, f"clear_range({begin[:16]!r}..., {end[:16]!r}...)")
    if begin > MAX_KEY or end > MAX_KEY:
        raise StoreError(KEY_OUTSIDE_LEGAL_RANGE, "clear_range past \\xff")
