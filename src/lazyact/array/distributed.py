"""Block-wise work on a ``dask.distributed`` cluster: column blocks computed and stored by the workers,
and ordered maps for streaming passes.

Nothing here knows what the outputs mean or how they are stored:

* :func:`active_client` -- the client to use: the one given, else the active default client;
* :class:`DistributedWriter` -- a :class:`~lazyact.array.sinks.BlockWriter` whose missing
  column blocks are each computed ONCE for all outputs and stored by a worker, through a
  picklable :class:`BlockSink` of the output (:class:`ParallelOutput`); the client keeps
  everything else of the writer's protocol (lock, journal, verified resume, the move into
  place: :mod:`lazyact.array.journal`), journals each block when its task returns, and
  finishes the output;
* :class:`BlockJob` -- what a worker runs for one block (free space checked before it
  stores the block);
* :func:`cluster_map` -- an ordered ``map`` over a cluster, for streaming passes whose
  partial results are folded in order (the same bits as a local pass);
* :func:`local_cluster` -- a ``LocalCluster`` of worker processes on loopback whose thread
  counts (lazyact's, numba's and BLAS's) are set before the processes start
  (:func:`worker_environment`).

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
scheduler runs its tasks again elsewhere, and a block is journaled only after its task
returned, i.e. after its data is stored (see :class:`BlockSink`). A worker's copy of the
block function checks its inputs itself (e.g. an activity refuses an input file replaced
since it was built: :func:`lazyact.results.fingerprint.check_input_stamps`).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .blocks import BlockStore
from .journal import Journal, block_digest, check_free_space
from .sinks import BlockLayout, BlockOutput, BlockWriter, WritePlan, compute_block

__all__ = [
    "BlockJob",
    "BlockSink",
    "DistributedWriter",
    "ParallelOutput",
    "active_client",
    "cluster_map",
    "local_cluster",
    "worker_environment",
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


#: The environment variables that set a process's compute threads: lazyact's block pool,
#: numba's parallel kernels and the BLAS libraries (read once, when each library loads).
THREAD_VARIABLES = ("LAZYACT_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS")


def worker_environment(threads: int) -> dict[str, str]:
    """The environment of a worker process that computes with ``threads`` threads.

    numba and the BLAS libraries read their thread counts once, when they load, so the
    count must be in the environment before the worker process starts: a process started
    without it uses every core of the machine, and N such workers on one machine
    oversubscribe its cores N times.

    Examples
    --------
    >>> worker_environment(1)["NUMBA_NUM_THREADS"]
    '1'
    """
    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return {var: str(int(threads)) for var in THREAD_VARIABLES}


def local_cluster(n_workers: int, threads: int | None = None, **kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` processes on loopback, each computing
    with ``threads`` threads (default: the machine's cores shared out, at least one).

    The thread counts reach the workers through dask's ``distributed.nanny.pre-spawn-environ``
    setting, which the nanny applies before it starts the worker process (its ``env=`` is
    applied after the process has imported numpy and numba, too late for their thread
    pools); they win over the same variables in this process's environment, which is left
    as it was. Other keyword arguments go to ``LocalCluster``.

    Examples
    --------
    >>> from lazyact.array.distributed import local_cluster
    >>> from distributed import Client
    >>> with local_cluster(1, threads=1, silence_logs=50) as cluster, Client(cluster) as client:
    ...     client.run(lambda: __import__("os").environ["NUMBA_NUM_THREADS"])  # doctest: +ELLIPSIS
    {'tcp://127.0.0.1:...': '1'}
    """
    import dask
    import distributed

    if int(n_workers) < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    if threads is None:
        threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
                      // int(n_workers))
    threads_env = worker_environment(threads)
    env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **threads_env}
    options = dict(n_workers=int(n_workers), threads_per_worker=1, processes=True, host="127.0.0.1",
                   dashboard_address=None)
    options.update(kwargs)
    # the nanny lets this process's environment override the setting, and writes the setting
    # into this process's environment: put ours in for the start, then restore the caller's
    saved = {var: os.environ.get(var) for var in threads_env}
    os.environ.update(threads_env)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            return distributed.LocalCluster(**options)
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


