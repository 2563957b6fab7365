"""The expression a :class:`~lazyact.LazyActivity` reads: normalised columns on the model's genes.

:class:`Expression` is the protocol (``shape`` and ``block(cols)``; sparse expressions
add ``is_sparse``, ``sparse_block(cols)`` and ``row_offsets`` for the in-flight kernel).
Two implementations:

* :class:`DenseExpression` -- a genes x samples NumPy array used as it is;
* :class:`PreparedExpression` -- an expression source restricted to the shared genes,
  normalised one block of columns at a time in SecActPy's order from the small global
  statistics of one streaming pass (:mod:`lazyact.preprocess.passes`); sparse blocks
  stay sparse and are normalised in flight.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from .normalise import log_normalise, zscore_columns

__all__ = ["Expression", "DenseExpression", "PreparedExpression", "as_expression"]


@runtime_checkable
class Expression(Protocol):
    """Genes x samples expression that gives normalised columns on request.

    Attributes
    ----------
    shape : (int, int)
        ``(n_genes, n_samples)``, genes aligned to the model's.

    Notes
    -----
    ``block(cols)`` returns a dense float64 ``(n_genes, len(cols))`` block of the
    normalised columns ``cols`` (sorted unique ``intp``); it must be thread-safe. An
    expression may also give ``samples`` (names), ``valid`` (one bool per sample, or None:
    samples marked False have no valid answer and get NaN statistics without being
    computed), and for sparse data ``is_sparse``, ``sparse_block(cols) -> (L, mu, sigma)``
    and ``row_offsets`` (see :meth:`PreparedExpression.sparse_block`).
    """

    shape: tuple[int, int]

    def block(self, cols: np.ndarray) -> np.ndarray:
        ...


class DenseExpression:
    """A dense genes x samples matrix used as it is (already normalised).

    Examples
    --------
    >>> DenseExpression(np.arange(6.0).reshape(3, 2)).block(np.array([1]))
    array([[1.],
           [3.],
           [5.]])
    """

    def __init__(self, Y: np.ndarray):
        Y = np.asarray(Y)
        if Y.ndim != 2:
            raise ValueError(f"expression must be 2-D (genes x samples), got shape {Y.shape}")
        if not np.issubdtype(Y.dtype, np.number) or np.issubdtype(Y.dtype, np.complexfloating):
            raise ValueError(f"expression must be real numbers, got dtype {Y.dtype}")
        bad = ~np.isfinite(Y).all(axis=0) if Y.size else np.zeros(Y.shape[1], bool)
        if bad.any():
            raise ValueError(
                f"expression has NaN/inf values in {int(bad.sum())} sample column(s), first at column "
                f"{int(np.argmax(bad))}; remove or impute them before computing activity"
            )
        self.Y = Y
        self.shape = Y.shape

    def block(self, cols: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.Y[:, cols], dtype=np.float64)


def as_expression(Y: Any) -> Any:
    """``Y`` itself when it is an :class:`Expression`, else a :class:`DenseExpression` of it."""
    return Y if hasattr(Y, "block") and hasattr(Y, "shape") else DenseExpression(Y)


class PreparedExpression:
    """Normalised expression columns on the shared genes, one block at a time.

    ``block(cols)`` reads the raw columns from the source, restricted to the
    shared genes, and applies, in SecActPy's order:

    1. ``log_scale`` (single-cell modes): ``log2(x / total * scale + 1)`` with
       each sample's library size ``total`` over all genes
       (:func:`~lazyact.preprocess.normalise.log_normalise`);
    2. subtraction of ``row_offsets`` (the row means of "center" and the
       single-cell modes, from one streaming pass over all samples);
    3. the column z-score (ddof 1, NaN -> 0).

    The global statistics are small (one value per gene and per sample) and
    pickle with the object; the source pickles by reference.

    Samples with no valid answer (``valid`` False: an empty cell, whose log profile
    is ``0 / 0``) are never normalised or computed: their statistics are NaN (see
    :class:`~lazyact.activity.ActivityBlocks`).

    Parameters
    ----------
    source : ExpressionSource
    gene_rows : numpy.ndarray
        The source's rows of the shared genes, in the model's gene order.
    row_offsets : numpy.ndarray, optional
        Per shared gene, subtracted after the log scaling.
    log_scale : float, optional
        Scale of the log normalisation (None: no log scaling).
    totals : numpy.ndarray, optional
        Per-sample library sizes of the log normalisation.
    zscore : bool
        Column z-score at the end (default True).
    scale_dtype : dtype, optional
        ``np.float32``: SecActPy's ``sparse_mode`` arithmetic for float32 counts
        (factors ``scale / total`` in float32, multiplied); None: its dense arithmetic.
    valid : numpy.ndarray of bool, optional
        One flag per sample; False marks samples without a valid answer (NaN
        statistics), e.g. ``lazyact.preprocess.valid_samples(totals)``. None: all valid.
    """

    def __init__(self, source, gene_rows: np.ndarray, *, row_offsets: np.ndarray | None = None,
                 log_scale: float | None = None, totals: np.ndarray | None = None, zscore: bool = True,
                 scale_dtype=None, valid: np.ndarray | None = None):
        self.source = source
        self.gene_rows = np.asarray(gene_rows, dtype=np.intp)
        self.row_offsets = None if row_offsets is None else np.asarray(row_offsets, dtype=np.float64)
        self.log_scale = log_scale
        self.totals = None if totals is None else np.asarray(totals, dtype=np.float64)
        self.zscore = zscore
        self.scale_dtype = None if scale_dtype is None else np.dtype(scale_dtype)
        self.shape = (int(self.gene_rows.size), int(source.shape[1]))
        self.samples = source.samples
        self.valid = None
        if valid is not None:
            valid = np.asarray(valid, dtype=bool)
            if valid.shape != (self.shape[1],):
                raise ValueError(f"valid must be one flag per sample ({self.shape[1]}), got shape {valid.shape}")
            self.valid = None if valid.all() else valid

    def raw(self, cols: np.ndarray):
        """Raw (un-normalised) shared-gene columns, dense or sparse as the source gives them."""
        return self.source.columns(np.asarray(cols, dtype=np.intp), rows=self.gene_rows)

    def transform(self, block: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Normalise a dense raw block of columns ``cols``."""
        Y = np.asarray(block, dtype=np.float64)
        if self.log_scale is not None:
            # SecActPy's dense order x / total * scale; sparse_mode's x * (scale / total)
            order = "divide" if self.scale_dtype is None else "multiply"
            Y = log_normalise(Y, self.totals[cols], self.log_scale, order=order, factor_dtype=self.scale_dtype)
        if self.row_offsets is not None:
            Y = Y - self.row_offsets[:, None]
        if self.zscore:
            Y = zscore_columns(Y)
        return np.ascontiguousarray(Y)

    @property
    def is_sparse(self) -> bool:
        return bool(getattr(self.source, "is_sparse", False))

    def sparse_block(self, cols: np.ndarray):
        """Sparse raw block for the in-flight path: ``(L, mu, sigma)``.

        ``L`` holds the shared-gene columns after the elementwise log scaling
        (zeros stay zeros, so it stays sparse); ``mu`` and ``sigma`` are each
        column's mean and standard deviation (ddof 1) after subtracting the
        row offsets, computed from the nonzeros and the offsets' moments, so
        that ``(L - offsets - mu) / sigma`` is the z-scored column.
        """
        cols = np.asarray(cols, dtype=np.intp)
        L = self.raw(cols).tocsc(copy=True)
        if self.log_scale is not None:  # the sparse paths' order: x * (scale / total)
            L = log_normalise(L, self.totals[cols], self.log_scale, order="multiply", factor_dtype=self.scale_dtype)
        n = self.shape[0]
        col_sum = np.asarray(L.sum(axis=0)).ravel()
        col_sq = np.asarray(L.multiply(L).sum(axis=0)).ravel()
        if self.row_offsets is not None:
            r = self.row_offsets
            cross = np.asarray(L.T @ r).ravel()
            total = col_sum - r.sum()
            sq = col_sq - 2.0 * cross + (r * r).sum()
        else:
            total, sq = col_sum, col_sq
        mu = total / n
        with np.errstate(invalid="ignore"):
            sigma = np.sqrt(np.maximum(sq - n * mu * mu, 0.0) / (n - 1))
        return L, mu, sigma

    def block(self, cols: np.ndarray) -> np.ndarray:
        cols = np.asarray(cols, dtype=np.intp)
        raw = self.raw(cols)
        if hasattr(raw, "toarray"):
            raw = raw.toarray()
        return self.transform(raw, cols)
