"""False-discovery-rate adjusted p-values (q-values) of an activity, as a lazy view.

:func:`qvalue` adjusts the p-values of a :class:`~lazyact.LazyActivity` with
Benjamini–Hochberg (``"bh"``) or Benjamini–Yekutieli (``"by"``), over the
proteins of each sample (``axis=0``, the default: "which proteins are active in
this cell?") or over the samples of each protein (``axis=1``: "in which cells is
this protein active?").  The result is lazy like the activity itself: a block
of q-values computes the p-values of the whole axis it needs and nothing more
(``axis=0``: all proteins of the requested samples; ``axis=1``: all samples of
the requested proteins), then adjusts them.

:func:`adjust` is the eager kernel; it performs exactly the operations of
``scipy.stats.false_discovery_control`` (same results bit for bit), without
needing SciPy >= 1.11.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .array import BlockStore, LazyArray, config

__all__ = ["METHODS", "adjust", "as_view", "check_axis", "check_method", "qvalue", "QValueBlocks", "read_full_axis"]

#: Supported adjustment methods.
METHODS = ("bh", "by")


def check_method(method: str) -> str:
    """``method`` in lower case, checked against :data:`METHODS`."""
    m = str(method).lower()
    if m not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(map(repr, METHODS))}")
    return m


def check_axis(axis: Any) -> int:
    """``axis`` as 0 (over proteins, per sample) or 1 (over samples, per protein)."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or int(axis) not in (0, 1, -1, -2):
        raise ValueError(f"axis must be 0 (over proteins, per sample) or 1 (over samples, per protein), got {axis!r}")
    return int(axis) % 2


def adjust(p: Any, method: str = "bh", axis: int = 0) -> np.ndarray:
    """Benjamini–Hochberg / –Yekutieli adjusted p-values along ``axis`` (eager).

    Equals ``scipy.stats.false_discovery_control(p, axis=axis, method=method)``
    bit for bit: sort each axis-slice, multiply the ``i``-th smallest by
    ``m / i`` (and by ``sum(1 / i)`` for ``"by"``), take the running minimum
    from the largest down, restore the order and clip to ``[0, 1]``.

    NaN p-values (samples without an answer, e.g. empty cells) are not tests:
    each slice's family is its non-NaN p-values (``m`` = their count, as R's
    ``p.adjust`` does with ``NA``), and their q-value is NaN. A slice without
    NaN is adjusted exactly as SciPy does.

    Parameters
    ----------
    p : array_like
        P-values in ``[0, 1]``, or NaN.
    method : {"bh", "by"}, default "bh"
    axis : int, default 0

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as ``p``.

    Examples
    --------
    >>> adjust([0.5, 0.6, 0.1, 0.001])
    array([0.6  , 0.6  , 0.2  , 0.004])
    >>> adjust([0.5, np.nan, 0.1, 0.001])     # a family of three
    array([0.5  , nan, 0.15 , 0.003])
    """
    method = check_method(method)
    ps = np.asarray(p, dtype=np.float64)
    nan = np.isnan(ps)
    if not bool(np.all((ps == np.clip(ps, 0.0, 1.0)) | nan)):
        raise ValueError("p-values must be numbers between 0 and 1 (or NaN for no test)")
    if ps.ndim == 0:
        return ps[()]
    axis = int(axis)
    if ps.size <= 1 or ps.shape[axis] <= 1:
        return ps.copy()
    ps = np.moveaxis(ps, axis, -1)
    m = ps.shape[-1]
    order = np.argsort(ps, axis=-1)  # NaN last
    ps = np.take_along_axis(ps, order, axis=-1)  # a copy
    i = np.arange(1, m + 1, dtype=np.float64)
    if nan.any():  # per slice, m = its number of tests
        tests = (m - np.moveaxis(nan, axis, -1).sum(axis=-1, keepdims=True)).astype(np.float64)
        ps *= tests / i
        if method == "by":  # sum(1 / i) over each slice's own tests, as SciPy sums it
            c = {k: np.sum(1 / i[:k]) for k in np.unique(tests).astype(np.intp).tolist() if k > 0}
            ps *= np.array([c.get(int(k), 1.0) for k in tests.ravel()]).reshape(tests.shape)
        ps[..., ::-1] = np.fmin.accumulate(ps[..., ::-1], axis=-1)  # NaN (at the end) skipped
    else:
        ps *= m / i
        if method == "by":
            ps *= np.sum(1 / i)
        ps[..., ::-1] = np.minimum.accumulate(ps[..., ::-1], axis=-1)
    np.put_along_axis(ps, order, values=ps.copy(), axis=-1)
    ps = np.moveaxis(ps, -1, axis)
    return np.clip(ps, 0.0, 1.0)


