"""Generic lazy 2-D arrays computed block-wise by a function with several named outputs.

* :class:`BlockStore` -- a :class:`BlockFunction` with a chunk grid, an LRU
  :class:`BlockCache` and a thread pool.
* :class:`LazyArray` -- a read-only NumPy-like view of one output of a store.
* :func:`plan_index` / :func:`plan_oindex` -- key -> (rows, cols, post-index, shape).
* :mod:`~lazyact.array.reduce` -- streaming reductions; :func:`summary`.
* :mod:`~lazyact.array.config` -- defaults (cache size, threads, progress bars).
"""
from . import config
from .blocks import BlockCache, BlockFunction, BlockStats, BlockStore, auto_chunks
from .indexing import IndexPlan, plan_index, plan_oindex
from .lazyarray import ArrayTooLargeError, LazyArray
from .reduce import REDUCTIONS, reduce, summary

__all__ = [
    "config",
    "BlockFunction",
    "BlockCache",
    "BlockStats",
    "BlockStore",
    "auto_chunks",
    "IndexPlan",
    "plan_index",
    "plan_oindex",
    "LazyArray",
    "ArrayTooLargeError",
    "REDUCTIONS",
    "reduce",
    "summary",
]
