"""Streaming passes over an expression source that give SecActPy's global statistics.

Each pass reads the source once, one block of samples at a time (about
:data:`PASS_BYTES` of source data per block), and keeps one number per gene and per
sample: nothing proportional to the matrix is held.

* :func:`row_sums` -- each gene's sum over all samples (de-duplication scores, the
  row means of ``preprocess="center"``);
* :func:`log_row_means` -- each sample's library size and each gene's mean of
  ``log2(x / total * scale + 1)`` over the samples with counts (the single-cell centring);
* :func:`valid_samples` -- which samples have an answer at all (library size > 0): the
  per-sample ``valid`` mask that :class:`~lazyact.preprocess.expression.PreparedExpression`
  turns into NaN statistics for the others;
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
from .values import sample_values

__all__ = ["PASS_BYTES", "pass_block", "row_sums", "log_row_means", "looks_normalised", "pseudobulk", "valid_samples",
           "detected_genes"]

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


def valid_samples(totals: np.ndarray) -> np.ndarray:
    """Which samples have an answer: library size (count over the kept genes) above 0.

    A cell or spot with no counts has no log-normalised profile (``0 / 0``): SecActPy's
    dense paths then turn every sample's results into zeros, its sparse paths give the
    empty cell a confident profile (``-row means``). lazyact gives it NaN statistics and
    leaves it out of every mean over samples instead.

    >>> valid_samples(np.array([3.0, 0.0, 1.0])).tolist()
    [True, False, True]
    """
    totals = np.asarray(totals, dtype=np.float64)
    return totals > 0


def log_row_means(source: Any, kept: np.ndarray, shared: np.ndarray, scale: float,
                  factor_dtype: Any = None, *, samples: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One pass: library sizes and the mean log-normalised value of each shared gene.

    The means are over the samples with counts (:func:`valid_samples`; an empty sample has
    no log profile), restricted further to ``samples`` when given: the gene means of
    SecActPy run on those samples alone.

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
    samples : numpy.ndarray of bool, optional
        Samples that count in the means (default: all); e.g. the spots kept by a
        ``min_genes`` filter. Samples with library size 0 never count.

    Returns
    -------
    totals : numpy.ndarray
        Each sample's count over ``kept`` (``valid_samples(totals)`` is the valid mask).
    means : numpy.ndarray
        Each shared gene's mean of ``log2(x / total * scale + 1)`` over the counted
        samples (NaN when there is none).

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> src = as_source(np.array([[1.0, 0.0, 3.0], [1.0, 0.0, 1.0]]))
    >>> totals, means = log_row_means(src, np.arange(2), np.arange(2), 2.0)
    >>> totals.tolist(), means.tolist()   # the empty middle sample is not averaged in
    ([2.0, 0.0, 4.0], [1.1609640474436813, 0.792481250360578])
    """
    dense_order = "divide" if factor_dtype is None else "multiply"
    include = None if samples is None else np.asarray(samples, dtype=bool)
    if include is not None and include.shape != (source.n_samples,):
        raise ValueError(f"samples must be one flag per sample ({source.n_samples}), got shape {include.shape}")
    totals = np.empty(source.n_samples)
    sums = np.zeros(shared.size)
    for sl, blk in source.iter_columns(pass_block(source), rows=kept):
        tot = np.asarray(blk.sum(axis=0)).ravel()
        totals[sl] = tot
        if include is not None and not include[sl].all():
            keep = np.flatnonzero(include[sl])
            blk, tot = blk[:, keep], tot[keep]
        if sp.issparse(blk):  # log_normalise keeps empty samples at 0: they add nothing to the sums
            sub = log_normalise(select_rows(blk.tocsc(), shared), tot, scale, order="multiply",
                                factor_dtype=factor_dtype)
            sums += np.asarray(sub.sum(axis=1)).ravel()
        else:
            sub = log_normalise(np.asarray(blk[shared], dtype=np.float64), tot, scale, order=dense_order,
                                factor_dtype=factor_dtype)
            sums += np.ascontiguousarray(sub).sum(axis=1)
    counted = valid_samples(totals)
    if include is not None:
        counted &= include
    n = int(counted.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals, sums / n if n else np.full(shared.size, np.nan)


def looks_normalised(source: Any, kept: np.ndarray) -> bool:
    """SecActPy's check on the first 1000 genes x 100 cells: max < 20 and non-integer values.

    (:func:`~lazyact.preprocess.values.sample_values`; an unreadable sample counts as counts.)
    """
    sample = sample_values(source, kept, pass_block(source))
    return sample is not None and sample.normalised


def pseudobulk(source: Any, kept: np.ndarray, names: pd.Index, labels: np.ndarray) -> pd.DataFrame:
    """SecActPy's pseudo-bulk profiles: genes x groups, from one pass over the cells.

    Counts are summed per group (groups sorted case-insensitively), scaled to counts per
    million, ``log2(x + 1)``, and each gene's mean over the groups is subtracted.
    Already-normalised input (:func:`looks_normalised`) is averaged per group instead,
    without scaling or log.

    Cells with no counts over ``kept`` (:func:`valid_samples`) add nothing to a group's
    sum and are left out of a group's average, so every group equals SecActPy run without
    them. A group none of whose cells has counts has no profile: its column is NaN and it
    is left out of the gene means over groups.

    Parameters
    ----------
    source : ExpressionSource
    kept : numpy.ndarray
        Gene rows to use (after de-duplication).
    names : pandas.Index
        Their names (the result's index).
    labels : numpy.ndarray
        One group label per sample.

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> counts = np.array([[4.0, 0.0, 1.0, 0.0], [4.0, 0.0, 3.0, 0.0]])
    >>> frame = pseudobulk(as_source(counts), np.arange(2), pd.Index(["g1", "g2"]), np.array(list("aabc")))
    >>> frame.round(3)      # group "c" has no counts
            a      b   c
    g1  0.500 -0.500 NaN
    g2 -0.292  0.292 NaN
    """
    groups = sorted({str(x) for x in labels}, key=str.lower)
    code = pd.Index(groups).get_indexer([str(x) for x in labels])
    normalised = looks_normalised(source, kept)
    sums = np.zeros((kept.size, len(groups)))
    counts = np.zeros(len(groups))
    for sl, blk in source.iter_columns(pass_block(source), rows=kept):
        valid = valid_samples(np.asarray(blk.sum(axis=0)).ravel())
        onehot = np.zeros((sl.stop - sl.start, len(groups)))
        onehot[np.flatnonzero(valid), code[sl][valid]] = 1.0
        sums += np.asarray(blk @ onehot)
        counts += onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalised:
            expr = sums / counts
        else:
            expr = log_normalise(sums, sums.sum(axis=0), 1e6, zero_empty=False)
    expr[:, counts == 0] = np.nan
    present = counts > 0
    if present.any():
        expr = expr - expr[:, present].mean(axis=1, keepdims=True)
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
