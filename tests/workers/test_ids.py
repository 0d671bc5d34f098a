"""UUIDv7 blocks: a batch's ids made anywhere from the same block are the same ids."""

from __future__ import annotations

import pickle

from workers.ids import Uuid7Block, from_ms, uuid7s


def test_a_block_gives_the_same_ids_in_any_process_that_unpickles_it() -> None:
    block = Uuid7Block.new(500, ms=1_764_000_000_000)
    ids = block.ids()
    assert pickle.loads(pickle.dumps(block)).ids() == ids
    assert len(pickle.dumps(block)) < len(pickle.dumps(ids)) // 2  # what crosses the pipe
    assert len(set(ids)) == 500
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {ids[0].variant}
    assert {i.int >> 80 for i in ids} == {1_764_000_000_000}  # the moment, in ms


def test_blocks_of_later_moments_sort_after_earlier_ones() -> None:
    early, late = uuid7s(50, ms=1_000), uuid7s(50, ms=1_001)
    assert max(early) < min(late)
    assert from_ms(1_001).timestamp() == 1.001
