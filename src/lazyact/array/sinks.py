"""Sinks of a :class:`~lazyact.array.blocks.BlockStore`: NumPy arrays, dask, and a resumable block writer.

Nothing here knows what the outputs mean or how a file is laid out:

* :func:`read_all` -- several outputs as NumPy arrays in ONE pass over the blocks
  (refusing oversized results, like :meth:`LazyArray.as_numpy`).
* :func:`to_dask` -- a dask array of one output.
* :func:`chunk_shape` -- the storage chunk shape that makes one row and one column
  block both cheap to read.
* :class:`BlockWriter` -- writes outputs column block by column block with bounded
  memory, resumably, through a :class:`BlockLayout`: the file format, which
  :mod:`lazyact.results` provides (one per format).

Resumable writing
-----------------
The writer makes a :class:`WritePlan` (column blocks of ``width`` samples, storage
chunks) and asks the layout to open the output: a fresh one, or an interrupted one to
continue, whose finished blocks the layout reports (:attr:`BlockOutput.done`). The
missing blocks are computed in parallel on the store's threads, always with the same
decomposition and bypassing the block cache (so a resumed output equals an
uninterrupted one bit for bit), and handed to the layout one complete column block at a
time, in order; the layout records each durably. Per-row summaries (mean, std, min,
max) are accumulated in the same pass (finished blocks are read back when resuming).
Finally the layout puts the output in place (:meth:`BlockOutput.commit`).
"""
from __future__ import annotations

import contextlib
import errno
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import config
from .blocks import BlockStore
from .config import format_bytes
from .grid import ChunkGroup, chunk_groups, full_groups
from .lazyarray import ArrayTooLargeError, LazyArray
from .reduce import Accumulator, sum_dtype_for

__all__ = [
    "BlockLayout",
    "BlockOutput",
    "BlockWriter",
    "Target",
    "WritePlan",
    "chunk_shape",
    "chunk_target_bytes",
    "read_all",
    "to_dask",
    "write_buffer_bytes",
]

#: Bytes of one write block (all outputs, in the stored dtype) when ``block`` is not given.
write_buffer_bytes: int = 64 * 2**20
#: Uncompressed bytes of one storage chunk chosen by :func:`chunk_shape`.
chunk_target_bytes: int = 256 * 2**10


