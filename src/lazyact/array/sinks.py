"""Sinks of a :class:`~lazyact.array.blocks.BlockStore`: NumPy arrays, dask, and a crash-safe block writer.

Nothing here knows what the outputs mean or how a file is laid out:

* :func:`read_all` -- several outputs as NumPy arrays in ONE pass over the blocks
  (refusing oversized results, like :meth:`LazyArray.as_numpy`).
* :func:`to_dask` -- a dask array of one output.
* :func:`chunk_shape` -- the storage chunk shape that makes one row and one column
  block both cheap to read.
* :class:`BlockWriter` -- writes outputs column block by column block with bounded
  memory, resumably and crash-safely, through a :class:`BlockLayout`: the file format,
  which :mod:`lazyact.results` provides (one per format).

Resumable, crash-safe writing
-----------------------------
The writer takes a lock on the output, plans column blocks (about
:data:`block_seconds` of computing each, measured on the first; at most
:data:`write_buffer_bytes`), and has the layout create the output as
``final + ".partial"``. Each block is computed in parallel on the store's threads
(always with the same decomposition, bypassing the block cache), written and flushed
to disk by the layout, and only then recorded in a journal next to the output, with a
digest of its content. The layout never has to say which blocks it holds: after an
interruption (Ctrl-C, ``kill -9``, a full disk, a power cut) the same call reads back
each journaled block of the old partial, keeps those whose digest matches, copies
them into a fresh partial and computes only the rest; a resumed output equals an
uninterrupted one bit for bit. Free space is checked before each block. Finally the
layout stores the per-row summaries and the output is moved into place. The lock,
journal and file moves are :mod:`lazyact.array.journal`: a new format (zarr, ...)
implements :class:`BlockLayout` / :class:`BlockOutput` and gets all of it.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import sys
import time
import warnings
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
from .journal import (
    DiskSpaceError,
    Journal,
    OutputFiles,
    ResumeMismatchError,
    WriteLock,
    block_digest,
    check_free_space,
    recover_output,
    remove_output,
    replace_output,
    write_bound,
)
from .lazyarray import ArrayTooLargeError, LazyArray
from .reduce import Accumulator, sum_dtype_for

__all__ = [
    "BlockLayout",
    "BlockOutput",
    "BlockWriter",
    "Target",
    "WritePlan",
    "block_seconds",
    "chunk_shape",
    "chunk_target_bytes",
    "read_all",
    "summary_piece",
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
    """How a :class:`BlockWriter` splits the work, handed to the layout when it creates the output.

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
        Storage chunk shape (rows x cols; None for an empty array), from :func:`chunk_shape`;
        its columns divide ``width``, so that no chunk holds two blocks.
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

    def record(self) -> dict:
        """The parts decided by the writer (kept in the journal: a resumed run reuses them)."""
        return {"width": self.width, "n_blocks": self.n_blocks,
                "chunks": None if self.chunks is None else list(self.chunks)}


