"""The numba sparse kernel computes every (protein, cell) value by one fixed sequence of
IEEE operations: nonzeros in gene order, each product rounded then added, permutations in
order.  Every path (register tiles, few proteins, gene-major) equals that sequence bit
for bit, whatever the protein subset, the tile a protein falls in, the cells sharing its
group, the group size or the thread count; and it equals the dense kernel on the
densified, normalised columns."""
import doctest
import gc

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.ridge import RidgeModel, projection
from lazyact.ridge.kernels import numba as sparse_kernel
from lazyact.ridge.kernels import simd
from lazyact.ridge.kernels.numba import (offset_projections, pack_tiles, projection_tiles,
                                         sparse_permutation_statistics)
from lazyact.ridge.permutations import permutation_table


def make_case(seed, n, p, m, n_rand, density=0.1):
    rng = np.random.default_rng(seed)
    T = projection(rng.standard_normal((n, p)), 10.0).T
    Y = sp.random(n, m, density=density, format="lil", random_state=seed + 1)
    Y[:, m // 2] = 0.0  # an empty column
    Y = sp.csc_matrix(Y)
    Y.data = np.log2(np.ceil(Y.data * 10) + 1)
    r = rng.random(n)
    mu = rng.random(m)
    sigma = 1.0 + rng.random(m)
    sigma[-1] = 0.0  # a constant column
    inv = permutation_table(n, n_rand, seed=seed)
    return T, inv, Y, r, mu, sigma


@pytest.fixture(scope="module")
def case():
    # 37 proteins: two full register tiles and a partial one; odd n_rand: a lone last permutation
    return make_case(3, n=300, p=37, m=9, n_rand=61)


def sequential_reference(T, inv, Y, Tr, c, mu, sigma, dtype=np.float64):
    """The contract, written out: for each cell, nonzeros in gene order, ``acc = acc + v * t``
    with each operation rounded in ``dtype`` (NumPy, vectorised over proteins only, which
    does not change any element's operations), then the statistics in float64."""
    p, m = T.shape[0], Y.shape[1]
    Y = Y.tocsc()
    Y.sort_indices()
    T = T.astype(dtype)
    out = beta, count, s1, s2 = (np.empty((p, m)), np.zeros((p, m), np.int64), np.zeros((p, m)),
                                 np.zeros((p, m)))
    for s in range(m):
        idx = Y.indices[Y.indptr[s]:Y.indptr[s + 1]]
        val = Y.data[Y.indptr[s]:Y.indptr[s + 1]].astype(dtype)
        isg = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
        for i in range(-1, inv.shape[0]):
            rows = idx if i < 0 else inv[i][idx]
            acc = np.zeros(p, dtype)
            for g, v in zip(rows, val):
                acc = acc + v * T[:, g]
            b = (acc.astype(np.float64) - Tr[i + 1] - c * mu[s]) * isg
            if i < 0:
                beta[:, s] = b
            else:
                count[:, s] += np.abs(b) >= np.abs(beta[:, s])
                s1[:, s] = s1[:, s] + b
                s2[:, s] = s2[:, s] + b * b
    return out


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


def assert_identical(got, want):
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def run(T, inv, Y, r, mu, sigma, Tr, rows=None, **kw):
    rows = np.arange(T.shape[0]) if rows is None else np.asarray(rows)
    return sparse_permutation_statistics(np.ascontiguousarray(T[rows]), inv, Y, r, mu, sigma,
                                         Tr=np.ascontiguousarray(Tr[:, rows]), c=T[rows].sum(axis=1), **kw)


def test_every_path_is_the_sequential_definition(case, monkeypatch):
    T, inv, Y, r, mu, sigma = case
    # the offset projections are a BLAS product whose last bits depend on its shape:
    # computed once for all proteins and sliced, as the model does
    Tr = offset_projections(T, inv, r)
    c = T.sum(axis=1)
    want = sequential_reference(T, inv, Y, Tr, c, mu, sigma)
    invT = np.ascontiguousarray(inv.T)
    threads = numba.get_num_threads()
    try:
        for n_threads in sorted({1, threads}):
            numba.set_num_threads(n_threads)
            for group in (1, 2, 4, 32):
                for T_inv in (None, invT):
                    got = run(T, inv, Y, r, mu, sigma, Tr, group=group, invT=T_inv)
                    assert_identical(got, want)
    finally:
        numba.set_num_threads(threads)
    # a protein's value does not depend on the tile or lane it falls in
    for rows in ([5, 6, 7, 8, 9, 10, 11, 12, 13, 14], np.arange(1, 37), [36, 0, 17, 20, 21, 22, 23, 24, 25]):
        got = run(T, inv, Y, r, mu, sigma, Tr, rows=rows, group=3)
        assert_identical(got, [w[rows] for w in want])
    # few proteins: the transposed-table kernel, and over a wide block the permutation-lane kernel
    for rows in ([0, 5, 36], [9]):
        assert_identical(run(T, inv, Y, r, mu, sigma, Tr, rows=rows), [w[rows] for w in want])
    monkeypatch.setattr(sparse_kernel, "LANES_MIN_COLUMNS", 2)
    for part in (128, 4, 1):  # cells in parts of any size
        monkeypatch.setattr(sparse_kernel, "LANES_PART", part)
        assert_identical(run(T, inv, Y, r, mu, sigma, Tr, rows=[0, 5, 36]), [w[[0, 5, 36]] for w in want])


def test_float32_is_its_own_fixed_sequence(case, monkeypatch):
    # dtype="float32": products and running sums rounded to float32 (the same sequence on
    # every path), statistics in float64; close to, not equal to, float64
    T, inv, Y, r, mu, sigma = case
    Tr = offset_projections(T, inv, r)
    want = sequential_reference(T, inv, Y, Tr, T.sum(axis=1), mu, sigma, dtype=np.float32)
    assert_identical(run(T, inv, Y, r, mu, sigma, Tr, dtype=np.float32, group=2), want)
    for rows in ([0, 5, 36], np.arange(3, 20)):
        assert_identical(run(T, inv, Y, r, mu, sigma, Tr, rows=rows, dtype=np.float32), [w[rows] for w in want])
    monkeypatch.setattr(sparse_kernel, "LANES_MIN_COLUMNS", 2)
    assert_identical(run(T, inv, Y, r, mu, sigma, Tr, rows=[0, 5, 36], dtype=np.float32),
                     [w[[0, 5, 36]] for w in want])
    exact = run(T, inv, Y, r, mu, sigma, Tr)
    assert not np.array_equal(exact[0], want[0])
    np.testing.assert_allclose(want[0], exact[0], rtol=0, atol=1e-5 * np.abs(exact[0]).max())
    with pytest.raises(ValueError, match="float64 or float32"):
        run(T, inv, Y, r, mu, sigma, Tr, dtype=np.float16)


def test_cells_do_not_depend_on_their_neighbours(case):
    T, inv, Y, r, mu, sigma = case
    Tr = offset_projections(T, inv, r)
    full = run(T, inv, Y, r, mu, sigma, Tr, group=4)
    order = np.array([8, 3, 0, 5])  # another block: other cells, another order, other groups
    part = run(T, inv, Y[:, order], r, mu[order], sigma[order], Tr, group=3)
    assert_identical(part, [f[:, order] for f in full])
    for s in range(Y.shape[1]):  # one cell alone
        one = run(T, inv, Y[:, [s]], r, mu[[s]], sigma[[s]], Tr)
        assert_identical(one, [f[:, [s]] for f in full])


def test_equals_the_dense_kernel(case):
    T, inv, Y, r, mu, sigma = case
    got = sparse_permutation_statistics(T, inv, Y, r, mu, sigma)
    want = dense_reference(T, inv, Y, r, mu, sigma)
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got[2], want[2], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-12, atol=1e-8)
    # counts: identical except where |beta_i| and |beta| tie to rounding
    assert np.abs(got[1] - want[1]).max() <= 1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), p=st.integers(1, 40), m=st.integers(1, 7), n_rand=st.integers(1, 6),
       group=st.integers(1, 8), threads=st.integers(1, 2), density=st.sampled_from([0.02, 0.2, 1.0]))
