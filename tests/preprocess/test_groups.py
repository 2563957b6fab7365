"""Cell-type groups of spatial data: SecActPy's order of groups and its per-group means of log values."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.preprocess import log_group_means, log_normalise, passes, sorted_groups
from lazyact.sources import as_source

N_GENES, N_SPOTS = 30, 70


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(11)
    y = rng.integers(1, 20, size=(N_GENES, N_SPOTS)).astype(np.float64)
    y[rng.random(y.shape) > 0.3] = 0.0
    y[:, 5] = 0.0  # a spot without counts
    return y


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(passes, "PASS_BYTES", 8 * N_GENES * 9)


def test_sorted_groups_is_case_sensitive_and_keeps_raw_values():
    assert sorted_groups(["b", "B", "a"])[0] == ["B", "a", "b"]  # Python's sorted(set(...))
    groups, codes = sorted_groups(np.array([3, 1, 3], dtype=np.int64))
    assert groups == [1, 3] and type(groups[0]) is int and codes.tolist() == [1, 0, 1]
    import pandas as pd
    groups, _ = sorted_groups(pd.Categorical(["x", "y", "x"], categories=["y", "x", "unused"]))
    assert groups == ["x", "y"]  # the values, not the categories


@pytest.mark.parametrize("kind", ["dense", "csc", "h5ad"])
def test_log_group_means_equal_the_dense_means(counts, kind, tmp_path):
    if kind == "h5ad":
        ad.AnnData(X=sp.csr_matrix(counts.T)).write_h5ad(tmp_path / "x.h5ad")
        src = as_source(str(tmp_path / "x.h5ad"))
    else:
        src = as_source(counts if kind == "dense" else sp.csc_matrix(counts))
    labels = np.array(["T", "s", "B"] * (N_SPOTS // 3) + ["T"] * (N_SPOTS % 3), dtype=object)
    groups, codes = sorted_groups(labels)
    kept = np.arange(1, N_GENES, 2)
    means, sizes = log_group_means(src, kept, codes, len(groups), 1e4)  # the empty spot is left out
    sub = counts[kept]
    L = log_normalise(sub, sub.sum(axis=0), 1e4)
    valid = sub.sum(axis=0) > 0
    ref = np.column_stack([L[:, (labels == g) & valid].mean(axis=1) for g in groups])
    np.testing.assert_allclose(means, ref, rtol=1e-14, atol=1e-15)
    assert sizes.tolist() == [int(((labels == g) & valid).sum()) for g in groups]


def test_a_group_without_counts_has_no_mean(counts):
    labels = np.zeros(N_SPOTS, dtype=np.intp)
    labels[5] = 1  # the empty spot alone
    means, sizes = log_group_means(as_source(counts), np.arange(N_GENES), labels, 2, 1e5)
    assert sizes.tolist() == [N_SPOTS - 1, 0]
    assert np.isnan(means[:, 1]).all() and np.isfinite(means[:, 0]).all()
