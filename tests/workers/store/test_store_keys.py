"""Keys: our fast tuple encoder is FoundationDB's tuple layer, byte for byte."""

from __future__ import annotations

import uuid

import fdb.tuple as fdbtuple
from hypothesis import given
from hypothesis import strategies as st

from workers.store.keys import Keys, pack, prefix_range

elements = st.one_of(
    st.uuids(),
    st.text(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.binary(),
    st.none(),
    st.booleans(),
)


@given(st.lists(elements, max_size=6))
def test_pack_matches_the_foundationdb_tuple_layer(items: list[object]) -> None:
    assert pack(tuple(items)) == fdbtuple.pack(tuple(items))


@given(st.lists(st.integers(min_value=-(2**64), max_value=2**64), min_size=2, max_size=2))
def test_packed_integers_sort_like_the_integers(pair: list[int]) -> None:
    a, b = pair
    assert (pack((a,)) < pack((b,))) == (a < b)


def test_a_tenants_keys_are_one_contiguous_range_that_excludes_other_tenants() -> None:
    keys = Keys(("ide",))
    a, b = uuid.uuid4(), uuid.uuid4()
    begin, end = keys.tenant_range(a)
    for key in (
        keys.tenant(a).messages.key(uuid.uuid4(), 0),
        keys.tenant(a).audit_by_date.key("2026-11-26", 5, uuid.uuid4()),
    ):
        assert begin <= key < end
    assert not begin <= keys.tenant(b).messages.key(uuid.uuid4(), 0) < end
    assert not begin <= keys.tenants.key(a) < end


def test_keys_follow_the_design_layout() -> None:
    t, c = uuid.uuid4(), uuid.uuid4()
    keys = Keys(("ide",))
    assert keys.tenant(t).conversations.key(c) == fdbtuple.pack(("ide", t, "conversations", c))
    assert keys.leases.key("files") == fdbtuple.pack(("ide", "_sys", "leases", "files"))
    assert prefix_range(b"\x01")[0] == b"\x01\x00"
