"""Control profiles: SecActPy's ``input_profile_control`` (bulk) and ``input_control`` (spatial).

Bulk (``secact_activity_inference(Y, C)``, ``secactpy/inference.py:1136-1165``; facts in
``tests/goldens/NOTES.md`` section 12):

* :func:`control_gene_axis` -- the genes of ``Y - C`` (pandas alignment): the treatment's
  order when both gene lists are identical, else the sorted union, where a gene present
  on one side only is missing (NaN) in every column;
* :func:`paired_samples` -- ``is_paired=True``: the sample names both share, in the
  treatment's order;
* :func:`control_row_means` -- the control's mean of each gene (one streaming pass);
* :func:`mean_difference` -- one streaming pass: each gene's mean over samples of the
  differences (the collapsed ``"Change"`` column);
* :class:`DifferenceExpression` -- the differences one block of samples at a time
  (``single_sample=True``), z-scored per column over the genes present on both sides,
  missing genes 0 (SecActPy's NaN-skipping z-score, then ``fillna(0)``).

Spatial (``secact_activity_inference_st(..., input_control=C)``, ``inference.py:2450-2493``;
NOTES.md section 14.5): :func:`control_log_means` -- the control's names cleaned (no
zero-gene removal, no de-duplication: a name's LAST row is used), per spot
``log2(x / total * scale + 1)`` with ``total`` over all its rows, then each gene's mean
over the spots, from one streaming pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..sources.base import select_rows
from .genes import clean_gene_name
from .normalise import log_normalise, zscore_columns
from .passes import pass_block, row_sums, valid_samples
from .report import EmptySamplesWarning, warn_user

__all__ = ["ControlAxis", "DifferenceExpression", "control_gene_axis", "control_log_means", "control_row_means",
           "masked_zscore", "mean_difference", "paired_samples"]


def _preview(names: Sequence, k: int = 5) -> str:
    items = [str(x) for x in list(names[:k])]
    return ", ".join(items) + (", ..." if len(names) > k else "")


def _first_positions(names: Sequence) -> pd.Series:
    idx = pd.Index(names).astype(str)
    first = ~idx.duplicated(keep="first")
    return pd.Series(np.flatnonzero(first), index=idx[first])


@dataclass(frozen=True)
class ControlAxis:
    """The genes of a treatment-minus-control profile and their rows on each side (-1: absent)."""

    genes: pd.Index
    treatment_rows: np.ndarray
    control_rows: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """Genes present on both sides (the others are NaN in SecActPy's difference)."""
        return (self.treatment_rows >= 0) & (self.control_rows >= 0)


def control_gene_axis(treatment_genes: Sequence, control_genes: Sequence) -> ControlAxis:
    """The gene axis of ``Y - C`` as pandas aligns it, and each gene's row on both sides.

    Identical gene lists (same names, same order) keep the treatment's order; otherwise
    the genes are the sorted union of both lists, and a gene on one side only is absent
    (row -1) on the other. Duplicated names: the first row counts (SecActPy's file loader).

    Raises
    ------
    ValueError
        No gene in common.

    Examples
    --------
    >>> ax = control_gene_axis(["B", "A", "C"], ["B", "A", "C"])
    >>> list(ax.genes), ax.control_rows.tolist()
    (['B', 'A', 'C'], [0, 1, 2])
    >>> ax = control_gene_axis(["B", "A", "C"], ["C", "D", "A"])
    >>> list(ax.genes), ax.treatment_rows.tolist(), ax.control_rows.tolist()
    (['A', 'B', 'C', 'D'], [1, 0, 2, -1], [2, -1, 0, 1])
    """
    t, c = _first_positions(treatment_genes), _first_positions(control_genes)
    if not t.index.isin(c.index).any():
        raise ValueError(
            f"the control shares no gene with the expression (expression genes: {_preview(t.index)}; control genes: "
            f"{_preview(c.index)}); give the control as genes x samples with the same gene names")
    if list(t.index) == list(c.index):
        genes = pd.Index(t.index, dtype=object)
    else:
        genes = pd.Index(sorted(set(t.index) | set(c.index)), dtype=object)
    rows_t = t.reindex(genes).fillna(-1).to_numpy(np.intp)
    rows_c = c.reindex(genes).fillna(-1).to_numpy(np.intp)
    return ControlAxis(genes, rows_t, rows_c)


def paired_samples(treatment_samples: Sequence, control_samples: Sequence) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """``paired=True``: the shared sample names, in the treatment's order, and their columns on each side.

    Raises
    ------
    ValueError
        No shared sample name.

    Examples
    --------
    >>> t, c, names = paired_samples(["S1", "S2", "S3"], ["S3", "S1", "N1"])
    >>> t.tolist(), c.tolist(), list(names)
    ([0, 2], [1, 0], ['S1', 'S3'])
    """
    tn = pd.Index(treatment_samples)
    cpos = _first_positions(control_samples)
    keep = [j for j, s in enumerate(tn.astype(str)) if s in cpos.index]
    if not keep:
        raise ValueError(
            f"paired=True needs samples with the same name in the expression and the control; none is shared "
            f"(expression: {_preview(tn)}; control: {_preview(pd.Index(control_samples))}). Rename the control's "
            "columns after their treated samples, or leave paired off to subtract the control's mean")
    t_cols = np.asarray(keep, dtype=np.intp)
    c_cols = cpos[[str(tn[j]) for j in keep]].to_numpy(np.intp)
    return t_cols, c_cols, pd.Index(tn[t_cols])


def _dense(block: Any) -> np.ndarray:
    return block.toarray() if sp.issparse(block) else np.asarray(block, dtype=np.float64)


def mean_difference(treatment: Any, axis: ControlAxis, *, control_means: np.ndarray | None = None,
                    control: Any = None, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Each gene's mean over samples of treatment minus control: the collapsed ``"Change"`` column.

    Unpaired (``control_means``): ``mean_j (Y_ij - c_i)``, one pass over the treatment.
    Paired (``control`` and ``pairs``): ``mean_j (Y_i,t_j - C_i,c_j)`` over the shared samples,
    one pass over both. Genes absent on a side are NaN.
    """
    present = axis.present
    t_rows = axis.treatment_rows[present]
    sums = np.zeros(t_rows.size)
    if pairs is None:
        offsets = np.asarray(control_means, dtype=np.float64)[present]
        n = treatment.n_samples
        for _, blk in treatment.iter_columns(pass_block(treatment), rows=t_rows):
            sums += (_dense(blk) - offsets[:, None]).sum(axis=1)
    else:
        t_cols, c_cols = pairs
        c_rows = axis.control_rows[present]
        n = t_cols.size
        step = max(1, min(pass_block(treatment), pass_block(control)))
        for a in range(0, n, step):
            b = min(a + step, n)
            diff = _dense(treatment.columns(t_cols[a:b], rows=t_rows)) - _dense(control.columns(c_cols[a:b], rows=c_rows))
            sums += diff.sum(axis=1)
    out = np.full(axis.genes.size, np.nan)
    out[present] = sums / n
    return out


def control_row_means(control: Any, axis: ControlAxis) -> np.ndarray:
    """Each gene's mean over the control's samples (NaN where the control lacks the gene), one pass."""
    out = np.full(axis.genes.size, np.nan)
    has = axis.control_rows >= 0
    out[has] = row_sums(control, axis.control_rows[has]) / control.n_samples
    return out


def masked_zscore(A: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Column z-score over the ``present`` rows only; the other rows are 0.

    SecActPy z-scores ``Y - C`` with pandas (NaN skipped in mean and sd), then fills NaN
    with 0: a gene missing on one side enters the regression as 0.

    >>> masked_zscore(np.array([[1.0], [5.0], [3.0]]), np.array([True, False, True])).ravel().tolist()
    [-0.7071067811865475, 0.0, 0.7071067811865475]
    """
    A = np.asarray(A, dtype=np.float64)
    if present.all():
        return zscore_columns(A)
    out = np.zeros(A.shape)
    out[present] = zscore_columns(A[present])
    return out


class DifferenceExpression:
    """Treatment minus control on the model's genes, one block of samples at a time.

    ``block(cols)`` gives, for samples ``cols`` of this expression, the treatment's
    columns minus the control's means (unpaired) or minus the paired control columns,
    z-scored per column over the genes present on both sides (the others 0). The
    treatment and control sources pickle by reference, the small vectors with the object.

    Parameters
    ----------
    source : ExpressionSource
        The treatment.
    treatment_rows, control_rows : numpy.ndarray
        Per model gene, its row in each source (-1: absent on that side).
    control_means : numpy.ndarray, optional
        Unpaired: per model gene, the control's mean.
    control : ExpressionSource, optional
        Paired: the control, read column by column.
    pairs : (numpy.ndarray, numpy.ndarray), optional
        Paired: the treatment's and the control's column of each sample.
    samples : pandas.Index
        The samples' names.
    """

    def __init__(self, source: Any, treatment_rows: np.ndarray, control_rows: np.ndarray, *,
                 control_means: np.ndarray | None = None, control: Any = None,
                 pairs: tuple[np.ndarray, np.ndarray] | None = None, samples: Sequence | None = None):
        if (control_means is None) == (pairs is None):
            raise ValueError("give control_means (unpaired) or control and pairs (paired)")
        self.source = source
        self.control = control
        self.treatment_rows = np.asarray(treatment_rows, dtype=np.intp)
        self.control_rows = np.asarray(control_rows, dtype=np.intp)
        self.present = (self.treatment_rows >= 0) & (self.control_rows >= 0)
        self.control_means = None if control_means is None else np.asarray(control_means, dtype=np.float64)
        self.treatment_columns = np.arange(source.n_samples, dtype=np.intp) if pairs is None else pairs[0]
        self.control_columns = None if pairs is None else pairs[1]
        self.shape = (int(self.treatment_rows.size), int(self.treatment_columns.size))
        self.samples = pd.Index(source.samples if samples is None else samples)

    def block(self, cols: np.ndarray) -> np.ndarray:
        cols = np.asarray(cols, dtype=np.intp)
        rows = self.treatment_rows[self.present]
        Y = _dense(self.source.columns(self.treatment_columns[cols], rows=rows))
        if self.control_columns is None:
            D = Y - self.control_means[self.present][:, None]
        else:
            C = self.control.columns(self.control_columns[cols], rows=self.control_rows[self.present])
            D = Y - _dense(C)
        out = np.zeros((self.shape[0], cols.size))
        out[self.present] = zscore_columns(D)
        return np.ascontiguousarray(out)


def control_log_means(source: Any, scale: float) -> pd.Series:
    """The spatial control profile: each cleaned gene name's mean log value over the control's spots.

    Names are cleaned (:func:`~lazyact.preprocess.genes.clean_gene_name`); a name on
    several rows uses its LAST row; library sizes count every row. A spot without counts
    has no log profile and is left out of the means (one warning; SecActPy would make
    every mean NaN).

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> src = as_source(np.array([[1.0, 3.0], [3.0, 1.0], [0.0, 4.0]]), genes=["a", "B", "A.2"])
    >>> control_log_means(src, 10.0).round(4).to_dict()
    {'B': 2.1287, 'A': 1.2925}
    """
    names = [clean_gene_name(g) for g in source.genes]
    last = pd.Series(np.arange(len(names)), index=pd.Index(names, dtype=object))
    last = last[~last.index.duplicated(keep="last")]
    last = last.sort_values()  # rows in source order, one per name (its last row)
    rows = last.to_numpy(np.intp)
    sums = np.zeros(rows.size)
    valid = 0
    for _, blk in source.iter_columns(pass_block(source)):
        tot = np.asarray(blk.sum(axis=0)).ravel()
        valid += int(valid_samples(tot).sum())
        if sp.issparse(blk):
            sub = log_normalise(select_rows(blk.tocsc(), rows), tot, scale, order="divide")
            sums += np.asarray(sub.sum(axis=1)).ravel()
        else:
            sub = log_normalise(np.asarray(blk, dtype=np.float64)[rows], tot, scale, order="divide")
            sums += sub.sum(axis=1)
    if valid < source.n_samples:
        if valid == 0:
            raise ValueError(f"the control ({source.describe()}) has no spot with counts")
        warn_user(f"{source.n_samples - valid} control spot(s) have no counts; they are left out of the "
                  "control's means (SecActPy's would all be NaN, zeroing every result)", EmptySamplesWarning)
    return pd.Series(sums / valid, index=last.index)
