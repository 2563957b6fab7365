"""Streaming passes equal the dense reference on every kind of source, with bounded blocks."""
from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lazyact.preprocess import log_normalise, log_row_means, looks_normalised, pseudobulk, row_sums
from lazyact.preprocess import passes
from lazyact.sources import as_source

N_GENES, N_CELLS = 40, 90


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(5)
    y = rng.integers(1, 30, size=(N_GENES, N_CELLS)).astype(np.float64)
    y[rng.random(y.shape) > 0.25] = 0.0
    y[:, 7] = 0.0
    return y


@pytest.fixture(scope="module")
def sources(counts, tmp_path_factory):
    path = tmp_path_factory.mktemp("passes") / "x.h5ad"
    ad.AnnData(X=sp.csr_matrix(counts.T)).write_h5ad(path)
    return {
        "dense": as_source(counts),
        "csc": as_source(sp.csc_matrix(counts)),
        "h5ad-csr": as_source(str(path)),
    }


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(passes, "PASS_BYTES", 8 * N_GENES * 7)  # several blocks per pass


@pytest.mark.parametrize("kind", ["dense", "csc", "h5ad-csr"])
def test_row_sums_and_log_row_means(sources, counts, kind):
    src = sources[kind]
    assert passes.pass_block(src) < N_CELLS
    np.testing.assert_allclose(row_sums(src), counts.sum(axis=1), rtol=1e-14)
    kept = np.arange(0, N_GENES, 2)
    shared = np.array([3, 0, 5])
    totals, means = log_row_means(src, kept, shared, 1e5)
    sub = counts[kept]
    np.testing.assert_array_equal(totals, sub.sum(axis=0))
    ref = log_normalise(sub[shared], sub.sum(axis=0), 1e5)
    valid = sub.sum(axis=0) > 0
    assert not valid[7]  # the empty cell is left out of the gene means
    np.testing.assert_allclose(means, ref[:, valid].mean(axis=1), rtol=1e-13)
    # a sample mask restricts the means further (min_genes-style filters)
    include = np.arange(N_CELLS) % 3 != 0
    _, means_sub = log_row_means(src, kept, shared, 1e5, samples=include)
    np.testing.assert_allclose(means_sub, ref[:, valid & include].mean(axis=1), rtol=1e-13)


def test_pseudobulk_profiles(sources, counts):
    labels = np.array(["b", "A", "c"] * (N_CELLS // 3), dtype=object)
    kept = np.arange(N_GENES)
    names = pd.Index([f"G{i}" for i in kept])
    frame = pseudobulk(sources["csc"], kept, names, labels)
    assert list(frame.columns) == ["A", "b", "c"]  # sorted case-insensitively
    sums = np.column_stack([counts[:, labels == g].sum(axis=1) for g in ["A", "b", "c"]])
    ref = np.log2(sums / sums.sum(axis=0) * 1e6 + 1)
    np.testing.assert_allclose(frame.to_numpy(), ref - ref.mean(axis=1, keepdims=True), rtol=1e-13, atol=1e-13)
    assert not looks_normalised(sources["csc"], kept)
    assert looks_normalised(as_source(np.log1p(counts) / 3 + 0.01), kept)


@pytest.mark.parametrize("kind", ["dense", "csc", "h5ad-csr"])
def test_detected_genes(sources, counts, kind):
    np.testing.assert_array_equal(passes.detected_genes(sources[kind]), (counts > 0).sum(axis=0))
