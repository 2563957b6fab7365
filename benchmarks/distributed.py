#!/usr/bin/env python
"""to_zarr on a dask.distributed cluster: throughput and scheduler overhead per block, 1 and 2 worker processes.

Usage::

    python benchmarks/distributed.py [--signature SecAct] [--cells 384] [--block 32] [--n-rand 1000]
                                     [--density 0.05] [--workers 1 2] [--markdown FILE]

Input: a synthetic single-cell atlas written as ``.h5ad`` (float32 CSR counts): ``--cells``
cells x (the signature's genes + 1,000 others), Poisson counts at ``--density``,
``preprocess="scrnaseq"`` (sparse in-flight normalisation), SecAct by default (1,170
proteins), ``n_rand`` 1000.

Measured, in one run on this machine (wall and CPU time: the CPU time of the computing
processes does not depend on what else runs on the machine, the wall time does):

* ``local, 1 thread``: ``act.to_zarr(client=False)`` computed by one thread (store and numba)
  -- the per-core rate (CPU seconds per cell) that the scaling plan (``docs/scaling.md``)
  extrapolates from;
* ``local, 2 threads``: the same with the store's thread pool and numba on both cores;
* ``cluster, N workers``: a ``LocalCluster`` of N processes x 1 thread on loopback, and
  one process x T threads (one task at a time, numba's kernels parallel within the block)
  (:func:`lazyact.array.distributed.local_cluster`: lazyact's, numba's and BLAS's thread
  counts set to 1 before the worker processes start); the workers compute and write the blocks (after a warm-up run that
  loads numba's cache and the input in every worker, not counted). Per block: compute (wall
  and CPU) and write time on the worker, and the overhead ``(N * wall - sum(compute +
  write)) / blocks``: the time a worker slot spends not computing or writing (scheduling,
  transfers, waiting for a core, the idle tail);
* ``no-op tasks``: the scheduler's own cost, ``client.map`` of 300 empty tasks, and
  ``to_zarr`` of a trivial block function with tiny blocks (scheduling plus the zarr
  writes and done record of one block);
* bytes: the job scattered once to each worker (the pickled block function: projection,
  permutation table, normalisation vectors, the input by path), the bytes per task
  (block number in, timings out), and the block's statistics written to the store
  (raw and compressed).

Every cluster store is checked to be byte-identical to the local one.
"""
from __future__ import annotations

import argparse
import os
import pickle
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# this file is named like dask's package: take its directory off the path so that `import distributed` finds dask's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent / "src"))

import lazyact  # noqa: E402
from lazyact.array import BlockStore  # noqa: E402
from lazyact.array.distributed import BlockJob, DistributedWriter, local_cluster  # noqa: E402
from lazyact.array.sinks import BlockWriter, Target  # noqa: E402
from lazyact.results.zarr import ZarrLayout  # noqa: E402


def make_input(path: Path, signature: str, cells: int, density: float, seed: int = 0) -> Path:
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    genes = list(lazyact.load_signature(signature).index) + [f"OTHER{i}" for i in range(1000)]
    rng = np.random.default_rng(seed)
    X = sp.random(cells, len(genes), density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.poisson(3, k) + 1.0).astype(np.float32)
    anndata.AnnData(X=X, obs=pd.DataFrame(index=[f"cell{i}" for i in range(cells)]),
                    var=pd.DataFrame(index=genes)).write_h5ad(path)
    return path


