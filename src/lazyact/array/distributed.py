"""Block-wise work on a ``dask.distributed`` cluster: column blocks computed and stored by the workers,
and ordered maps for streaming passes.

Nothing here knows what the outputs mean or how they are stored:

* :func:`active_client` -- the client to use: the one given, else the active default client;
* :class:`DistributedWriter` -- a :class:`~lazyact.array.sinks.BlockWriter` whose missing
  column blocks are each computed ONCE for all outputs and stored by a worker, through a
  picklable :class:`BlockSink` of the output (:class:`ParallelOutput`); the client only
  schedules, shows the saved blocks, and finishes the output;
* :class:`BlockJob` -- what a worker runs for one block; :class:`FileCheck` -- a check,
  run on the worker first, that the files the computation reads are those it was built
  from;
* :func:`cluster_map` -- an ordered ``map`` over a cluster, for streaming passes whose
  partial results are folded in order (the same bits as a local pass).

Same bits
---------
A worker computes block ``k`` with the same store calls as the local writer
(:func:`~lazyact.array.sinks.block_tasks`) and the same BLAS thread setting, so a store
written by a cluster equals one written locally bit for bit, whichever worker computed
which block, and however often a block was recomputed after a worker died.

Scheduling
----------
The job (the store's block function, which pickles its expression source by reference,
e.g. as a file path) is scattered once to every worker; each task carries only its block
number and returns a few timings. A worker that dies mid-block loses that block only: the
scheduler runs its tasks again elsewhere, and a block is recorded as done only after its
data is stored (see :class:`BlockSink`).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import config
from .blocks import BlockStore
from .sinks import BlockLayout, BlockOutput, BlockWriter, compute_block

__all__ = [
    "BlockJob",
    "BlockSink",
    "DistributedWriter",
    "FileCheck",
    "InputChangedError",
    "ParallelOutput",
    "active_client",
    "cluster_map",
]


def active_client(client: Any = None) -> Any:
    """The ``dask.distributed`` client to use, or None for local work.

    ``client`` itself when given (``False``: None, local work even when a client is
    active); else the default client when ``distributed`` has been imported and a client
    is active in this process.

    Examples
    --------
    >>> active_client(False) is None
    True
    """
    if client is False:
        return None
    if client is not None:
        return client
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:  # no client
        return None


def cluster_map(client: Any = None) -> Callable[[Callable[[Any], Any], Sequence[Any]], list] | None:
    """An ordered ``map(fn, items) -> list`` that runs on the active cluster, or None without one.

    The results come back in the order of ``items`` whichever worker computed them, so
    partial results folded in that order give the same bits as a local pass.
    """
    client = active_client(client)
    if client is None:
        return None

    def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> list:
        futures = client.map(fn, list(items), pure=False, key=[f"lazyact-pass-{uuid.uuid4().hex}" for _ in items])
        try:
            return client.gather(futures)
        finally:
            client.cancel(futures)

    return run


# --------------------------------------------------------------------------- protocols
class BlockSink(Protocol):
    """Stores column block ``k`` of every output from any process, then records it as done.

    It pickles small (the output's location, not its data) and must record a block as
    done only once all of its data is stored, so that a process killed at any moment never
    leaves a block recorded but missing.
    """

    def __call__(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        ...


class ParallelOutput(BlockOutput, Protocol):
    """A :class:`~lazyact.array.sinks.BlockOutput` whose blocks other processes can store."""

    def block_sink(self) -> BlockSink:
        """The picklable writer of blocks (what a worker calls)."""
        ...


# --------------------------------------------------------------------------- worker side
class InputChangedError(ValueError):
    """A file the computation reads is not the one it was built from (replaced or modified)."""


class FileCheck:
    """Checks that files are unchanged: the same size and modification time as recorded.

    Parameters
    ----------
    files : mapping of str to (int, int)
        ``{path: (size, mtime_ns)}``.

    Examples
    --------
    >>> import tempfile
    >>> fn = os.path.join(tempfile.mkdtemp(), "x")
    >>> _ = open(fn, "w").write("a")
    >>> check = FileCheck.of([fn])
    >>> check()
    >>> _ = open(fn, "w").write("bb")
    >>> check()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lazyact.array.distributed.InputChangedError: the input '...' changed after the activity was built from it ...
    """

    def __init__(self, files: Mapping[str, tuple[int, int]]):
        self.files = {str(k): (int(v[0]), int(v[1])) for k, v in files.items()}

    @classmethod
    def of(cls, paths: Iterable[str | os.PathLike]) -> "FileCheck":
        """The check of ``paths`` as they are now."""
        out = {}
        for p in paths:
            st = os.stat(p)
            out[os.fspath(p)] = (st.st_size, st.st_mtime_ns)
        return cls(out)

    def __call__(self) -> None:
        for path, (size, mtime) in self.files.items():
            try:
                st = os.stat(path)
            except OSError as exc:
                raise InputChangedError(f"the input '{path}' cannot be read here ({exc}); every worker must see "
                                        "the same file at the same path (a shared file system)") from exc
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                raise InputChangedError(
                    f"the input '{path}' changed after the activity was built from it (size {size} -> "
                    f"{st.st_size} bytes, modified {time.ctime(mtime / 1e9)} -> {time.ctime(st.st_mtime_ns / 1e9)}): "
                    "its normalisation no longer applies. Build the activity again from the file as it is now.")

    def __repr__(self) -> str:
        return f"FileCheck({list(self.files)})"


class BlockJob:
    """Computes one column block of a store and stores it through a sink (what a worker runs).

    Parameters
    ----------
    store : BlockStore
        Its block function is what travels (the worker's copy computes with ``threads``
        threads and no cache).
    plan : WritePlan
    sink : BlockSink
    blas_threads : int or None
        BLAS threads while computing (as :class:`~lazyact.array.sinks.BlockWriter`).
    check : callable, optional
        Run before each block (e.g. a :class:`FileCheck` of the inputs).
    threads : int
        Threads of the worker's store (1: the cluster parallelises over blocks).
    """

    def __init__(self, store: BlockStore, plan: Any, sink: BlockSink, *, blas_threads: int | None = 1,
                 check: Callable[[], None] | None = None, threads: int = 1):
        self.store = BlockStore(store.function, chunks=store.chunks, cache_bytes=0, threads=threads)
        self.plan = plan
        self.sink = sink
        self.blas_threads = blas_threads
        self.check = check

    def __call__(self, k: int) -> dict:
        """Compute and store block ``k``; return timings (seconds) and the worker's process id.

        ``compute_s`` and ``write_s`` are wall times; ``compute_cpu_s`` is the process's CPU
        time while computing (all its threads: the block's own when the worker runs one task
        at a time).
        """
        t0, c0 = time.perf_counter(), time.process_time()
        if self.check is not None:
            self.check()
        limits = contextlib.nullcontext() if self.blas_threads is None else \
            threadpool_limits(limits=int(self.blas_threads), user_api="blas")
        with limits:
            arrays = compute_block(self.store, self.plan, int(k))
        t1, c1 = time.perf_counter(), time.process_time()
        self.sink(int(k), arrays)
        t2 = time.perf_counter()
        nbytes = sum(a.nbytes for a in arrays.values())
        return {"block": int(k), "compute_s": t1 - t0, "compute_cpu_s": c1 - c0, "write_s": t2 - t1,
                "nbytes": nbytes, "pid": os.getpid()}


def _run_job(job: BlockJob, k: int) -> dict:
    return job(k)


# --------------------------------------------------------------------------- client side
class DistributedWriter(BlockWriter):
    """A :class:`~lazyact.array.sinks.BlockWriter` whose blocks are computed and stored by a cluster.

    The layout must open a :class:`ParallelOutput`. The missing blocks are submitted as
    one task each; the client shows a bar of saved blocks, then finishes the output as
    :meth:`BlockWriter.write` does (per-row summaries read back in block order, so they
    equal a local run's) and commits it.

    Parameters
    ----------
    store, layout
        As for :class:`~lazyact.array.sinks.BlockWriter`.
    client : distributed.Client
    check : callable, optional
        Run by the worker before each block (a :class:`FileCheck` of the inputs).
    worker_threads : int
        Threads of the store on each task (default 1).
    **options
        ``dtype``, ``block``, ``progress``, ``summary``, ``blas_threads`` of
        :class:`~lazyact.array.sinks.BlockWriter`.

    Attributes
    ----------
    timings : list of dict
        Per block computed in this run: ``block``, ``compute_s``, ``compute_cpu_s``,
        ``write_s``, ``nbytes``, ``pid`` (the worker process), ``done_s`` (since the first
        submission).
    """

    def __init__(self, store: BlockStore, layout: BlockLayout, client: Any, *,
                 check: Callable[[], None] | None = None, worker_threads: int = 1, **options: Any):
        super().__init__(store, layout, **options)
        self.client = client
        self.check = check
        self.worker_threads = int(worker_threads)
        self.timings: list[dict] = []

    def run(self) -> Path:
        """Write (or finish) the output on the cluster; return its final path."""
        out = self.layout.open(self.plan)
        try:
            if not out.complete:
                self._compute_remote(out)  # type: ignore[arg-type]
        except BaseException as exc:
            try:
                out.close()
            except Exception:  # pragma: no cover
                pass
            if hasattr(exc, "add_note"):
                exc.add_note(f"lazyact: the saved column blocks are kept in '{out.partial}'; run the same call "
                             "again to resume (or delete it).")
            raise
        progress, self.progress = self.progress, False  # the blocks are saved: no second bar
        try:
            return self.write(out)
        finally:
            self.progress = progress

    def _block_bar(self, out: BlockOutput, initial: int) -> tqdm:
        enabled = self.progress is not False and config.progress_enabled()
        return tqdm(total=self.plan.n_blocks, initial=initial, disable=not enabled, unit="block",
                    desc=f"saving {out.final.name}", dynamic_ncols=True, smoothing=0.1)

    def _compute_remote(self, out: ParallelOutput) -> None:
        import distributed  # the client's package (lazyact[dask]), imported on use

        done = np.asarray(out.done, dtype=bool)
        pending = [k for k in range(self.plan.n_blocks) if not done[k]]
        if not pending:
            return
        job = BlockJob(self.store, self.plan, out.block_sink(), blas_threads=self.blas_threads, check=self.check,
                       threads=self.worker_threads)
        client = self.client
        [job_future] = client.scatter([job], broadcast=True, hash=False)
        run = uuid.uuid4().hex[:12]
        t0 = time.perf_counter()
        futures = [client.submit(_run_job, job_future, k, key=f"lazyact-block-{k}-{run}", pure=False)
                   for k in pending]
        bar = self._block_bar(out, self.plan.n_blocks - len(pending))
        try:
            for fut in distributed.as_completed(futures):
                timing = fut.result()  # a task's error is raised here
                timing["done_s"] = time.perf_counter() - t0
                self.timings.append(timing)
                bar.update(1)
        except BaseException:
            client.cancel(futures)
            raise
        finally:
            bar.close()
            client.cancel([job_future])
