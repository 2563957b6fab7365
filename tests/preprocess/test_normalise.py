"""The one log normalisation: each SecActPy floating-point order, bit for bit; the column z-score."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.preprocess import log_normalise, scale_factors, zscore_columns


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 50, size=(30, 12)).astype(np.float64)
    y[rng.random(y.shape) > 0.3] = 0.0
    y[:, 4] = 0.0  # an empty cell
    return y


def test_dense_divide_is_secactpy_dense_path(counts):
    lib = counts.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.log2(counts / lib * 1e5 + 1)  # secactpy/inference.py:1784
    ref[~np.isfinite(ref)] = 0.0
    np.testing.assert_array_equal(log_normalise(counts, lib, 1e5), ref)
    assert not log_normalise(counts, lib, 1e5)[:, 4].any()  # the empty cell stays zeros


def test_multiply_is_secactpy_sparse_path(counts):
    lib = counts.sum(axis=0)
    safe = np.where(lib == 0, 1.0, lib)
    m = sp.csc_matrix(counts)
    ref = (m @ sp.diags(1e5 / safe)).tocsc()  # counts @ diags(1e5 / col_sums), then log2(data + 1)
    ref.data = np.log2(ref.data + 1)
    out = log_normalise(m.copy(), lib, 1e5, order="multiply")
    np.testing.assert_array_equal(out.toarray(), ref.toarray())
    dense = log_normalise(counts, lib, 1e5, order="multiply")  # the same order on dense blocks
    np.testing.assert_array_equal(dense, ref.toarray())
    divide = log_normalise(sp.csc_matrix(counts), lib, 1e5)  # sparse with the dense order
    np.testing.assert_array_equal(divide.toarray(), log_normalise(counts, lib, 1e5))


def test_float32_factors_are_sparse_mode_for_float32_counts(counts):
    lib = counts.sum(axis=0)
    with np.errstate(divide="ignore"):
        f32 = scale_factors(lib, 1e5, np.float32)
        assert np.array_equal(f32, (np.float32(1e5) / lib.astype(np.float32)).astype(np.float64))
    out = log_normalise(counts, lib, 1e5, order="multiply", factor_dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.log2(counts * f32 + 1.0)
    ref[~np.isfinite(ref)] = 0.0
    np.testing.assert_array_equal(out, ref)
    assert not np.array_equal(out, log_normalise(counts, lib, 1e5, order="multiply"))  # it matters


def test_pseudobulk_keeps_empty_groups_nan(counts):
    out = log_normalise(counts, counts.sum(axis=0), 1e6, zero_empty=False)
    assert np.isnan(out[:, 4]).all() and np.isfinite(np.delete(out, 4, axis=1)).all()


def test_bad_orders(counts):
    with pytest.raises(ValueError, match="order"):
        log_normalise(counts, counts.sum(axis=0), 1e5, order="sideways")
    with pytest.raises(ValueError, match="factor_dtype"):
        log_normalise(counts, counts.sum(axis=0), 1e5, factor_dtype=np.float32)


def test_zscore_columns_constant_column_gives_zeros():
    a = np.array([[1.0, 2.0, 5.0], [3.0, 2.0, 6.0], [8.0, 2.0, 7.0]])
    z = zscore_columns(a)
    np.testing.assert_allclose(z[:, [0, 2]], (a - a.mean(0))[:, [0, 2]] / a.std(0, ddof=1)[[0, 2]], rtol=1e-15)
    assert (z[:, 1] == 0).all()
