"""Per-sample rankings and per-protein counts of an activity, in one streaming pass.

* :func:`top` -- the ``k`` most active proteins of every sample (or the ``k``
  samples where each protein is most active), as a pandas DataFrame ready for a
  cell-annotation table;
* :func:`active` -- how many samples each protein is significantly active in.

Both stream over blocks of samples with bounded memory (the blocks in flight
plus the ``k`` best candidates or the counts), computing each block once.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from .array import LazyArray
from .fdr import adjust, as_view, check_axis, check_method, qvalue

__all__ = ["top", "active", "stream_columns"]

_SMALL_IS_BEST = ("pvalue", "qvalue")


# --------------------------------------------------------------------------- streaming
def stream_columns(views: Sequence[LazyArray], transform: Callable[[list[np.ndarray]], Any] | None = None,
                   progress: bool | None = None, desc: str | None = None) -> Iterator[tuple[slice, Any]]:
    """Yield ``(column slice, transform([full-height block of each view]))`` over all samples.

    The first view's store is streamed without filling its cache (complete
    cached blocks are reused); blocks are full height (all rows), assembled
    from row chunks if the store's chunks are shorter.  Other views on the same
    store come in the same pass; views on other stores are read for the same
    columns.  With full-height chunks the ``transform`` runs in the store's
    worker threads.

    Parameters
    ----------
    views : sequence of LazyArray
        Arrays of the same shape.
    transform : callable, optional
        Applied to the list of blocks (one per view).
    progress : bool, optional
        Progress bar (None: automatic on long work).
    desc : str, optional
        Progress bar label.
    """
    views = list(views)
    first = views[0]
    store = first.store
    p, m = store.shape
    for v in views[1:]:
        if tuple(v.shape) != (p, m):
            raise ValueError(f"arrays must have the same shape, got {v.shape} and {(p, m)}")
    same = [v.name for v in views if v.store is store]
    others = [v for v in views if v.store is not store]
    names = tuple(dict.fromkeys(same))

    def assemble(arrays: dict, cols: np.ndarray | None) -> list[np.ndarray]:
        blocks = []
        for v in views:
            if v.store is store:
                blocks.append(arrays[v.name])
            else:
                blocks.append(v.store.read(None, cols, names=(v.name,))[v.name])
        return blocks

    if m == 0 or p == 0:
        return
    if store.chunks[0] >= p:
        def in_worker(arrays: dict) -> Any:
            blocks = assemble(arrays, None)
            return transform(blocks) if transform is not None else blocks

        tr = None if others else in_worker
        for _, csl, res in store.iter_blocks(names=names, cache=False, progress=progress, transform=tr, desc=desc):
            if others:
                blocks = assemble(res, np.arange(csl.start, csl.stop, dtype=np.intp))
                res = transform(blocks) if transform is not None else blocks
            yield csl, res
        return
    # short row chunks: assemble full-height column bands
    width = store.chunks[1] * max(1, store.nthreads)
    bar = store.progress_bar(-(-m // width), progress, desc)
    try:
        for c0 in range(0, m, width):
            c1 = min(m, c0 + width)
            cols = np.arange(c0, c1, dtype=np.intp)
            buf = {n: np.empty((p, c1 - c0), dtype=store.dtype) for n in names}
            for rsl, csl, arrays in store.iter_blocks(names=names, cols=cols, cache=False, progress=False):
                for n in names:
                    buf[n][rsl, csl] = arrays[n]
            blocks = assemble(buf, cols)
            bar.update(1)
            yield slice(c0, c1), (transform(blocks) if transform is not None else blocks)
    finally:
        bar.close()


def _labels(view: LazyArray, axis: int) -> pd.Index:
    lab = view.row_labels if axis == 0 else view.col_labels
    return pd.RangeIndex(view.shape[axis]) if lab is None else lab


def _label_column(labels: pd.Index, codes: np.ndarray) -> Any:
    """Labels at ``codes`` (-1: missing): a Categorical when the labels are unique (compact), else objects."""
    if labels.is_unique and not isinstance(labels, pd.MultiIndex):
        return pd.Categorical.from_codes(codes, categories=labels)
    out = labels.to_numpy(dtype=object)[codes]
    out[codes < 0] = None
    return out


def _resolve_by(act: Any, by: Any) -> LazyArray:
    """The lazy array to rank by: ``by`` itself, the activity's statistic ``by``, or q-values."""
    if isinstance(by, LazyArray):
        return by
    if not isinstance(by, str):
        raise TypeError(f"by must be a statistic name or a LazyArray, got {type(by).__name__}")
    if isinstance(act, (LazyArray, np.ndarray, pd.DataFrame)):
        return as_view(act, by)  # the array itself
    view = getattr(act, by, None)
    if isinstance(view, LazyArray):
        return view
    if by == "qvalue":
        return qvalue(act)
    try:
        view = act[by]
    except (KeyError, TypeError, IndexError):
        view = None
    if isinstance(view, LazyArray):
        return view
    raise KeyError(f"{by!r} is not a statistic of {type(act).__name__}")