class BlockOutput(Protocol):
    """An output opened by its :class:`BlockLayout` (created empty, or an existing one opened).

    A writer never writes into an output it did not create in this run, except one it
    created and closed cleanly itself: the protocol needs no recovery from the format.
    """

    def read_block(self, k: int) -> dict[str, np.ndarray]:
        """The stored column block ``k`` of every output (rows x block columns, the stored dtype)."""
        ...

    def write_block(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Store column block ``k`` of every output, durably: flushed and fsynced when this returns."""
        ...

    def finish(self, summary: Mapping[str, Mapping[str, np.ndarray]] | None) -> None:
        """Store the per-row summaries (``{output: {moment: array}}``), mark the output complete, durably."""
        ...

    def close(self) -> None:
        """Close the output. After a failed write it must neither raise nor crash later (e.g. at exit)."""
        ...


class BlockLayout(Protocol):
    """A file format for :class:`BlockWriter`: where each output goes, and how it is stored.

    The writer does the rest (lock, journal, verification, free space, atomic moves:
    :mod:`lazyact.array.journal`), so every layout is equally crash-safe.

    Attributes
    ----------
    kind : str
        The format's name (e.g. ``"hdf5"``).
    targets : sequence of Target
        The outputs written and where they go.
    final : pathlib.Path
        Where the complete output goes (a file or a directory).
    resume : bool
        Continue an interrupted output (False: delete it and start over).
    options : mapping
        Format options an interrupted output must have been started with (e.g. the
        compression); JSON-serialisable.
    fingerprint : str
        Identity of the inputs (an interrupted output of other inputs is refused).
    fingerprint_parts : mapping
        Its parts (named in the refusal).
    """

    kind: str
    targets: Sequence[Target]
    final: Path
    resume: bool
    options: Mapping[str, Any]
    fingerprint: str
    fingerprint_parts: Mapping[str, Any]

    def check_target(self) -> None:
        """Refuse, before any work, a destination that cannot be written or would be overwritten."""
        ...

    def create(self, plan: WritePlan, path: Path) -> BlockOutput:
        """Create an empty output for ``plan`` at ``path`` (replacing whatever is there)."""
        ...

    def open(self, plan: WritePlan, path: Path, writable: bool = False) -> BlockOutput:
        """Open the output at ``path`` (raise ``OSError`` when it cannot be read)."""
        ...


# --------------------------------------------------------------------------- writer
#: Aim of the time one write block takes to compute (seconds), measured on the first one.
block_seconds: float = 3.0
#: Columns per piece of the streamed summaries (fixed, so the summaries do not depend on the blocks).
summary_piece: int = 256


def _plain(obj: Any) -> Any:
    """``obj`` as plain JSON values (what a journal header gives back)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


class _SummaryFeed:
    """Per-row mean/std/min/max of each output, fed in global pieces of :data:`summary_piece` columns.

    The pieces do not depend on the write blocks, so neither do the summaries' bits.
    """

    def __init__(self, names: Sequence[str], rows: int, dtype: np.dtype):
        sdt = sum_dtype_for(dtype)
        # skipna: NaN marks samples without an answer, as in LazyActivity.summary()
        self.accs = {n: Accumulator(rows, {"sum", "moments", "min", "max"}, True, dtype, sdt) for n in names}
        self.carry: dict[str, np.ndarray] | None = None

    def add(self, arrays: Mapping[str, np.ndarray]) -> None:
        if self.carry is not None:
            arrays = {n: np.concatenate([self.carry[n], arrays[n]], axis=1) for n in self.accs}
        width = next(iter(arrays.values())).shape[1]
        full = width // summary_piece * summary_piece
        for lo in range(0, full, summary_piece):
            for n, acc in self.accs.items():
                acc.add(arrays[n][:, lo:lo + summary_piece], axis=1)
        self.carry = {n: arrays[n][:, full:] for n in self.accs} if full < width else None

    def result(self) -> dict[str, dict[str, np.ndarray]]:
        if self.carry is not None:
            for n, acc in self.accs.items():
                acc.add(self.carry[n], axis=1)
            self.carry = None
        with np.errstate(all="ignore"):
            return {n: {"mean": a.sum / np.maximum(a.count, 1), "std": np.sqrt(a.var_(0)),
                        "min": a.extreme("min"), "max": a.extreme("max")} for n, a in self.accs.items()}


class BlockWriter:
    """Writes outputs of a store column block by column block through a :class:`BlockLayout`, crash-safely.

    The output is written as ``final + ".partial"`` next to a journal of its finished
    blocks, under a lock, and moved into place when complete; an interrupted run
    (Ctrl-C, ``kill -9``, a full disk, a power cut) is resumed by running the same call
    again: the blocks the journal records are read back and verified, copied into a
    fresh partial, and only the rest is computed (see :mod:`lazyact.array.journal`).
    The missing blocks are computed in parallel on the store's threads, always with the
    same decomposition and bypassing the block cache, so a resumed output equals an
    uninterrupted one bit for bit.

    Parameters
    ----------
    store : BlockStore
    layout : BlockLayout
        The file format (its targets name the outputs to write).
    dtype : dtype, optional
        Stored dtype (default the store's; a floating type).
    block : int, optional
        Columns per write block (the resume granularity). Default: blocks that take
        about :data:`block_seconds` to compute (measured on the first), at most
        :data:`write_buffer_bytes` of all outputs; a resumed run keeps the blocks of
        the interrupted one.
    progress : bool or None
        tqdm bar of the samples saved, with ETA, and a line saying where a resumed run
        resumes (False: none; None: only for more than one block; silenced by
        ``config.progress = False``).
    summary : bool
        Also store per-row mean/std/min/max of each output, streamed in the same pass.
    blas_threads : int or None
        BLAS threads while the blocks are computed (default 1: the store's threads
        compute blocks in parallel, and float64 rounding does not depend on the BLAS
        thread setting of the process, so a resumed file is bitwise identical to an
        uninterrupted one even when the two processes were configured differently).
        None leaves BLAS alone.

    Raises
    ------
    WriterBusyError
        Another process is writing the same output.
    ResumeMismatchError
        The interrupted output belongs to other inputs or options.
    DiskSpaceError
        Not enough free space for the next block (checked before writing it).
    OSError
        Writing failed; the finished blocks are kept for a resume.
    """

    def __init__(self, store: BlockStore, layout: BlockLayout, *, dtype: Any = None, block: int | None = None,
                 progress: bool | None = True, summary: bool = False, blas_threads: int | None = 1):
        self.store = store
        self.layout = layout
        names = tuple(t.name for t in layout.targets)
        store.check_names(names)
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"arrays must be unique and non-empty, got {names}")
        self.dtype = np.dtype(store.dtype if dtype is None else dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type, got {self.dtype}")
        if block is not None and int(block) < 1:
            raise ValueError(f"block must be a positive number of columns, got {block}")
        self.block = None if block is None else int(block)
        self.names = names
        self.summary = bool(summary)
        self.progress = progress
        self.blas_threads = blas_threads
        self.files = OutputFiles.of(layout.final)
        self.plan = self._plan(self.block) if self.block is not None else self._plan(self._memory_width())

    # -- planning
    def _memory_width(self) -> int:
        p, m = self.store.shape
        per_col = max(1, p * len(self.names) * self.dtype.itemsize)
        return max(1, write_buffer_bytes // per_col)

    def _plan(self, width: int, align_up: bool = False) -> WritePlan:
        """The plan for blocks of about ``width`` columns (a multiple of the chunks' columns)."""
        shape = self.store.shape
        m = shape[1]
        chunks = chunk_shape(shape, self.dtype.itemsize, max_cols=width)
        if self.block is None and chunks is not None:
            c = chunks[1]
            width = -(-width // c) * c if align_up else max(c, width // c * c)
        width = max(1, min(width, m)) if m else 1
        return WritePlan(names=self.names, shape=shape, dtype=self.dtype, width=width,
                         n_blocks=-(-m // width) if m else 0, chunks=chunks, summary=self.summary)

    def _timed_plan(self, rgroups: list) -> tuple[WritePlan, list]:
        """A plan whose blocks take about :data:`block_seconds`, from the time of the first store chunk.

        Returns the plan and the results of that first chunk (the first tasks of block 0).
        """
        m = self.store.shape[1]
        probe = min(self.store.chunks[1], m, self._memory_width())
        cg = chunk_groups(np.arange(0, probe, dtype=np.intp), self.store.chunks[1])[0]
        tasks = [(0, rg, cg) for rg in rgroups]
        t0 = time.perf_counter()
        results = list(self.store.stream(self._work, tasks, False, None))
        seconds = max(time.perf_counter() - t0, 1e-6)
        # the probe's row groups ran in parallel; a block's column chunks run on all threads
        speedup = self.store.nthreads / max(1, min(self.store.nthreads, len(rgroups)))
        width = int(block_seconds * speedup * probe / seconds)
        width = max(probe, min(width, self._memory_width()))
        return self._plan(width, align_up=True), results

    # -- computing
    def _tasks(self, plan: WritePlan, pending: Sequence[int], skip: int = 0) -> list[tuple[int, ChunkGroup, ChunkGroup]]:
        rgroups = full_groups(plan.shape[0], self.store.chunks[0])
        tasks = []
        for k in pending:
            lo, hi = plan.columns(k)
            for cg in chunk_groups(np.arange(lo, hi, dtype=np.intp), self.store.chunks[1]):
                for rg in rgroups:
                    tasks.append((k, rg, cg))
        return tasks[skip:]

    def _work(self, task: tuple[int, ChunkGroup, ChunkGroup]) -> tuple:
        k, rg, cg = task
        res = self.store.compute(rg.index, cg.index)
        return k, rg, cg, {n: np.asarray(res[n], dtype=self.dtype) for n in self.names}

    def _compute_block(self, plan: WritePlan, k: int, stream: Iterator, done: Sequence[tuple]) -> dict[str, np.ndarray]:
        """Column block ``k``, from the results already ``done`` and then the stream (in order)."""
        p = plan.shape[0]
        lo, hi = plan.columns(k)
        buf = {n: np.empty((p, hi - lo), dtype=plan.dtype) for n in plan.names}
        need = len(chunk_groups(np.arange(lo, hi), self.store.chunks[1])) * len(full_groups(p, self.store.chunks[0]))
        for i in range(need):
            kk, rg, cg, arrays = done[i] if i < len(done) else next(stream)
            if kk != k:  # pragma: no cover - the stream yields in task order
                raise RuntimeError(f"block {kk} arrived while writing block {k}")
            for n in plan.names:
                buf[n][rg.positions, cg.positions] = arrays[n]
        return buf

    # -- resuming
    def _identity(self) -> dict:
        lay = self.layout
        return _plain({
            "format": lay.kind, "targets": [[t.name, t.key, t.transpose] for t in lay.targets],
            "shape": list(self.store.shape), "dtype": self.dtype.str, "summary": self.summary,
            "options": dict(lay.options), "fingerprint": lay.fingerprint,
            "fingerprint_parts": dict(lay.fingerprint_parts),
        })

    def _start_over(self, why: str) -> None:
        warnings.warn(f"'{self.files.partial}' {why}. Starting over.", RuntimeWarning, stacklevel=4)

    def _previous(self, identity: dict) -> tuple[WritePlan, dict[int, str]] | None:
        """The plan and journaled blocks of an interrupted output to continue, or None."""
        files = self.files
        if not files.partial.exists():
            return None
        if not self.layout.resume:
            return None
        record = Journal.read(files.journal)
        if record is None:
            self._start_over("has no journal of finished blocks (written by an older lazyact, or killed before "
                             "its first block)")
            return None
        old = record.header.get("identity", {})
        if old.get("fingerprint") != identity["fingerprint"]:
            parts, new = old.get("fingerprint_parts") or {}, identity["fingerprint_parts"]
            differ = sorted(k for k in set(parts) | set(new) if parts.get(k) != new.get(k))
            what = f" (differences: {', '.join(differ)})" if differ else ""
            raise ResumeMismatchError(
                f"'{files.partial}' is an interrupted run on different inputs{what}: refusing to resume. Delete "
                "it or pass resume=False (CLI: --no-resume) to start over.")
        differ = {k: (old.get(k), identity[k]) for k in identity if k not in ("fingerprint", "fingerprint_parts")
                  and old.get(k) != identity[k]}
        saved = record.header.get("plan", {})
        if self.block is not None and saved.get("width") != self.block:
            differ["block"] = (saved.get("width"), self.block)
        if differ:
            what = ", ".join(f"{k}={was!r} (now {now!r})" for k, (was, now) in differ.items())
            raise ResumeMismatchError(
                f"'{files.partial}' was started with other output options ({what}); run again with the same "
                "options, or pass resume=False (CLI: --no-resume) to start over.")
        chunks = saved.get("chunks")
        plan = WritePlan(names=self.names, shape=self.store.shape, dtype=self.dtype, width=int(saved["width"]),
                         n_blocks=int(saved["n_blocks"]), chunks=None if chunks is None else tuple(chunks),
                         summary=self.summary)
        return plan, {k: d for k, d in record.blocks.items() if 0 <= k < plan.n_blocks}

    def _copy_verified(self, plan: WritePlan, journaled: Mapping[int, str], out: BlockOutput) -> dict[int, str]:
        """Copy the journaled blocks of the interrupted partial that read back intact into ``out``."""
        files = self.files
        try:
            old = self.layout.open(plan, files.partial)
        except OSError as exc:
            self._start_over(f"cannot be read ({exc}); it was probably killed during a write")
            return {}
        verified: dict[int, str] = {}
        try:
            for k in sorted(journaled):
                try:
                    arrays = old.read_block(k)
                    ok = block_digest(arrays, plan.names) == journaled[k]
                except (OSError, ValueError, KeyError, RuntimeError, TypeError):
                    ok = False
                if ok:
                    out.write_block(k, arrays)
                    verified[k] = journaled[k]
        finally:
            old.close()
        if len(verified) < len(journaled):
            warnings.warn(f"{len(journaled) - len(verified)} of the {len(journaled)} finished blocks recorded for "
                          f"'{files.partial}' did not read back as written (a kill during a write); they are "
                          "computed again.", RuntimeWarning, stacklevel=4)
        return verified

    # -- running
    def _bar(self, plan: WritePlan, initial: int) -> tqdm:
        m = plan.shape[1]
        enabled = self._chatty(plan)
        return tqdm(total=m, initial=initial, disable=not enabled, unit="sample", unit_scale=m >= 100_000,
                    desc=f"writing {self.files.final.name}", dynamic_ncols=True, smoothing=0.1)

    def _chatty(self, plan: WritePlan) -> bool:
        enabled = self.progress is not False and config.progress_enabled()
        if self.progress is None:
            enabled = enabled and plan.n_blocks > 1
        return enabled

    def _advice(self, saved: int, plan: WritePlan) -> str:
        return (f"{saved} of {plan.n_blocks} column blocks are saved in '{self.files.partial}': free space (or "
                "fix the cause) and run the same command again to resume, or delete it. Nothing was written "
                f"under the final name '{self.files.final.name}'.")

    def run(self) -> Path:
        """Write (or finish) the output; return its final path."""
        files = self.files
        self.layout.check_target()
        with WriteLock(files.lock, files.final):
            recover_output(files.partial)
            remove_output(files.fresh)
            remove_output(files.journal.with_name(files.journal.name + ".tmp"))
            identity = self._identity()
            previous = self._previous(identity)
            if previous is None:
                for path in (files.partial, files.journal):
                    remove_output(path)
            limits = contextlib.ExitStack()
            if self.blas_threads is not None:
                limits.enter_context(threadpool_limits(limits=int(self.blas_threads), user_api="blas"))
            with limits:
                return self._run(identity, previous)

    def _run(self, identity: dict, previous: tuple[WritePlan, dict[int, str]] | None) -> Path:
        files = self.files
        directory = files.final.parent
        rgroups = full_groups(self.store.shape[0], self.store.chunks[0])
        head: list = []
        if previous is not None:
            plan, journaled = previous
        elif self.block is None and self.store.shape[1] and self.store.shape[0]:
            plan, head = self._timed_plan(rgroups)
            journaled = {}
        else:
            plan, journaled = self.plan, {}
        self.plan = plan
        p = plan.shape[0]
        per_block = write_bound(p * plan.width * len(plan.names), plan.dtype.itemsize,
                                len(plan.names) * max(1, -(-plan.width // (plan.chunks[1] if plan.chunks else 1))))
        kept = f" ('{files.partial}' is kept as it was)" if files.partial.exists() else ""
        check_free_space(directory, per_block * (1 + len(journaled)), f"'{files.partial}'",
                         f"Free space and run the same command again{kept}.")
        journal = None
        try:
            out = self.layout.create(plan, files.fresh)
            try:
                verified = self._copy_verified(plan, journaled, out) if journaled else {}
            finally:
                out.close()
            journal = Journal.create(files.journal, {"identity": identity, "plan": plan.record()}, verified)
            replace_output(files.fresh, files.partial)
            out = self.layout.open(plan, files.partial, writable=True)
        except BaseException as exc:
            if journal is not None:
                journal.close()
            if isinstance(exc, OSError) and not isinstance(exc, DiskSpaceError):
                raise OSError(exc.errno or errno.EIO, f"setting up '{files.partial}' failed: {exc.strerror or exc}. "
                              f"Free space (or fix the cause) and run the same command again{kept}.") from exc
            raise
        saved = set(verified)
        if saved and self._chatty(plan):
            print(f"resuming {files.final.name}: {len(saved)} of {plan.n_blocks} blocks already saved in "
                  f"'{files.partial}'", file=sys.stderr, flush=True)
        pending = [k for k in range(plan.n_blocks) if k not in saved]
        feed = _SummaryFeed(plan.names, p, plan.dtype) if plan.summary else None
        saved_cols = sum(plan.columns(k)[1] - plan.columns(k)[0] for k in saved)
        bar = self._bar(plan, saved_cols)
        bar.set_postfix_str(f"{len(saved)}/{plan.n_blocks} blocks saved", refresh=False)
        stream: Iterator | None = None
        try:
            try:
                if pending:
                    skip = len(head) if head and pending[0] == 0 else 0
                    stream = self.store.stream(self._work, self._tasks(plan, pending, skip), False, None)
                for k in range(plan.n_blocks):
                    if k in saved:
                        if feed is not None:
                            feed.add(out.read_block(k))
                        continue
                    buf = self._compute_block(plan, k, stream, head if k == 0 else ())  # type: ignore[arg-type]
                    lo, hi = plan.columns(k)
                    check_free_space(directory, per_block, f"block {k + 1} of {plan.n_blocks} of '{files.partial}'",
                                     self._advice(len(saved), plan))
                    try:
                        out.write_block(k, buf)
                        journal.append(k, block_digest(buf, plan.names))
                    except DiskSpaceError:
                        raise
                    except OSError as exc:
                        raise OSError(exc.errno or errno.EIO, f"writing block {k + 1} of {plan.n_blocks} to "
                                      f"'{files.partial}' failed: {exc.strerror or exc}. "
                                      + self._advice(len(saved), plan)) from exc
                    saved.add(k)
                    bar.set_postfix_str(f"{len(saved)}/{plan.n_blocks} blocks saved", refresh=False)
                    bar.update(hi - lo)
                    if feed is not None:
                        feed.add(buf)
                    del buf
            finally:
                if stream is not None:
                    stream.close()  # type: ignore[attr-defined]
                bar.close()
            summary = feed.result() if feed is not None else None
            need = 0 if summary is None else write_bound(p * 4 * len(plan.names), 8, 4 * len(plan.names))
            check_free_space(directory, need, f"finishing '{files.partial}'", self._advice(len(saved), plan))
            try:
                out.finish(summary)
                out.close()
            except OSError as exc:
                raise OSError(exc.errno or errno.EIO, f"finishing '{files.partial}' failed: {exc.strerror or exc}. "
                                + self._advice(len(saved), plan)) from exc
        except BaseException as exc:
            out.close()
            journal.close()
            if hasattr(exc, "add_note") and not isinstance(exc, OSError):
                exc.add_note(f"lazyact: {len(saved)} of {plan.n_blocks} column blocks are saved in "
                             f"'{files.partial}'; run the same call again to resume (or delete it).")
            raise
        journal.close()
        replace_output(files.partial, files.final)
        remove_output(files.journal)
        return files.final