# --------------------------------------------------------------------------- lazy view
class _ArrayFunction:
    """A NumPy array as a one-output block function (to give plain arrays the lazy API)."""

    def __init__(self, a: np.ndarray, name: str = "pvalue"):
        self.a = np.asarray(a, dtype=np.float64)
        if self.a.ndim != 2:
            raise ValueError(f"expected a 2-D array, got shape {self.a.shape}")
        self.names = (name,)
        self.shape = self.a.shape
        self.dtype = self.a.dtype

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        return {self.names[0]: self.a[np.ix_(rows, cols)]}


def as_view(obj: Any, name: str = "pvalue") -> LazyArray:
    """``obj`` as a :class:`~lazyact.array.LazyArray`: itself, ``obj[name]`` of an activity, or an array.

    Examples
    --------
    >>> as_view(np.full((2, 3), 0.5)).shape
    (2, 3)
    """
    if isinstance(obj, LazyArray):
        return obj
    view = getattr(obj, name, None)
    if isinstance(view, LazyArray):
        return view
    if isinstance(obj, (np.ndarray, list, tuple, pd.DataFrame)):
        labels = (obj.index, obj.columns) if isinstance(obj, pd.DataFrame) else (None, None)
        fn = _ArrayFunction(np.asarray(obj), name)
        return LazyArray(BlockStore(fn, cache_bytes=0), name, row_labels=labels[0], col_labels=labels[1])
    raise TypeError(f"expected a LazyActivity, a LazyArray or a 2-D array, got {type(obj).__name__}")


def read_full_axis(view: LazyArray, rows: np.ndarray | None, cols: np.ndarray | None, cache: bool = True) -> np.ndarray:
    """Dense ``view[rows][:, cols]`` (``None`` = all) computed through the view's store.

    ``cache=True`` reads through the store's cache (interactive use);
    ``cache=False`` streams the store's blocks without storing new ones (a
    sweep over many samples does not evict what is being looked at).
    """
    store = view.store
    if cache:
        return store.read(rows, cols, names=(view.name,))[view.name]
    n_rows = store.shape[0] if rows is None else len(rows)
    n_cols = store.shape[1] if cols is None else len(cols)
    out = np.empty((n_rows, n_cols), dtype=store.dtype)
    for rsl, csl, arrays in store.iter_blocks(names=(view.name,), rows=rows, cols=cols, cache=False,
                                              progress=False):
        out[rsl, csl] = arrays[view.name]
    return out


