"""The analytic null: exact against all n! permutations, the limit of the permutation test."""
import itertools
import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import lazyact
from conftest import load_golden
from lazyact.ridge import RidgeModel, projection
from lazyact.ridge.analytic import NULLS, AnalyticModel, analytic_moments, make_model


def all_permutations(n):
    return np.array(list(itertools.permutations(range(n))), dtype=np.intp)


def brute_force(T, Y):
    """Mean and population variance of T @ Y[pi] over every permutation pi (exactly rounded sums)."""
    perms = all_permutations(T.shape[1])
    null = np.stack([T @ Y[pi] for pi in perms])
    mean = np.empty(null.shape[1:])
    var = np.empty(null.shape[1:])
    for idx in np.ndindex(*mean.shape):
        x = null[(slice(None),) + idx]
        mean[idx] = math.fsum(x) / x.size
        var[idx] = math.fsum((x - mean[idx]) ** 2) / x.size
    return mean, var


@pytest.mark.parametrize("n", [5, 6, 7])
def test_moments_equal_all_permutations(n):
    rng = np.random.default_rng(n)
    T = rng.standard_normal((3, n)) * 2 + 0.5
    Y = rng.standard_normal((n, 4)) * 3 + 1
    Y[:, 1] = rng.integers(0, 3, n)  # ties
    Y[:, 2] = 7.0  # constant column: no spread
    beta, mean, var = analytic_moments(T, Y)
    bmean, bvar = brute_force(T, Y)
    np.testing.assert_allclose(beta, T @ Y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mean, bmean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(var, bvar, rtol=0, atol=1e-12)
    assert (var[:, 2] == 0).all()


@pytest.mark.parametrize("n", [5, 6, 7])
def test_model_equals_permutation_test_over_all_permutations(n):
    """SecAct's statistics with the table of all n! permutations ARE the analytic ones."""
    rng = np.random.default_rng(10 + n)
    X = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, 5))
    Y[:, 3] = 0.0  # all-zero sample: se 0 -> z 0
    P = projection(X, 0.7)
    rows = np.arange(3)
    exact = RidgeModel(P, n_rand=None, table=all_permutations(n)).compute(rows, Y)
    out = AnalyticModel(P).compute(rows, Y)
    for name in ("beta", "se", "zscore"):
        np.testing.assert_allclose(out[name], exact[name], rtol=0, atol=1e-12, err_msg=name)
    assert (out["se"][:, 3] == 0).all() and (out["zscore"][:, 3] == 0).all() and (out["pvalue"][:, 3] == 1).all()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 6), p=st.integers(1, 3), m=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
       integer=st.booleans())
