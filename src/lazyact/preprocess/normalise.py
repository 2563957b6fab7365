"""SecActPy's normalisations, each written once: the per-sample log scaling and the column z-score.

The floating-point order of each SecActPy path is kept exactly, so that results are the
same bits (facts: ``tests/goldens/NOTES.md``):

* :func:`log_normalise` -- ``log2(x / total * scale + 1)`` per sample. SecActPy's dense
  paths compute ``x / total * scale`` (``order="divide"``,
  ``secactpy/inference.py:1784`` and ``2399``); its sparse paths and ``sparse_mode``
  compute ``x * (scale / total)`` (``order="multiply"``, ``inference.py:1711-1714``,
  ``2324-2326``, ``streaming.py:448-452``), for float32 counts with the factor
  ``scale / total`` rounded to float32 (``factor_dtype=np.float32``).
* :func:`zscore_columns` -- ``(a - mean) / std(ddof=1)`` per column, NaN -> 0 (with
  ``skipna=True`` the mean and std skip NaN entries first, as pandas does:
  ``inference.py:1209-1214``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["LOG_ORDERS", "log_normalise", "scale_factors", "zscore_columns"]

#: Floating-point orders of :func:`log_normalise`.
LOG_ORDERS = ("divide", "multiply")


def scale_factors(totals: np.ndarray, scale: float, dtype: Any = None) -> np.ndarray:
    """Per-sample factors ``scale / total`` of the log scaling, as float64.

    With ``dtype=np.float32`` they are computed in float32 (then widened), as SecActPy's
    ``sparse_mode`` does for float32 count matrices.

    Examples
    --------
    >>> scale_factors(np.array([4.0, 3.0]), 1e5).tolist()
    [25000.0, 33333.333333333336]
    >>> scale_factors(np.array([3.0]), 1e5, np.float32).tolist()
    [33333.33203125]
    """
    totals = np.asarray(totals)
    if dtype is not None:
        dt = np.dtype(dtype).type
        return (dt(scale) / totals.astype(dt)).astype(np.float64)
    return scale / totals


def log_normalise(x: Any, totals: np.ndarray, scale: float, *, order: str = "divide",
                  factor_dtype: Any = None, zero_empty: bool = True) -> Any:
    """SecActPy's per-sample log normalisation ``log2(x / total * scale + 1)``.

    Parameters
    ----------
    x : numpy.ndarray or scipy.sparse.csc_matrix
        Genes x samples counts (float64). A sparse matrix is normalised in place (its
        ``data`` is replaced; zeros stay zeros) and returned: pass one you own.
    totals : numpy.ndarray
        Each sample's library size (one per column of ``x``).
    scale : float
        1e5 for SecActPy's single-cell and spatial paths, 1e6 for pseudo-bulk CPM.
    order : {"divide", "multiply"}
        Floating-point order: ``x / total * scale`` (SecActPy's dense paths) or
        ``x * (scale / total)`` (its sparse paths and ``sparse_mode``).
    factor_dtype : dtype, optional
        ``order="multiply"`` only: compute the factors ``scale / total`` in this dtype
        (:func:`scale_factors`).
    zero_empty : bool
        Set non-finite results to 0, so that a sample with no counts (total 0) stays
        all zeros. ``False`` keeps NaN there (SecActPy's pseudo-bulk).

    Returns
    -------
    numpy.ndarray or scipy.sparse.csc_matrix

    Examples
    --------
    >>> counts = np.array([[1.0, 0.0], [3.0, 0.0]])
    >>> log_normalise(counts, counts.sum(axis=0), 10.0).round(4)
    array([[1.8074, 0.    ],
           [3.0875, 0.    ]])
    >>> m = log_normalise(sp.csc_matrix(counts), counts.sum(axis=0), 10.0, order="multiply")
    >>> m.toarray().round(4)
    array([[1.8074, 0.    ],
           [3.0875, 0.    ]])
    """
    if order not in LOG_ORDERS:
        raise ValueError(f"order must be 'divide' or 'multiply', got {order!r}")
    if factor_dtype is not None and order != "multiply":
        raise ValueError("factor_dtype applies to order='multiply' (factors scale / total)")
    totals = np.asarray(totals)
    with np.errstate(divide="ignore", invalid="ignore"):
        if sp.issparse(x):
            per_value = np.diff(x.indptr)
            if order == "divide":
                x.data = np.log2(x.data / np.repeat(totals, per_value) * scale + 1.0)
            else:
                x.data = np.log2(x.data * np.repeat(scale_factors(totals, scale, factor_dtype), per_value) + 1.0)
            out = x.data
        else:
            if order == "divide":
                x = np.log2(x / totals * scale + 1.0)
            else:
                x = np.log2(x * scale_factors(totals, scale, factor_dtype) + 1.0)
            out = x
    if zero_empty:
        out[~np.isfinite(out)] = 0.0
    return x


def zscore_columns(A: np.ndarray, skipna: bool = False) -> np.ndarray:
    """Column z-score as SecActPy's pipelines do it: ``(a - mean) / std(ddof=1)``, NaN -> 0.

    No epsilon is added: a constant column gives 0/0 and becomes all zeros.

    Parameters
    ----------
    A : numpy.ndarray
        2-D, one column per sample (or protein).
    skipna : bool
        Compute each column's mean and std over its non-NaN entries (pandas'
        ``mean()`` / ``std(ddof=1)``, as SecActPy scales a signature or a profile
        with missing genes); the NaN entries are then 0, the column's mean. Without
        it one NaN makes the whole column NaN, hence all zeros.

    >>> zscore_columns(np.array([[1.0, 5.0], [3.0, 5.0]]))
    array([[-0.70710678,  0.        ],
           [ 0.70710678,  0.        ]])
    >>> zscore_columns(np.array([[1.0], [np.nan], [3.0]]), skipna=True)
    array([[-0.70710678],
           [ 0.        ],
           [ 0.70710678]])
    """
    A = np.asarray(A, dtype=np.float64)
    if A.shape[0] == 0:
        return np.zeros_like(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        # sums over the rows in order (add.accumulate), not A.mean(axis=0): NumPy's reduction
        # switches to pairwise summation for a single column, so a sample's values would depend
        # on how many columns were normalised with it
        if skipna and np.isnan(A).any():  # pandas' mean / std(ddof=1) over the non-NaN entries
            present = ~np.isnan(A)
            n = present.sum(axis=0)
            mean = np.add.accumulate(np.where(present, A, 0.0), axis=0)[-1] / n
            centred = A - mean
            ss = np.add.accumulate(np.where(present, centred ** 2, 0.0), axis=0)[-1]
            std = np.sqrt(ss / (n - 1))
            std[n < 2] = np.nan
        else:
            mean = np.add.accumulate(A, axis=0)[-1] / A.shape[0]
            centred = A - mean
            ss = np.add.accumulate(centred ** 2, axis=0)[-1]
            std = np.sqrt(ss / (A.shape[0] - 1)) if A.shape[0] > 1 else np.full(A.shape[1], np.nan)
        out = centred / std
    out[~np.isfinite(out)] = 0.0
    return out
