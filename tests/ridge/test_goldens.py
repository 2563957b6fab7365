"""lazyact's engine against SecActPy 0.3.1 outputs (tests/goldens/make_goldens.py).

beta/se/zscore within 1e-10 absolute, pvalue identical, for the full matrix and
for random sub-blocks computed independently.
"""
import numpy as np
import pytest

from conftest import GOLDENS, load_golden
from lazyact.ridge import RidgeModel, permutation_table, projection

RIDGE_CASES = sorted(p.stem for p in GOLDENS.glob("ridge_*.npz"))


def assert_matches(out, g, rows=slice(None), cols=slice(None)):
    for k in ("beta", "se", "zscore"):
        ref = g[k][rows][:, cols] if isinstance(rows, slice) else g[k][np.ix_(rows, cols)]
        np.testing.assert_allclose(out[k], ref, rtol=0, atol=1e-10, err_msg=k)
    ref = g["pvalue"][rows][:, cols] if isinstance(rows, slice) else g["pvalue"][np.ix_(rows, cols)]
    if g["n_rand"] > 0:
        np.testing.assert_array_equal(out["pvalue"], ref)
    else:  # t-test p-values come from scipy's t distribution
        np.testing.assert_allclose(out["pvalue"], ref, rtol=1e-12, atol=1e-15)


def test_there_are_goldens():
    assert len(RIDGE_CASES) >= 20


@pytest.mark.parametrize("case", RIDGE_CASES)
def test_ridge_golden_full_and_blocks(case):
    g = load_golden(case)
    model = RidgeModel(projection(g["X"], g["lambda_"]), n_rand=g["n_rand"], seed=g["seed"], rng=g["rng"] or "srand")
    p, m = g["beta"].shape
    assert_matches(model.compute(np.arange(p), g["Y"]), g)
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    for _ in range(4):
        rows = np.sort(rng.choice(p, size=rng.integers(1, p + 1), replace=False))
        cols = np.sort(rng.choice(m, size=rng.integers(1, m + 1), replace=False))
        assert_matches(model.compute(rows, g["Y"][:, cols]), g, rows, cols)


@pytest.mark.parametrize("rng_name", ["srand", "gsl"])
def test_permutation_tables_golden(rng_name):
    g = load_golden(f"permtable_{rng_name}")
    np.testing.assert_array_equal(permutation_table(10, 3, 0, rng_name), g["n10_table"])
    np.testing.assert_array_equal(permutation_table(10, 3, 1, rng_name), g["n10_seed1_table"])
    for n in (7720, 7919):
        rows = g[f"n{n}_rows"]
        full = permutation_table(n, int(rows.max()) + 1, 0, rng_name)
        np.testing.assert_array_equal(full[rows], g[f"n{n}_table"])


def test_numpy_table_golden():
    g = load_golden("permtable_numpy")
    keys = [k for k in g if k.endswith("_table")]
    assert keys
    for k in keys:
        seed = int(k.split("seed")[1].split("_")[0])
        t = g[k]
        np.testing.assert_array_equal(permutation_table(t.shape[1], t.shape[0], seed, "numpy"), t)