def test_moments_property(n, p, m, seed, integer):
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((p, n))
    Y = rng.integers(-2, 3, (n, m)).astype(float) if integer else rng.standard_normal((n, m)) * 5
    _, mean, var = analytic_moments(T, Y)
    bmean, bvar = brute_force(T, Y)
    np.testing.assert_allclose(mean, bmean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(var, bvar, rtol=0, atol=1e-12)


def test_statistics_definition():
    rng = np.random.default_rng(3)
    P = projection(rng.standard_normal((60, 5)), 2.0)
    Y = rng.standard_normal((60, 9)) + 0.3
    out = AnalyticModel(P).compute(np.arange(5), Y)
    beta, mean, var = analytic_moments(P.T, Y)
    np.testing.assert_array_equal(out["beta"], beta)
    np.testing.assert_array_equal(out["se"], np.sqrt(var))
    np.testing.assert_array_equal(out["zscore"], (beta - mean) / np.sqrt(var))
    np.testing.assert_array_equal(out["pvalue"], 2 * stats.norm.sf(np.abs(out["zscore"])))
    assert all(v.dtype == np.float64 and v.shape == (5, 9) for v in out.values())


def test_blocks_are_independent():
    rng = np.random.default_rng(4)
    P = projection(rng.standard_normal((80, 7)), 5.0)
    Y = rng.standard_normal((80, 12))
    model = AnalyticModel(P)
    full = model.compute(np.arange(7), Y)
    rows, cols = np.array([5, 1, 1, 6]), np.array([11, 0, 3])
    part = model.compute(rows, Y[:, cols])
    for name in full:
        np.testing.assert_allclose(part[name], full[name][np.ix_(rows, cols)], rtol=1e-14, atol=1e-15)


def test_sparse_expression_equals_dense():
    rng = np.random.default_rng(5)
    P = projection(rng.standard_normal((200, 6)), 1.0)
    Y = sp.random(200, 15, density=0.1, random_state=1, format="csc") * 10
    model = AnalyticModel(P)
    dense, sparse = model.compute(np.arange(6), Y.toarray()), model.compute(np.arange(6), Y)
    for name in dense:
        np.testing.assert_allclose(sparse[name], dense[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("with_offsets", [False, True])
def test_compute_sparse_equals_dense_normalised(with_offsets):
    """The in-flight sparse contract: (L - offsets - mu) / sigma without densifying L."""
    rng = np.random.default_rng(11)
    n, m = 300, 10
    P = projection(rng.standard_normal((n, 5)), 2.0)
    L = sp.csc_matrix(sp.random(n, m, density=0.05, random_state=3, format="csc") * 4)
    r = rng.random(n) * 0.1 if with_offsets else None
    D = L.toarray() - (r[:, None] if with_offsets else 0.0)
    mu, sigma = D.mean(axis=0), D.std(axis=0, ddof=1)
    sigma[6] = 0.0  # a column the caller flags as constant
    model = AnalyticModel(P)
    out = model.compute_sparse(np.arange(5), L, r, mu, sigma)
    Z = np.where(sigma > 0, (D - mu) / np.where(sigma > 0, sigma, 1.0), 0.0)
    ref = model.compute(np.arange(5), Z)
    for name in ("beta", "se", "zscore"):
        np.testing.assert_allclose(out[name], ref[name], rtol=0, atol=1e-10, err_msg=name)
    np.testing.assert_allclose(out["pvalue"], ref["pvalue"], rtol=1e-8, atol=1e-12)
    assert (out["zscore"][:, 6] == 0).all() and (out["pvalue"][:, 6] == 1).all()
    plain = model.compute_sparse([1, 3], L, None, None, None)  # mu=0, sigma=1: the raw columns
    raw = model.compute([1, 3], L.toarray())
    for name in raw:
        np.testing.assert_allclose(plain[name], raw[name], rtol=1e-10, atol=1e-12)


def test_zscored_columns_have_constant_se():
    """With z-scored samples the null mean is 0 and se depends on the protein only."""
    rng = np.random.default_rng(6)
    P = projection(rng.standard_normal((150, 4)), 3.0)
    Y = rng.standard_normal((150, 6)) * 4 + 2
    Y = (Y - Y.mean(0)) / Y.std(0, ddof=1)
    model = AnalyticModel(P)
    out = model.compute(np.arange(4), Y)
    np.testing.assert_allclose(out["se"], np.repeat(model.null_se[:, None], 6, axis=1), rtol=1e-13)
    np.testing.assert_allclose(out["zscore"], out["beta"] / model.null_se[:, None], rtol=1e-12)


def test_interface_matches_ridge_model():
    P = projection(np.random.default_rng(7).standard_normal((40, 3)), 1.0)
    model = AnalyticModel(P)
    assert model.projection is P and model.shape == (3, 40) and model.backend == "numpy"
    assert model.n_rand is None and model.seed is None and model.rng is None and model.explicit_table is False
    assert model.null == "analytic" and "AnalyticModel" in repr(model)
    clone = pickle.loads(pickle.dumps(model))
    Y = np.random.default_rng(8).standard_normal((40, 2))
    np.testing.assert_array_equal(clone.compute([0, 2], Y)["zscore"], model.compute([0, 2], Y)["zscore"])
    with pytest.raises(ValueError, match="n_genes=40"):
        model.compute([0], np.zeros((39, 2)))
    with pytest.raises(TypeError):
        AnalyticModel(P.T)


def test_make_model():
    P = projection(np.random.default_rng(9).standard_normal((30, 2)), 1.0)
    assert NULLS == ("permutation", "analytic")
    assert isinstance(make_model(P, "analytic"), AnalyticModel)
    m = make_model(P, n_rand=7, seed=3, rng="numpy")
    assert isinstance(m, RidgeModel) and (m.n_rand, m.seed, m.rng) == (7, 3, "numpy")
    with pytest.raises(ValueError, match="table"):
        make_model(P, "analytic", table=np.zeros((2, 30), int))
    with pytest.raises(ValueError, match="unknown null"):
        make_model(P, "bootstrap")


# -- the limit of the permutation test -----------------------------------------------
N_RANDS = (100, 400, 1600, 6400)


@pytest.fixture(scope="module")
def moderate():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((300, 8))
    Y = rng.standard_normal((300, 30))
    P = projection(X, 10.0)
    return P, Y, AnalyticModel(P).compute(np.arange(8), Y)


@pytest.mark.parametrize("rng_name", ["srand", "numpy"])
def test_permutation_statistics_converge_like_one_over_sqrt_n(moderate, rng_name):
    P, Y, exact = moderate
    gaps = []
    for n_rand in N_RANDS:
        perm = RidgeModel(P, n_rand=n_rand, rng=rng_name).compute(np.arange(8), Y)
        rel_se = (perm["se"] - exact["se"]) / exact["se"]
        dz = perm["zscore"] - exact["zscore"]
        gaps.append((np.sqrt(np.mean(rel_se ** 2)), np.sqrt(np.mean(dz ** 2))))
    gaps = np.array(gaps)
    logn = np.log(N_RANDS)
    for j, what in enumerate(("se", "zscore")):
        slope = np.polyfit(logn, np.log(gaps[:, j]), 1)[0]
        assert -0.65 < slope < -0.35, (what, slope, gaps[:, j])
        assert (np.diff(gaps[:, j]) < 0).all(), (what, gaps[:, j])  # monotone on this seed
    # the Monte Carlo constants: rel. se error ~ 1/sqrt(2 n_rand) for a normal null;
    # z error ~ sqrt((1 + z^2/2) / n_rand)
    c_se = gaps[:, 0] * np.sqrt(2 * np.array(N_RANDS))
    assert ((0.7 < c_se) & (c_se < 1.3)).all(), c_se
    assert gaps[-1, 1] < 0.03


def test_real_cytosig_bulk_within_monte_carlo_error():
    """SecActPy's n_rand=1000 statistics on Ly86 (CytoSig) sit within MC error of the analytic limit."""
    g = load_golden("cytosig_ly86_none_n1000")
    P = projection(g["X_in"], g["lambda_"])
    out = AnalyticModel(P).compute(np.arange(P.n_proteins), g["Y_in"])
    n = int(g["n_rand"])
    np.testing.assert_allclose(out["beta"], g["beta"], rtol=0, atol=1e-10)
    rel_se = (g["se"] - out["se"]) / out["se"]
    u = (g["zscore"] - out["zscore"]) * np.sqrt(n / (1 + out["zscore"] ** 2 / 2))  # ~ N(0, 1)
    assert 0.7 < np.sqrt(np.mean(rel_se ** 2) * 2 * n) < 1.3
    assert 0.7 < np.sqrt(np.mean(u ** 2)) < 1.3 and np.abs(u).max() < 5
    assert ((out["pvalue"] <= 0.05) == (g["pvalue"] <= 0.05)).mean() > 0.95


# -- the hooks in LazyActivity / lazyact.activity (null="analytic") --------------------
def test_hook_lazy_activity_null_analytic():
    rng = np.random.default_rng(12)
    X, Y = rng.standard_normal((100, 4)), rng.standard_normal((100, 9))
    P = projection(X, 10.0)
    act = lazyact.LazyActivity(P, Y=Y, null="analytic", proteins=list("ABCD"), chunks=(3, 4))
    assert isinstance(act.model, AnalyticModel)
    assert act.params["null"] == "analytic" and act.params["n_rand"] is None
    assert "analytic" in repr(act)
    ref = AnalyticModel(P).compute(np.arange(4), Y)
    for name in ("beta", "se", "zscore", "pvalue"):
        np.testing.assert_allclose(act[name][:, :], ref[name], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(act.zscore.loc["C", ::2], ref["zscore"][2, ::2], rtol=1e-14)
    same = lazyact.LazyActivity(P, AnalyticModel(P), Y)
    np.testing.assert_allclose(same.zscore[:, :], act.zscore[:, :], rtol=1e-14, atol=1e-15)
    assert lazyact.LazyActivity(P, 10, Y).params["null"] == "permutation"


def test_hook_pipeline_null_analytic():
    act = lazyact.activity("tests/data/Ly86-Fc_vs_Vehicle_logFC.txt", "CytoSig", null="analytic")
    g = load_golden("cytosig_ly86_none_n1000")
    assert list(act.proteins) == list(g["proteins"])
    ref = AnalyticModel(projection(g["X_in"], g["lambda_"])).compute(np.arange(43), g["Y_in"])
    np.testing.assert_allclose(act.zscore[:, :], ref["zscore"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(act.beta[:, :], g["beta"], rtol=0, atol=1e-10)


def test_hook_sparse_pipeline_null_analytic():
    """Sparse input stays sparse (in-flight normalisation) and equals the dense analytic result."""
    import pandas as pd

    df = lazyact.pipeline.read_expression_table("tests/data/Ly86-Fc_vs_Vehicle_logFC.txt")
    D = df.to_numpy().copy()
    D[np.abs(D) < 0.3] = 0.0
    dense = lazyact.activity(pd.DataFrame(D, index=df.index, columns=df.columns), "CytoSig", preprocess="center",
                             null="analytic")
    act = lazyact.activity(sp.csc_matrix(D), "CytoSig", genes=df.index, samples=df.columns, preprocess="center",
                           null="analytic", chunks=(20, 2))
    assert act.blocks._use_sparse()
    for name in ("beta", "se", "zscore"):
        np.testing.assert_allclose(act[name][:, :], dense[name][:, :], rtol=0, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(act.pvalue[:, :], dense.pvalue[:, :], rtol=1e-6, atol=1e-12)
