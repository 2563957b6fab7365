"""The analytic permutation null: SecAct's statistics in the limit ``n_rand -> infinity``.

SecAct compares ``beta = T Y`` with ``beta_pi = T Y[pi]`` over random gene
permutations ``pi`` and reports the mean and the standard deviation of
``beta_pi`` over the permutations drawn.  Over *all* ``n!`` permutations both
have closed forms (sampling without replacement).  For protein ``k`` (row ``a =
T[k]``) and sample ``s`` (column ``y = Y[:, s]``), with ``n`` genes::

    E[beta_pi]   = sum(a) * mean(y)
    Var[beta_pi] = sum((a - mean(a))**2) * sum((y - mean(y))**2) / (n - 1)

so the whole null costs one GEMM per block (``beta`` itself) plus a row sum and
a centred sum of squares per row of ``T`` (once per model) and per column of
``Y``.  :class:`AnalyticModel` uses them for ``se = sqrt(Var)``, ``zscore =
(beta - E) / se`` (0 where ``se <= 1e-12``, SecAct's rule) and a two-sided
normal p-value ``2 * norm.sf(|zscore|)``.  See ``docs/nulls.md`` for the proof
and for the measured agreement with the permutation test.

SecAct's cumulative shuffle draws (up to the generator) independent uniform
permutations, so its ``mean`` and ``se`` are Monte Carlo estimates of these
two numbers, with errors ``O(1 / sqrt(n_rand))``.  The p-value is *not* the
permutation p-value: it is the normal approximation of the permutation
distribution (Hoeffding's combinatorial central limit theorem), with no
``1 / (n_rand + 1)`` floor.
"""
from __future__ import annotations

from typing import Any, Mapping

import numba
import numpy as np
import scipy.sparse as sp
from scipy import special

from .backends import resolve_backend
from .kernels import fixed
from .model import RidgeModel, compute_dtype
from .projection import Projection
from .statistics import EPS, STATISTICS

__all__ = ["AnalyticModel", "NULLS", "analytic_moments", "make_model"]

#: Names of the null distributions a model can use.
NULLS = ("permutation", "analytic")