# --------------------------------------------------------------------------- protocols
class BlockSink(Protocol):
    """Stores column block ``k`` of every output from any process, durably, when called.

    It pickles small (the output's location, not its data) and returns only once all of
    the block's data is stored and flushed: the client journals the block after that, so
    that a process killed at any moment never leaves a block journaled but missing.
    """

    def __call__(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        ...


class ParallelOutput(BlockOutput, Protocol):
    """A :class:`~lazyact.array.sinks.BlockOutput` whose blocks other processes can store."""

    def block_sink(self) -> BlockSink:
        """The picklable writer of blocks (what a worker calls)."""
        ...


# --------------------------------------------------------------------------- worker side
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
    space : (directory, bytes), optional
        Check that ``bytes`` are free in ``directory`` before storing a block
        (:func:`~lazyact.array.journal.check_free_space`).
    threads : int
        Threads of the worker's store (1: the cluster parallelises over blocks).
    """

    def __init__(self, store: BlockStore, plan: WritePlan, sink: BlockSink, *, blas_threads: int | None = 1,
                 space: tuple[str, int] | None = None, threads: int = 1):
        self.store = BlockStore(store.function, chunks=store.chunks, cache_bytes=0, threads=threads)
        self.plan = plan
        self.sink = sink
        self.blas_threads = blas_threads
        self.space = space

    def __call__(self, k: int) -> dict:
        """Compute and store block ``k``; return its digest (what the client journals), timings (seconds) and
        the worker's process id.

        ``compute_s`` and ``write_s`` are wall times; ``compute_cpu_s`` is the process's CPU
        time while computing (all its threads: the block's own when the worker runs one task
        at a time).
        """
        k = int(k)
        t0, c0 = time.perf_counter(), time.process_time()
        limits = contextlib.nullcontext() if self.blas_threads is None else \
            threadpool_limits(limits=int(self.blas_threads), user_api="blas")
        with limits:
            arrays = compute_block(self.store, self.plan, k)
        t1, c1 = time.perf_counter(), time.process_time()
        if self.space is not None:
            directory, need = self.space
            check_free_space(Path(directory), need, f"block {k + 1} of {self.plan.n_blocks}",
                             "Free space and run the same command again to resume.")
        self.sink(k, arrays)
        t2 = time.perf_counter()
        nbytes = sum(a.nbytes for a in arrays.values())
        return {"block": k, "digest": block_digest(arrays, self.plan.names), "compute_s": t1 - t0,
                "compute_cpu_s": c1 - c0, "write_s": t2 - t1, "nbytes": nbytes, "pid": os.getpid()}


def _run_job(job: BlockJob, k: int) -> dict:
    return job(k)


# --------------------------------------------------------------------------- client side
class DistributedWriter(BlockWriter):
    """A :class:`~lazyact.array.sinks.BlockWriter` whose blocks are computed and stored by a cluster.

    The layout must open a :class:`ParallelOutput`. Everything but computing and storing
    the missing blocks is the writer's (lock, journal, verified resume, summaries, the move
    into place). The missing blocks are submitted as one task each; the client journals
    each block when its task returns (the block is stored by then) and shows a bar of
    saved blocks; the per-row summaries are then read back in block order, so they equal
    a local run's.

    Parameters
    ----------
    store, layout
        As for :class:`~lazyact.array.sinks.BlockWriter`.
    client : distributed.Client
    worker_threads : int
        Threads of the store on each task (default 1).
    **options
        ``dtype``, ``block``, ``progress``, ``summary``, ``blas_threads`` of
        :class:`~lazyact.array.sinks.BlockWriter`. Give ``block``: without it the writer
        times a first block here, which a cluster's store would not share.

    Attributes
    ----------
    timings : list of dict
        Per block computed in this run: ``block``, ``digest``, ``compute_s``,
        ``compute_cpu_s``, ``write_s``, ``nbytes``, ``pid`` (the worker process),
        ``done_s`` (since the first submission).
    """

    def __init__(self, store: BlockStore, layout: BlockLayout, client: Any, *, worker_threads: int = 1,
                 **options: Any):
        super().__init__(store, layout, **options)
        self.client = client
        self.worker_threads = int(worker_threads)
        self.timings: list[dict] = []

    def _block_bar(self, plan: WritePlan, initial: int) -> tqdm:
        return tqdm(total=plan.n_blocks, initial=initial, disable=not self._chatty(plan), unit="block",
                    desc=f"saving {self.files.final.name}", dynamic_ncols=True, smoothing=0.1)

    def _save_elsewhere(self, plan: WritePlan, out: BlockOutput, journal: Journal, pending: Sequence[int],
                        per_block: int) -> set[int]:
        import distributed  # the client's package (lazyact[dask]), imported on use

        if not pending:
            return set()
        sink = out.block_sink()  # type: ignore[attr-defined]
        job = BlockJob(self.store, plan, sink, blas_threads=self.blas_threads, threads=self.worker_threads,
                       space=(str(self.files.final.parent), per_block))
        client = self.client
        [job_future] = client.scatter([job], broadcast=True, hash=False)
        run = uuid.uuid4().hex[:12]
        t0 = time.perf_counter()
        futures = [client.submit(_run_job, job_future, k, key=f"lazyact-block-{k}-{run}", pure=False)
                   for k in pending]
        saved: set[int] = set()
        bar = self._block_bar(plan, plan.n_blocks - len(pending))
        try:
            for fut in distributed.as_completed(futures):
                timing = fut.result()  # a task's error is raised here
                journal.append(timing["block"], timing["digest"])  # the block is stored: now it counts
                saved.add(timing["block"])
                timing["done_s"] = time.perf_counter() - t0
                self.timings.append(timing)
                bar.update(1)
        except BaseException as exc:
            client.cancel(futures)
            if hasattr(exc, "add_note"):
                exc.add_note(f"lazyact: {len(saved)} blocks of this run are journaled; tasks of it that were "
                             "running may still be finishing on the cluster.")
            raise
        finally:
            bar.close()
            client.cancel([job_future])
        return saved
