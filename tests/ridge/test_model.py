"""The block computation against a literal transcription of SecAct's loop."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from lazyact.ridge import RidgeModel, permutation_table, projection
from lazyact.ridge.kernels import numpy as numpy_kernel
from lazyact.ridge.kernels import plan_batches
from lazyact.ridge.kernels import xp as xp_kernel


def naive(X, Y, lam, n_rand, seed, rng):
    """SecAct's permutation test, one permutation at a time (T-column form)."""
    T = np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T)
    beta = T @ Y
    inv = permutation_table(X.shape[0], n_rand, seed, rng).astype(np.intp)
    count = np.zeros_like(beta)
    s1 = np.zeros_like(beta)
    s2 = np.zeros_like(beta)
    for i in range(n_rand):
        b = T[:, inv[i]] @ Y
        count += np.abs(b) >= np.abs(beta)
        s1 += b
        s2 += b ** 2
    mean = s1 / n_rand
    se = np.sqrt(np.maximum(s2 / n_rand - mean ** 2, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 1e-12, (beta - mean) / se, 0.0)
    return dict(beta=beta, se=se, zscore=z, pvalue=(count + 1) / (n_rand + 1))


def assert_same(out, ref, atol=1e-10):
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(out[k], ref[k], rtol=0, atol=atol, err_msg=k)
    np.testing.assert_array_equal(out["pvalue"], ref["pvalue"])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((150, 9))
    Y = rng.standard_normal((150, 13))
    Y[:, 4] = 0.0  # an all-zero sample: se 0 -> z 0, p 1
    return X, Y


@pytest.mark.parametrize("rng_name", ["srand", "gsl", "numpy"])
def test_full_block_equals_naive(data, rng_name):
    X, Y = data
    ref = naive(X, Y, 10.0, 60, 3, rng_name)
    out = RidgeModel(projection(X, 10.0), n_rand=60, seed=3, rng=rng_name).compute(np.arange(9), Y)
    assert_same(out, ref)
    assert (out["zscore"][:, 4] == 0).all() and (out["pvalue"][:, 4] == 1).all()


def test_any_sub_block_equals_full(data):
    X, Y = data
    model = RidgeModel(projection(X, 10.0), n_rand=40)
    full = model.compute(np.arange(9), Y)
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = np.sort(rng.choice(9, size=rng.integers(1, 10), replace=False))
        cols = np.sort(rng.choice(13, size=rng.integers(1, 14), replace=False))
        part = model.compute(rows, Y[:, cols])
        for k in full:
            np.testing.assert_allclose(part[k], full[k][np.ix_(rows, cols)], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(part["pvalue"], full["pvalue"][np.ix_(rows, cols)])


@pytest.mark.parametrize("method", ["yrow", "tcol"])
@pytest.mark.parametrize("budget", [1, 50_000, 10**9])
def test_kernels_agree_on_every_batching(data, method, budget):
    X, Y = data
    P = projection(X, 1.0)
    from lazyact.ridge import forward_table

    fwd = forward_table(150, 25, 0, "srand")
    inv = permutation_table(150, 25, 0, "srand")
    b0, c0, a0, q0 = numpy_kernel.permutation_statistics(P.T, Y, fwd, inv, method=method, budget_bytes=10**9)
    b1, c1, a1, q1 = numpy_kernel.permutation_statistics(P.T, Y, fwd, inv, method=method, budget_bytes=budget)
    for x, y in zip((b0, c0, a0, q0), (b1, c1, a1, q1)):  # the batch size changes no bit
        np.testing.assert_array_equal(x, y)
    beta = P.T @ Y
    np.testing.assert_allclose(b0, beta, rtol=0, atol=1e-12)
    c2, a2, q2 = xp_kernel.permutation_moments(np, P.T, Y, beta, fwd, inv, budget, method=method)
    np.testing.assert_array_equal(c0, c2)
    np.testing.assert_allclose(a2, a0, atol=1e-12)
    np.testing.assert_allclose(q2, q0, atol=1e-12)


def test_batch_plan_by_cost():
    assert plan_batches(p=1170, n=7919, m=1, n_rand=1000).method == "yrow"
    assert plan_batches(p=3, n=7919, m=1000, n_rand=1000).method == "tcol"
    plan = plan_batches(p=1170, n=7919, m=1000, n_rand=1000, budget_bytes=10**6)
    assert plan.batch == 1


def test_explicit_table(data):
    X, Y = data
    inv = permutation_table(150, 30, 8, "gsl")
    a = RidgeModel(projection(X, 2.0), n_rand=30, seed=8, rng="gsl").compute(np.arange(9), Y)
    b = RidgeModel(projection(X, 2.0), n_rand=None, table=np.asarray(inv, dtype=np.int64)).compute(np.arange(9), Y)
    assert_same(a, b, atol=0)


def test_explicit_table_validation(data):
    X, _ = data
    P = projection(X, 1.0)
    with pytest.raises(ValueError, match="n_genes=150"):
        RidgeModel(P, n_rand=None, table=np.zeros((3, 10), dtype=int))
    bad = np.tile(np.arange(150), (2, 1))
    bad[1, 0] = 1
    with pytest.raises(ValueError, match="row 1 is not a permutation"):
        RidgeModel(P, n_rand=None, table=bad)
    with pytest.raises(ValueError, match="n_rand=5"):
        RidgeModel(P, n_rand=5, table=np.tile(np.arange(150), (2, 1)))


def test_ttest_path(data):
    X, Y = data
    lam = 3.0
    out = RidgeModel(projection(X, lam), n_rand=0).compute(np.array([1, 5]), Y)
    inv = np.linalg.inv(X.T @ X + lam * np.eye(9))
    T = inv @ X.T
    beta = T @ Y
    df = 150 - 9
    sigma2 = ((Y - X @ beta) ** 2).sum(0) / df
    se = np.sqrt(np.outer(np.diag(inv), sigma2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 1e-12, beta / se, 0)
    p = np.clip(2 * stats.t.sf(np.abs(z), df), 0, 1)
    np.testing.assert_allclose(out["beta"], beta[[1, 5]], atol=1e-12)
    np.testing.assert_allclose(out["se"], se[[1, 5]], atol=1e-12)
    np.testing.assert_allclose(out["zscore"], z[[1, 5]], atol=1e-10)
    np.testing.assert_allclose(out["pvalue"], p[[1, 5]], atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_rand=-2), "n_rand must be >= 0"),
    (dict(rng="xorshift"), "unknown rng"),
    (dict(backend="tpu"), "unknown backend"),
])
def test_bad_model_parameters(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        RidgeModel(projection(data[0], 1.0), **kwargs)


def test_mismatched_gene_count(data):
    X, Y = data
    with pytest.raises(ValueError, match="n_genes=150"):
        RidgeModel(projection(X, 1.0), n_rand=5).compute(np.arange(9), Y[:100])
    # the sparse kernel reads without bounds checks: a wrong block never reaches it
    with pytest.raises(ValueError, match=r"n_genes=150, m\), got shape \(100, 13\)"):
        RidgeModel(projection(X, 1.0), n_rand=5).compute_sparse(np.arange(9), sp.csc_matrix(Y[:100]), None,
                                                                 None, None)


def test_model_pickles_without_tables(data):
    X, Y = data
    m = RidgeModel(projection(X, 1.0), n_rand=20)
    ref = m.compute(np.arange(9), Y)
    blob = pickle.dumps(m)
    assert len(blob) < X.nbytes * 3  # tables are rebuilt, not shipped
    assert_same(pickle.loads(blob).compute(np.arange(9), Y), ref, atol=0)


# -- the optional float32 compute mode ------------------------------------------------

def test_float64_is_the_default(data):
    X, Y = data
    model = RidgeModel(projection(X, 5.0), n_rand=30)
    assert model.dtype == np.float64
    assert all(v.dtype == np.float64 for v in model.compute(np.arange(9), Y).values())


def test_float32_mode_is_close_not_exact(data):
    X, Y = data
    proj = projection(X, 5.0)
    ref = RidgeModel(proj, n_rand=200).compute(np.arange(9), Y)
    model = RidgeModel(proj, n_rand=200, dtype=np.float32)
    out = model.compute(np.arange(9), Y)
    assert all(v.dtype == np.float64 for v in out.values())
    dz = np.abs(out["zscore"] - ref["zscore"]).max()
    assert 0 < dz < 1e-4  # single precision: close to float64, but not the same numbers
    # p-values move by at most one permutation step, and rarely
    step = 1 / 201
    assert np.abs(out["pvalue"] - ref["pvalue"]).max() <= step + 1e-12
    assert (out["pvalue"] == ref["pvalue"]).mean() > 0.95


def test_float32_kernels_agree(data):
    X, Y = data
    T = np.ascontiguousarray(projection(X, 5.0).T, dtype=np.float32)
    Y32 = Y.astype(np.float32)
    inv = permutation_table(150, 40, 0, "srand")
    fwd = np.argsort(inv, axis=1).astype(inv.dtype)
    beta, *a = numpy_kernel.permutation_statistics(T, Y32, fwd, inv)
    assert beta.dtype == np.float32
    b = xp_kernel.permutation_moments(np, T, Y32, beta, fwd.astype(np.int64), inv.astype(np.int64))
    np.testing.assert_array_equal(a[0], b[0])
    for x, y in zip(a[1:], b[1:]):
        assert x.dtype == np.float64
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", ["float16", "int64", np.complex128])
def test_bad_dtype(data, bad):
    with pytest.raises(ValueError, match="float64 or float32"):
        RidgeModel(projection(data[0], 5.0), n_rand=10, dtype=bad)


def test_float32_through_the_pipeline(data):
    import lazyact
    from lazyact.ridge.analytic import make_model

    X, Y = data
    act = lazyact.LazyActivity(projection(X, 5.0), 50, Y, dtype="float32")
    assert act.model.dtype == np.float32 and act.params["dtype"] == "float32"
    ref = lazyact.LazyActivity(projection(X, 5.0), 50, Y)
    assert "dtype" not in ref.params
    np.testing.assert_allclose(act.zscore[:, :], ref.zscore[:, :], atol=1e-4)
    with pytest.raises(ValueError, match="analytic null computes in float64"):
        make_model(projection(X, 5.0), "analytic", dtype="float32")
