"""The audit trail's hashes: RFC 8785 canonical JSON, RFC 6962 leaves and Merkle roots.

A leaf commits to a record's personal fields (`PERSONAL`) through their own digest, so that an
erasure can later drop those fields, keep the digest, and leave every root unchanged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

PERSONAL = ("user_id", "ip_address", "user_agent", "event_data")
"""The fields an erasure may remove: the leaf holds only `personal`, the digest of these."""

LEAF_VERSION = 1
ERASED_DIGEST = "personal"
"""The key under which an erased record keeps the digest of its removed personal fields."""
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_SAFE_INT = 2**53


def canonical(value: Any, *, floats: bool = True) -> bytes:
    """RFC 8785 bytes of a parsed JSON value.

    The stdlib encoder writes exactly RFC 8785 for ASCII text without floats (the usual
    record): it is taken then, `rfc8785` otherwise. `floats=False`: the caller knows there is
    none (it parsed the value with `parse_float` refusing them). Integers beyond ±2**53, which
    RFC 8785 cannot represent, are written as their digits (deterministic, so still verifiable).
    """
    if not floats or _float_free(value):
        text = _ENCODE(value)
        if text.isascii():
            return text.encode()
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        return rfc8785.dumps(_big_ints_as_text(value))


def _float_free(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(_float_free(v) for v in value.values())
    if kind is list:
        return all(_float_free(v) for v in value)
    return kind is not float


def _big_ints_as_text(value: Any) -> Any:
    if type(value) is int and not -_SAFE_INT < value < _SAFE_INT:
        return str(value)
    if isinstance(value, dict):
        return {k: _big_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_big_ints_as_text(v) for v in value]
    return value


class _HasFloat(Exception):
    pass


def _refuse_float(text: str) -> float:
    raise _HasFloat


def personal_digest(record: dict[str, Any], *, floats: bool = True) -> str:
    """SHA-256 (hex) of the canonical JSON of the record's personal fields (absent: null)."""
    personal = {k: record.get(k) for k in PERSONAL}
    return hashlib.sha256(canonical(personal, floats=floats)).hexdigest()


def leaf_document(
    record: dict[str, Any], personal: str | None = None, *, floats: bool = True
) -> dict[str, Any]:
    """What a leaf hashes: the record without its personal fields, plus their digest."""
    doc = {k: v for k, v in record.items() if k not in PERSONAL}
    doc["personal"] = personal if personal is not None else personal_digest(record, floats=floats)
    doc["leaf_version"] = LEAF_VERSION
    return doc


def _parse(raw: bytes) -> tuple[dict[str, Any], bool]:
    try:
        return json.loads(raw, parse_float=_refuse_float), False
    except _HasFloat:
        return json.loads(raw), True


def leaf_hash(raw: bytes) -> bytes:
    """RFC 6962 leaf hash of a stored record: SHA-256(0x00 ‖ canonical leaf document). An
    erased record carries the digest of the personal fields it no longer has (`personal`)."""
    record, floats = _parse(raw)
    kept = record.pop(ERASED_DIGEST, None)
    doc = leaf_document(record, kept if isinstance(kept, str) else None, floats=floats)
    return hashlib.sha256(b"\x00" + canonical(doc, floats=floats)).digest()


def erase_personal(raw: bytes) -> bytes:
    """The stored record with its personal fields emptied and their digest kept: its leaf hash
    is unchanged, so every sealed window still verifies. Erasing twice changes nothing."""
    record, floats = _parse(raw)
    if isinstance(record.get(ERASED_DIGEST), str):
        return raw
    digest = personal_digest(record, floats=floats)
    record |= {"user_id": None, "ip_address": None, "user_agent": None, "event_data": {}}
    record[ERASED_DIGEST] = digest
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash of leaf hashes (empty: SHA-256 of nothing).

    Built bottom-up: pairing adjacent nodes level by level and promoting an odd last node
    gives the same tree as RFC 6962's split at the largest power of two below n.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = leaves
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
