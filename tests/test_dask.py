"""A real dask.distributed LocalCluster (2 worker processes on loopback): view.to_dask / act.to_xarray, to_zarr
written by the workers (equal to a local run bit for bit, also after a worker is killed mid-block or the whole run
is killed and started again), the distributed reduction of the global statistics, `lazyact run --workers`."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lazyact
from conftest import one_blas_thread, write_counts_h5ad
from lazyact.array.distributed import THREAD_VARIABLES, local_cluster, worker_environment

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")


def _cells_h5ad(path, n_cells=160, seed=1):
    return write_counts_h5ad(path, n_cells, 1200, 40, density=0.06, mean=4, seed=seed, cell_prefix="c",
                             other_prefix="OTHER")


@pytest.fixture(scope="module")
def client():
    environ = os.environ.copy()  # the nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 in os.environ
    try:
        with local_cluster(2, threads=1, silence_logs=40) as cluster:
            with distributed.Client(cluster) as c:
                yield c
    finally:
        os.environ.clear()
        os.environ.update(environ)


#: the thread variables of this process before any cluster started (local_cluster leaves them as they were)
_CALLER_THREADS = {var: os.environ.get(var) for var in THREAD_VARIABLES}


def _thread_counts() -> dict:
    import numba
    from threadpoolctl import threadpool_info

    return {"numba": numba.get_num_threads(), "blas": sorted({i["num_threads"] for i in threadpool_info()}),
            **{var: os.environ.get(var) for var in THREAD_VARIABLES}}


def test_local_cluster_workers_compute_with_the_threads_asked_for(client):
    # numba and BLAS read their thread counts when they load: set after the worker process started
    # (the nanny's env=), a worker would use every core and N workers would oversubscribe them N times
    counts = list(client.run(_thread_counts).values())
    assert len(counts) == 2
    for c in counts:
        assert c["numba"] == 1 and c["blas"] in ([], [1]), c
        assert all(c[var] == "1" for var in THREAD_VARIABLES), c
    assert {var: os.environ.get(var) for var in THREAD_VARIABLES} == _CALLER_THREADS
    assert worker_environment(3) == {var: "3" for var in THREAD_VARIABLES}
    with pytest.raises(ValueError, match="at least 1"):
        worker_environment(0)
    with pytest.raises(ValueError, match="at least 1"):
        local_cluster(0)


def test_activity_pickles_by_reference(tmp_path):
    path = _cells_h5ad(tmp_path / "cells.h5ad")
    act = lazyact.activity(path, "CytoSig", n_rand=20, chunks=(43, 40), preprocess="scrnaseq")
    blob = pickle.dumps(act.zscore)
    assert len(blob) < 2_000_000  # the counts stay in the file
    back = pickle.loads(blob)
    assert np.array_equal(back[:, :7], act.zscore[:, :7])


def test_distributed_max_and_write_equal_local(tmp_path, client):
    path = _cells_h5ad(tmp_path / "cells.h5ad")
    act = lazyact.activity(path, "CytoSig", n_rand=30, chunks=(43, 40), preprocess="scrnaseq")
    with one_blas_thread():
        local = act.zscore.max(axis=1)  # local streaming reduction, same blocks
        z_local = act.zscore.as_numpy()
        p_local = act.pvalue.as_numpy()
        zmin_local = act.zscore.min(axis=1)

    z = act.zscore.to_dask()
    assert z.chunks == ((43,), (40, 40, 40, 40)) and z.dtype == np.float64
    remote = client.compute(z.max(axis=1)).result()
    assert np.array_equal(remote, local)

    # each worker writes its blocks to disk; the result equals the local computation
    da.to_npy_stack(str(tmp_path / "stack"), z, axis=1)
    written = da.from_npy_stack(str(tmp_path / "stack")).compute(scheduler="sync")
    assert np.array_equal(written, z_local)

    ds = act.to_xarray()
    pv = client.compute(ds.pvalue.data).result()
    assert np.array_equal(pv, p_local)
    assert ds.zscore.sel(protein="IL6").dims == ("sample",)

    # stored results too: blocks read the file in the workers
    res = lazyact.open(act.to_hdf5(tmp_path / "z.h5", progress=False))
    assert np.array_equal(client.compute(res.zscore.to_dask(chunks=(20, 50)).min(axis=1)).result(), zmin_local)


# --------------------------------------------------------------------------- to_zarr on the cluster
def tree(path) -> dict:
    """Every file of a store (relative path -> bytes)."""
    path = Path(path)
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    return _cells_h5ad(tmp_path_factory.mktemp("cells") / "cells.h5ad", n_cells=120, seed=3)


@pytest.fixture(scope="module")
def reference(cells, tmp_path_factory, client):
    """The store written here, without the cluster (client=False), and its activity."""
    act = lazyact.activity(cells, "CytoSig", preprocess="scrnaseq", n_rand=40)
    out = act.to_zarr(tmp_path_factory.mktemp("ref") / "ref.zarr", block=16, progress=False, client=False)
    return act, out


def test_global_statistics_are_one_distributed_reduction(cells, client, monkeypatch):
    from lazyact.preprocess import passes
    from lazyact.sources import as_source

    monkeypatch.setattr(passes, "PASS_BYTES", 10_000)  # many blocks and segments
    monkeypatch.setattr(passes, "SEGMENT_BLOCKS", 2)
    src = as_source(cells)
    kept, shared = np.arange(src.n_genes), np.arange(0, src.n_genes, 2)
    assert len(passes.segments(src, passes.pass_block(src))) >= 4
    local = passes.log_row_means(src, kept, shared, 1e5)
    calls = []

    def cluster(fn, items):
        calls.append(len(items))
        return lazyact.array.distributed.cluster_map(client)(fn, items)

    remote = passes.log_row_means(src, kept, shared, 1e5, map=cluster)
    assert calls and all(np.array_equal(a, b) for a, b in zip(local, remote))
    with distributed.get_task_stream(client) as tasks:  # lazyact.activity uses the active client for it
        act = lazyact.activity(cells, "CytoSig", preprocess="scrnaseq", n_rand=10)
    assert any(str(t["key"]).startswith("lazyact-pass-") for t in tasks.data)
    assert act.blocks.expression.totals.shape == (120,)


def test_to_zarr_on_the_cluster_equals_local_bit_for_bit(tmp_path, client, reference, cells):
    act_local, ref = reference
    act = lazyact.activity(cells, "CytoSig", preprocess="scrnaseq", n_rand=40)
    assert np.array_equal(act.blocks.expression.row_offsets, act_local.blocks.expression.row_offsets)
    out = act.to_zarr(tmp_path / "d.zarr", block=16, progress=False, client=client)
    assert tree(out) == tree(ref)  # byte for byte: chunks, names, attributes
    pids = set(client.run(os.getpid).values())
    assert os.getpid() not in pids
    h5 = lazyact.open(act_local.to_hdf5(tmp_path / "d.h5", block=16, progress=False))
    res = lazyact.open(out)
    for n in ("beta", "se", "zscore", "pvalue"):
        assert np.array_equal(res[n][:, :], h5[n][:, :])
    a = act.to_zarr(tmp_path / "a.zarr", block=16, progress=False, format="anndata")  # the active client
    assert tree(a) == tree(act_local.to_zarr(tmp_path / "al.zarr", block=16, progress=False, format="anndata",
                                             client=False))


class KillOnce:
    """The activity's block function, whose worker process dies (SIGKILL) the first time it computes ``col``."""

    def __init__(self, function, col, marker):
        self.function, self.col, self.marker = function, col, str(marker)
        self.names, self.shape, self.dtype = function.names, function.shape, function.dtype

    def __call__(self, rows, cols):
        if self.col in cols and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return self.function(rows, cols)


