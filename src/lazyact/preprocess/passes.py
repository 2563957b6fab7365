"""Streaming passes over an expression source that give SecActPy's global statistics.

Each pass reads the source once, one block of samples at a time (about
:data:`PASS_BYTES` of source data per block), and keeps one number per gene and per
sample: nothing proportional to the matrix is held.

* :func:`row_sums` -- each gene's sum over all samples (de-duplication scores, the
  row means of ``preprocess="center"``);
* :func:`log_row_means` -- each sample's library size and each gene's mean of
  ``log2(x / total * scale + 1)`` over all samples (the single-cell centring);
* :func:`pseudobulk` -- counts summed per group, then CPM, ``log2(x + 1)`` and
  centring (SecActPy's ``preprocess="pseudobulk"``), with :func:`looks_normalised`
  deciding whether the input is counts;
* :func:`detected_genes` -- each sample's number of detected features (``min_genes=``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..sources.base import select_rows
from .normalise import log_normalise

__all__ = ["PASS_BYTES", "pass_block", "row_sums", "log_row_means", "looks_normalised", "pseudobulk", "detected_genes"]

#: Source bytes read per block by the global-statistics passes (library sizes,
#: row means, pseudo-bulk sums); transient memory is a small multiple of it.
PASS_BYTES = 8 * 2**20


def pass_block(source: Any) -> int:
    """Samples per block of a streaming statistics pass over ``source``."""
    return source.default_block(PASS_BYTES)


def row_sums(source: Any, rows: np.ndarray | None = None) -> np.ndarray:
    """Sum over all samples of each gene in ``rows`` (all genes by default), one streaming pass.

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> row_sums(as_source(np.array([[1.0, 2.0], [3.0, 4.0]]))).tolist()
    [3.0, 7.0]
    """
    rows = np.arange(source.n_genes) if rows is None else rows
    total = np.zeros(rows.size)
    for _, blk in source.iter_columns(pass_block(source), rows=rows):
        total += np.asarray(blk.sum(axis=1)).ravel()
    return total


def log_row_means(source: Any, kept: np.ndarray, shared: np.ndarray, scale: float,
                  factor_dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """One pass: library sizes and the mean log-normalised value of each shared gene.

    Parameters
    ----------
    source : ExpressionSource
    kept : numpy.ndarray
        Gene rows a library size counts (after de-duplication).
    shared : numpy.ndarray
        Positions within ``kept`` of the genes whose means are wanted (shared with
        the signature).
    scale : float
        Scale of :func:`~lazyact.preprocess.normalise.log_normalise` (1e5).
    factor_dtype : dtype, optional
        ``np.float32``: SecActPy's ``sparse_mode`` arithmetic for float32 counts
        (``x * (scale / total)`` with float32 factors); None: its dense arithmetic
        (``x / total * scale``) for dense blocks. Sparse blocks always multiply.

    Returns
    -------
    totals : numpy.ndarray
        Each sample's count over ``kept``.
    means : numpy.ndarray
        Each shared gene's mean over all samples of ``log2(x / total * scale + 1)``.
    """
    dense_order = "divide" if factor_dtype is None else "multiply"
    totals = np.empty(source.n_samples)
    sums = np.zeros(shared.size)
    for sl, blk in source.iter_columns(pass_block(source), rows=kept):
        tot = np.asarray(blk.sum(axis=0)).ravel()
        totals[sl] = tot
        if sp.issparse(blk):
            sub = log_normalise(select_rows(blk.tocsc(), shared), tot, scale, order="multiply",
                                factor_dtype=factor_dtype)
            sums += np.asarray(sub.sum(axis=1)).ravel()
        else:
            sub = log_normalise(np.asarray(blk[shared], dtype=np.float64), tot, scale, order=dense_order,
                                factor_dtype=factor_dtype)
            sums += np.ascontiguousarray(sub).sum(axis=1)
    return totals, sums / source.n_samples


def looks_normalised(source: Any, kept: np.ndarray) -> bool:
    """SecActPy's check on the first 1000 genes x 100 cells: max < 20 and non-integer values."""
    cols = np.arange(min(100, source.n_samples))
    blk = source.columns(cols, rows=kept[:1000])
    vals = blk.toarray() if hasattr(blk, "toarray") else np.asarray(blk)
    nz = vals[vals != 0]
    is_integer = nz.size > 0 and np.allclose(nz, np.round(nz))
    return bool(vals.max(initial=0.0) < 20 and not is_integer)


def pseudobulk(source: Any, kept: np.ndarray, names: pd.Index, labels: np.ndarray) -> pd.DataFrame:
    """SecActPy's pseudo-bulk profiles: genes x groups, from one pass over the cells.

    Counts are summed per group (groups sorted case-insensitively), scaled to counts per
    million, ``log2(x + 1)``, and each gene's mean over the groups is subtracted.
    Already-normalised input (:func:`looks_normalised`) is averaged per group instead,
    without scaling or log.

    Parameters
    ----------
    source : ExpressionSource
    kept : numpy.ndarray
        Gene rows to use (after de-duplication).
    names : pandas.Index
        Their names (the result's index).
    labels : numpy.ndarray
        One group label per sample.
    """
    groups = sorted({str(x) for x in labels}, key=str.lower)
    code = pd.Index(groups).get_indexer([str(x) for x in labels])
    normalised = looks_normalised(source, kept)
    sums = np.zeros((kept.size, len(groups)))
    counts = np.bincount(code, minlength=len(groups)).astype(np.float64)
    for sl, blk in source.iter_columns(pass_block(source), rows=kept):
        onehot = np.zeros((sl.stop - sl.start, len(groups)))
        onehot[np.arange(onehot.shape[0]), code[sl]] = 1.0
        sums += np.asarray(blk @ onehot)
    if normalised:
        expr = sums / counts
    else:  # an empty group stays NaN (the bulk pipeline then refuses it)
        expr = log_normalise(sums, sums.sum(axis=0), 1e6, zero_empty=False)
    expr = expr - expr.mean(axis=1, keepdims=True)
    return pd.DataFrame(expr, index=names, columns=pd.Index(groups, dtype=object))


def detected_genes(source: Any) -> np.ndarray:
    """Each sample's number of features with a value above 0, over ALL rows, one streaming pass.

    SecActPy's ``min_genes`` count (``secactpy/inference.py:2215-2232``): before any gene
    filter, clean-up or de-duplication (a duplicated feature counts twice).

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> detected_genes(as_source(np.array([[0.0, 2.0], [1.0, 3.0], [0.0, 0.0]]))).tolist()
    [1, 2]
    """
    out = np.zeros(source.n_samples, dtype=np.int64)
    for sl, blk in source.iter_columns(pass_block(source)):
        if sp.issparse(blk):
            csc = blk.tocsc()
            col = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
            out[sl] = np.bincount(col[csc.data > 0], minlength=csc.shape[1])
        else:
            out[sl] = (np.asarray(blk) > 0).sum(axis=0)
    return out
