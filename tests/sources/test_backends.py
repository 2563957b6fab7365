"""Every backend gives the same columns for the same data."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazyact.sources import ExpressionSource

from .conftest import BACKENDS, GENES, N_GENES, N_SAMPLES, SAMPLES, dense

SPARSE = {"csc", "csr", "csr_scan", "csr_T", "csc_array", "coo", "h5ad_csr", "h5ad_csc",
          "h5ad_csc_tiny_scan", "h5ad_raw", "h5ad_layer", "anndata_csr", "anndata_csc",
          "anndata_raw", "anndata_backed", "tenx", "zarr2_csr", "zarr3_csc"}


def check_block(src: ExpressionSource, blk, expected: np.ndarray) -> None:
    assert blk.shape == expected.shape
    if src.is_sparse:
        assert isinstance(blk, sp.csc_matrix)
        assert blk.has_sorted_indices and blk.has_canonical_format
        assert blk.dtype == np.float64
    else:
        assert isinstance(blk, np.ndarray) and type(blk) is np.ndarray
        assert blk.dtype == np.float64
        assert blk.flags.c_contiguous or blk.flags.f_contiguous
    np.testing.assert_array_equal(dense(blk), expected)


@pytest.mark.parametrize("name", BACKENDS)
def test_metadata(all_sources, name, ymat):
    src = all_sources[name]
    assert src.shape == (N_GENES, N_SAMPLES)
    assert (src.n_genes, src.n_samples) == src.shape
    assert list(src.genes) == GENES
    assert list(src.samples) == SAMPLES
    assert src.is_sparse == (name in SPARSE)
    assert isinstance(src.dtype, np.dtype)
    assert "genes x" in repr(src)
    if src.is_sparse:
        assert src.nnz >= np.count_nonzero(ymat)


@pytest.mark.parametrize("name", BACKENDS)
def test_columns_equal(all_sources, name, ymat):
    src = all_sources[name]
    for cols in ([0], [5], [N_SAMPLES - 1], [0, 1, 2, 3], [1, 4, 5, 9, 30, 36], list(range(N_SAMPLES))):
        cols = np.array(cols)
        check_block(src, src.columns(cols), ymat[:, cols])
    check_block(src, src.columns(np.array([], dtype=np.intp)), ymat[:, :0])
    # unsorted / repeated / negative / slice / int
    check_block(src, src.columns(np.array([7, 2, 7, -1])), ymat[:, [7, 2, 7, N_SAMPLES - 1]])
    check_block(src, src.columns(slice(3, 30, 4)), ymat[:, 3:30:4])
    check_block(src, src.columns(np.int64(4)), ymat[:, [4]])


@pytest.mark.parametrize("name", BACKENDS)
def test_rows(all_sources, name, ymat):
    src = all_sources[name]
    rows = np.array([24, 3, 0, 11, 3])  # reordered, with a repeat
    cols = np.array([0, 2, 5, 6, 20])
    check_block(src, src.columns(cols, rows=rows), ymat[np.ix_(rows, cols)])
    rows_u = np.array([10, 2, 7])
    check_block(src, src.columns(cols, rows=rows_u), ymat[np.ix_(rows_u, cols)])
    check_block(src, src.columns(cols, rows=np.array([], dtype=np.intp)), ymat[:0][:, cols])


@pytest.mark.parametrize("name", BACKENDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_subsets(all_sources, name, ymat, data):
    src = all_sources[name]
    cols = np.array(sorted(data.draw(st.sets(st.integers(0, N_SAMPLES - 1), max_size=N_SAMPLES))),
                    dtype=np.intp)
    rows = data.draw(st.none() | st.lists(st.integers(0, N_GENES - 1), max_size=40))
    rows = None if rows is None else np.array(rows, dtype=np.intp)
    expected = ymat[:, cols] if rows is None else ymat[np.ix_(rows, cols)]
    check_block(src, src.columns(cols, rows=rows), expected)


@pytest.mark.parametrize("name", BACKENDS)
def test_iter_columns_and_totals(all_sources, name, ymat):
    src = all_sources[name]
    rows = np.array([3, 1, 4])
    seen = []
    for sl, blk in src.iter_columns(8, rows=rows):
        check_block(src, blk, ymat[rows, sl])
        seen.append((sl.start, sl.stop))
    assert seen == [(a, min(a + 8, N_SAMPLES)) for a in range(0, N_SAMPLES, 8)]
    parts = [(sl.start, sl.stop) for sl, _ in src.iter_columns(5, start=3, stop=17)]
    assert parts == [(3, 8), (8, 13), (13, 17)]
    tot = src.column_totals()
    np.testing.assert_allclose(tot, ymat.sum(axis=0), rtol=1e-12)
    assert src.column_totals() is tot  # cached
    assert not tot.flags.writeable


@pytest.mark.parametrize("name", BACKENDS)
def test_pickle_round_trip(all_sources, name, ymat):
    src = all_sources[name]
    blob = pickle.dumps(src)
    path_backed = name.startswith(("h5ad", "h5py", "memmap", "npy", "tenx", "anndata_backed"))
    if path_backed:
        assert len(blob) < 4000, f"{name} pickles {len(blob)} bytes: data instead of a reference?"
    with pickle.loads(blob) as copy:
        assert copy.shape == src.shape
        assert list(copy.genes) == GENES and list(copy.samples) == SAMPLES
        cols = np.array([0, 5, 6, 36])
        check_block(copy, copy.columns(cols), ymat[:, cols])
    # the original keeps working after the copy was closed
    check_block(src, src.columns(np.array([1])), ymat[:, [1]])


@pytest.mark.parametrize("name", BACKENDS)
def test_out_of_range(all_sources, name):
    src = all_sources[name]
    with pytest.raises(IndexError):
        src.columns(np.array([N_SAMPLES]))
    with pytest.raises(IndexError):
        src.columns(np.array([-N_SAMPLES - 1]))
    with pytest.raises(IndexError):
        src.columns(np.array([0]), rows=np.array([N_GENES]))
    with pytest.raises(IndexError):
        src.columns(np.array([0.5]))
    with pytest.raises(TypeError):
        src.columns(np.ones(N_SAMPLES, dtype=bool))
    with pytest.raises(IndexError):
        next(src.iter_columns(4, stop=N_SAMPLES + 1))
    with pytest.raises(ValueError):
        next(src.iter_columns(0))


def test_result_is_owned(all_sources, ymat):
    """Modifying a returned block never changes the source."""
    for name in ("ndarray", "ndarray_T", "csc", "csc_array", "dataframe", "anndata_dense", "anndata_csr"):
        src = all_sources[name]
        blk = src.columns(np.arange(3, 6))
        if sp.issparse(blk):
            blk.data[:] = -7
        else:
            blk[:] = -7
        np.testing.assert_array_equal(dense(src.columns(np.arange(3, 6))), ymat[:, 3:6])


def test_layout_of_dense_results(all_sources):
    # samples stored as rows -> F-contiguous genes x k (each column one contiguous row read)
    assert all_sources["ndarray_T"].columns(np.arange(4)).flags.f_contiguous
    assert all_sources["h5ad_dense"].columns(np.array([1, 5])).flags.f_contiguous
    assert all_sources["ndarray"].columns(np.array([1, 5])).flags.c_contiguous


def test_threads(all_sources, ymat):
    """Concurrent reads from threads give correct blocks (h5py serialises internally)."""
    from concurrent.futures import ThreadPoolExecutor

    names = ["h5ad_csr", "h5ad_csc", "csr", "h5py_T_chunked", "anndata_backed"]

    def job(i):
        name = names[i % len(names)]
        cols = np.arange(i % 30, i % 30 + 7)
        return np.array_equal(dense(all_sources[name].columns(cols)), ymat[:, cols])

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(job, range(60)))
