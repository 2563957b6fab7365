"""A byte-bounded, thread-safe LRU cache of grid blocks.

A :class:`CachedBlock` holds, for one block of a chunk grid, an array per output name
and a mask of the cells computed so far; :class:`BlockCache` keeps such blocks under a
byte bound, evicting the least recently used unpinned ones. The cache knows nothing of
how blocks are computed (:class:`~lazyact.array.blocks.BlockStore` fills them).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np

from .config import format_bytes

__all__ = ["BlockCache", "CachedBlock"]


class CachedBlock:
    """One grid block: an array per output name plus a mask of computed cells.

    ``pins`` counts the computations using it (a pinned block is never evicted), ``lock``
    serialises filling it, ``cached`` says whether the cache still holds it.
    """

    __slots__ = ("shape", "size", "nbytes", "lock", "arrays", "done", "ndone", "pins", "cached")

    def __init__(self, shape: tuple[int, int], bytes_per_cell: int) -> None:
        self.shape = shape
        self.size = shape[0] * shape[1]
        self.nbytes = self.size * bytes_per_cell
        self.lock = threading.Lock()
        self.arrays: dict[str, np.ndarray] | None = None
        self.done: np.ndarray | None = None
        self.ndone = 0
        self.pins = 0
        self.cached = False

    @property
    def complete(self) -> bool:
        return self.arrays is not None and self.ndone == self.size

    def allocate(self, names: Sequence[str], dtype: np.dtype) -> None:
        if self.arrays is None:
            self.arrays = {n: np.empty(self.shape, dtype) for n in names}
            self.done = np.zeros(self.shape, dtype=bool)


class BlockCache:
    """Byte-bounded, thread-safe LRU cache of blocks.

    Entries are pinned while a computation uses them and are never evicted while
    pinned; the cache may exceed ``max_bytes`` by the pinned blocks until they are
    released. ``max_bytes=0`` keeps nothing.

    Parameters
    ----------
    max_bytes : int
        Bound on the bytes allocated by the cached blocks.

    Examples
    --------
    >>> cache = BlockCache(2**20)
    >>> cache.max_bytes, len(cache), cache.nbytes
    (1048576, 0, 0)
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max(0, int(max_bytes))
        self._blocks: OrderedDict[Any, CachedBlock] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.evictions = 0

    @property
    def max_bytes(self) -> int:
        """Byte bound; setting it evicts down to the new bound."""
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        with self._lock:
            self._max_bytes = max(0, int(value))
            self._evict_locked()

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, key: Any) -> bool:
        return key in self._blocks

    def keys(self) -> list:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._blocks)

    def blocks(self) -> list[CachedBlock]:
        with self._lock:
            return list(self._blocks.values())

    def items(self) -> list[tuple[Any, CachedBlock]]:
        """(key, block) pairs, least recently used first (the LRU order is not touched)."""
        with self._lock:
            return list(self._blocks.items())

    def clear(self) -> None:
        """Drop every entry (blocks in use stay valid for their users)."""
        with self._lock:
            for block in self._blocks.values():
                block.cached = False
            self._blocks.clear()
            self.nbytes = 0

    def get(self, key: Any) -> CachedBlock | None:
        """The block for ``key`` (marked recently used), or None; not pinned."""
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
            return block

    def acquire(self, key: Any, factory: Callable[[], CachedBlock]) -> CachedBlock:
        """Pin and return the block for ``key``, creating it with ``factory`` if absent."""
        with self._lock:
            block = self._blocks.get(key)
            if block is None:
                block = factory()
                if self._max_bytes > 0:
                    self._blocks[key] = block
                    block.cached = True
                    self.nbytes += block.nbytes
            else:
                self._blocks.move_to_end(key)
            block.pins += 1
            self._evict_locked()
            return block

    def release(self, block: CachedBlock) -> None:
        """Unpin a block returned by :meth:`acquire`."""
        with self._lock:
            block.pins -= 1
            self._evict_locked()

    def _evict_locked(self) -> None:
        if self.nbytes <= self._max_bytes:
            return
        for key in list(self._blocks):
            if self.nbytes <= self._max_bytes:
                break
            block = self._blocks[key]
            if block.pins == 0:
                del self._blocks[key]
                block.cached = False
                self.nbytes -= block.nbytes
                self.evictions += 1

    def __repr__(self) -> str:
        return f"BlockCache({len(self)} blocks, {format_bytes(self.nbytes)} of {format_bytes(self._max_bytes)})"