class QValueBlocks:
    """Block function of :func:`qvalue`: adjusted p-values for (protein rows, sample columns).

    For ``axis=0`` a call reads the p-values of *all* proteins for the
    requested columns (through the activity's cache), adjusts each column and
    returns the requested rows; for ``axis=1`` it reads *all* samples of the
    requested rows, adjusts each row and returns the requested columns -- through
    the activity's cache when those rows take at most a quarter of it, else
    streaming without filling it (a row of a huge atlas does not evict what is
    being looked at).

    Parameters
    ----------
    pvalue : LazyArray
        The p-values (proteins x samples).
    method : {"bh", "by"}
    axis : {0, 1}
    """

    names = ("qvalue",)

    def __init__(self, pvalue: LazyArray, method: str = "bh", axis: int = 0):
        self.pvalue = pvalue
        self.method = check_method(method)
        self.axis = check_axis(axis)
        self.shape = tuple(pvalue.shape)
        self.dtype = np.dtype(np.float64)
        self.token = f"qvalue-{self.method}-{self.axis}-{pvalue.store.token}-{pvalue.name}"
        p, m = self.shape
        if self.axis == 0:
            self.preferred_chunks = (max(1, p), max(1, min(m, pvalue.store.chunks[1])))
        else:  # full rows, about config.block_bytes per block
            rows = max(1, config.block_bytes // (9 * max(1, m)))
            self.preferred_chunks = (max(1, min(p, rows)), max(1, m))

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        if self.axis == 0:
            p = read_full_axis(self.pvalue, None, cols, cache=True)
            return {"qvalue": adjust(p, self.method, axis=0)[rows]}
        p = read_full_axis(self.pvalue, rows, None, cache=self._rows_fit_cache(len(rows)))
        return {"qvalue": adjust(p, self.method, axis=1)[:, cols]}

    def _rows_fit_cache(self, n_rows: int) -> bool:
        store = self.pvalue.store
        rc = store.chunks[0]
        allocated = -(-n_rows // rc) * rc * self.shape[1] * (store.dtype.itemsize * len(store.names) + 1)
        return 0 < allocated <= store.cache.max_bytes // 4


def qvalue(act: Any, method: str = "bh", axis: int = 0, *, chunks: tuple[int, int] | None = None,
           cache_bytes: int | None = None) -> LazyArray:
    """False-discovery-rate adjusted p-values of an activity, computed lazily.

    Parameters
    ----------
    act : LazyActivity, LazyArray or array_like
        An activity (its ``pvalue`` is adjusted), a lazy array of p-values, or a
        plain 2-D array of p-values (proteins x samples).
    method : {"bh", "by"}, default "bh"
        Benjamini–Hochberg, or Benjamini–Yekutieli (valid under any
        dependence between the tests, more conservative).
    axis : {0, 1}, default 0
        ``0``: adjust over the proteins within each sample (one family of tests
        per sample, e.g. per cell); ``1``: over the samples within each protein.
    chunks : (int, int), optional
        Block shape of the view's cache; default: whole columns (``axis=0``) or
        whole rows (``axis=1``).
    cache_bytes : int, optional
        Bound of the view's own block cache.

    Returns
    -------
    ActivityArray or LazyArray
        A read-only lazy proteins x samples array named ``"qvalue"``, of the type of
        the p-value view it adjusts (an ``ActivityArray`` for an activity), with the
        full NumPy-like API (indexing, ``.loc``, streaming reductions,
        ``as_numpy``); equal to ``scipy.stats.false_discovery_control(
        act.pvalue[:, :], axis=axis, method=method)``.

    Notes
    -----
    Each block reads the whole axis it adjusts over, so indexing one sample
    (``axis=0``) costs all proteins of that sample -- the same as the activity
    itself computes -- while one protein with ``axis=1`` costs that protein over
    *all* samples.  Permutation p-values are discrete (multiples of
    ``1 / (n_rand + 1)``), so q-values cannot go below ``m / (n_rand + 1)``
    divided by the rank; with few permutations and many tests use
    ``null="analytic"`` p-values or more permutations.

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> from scipy.stats import false_discovery_control
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((100, 6)), rng.standard_normal((100, 8))
    >>> act = lazyact.LazyActivity(lazyact.ridge.projection(X, 10.0), 50, Y)
    >>> q = qvalue(act)                      # nothing computed yet
    >>> q.shape, q[:, 2].shape
    ((6, 8), (6,))
    >>> bool(np.array_equal(q[:, :], false_discovery_control(act.pvalue[:, :], axis=0)))
    True
    """
    pv = as_view(act, "pvalue")
    fn = QValueBlocks(pv, method, axis)
    kwargs = {} if cache_bytes is None else {"cache_bytes": int(cache_bytes)}
    store = BlockStore(fn, chunks=chunks, threads=pv.store.threads, **kwargs)
    attrs = {**pv.attrs, "statistic": "qvalue", "fdr_method": fn.method, "fdr_axis": fn.axis}
    # the view's own type: an activity's statistic gives an ActivityArray, a plain array a LazyArray
    return type(pv)(store, "qvalue", row_labels=pv.row_labels, col_labels=pv.col_labels, attrs=attrs)
