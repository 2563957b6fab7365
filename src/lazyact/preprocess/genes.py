"""SecActPy's gene rules: name clean-up, de-duplication, orientation check, overlap.

* :func:`clean_gene_name` -- the single-cell symbol clean-up (upper case, cut at ``"."``);
* :func:`dedup_rows` -- one row per gene name (first, or highest mean/sum);
* :func:`single_cell_genes` -- the single-cell and spatial gene selection (steps 1-3
  of :mod:`lazyact.pipeline.singlecell`);
* :func:`check_orientation` -- refuse a transposed input, judged from the names;
* :func:`overlap_genes` -- the genes shared with a signature, in SecActPy's orders.

Sources expose names as stored (duplicates kept); these rules are applied here, once.
Facts: ``tests/goldens/NOTES.md`` (file:line of the SecActPy 0.3.1 wheel).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..sources.base import ExpressionSource
from .passes import row_sums

__all__ = [
    "GENE_ORDERS",
    "GeneOverlap",
    "OrientationReport",
    "check_orientation",
    "clean_gene_name",
    "dedup_rows",
    "overlap_genes",
    "single_cell_genes",
]

GENE_ORDERS = ("expression", "signature", "sorted")


def clean_gene_name(name: Any) -> str:
    """SecActPy's single-cell gene clean-up: upper-case, cut at the first ``"."``.

    >>> clean_gene_name("Actb.2"), clean_gene_name("ENSG0001.5")
    ('ACTB', 'ENSG0001')
    """
    return str(name).upper().split(".", 1)[0]


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


@dataclass(frozen=True)
class OrientationReport:
    """Overlap of the signature genes with a source's gene and sample names."""

    gene_overlap: int
    sample_overlap: int


def _upper_set(names: Iterable[Any]) -> set[str]:
    return {str(x).upper() for x in names}


def _overlap(index: pd.Index, sig: set[str]) -> int:
    if isinstance(index, pd.RangeIndex) or index.dtype.kind in "iufb":
        return 0
    up = pd.Index(index.astype(str)).str.upper()
    return int(up.isin(sig).sum())


def check_orientation(source: ExpressionSource, signature_genes: Sequence[Any]) -> OrientationReport:
    """Refuse a transposed input, judged from gene NAMES (never from the shape).

    Counts how many of the signature genes occur (case-insensitively) among
    the source's gene names and among its sample names.  When the sample
    names overlap at least 2 signature genes and more than twice as many as
    the gene names do, the input is taken as transposed and ``ValueError``
    is raised.

    Parameters
    ----------
    source : ExpressionSource
    signature_genes : sequence of str

    Returns
    -------
    OrientationReport
        The two overlap counts.

    Examples
    --------
    >>> import numpy as np
    >>> from lazyact.sources import as_source
    >>> src = as_source(np.ones((3, 2)), genes=["IL6", "TNF", "CXCL8"], samples=["s1", "s2"])
    >>> check_orientation(src, ["IL6", "TNF"]).gene_overlap
    2
    """
    sig = _upper_set(signature_genes)
    g = _overlap(source.genes, sig)
    s = _overlap(source.samples, sig)
    if s >= 2 and s > 2 * g:
        raise ValueError(
            f"{source.describe()} looks transposed: {s} of its sample names but only {g} of its "
            f"gene names are signature genes. lazyact.activity reads genes x samples arrays and DataFrames "
            f"and cells x genes AnnData: pass the transpose, lazyact.activity(data.T, ...) for a DataFrame "
            f"(or a NumPy/SciPy matrix, exchanging genes= and samples=), lazyact.activity(adata.T, ...) for an "
            f"AnnData (an .h5ad file: anndata.read_h5ad(path).T); `lazyact run` needs a text table with genes "
            f"as rows (pandas.read_csv(path, sep=None, engine='python', index_col=0).T.to_csv(new_path, sep='\\t'))."
        )
    return OrientationReport(g, s)


