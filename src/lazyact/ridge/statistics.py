"""SecAct's statistics: their names, and their finalisation from the permutation accumulators.

The formulas and their order of floating-point operations are SecAct's::

    mean   = s1 / n_rand
    se     = sqrt(max(s2 / n_rand - mean**2, 0))
    zscore = (beta - mean) / se   where se > 1e-12, else 0
    pvalue = (count + 1) / (n_rand + 1)

and, for ``n_rand = 0``, the t-test of SecActPy (residual variance with
``df = n_genes - n_proteins``, two-sided Student t p-value).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["STATISTICS", "EPS", "finalize_permutation", "ttest_statistics"]

#: The four statistics of SecAct's method, in this order everywhere (block outputs,
#: result views, file datasets).
STATISTICS = ("beta", "se", "zscore", "pvalue")

EPS = 1e-12


def finalize_permutation(beta, count, s1, s2, n_rand: int, xp=np):
    """Turn accumulators into ``(se, zscore, pvalue)``.

    >>> beta = np.array([[2.0]]); s1 = np.array([[0.0]]); s2 = np.array([[4.0]])
    >>> se, z, p = finalize_permutation(beta, np.array([[0]]), s1, s2, n_rand=4)
    >>> float(se[0, 0]), float(z[0, 0]), float(p[0, 0])
    (1.0, 2.0, 0.2)
    """
    mean = s1 / n_rand
    var = (s2 / n_rand) - (mean ** 2)
    se = xp.sqrt(xp.maximum(var, 0.0))
    safe = xp.where(se > EPS, se, 1.0)
    zscore = xp.where(se > EPS, (beta - mean) / safe, 0.0)
    pvalue = (count.astype(xp.float64) + 1.0) / (n_rand + 1.0)
    return se, zscore, pvalue


def ttest_statistics(T: np.ndarray, Y: np.ndarray, X: np.ndarray, xtx_inv_diag: np.ndarray,
                     rows: np.ndarray):
    """SecActPy's ``n_rand = 0`` path for the given protein rows.

    The residual variance of each sample needs the fit of *all* proteins, so
    ``beta = T @ Y`` is computed for every protein; the returned arrays cover
    ``rows`` only.  Products and sums keep one order of operations whatever
    the block (:mod:`lazyact.ridge.kernels.fixed`).
    """
    from scipy import stats  # imported on first use: scipy.stats costs ~0.25 s at import

    from .kernels import fixed

    n_genes, n_proteins = X.shape
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    with fixed.single_threaded_blas() as workers:
        beta_all = fixed.matmul(T, Y, workers=workers)
        resid = Y - fixed.matmul(X, beta_all, workers=workers)
    rss = fixed.column_sums(resid ** 2)
    df = n_genes - n_proteins
    if df <= 0:
        warnings.warn(
            f"t-test degrees of freedom n_genes - n_proteins = {df} <= 0; results may be unreliable, "
            "use the permutation test (n_rand > 0)",
            RuntimeWarning,
            stacklevel=3,
        )
        df = max(df, 1)
    sigma2 = rss / df
    se = np.sqrt(np.outer(xtx_inv_diag[rows], sigma2))
    beta = beta_all[rows]
    zscore = np.where(se > EPS, beta / np.where(se > EPS, se, 1.0), 0.0)
    pvalue = np.clip(2.0 * stats.t.sf(np.abs(zscore), df=df), 0.0, 1.0)
    return beta, se, zscore, pvalue, float(df)
