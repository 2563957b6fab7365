"""Generic lazy 2-D arrays computed block-wise by a function with several named outputs.

Nothing here knows what the outputs mean or how they are stored in files.

* :mod:`~lazyact.array.grid` -- chunk geometry: chunk shapes, index sets split by chunk.
* :mod:`~lazyact.array.cache` -- :class:`BlockCache`, a byte-bounded LRU cache of blocks.
* :mod:`~lazyact.array.blocks` -- :class:`BlockFunction` (the protocol) and
  :class:`BlockStore`: a block function with a chunk grid, a cache and a thread pool.
* :mod:`~lazyact.array.indexing` -- :func:`plan_index` / :func:`plan_oindex`: key ->
  (rows, cols, post-index, shape).
* :mod:`~lazyact.array.lazyarray` -- :class:`LazyArray`, a read-only NumPy-like view of
  one output of a store.
* :mod:`~lazyact.array.reduce` -- streaming reductions, :func:`summary` and the
  mergeable :class:`Accumulator`.
* :mod:`~lazyact.array.sinks` -- the generic resumable block writer (behind a layout
  protocol), :func:`~lazyact.array.sinks.read_all`, :func:`~lazyact.array.sinks.to_dask`.
* :mod:`~lazyact.array.tier` -- :class:`BlockTier`, a second (disk) storage level of a
  store, so that a second full pass reads instead of computing.
* :mod:`~lazyact.array.config` -- defaults (cache size, threads, progress bars).
"""
from . import config
from .blocks import BlockFunction, BlockStats, BlockStore
from .cache import BlockCache
from .config import format_bytes
from .grid import auto_chunks
from .indexing import IndexPlan, plan_index, plan_oindex
from .lazyarray import ArrayTooLargeError, LazyArray
from .reduce import MOMENTS, REDUCTIONS, Accumulator, reduce, reduce_many, summary
from .tier import BlockTier

__all__ = [
    "config",
    "Accumulator",
    "BlockFunction",
    "BlockCache",
    "BlockStats",
    "BlockStore",
    "BlockTier",
    "auto_chunks",
    "format_bytes",
    "IndexPlan",
    "plan_index",
    "plan_oindex",
    "LazyArray",
    "ArrayTooLargeError",
    "MOMENTS",
    "REDUCTIONS",
    "reduce",
    "reduce_many",
    "summary",
]
