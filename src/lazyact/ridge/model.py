"""SecAct's ridge regression with permutation test, for any block of (proteins, samples).

Every statistic of (protein k, sample s) depends only on row k of the
projection, column s of the expression matrix and the shared permutation
table, so any block is computed exactly by itself.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from . import kernels
from .kernels import fixed
from .kernels import numba as sparse_kernel
from .kernels import numpy as numpy_kernel
from .kernels import xp as xp_kernel
from .backends import resolve_backend
from .permutations import RNG_NAMES, forward_table, index_dtype, invert_table, permutation_table
from .projection import Projection
from .statistics import STATISTICS, finalize_permutation, ttest_statistics

__all__ = ["RidgeModel"]


def _check_table(table, n_rand: int | None, n_genes: int) -> np.ndarray:
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[1] != n_genes:
        raise ValueError(
            f"permutation table must be (n_rand, n_genes={n_genes}), got shape {table.shape}"
        )
    if n_rand is not None and table.shape[0] != n_rand:
        raise ValueError(f"permutation table has {table.shape[0]} rows but n_rand={n_rand}")
    if not np.issubdtype(table.dtype, np.integer):
        raise ValueError(f"permutation table must be integer, got dtype {table.dtype}")
    srt = np.sort(table, axis=1)
    if table.size and not (srt == np.arange(n_genes)).all():
        bad = int(np.nonzero(~(srt == np.arange(n_genes)).all(axis=1))[0][0])
        raise ValueError(f"permutation table row {bad} is not a permutation of 0..{n_genes - 1}")
    out = np.ascontiguousarray(table.astype(index_dtype(n_genes)))
    out.setflags(write=False)
    return out


def compute_dtype(dtype) -> np.dtype:
    """Validate a compute precision: float64 (exact, the default) or float32.

    >>> compute_dtype("float32")
    dtype('float32')
    """
    dt = np.dtype("float64" if dtype is None else dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dt}")
    return dt


class RidgeModel:
    """Projection, permutation table and backend: computes blocks of statistics.

    Parameters
    ----------
    projection : Projection
        From :func:`lazyact.ridge.projection`.
    n_rand : int or None, default 1000
        Number of permutations; 0 selects SecActPy's t-test.  ``None`` takes it
        from ``table``.
    seed : int, default 0
    rng : {"srand", "gsl", "numpy"}, default "srand"
    table : array_like, optional
        An explicit *inverse* permutation table ``(n_rand, n_genes)``; overrides
        ``seed``/``rng``.
    backend : {"auto", "numpy", "cupy"}, default "numpy"
    batch_bytes : int
        Memory for one batch of permutations (gathered operand + GEMM result).
    dtype : {"float64", "float32"}, default "float64"
        Precision of the permutation kernels.  ``float32`` runs the dense
        gathers and GEMMs, and the sparse kernel's products and sums over the
        nonzeros, in single precision (about twice as fast, half the memory);
        counts compare float32 values (dense) and the moments still sum in
        float64.  It is *not* exact: see ``docs/user-guide.md`` and
        ``benchmarks/RESULTS.md`` for its measured error.  The t-test always
        computes in float64.

    Examples
    --------
    >>> from lazyact.ridge import projection
    >>> rng = np.random.default_rng(1)
    >>> X, Y = rng.standard_normal((200, 4)), rng.standard_normal((200, 3))
    >>> model = RidgeModel(projection(X, 1.0), n_rand=50)
    >>> out = model.compute(np.arange(4), Y)
    >>> sorted(out), out["zscore"].shape
    (['beta', 'pvalue', 'se', 'zscore'], (4, 3))
    """

    def __init__(self, projection: Projection, n_rand: int = 1000, seed: int = 0, rng: str = "srand",
                 table=None, backend: str = "numpy", batch_bytes: int = kernels.DEFAULT_BATCH_BYTES,
                 dtype="float64"):
        if n_rand is not None and int(n_rand) < 0:
            raise ValueError(f"n_rand must be >= 0, got {n_rand}")
        if rng not in RNG_NAMES:
            raise ValueError(f"unknown rng {rng!r}: choose one of {', '.join(map(repr, RNG_NAMES))}")
        self.projection = projection
        self.seed = int(seed)
        self.rng = rng
        self.backend = resolve_backend(backend)
        self.batch_bytes = int(batch_bytes)
        self.dtype = compute_dtype(dtype)
        n = projection.n_genes
        if table is not None:
            self._inv = _check_table(table, None if n_rand is None else int(n_rand), n)
            self.n_rand = self._inv.shape[0]
            self._fwd = invert_table(self._inv)
            self._fwd.setflags(write=False)
            self.explicit_table = True
        else:
            if n_rand is None:
                raise ValueError("n_rand=None needs an explicit permutation table")
            self.n_rand = int(n_rand)
            self._inv = self._fwd = None
            self.explicit_table = False
        # derived arrays, built on first use and not pickled
        self._device_cache = self._offset_cache = None
        self._invT = self._Tsum = self._T32 = None

    # -- tables are built on first use (cached process-wide) --------------------
    @property
    def inverse_table(self) -> np.ndarray:
        if self._inv is None:
            self._inv = permutation_table(self.projection.n_genes, self.n_rand, self.seed, self.rng)
        return self._inv

    @property
    def forward_table(self) -> np.ndarray:
        if self._fwd is None:
            self._fwd = forward_table(self.projection.n_genes, self.n_rand, self.seed, self.rng)
        return self._fwd

    @property
    def inverse_table_transposed(self) -> np.ndarray:
        """The inverse table as genes x permutations (for the few-protein sparse kernel)."""
        if self._invT is None:
            self._invT = np.ascontiguousarray(self.inverse_table.T)
        return self._invT

    @property
    def projection_row_sums(self) -> np.ndarray:
        """``T @ 1`` per protein (the centring correction; cached)."""
        if self._Tsum is None:
            self._Tsum = self.projection.T.sum(axis=1)
        return self._Tsum

    @property
    def shape(self) -> tuple[int, int]:
        return self.projection.T.shape

    @property
    def summation_order(self) -> str:
        """``"yrow"`` or ``"tcol"``: the order every permuted product is summed in.

        Fixed by the number of projection rows (:func:`lazyact.ridge.kernels.summation_order`),
        so a value's bits never depend on the block it was computed in.
        """
        if self.dtype == np.float32:  # fixed per-sample GEMMs (kernels.numpy.permutation_statistics)
            return "yrow"
        return kernels.summation_order(self.shape[0])

    @property
    def projection_in_dtype(self) -> np.ndarray:
        """``T`` in the compute dtype (a cached copy for float32)."""
        if self.dtype == np.float64:
            return self.projection.T
        if self._T32 is None:
            self._T32 = np.ascontiguousarray(self.projection.T, dtype=self.dtype)
        return self._T32

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in ("_device_cache", "_offset_cache", "_invT", "_Tsum", "_T32"):
            state[name] = None
        if not self.explicit_table:  # rebuilt deterministically on the other side
            state["_inv"] = state["_fwd"] = None
        return state

    def compute(self, rows: np.ndarray, Y: np.ndarray) -> Mapping[str, np.ndarray]:
        """Statistics for protein ``rows`` over the expression columns ``Y``.

        Parameters
        ----------
        rows : int array
            Protein (projection row) indices.
        Y : (n_genes, m) array
            Expression columns, aligned to the projection's genes.

        Returns
        -------
        dict
            ``beta, se, zscore, pvalue``, each ``(len(rows), m)`` float64.
        """
        rows = np.asarray(rows, dtype=np.intp)
        Y = np.asarray(Y, dtype=np.float64)
        n = self.projection.n_genes
        if Y.ndim != 2 or Y.shape[0] != n:
            raise ValueError(f"expression block must be (n_genes={n}, m), got shape {Y.shape}")
        if self.n_rand == 0:
            beta, se, z, p, _ = ttest_statistics(self.projection.T, Y, self.projection.X,
                                                 self.projection.xtx_inv_diag, rows)
            return {"beta": beta, "se": se, "zscore": z, "pvalue": p}
        if self.backend == "cupy":
            return self._compute_cupy(np.ascontiguousarray(self.projection.T[rows], dtype=self.dtype), Y)
        beta, count, s1, s2 = numpy_kernel.permutation_statistics(
            self.projection_in_dtype, Y, self.forward_table, self.inverse_table, method=self.summation_order,
            budget_bytes=self.batch_bytes, rows=rows)
        beta = beta.astype(np.float64, copy=False)
        se, z, p = finalize_permutation(beta, count, s1, s2, self.n_rand)
        return {"beta": beta, "se": se, "zscore": z, "pvalue": p}

    def offset_projections(self, offsets: np.ndarray) -> np.ndarray:
        """``T @ r`` and ``T[:, inv_i] @ r`` for all permutations, all proteins (cached per ``r``)."""
        cache = self._offset_cache
        if cache is not None and cache[0] is offsets:
            return cache[1]
        with fixed.single_threaded_blas():  # the same bits whatever the BLAS threads
            Tr = sparse_kernel.offset_projections(self.projection.T, self.inverse_table, offsets)
        self._offset_cache = (offsets, Tr)
        return Tr

    def compute_sparse(self, rows: np.ndarray, Y_csc, offsets: np.ndarray | None, mu: np.ndarray,
                       sigma: np.ndarray) -> Mapping[str, np.ndarray]:
        """Statistics for sparse raw columns normalised in flight.

        The expression used is ``(Y - offsets 1' - 1 mu') / sigma`` but ``Y`` stays
        sparse: the kernel walks each column's nonzeros once per permutation and
        applies the centring and scaling as exact rank-1 corrections.
        """
        rows = np.asarray(rows, dtype=np.intp)
        n = self.projection.n_genes
        if Y_csc.ndim != 2 or Y_csc.shape[0] != n:  # the numba kernel reads without bounds checks
            raise ValueError(f"expression block must be (n_genes={n}, m), got shape {Y_csc.shape}")
        if self.n_rand == 0:
            raise ValueError("the sparse in-flight path needs n_rand > 0 (the t-test needs dense residuals)")
        p_all = self.shape[0]
        every = rows.size == p_all and bool((rows == np.arange(p_all)).all())
        if offsets is not None:
            Tr = self.offset_projections(offsets)
            Tr = Tr if every else np.ascontiguousarray(Tr[:, rows])
        else:
            Tr = np.zeros((self.n_rand + 1, rows.size))
        c = self.projection_row_sums[rows]
        # all proteins: the projection itself, whose register tiles the kernel packs once and keeps
        T_rows = self.projection.T if every else np.ascontiguousarray(self.projection.T[rows])
        beta, count, s1, s2 = sparse_kernel.sparse_permutation_statistics(
            T_rows, self.inverse_table, Y_csc, offsets, mu, sigma, Tr=Tr, invT=self.inverse_table_transposed, c=c,
            dtype=self.dtype)
        se, z, p = finalize_permutation(beta, count, s1, s2, self.n_rand)
        return {"beta": beta, "se": se, "zscore": z, "pvalue": p}

    def _compute_cupy(self, T_rows, Y):  # pragma: no cover - needs a GPU
        import cupy as cp  # the optional GPU backend (lazyact[gpu]): imported only when used

        if self._device_cache is None:
            self._device_cache = (cp.asarray(self.forward_table), cp.asarray(self.inverse_table))
        fwd, inv = self._device_cache
        T_d, Y_d = cp.asarray(T_rows), cp.asarray(Y, dtype=self.dtype)
        beta = T_d @ Y_d
        count, s1, s2 = xp_kernel.permutation_moments(cp, T_d, Y_d, beta, fwd, inv, self.batch_bytes)
        beta = beta.astype(cp.float64, copy=False)
        se, z, p = finalize_permutation(beta, count, s1, s2, self.n_rand, xp=cp)
        return {k: cp.asnumpy(v) for k, v in zip(STATISTICS, (beta, se, z, p))}
