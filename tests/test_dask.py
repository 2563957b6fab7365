"""view.to_dask / act.to_xarray on a real dask.distributed LocalCluster (2 worker processes)."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import lazyact
from conftest import one_blas_thread, write_counts_h5ad

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


def _cells_h5ad(path, n_cells=160, seed=1):
    return write_counts_h5ad(path, n_cells, 1200, 40, density=0.06, mean=4, seed=seed, cell_prefix="c",
                             other_prefix="OTHER")


@pytest.fixture(scope="module")
def client():
    environ = os.environ.copy()  # the nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 in os.environ
    try:
        with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                      dashboard_address=None, silence_logs=40) as cluster:
            with distributed.Client(cluster) as c:
                yield c
    finally:
        os.environ.clear()
        os.environ.update(environ)


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
