import numpy as np
import pytest

from lazyact.ridge import projection


def test_matches_normal_equations():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 7))
    for lam in (0.0, 1.0, 5e5):
        P = projection(X, lam)
        expect = np.linalg.solve(X.T @ X + lam * np.eye(7), X.T)
        np.testing.assert_allclose(P.T, expect, rtol=1e-10, atol=1e-14)
        assert P.T.flags.c_contiguous
        np.testing.assert_allclose(P.xtx_inv_diag, np.diag(np.linalg.inv(X.T @ X + lam * np.eye(7))), rtol=1e-10)


def test_pinv_fallback_warns():
    X = np.ones((10, 3))  # rank 1, lambda 0: not positive definite
    with pytest.warns(RuntimeWarning, match="pseudo-inverse"):
        P = projection(X, 0.0)
    np.testing.assert_allclose(P.T, np.linalg.pinv(X.T @ X) @ X.T, atol=1e-12)


@pytest.mark.parametrize("lam", [-1.0, float("nan"), float("inf"), "big"])
def test_bad_lambda(lam):
    with pytest.raises(ValueError, match="lambda_"):
        projection(np.eye(3), lam)


def test_non_finite_signature():
    X = np.ones((5, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite.*gene row 3, protein column 1"):
        projection(X)


def test_bad_shape():
    with pytest.raises(ValueError, match="2-D"):
        projection(np.ones(5))
