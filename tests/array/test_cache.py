"""BlockCache on its own: LRU order, the byte bound, pinning."""
from __future__ import annotations

from lazyact.array import BlockCache
from lazyact.array.cache import CachedBlock


def block(cells=4, bytes_per_cell=17):
    return CachedBlock((1, cells), bytes_per_cell)


def test_standalone_cache_basics():
    cache = BlockCache(0)
    assert len(cache) == 0 and cache.get("x") is None
    assert "BlockCache" in repr(cache)
    b = cache.acquire("x", block)  # max_bytes=0 keeps nothing
    assert not b.cached and len(cache) == 0
    cache.release(b)


def test_lru_order_and_byte_bound():
    one = block().nbytes
    cache = BlockCache(3 * one)
    for key in "abc":
        cache.release(cache.acquire(key, block))
    assert cache.keys() == ["a", "b", "c"] and cache.nbytes == 3 * one
    assert cache.get("a") is not None  # touching makes it most recent
    cache.release(cache.acquire("d", block))
    assert cache.keys() == ["c", "a", "d"] and cache.evictions == 1
    cache.max_bytes = one  # shrinking evicts down to the bound
    assert cache.keys() == ["d"] and cache.nbytes == one


def test_pinned_blocks_are_not_evicted():
    one = block().nbytes
    cache = BlockCache(one)
    a = cache.acquire("a", block)  # pinned
    b = cache.acquire("b", block)
    assert a.cached and cache.nbytes == 2 * one  # over the bound while pinned
    cache.release(b)
    assert "b" not in cache and "a" in cache  # b was unpinned: evicted first
    cache.release(a)
    assert cache.nbytes <= cache.max_bytes


def test_blocks_allocate_once_and_track_completion():
    b = block(cells=3)
    assert not b.complete
    b.allocate(("x", "y"), "f8")
    arrays = b.arrays
    b.allocate(("x", "y"), "f8")
    assert b.arrays is arrays and b.done.shape == (1, 3)
    b.ndone = 3
    assert b.complete


def test_clear_keeps_blocks_valid_for_users():
    cache = BlockCache(2**20)
    b = cache.acquire("a", block)
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and not b.cached
    cache.release(b)
