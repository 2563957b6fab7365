"""Streaming global statistics of an expression source (one pass over column blocks).

These are the primitives for in-flight normalisation of sparse data (row
centring, column z-scoring as exact corrections; the formulas live in
:mod:`lazyact.preprocess`).  A pass reads every column block once, applies an
optional per-column ``transform`` (e.g. :class:`LogNormalize`) and
accumulates:

* per sample, over ALL genes: the raw total (library size, before the
  transform), the transformed total, the raw nonzero count;
* per sample, over a gene subset ``rows`` (e.g. the genes shared with the
  signature; all genes by default): transformed sum, sum of squares, nonzero
  count, and optionally ``weights @ y`` (a dot product with a per-gene vector,
  e.g. the row means from a previous pass);
* per gene of the subset: transformed sum, sum of squares, nonzero count.

The result :class:`SourceStats` is a frozen dataclass of NumPy arrays: picklable
and about ``8 * (9 * n_samples + 3 * n_rows)`` bytes.  :class:`StatsAccumulator`
exposes the pass as ``update``/``merge`` so blocks can be processed in any
order or in parallel workers and combined.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from .base import ExpressionSource, select_rows

__all__ = ["SourceStats", "StatsAccumulator", "compute_stats", "LogNormalize", "Transform"]

#: ``transform(block, library_size) -> block``: ``block`` is a raw genes x k
#: column block with ALL genes (float64 ndarray or CSC, owned by the pass and
#: may be modified in place), ``library_size`` its k raw column totals.
Transform = Callable[[Any, np.ndarray], Any]


@dataclass(frozen=True)
class LogNormalize:
    """``log2(x * scale / library_size + pseudocount)`` per column, zero-preserving.

    Parameters
    ----------
    scale : float
        1e5 for SecActPy's single-cell / spatial paths, 1e6 for pseudo-bulk CPM.
    order : {"divide", "multiply"}
        Floating-point order of the scaling, to match SecActPy bit for bit:
        ``"divide"`` computes ``x / lib * scale`` (its dense paths,
        ``secactpy/inference.py:1784`` and ``2399``); ``"multiply"`` computes
        ``x * (scale / lib)`` (its sparse paths, ``inference.py:1711-1714``,
        ``2324-2326``, and the streaming h5ad path ``streaming.py:448-452``).
    pseudocount : float
        Added before ``log2`` (SecActPy: 1).

    Notes
    -----
    A sample with library size 0 is left all zero (the sparse and streaming
    SecActPy paths give the same; its dense path would give NaN there).

    Examples
    --------
    >>> import numpy as np
    >>> LogNormalize(scale=10.0)(np.array([[1.0], [3.0]]), np.array([4.0])).round(4)
    array([[1.8074],
           [3.0875]])
    """

    scale: float = 1e5
    order: str = "divide"
    pseudocount: float = 1.0

    def __post_init__(self) -> None:
        if self.order not in ("divide", "multiply"):
            raise ValueError(f"order must be 'divide' or 'multiply', got {self.order!r}")

    def __call__(self, block: Any, library_size: np.ndarray) -> Any:
        lib = np.asarray(library_size, dtype=np.float64)
        safe = np.where(lib == 0, 1.0, lib)
        if sp.issparse(block):
            per = np.repeat(safe, np.diff(block.indptr))
            d = block.data
            if self.order == "divide":
                d = d / per * self.scale
            else:
                d = d * np.repeat(self.scale / safe, np.diff(block.indptr))
            block.data = np.log2(d + self.pseudocount)
            return block
        if self.order == "divide":
            y = block / safe * self.scale
        else:
            y = block * (self.scale / safe)
        return np.log2(y + self.pseudocount)


@dataclass(frozen=True, eq=False)
class SourceStats:
    """Global statistics from one streaming pass (see module docstring).

    Attributes
    ----------
    n_genes, n_samples : int
        Shape of the source.
    rows : numpy.ndarray or None
        Gene positions the row-wise and subset statistics refer to (None: all).
    library_size, col_sum_all, col_nnz_all : numpy.ndarray (n_samples,)
        Raw totals, transformed totals and raw nonzero counts over all genes.
    col_sum, col_sumsq, col_nnz : numpy.ndarray (n_samples,)
        Transformed sum, sum of squares, nonzero count over ``rows``.
    col_dot : numpy.ndarray (n_samples,) or None
        ``weights @ y_j`` over ``rows`` when weights were given.
    row_sum, row_sumsq, row_nnz : numpy.ndarray (n_rows,)
        Transformed sum, sum of squares and nonzero count per gene of ``rows``.
    transform : str or None
        ``repr`` of the transform used.
    """

    n_genes: int
    n_samples: int
    rows: np.ndarray | None
    library_size: np.ndarray
    col_sum_all: np.ndarray
    col_nnz_all: np.ndarray
    col_sum: np.ndarray
    col_sumsq: np.ndarray
    col_nnz: np.ndarray
    row_sum: np.ndarray
    row_sumsq: np.ndarray
    row_nnz: np.ndarray
    col_dot: np.ndarray | None = None
    transform: str | None = None

    @property
    def n_rows(self) -> int:
        return int(self.row_sum.shape[0])

    @property
    def row_mean(self) -> np.ndarray:
        """Mean of each gene over all samples."""
        return self.row_sum / self.n_samples

    def row_var(self, ddof: int = 0) -> np.ndarray:
        """Variance of each gene over samples (from sums; fine for moderate ranges)."""
        n = self.n_samples
        return np.maximum(self.row_sumsq - self.row_sum ** 2 / n, 0.0) / (n - ddof)

    @property
    def col_mean(self) -> np.ndarray:
        """Mean of each sample over the ``rows`` genes."""
        return self.col_sum / self.n_rows

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in self.__dataclass_fields__
                   if isinstance(getattr(self, f), np.ndarray))


def _col_reduce_sparse(block: sp.csc_matrix, values: np.ndarray) -> np.ndarray:
    k = block.shape[1]
    cols = np.repeat(np.arange(k), np.diff(block.indptr))
    return np.bincount(cols, weights=values, minlength=k)


class StatsAccumulator:
    """Accumulates :class:`SourceStats` block by block.

    Parameters
    ----------
    n_genes, n_samples : int
    rows : array of int, optional
        Gene subset for the row-wise / subset statistics.
    transform : callable, optional
        See :data:`Transform`.
    weights : array (n_rows,), optional
        For ``col_dot``.

    Examples
    --------
    >>> import numpy as np
    >>> acc = StatsAccumulator(2, 3)
    >>> acc.update(slice(0, 3), np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 0.0]]))
    >>> acc.result().row_sum
    array([3., 7.])
    """

    def __init__(self, n_genes: int, n_samples: int, *, rows: Any = None,
                 transform: Transform | None = None, weights: Any = None) -> None:
        self.n_genes, self.n_samples = int(n_genes), int(n_samples)
        if rows is not None:
            rows = np.asarray(rows, dtype=np.intp)
            if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= n_genes)):
                raise IndexError(f"rows must be 1-D positions in [0, {n_genes})")
        self.rows = rows
        n_rows = self.n_genes if rows is None else rows.size
        self.transform = transform
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if self.weights is not None and self.weights.shape != (n_rows,):
            raise ValueError(f"weights must have shape ({n_rows},), got {self.weights.shape}")
        ns = self.n_samples
        self.library_size = np.zeros(ns)
        self.col_sum_all = np.zeros(ns)
        self.col_nnz_all = np.zeros(ns, dtype=np.int64)
        self.col_sum = np.zeros(ns)
        self.col_sumsq = np.zeros(ns)
        self.col_nnz = np.zeros(ns, dtype=np.int64)
        self.col_dot = None if self.weights is None else np.zeros(ns)
        self.row_sum = np.zeros(n_rows)
        self.row_sumsq = np.zeros(n_rows)
        self.row_nnz = np.zeros(n_rows, dtype=np.int64)
        self.seen = np.zeros(ns, dtype=bool)

    def update(self, cols: slice | np.ndarray, block: Any) -> None:
        """Add one raw block (ALL genes x the samples ``cols``)."""
        if block.shape[0] != self.n_genes:
            raise ValueError(f"block has {block.shape[0]} rows, expected all {self.n_genes} genes")
        if sp.issparse(block):
            block = sp.csc_matrix(block)
            lib = _col_reduce_sparse(block, block.data)
            nnz_all = _col_reduce_sparse(block, (block.data != 0).astype(np.float64)).astype(np.int64)
        else:
            lib = block.sum(axis=0)
            nnz_all = np.count_nonzero(block, axis=0)
        t = self.transform(block, lib) if self.transform is not None else block
        if sp.issparse(t):
            t = sp.csc_matrix(t)
            tot_all = _col_reduce_sparse(t, t.data)
            ts = t if self.rows is None else select_rows(t, self.rows)
            d = ts.data
            nzmask = (d != 0).astype(np.float64)
            sq = d * d
            c_sum = _col_reduce_sparse(ts, d)
            c_sq = _col_reduce_sparse(ts, sq)
            c_nnz = _col_reduce_sparse(ts, nzmask).astype(np.int64)
            n_rows = ts.shape[0]
            self.row_sum += np.bincount(ts.indices, weights=d, minlength=n_rows)
            self.row_sumsq += np.bincount(ts.indices, weights=sq, minlength=n_rows)
            self.row_nnz += np.bincount(ts.indices, weights=nzmask, minlength=n_rows).astype(np.int64)
            c_dot = None if self.weights is None else ts.T @ self.weights
        else:
            t = np.asarray(t, dtype=np.float64)
            tot_all = t.sum(axis=0)
            ts = t if self.rows is None else t[self.rows]
            c_sum = ts.sum(axis=0)
            c_sq = np.einsum("ij,ij->j", ts, ts)
            c_nnz = np.count_nonzero(ts, axis=0)
            self.row_sum += ts.sum(axis=1)
            self.row_sumsq += np.einsum("ij,ij->i", ts, ts)
            self.row_nnz += np.count_nonzero(ts, axis=1)
            c_dot = None if self.weights is None else self.weights @ ts
        self.library_size[cols] = lib
        self.col_nnz_all[cols] = nnz_all
        self.col_sum_all[cols] = tot_all
        self.col_sum[cols] = c_sum
        self.col_sumsq[cols] = c_sq
        self.col_nnz[cols] = c_nnz
        if c_dot is not None:
            self.col_dot[cols] = c_dot
        self.seen[cols] = True

    def merge(self, other: "StatsAccumulator") -> "StatsAccumulator":
        """Combine with an accumulator over a disjoint set of samples (in place)."""
        if (other.n_genes, other.n_samples) != (self.n_genes, self.n_samples):
            raise ValueError("cannot merge statistics of differently shaped sources")
        if np.any(self.seen & other.seen):
            raise ValueError("cannot merge: both accumulators saw some of the same samples")
        for name in ("library_size", "col_sum_all", "col_nnz_all", "col_sum", "col_sumsq",
                     "col_nnz", "row_sum", "row_sumsq", "row_nnz"):
            getattr(self, name).__iadd__(getattr(other, name))
        if self.col_dot is not None:
            self.col_dot += other.col_dot
        self.seen |= other.seen
        return self

    def result(self, *, require_complete: bool = True) -> SourceStats:
        """The statistics (raises if some samples were never seen, unless told not to)."""
        if require_complete and not self.seen.all():
            j = int(np.flatnonzero(~self.seen)[0])
            raise ValueError(f"statistics are incomplete: sample {j} was never added")
        return SourceStats(
            n_genes=self.n_genes, n_samples=self.n_samples,
            rows=None if self.rows is None else self.rows.copy(),
            library_size=self.library_size.copy(), col_sum_all=self.col_sum_all.copy(),
            col_nnz_all=self.col_nnz_all.copy(), col_sum=self.col_sum.copy(),
            col_sumsq=self.col_sumsq.copy(), col_nnz=self.col_nnz.copy(),
            row_sum=self.row_sum.copy(), row_sumsq=self.row_sumsq.copy(),
            row_nnz=self.row_nnz.copy(),
            col_dot=None if self.col_dot is None else self.col_dot.copy(),
            transform=None if self.transform is None else repr(self.transform),
        )


def compute_stats(source: ExpressionSource, *, rows: Any = None, transform: Transform | None = None,
                  weights: Any = None, block: int | None = None,
                  callback: Callable[[slice], None] | None = None) -> SourceStats:
    """One streaming pass over ``source`` computing :class:`SourceStats`.

    Parameters
    ----------
    source : ExpressionSource
    rows : array of int, optional
        Gene subset for the row-wise / subset statistics (e.g. shared genes).
    transform : callable, optional
        Per-column transform applied to each raw block, e.g.
        ``LogNormalize(1e5)``.
    weights : array (len(rows),), optional
        Adds ``col_dot = weights @ y_j`` (e.g. with row means from a first
        pass, for the column variance of row-centred data).
    block : int, optional
        Samples per block (default: about 32 MiB of float64 per block).
    callback : callable, optional
        Called with each block's slice (progress reporting).

    Returns
    -------
    SourceStats
        Also fills the source's cached :meth:`~ExpressionSource.column_totals`.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lazyact.sources import as_source
    >>> src = as_source(sp.csc_matrix(np.array([[1.0, 0.0], [3.0, 4.0]])))
    >>> st = compute_stats(src, transform=LogNormalize(scale=4.0))
    >>> st.library_size, st.row_nnz
    (array([4., 4.]), array([1, 2]))
    """
    acc = StatsAccumulator(source.n_genes, source.n_samples, rows=rows, transform=transform,
                           weights=weights)
    block = source.default_block() if block is None else int(block)
    for sl, blk in source.iter_columns(block):
        acc.update(sl, blk)
        if callback is not None:
            callback(sl)
    res = acc.result()
    with source._lock:
        if source._column_totals is None:
            tot = res.library_size.copy()
            tot.flags.writeable = False
            source._column_totals = tot
    return res
