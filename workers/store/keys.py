"""Every key the system writes, spelled once, with FoundationDB's tuple layer.

Layout (after the configurable root): tenant first, so a tenant's data is one contiguous range;
then the record or index name; times are integer milliseconds. Constant prefixes are packed once
and the encoded tail appended: top-level tuple packing is concatenative, so
``pack((a, b, c)) == pack((a,)) + pack((b, c))``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast
from uuid import UUID

import fdb.tuple as fdbtuple

KeyRange = tuple[bytes, bytes]


def _encode(item: Any) -> bytes:
    """FoundationDB's tuple encoding of one element; the common types by hand (the bindings'
    generic encoder costs several µs a key), anything else through `fdb.tuple`."""
    kind = type(item)
    if kind is UUID:
        value: int = item.int  # what UUID.bytes does, without the property call
        return b"\x30" + value.to_bytes(16, "big")
    if kind is str:
        text: str = item
        return b"\x02" + text.encode().replace(b"\x00", b"\x00\xff") + b"\x00"
    if kind is int and -_INT_LIMIT < item < _INT_LIMIT:
        n: int = item
        if n == 0:
            return b"\x14"
        if n > 0:
            size = (n.bit_length() + 7) // 8
            return bytes((0x14 + size,)) + n.to_bytes(size, "big")
        size = ((-n).bit_length() + 7) // 8
        return bytes((0x14 - size,)) + (n + (1 << (8 * size)) - 1).to_bytes(size, "big")
    if kind is bytes:
        blob: bytes = item
        return b"\x01" + blob.replace(b"\x00", b"\x00\xff") + b"\x00"
    return cast(bytes, fdbtuple.pack((item,)))


_INT_LIMIT = (1 << 64) - 1  # the bindings switch to their big-integer codes at 2**64 - 1


def pack(items: tuple[Any, ...]) -> bytes:
    """`fdb.tuple.pack`, byte for byte (a property test holds it to that)."""
    return b"".join([_encode(item) for item in items])


def unpack(raw: bytes) -> tuple[Any, ...]:
    return cast(tuple[Any, ...], fdbtuple.unpack(raw))


def prefix_range(prefix: bytes) -> KeyRange:
    """Every key strictly under a tuple prefix (FoundationDB's `Subspace.range()`)."""
    return prefix + b"\x00", prefix + b"\xff"


class Prefix:
    """A packed tuple prefix: `key(*tail)` appends, `range(*tail)` spans everything under it."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def key(self, *tail: Any) -> bytes:
        key = self.raw
        for item in tail:  # tails are short: concatenation beats a join here
            key += _encode(item)
        return key

    def range(self, *tail: Any) -> KeyRange:
        return prefix_range(self.key(*tail) if tail else self.raw)

    def between(self, head: tuple[Any, ...], start: Any, end: Any) -> KeyRange:
        """Keys `head + (x, ...)` with start <= x < end (e.g. a time window in ms)."""
        base = self.key(*head) if head else self.raw
        return base + fdbtuple.pack((start,)), base + fdbtuple.pack((end,))

    def tail(self, key: bytes) -> tuple[Any, ...]:
        """The tuple elements after this prefix."""
        return unpack(key[len(self.raw) :])

    def child(self, *tail: Any) -> Prefix:
        return Prefix(self.key(*tail))


# Record and index names, as they appear in keys (DESIGN.md, "Keys").
CONVERSATIONS = "conversations"
CONVERSATIONS_BY_USER = "conversations_by_user"
CONVERSATIONS_BY_SESSION = "conversations_by_session"
MESSAGES = "messages"
MESSAGES_BY_CONVERSATION = "messages_by_conversation"
AUDIT = "audit"
AUDIT_BY_USER = "audit_by_user"
AUDIT_BY_EVENT = "audit_by_event"
AUDIT_BY_DATE = "audit_by_date"
AUDIT_UNSEALED = "audit_unsealed"
AUDIT_LOG = "audit_log"
AUDIT_LOG_BY_ID = "audit_log_by_id"
AUDIT_CHECKPOINTS = "audit_checkpoints"
AUDIT_PURGES = "audit_purges"
FILES = "files"
FILES_BY_SESSION = "files_by_session"
FILES_BY_PATH = "files_by_path"
FILES_DELETED = "files_deleted"
FILES_GONE_BY_PATH = "files_gone_by_path"
FILE_HISTORY = "file_history"
FILE_HISTORY_HEAD = "file_history_head"
FILE_HISTORY_BY_MS = "file_history_by_ms"
FILE_HISTORY_CUTOFF = "file_history_cutoff"
AGENTS = "agents"
AGENTS_BY_TYPE = "agents_by_type"
SETTINGS = "settings"
SETTINGS_BY_CATEGORY = "settings_by_category"
SETTING_TOMBSTONES = "setting_tombstones"
SETTING_TOMBSTONES_BY_MS = "setting_tombstones_by_ms"
COUNTERS = "counters"
APPLIED = "applied"
APPLIED_BY_MS = "applied_by_ms"
HOLDS = "holds"
CURSORS = "cursors"
RETENTION = "retention"
ERASURES = "erasures"
SYS = "_sys"
TENANTS = "tenants"
LEASES = "leases"


class TenantKeys:
    """The prefixes of one tenant's records and indexes."""

    def __init__(self, root: bytes, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self.all = Prefix(root + fdbtuple.pack((tenant_id,)))
        p = self.all.child
        self.conversations = p(CONVERSATIONS)
        self.conversations_by_user = p(CONVERSATIONS_BY_USER)
        self.conversations_by_session = p(CONVERSATIONS_BY_SESSION)
        self.messages = p(MESSAGES)
        self.messages_by_conversation = p(MESSAGES_BY_CONVERSATION)
        self.audit = p(AUDIT)
        self.audit_by_user = p(AUDIT_BY_USER)
        self.audit_by_event = p(AUDIT_BY_EVENT)
        self.audit_by_date = p(AUDIT_BY_DATE)
        self.audit_unsealed = p(AUDIT_UNSEALED)  # (id) -> b"": written, not sealed yet
        self.audit_log = p(AUDIT_LOG)  # (seq) -> id + leaf hash: the sealed order
        self.audit_log_by_id = p(AUDIT_LOG_BY_ID)  # (id) -> seq
        self.audit_checkpoints = p(AUDIT_CHECKPOINTS)  # (window) -> signed checkpoint
        self.audit_purges = p(AUDIT_PURGES)  # (window, first seq) -> signed purge statement
        self.files = p(FILES)
        self.files_by_session = p(FILES_BY_SESSION)
        self.files_by_path = p(FILES_BY_PATH)
        self.files_deleted = p(FILES_DELETED)
        self.files_gone_by_path = p(FILES_GONE_BY_PATH)  # (session, path, gone order, id)
        self.file_history = p(FILE_HISTORY)  # (session, path, version) -> FileHistoryEntry
        self.file_history_head = p(FILE_HISTORY_HEAD)  # (session, path) -> its newest entry
        self.file_history_by_ms = p(FILE_HISTORY_BY_MS)  # (ms, session, path): oldest entry
        self.file_history_cutoff = p(FILE_HISTORY_CUTOFF)  # () -> the compacted-through version
        self.agents = p(AGENTS)
        self.agents_by_type = p(AGENTS_BY_TYPE)
        self.settings = p(SETTINGS)
        self.settings_by_category = p(SETTINGS_BY_CATEGORY)
        self.setting_tombstones = p(SETTING_TOMBSTONES)  # (user, category, key) -> version
        self.setting_tombstones_by_ms = p(SETTING_TOMBSTONES_BY_MS)  # (ms, user, category, key)
        self.counters = p(COUNTERS)
        self.applied = p(APPLIED)
        self.applied_by_ms = p(APPLIED_BY_MS)
        self.holds = p(HOLDS)
        self.cursors = p(CURSORS)
        self.retention = p(RETENTION)
        self.erasures = p(ERASURES)  # (SHA-256 of a user id) -> the erasure: marker and progress


class Keys:
    """The root subspace; hands out per-tenant prefixes (cached) and the global `_sys` keys."""

    def __init__(self, root: tuple[Any, ...] = ("ide",)) -> None:
        self.root = fdbtuple.pack(root) if root else b""
        sys = Prefix(self.root + fdbtuple.pack((SYS,)))
        self.tenants = sys.child(TENANTS)
        self.leases = sys.child(LEASES)
        self.tenant = lru_cache(maxsize=4096)(self._tenant)

    def _tenant(self, tenant_id: UUID) -> TenantKeys:
        return TenantKeys(self.root, tenant_id)

    def tenant_range(self, tenant_id: UUID) -> KeyRange:
        return self.tenant(tenant_id).all.range()

    def everything(self) -> KeyRange:
        return prefix_range(self.root) if self.root else (b"", b"\xff")
