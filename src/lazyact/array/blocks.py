"""Block-wise computation of a 2-D array with several named outputs, cached and threaded.

A :class:`BlockFunction` computes any rectangle ``rows x cols`` of a 2-D array and
returns several named outputs at once (e.g. four statistics of one model). A
:class:`BlockStore` wraps it with a chunk grid (:mod:`lazyact.array.grid`), a
byte-bounded thread-safe LRU :class:`~lazyact.array.cache.BlockCache` of grid blocks
(:mod:`lazyact.array.cache`), counters (:class:`BlockStats`) and a thread pool:

* :meth:`BlockStore.read` -- any sorted set of rows x cols as dense arrays, computing
  only the missing cells: for each column chunk, ONE call for (rows with a missing
  cell) x (columns with a missing cell) over all the row chunks it touches (a
  function's per-column setup is paid once per column chunk; rows nobody asked for are
  never computed). Column chunks are computed in parallel.
* :meth:`BlockStore.read_points` -- the values at scattered (row, col) points,
  computing for each block that holds points only the rows x cols of its points.
* :meth:`BlockStore.iter_blocks` -- stream the chunk grid in parallel with bounded
  memory, for reductions and writers.

Long work shows a tqdm progress bar (:meth:`BlockStore.progress_bar`): decided from
the number of blocks and the time the store has measured per computed cell.

The store knows nothing about what the outputs mean.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from . import config
from .cache import BlockCache, CachedBlock
from .grid import ChunkGroup, auto_chunks, chunk_groups, compact, full_groups, grid_shape, normalise_chunks
from .tier import BlockTier, tier_fraction, tiered_compute

__all__ = ["BlockFunction", "BlockStats", "BlockStore"]


@runtime_checkable
class BlockFunction(Protocol):
    """A 2-D array computed rectangle by rectangle, with several named outputs.

    Attributes
    ----------
    names : tuple of str
        Names of the outputs; every call returns all of them.
    shape : tuple of (int, int)
        Shape of every output.
    dtype : numpy.dtype
        Common dtype of the outputs.
    preferred_chunks : tuple of (int, int), optional
        Chunk shape a :class:`BlockStore` uses when none is given.
    token : str, optional
        Deterministic identity (used to name dask graphs); a random one otherwise.

    Notes
    -----
    ``function(rows, cols)`` receives sorted, unique ``intp`` arrays and returns a
    mapping ``{name: array of shape (len(rows), len(cols))}`` for all ``names``. The
    result must depend only on the cells (a rectangle computed in any split gives the
    same values), and the function must be thread-safe: different column sets are
    computed concurrently. To be used with dask distributed it must be picklable.
    """

    names: tuple[str, ...]
    shape: tuple[int, int]
    dtype: np.dtype

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> Mapping[str, np.ndarray]:
        ...


# --------------------------------------------------------------------------- statistics
class BlockStats:
    """Thread-safe counters of a :class:`BlockStore`.

    Attributes
    ----------
    calls : int
        Calls of the block function.
    cells : int
        Cells computed (``len(rows) * len(cols)`` summed over calls).
    hits, misses : int
        Block accesses that found all needed cells cached / had to compute some.
    seconds : float
        Time spent in the block function (summed over threads).
    stored_cells, stored_blocks : int
        Cells read from the store's disk tier instead of computed; column blocks given to
        it (see :mod:`lazyact.array.tier`).
    """

    _fields = ("calls", "cells", "hits", "misses", "seconds", "stored_cells", "stored_blocks")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Set all counters to zero."""
        with self._lock:
            for f in self._fields:
                setattr(self, f, 0)
            self.seconds = 0.0

    def add(self, **counts: float) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + (float(value) if key == "seconds" else int(value)))

    def seconds_per_cell(self) -> float | None:
        """Measured time per computed cell (None before the first computation)."""
        with self._lock:
            return self.seconds / self.cells if self.cells else None

    def as_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        with self._lock:
            return {f: getattr(self, f) for f in self._fields}

    def __repr__(self) -> str:
        return "BlockStats(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


# --------------------------------------------------------------------------- helpers
def _take(a: np.ndarray, r: np.ndarray | slice, c: np.ndarray | slice) -> np.ndarray:
    if isinstance(r, np.ndarray) and isinstance(c, np.ndarray):
        return a[np.ix_(r, c)]
    return a[r, c]


