"""SecActPy's signature rules: grouping of near-identical columns, expansion back, scaling.

* :func:`group_signature` -- merge columns whose Pearson correlation is above a threshold
  (SecActPy's ``group_signatures``), before the gene overlap;
* :func:`expand_groups` -- the output proteins (group members, sorted) and their group row;
* :func:`scale_signature` -- the column z-score of the signature on the shared genes (NaN
  entries skipped, then 0, as SecActPy's pandas scaling; :func:`count_nan` reports them);
* :func:`filter_signature` -- SecActPy's ``sig_filter``: the proteins named like an expression gene.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial import distance

from .normalise import zscore_columns

__all__ = ["count_nan", "group_signature", "expand_groups", "filter_signature", "scale_signature"]


def group_signature(signature: pd.DataFrame, threshold: float = 0.9) -> tuple[pd.DataFrame, list[list[str]]]:
    """Merge near-identical signature columns, as SecActPy's ``group_signatures``.

    Complete-linkage clustering on ``1 - Pearson correlation`` of the columns
    (NaN distances count as 1: a column with a NaN entry or a constant column
    is grouped with nothing), cut at height ``1 - threshold``.  Groups come
    in increasing cluster-label order; each group's members are sorted with
    Python ``sorted()``, the column is named ``"A|B|..."`` and holds the plain
    mean of its members (NaN entries skipped, as pandas does).

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


def scale_signature(signature: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The signature's rows ``rows`` (the shared genes), column z-scored as SecActPy does.

    NaN entries are skipped by each column's mean and standard deviation and are 0
    afterwards (pandas' ``mean``/``std``, then ``fillna(0)``: SecActPy keeps such a
    protein; a plain z-score would turn its whole column into zeros).

    >>> sig = pd.DataFrame({"A": [1.0, 2.0, 3.0], "B": [0.0, np.nan, 1.0]}, index=list("xyz"))
    >>> scale_signature(sig, np.array([2, 0, 1])).round(3)
    array([[ 1.   ,  0.707],
           [-1.   , -0.707],
           [ 0.   ,  0.   ]])
    """
    return zscore_columns(signature.to_numpy(np.float64)[rows], skipna=True)


def count_nan(signature: pd.DataFrame) -> tuple[int, list[str]]:
    """The number of NaN entries of a signature and the proteins (columns) that have them.

    >>> count_nan(pd.DataFrame({"A": [1.0, np.nan], "B": [np.nan, np.nan], "C": [0.0, 1.0]}))
    (3, ['A', 'B'])
    """
    nan = signature.isna().to_numpy()
    cols = nan.any(axis=0)
    return int(nan.sum()), [str(c) for c in signature.columns[cols]]


def filter_signature(signature: pd.DataFrame, genes) -> pd.DataFrame:
    """SecActPy's ``sig_filter``: keep the proteins (columns) whose name is one of ``genes``.

    The names are compared exactly (case-sensitive), columns keep their order, and this
    runs before grouping (``secactpy/inference.py:1170-1175``; NOTES.md section 13).

    Raises
    ------
    ValueError
        No protein is kept (SecActPy returns an empty result).

    Examples
    --------
    >>> sig = pd.DataFrame(np.ones((2, 3)), index=["IL6", "X"], columns=["TNF", "IL6", "X"])
    >>> list(filter_signature(sig, ["X", "IL6", "B"]).columns)
    ['IL6', 'X']
    """
    names = pd.Index(genes).astype(str)
    keep = pd.Index(signature.columns).astype(str).isin(names)
    if not keep.any():
        prot = ", ".join(map(str, list(signature.columns[:5]))) + (", ..." if signature.shape[1] > 5 else "")
        some = ", ".join(map(str, list(names[:5]))) + (", ..." if len(names) > 5 else "")
        raise ValueError(
            f"sig_filter=True keeps no protein: none of the signature's {signature.shape[1]} proteins ({prot}) "
            f"is among the expression's {len(names)} gene names ({some}). Names are compared exactly; "
            "leave sig_filter off (the default) to use every protein.")
    return signature.loc[:, keep]