# --------------------------------------------------------------------------- chunks
def chunk_shape(
    shape: tuple[int, int],
    itemsize: int = 8,
    *,
    max_cols: int | None = None,
    target_bytes: int | None = None,
) -> tuple[int, int] | None:
    """Storage chunk shape for a rows x cols array read both by row and by column block.

    Reading one row touches ``ceil(n_cols / c)`` chunks of ``r * c`` cells, i.e. about
    ``r * n_cols`` cells; reading a block of up to ``c`` columns touches
    ``ceil(n_rows / r)`` chunks, i.e. about ``n_rows * c`` cells. With ``r * c`` fixed
    by ``target_bytes`` both costs are balanced by ``r = sqrt(n_rows * K / n_cols)``.

    Parameters
    ----------
    shape : (int, int)
        Array shape (rows, cols).
    itemsize : int
        Bytes per value.
    max_cols : int, optional
        Upper bound on the chunk's columns (the writer's column block).
    target_bytes : int, optional
        Uncompressed bytes per chunk (default :data:`chunk_target_bytes`, 256 KiB).

    Returns
    -------
    (int, int) or None
        None for an empty array (which cannot be chunked).

    Examples
    --------
    >>> chunk_shape((43, 200_000))
    (3, 10922)
    >>> chunk_shape((1170, 2_000_000), max_cols=2048)
    (16, 2048)
    >>> chunk_shape((43, 5))
    (43, 5)
    """
    n_rows, n_cols = int(shape[0]), int(shape[1])
    if n_rows == 0 or n_cols == 0:
        return None
    k = max(1, int(chunk_target_bytes if target_bytes is None else target_bytes) // max(1, int(itemsize)))
    r = int(round(math.sqrt(n_rows * k / n_cols)))
    r = min(n_rows, max(1, r))
    c = min(n_cols, max(1, k // r))
    if max_cols is not None:
        c = min(c, max(1, int(max_cols)))
        r = min(n_rows, max(r, k // c))
    return r, c


# --------------------------------------------------------------------------- numpy, dask
def read_all(
    store: BlockStore,
    names: str | Sequence[str] | None = None,
    *,
    max_bytes: int | None = None,
    force: bool = False,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Several outputs of ``store`` as NumPy arrays, computed in one pass over the blocks.

    Parameters
    ----------
    store : BlockStore
    names : str or sequence of str, optional
        Outputs (default all).
    max_bytes : int, optional
        Refuse results (all outputs together) larger than this (default
        :data:`lazyact.array.config.max_materialise_bytes`).
    force : bool
        Materialise whatever the size.
    progress : bool, optional
        Progress bar (None: automatic on long work).

    Raises
    ------
    ArrayTooLargeError
        When the result would exceed ``max_bytes``.

    Examples
    --------
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (2, 3), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 10.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> read_all(BlockStore(Grid()))["y"]
    array([[ -0.,  -1.,  -2.],
           [-10., -11., -12.]])
    """
    names = store.check_names(names)
    total = store.shape[0] * store.shape[1] * store.dtype.itemsize * len(names)
    limit = config.max_materialise_bytes if max_bytes is None else int(max_bytes)
    if total > limit and not force:
        raise ArrayTooLargeError(
            f"{', '.join(names)} of shape {store.shape} ({store.dtype}) are {format_bytes(total)} together, more "
            f"than max_bytes={format_bytes(limit)}. Write them to disk block by block instead (to_hdf5 / to_h5ad), "
            f"select a part first, or pass force=True / max_bytes=..."
        )
    out = {n: np.empty(store.shape, dtype=store.dtype) for n in names}
    for rsl, csl, arrays in store.iter_blocks(names=names, cache=False, progress=progress, desc="reading"):
        for n in names:
            out[n][rsl, csl] = arrays[n]
    return out


def to_dask(store: BlockStore, name: str, chunks: Any = None, row_labels: Any = None, col_labels: Any = None) -> Any:
    """A dask array of output ``name`` whose tasks compute blocks of the store.

    The graph holds the store (which pickles without its cache), so it runs on a
    ``dask.distributed`` cluster when the block function pickles (expression sources
    pickle by reference, e.g. as their file path). Same as ``LazyArray.to_dask``.
    """
    return LazyArray(store, name, row_labels=row_labels, col_labels=col_labels).to_dask(chunks=chunks)


# --------------------------------------------------------------------------- the layout protocol
@dataclass(frozen=True)
class Target:
    """Output ``name`` of the store is stored under ``key`` (``transpose``: as cols x rows)."""

    name: str
    key: str
    transpose: bool = False


@dataclass(frozen=True)
class WritePlan:
    """How a :class:`BlockWriter` splits the work, handed to the layout when it opens the output.

    Attributes
    ----------
    names : tuple of str
        Outputs written, in the layout's target order.
    shape : (int, int)
        Rows x cols of every output.
    dtype : numpy.dtype
        Stored dtype.
    width : int
        Columns per write block (the resume granularity).
    n_blocks : int
        Number of column blocks.
    chunks : (int, int) or None
        Storage chunk shape (rows x cols; None for an empty array), from :func:`chunk_shape`.
    summary : bool
        Whether per-row summaries are stored at the end.
    """

    names: tuple[str, ...]
    shape: tuple[int, int]
    dtype: np.dtype
    width: int
    n_blocks: int
    chunks: tuple[int, int] | None
    summary: bool

    def columns(self, k: int) -> tuple[int, int]:
        """``(start, stop)`` of column block ``k``."""
        return k * self.width, min(self.shape[1], (k + 1) * self.width)


class BlockOutput(Protocol):
    """An output being written, opened by :meth:`BlockLayout.open` (fresh or to be continued).

    Attributes
    ----------
    final : pathlib.Path
        Where the complete output goes.
    partial : pathlib.Path
        Where it is while unfinished (named in messages: it keeps the finished blocks).
    complete : bool
        All blocks and the summaries are stored (only :meth:`commit` is left).
    done : numpy.ndarray
        One bool per column block: already stored.
    """

    final: Path
    partial: Path
    complete: bool
    done: np.ndarray

    def read_block(self, k: int) -> dict[str, np.ndarray]:
        """The stored column block ``k`` of every output (rows x block columns)."""
        ...

    def write_block(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Store column block ``k`` of every output and record it as done, durably."""
        ...

    def finish(self, summary: Mapping[str, Mapping[str, np.ndarray]] | None) -> None:
        """Store the per-row summaries (``{output: {moment: array}}``) and mark the output complete."""
        ...

    def commit(self) -> Path:
        """Close the complete output and put it in place under :attr:`final`; return that path."""
        ...

    def close(self) -> None:
        """Close an unfinished output, keeping what it holds (for a later resume)."""
        ...


class BlockLayout(Protocol):
    """A file format for :class:`BlockWriter`: where each output goes, and how it is stored.

    Attributes
    ----------
    kind : str
        The format's name (e.g. ``"hdf5"``).
    targets : sequence of Target
        The outputs written and where they go.
    """

    kind: str
    targets: Sequence[Target]

    def open(self, plan: WritePlan) -> BlockOutput:
        """Open the output for ``plan``: continue a matching unfinished one, or create it."""
        ...


# --------------------------------------------------------------------------- writer
class BlockWriter:
    """Writes outputs of a store column block by column block through a :class:`BlockLayout`.

    Parameters
    ----------
    store : BlockStore
    layout : BlockLayout
        The file format (its targets name the outputs to write).
    dtype : dtype, optional
        Stored dtype (default the store's; a floating type).
    block : int, optional
        Columns per write block (the resume granularity; default: about
        :data:`write_buffer_bytes` of all outputs, a multiple of the chunk width).
    progress : bool or None
        tqdm bar of samples written, with ETA (False: none; None: only for more than one
        block; silenced by ``config.progress = False``).
    summary : bool
        Also store per-row mean/std/min/max of each output, streamed in the same pass.
    blas_threads : int or None
        BLAS threads while the blocks are computed (default 1: the store's threads
        compute blocks in parallel, and float64 rounding does not depend on the BLAS
        thread setting of the process, so a resumed file is bitwise identical to an
        uninterrupted one even when the two processes were configured differently).
        None leaves BLAS alone.
    """

    def __init__(self, store: BlockStore, layout: BlockLayout, *, dtype: Any = None, block: int | None = None,
                 progress: bool | None = True, summary: bool = False, blas_threads: int | None = 1):
        self.store = store
        self.layout = layout
        names = tuple(t.name for t in layout.targets)
        store.check_names(names)
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"arrays must be unique and non-empty, got {names}")
        dtype = np.dtype(store.dtype if dtype is None else dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type, got {dtype}")
        shape = store.shape
        p, m = shape
        per_col = max(1, p * len(names) * dtype.itemsize)
        if block is None:
            budget = max(1, write_buffer_bytes // per_col)
            chunks = chunk_shape(shape, dtype.itemsize, max_cols=budget)
            width = budget if chunks is None else max(chunks[1], budget // chunks[1] * chunks[1])
        else:
            if int(block) < 1:
                raise ValueError(f"block must be a positive number of columns, got {block}")
            width = int(block)
            chunks = chunk_shape(shape, dtype.itemsize, max_cols=width)
        width = max(1, min(width, m)) if m else 1
        self.plan = WritePlan(names=names, shape=shape, dtype=dtype, width=width,
                              n_blocks=-(-m // width) if m else 0, chunks=chunks, summary=bool(summary))
        self.progress = progress
        self.blas_threads = blas_threads

    # -- computing
    def _tasks(self, pending: Sequence[int]) -> list[tuple[int, ChunkGroup, ChunkGroup]]:
        rgroups = full_groups(self.plan.shape[0], self.store.chunks[0])
        tasks = []
        for k in pending:
            lo, hi = self.plan.columns(k)
            for cg in chunk_groups(np.arange(lo, hi, dtype=np.intp), self.store.chunks[1]):
                for rg in rgroups:
                    tasks.append((k, rg, cg))
        return tasks

    def _work(self, task: tuple[int, ChunkGroup, ChunkGroup]) -> tuple:
        k, rg, cg = task
        res = self.store.compute(rg.index, cg.index)
        return k, rg, cg, {n: np.asarray(res[n], dtype=self.plan.dtype) for n in self.plan.names}

    def _compute_block(self, k: int, stream: Iterator, bar: tqdm) -> dict[str, np.ndarray]:
        """Column block ``k``, assembled from the stream of its tasks (which come in order)."""
        plan = self.plan
        p = plan.shape[0]
        lo, hi = plan.columns(k)
        buf = {n: np.empty((p, hi - lo), dtype=plan.dtype) for n in plan.names}
        need = len(chunk_groups(np.arange(lo, hi), self.store.chunks[1])) * len(full_groups(p, self.store.chunks[0]))
        for _ in range(need):
            kk, rg, cg, arrays = next(stream)
            if kk != k:  # pragma: no cover - the stream yields in task order
                raise RuntimeError(f"block {kk} arrived while writing block {k}")
            for n in plan.names:
                buf[n][rg.positions, cg.positions] = arrays[n]
            if rg.chunk == (p - 1) // self.store.chunks[0]:
                bar.update(cg.index.size)
        return buf

    def _bar(self, out: BlockOutput, initial: int) -> tqdm:
        m = self.plan.shape[1]
        enabled = self.progress is not False and config.progress_enabled()
        if self.progress is None:
            enabled = enabled and self.plan.n_blocks > 1
        return tqdm(total=m, initial=initial, disable=not enabled, unit="sample", unit_scale=m >= 100_000,
                    desc=f"writing {out.final.name}", dynamic_ncols=True, smoothing=0.1)

    def run(self) -> Path:
        """Write (or finish) the output; return its final path."""
        plan = self.plan
        p, m = plan.shape
        out = self.layout.open(plan)
        try:
            complete = out.complete
            done = np.ones(plan.n_blocks, dtype=bool) if complete else np.asarray(out.done, dtype=bool)
            pending = [k for k in range(plan.n_blocks) if not done[k]]
            accs = None
            if plan.summary and not complete:
                sdt = sum_dtype_for(plan.dtype)
                # skipna: NaN marks samples without an answer, as in LazyActivity.summary()
                accs = {n: Accumulator(p, {"sum", "moments", "min", "max"}, True, plan.dtype, sdt)
                        for n in plan.names}
            done_cols = sum(hi - lo for k, (lo, hi) in enumerate(map(plan.columns, range(plan.n_blocks))) if done[k])
            bar = self._bar(out, done_cols)
            stream: Iterator | None = None
            limits = contextlib.ExitStack()
            if self.blas_threads is not None and pending:
                limits.enter_context(threadpool_limits(limits=int(self.blas_threads), user_api="blas"))
            try:
                if pending:
                    stream = self.store.stream(self._work, self._tasks(pending), False, None)
                written = 0
                for k in range(0 if complete else plan.n_blocks):
                    if done[k]:
                        if accs is None:
                            continue
                        buf = out.read_block(k)
                    else:
                        buf = self._compute_block(k, stream, bar)  # type: ignore[arg-type]
                        try:
                            out.write_block(k, buf)
                        except OSError as exc:
                            raise OSError(
                                exc.errno or errno.EIO,
                                f"writing '{out.partial}' failed after {written + int(done.sum())} of "
                                f"{plan.n_blocks} column blocks ({exc}). The finished blocks are kept in "
                                f"'{out.partial}': free space (or fix the cause) and run the same command again "
                                "to resume, or delete it. Nothing was written under the final name "
                                f"'{out.final.name}'.") from exc
                        written += 1
                    if accs is not None:
                        for n in plan.names:
                            accs[n].add(buf[n], axis=1, sl=slice(0, p))
                    del buf
            finally:
                if stream is not None:
                    stream.close()  # type: ignore[attr-defined]
                bar.close()
                limits.close()
            if not complete:
                summary = None
                if accs is not None:
                    with np.errstate(all="ignore"):
                        summary = {n: {"mean": a.sum / np.maximum(a.count, 1), "std": np.sqrt(a.var_(0)),
                                       "min": a.extreme("min"), "max": a.extreme("max")} for n, a in accs.items()}
                out.finish(summary)
        except BaseException as exc:
            try:
                out.close()
            except Exception:  # pragma: no cover - e.g. disk still full
                pass
            if hasattr(exc, "add_note") and not isinstance(exc, OSError):
                exc.add_note(f"lazyact: the finished column blocks are kept in '{out.partial}'; run the same "
                             "call again to resume (or delete it).")
            raise
        return out.commit()
