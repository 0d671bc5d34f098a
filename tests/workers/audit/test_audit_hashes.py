"""The hashes against their specifications: RFC 6962 roots, RFC 8785 bytes."""

from __future__ import annotations

import hashlib
import json

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from workers.repositories.audit_merkle import canonical, leaf_document, leaf_hash, merkle_root


def rfc6962(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 section 2.1 writes it: split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962(leaves[:k]) + rfc6962(leaves[k:])).digest()


def test_roots_match_rfc_6962_for_every_size_up_to_70() -> None:
    leaves = [hashlib.sha256(b"\x00" + bytes([i])).digest() for i in range(70)]
    for n in range(1, 71):
        assert merkle_root(leaves[:n]) == rfc6962(leaves[:n]), n
    assert merkle_root([]) == hashlib.sha256(b"").digest()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_canonical_is_rfc_8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        return  # outside what RFC 8785 can represent (canonical() writes the digits)
    assert canonical(value) == expected


def test_a_record_with_floats_hashes_as_its_rfc_8785_form() -> None:
    raw = b'{"id":"a","event_data":{"ratio":0.1,"n":1e21}}'
    doc = leaf_document({"id": "a", "event_data": {"ratio": 0.1, "n": 1e21}})
    assert leaf_hash(raw) == hashlib.sha256(b"\x00" + rfc8785.dumps(doc)).digest()


def test_the_leaf_commits_to_personal_fields_through_their_digest_alone() -> None:
    """An erasure can drop the personal fields, keep their digest, and the leaf is the same."""
    record = {
        "id": "a",
        "user_id": "u",
        "ip_address": "10.0.0.1",
        "user_agent": None,
        "event_data": {"email": "x@example.com"},
        "event_type": "UserLogin",
    }
    doc = leaf_document(record)
    erased = {k: v for k, v in record.items() if k in ("id", "event_type")}
    assert leaf_document(erased, personal=doc["personal"]) == doc
    assert "x@example.com" not in json.dumps(doc)