def test_a_worker_killed_mid_block_is_retried_and_the_store_is_identical(tmp_path, client, reference):
    import cloudpickle

    from lazyact.array import BlockStore
    from lazyact.results.zarr import write_zarr

    act, _ = reference
    kw = dict(names=act.store.names, row_labels=act.proteins, col_labels=act.samples, block=16, progress=False)
    ref = write_zarr(act.store, tmp_path / "ref.zarr", client=False, **kw)
    marker = tmp_path / "killed"
    store = BlockStore(KillOnce(act.blocks, 40, marker), chunks=act.store.chunks)
    before = set(client.run(os.getpid).values())
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    try:
        out = write_zarr(store, tmp_path / "k.zarr", client=client, **kw)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    killed = int(marker.read_text())
    assert killed in before and killed not in set(client.run(os.getpid).values())  # died; the nanny restarted it
    assert tree(out) == tree(ref)


def test_worker_refuses_an_input_changed_since_the_activity_was_built(tmp_path, client):
    from lazyact.results.fingerprint import InputChangedError

    path = _cells_h5ad(tmp_path / "c.h5ad", n_cells=40)
    act = lazyact.activity(path, "CytoSig", preprocess="scrnaseq", n_rand=10)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "replaced" (same bytes, other time)
    with pytest.raises(InputChangedError, match="changed since the activity was built"):
        act.to_zarr(tmp_path / "x.zarr", progress=False, client=client)
    assert lazyact.results.file_info(tmp_path / "x.zarr")["blocks_done"] == 0  # nothing claimed


def _done_blocks(out: Path) -> int:
    """Blocks the writer's journal records as saved (0 before it exists)."""
    from lazyact.array.journal import Journal, OutputFiles

    record = Journal.read(OutputFiles.of(out).journal)
    return 0 if record is None else len(record.blocks)


def test_cli_workers_run_killed_and_rerun_gives_the_same_store(tmp_path, client, reference, cells):
    act, ref = reference
    out = tmp_path / "cli.zarr"
    cmd = [sys.executable, "-m", "lazyact", "run", str(cells), "-s", "CytoSig", "--preprocess", "scrnaseq",
           "--n-rand", "40", "--block", "16", "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd + ["--workers", "2"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while _done_blocks(out) < 1:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no block saved in time"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run: client, scheduler, nannies, workers
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    n_done = _done_blocks(out)
    assert not out.exists() and 1 <= n_done < 8
    # started again (joining this cluster): only the missing blocks, the same store as an uninterrupted run
    rerun = subprocess.run(cmd + ["--scheduler", client.scheduler.address], capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert tree(out) == tree(ref)