# --------------------------------------------------------------------------- top
def top(act: Any, k: int = 5, by: str | LazyArray = "zscore", axis: int = 0, *, largest: bool | None = None,
        flat: bool = False, progress: bool | None = None) -> pd.DataFrame:
    """The ``k`` highest-ranked proteins of every sample, streamed over blocks of samples.

    Parameters
    ----------
    act : LazyActivity, LazyArray or 2-D array
        The activity (or one statistic of it).
    k : int, default 5
        How many to keep (all of them if the axis is shorter).
    by : str or LazyArray, default "zscore"
        Statistic to rank by: ``"zscore"``, ``"beta"``, ``"se"``, ``"pvalue"``,
        ``"qvalue"`` (BH over proteins per sample, see :func:`lazyact.fdr.qvalue`)
        or any lazy array of the activity's shape.
    axis : {0, 1}, default 0
        ``0``: rank the proteins within each sample (a row per sample);
        ``1``: rank the samples within each protein (a row per protein).
    largest : bool, optional
        ``True``: largest values first (most active: high z-score);
        ``False``: smallest first.  Default: ``False`` for ``"pvalue"`` and
        ``"qvalue"``, ``True`` otherwise.
    flat : bool, default False
        Flat column names ``"protein_1", ..., "zscore_1", ...`` (e.g. for
        ``AnnData.obs``) instead of a ``(field, rank)`` MultiIndex.
    progress : bool, optional
        Progress bar (None: automatic on long work).

    Returns
    -------
    pandas.DataFrame
        Index: the samples (``axis=0``) or proteins (``axis=1``).  Columns
        ``(field, rank)`` for rank ``1..k``: field ``"protein"`` (``"sample"``
        for ``axis=1``) holds the names -- a Categorical when the names are
        unique -- and field ``by`` (the statistic's name) the values.

    Notes
    -----
    Ties are broken by position: among equal values the protein (or sample)
    that comes first in the activity's order ranks first, whatever the block
    layout, so the result is deterministic.  NaN values (samples without an
    answer, e.g. empty cells) rank last and are reported as missing: their
    name is missing too (NaN in the Categorical).  Memory: the
    blocks in flight plus ``k`` candidates per output row.

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((100, 6)), rng.standard_normal((100, 4))
    >>> act = lazyact.LazyActivity(lazyact.ridge.projection(X, 10.0), 50, Y, proteins=list("ABCDEF"))
    >>> t = top(act, 2)
    >>> t.shape, list(t.columns.get_level_values(0).unique())
    ((4, 4), ['protein', 'zscore'])
    >>> z = act.zscore[:, 0]
    >>> list(t.loc["sample0", "protein"]) == [act.proteins[i] for i in np.argsort(-z, kind="stable")[:2]]
    True
    """
    view = _resolve_by(act, by)
    axis = check_axis(axis)
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    stat = view.name
    if largest is None:
        largest = stat not in _SMALL_IS_BEST
    p, m = view.shape
    n_rank = p if axis == 0 else m
    k = min(k, n_rank)
    n_out = m if axis == 0 else p
    codes = np.zeros((n_out, k), dtype=np.intp)
    values = np.full((n_out, k), np.nan)

    if axis == 0:
        def tr(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            v = blocks[0]
            key = -v if largest else v
            order = np.argsort(key, axis=0, kind="stable")[:k]
            return order.T, np.take_along_axis(v, order, axis=0).T

        for csl, (order, vals) in stream_columns([view], tr, progress, desc=f"top {k} by {stat}"):
            codes[csl] = order
            values[csl] = vals
    else:
        cand_i = cand_v = None

        def tr(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            v = blocks[0]
            key = -v if largest else v
            order = np.argsort(key, axis=1, kind="stable")[:, :k]
            return order, np.take_along_axis(v, order, axis=1)

        for csl, (order, vals) in stream_columns([view], tr, progress, desc=f"top {k} by {stat}"):
            idx = order + csl.start
            if cand_i is not None:
                idx = np.concatenate([cand_i, idx], axis=1)
                vals = np.concatenate([cand_v, vals], axis=1)
            key = -vals if largest else vals
            sel = np.lexsort((idx, key), axis=1)[:, :k]  # value, then position: deterministic ties
            cand_i = np.take_along_axis(idx, sel, axis=1)
            cand_v = np.take_along_axis(vals, sel, axis=1)
        if cand_i is not None:
            codes[:, :] = cand_i
            values[:, :] = cand_v

    codes[np.isnan(values)] = -1  # no value (a sample without an answer): no name either
    rank_labels = _labels(view, axis)
    out_index = _labels(view, 1 - axis)
    field = "protein" if axis == 0 else "sample"
    data: dict = {}
    for r in range(k):
        data[(field, r + 1)] = _label_column(rank_labels, codes[:, r])
    for r in range(k):
        data[(stat, r + 1)] = values[:, r]
    frame = pd.DataFrame(data, index=out_index)
    if flat:
        frame.columns = [f"{f}_{r}" for f, r in frame.columns]
    else:
        frame.columns = pd.MultiIndex.from_tuples(list(data), names=["field", "rank"])
    return frame


# --------------------------------------------------------------------------- active
def active(act: Any, alpha: float = 0.05, by: str = "pvalue", *, direction: str | None = None,
           method: str = "bh", progress: bool | None = None) -> pd.Series:
    """How many samples each protein is significantly active in, in one pass.

    A (protein, sample) counts when its ``by`` value is ``<= alpha`` and, with
    ``direction``, its z-score has the given sign.

    Parameters
    ----------
    act : LazyActivity
        Or anything with lazy ``pvalue`` and ``zscore`` arrays.
    alpha : float, default 0.05
        Significance level.
    by : {"pvalue", "qvalue"}, default "pvalue"
        ``"qvalue"``: p-values adjusted over the proteins within each sample
        (:func:`lazyact.fdr.adjust` with ``method``), computed in the same pass.
    direction : {None, "up", "down"}, default None
        ``"up"``: only ``zscore > 0`` (activated); ``"down"``: only
        ``zscore < 0``; ``None``: either.
    method : {"bh", "by"}, default "bh"
        FDR method for ``by="qvalue"``.
    progress : bool, optional
        Progress bar (None: automatic on long work).

    Returns
    -------
    pandas.Series
        ``int64`` counts indexed by protein, named ``"active"``.

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((100, 3)), rng.standard_normal((100, 20))
    >>> act = lazyact.LazyActivity(lazyact.ridge.projection(X, 10.0), 50, Y, proteins=list("ABC"))
    >>> n = active(act, 0.1)
    >>> n.index.tolist(), n.dtype.name
    (['A', 'B', 'C'], 'int64')
    >>> bool((n.to_numpy() == (act.pvalue[:, :] <= 0.1).sum(axis=1)).all())
    True
    """
    if by not in ("pvalue", "qvalue"):
        raise ValueError(f"by must be 'pvalue' or 'qvalue', got {by!r}")
    if direction not in (None, "up", "down"):
        raise ValueError(f"direction must be None, 'up' or 'down', got {direction!r}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    method = check_method(method)
    pv = as_view(act, "pvalue")
    views = [pv]
    if direction is not None:
        zv = getattr(act, "zscore", None)
        if not isinstance(zv, LazyArray):
            raise TypeError("direction needs the activity's zscore: pass a LazyActivity")
        views.append(zv)

    def tr(blocks: list[np.ndarray]) -> np.ndarray:
        p = blocks[0]
        if by == "qvalue":
            p = adjust(p, method, axis=0)
        hit = p <= alpha
        if direction == "up":
            hit &= blocks[1] > 0
        elif direction == "down":
            hit &= blocks[1] < 0
        return hit.sum(axis=1, dtype=np.int64)

    counts = np.zeros(pv.shape[0], dtype=np.int64)
    for _, c in stream_columns(views, tr, progress, desc=f"active ({by} <= {alpha})"):
        counts += c
    return pd.Series(counts, index=_labels(pv, 0), name="active")