def tree(path: Path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def store_bytes(path: Path, names=("beta", "se", "zscore", "pvalue")) -> int:
    return sum(p.stat().st_size for n in names for p in (path / n).rglob("*") if p.is_file() and p.name != "zarr.json")


class Nothing:
    """A trivial block function: zeros (to time the scheduler and the zarr writes alone)."""

    names = ("beta", "se", "zscore", "pvalue")
    dtype = np.dtype(np.float64)

    def __init__(self, shape):
        self.shape = shape

    def __call__(self, rows, cols):
        return {n: np.zeros((rows.size, cols.size)) for n in self.names}


#: Empty tasks timed for the scheduler's round trip.
N_EMPTY = 300


def _noop(x):
    return x


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def same_arrays(a: Path, b: Path) -> bool:
    import zarr

    za, zb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    return all(np.array_equal(za[n][:], zb[n][:], equal_nan=True) for n in ("beta", "se", "zscore", "pvalue"))


def per_block(timings, n_workers: int, wall: float) -> tuple[float, float, float, float]:
    """Mean compute seconds (wall, CPU) and write seconds per block, and the overhead per block."""
    busy = sum(t["compute_s"] + t["write_s"] for t in timings)
    return (float(np.mean([t["compute_s"] for t in timings])), float(np.mean([t["compute_cpu_s"] for t in timings])),
            float(np.mean([t["write_s"] for t in timings])), (n_workers * wall - busy) / len(timings))


def cluster_rows(act, warm, args, tmp: Path, local_store: Path, n_workers: int, rows: list, n_threads: int = 1) -> None:
    import distributed

    # n_threads per worker process (lazyact, numba, BLAS), set before the processes start
    with local_cluster(n_workers, threads=n_threads, silence_logs=40) as cluster, distributed.Client(cluster) as client:
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(N_EMPTY), pure=False))
        noop = (time.perf_counter() - t0) / N_EMPTY
        threads = set(client.run(_numba_threads).values())
        assert threads == {n_threads}, f"workers compute with {threads} numba threads, not {n_threads}"
        tag = f"{n_workers}x{n_threads}"
        warm.to_zarr(tmp / f"warm{tag}.zarr", block=args.block, client=client, progress=False)  # not timed
        out = tmp / f"cluster{tag}.zarr"
        layout = ZarrLayout(out, [Target(n, n) for n in act.store.names], list(act.proteins), list(act.samples))
        writer = DistributedWriter(act.store, layout, client, block=args.block, progress=False)
        t0 = time.perf_counter()
        writer.run()
        wall = time.perf_counter() - t0
        name = f"cluster, {n_workers} worker process{'es' if n_workers > 1 else ''} x {n_threads} thread{'s' if n_threads > 1 else ''}"
        cpu = sum(t["compute_cpu_s"] for t in writer.timings)
        rows.append((name, len(writer.timings), wall, cpu, act.shape[1] / wall, *per_block(writer.timings, n_workers, wall),
                     "yes" if same_arrays(out, local_store) else "NO"))
        if n_threads > 1:
            return
        # the scheduler and the zarr writes alone: blocks of zeros
        m0 = 64 * args.block
        nothing = BlockStore(Nothing((act.shape[0], m0)), chunks=(act.shape[0], args.block))
        lay = ZarrLayout(tmp / f"nothing{n_workers}.zarr", [Target(n, n) for n in Nothing.names],
                         [str(i) for i in range(act.shape[0])], [str(i) for i in range(m0)])
        wn = DistributedWriter(nothing, lay, client, block=args.block, progress=False)
        t0 = time.perf_counter()
        wn.run()
        wall_n = time.perf_counter() - t0
        rows.append((f"blocks of zeros ({act.shape[0]} x {args.block}), {n_workers} workers", len(wn.timings), wall_n,
                     sum(t["compute_cpu_s"] for t in wn.timings), m0 / wall_n, *per_block(wn.timings, n_workers, wall_n),
                     "-"))
        nan = float("nan")
        rows.append((f"empty dask tasks (round trip), {n_workers} workers", N_EMPTY, noop * N_EMPTY, nan, 1 / noop,
                     nan, nan, nan, noop, "-"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signature", default="SecAct")
    ap.add_argument("--cells", type=int, default=384)
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--n-rand", type=int, default=1000)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads-per-worker", type=int, nargs="+", default=[2], metavar="T",
                    help="also one worker process with T threads (numba's kernels parallel within a block)")
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="lazyact-dist-"))
    kw = dict(preprocess="scrnaseq", n_rand=args.n_rand)
    try:
        t0 = time.perf_counter()
        path = make_input(tmp / "cells.h5ad", args.signature, args.cells, args.density)
        act = lazyact.activity(path, args.signature, **kw)
        build = time.perf_counter() - t0
        warm = lazyact.activity(make_input(tmp / "warm.h5ad", args.signature, 2 * args.block, args.density, seed=1),
                                args.signature, **kw)
        p, m = act.shape
        n_blocks = -(-m // args.block)
        nnz = act.blocks.expression.source.nnz
        plan = BlockWriter(act.store, ZarrLayout(tmp / "x.zarr", [Target(n, n) for n in act.store.names], [], []),
                           block=args.block).plan
        job_bytes = len(pickle.dumps(BlockJob(act.store, plan, None), protocol=5))
        rows: list = []
        import numba

        nan = float("nan")
        all_threads = numba.get_num_threads()
        warm.to_zarr(tmp / "warm_local.zarr", block=args.block, client=False, progress=False)  # numba's cache, zarr
        for threads in (1, 2):
            act.store.threads = threads  # the writer's thread pool (made on first use: 1 thread first)
            numba.set_num_threads(min(threads, all_threads))
            out = tmp / f"local{threads}.zarr"
            t1, c1 = time.perf_counter(), time.process_time()
            act.to_zarr(out, block=args.block, client=False, progress=False)
            wall, cpu = time.perf_counter() - t1, time.process_time() - c1
            rows.append((f"local, {threads} thread{'s' if threads > 1 else ''}", n_blocks, wall, cpu, m / wall,
                         wall * threads / n_blocks, cpu / n_blocks, nan, nan, "reference"))
        act.store.threads = None
        numba.set_num_threads(all_threads)
        local_store = tmp / "local1.zarr"
        rows[-1] = rows[-1][:-1] + ("yes" if same_arrays(tmp / "local2.zarr", local_store) else "NO",)
        for n in args.workers:
            cluster_rows(act, warm, args, tmp, local_store, n, rows)
        for t in args.threads_per_worker:
            cluster_rows(act, warm, args, tmp, local_store, 1, rows, n_threads=t)
        raw_block = p * args.block * 4 * 8
        disk_block = store_bytes(local_store) / n_blocks

        def f(x, d=3):
            return "" if x != x else f"{x:.{d}f}"

        lines = [
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"{args.signature} {p} proteins x {m} cells ({nnz / m:.0f} nonzeros per cell, "
            f"{act.blocks.shape_genes} shared genes), n_rand {args.n_rand}, block {args.block} cells; "
            f"set-up (input + activity) {build:.1f} s.",
            "",
            "| run | blocks | wall s | CPU s | cells/s (wall) | compute s/block | compute CPU s/block | write s/block "
            "| overhead s/block | same values |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {name} | {blocks} | {wall:.2f} | {f(cpu, 2)} | {rate:.2f} | {f(comp)} | {f(ccpu)} | {f(wr)} | "
                  f"{f(over, 4)} | {same} |" for name, blocks, wall, cpu, rate, comp, ccpu, wr, over, same in rows]
        core_s = rows[0][3] / m
        lines += ["", f"Per-core cost: {core_s:.3f} CPU s per cell ({core_s / (nnz / m) * 1e3:.3f} ms per stored "
                      f"nonzero) for {args.signature} x n_rand {args.n_rand} (local, 1 thread)."]
        task = len(pickle.dumps((0, {"block": 0, "compute_s": 0.0, "write_s": 0.0, "nbytes": 0, "pid": 0})))
        lines += [
            "",
            f"Bytes: the job scattered once to each worker {job_bytes / 2**20:.1f} MiB (the pickled block function: "
            f"projection, permutation table, normalisation vectors, the input by path); ~{task} B per task each way "
            f"(block number in, timings out); per block {raw_block / 2**20:.2f} MiB of statistics ({p} x "
            f"{args.block} x 4 x 8 B), {disk_block / 2**20:.2f} MiB on disk (zstd), written by the worker.",
        ]
        text = "\n".join(lines)
        print(text)
        if args.markdown:
            Path(args.markdown).write_text(text + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
