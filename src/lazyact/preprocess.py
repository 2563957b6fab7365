"""Preprocessing as SecActPy does it: gene overlap, signature grouping, scaling.

All functions here are small and exact; the order of operations of each
SecActPy pipeline lives in :mod:`lazyact.pipeline`.  Facts are cited in
``tests/goldens/NOTES.md`` (file:line of the SecActPy 0.3.1 wheel).

Expression normalisation never materialises the whole matrix: a
:class:`PreparedExpression` holds the source, the shared-gene rows and the
small global statistics (row offsets, per-sample library sizes) from one
streaming pass, and normalises one block of columns at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial import distance

__all__ = [
    "GeneOverlap",
    "pass_block",
    "PreparedExpression",
    "overlap_genes",
    "group_signature",
    "expand_groups",
    "row_sums",
    "zscore_columns",
]

GENE_ORDERS = ("expression", "signature", "sorted")

#: Source bytes read per block by the global-statistics passes (library sizes,
#: row means, pseudo-bulk sums); transient memory is a small multiple of it.
PASS_BYTES = 8 * 2**20


def pass_block(source) -> int:
    """Samples per block of a streaming statistics pass over ``source``."""
    return source.default_block(PASS_BYTES)


def row_sums(source, rows: np.ndarray | None = None) -> np.ndarray:
    """Sum over all samples of each gene in ``rows`` (all genes by default), one streaming pass."""
    rows = np.arange(source.n_genes) if rows is None else rows
    total = np.zeros(rows.size)
    for _, blk in source.iter_columns(pass_block(source), rows=rows):
        total += np.asarray(blk.sum(axis=1)).ravel()
    return total


@dataclass(frozen=True)
class GeneOverlap:
    """Shared genes: their names and their positions in each gene list."""

    genes: pd.Index
    expression_rows: np.ndarray
    signature_rows: np.ndarray


def _preview(names: Sequence, k: int = 5) -> str:
    items = [str(x) for x in list(names[:k])]
    return ", ".join(items) + (", ..." if len(names) > k else "")


def overlap_genes(expression_genes: Sequence, signature_genes: Sequence, order: str = "expression") -> GeneOverlap:
    """Genes shared by the expression and the signature, in a given order.

    Parameters
    ----------
    expression_genes, signature_genes : sequence of str
        Gene names (duplicates: the first occurrence counts, later ones are
        ignored, as SecActPy does for expression files).
    order : {"expression", "signature", "sorted"}
        ``"expression"`` is R SecAct's and SecActPy's dense order
        (``Y.index.intersection(X.index)``); the others reproduce SecActPy's
        sparse / streaming paths.

    Raises
    ------
    ValueError
        Fewer than 2 shared genes; the message shows both sides' first names.

    Examples
    --------
    >>> ov = overlap_genes(["C", "A", "X", "B"], ["A", "B", "C", "D"])
    >>> list(ov.genes), ov.expression_rows.tolist(), ov.signature_rows.tolist()
    (['C', 'A', 'B'], [0, 1, 3], [2, 0, 1])
    """
    if order not in GENE_ORDERS:
        raise ValueError(f"gene_order must be one of {', '.join(map(repr, GENE_ORDERS))}, got {order!r}")
    e = pd.Index(expression_genes).astype(str)
    s = pd.Index(signature_genes).astype(str)
    e_first = ~e.duplicated(keep="first")
    s_first = ~s.duplicated(keep="first")
    e_pos = pd.Series(np.flatnonzero(e_first), index=e[e_first])
    s_pos = pd.Series(np.flatnonzero(s_first), index=s[s_first])
    if order == "signature":
        common = s_pos.index[s_pos.index.isin(e_pos.index)]
    else:
        common = e_pos.index[e_pos.index.isin(s_pos.index)]
        if order == "sorted":
            common = common.sort_values()
    if len(common) < 2:
        hint = ""
        if any(str(g).upper().startswith("ENS") for g in e[:20]):
            hint = (" The expression genes look like Ensembl IDs (ENSG...): the signatures use gene symbols;"
                    " pass gene_column= naming the var column with symbols, or map IDs to symbols first.")
        raise ValueError(
            f"{'no' if len(common) == 0 else 'only ' + str(len(common))} shared gene"
            f"{'' if len(common) == 1 else 's'} between expression and signature (need at least 2). "
            f"Expression genes: {_preview(e)}; signature genes: {_preview(s)}.{hint} "
            "Check that rows are genes (genes x samples) and that both use the same gene naming."
        )
    return GeneOverlap(pd.Index(common), e_pos[common].to_numpy(np.intp), s_pos[common].to_numpy(np.intp))


def zscore_columns(A: np.ndarray) -> np.ndarray:
    """Column z-score as SecActPy's pipelines do it: ``(a - mean) / std(ddof=1)``, NaN -> 0.

    No epsilon is added: a constant column gives 0/0 and becomes all zeros.

    >>> zscore_columns(np.array([[1.0, 5.0], [3.0, 5.0]]))
    array([[-0.70710678,  0.        ],
           [ 0.70710678,  0.        ]])
    """
    A = np.asarray(A, dtype=np.float64)
    if A.shape[0] == 0:
        return np.zeros_like(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        # sums over the rows in order (add.accumulate), not A.mean(axis=0): NumPy's reduction
        # switches to pairwise summation for a single column, so a sample's values would depend
        # on how many columns were normalised with it
        mean = np.add.accumulate(A, axis=0)[-1] / A.shape[0]
        centred = A - mean
        ss = np.add.accumulate(centred ** 2, axis=0)[-1]
        std = np.sqrt(ss / (A.shape[0] - 1)) if A.shape[0] > 1 else np.full(A.shape[1], np.nan)
        out = centred / std
    out[~np.isfinite(out)] = 0.0
    return out



def group_signature(signature: pd.DataFrame, threshold: float = 0.9) -> tuple[pd.DataFrame, list[list[str]]]:
    """Merge near-identical signature columns, as SecActPy's ``group_signatures``.

    Complete-linkage clustering on ``1 - Pearson correlation`` of the columns
    (NaN distances count as 1), cut at height ``1 - threshold``.  Groups come
    in increasing cluster-label order; each group's members are sorted with
    Python ``sorted()``, the column is named ``"A|B|..."`` and holds the plain
    mean of its members.

    Returns
    -------
    grouped : DataFrame
        genes x groups.
    members : list of list of str
        The sorted member names of each group column.

    Examples
    --------
    >>> sig = pd.DataFrame({"B": [1.0, 2, 3, 4], "A": [1.0, 2, 3, 4.1], "C": [4.0, 1, 3, 2]})
    >>> grouped, members = group_signature(sig, 0.9)
    >>> list(grouped.columns)
    ['A|B', 'C']
    """
    if not 0 <= float(threshold) <= 1:
        raise ValueError(f"group threshold must be a correlation in [0, 1], got {threshold}")
    names = [str(c) for c in signature.columns]
    if len(names) < 2:
        return signature.copy(), [[n] for n in names]
    values = signature.to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = distance.pdist(values.T, metric="correlation")
    dist = np.where(np.isnan(dist), 1.0, dist)
    labels = hierarchy.fcluster(hierarchy.linkage(dist, method="complete"), t=1 - float(threshold),
                                criterion="distance")
    cols, members = {}, []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        group = sorted(names[i] for i in idx)
        members.append(group)
        cols["|".join(group)] = signature[group].mean(axis=1)
    return pd.DataFrame(cols, index=signature.index), members


def expand_groups(members: list[list[str]], sort: bool = True) -> tuple[pd.Index, np.ndarray]:
    """Output protein names and their group (projection row) index.

    With ``sort`` (whenever grouping is on) all member rows are ordered by
    Python ``sorted()``, as SecActPy does after expanding.

    >>> expand_groups([["A", "C"], ["B"]])
    (Index(['A', 'B', 'C'], dtype='object'), array([0, 1, 0]))
    """
    names, rows = [], []
    for g, group in enumerate(members):
        for name in group:
            names.append(name)
            rows.append(g)
    order = sorted(range(len(names)), key=names.__getitem__) if sort else list(range(len(names)))
    return pd.Index([names[i] for i in order], dtype=object), np.asarray([rows[i] for i in order], dtype=np.intp)


class PreparedExpression:
    """Normalised expression columns on the shared genes, one block at a time.

    ``block(cols)`` reads the raw columns from the source, restricted to the
    shared genes, and applies, in SecActPy's order:

    1. ``log_scale`` (single-cell modes): ``log2(x / total * scale + 1)`` with
       each sample's library size ``total`` over all genes;
    2. subtraction of ``row_offsets`` (the row means of "center" and the
       single-cell modes, from one streaming pass over all samples);
    3. the column z-score (ddof 1, NaN -> 0).

    The global statistics are small (one value per gene and per sample) and
    pickle with the object; the source pickles by reference.
    """

    def __init__(self, source, gene_rows: np.ndarray, *, row_offsets: np.ndarray | None = None,
                 log_scale: float | None = None, totals: np.ndarray | None = None, zscore: bool = True,
                 scale_dtype=None):
        self.source = source
        self.gene_rows = np.asarray(gene_rows, dtype=np.intp)
        self.row_offsets = None if row_offsets is None else np.asarray(row_offsets, dtype=np.float64)
        self.log_scale = log_scale
        self.totals = None if totals is None else np.asarray(totals, dtype=np.float64)
        self.zscore = zscore
        self.scale_dtype = None if scale_dtype is None else np.dtype(scale_dtype)
        self.shape = (int(self.gene_rows.size), int(source.shape[1]))
        self.samples = source.samples

    def raw(self, cols: np.ndarray):
        """Raw (un-normalised) shared-gene columns, dense or sparse as the source gives them."""
        return self.source.columns(np.asarray(cols, dtype=np.intp), rows=self.gene_rows)

    def cell_scales(self, cols: np.ndarray) -> np.ndarray:
        """Per-sample factors ``scale / total`` of the log scaling.

        With ``scale_dtype=float32`` they are computed in float32, as
        SecActPy's ``sparse_mode`` does for float32 count matrices.
        """
        if self.scale_dtype is not None:
            dt = self.scale_dtype.type
            return (dt(self.log_scale) / self.totals[cols].astype(dt)).astype(np.float64)
        return self.log_scale / self.totals[cols]

    def transform(self, block: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Normalise a dense raw block of columns ``cols``."""
        Y = np.asarray(block, dtype=np.float64)
        if self.log_scale is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                if self.scale_dtype is not None:
                    Y = np.log2(Y * self.cell_scales(cols) + 1.0)
                else:  # SecActPy's dense order: x / total * scale
                    Y = np.log2(Y / self.totals[cols] * self.log_scale + 1.0)
            Y[~np.isfinite(Y)] = 0.0  # an empty cell (total 0) stays all zeros
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
        if self.log_scale is not None:
            scale = np.repeat(self.cell_scales(cols), np.diff(L.indptr))
            with np.errstate(divide="ignore", invalid="ignore"):
                L.data = np.log2(L.data * scale + 1.0)
            L.data[~np.isfinite(L.data)] = 0.0
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
