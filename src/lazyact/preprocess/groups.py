"""Cell-type groups of spatial data: SecActPy's ``cell_type_col`` with ``is_spot_level=False``.

* :func:`sorted_groups` -- the groups of a label vector, in SecActPy's order
  (``sorted(set(labels))`` on the raw values: case-sensitive, integers stay integers);
* :func:`log_group_means` -- one streaming pass: each spot's library size, and per
  group the mean over its spots of ``log2(x / total * scale + 1)``.

Facts (``tests/goldens/NOTES.md`` section 14.4, ``secactpy/inference.py:2410-2447``): the
group columns are plain means of the per-spot log values (no minimum group size), then
centred with equal weight per group (or by a control's means). The scRNA-seq pseudo-bulk
(:func:`~lazyact.preprocess.passes.pseudobulk`) sorts case-insensitively instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .normalise import log_normalise
from .passes import pass_block, valid_samples

__all__ = ["sorted_groups", "log_group_means"]


def sorted_groups(labels: Any) -> tuple[list, np.ndarray]:
    """The groups of ``labels`` as SecActPy's spatial path orders them, and each label's group code.

    Raises
    ------
    ValueError
        A missing (NaN/None) label, or labels that cannot be ordered (mixed types).

    Examples
    --------
    >>> sorted_groups(["Tumor", "stroma", "Immune", "Tumor"])
    (['Immune', 'Tumor', 'stroma'], array([1, 2, 0, 1]))
    >>> sorted_groups([2, 0, 2])
    ([0, 2], array([1, 0, 1]))
    """
    values = np.asarray(labels, dtype=object)
    missing = pd.isna(values)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise ValueError(f"groupby has {int(missing.sum())} missing label(s) (NaN/None), the first at sample {first}; "
                         "give every spot a label, or drop the unlabelled spots first")
    values = np.array([v.item() if isinstance(v, np.generic) else v for v in values], dtype=object)
    try:
        groups = sorted(set(values.tolist()))
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise ValueError(f"groupby labels mix types ({', '.join(kinds)}) that cannot be sorted; "
                         "convert them to one type, e.g. labels.astype(str)") from None
    code = {g: i for i, g in enumerate(groups)}
    return groups, np.fromiter((code[v] for v in values), dtype=np.intp, count=values.size)


def log_group_means(source: Any, kept: np.ndarray, codes: np.ndarray, n_groups: int,
                    scale: float) -> tuple[np.ndarray, np.ndarray]:
    """One pass: per group, the mean over its spots of ``log2(x / total * scale + 1)`` of each kept gene.

    ``total`` is the spot's count over the ``kept`` rows (SecActPy's dense arithmetic,
    division first). A spot without counts (total 0) has no log profile: it is left out
    of its group's mean; a group none of whose spots has counts has no mean (NaN). The
    caller reports both (:func:`~lazyact.preprocess.report.check_valid`).

    Parameters
    ----------
    source : ExpressionSource
    kept : numpy.ndarray
        Gene rows (after the zero-gene removal and de-duplication).
    codes : numpy.ndarray
        Each spot's group (0 .. n_groups - 1).
    n_groups : int
    scale : float

    Returns
    -------
    means : numpy.ndarray
        ``(kept.size, n_groups)``.
    sizes : numpy.ndarray
        Spots averaged per group (0: the group's column is NaN).
    """
    codes = np.asarray(codes, dtype=np.intp)
    sums = np.zeros((kept.size, n_groups))
    sizes = np.zeros(n_groups, dtype=np.int64)
    for sl, blk in source.iter_columns(pass_block(source), rows=kept):
        tot = np.asarray(blk.sum(axis=0)).ravel()
        valid = valid_samples(tot)
        code = codes[sl]
        sizes += np.bincount(code[valid], minlength=n_groups)
        if sp.issparse(blk):
            L = log_normalise(blk.tocsc(copy=True), tot, scale, order="divide")
            onehot = sp.csr_matrix((np.ones(int(valid.sum())), (np.flatnonzero(valid), code[valid])),
                                   shape=(tot.size, n_groups))
            sums += np.asarray((L @ onehot).toarray())  # scipy's sequential sparse product: fixed order
        else:
            L = log_normalise(np.asarray(blk, dtype=np.float64), tot, scale, order="divide")
            for g in np.unique(code[valid]):  # plain sums in a fixed order (no BLAS: same bits everywhere)
                sums[:, g] += L[:, valid & (code == g)].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / sizes, sizes
