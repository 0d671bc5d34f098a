"""FoundationDB's error codes, shared by both engines so callers handle one exception type."""

from __future__ import annotations

NOT_COMMITTED = 1020
COMMIT_UNKNOWN_RESULT = 1021
TRANSACTION_TOO_OLD = 1007
TRANSACTION_TOO_LARGE = 2101
KEY_TOO_LARGE = 2102
VALUE_TOO_LARGE = 2103
TRANSACTION_READ_ONLY = 2023

RETRYABLE = frozenset({TRANSACTION_TOO_OLD, NOT_COMMITTED, COMMIT_UNKNOWN_RESULT, 1009, 1037, 1213})

DESCRIPTIONS = {
    TRANSACTION_TOO_OLD: "transaction_too_old: transaction ran past the 5 s deadline",
    NOT_COMMITTED: "not_committed: transaction conflicted and was not committed",
    COMMIT_UNKNOWN_RESULT: "commit_unknown_result: the commit may or may not have been applied",
    TRANSACTION_TOO_LARGE: "transaction_too_large: transaction exceeds 10,000,000 bytes",
    KEY_TOO_LARGE: "key_too_large: key exceeds 10,000 bytes",
    VALUE_TOO_LARGE: "value_too_large: value exceeds 100,000 bytes",
    TRANSACTION_READ_ONLY: "transaction_read_only: a read-only transaction cannot write",
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
        return self.code in RETRYABLE


class StoreUnavailable(StoreError):
    """The store could not be reached or opened; callers treat it as transient."""

    def __init__(self, detail: str) -> None:
        super().__init__(0, detail)

    @property
    def retryable(self) -> bool:
        return True