def dedup_rows(names: Sequence[Any], *, keep: str = "first", score: np.ndarray | None = None,
               normalise: Callable[[Any], Any] | None = None) -> np.ndarray:
    """Row positions that keep one row per (normalised) gene name.

    Sources keep duplicated names as stored; the caller applies this rule and
    passes the result as ``rows=``.  SecActPy 0.3.1 uses two rules:

    * ``keep="first"`` -- bulk tables read by ``load_expression_data``
      (``secactpy/inference.py:221-225``: ``df[~df.index.duplicated(keep='first')]``).
    * ``keep="max"`` with ``score`` -- ``secact_activity_inference_scrnaseq``
      keeps, per duplicated symbol, the row with the highest mean over all
      cells (``inference.py:1602-1620``), ``secact_activity_inference_st``
      the highest sum (``inference.py:2294-2311``); both compare with a
      strict ``>`` so ties keep the first row, both run after upper-casing
      and cutting at the first ``"."`` (``inference.py:1595-1600``,
      ``2286-2291``), and both return the kept rows in original order.  The
      streaming h5ad path estimates the means from the first 1000 cells only
      (``streaming.py:935-960``).  Mean and sum give the same choice.  The ST
      path drops all-zero genes first (``inference.py:2273-2281``).
      ``secact_activity_inference`` itself (a DataFrame in memory) does not
      de-duplicate.

    Parameters
    ----------
    names : sequence
        Gene names, one per row.
    keep : {"first", "max"}
    score : array, optional
        Per-row score for ``keep="max"`` (row means or sums, e.g.
        :func:`~lazyact.preprocess.passes.row_sums`); NaN counts as lowest.
    normalise : callable, optional
        Applied to each name before comparing (e.g. SecActPy's upper-case and
        version strip).

    Returns
    -------
    numpy.ndarray
        Sorted intp row positions.

    Examples
    --------
    >>> dedup_rows(["A", "B", "A", "C"])
    array([0, 1, 3])
    >>> dedup_rows(["A", "B", "A"], keep="max", score=[1.0, 5.0, 2.0])
    array([1, 2])
    """
    keys = list(names) if normalise is None else [normalise(x) for x in names]
    codes, _ = pd.factorize(pd.Index(keys, dtype=object), use_na_sentinel=False)
    n = len(keys)
    if keep == "first":
        return np.flatnonzero(~pd.Index(codes).duplicated(keep="first")).astype(np.intp)
    if keep != "max":
        raise ValueError(f"keep must be 'first' or 'max', got {keep!r}")
    if score is None:
        raise ValueError("keep='max' needs a per-row score (row means or sums)")
    sc = np.asarray(score, dtype=np.float64)
    if sc.shape != (n,):
        raise ValueError(f"score has shape {sc.shape}, expected ({n},)")
    sc = np.where(np.isnan(sc), -np.inf, sc)
    # order by code, then score descending, then position ascending (first wins ties)
    order = np.lexsort((np.arange(n), -sc, codes))
    first = np.ones(n, dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    return np.sort(order[first]).astype(np.intp)


def single_cell_genes(source: Any, drop_empty: bool) -> tuple[np.ndarray, pd.Index]:
    """The genes SecActPy's single-cell (and, with ``drop_empty``, spatial) paths keep.

    Names are cleaned (:func:`clean_gene_name`); the spatial path first drops genes
    with no counts; duplicated names keep the row with the highest mean (scRNA-seq) /
    sum (spatial) over all cells, first on ties (:func:`dedup_rows`, one streaming
    pass when there are duplicates).

    Returns
    -------
    rows : numpy.ndarray
        Kept gene rows of ``source``, in their original order.
    names : pandas.Index
        Their cleaned names.
    """
    cleaned = pd.Index([clean_gene_name(g) for g in source.genes], dtype=object)
    candidates = np.arange(source.n_genes)
    gene_sums = None
    if drop_empty:
        gene_sums = row_sums(source)
        candidates = np.flatnonzero(gene_sums > 0)
    sub_names = cleaned[candidates]
    if sub_names.has_duplicates:
        score = gene_sums[candidates] if gene_sums is not None else row_sums(source, candidates)
        keep = dedup_rows(list(sub_names), keep="max", score=score)
    else:
        keep = np.arange(candidates.size)
    kept = candidates[keep]
    return kept, cleaned[kept]