def _put(a: np.ndarray, r: np.ndarray | slice, c: np.ndarray | slice, value: Any) -> None:
    if isinstance(r, np.ndarray) and isinstance(c, np.ndarray):
        a[np.ix_(r, c)] = value
    else:
        a[r, c] = value



# --------------------------------------------------------------------------- store
class BlockStore:
    """A :class:`BlockFunction` with a chunk grid, an LRU block cache and a thread pool.

    Parameters
    ----------
    function : BlockFunction
        Computes any rows x cols rectangle of all outputs.
    chunks : (int, int), optional
        Chunk shape of the grid (cache granularity); ``-1`` means a whole axis. Default:
        ``function.preferred_chunks`` if present, else about
        :data:`lazyact.array.config.block_bytes` per block.
    cache_bytes : int, optional
        Cache bound (default :data:`lazyact.array.config.cache_bytes`, 512 MiB); ``0``
        disables caching.
    threads : int, optional
        Worker threads (default :func:`lazyact.array.config.default_threads`).
    tier : BlockTier, optional
        A second storage level (:mod:`lazyact.array.tier`): columns it holds are read, not
        computed, and full-height column blocks computed are given to it. Settable later.

    Notes
    -----
    Pickling keeps the function, chunks, cache size, thread count, token and tier (which
    decides what of itself travels), not the cache contents: an unpickled store starts
    with an empty cache.

    Examples
    --------
    >>> import numpy as np
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (4, 6), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 10.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> store = BlockStore(Grid(), chunks=(2, 3))
    >>> store.read(np.array([1, 3]), np.array([0, 5]))["y"]
    array([[-10., -15.],
           [-30., -35.]])
    >>> store.read(np.array([1]), np.array([5]))["x"], store.stats.calls  # cached
    (array([[15.]]), 2)
    """

    def __init__(
        self,
        function: BlockFunction,
        chunks: tuple[int, int] | None = None,
        cache_bytes: int | None = None,
        threads: int | None = None,
        tier: BlockTier | None = None,
    ) -> None:
        self.function = function
        self.tier = tier
        self.names: tuple[str, ...] = tuple(function.names)
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"function.names must be unique and non-empty, got {self.names!r}")
        self.shape: tuple[int, int] = (int(function.shape[0]), int(function.shape[1]))
        if len(function.shape) != 2 or min(self.shape) < 0:
            raise ValueError(f"function.shape must be 2-D, got {function.shape!r}")
        self.dtype = np.dtype(function.dtype)
        if chunks is None:
            chunks = getattr(function, "preferred_chunks", None)
        if chunks is None:
            chunks = auto_chunks(self.shape, self.dtype.itemsize, len(self.names))
        self.chunks: tuple[int, int] = normalise_chunks(chunks, self.shape)
        self.cache_bytes = int(config.cache_bytes if cache_bytes is None else cache_bytes)
        self.threads = threads
        if threads is None:
            config.default_threads()  # an invalid LAZYACT_THREADS fails here, clearly
        self.token: str = str(getattr(function, "token", None) or uuid.uuid4().hex)
        self._init_runtime()

    # -- runtime state (not pickled)
    def _init_runtime(self) -> None:
        self.cache = BlockCache(self.cache_bytes)
        self.stats = BlockStats()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = os.getpid()
        self._executor_lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {
            "function": self.function,
            "chunks": self.chunks,
            "cache_bytes": self.cache_bytes,
            "threads": self.threads,
            "token": self.token,
            "tier": self.tier,
        }

    def __setstate__(self, state: dict) -> None:
        fn = state["function"]
        self.function = fn
        self.names = tuple(fn.names)
        self.shape = (int(fn.shape[0]), int(fn.shape[1]))
        self.dtype = np.dtype(fn.dtype)
        self.chunks = tuple(state["chunks"])  # type: ignore[assignment]
        self.cache_bytes = state["cache_bytes"]
        self.threads = state["threads"]
        self.token = state["token"]
        self.tier = state.get("tier")
        self._init_runtime()

    def __del__(self) -> None:
        ex = getattr(self, "_executor", None)
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)

    # -- properties
    @property
    def nthreads(self) -> int:
        """Worker threads used."""
        return max(1, int(self.threads)) if self.threads is not None else config.default_threads()

    @property
    def grid(self) -> tuple[int, int]:
        """Number of chunks along each axis."""
        return grid_shape(self.shape, self.chunks)

    @property
    def bytes_per_cell(self) -> int:
        """Bytes one cell takes in a cached block: every output plus the done mask."""
        return self.dtype.itemsize * len(self.names) + 1

    @property
    def cacheable(self) -> bool:
        """Whether one full block fits in the cache (else blocks are computed uncached)."""
        full = self.chunks[0] * self.chunks[1] * self.bytes_per_cell
        return 0 < full <= self.cache.max_bytes

    def cached_fraction(self) -> float:
        """Fraction of all cells currently held by the cache (no computation)."""
        total = self.shape[0] * self.shape[1]
        if total == 0:
            return 0.0
        return sum(b.ndone for b in self.cache.blocks()) / total

    def computed_fraction(self) -> float:
        """Fraction of all cells available without computing: in the cache or in the tier."""
        total = self.shape[0] * self.shape[1]
        if total == 0:
            return 0.0
        if self.tier is None:
            return self.cached_fraction()
        on_disk = np.zeros(self.grid[1], dtype=bool)
        width, cc = int(self.tier.width), self.chunks[1]
        for k in np.flatnonzero(np.asarray(self.tier.done(), dtype=bool)).tolist():
            lo, hi = k * width, min(self.shape[1], (k + 1) * width)
            if lo % cc == 0 and (hi % cc == 0 or hi == self.shape[1]):  # whole column chunks
                on_disk[lo // cc : -(-hi // cc)] = True
        cells = tier_fraction(self.tier, self.shape[1]) * total
        cells += sum(b.ndone for key, b in self.cache.items() if not on_disk[key[1]])
        return min(1.0, cells / total)

    def clear_cache(self) -> None:
        """Empty the cache."""
        self.cache.clear()

    def __repr__(self) -> str:
        return (
            f"BlockStore({type(self.function).__name__}, shape={self.shape}, chunks={self.chunks}, "
            f"names={self.names}, dtype={self.dtype}, cache={self.cache.nbytes}/{self.cache.max_bytes} B)"
        )

    # -- executor
    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            # a forked child inherits the executor object but not its threads: make a new one
            if self._executor is None or self._executor_pid != os.getpid():
                self._executor = ThreadPoolExecutor(self.nthreads, thread_name_prefix="lazyact-block")
                self._executor_pid = os.getpid()
            return self._executor

    def _run_all(self, fn: Callable[[Any], None], tasks: Sequence[Any], cells: int = 0,
                 progress: bool | None = False, desc: str | None = None) -> None:
        """Run ``fn`` on every task (in parallel), with a progress bar over the tasks."""
        with self.progress_bar(len(tasks), progress, desc, cells=cells) as bar:
            if len(tasks) <= 1 or self.nthreads == 1:
                for t in tasks:
                    fn(t)
                    bar.update(1)
                return
            for _ in self._pool().map(fn, tasks):
                bar.update(1)

    # -- argument checks
    def check_names(self, names: str | Sequence[str] | None) -> tuple[str, ...]:
        """``names`` (one, several or None for all) as a tuple of outputs; ``KeyError`` when unknown."""
        if names is None:
            return self.names
        if isinstance(names, str):
            names = (names,)
        names = tuple(names)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"unknown output name(s) {unknown}; available: {list(self.names)}")
        return names

    def check_index(self, idx: Any, axis: int) -> np.ndarray:
        """A sorted unique index array along ``axis`` (a slice or None for all is accepted)."""
        n = self.shape[axis]
        if idx is None:
            return np.arange(n, dtype=np.intp)
        if isinstance(idx, slice):
            start, stop, step = idx.indices(n)
            r = np.arange(start, stop, step, dtype=np.intp)
            return r[::-1].copy() if step < 0 else r
        arr = np.asarray(idx)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"axis {axis} index must be a 1-D integer array")
        arr = arr.astype(np.intp, copy=False)
        if arr.size:
            if arr.size > 1 and not np.all(arr[1:] > arr[:-1]):
                raise ValueError(f"axis {axis} index must be sorted and unique")
            if arr[0] < 0 or arr[-1] >= n:
                raise IndexError(f"axis {axis} index out of range [0, {n})")
        return arr

    # -- computing
    def compute(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        """Call the block function once for ``rows x cols``, bypassing the cache.

        The outputs are checked (every name, the right shape) and converted to the
        store's dtype; the call is counted in :attr:`stats`. With a :attr:`tier`, the
        columns it holds are read from it instead (:func:`~lazyact.array.tier.tiered_compute`).
        """
        if self.tier is not None:
            return tiered_compute(self, rows, cols, self._call)
        return self._call(rows, cols)

    def _call(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        res = self.function(rows, cols)
        seconds = time.perf_counter() - t0
        out = {}
        shape = (rows.size, cols.size)
        for n in self.names:
            try:
                a = res[n]
            except KeyError:
                raise KeyError(f"block function returned no output {n!r}") from None
            a = np.asarray(a, dtype=self.dtype)
            if a.shape != shape:
                raise ValueError(f"block function returned {n!r} of shape {a.shape}, expected {shape}")
            out[n] = a
        self.stats.add(calls=1, cells=shape[0] * shape[1], seconds=seconds)
        return out

    def _new_block(self, i: int, j: int) -> CachedBlock:
        rc, cc = self.chunks
        shape = (min(rc, self.shape[0] - i * rc), min(cc, self.shape[1] - j * cc))
        return CachedBlock(shape, self.bytes_per_cell)

    def _fill(
        self,
        j: int,
        cols_g: np.ndarray,
        lcols: np.ndarray | slice,
        cpos: slice,
        rgroups: Sequence[ChunkGroup],
        out: dict[str, np.ndarray],
        names: tuple[str, ...],
    ) -> None:
        """Fill ``out[name][rpos, cpos]`` for all row groups of column chunk ``j``."""
        if not self.cacheable:
            rows_g = np.concatenate([g[1] for g in rgroups]) if len(rgroups) > 1 else rgroups[0][1]
            res = self.compute(rows_g, cols_g)
            self.stats.add(misses=len(rgroups))
            start = 0
            for _, rg, _, rpos in rgroups:
                seg = slice(start, start + rg.size)
                start += rg.size
                for n in names:
                    out[n][rpos, cpos] = res[n][seg]
            return

        lcols_arr = cols_g - j * self.chunks[1]
        blocks = [self.cache.acquire((i, j), lambda i=i: self._new_block(i, j)) for i, _, _, _ in rgroups]
        try:
            with contextlib.ExitStack() as stack:
                for b in blocks:  # ascending i: a consistent order, no deadlock
                    stack.enter_context(b.lock)
                miss_rows: list[np.ndarray] = []
                miss_blocks: list[int] = []
                miss_cols = np.zeros(cols_g.size, dtype=bool)
                hits = 0
                for k, (b, (i, rows_g, lrows, _)) in enumerate(zip(blocks, rgroups)):
                    b.allocate(self.names, self.dtype)
                    if b.ndone == b.size:
                        hits += 1
                        continue
                    d = _take(b.done, lrows, lcols)
                    if d.all():
                        hits += 1
                        continue
                    miss_rows.append(rows_g[~d.all(axis=1)])
                    miss_blocks.append(k)
                    miss_cols |= ~d.all(axis=0)
                self.stats.add(hits=hits, misses=len(miss_blocks))
                if miss_blocks:
                    mrows = np.concatenate(miss_rows)
                    res = self.compute(mrows, cols_g[miss_cols])
                    lc = compact(lcols_arr[miss_cols])
                    start = 0
                    for k, mr in zip(miss_blocks, miss_rows):
                        b = blocks[k]
                        seg = slice(start, start + mr.size)
                        start += mr.size
                        lr = compact(mr - rgroups[k][0] * self.chunks[0])
                        already = int(np.count_nonzero(_take(b.done, lr, lc)))
                        for n in self.names:
                            _put(b.arrays[n], lr, lc, res[n][seg])
                        _put(b.done, lr, lc, True)
                        b.ndone += mr.size * int(np.count_nonzero(miss_cols)) - already
                for b, (_, _, lrows, rpos) in zip(blocks, rgroups):
                    for n in names:
                        out[n][rpos, cpos] = _take(b.arrays[n], lrows, lcols)
        finally:
            for b in blocks:
                self.cache.release(b)

    def read(
        self,
        rows: np.ndarray | slice | None,
        cols: np.ndarray | slice | None,
        names: str | Sequence[str] | None = None,
        progress: bool | None = None,
        desc: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Dense values of ``rows x cols`` for each output in ``names`` (default all).

        Parameters
        ----------
        rows, cols : numpy.ndarray, slice or None
            Sorted unique integer indices (a slice or None for all is also accepted).
        names : str or sequence of str, optional
            Outputs to return (all outputs are computed and cached anyway).
        progress : bool, optional
            Progress bar over the column chunks: None = automatic (see
            :meth:`progress_bar`).
        desc : str, optional
            Progress bar label.

        Returns
        -------
        dict of str to numpy.ndarray
            Fresh arrays of shape ``(len(rows), len(cols))`` (not views of the cache).

        Examples
        --------
        >>> import numpy as np
        >>> class Ones:
        ...     names, shape, dtype = ("one",), (3, 3), np.dtype("f8")
        ...     def __call__(self, rows, cols):
        ...         return {"one": np.ones((rows.size, cols.size))}
        >>> BlockStore(Ones()).read(np.array([0, 2]), None)["one"].shape
        (2, 3)
        """
        names = self.check_names(names)
        rows = self.check_index(rows, 0)
        cols = self.check_index(cols, 1)
        out = {n: np.empty((rows.size, cols.size), self.dtype) for n in names}
        if rows.size == 0 or cols.size == 0:
            return out
        rgroups = chunk_groups(rows, self.chunks[0])
        tasks = chunk_groups(cols, self.chunks[1])

        def run(task: tuple) -> None:
            j, cols_g, lcols, cpos = task
            self._fill(j, cols_g, lcols, cpos, rgroups, out, names)

        self._run_all(run, tasks, rows.size * cols.size, progress, desc)
        return out

    def point_blocks(self, rows: np.ndarray, cols: np.ndarray) -> tuple[list[tuple], int]:
        """Scattered points grouped by the grid block that holds them.

        Parameters
        ----------
        rows, cols : numpy.ndarray
            1-D ``intp`` arrays of equal length: the points ``(rows[k], cols[k])``.

        Returns
        -------
        groups : list of tuple
            Per block ``(i, j, point positions, block rows, block cols)`` with the sorted
            unique rows and cols of its points.
        cells : int
            Cells that computing the rows x cols of each block's points takes.
        """
        rc, cc = self.chunks
        ncb = max(1, self.grid[1])
        block = (rows // rc).astype(np.int64) * ncb + cols // cc
        order = np.argsort(block, kind="stable")
        sb = block[order]
        cuts = np.flatnonzero(sb[1:] != sb[:-1]) + 1
        groups, cells = [], 0
        for pos in np.split(order, cuts) if order.size else []:
            b = int(block[pos[0]])
            r, c = np.unique(rows[pos]), np.unique(cols[pos])
            groups.append((b // ncb, b % ncb, pos, r, c))
            cells += r.size * c.size
        return groups, cells

    def read_points(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        names: str | Sequence[str] | None = None,
        progress: bool | None = None,
        desc: str | None = None,
        groups: tuple[list[tuple], int] | None = None,
    ) -> dict[str, np.ndarray]:
        """Values at scattered points ``(rows[k], cols[k])``, computing only the blocks that hold them.

        Each grid block holding points computes (through the cache) the rows x cols of
        its points, not the rectangle spanned by all the points; when that rectangle is
        not larger, it is read with :meth:`read` instead (fewer calls).

        Parameters
        ----------
        rows, cols : numpy.ndarray
            1-D integer arrays of equal length (any order, repeats allowed).
        names, progress, desc
            As for :meth:`read`.
        groups : tuple, optional
            :meth:`point_blocks` of these points, when already known.

        Returns
        -------
        dict of str to numpy.ndarray
            1-D arrays, one value per point.

        Examples
        --------
        >>> import numpy as np
        >>> class Grid:
        ...     names, shape, dtype = ("x",), (1000, 1000), np.dtype("f8")
        ...     def __call__(self, rows, cols):
        ...         return {"x": rows[:, None] * 1000.0 + cols[None, :]}
        >>> store = BlockStore(Grid(), chunks=(100, 100))
        >>> store.read_points(np.array([5, 990, 5]), np.array([7, 3, 7]))["x"]
        array([  5007., 990003.,   5007.])
        >>> store.stats.cells  # two blocks, one cell each (the rectangle would be 2 x 2)
        2
        """
        names = self.check_names(names)
        rows = np.asarray(rows, dtype=np.intp).ravel()
        cols = np.asarray(cols, dtype=np.intp).ravel()
        if rows.shape != cols.shape:
            raise ValueError(f"rows and cols must have the same length, got {rows.size} and {cols.size}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0] or cols.min() < 0
                          or cols.max() >= self.shape[1]):
            raise IndexError(f"points out of range of shape {self.shape}")
        out = {n: np.empty(rows.size, self.dtype) for n in names}
        if rows.size == 0:
            return out
        urows, ucols = np.unique(rows), np.unique(cols)
        groups, cells = self.point_blocks(rows, cols) if groups is None else groups
        if cells >= urows.size * ucols.size:
            rect = self.read(urows, ucols, names, progress, desc)
            ri, ci = np.searchsorted(urows, rows), np.searchsorted(ucols, cols)
            return {n: rect[n][ri, ci] for n in names}

        rc, cc = self.chunks

        def run(group: tuple) -> None:
            i, j, pos, r, c = group
            block = {n: np.empty((r.size, c.size), self.dtype) for n in names}
            rgroup = ChunkGroup(i, r, compact(r - i * rc), slice(0, r.size))
            self._fill(j, c, compact(c - j * cc), slice(None), [rgroup], block, names)
            ri, ci = np.searchsorted(r, rows[pos]), np.searchsorted(c, cols[pos])
            for n in names:
                out[n][pos] = block[n][ri, ci]

        self._run_all(run, groups, cells, progress, desc)
        return out

    # -- streaming
    def _selection_groups(self, sel: Any, axis: int) -> list:
        if sel is None or (isinstance(sel, slice) and sel == slice(None)):
            return full_groups(self.shape[axis], self.chunks[axis])
        idx = self.check_index(sel, axis)
        # positions of each group within the selection
        return chunk_groups(idx, self.chunks[axis])

    def _block_task(self, rg: tuple, cg: tuple, names: tuple[str, ...], cache: bool) -> dict[str, np.ndarray]:
        i, rows_g, lrows, _ = rg
        j, cols_g, lcols, _ = cg
        if cache and self.cacheable:
            out = {n: np.empty((rows_g.size, cols_g.size), self.dtype) for n in names}
            self._fill(j, cols_g, lcols, slice(None), [(i, rows_g, lrows, slice(None))], out, names)
            return out
        block = self.cache.get((i, j)) if self.cacheable else None
        if block is not None and block.complete:
            self.stats.add(hits=1)
            return {n: np.array(_take(block.arrays[n], lrows, lcols), copy=True) for n in names}
        self.stats.add(misses=1)
        res = self.compute(rows_g, cols_g)
        return {n: res[n] for n in names}

    def estimate_seconds(self, cells: int) -> float | None:
        """Wall-clock seconds that computing ``cells`` cells is expected to take, from the
        time measured so far per cell (None before anything was computed)."""
        per_cell = self.stats.seconds_per_cell()
        if per_cell is None or cells <= 0:
            return None
        return cells * per_cell / self.nthreads

    def shows_progress(self, total: int, cells: int = 0) -> bool:
        """Whether automatic progress (``progress=None``) is on for ``total`` blocks of ``cells`` cells.

        On (when :func:`~lazyact.array.config.progress_enabled`) when the work is
        estimated, from the time measured per cell, to take at least
        ``config.progress_seconds`` (however few blocks), or, before anything was
        measured, when it has more than ``config.progress_min_blocks`` blocks.
        """
        if total < 1 or not config.progress_enabled():
            return False
        seconds = self.estimate_seconds(cells)
        if seconds is not None:
            return seconds >= config.progress_seconds
        return total > config.progress_min_blocks

    def progress_bar(self, total: int, progress: bool | None = None, desc: str | None = None,
                     cells: int = 0) -> tqdm:
        """A tqdm bar over ``total`` blocks of ``cells`` cells, following the progress rules.

        ``progress=None``: automatic, see :meth:`shows_progress`; the bar appears once
        the work has lasted ``config.progress_delay`` seconds. ``True``/``False`` force
        it on/off.
        """
        if progress is None:
            enabled, delay = self.shows_progress(total, cells), config.progress_delay
        else:
            enabled, delay = bool(progress), 0.0
        return tqdm(total=total, disable=not enabled, delay=delay, desc=desc, unit="block", dynamic_ncols=True)

    def iter_blocks(
        self,
        names: str | Sequence[str] | None = None,
        rows: np.ndarray | slice | None = None,
        cols: np.ndarray | slice | None = None,
        cache: bool = False,
        progress: bool | None = None,
        transform: Callable[[dict[str, np.ndarray]], Any] | None = None,
        desc: str | None = None,
    ) -> Iterator[tuple[slice, slice, Any]]:
        """Stream the chunk grid: yield ``(row_slice, col_slice, {name: array})`` per block.

        Blocks are computed in parallel on the thread pool, at most ``2 * threads``
        ahead of the consumer, and yielded in a deterministic row-major grid order.

        Parameters
        ----------
        names : str or sequence of str, optional
            Outputs to yield (default all).
        rows, cols : numpy.ndarray or slice, optional
            Restrict to these sorted unique indices (default all). The yielded slices
            are positions within the selection (global indices when it is all).
        cache : bool
            ``True``: read through the cache and fill it. ``False`` (default): use
            complete cached blocks but do not store new ones (a sweep over a large
            array does not evict what the user is looking at).
        progress : bool, optional
            Progress bar: None = automatic (see :meth:`progress_bar`).
        transform : callable, optional
            Applied to each ``{name: array}`` in the worker thread; its result is
            yielded instead (e.g. per-block partial reductions).
        desc : str, optional
            Progress bar label.

        Examples
        --------
        >>> import numpy as np
        >>> class Ij:
        ...     names, shape, dtype = ("v",), (5, 4), np.dtype("f8")
        ...     def __call__(self, rows, cols):
        ...         return {"v": rows[:, None] + 0.0 * cols[None, :]}
        >>> store = BlockStore(Ij(), chunks=(2, 4))
        >>> [(r, c, b["v"].shape) for r, c, b in store.iter_blocks()]
        [(slice(0, 2, None), slice(0, 4, None), (2, 4)), (slice(2, 4, None), slice(0, 4, None), (2, 4)), (slice(4, 5, None), slice(0, 4, None), (1, 4))]
        """
        names = self.check_names(names)
        rgroups = self._selection_groups(rows, 0)
        cgroups = self._selection_groups(cols, 1)
        tasks = [(rg, cg) for rg in rgroups for cg in cgroups]
        cells = sum(g.index.size for g in rgroups) * sum(g.index.size for g in cgroups)

        def work(task: tuple) -> tuple[slice, slice, Any]:
            rg, cg = task
            arrays = self._block_task(rg, cg, names, cache)
            return rg[3], cg[3], (transform(arrays) if transform is not None else arrays)

        return self.stream(work, tasks, progress, desc, cells)

    def stream(self, work: Callable[[Any], Any], tasks: Sequence[Any], progress: bool | None = None,
               desc: str | None = None, cells: int = 0) -> Iterator[Any]:
        """Run ``work(task)`` for every task on the thread pool and yield the results in task order.

        At most ``2 * threads`` tasks run ahead of the consumer (bounded memory); a
        progress bar counts the tasks (see :meth:`progress_bar`; ``cells``: the cells
        the tasks compute, for the time estimate). Closing the generator cancels the
        tasks not yet started.
        """
        bar = self.progress_bar(len(tasks), progress, desc, cells)
        pending: deque = deque()
        try:
            if self.nthreads == 1 or len(tasks) <= 1:
                for t in tasks:
                    result = work(t)
                    bar.update(1)
                    yield result
                return
            pool = self._pool()
            it = iter(tasks)
            for t in islice(it, 2 * self.nthreads):
                pending.append(pool.submit(work, t))
            while pending:
                result = pending.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(work, nxt))
                bar.update(1)
                yield result
        finally:
            for fut in pending:
                fut.cancel()
            bar.close()
