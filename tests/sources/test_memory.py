"""Reading cells touches only their bytes; a streaming pass is bounded by the block.

Files: 50k (and 20k) cells x 2k genes at 5 % density written by anndata as CSR
and CSC (~40 MB each at 50k cells).  Peaks are measured with tracemalloc, which
sees every NumPy buffer (h5py reads land in NumPy arrays).
"""
from __future__ import annotations

import os
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.sources import as_source

N_GENES = 2000
DENSITY = 0.05


def random_counts(n_cells: int, seed: int = 0) -> sp.csr_matrix:
    """cells x genes CSR counts, ~5 % density, built block-wise (bounded memory)."""
    rng = np.random.default_rng(seed)
    indptr, indices = [np.zeros(1, np.int64)], []
    for a in range(0, n_cells, 5000):
        b = min(a + 5000, n_cells)
        r, c = np.nonzero(rng.random((b - a, N_GENES), dtype=np.float32) < DENSITY)
        indices.append(c.astype(np.int32))
        indptr.append(np.cumsum(np.bincount(r, minlength=b - a)) + indptr[-1][-1])
    ind = np.concatenate(indices)
    data = rng.integers(1, 30, size=ind.size).astype(np.float32)
    return sp.csr_matrix((data, ind, np.concatenate(indptr)), shape=(n_cells, N_GENES))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import anndata as ad

    tmp = tmp_path_factory.mktemp("mem")
    big = random_counts(50_000)
    out = {}
    for n in (20_000, 50_000):
        x = big[:n]
        for enc in ("csr", "csc"):
            fn = os.fspath(tmp / f"{enc}_{n}.h5ad")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ad.AnnData(x if enc == "csr" else x.tocsc()).write_h5ad(fn)
            out[enc, n] = fn
    return out, big


def peak_of(fn) -> tuple[int, object]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        res = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, res


@pytest.mark.parametrize("enc", ["csr", "csc"])
def test_reading_ten_cells_is_small(files, enc):
    paths, big = files
    fn = paths[enc, 50_000]
    size = os.path.getsize(fn)
    cols = np.array([3, 17, 999, 5000, 12345, 20000, 33333, 40001, 45000, 49999])
    with as_source(fn, layer="X") as src:
        assert src.encoding == enc
        peak, blk = peak_of(lambda: src.columns(cols))
        np.testing.assert_array_equal(blk.toarray(), big[cols].T.toarray())
    limit = 0.02 if enc == "csr" else 0.10  # CSC: one bounded scan buffer (~3 MB)
    assert peak < limit * size, f"{enc}: reading 10 cells peaked at {peak / 1e6:.1f} MB, file {size / 1e6:.0f} MB"


@pytest.mark.parametrize("enc", ["csr", "csc"])
def test_streaming_pass_is_bounded_by_block(files, enc):
    paths, big = files
    peaks = {}
    for n in (20_000, 50_000):
        # CSC: super-blocks of 4 MB per scan (the default 256 MB would hold these whole files)
        with as_source(paths[enc, n], scan_bytes=4 << 20) as src:
            def run():
                nnz = 0
                for sl, blk in src.iter_columns(1000):
                    nnz += blk.nnz
                return nnz
            t0 = time.perf_counter()
            peaks[n], nnz = peak_of(run)
            dt = time.perf_counter() - t0
            assert nnz == big[:n].nnz
        size = os.path.getsize(paths[enc, n])
        assert peaks[n] < 0.5 * size, (enc, n, peaks[n], size)
        if enc == "csc":
            # the super-block budget plus the scan buffer (~2.5 MB at scan_chunk=2**18)
            assert peaks[n] < (4 << 20) + (4 << 20), peaks[n]
        assert dt < 20, f"{enc} pass over {n} cells took {dt:.1f} s"
    ratio = peaks[50_000] / peaks[20_000]
    assert 0.7 < ratio < 1.3, f"{enc}: peak grows with the cell count: {peaks}"


def test_column_totals_bounded(files):
    paths, big = files
    ref = np.asarray(big.sum(axis=1)).ravel()
    for enc in ("csr", "csc"):
        with as_source(paths[enc, 50_000]) as src:
            peak, tot = peak_of(src.column_totals)
            np.testing.assert_allclose(tot, ref, rtol=1e-12)
            # output (400 kB) + indptr (400 kB) + a 2**18-entry read buffer
            assert peak < 0.15 * os.path.getsize(paths[enc, 50_000]), (enc, peak)
