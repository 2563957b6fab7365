"""The numba sparse kernel: every path (few proteins, few columns, many columns)
and every protein tiling agree bit for bit, and equal the dense kernel on the
densified, normalised columns."""
import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.ridge import RidgeModel, projection
from lazyact.ridge.kernels import numba as sparse_kernel
from lazyact.ridge.kernels.numba import protein_tile, sparse_permutation_statistics
from lazyact.ridge.permutations import permutation_table


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(3)
    n, p, m, n_rand = 300, 21, 9, 60
    X = rng.standard_normal((n, p))
    T = projection(X, 10.0).T
    Y = sp.random(n, m, density=0.1, format="csc", random_state=4)
    Y.data = np.ceil(Y.data * 10)
    Y = sp.lil_matrix(Y)
    Y[:, 4] = 0.0  # an empty column
    Y = sp.csc_matrix(Y)
    r = rng.random(n)
    mu = rng.random(m)
    sigma = 1.0 + rng.random(m)
    sigma[2] = 0.0  # a constant column: zeros
    inv = permutation_table(n, n_rand, seed=1)
    return T, inv, Y, r, mu, sigma


def dense_reference(T, inv, Y, r, mu, sigma):
    Yd = Y.toarray() - r[:, None] - mu[None, :]
    scale = np.where(sigma > 0, 1.0 / np.where(sigma > 0, sigma, 1.0), 0.0)
    Yn = Yd * scale
    beta = T @ Yn
    count = np.zeros(beta.shape, dtype=np.int64)
    s1 = np.zeros(beta.shape)
    s2 = np.zeros(beta.shape)
    for i in range(inv.shape[0]):
        b = T[:, inv[i]] @ Yn
        count += np.abs(b) >= np.abs(beta)
        s1 += b
        s2 += b * b
    return beta, count, s1, s2


def test_paths_and_tiles_are_identical(case, monkeypatch):
    T, inv, Y, r, mu, sigma = case
    ref = sparse_permutation_statistics(T, inv, Y, r, mu, sigma)
    want = dense_reference(T, inv, Y, r, mu, sigma)
    np.testing.assert_allclose(ref[0], want[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ref[2], want[2], rtol=0, atol=1e-8)
    np.testing.assert_allclose(ref[3], want[3], rtol=1e-12, atol=1e-8)
    # counts: identical except where |beta_i| and |beta| tie to rounding
    assert np.abs(ref[1] - want[1]).max() <= 1
    # every tiling of the many-column path, and the few-column (permutation-parallel) path
    for cache in (1, 300 * 8 * 5, 300 * 8 * 11, 2**30):
        monkeypatch.setattr(sparse_kernel, "LLC_BYTES", cache)
        out = sparse_permutation_statistics(T, inv, Y, r, mu, sigma)
        for a, b in zip(ref, out):
            np.testing.assert_array_equal(a, b)
        for s in range(Y.shape[1]):  # one column at a time: parallel over permutations
            one = sparse_permutation_statistics(T, inv, Y[:, [s]], r, mu[[s]], sigma[[s]])
            np.testing.assert_array_equal(ref[0][:, [s]], one[0])
            np.testing.assert_array_equal(ref[1][:, [s]], one[1])
            # S1, S2: partial sums over permutation ranges are merged, so the last bits may differ
            np.testing.assert_allclose(ref[2][:, [s]], one[2], rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(ref[3][:, [s]], one[3], rtol=1e-13)
    # few proteins: the transposed-table kernel
    # (the offset projections are a BLAS product whose last bits depend on its shape:
    # computed once for all proteins and sliced, as the model does)
    rows = np.array([0, 5, 20])
    Tr = sparse_kernel.offset_projections(T, inv, r)
    few = sparse_permutation_statistics(T[rows], inv, Y, r, mu, sigma, Tr=np.ascontiguousarray(Tr[:, rows]))
    for a, b in zip(ref, few):
        np.testing.assert_array_equal(a[rows], b)
    # few proteins over a wide block: the gene-major kernel, permutations in tiles
    monkeypatch.setattr(sparse_kernel, "GENE_MAJOR_MIN_COLUMNS", 2)
    wide = sparse_permutation_statistics(T[rows], inv, Y, r, mu, sigma, Tr=np.ascontiguousarray(Tr[:, rows]))
    for a, b in zip(ref, wide):
        np.testing.assert_array_equal(a[rows], b)


def test_protein_tile_fits_cache():
    assert protein_tile(7919, 1170, cache_bytes=32 * 2**20) * 7919 * 8 <= 0.6 * 32 * 2**20
    assert protein_tile(100, 3, cache_bytes=1) == 1
    assert protein_tile(100, 3, cache_bytes=2**30) == 3


def test_model_reuses_transposed_projection(case):
    T, inv, Y, r, mu, sigma = case
    X = np.random.default_rng(3).standard_normal((300, 21))
    model = RidgeModel(projection(X, 10.0), table=inv, n_rand=None)
    every = model.compute_sparse(np.arange(21), Y, r, mu, sigma)
    Tt = model.projection_transposed
    assert Tt.flags.c_contiguous and Tt.shape == (300, 21)
    some = model.compute_sparse(np.array([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), Y, r, mu, sigma)
    assert model.projection_transposed is Tt
    for name in every:
        np.testing.assert_array_equal(every[name][2:12], some[name])
