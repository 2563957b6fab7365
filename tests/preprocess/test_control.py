"""Control profiles: the gene axis and the differences are pandas' (SecActPy's), streamed."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.preprocess import (
    DifferenceExpression,
    control_gene_axis,
    control_log_means,
    control_row_means,
    mean_difference,
    paired_samples,
    passes,
)
from lazyact.sources import as_source

NAMES = st.lists(st.sampled_from(list("ABCDEFGHIJ")), min_size=1, max_size=8, unique=True)


@settings(max_examples=60, deadline=None)
@given(NAMES, NAMES)
def test_gene_axis_is_pandas_alignment(t_genes, c_genes):
    T = pd.DataFrame(np.arange(len(t_genes), dtype=float)[:, None] + 1, index=t_genes, columns=["s"])
    C = pd.DataFrame(np.arange(len(c_genes), dtype=float)[:, None] + 10, index=c_genes, columns=["c"])
    if not set(t_genes) & set(c_genes):
        with pytest.raises(ValueError, match="shares no gene"):
            control_gene_axis(t_genes, c_genes)
        return
    ref = T.subtract(C.mean(axis=1), axis=0)  # what SecActPy computes
    axis = control_gene_axis(t_genes, c_genes)
    assert list(axis.genes) == list(ref.index)
    np.testing.assert_array_equal(axis.present, ref["s"].notna().to_numpy())


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    T = pd.DataFrame(rng.normal(size=(12, 5)), index=[f"G{i}" for i in range(12)],
                     columns=["S1", "S2", "S3", "S4", "S5"])
    C = pd.DataFrame(rng.normal(size=(10, 3)), index=[f"G{i}" for i in range(3, 13)], columns=["S4", "N", "S2"])
    return T, C


@pytest.mark.parametrize("paired", [False, True])
def test_differences_equal_pandas(frames, paired, monkeypatch):
    monkeypatch.setattr(passes, "PASS_BYTES", 8 * 12 * 2)  # two samples per block
    T, C = frames
    t, c = as_source(T), as_source(C)
    axis = control_gene_axis(t.genes, c.genes)
    if paired:
        common = T.columns.intersection(C.columns)
        D = T[common] - C[common]
        tc, cc, names = paired_samples(t.samples, c.samples)
        assert list(names) == list(common) == ["S2", "S4"]
        change = mean_difference(t, axis, control=c, pairs=(tc, cc))
        expr = DifferenceExpression(t, axis.treatment_rows, axis.control_rows, control=c, pairs=(tc, cc),
                                    samples=names)
    else:
        D = T.subtract(C.mean(axis=1), axis=0)
        means = control_row_means(c, axis)
        np.testing.assert_allclose(means, C.mean(axis=1).reindex(axis.genes).to_numpy(), rtol=1e-15)
        change = mean_difference(t, axis, control_means=means)
        expr = DifferenceExpression(t, axis.treatment_rows, axis.control_rows, control_means=means)
    np.testing.assert_allclose(change, D.mean(axis=1).to_numpy(), rtol=1e-14, atol=1e-15)
    Z = ((D - D.mean()) / D.std(ddof=1)).fillna(0).to_numpy()
    np.testing.assert_allclose(expr.block(np.arange(expr.shape[1])), Z, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(expr.block(np.array([1])), Z[:, [1]], rtol=1e-13, atol=1e-14)


def test_control_log_means_use_the_last_copy_of_a_name():
    counts = np.array([[1.0, 0.0, 2.0], [5.0, 1.0, 0.0], [0.0, 3.0, 1.0], [2.0, 2.0, 0.0]])
    src = as_source(counts, genes=["il6", "TNF", "IL6.2", "x"])
    prof = control_log_means(src, 1e4)
    L = np.log2(counts / counts.sum(axis=0) * 1e4 + 1)
    assert list(prof.index) == ["TNF", "IL6", "X"]
    np.testing.assert_allclose(prof.to_numpy(), L[[1, 2, 3]].mean(axis=1), rtol=1e-15)
