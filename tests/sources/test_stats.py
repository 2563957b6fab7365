"""Streaming global statistics equal the dense reference."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.sources import LogNormalize, StatsAccumulator, as_source, compute_stats


CASES = ["ndarray", "csc", "csr", "h5ad_csr", "h5ad_csc", "h5ad_csc_tiny_scan", "h5ad_dense",
         "anndata_backed", "tenx", "memmap_T"]


def reference(y, rows, transform, weights):
    lib = y.sum(axis=0)
    if transform is None:
        t = y.copy()
    else:
        safe = np.where(lib == 0, 1.0, lib)
        t = np.log2(y / safe * transform.scale + 1) if transform.order == "divide" \
            else np.log2(y * (transform.scale / safe) + 1)
    ts = t if rows is None else t[rows]
    return dict(
        library_size=lib, col_sum_all=t.sum(axis=0), col_nnz_all=np.count_nonzero(y, axis=0),
        col_sum=ts.sum(axis=0), col_sumsq=(ts ** 2).sum(axis=0), col_nnz=np.count_nonzero(ts, axis=0),
        row_sum=ts.sum(axis=1), row_sumsq=(ts ** 2).sum(axis=1), row_nnz=np.count_nonzero(ts, axis=1),
        col_dot=None if weights is None else weights @ ts,
    )


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("transform", [None, LogNormalize(1e5), LogNormalize(1e4, order="multiply")])
def test_stats_equal_dense_reference(all_sources, ymat, name, transform):
    src = all_sources[name]
    rows = np.array([3, 0, 17, 8, 24, 11])
    weights = np.linspace(-1, 1, rows.size)
    st = compute_stats(src, rows=rows, transform=transform, weights=weights, block=6)
    ref = reference(ymat, rows, transform, weights)
    for k, v in ref.items():
        np.testing.assert_allclose(getattr(st, k), v, rtol=1e-12, atol=1e-9, err_msg=k)
    assert st.n_rows == rows.size and st.n_samples == ymat.shape[1]
    np.testing.assert_allclose(st.row_mean, ref["row_sum"] / ymat.shape[1])
    t = ymat[rows] if transform is None else None
    if t is not None:
        np.testing.assert_allclose(st.row_var(ddof=1), t.var(axis=1, ddof=1), rtol=1e-10)
        np.testing.assert_allclose(st.col_mean, t.mean(axis=0), rtol=1e-12)


def test_stats_all_rows_and_cached_totals(ymat):
    src = as_source(sp.csr_matrix(ymat))
    st = compute_stats(src)
    assert st.rows is None and st.n_rows == ymat.shape[0]
    np.testing.assert_allclose(st.row_sum, ymat.sum(axis=1))
    np.testing.assert_allclose(src.column_totals(), ymat.sum(axis=0))
    blob = pickle.dumps(st)
    st2 = pickle.loads(blob)
    np.testing.assert_array_equal(st2.col_sumsq, st.col_sumsq)
    assert len(blob) < st.nbytes + 2000


def test_log_normalize_matches_secactpy_formulas(ymat):
    lib = ymat.sum(axis=0)
    safe = np.where(lib == 0, 1, lib)
    # dense SecActPy path: expr / col_sums * 1e5, then log2(x + 1)  (bitwise)
    np.testing.assert_array_equal(LogNormalize(1e5)(ymat.copy(), lib), np.log2(ymat / safe * 1e5 + 1))
    # sparse path: counts @ diags(1e5 / col_sums), then log2(data + 1)  (bitwise)
    m = sp.csc_matrix(ymat)
    ref = (m @ sp.diags(1e5 / safe)).tocsc()
    ref.data = np.log2(ref.data + 1)
    out = LogNormalize(1e5, order="multiply")(m.copy(), lib)
    np.testing.assert_array_equal(out.toarray(), ref.toarray())
    with pytest.raises(ValueError):
        LogNormalize(order="sideways")


def test_accumulator_merge_out_of_order(ymat):
    src = as_source(ymat)
    rows = np.array([1, 2, 3])
    a = StatsAccumulator(*ymat.shape, rows=rows, transform=LogNormalize())
    b = StatsAccumulator(*ymat.shape, rows=rows, transform=LogNormalize())
    blocks = list(src.iter_columns(5))
    for i, (sl, blk) in enumerate(reversed(blocks)):
        (a if i % 2 else b).update(sl, blk)
    with pytest.raises(ValueError, match="incomplete"):
        a.result()
    whole = compute_stats(src, rows=rows, transform=LogNormalize())
    merged = a.merge(b).result()
    for k in ("row_sum", "row_sumsq", "col_sum", "library_size", "col_nnz"):
        np.testing.assert_allclose(getattr(merged, k), getattr(whole, k), rtol=1e-12)
    with pytest.raises(ValueError, match="same samples"):
        a.merge(b)


def test_stats_raise_on_bad_values(ymat):
    bad = ymat.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="column 3"):
        compute_stats(as_source(sp.csc_matrix(bad)))
    neg = ymat.copy()
    neg[0, 4] = -1
    with pytest.raises(ValueError, match="column 4"):
        compute_stats(as_source(neg, check_counts=True))
    with pytest.raises(ValueError, match="weights"):
        compute_stats(as_source(ymat), weights=np.ones(2))
