"""Fixed order of operations: every product and sum of the ridge kernels gives a value the same bits
whatever block, thread count or thread it is computed in (lazyact.ridge.kernels.fixed)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info, threadpool_limits

from lazyact.ridge import RidgeModel, forward_table, permutation_table, projection
from lazyact.ridge.analytic import AnalyticModel
from lazyact.ridge.kernels import fixed, summation_order
from lazyact.ridge.kernels import numpy as numpy_kernel

OPENBLAS = any(i.get("internal_api") == "openblas" for i in threadpool_info())


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool((a.view(np.uint8) == b.view(np.uint8)).all())


def subset(draw_n):
    return st.lists(st.integers(0, draw_n - 1), min_size=1, max_size=draw_n, unique=True).map(sorted).map(np.array)


@pytest.mark.skipif(not OPENBLAS, reason="the calibrated gene blocks are OpenBLAS's; another BLAS may use none")
@pytest.mark.parametrize("K", [3, 300, 1500, 7919])
def test_gene_blocks_reproduce_this_blas(K):
    blocks = fixed.gene_blocks(K, np.float64)
    assert blocks is not None and blocks[0, 0] == 0 and blocks[-1, 1] == K
    assert (blocks[1:, 0] == blocks[:-1, 1]).all()
    rng = np.random.default_rng(K)
    A, B = rng.standard_normal((10, K)), rng.standard_normal((K, 7))
    with fixed.single_threaded_blas():
        C = fixed.matmul(A, B)
    out = np.empty_like(C)
    fixed._blocked_product(A, B, blocks, 0.0, out)
    assert same_bits(out, C)


@settings(max_examples=25, deadline=None)
@given(rows=subset(40), cols=subset(30), workers=st.sampled_from([1, 2, 3]), blas=st.sampled_from([1, 2]))
def test_matmul_bits_do_not_depend_on_the_block(rows, cols, workers, blas):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((40, 1500)), rng.standard_normal((1500, 30))  # 1500 genes: threads cut them apart
    with fixed.single_threaded_blas():
        full = fixed.matmul(A, B)
    with threadpool_limits(blas, user_api="blas"), fixed.single_threaded_blas():
        part = fixed.matmul(A[rows], B[:, cols], workers=workers)
    assert same_bits(part, full[np.ix_(rows, cols)])


def test_single_threaded_blas_holds_in_worker_threads():
    """threadpoolctl changes OpenBLAS's pool only from its first thread; lazyact computes in others."""
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((64, 1500)), rng.standard_normal((1500, 600))
    with fixed.single_threaded_blas():
        want = A @ B
    got = {}

    def worker():
        with fixed.single_threaded_blas():
            got["C"] = A @ B

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert same_bits(got["C"], want)


@pytest.mark.parametrize("method, p, m", [("yrow", 40, 9), ("tcol", 12, 30)])
def test_permutation_statistics_paths_and_batches_agree_bit_for_bit(method, p, m):
    """The numba kernel (few rows in "yrow", few columns in "tcol") sums as BLAS does."""
    rng = np.random.default_rng(2)
    n = 300
    T, Y = rng.standard_normal((p, n)), rng.standard_normal((n, m))
    fwd, inv = forward_table(n, 30, 0, "srand"), permutation_table(n, 30, 0, "srand")
    full = numpy_kernel.permutation_statistics(T, Y, fwd, inv, method=method)
    for rows, cols, budget in [(np.arange(p), np.arange(m), 10**4), (np.array([3]), np.arange(m), 10**9),
                               (np.arange(p), np.array([2]), 10**9), (np.array([0, 5, 7]), np.array([1, 8]), 10**9)]:
        part = numpy_kernel.permutation_statistics(T, np.ascontiguousarray(Y[:, cols]), fwd, inv, method=method,
                                                   budget_bytes=budget, rows=rows)
        for a, b in zip(part, full):
            assert same_bits(a, b[np.ix_(rows, cols)])


def _models():
    rng = np.random.default_rng(4)
    small, large = projection(rng.standard_normal((300, 12)), 20.0), projection(rng.standard_normal((300, 130)), 20.0)
    assert summation_order(12) == "tcol" and summation_order(130) == "yrow"
    return {"tcol": RidgeModel(small, n_rand=20), "yrow": RidgeModel(large, n_rand=20),
            "float32": RidgeModel(large, n_rand=20, dtype="float32"), "ttest": RidgeModel(small, n_rand=0),
            "analytic": AnalyticModel(small)}


MODELS = _models()
Y_MODEL = np.random.default_rng(5).standard_normal((300, 17))
FULL = {name: model.compute(np.arange(model.shape[0]), Y_MODEL) for name, model in MODELS.items()}


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(MODELS)), data=st.data())
def test_model_blocks_are_bit_identical_to_the_whole(name, data):
    model = MODELS[name]
    rows = data.draw(subset(model.shape[0]), label="rows")
    cols = data.draw(subset(17), label="cols")
    out = model.compute(rows, np.ascontiguousarray(Y_MODEL[:, cols]))
    for k, v in out.items():
        assert same_bits(v, FULL[name][k][np.ix_(rows, cols)]), k


def test_analytic_sparse_blocks_are_bit_identical():
    rng = np.random.default_rng(6)
    model = AnalyticModel(projection(rng.standard_normal((200, 9)), 5.0))
    L = sp.random(200, 11, density=0.3, random_state=7, format="csc")
    r, mu, sigma = rng.random(200), rng.random(11), rng.random(11) + 0.5
    full = model.compute_sparse(np.arange(9), L, r, mu, sigma)
    shuffled = L.copy()
    shuffled.has_sorted_indices = False
    for j in range(shuffled.shape[1]):  # the same columns with their nonzeros stored out of order
        lo, hi = shuffled.indptr[j], shuffled.indptr[j + 1]
        order = rng.permutation(hi - lo) + lo
        shuffled.indices[lo:hi], shuffled.data[lo:hi] = shuffled.indices[order], shuffled.data[order]
    part = model.compute_sparse(np.array([2, 6]), shuffled[:, [4]], r, mu[[4]], sigma[[4]])
    for k in part:
        assert same_bits(part[k], full[k][np.ix_([2, 6], [4])]), k


def test_column_sums_are_in_row_order_for_any_width():
    rng = np.random.default_rng(8)
    Y = rng.standard_normal((1000, 5)) * np.exp(rng.uniform(-20, 20, (1000, 1)))
    sums = fixed.column_sums(Y)
    assert same_bits(fixed.column_sums(Y[:, [3]]), sums[[3]])
    assert same_bits(fixed.column_centred_squares(Y[:, [3]], sums[[3]] / 1000),
                     fixed.column_centred_squares(Y, sums / 1000)[[3]])
