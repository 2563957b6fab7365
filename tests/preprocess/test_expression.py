"""The expression a LazyActivity reads: dense as given, prepared (normalised) block by block."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.preprocess import DenseExpression, Expression, PreparedExpression, as_expression, zscore_columns
from lazyact.preprocess import log_normalise
from lazyact.sources import as_source


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 20, size=(30, 16)).astype(np.float64)
    y[rng.random(y.shape) > 0.4] = 0.0
    return y


def test_dense_expression_checks_and_gives_columns():
    y = np.arange(12.0).reshape(3, 4)
    e = as_expression(y)
    assert isinstance(e, DenseExpression) and isinstance(e, Expression) and as_expression(e) is e
    np.testing.assert_array_equal(e.block(np.array([1, 3])), y[:, [1, 3]])
    with pytest.raises(ValueError, match="NaN/inf"):
        DenseExpression(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        DenseExpression(np.zeros(3))


@pytest.mark.parametrize("scale_dtype", [None, np.float32])
def test_prepared_dense_block_is_secactpy_order(counts, scale_dtype):
    rows = np.array([4, 1, 7, 20, 3, 11])
    totals = counts.sum(axis=0)
    offsets = np.linspace(0.1, 0.6, rows.size)
    expr = PreparedExpression(as_source(counts), rows, row_offsets=offsets, log_scale=1e5, totals=totals,
                              scale_dtype=scale_dtype)
    cols = np.array([0, 5, 9])
    order = "divide" if scale_dtype is None else "multiply"
    ref = zscore_columns(log_normalise(counts[rows][:, cols], totals[cols], 1e5, order=order,
                                      factor_dtype=scale_dtype) - offsets[:, None])
    np.testing.assert_array_equal(expr.block(cols), ref)
    assert expr.shape == (rows.size, counts.shape[1]) and not expr.is_sparse


def test_prepared_sparse_block_corrections_equal_the_dense_normalisation(counts):
    rows = np.array([4, 1, 7, 20, 3, 11])
    totals = counts.sum(axis=0)
    offsets = np.linspace(0.1, 0.6, rows.size)
    expr = PreparedExpression(as_source(sp.csc_matrix(counts)), rows, row_offsets=offsets, log_scale=1e5,
                              totals=totals)
    assert expr.is_sparse
    cols = np.array([2, 3, 15])
    L, mu, sigma = expr.sparse_block(cols)
    logged = log_normalise(counts[rows][:, cols], totals[cols], 1e5, order="multiply")
    np.testing.assert_array_equal(L.toarray(), logged)  # zeros stay zeros: still sparse
    dense = logged - offsets[:, None]
    np.testing.assert_allclose(mu, dense.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, dense.std(axis=0, ddof=1), rtol=1e-10)