def analytic_moments(T: np.ndarray, Y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``beta = T @ Y`` and the exact mean and variance of ``T @ Y[pi]`` over all permutations.

    Parameters
    ----------
    T : (p, n) array
        Projection rows.
    Y : (n, m) array or scipy sparse matrix
        Expression columns.

    Returns
    -------
    beta, mean, var : (p, m) float64 arrays

    Examples
    --------
    >>> import itertools
    >>> rng = np.random.default_rng(0)
    >>> T, Y = rng.standard_normal((2, 5)), rng.standard_normal((5, 3))
    >>> perms = np.array(list(itertools.permutations(range(5))))
    >>> null = np.stack([T @ Y[p] for p in perms])   # all 120 permutations
    >>> beta, mean, var = analytic_moments(T, Y)
    >>> bool(np.allclose(mean, null.mean(0)) and np.allclose(var, null.var(0)))
    True
    """
    T = np.asarray(T, dtype=np.float64)
    row_sum, row_ss = _row_moments(T)
    beta, col_mean, col_ss = _beta_and_column_moments(np, T, Y)
    return beta, *_mean_var(np, row_sum, row_ss, col_mean, col_ss, T.shape[1])


def _row_moments(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums and centred row sums of squares of ``T`` (two-pass, exact to rounding)."""
    row_sum = T.sum(axis=1)
    centred = T - (row_sum / max(T.shape[1], 1))[:, None]
    return row_sum, np.einsum("ij,ij->i", centred, centred)


def _beta_and_column_moments(xp, T_rows, Y):
    """``T_rows @ Y``, the column means of Y and their centred sums of squares."""
    n = Y.shape[0]
    if sp.issparse(Y):
        Y = Y.tocsc()
        beta = np.asarray((Y.T @ T_rows.T).T)
        col_sum = np.asarray(Y.sum(axis=0)).ravel()
        col_mean = col_sum / max(n, 1)
        sq = np.asarray(Y.multiply(Y).sum(axis=0)).ravel()
        # one-pass formula: exact for the zeros, a little cancellation otherwise
        col_ss = np.maximum(sq - col_sum * col_mean, 0.0)
        return beta, col_mean, col_ss
    if xp is np:  # one order of operations whatever the block (kernels.fixed)
        with fixed.single_threaded_blas() as workers:
            beta = fixed.matmul(T_rows, Y, workers=workers)
        col_mean = fixed.column_sums(Y) / max(n, 1)
        return beta, col_mean, fixed.column_centred_squares(Y, col_mean)
    beta = T_rows @ Y
    col_mean = Y.sum(axis=0) / max(n, 1)
    centred = Y - col_mean[None, :]
    col_ss = (centred * centred).sum(axis=0)
    return beta, col_mean, col_ss


def _mean_var(xp, row_sum, row_ss, col_mean, col_ss, n: int):
    mean = row_sum[:, None] * col_mean[None, :]
    if n < 2:  # one gene: a single permutation, no spread
        var = xp.zeros_like(mean)
    else:
        var = (row_ss[:, None] * col_ss[None, :]) / (n - 1)
    return mean, var


@numba.njit(nogil=True, cache=True)
def _sparse_moments(Tt, indptr, indices, data, r, out, col_sum, col_sq, cross):  # pragma: no cover - numba
    """One pass over the nonzeros: ``out[s] = sum_g L[g, s] T[:, g]`` and the column moments of L."""
    m = indptr.shape[0] - 1
    p = Tt.shape[1]
    for s in range(m):
        a = 0.0
        b = 0.0
        c = 0.0
        for k in range(p):
            out[s, k] = 0.0
        for q in range(indptr[s], indptr[s + 1]):
            g = indices[q]
            v = data[q]
            a += v
            b += v * v
            c += v * r[g]
            for k in range(p):
                out[s, k] += v * Tt[g, k]
        col_sum[s] = a
        col_sq[s] = b
        cross[s] = c


def _finalize(xp, beta, mean, var, ndtr):
    se = xp.sqrt(xp.maximum(var, 0.0))
    ok = se > EPS
    zscore = xp.where(ok, (beta - mean) / xp.where(ok, se, 1.0), 0.0)
    pvalue = 2.0 * ndtr(-xp.abs(zscore))  # == 2 * scipy.stats.norm.sf(|z|), bit for bit
    return se, zscore, pvalue


class AnalyticModel:
    """SecAct's statistics with the exact (all-permutation) null moments; a RidgeModel stand-in.

    ``beta = T Y`` as in SecAct; ``se`` and ``zscore`` are the limits of
    SecAct's permutation ``se`` and ``zscore`` as ``n_rand -> infinity``;
    ``pvalue = 2 * norm.sf(|zscore|)`` is their normal approximation.  A block
    costs one GEMM plus column sums of ``Y``: about ``n_rand + 1`` times less
    than the permutation test.

    It has the interface :class:`~lazyact.activity.ActivityBlocks` and
    :class:`~lazyact.LazyActivity` use of a :class:`RidgeModel`: attributes
    ``projection``, ``n_rand`` (``None``: no permutations are drawn),
    ``seed`` (``None``), ``rng`` (``None``), ``explicit_table`` (``False``),
    ``backend``, ``shape``, ``null`` (``"analytic"``) and
    :meth:`compute`.

    Parameters
    ----------
    projection : Projection
        From :func:`lazyact.ridge.projection`.
    backend : {"numpy", "cupy", "auto"}, default "numpy"

    Notes
    -----
    When the expression columns are z-scored (``lazyact.activity`` always does
    it), ``mean(y) = 0`` and ``sum((y - mean(y))**2) = n - 1``, so the null mean
    is 0 and ``se[k] = sqrt(sum((T[k] - mean(T[k]))**2))`` is the same for every
    sample: ``zscore = beta / se[k]``.

    Examples
    --------
    >>> from lazyact.ridge import projection
    >>> rng = np.random.default_rng(1)
    >>> X, Y = rng.standard_normal((200, 4)), rng.standard_normal((200, 3))
    >>> model = AnalyticModel(projection(X, 1.0))
    >>> out = model.compute(np.arange(4), Y)
    >>> sorted(out), out["zscore"].shape
    (['beta', 'pvalue', 'se', 'zscore'], (4, 3))
    >>> perm = RidgeModel(projection(X, 1.0), n_rand=2000, rng="numpy").compute(np.arange(4), Y)
    >>> float(np.abs(perm["zscore"] - out["zscore"]).max()) < 0.15    # Monte Carlo error
    True
    """

    null = "analytic"

    def __init__(self, projection: Projection, backend: str = "numpy"):
        if not isinstance(projection, Projection):
            raise TypeError(f"projection must be a lazyact.ridge.Projection, got {type(projection).__name__}")
        self.projection = projection
        self.n_rand: int | None = None
        self.seed: int | None = None
        self.rng: str | None = None
        self.explicit_table = False
        self.backend = resolve_backend(backend)
        self._row_sum, self._row_ss = _row_moments(projection.T)
        self._device_cache = None
        self._Tt_all = None
        self._offset_cache = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_proteins, n_genes)`` of the projection."""
        return self.projection.T.shape

    @property
    def null_se(self) -> np.ndarray:
        """Per-protein ``se`` for z-scored expression columns: ``sqrt(sum((T[k] - mean T[k])**2))``."""
        return np.sqrt(self._row_ss)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_device_cache"] = None
        state["_Tt_all"] = None
        state["_offset_cache"] = None
        return state

    def _offset_products(self, r: np.ndarray) -> np.ndarray:
        """``T @ r`` for every protein, in the fixed order (cached per ``r``)."""
        cache = self._offset_cache
        if cache is not None and cache[0] is r:
            return cache[1]
        with fixed.single_threaded_blas() as workers:
            Tr = fixed.matmul(self.projection.T, r[:, None], workers=workers)[:, 0]
        self._offset_cache = (r, Tr)
        return Tr

    def _Tt(self, rows: np.ndarray) -> np.ndarray:
        """``T[rows].T`` as a C-contiguous genes x proteins array (all rows: cached)."""
        if rows.size == self.shape[0] and (rows == np.arange(rows.size)).all():
            if self._Tt_all is None:
                self._Tt_all = np.ascontiguousarray(self.projection.T.T)
            return self._Tt_all
        return np.ascontiguousarray(self.projection.T[rows].T)

    def __repr__(self) -> str:
        p, n = self.shape
        return f"AnalyticModel({p} proteins x {n} genes, backend={self.backend!r})"

    def compute(self, rows: np.ndarray, Y: Any) -> Mapping[str, np.ndarray]:
        """Statistics for protein ``rows`` over the expression columns ``Y``.

        Parameters
        ----------
        rows : int array
            Protein (projection row) indices.
        Y : (n_genes, m) array or scipy sparse matrix
            Expression columns, aligned to the projection's genes.

        Returns
        -------
        dict
            ``beta, se, zscore, pvalue``, each ``(len(rows), m)`` float64.
        """
        rows = np.asarray(rows, dtype=np.intp)
        n = self.projection.n_genes
        if not sp.issparse(Y):
            Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[0] != n:
            raise ValueError(f"expression block must be (n_genes={n}, m), got shape {Y.shape}")
        if self.backend == "cupy" and not sp.issparse(Y):  # pragma: no cover - needs a GPU
            return self._compute_cupy(rows, Y)
        T_rows = np.ascontiguousarray(self.projection.T[rows])
        beta, col_mean, col_ss = _beta_and_column_moments(np, T_rows, Y)
        mean, var = _mean_var(np, self._row_sum[rows], self._row_ss[rows], col_mean, col_ss, n)
        se, z, p = _finalize(np, beta, mean, var, special.ndtr)
        return {"beta": beta, "se": se, "zscore": z, "pvalue": p}

    def compute_sparse(self, rows: np.ndarray, Y_csc: Any, offsets: np.ndarray | None, mu: np.ndarray | None,
                       sigma: np.ndarray | None) -> Mapping[str, np.ndarray]:
        """Statistics for sparse raw columns normalised in flight (``RidgeModel.compute_sparse``'s contract).

        The expression used is ``y_s = (L_s - offsets - mu_s) / sigma_s`` but
        ``L`` stays sparse: ``beta = (T L - T offsets - mu c') / sigma`` with
        ``c = T 1``, and the null moments need only ``mean(y_s)`` and
        ``sum((y_s - mean(y_s))**2)``, obtained from the column sums and sums of
        squares of ``L`` and its products with ``offsets``.  Cost: one sparse
        product ``p * nnz``.

        Parameters
        ----------
        rows : int array
            Protein (projection row) indices.
        Y_csc : scipy.sparse matrix, (n_genes, m)
            Raw (un-centred) expression columns ``L``.
        offsets : (n_genes,) array or None
            Gene offsets subtracted from every column.
        mu, sigma : (m,) arrays or None
            Per-column shift and scale (None: 0 and 1).  Columns with
            ``sigma <= 0`` come back with the statistics of an all-zero column.

        Returns
        -------
        dict
            ``beta, se, zscore, pvalue``, each ``(len(rows), m)`` float64.
        """
        rows = np.asarray(rows, dtype=np.intp)
        n = self.projection.n_genes
        L = sp.csc_matrix(Y_csc)
        if not L.has_sorted_indices:  # each column summed over its genes in order
            L = L.sorted_indices()
        if L.shape[0] != n:
            raise ValueError(f"expression block must be (n_genes={n}, m), got shape {L.shape}")
        m = L.shape[1]
        mu = np.zeros(m) if mu is None else np.asarray(mu, dtype=np.float64)
        sigma = np.ones(m) if sigma is None else np.asarray(sigma, dtype=np.float64)
        ok = sigma > 0
        scale = np.where(ok, sigma, 1.0)
        r = np.zeros(n) if offsets is None else np.asarray(offsets, dtype=np.float64)
        out = np.empty((m, rows.size))
        col_sum, col_sq, cross = np.empty(m), np.empty(m), np.empty(m)
        _sparse_moments(self._Tt(rows), L.indptr.astype(np.int64, copy=False),
                        L.indices.astype(np.int64, copy=False), L.data.astype(np.float64, copy=False), r,
                        out, col_sum, col_sq, cross)
        TL = out.T
        if offsets is not None:
            TL = TL - self._offset_products(r)[rows][:, None]
            d_sum = col_sum - r.sum()
            d_sq = col_sq - 2.0 * cross + (r * r).sum()
        else:
            d_sum, d_sq = col_sum, col_sq
        c = self._row_sum[rows]
        beta = (TL - c[:, None] * mu[None, :]) / scale[None, :]
        d_mean = d_sum / max(n, 1)
        col_mean = (d_mean - mu) / scale
        col_ss = np.maximum(d_sq - d_sum * d_mean, 0.0) / (scale * scale)
        col_mean[~ok] = 0.0
        col_ss[~ok] = 0.0
        beta[:, ~ok] = 0.0
        mean, var = _mean_var(np, c, self._row_ss[rows], col_mean, col_ss, n)
        se, z, p = _finalize(np, beta, mean, var, special.ndtr)
        return {"beta": beta, "se": se, "zscore": z, "pvalue": p}

    def _compute_cupy(self, rows, Y):  # pragma: no cover - needs a GPU
        import cupy as cp
        from cupyx.scipy import special as cspecial

        if self._device_cache is None:
            self._device_cache = (cp.asarray(self.projection.T), cp.asarray(self._row_sum),
                                  cp.asarray(self._row_ss))
        T_d, rs_d, rss_d = self._device_cache
        r = cp.asarray(rows)
        Y_d = cp.asarray(Y)
        beta, col_mean, col_ss = _beta_and_column_moments(cp, T_d[r], Y_d)
        mean, var = _mean_var(cp, rs_d[r], rss_d[r], col_mean, col_ss, Y.shape[0])
        se, z, p = _finalize(cp, beta, mean, var, cspecial.ndtr)
        return {k: cp.asnumpy(v) for k, v in zip(STATISTICS, (beta, se, z, p))}


def make_model(projection: Projection, null: str = "permutation", *, n_rand: int | None = 1000, seed: int = 0,
               rng: str = "srand", table=None, backend: str = "numpy", dtype="float64") -> RidgeModel | AnalyticModel:
    """The model for a choice of null: a :class:`RidgeModel` or an :class:`AnalyticModel`.

    Parameters
    ----------
    projection : Projection
    null : {"permutation", "analytic"}, default "permutation"
        ``"permutation"``: SecAct's permutation test (``n_rand = 0``: its
        t-test).  ``"analytic"``: the exact all-permutation moments; ``n_rand``,
        ``seed`` and ``rng`` are ignored and ``table`` must be None.
    n_rand, seed, rng, table, backend, dtype
        As for :class:`RidgeModel` (``dtype="float32"`` only with the permutation null).

    Examples
    --------
    >>> from lazyact.ridge import projection
    >>> P = projection(np.random.default_rng(0).standard_normal((30, 2)), 1.0)
    >>> make_model(P, "analytic")
    AnalyticModel(2 proteins x 30 genes, backend='numpy')
    >>> make_model(P, n_rand=10).n_rand
    10
    """
    if null == "permutation":
        return RidgeModel(projection, n_rand=n_rand, seed=seed, rng=rng, table=table, backend=backend, dtype=dtype)
    if null == "analytic":
        if table is not None:
            raise ValueError("null='analytic' uses no permutation table: pass table=None")
        if compute_dtype(dtype) != np.float64:
            raise ValueError("dtype='float32' applies to the permutation kernel; the analytic null computes "
                             "in float64: drop dtype or use null='permutation'")
        return AnalyticModel(projection, backend=backend)
    raise ValueError(f"unknown null {null!r}: choose one of {', '.join(map(repr, NULLS))}")