def test_any_shape_group_and_thread_count(seed, p, m, n_rand, group, threads, density):
    # n > 255: the same uint16 table dtype as the other tests (no second compilation)
    T, inv, Y, r, mu, sigma = make_case(seed, n=260, p=p, m=m, n_rand=n_rand, density=density / 5)
    Tr = offset_projections(T, inv, r)
    want = sequential_reference(T, inv, Y, Tr, T.sum(axis=1), mu, sigma)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        assert_identical(run(T, inv, Y, r, mu, sigma, Tr, group=group), want)
    finally:
        numba.set_num_threads(before)


def test_projection_tiles_are_packed_once_per_projection():
    T = np.random.default_rng(0).standard_normal((37, 50))
    tiles = pack_tiles(T)
    assert tiles.shape == (3, 50, 16) and tiles.flags.c_contiguous and tiles.ctypes.data % 64 == 0
    np.testing.assert_array_equal(tiles.transpose(0, 2, 1).reshape(48, 50)[:37], T)
    assert not tiles[2, :, 5:].any()  # zero beyond protein 36
    assert projection_tiles(T) is projection_tiles(T)
    assert projection_tiles(T.copy()) is not projection_tiles(T)
    np.testing.assert_array_equal(projection_tiles(np.ascontiguousarray(T.T), transposed=True), tiles)
    n_cached = len(sparse_kernel._TILES)
    del T
    gc.collect()
    assert len(sparse_kernel._TILES) < n_cached  # released with its projection


def test_model_slices_equal_the_full_block(case):
    T, inv, Y, r, mu, sigma = case
    X = np.random.default_rng(3).standard_normal((300, 37))
    model = RidgeModel(projection(X, 10.0), table=inv, n_rand=None)
    every = model.compute_sparse(np.arange(37), Y, r, mu, sigma)
    for rows in (np.arange(2, 12), np.array([4]), np.array([0, 1, 35, 36])):
        some = model.compute_sparse(rows, Y, r, mu, sigma)
        for name in every:
            assert every[name][rows].tobytes() == some[name].tobytes()
    one = model.compute_sparse(np.arange(37), Y[:, [3]], r, mu[[3]], sigma[[3]])
    for name in every:
        assert every[name][:, [3]].tobytes() == one[name].tobytes()


@pytest.mark.parametrize("module", [sparse_kernel, simd])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def test_model_float32_sparse(case):
    T, inv, Y, r, mu, sigma = case
    X = np.random.default_rng(3).standard_normal((300, 37))
    exact = RidgeModel(projection(X, 10.0), table=inv, n_rand=None)
    single = RidgeModel(projection(X, 10.0), table=inv, n_rand=None, dtype="float32")
    a = exact.compute_sparse(np.arange(37), Y, r, mu, sigma)
    b = single.compute_sparse(np.arange(37), Y, r, mu, sigma)
    assert not np.array_equal(a["zscore"], b["zscore"])
    np.testing.assert_allclose(b["zscore"], a["zscore"], rtol=0, atol=1e-4)
    one = single.compute_sparse(np.arange(37), Y[:, [3]], r, mu[[3]], sigma[[3]])
    for name in b:  # same bits however asked, in float32 too
        assert b[name][:, [3]].tobytes() == one[name].tobytes()
