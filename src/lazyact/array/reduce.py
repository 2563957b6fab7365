"""Mergeable streaming reductions over a :class:`~lazyact.array.blocks.BlockStore`.

One pass over :meth:`BlockStore.iter_blocks`: each block is reduced in a worker thread
to partial statistics per output position (count, sum, mean and M2, min, max), which
are merged in grid order in the calling thread -- sums are added, moments combined with
Chan et al.'s pairwise formula, extrema with ``minimum``/``fmin``. Memory is bounded by
the blocks in flight plus the 1-D accumulators; the result equals NumPy on the
materialised array to float64 rounding and is deterministic.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from .blocks import BlockStore

__all__ = ["REDUCTIONS", "MOMENTS", "Accumulator", "partial_statistics", "sum_dtype_for", "reduce", "reduce_many",
           "summary", "normalise_axis"]

#: Supported reduction names.
REDUCTIONS = (
    "sum", "mean", "var", "std", "min", "max",
    "nansum", "nanmean", "nanvar", "nanstd", "nanmin", "nanmax",
)  # fmt: skip

#: The per-row (or per-column) moments :func:`summary` gives, in this order.
MOMENTS = ("mean", "std", "min", "max")

_KINDS = {
    "sum": {"sum"},
    "mean": {"sum"},
    "var": {"moments"},
    "std": {"moments"},
    "min": {"min"},
    "max": {"max"},
}

try:  # NumPy >= 2
    from numpy.lib.array_utils import normalize_axis_tuple as _normalize_axis_tuple
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.numeric import normalize_axis_tuple as _normalize_axis_tuple  # type: ignore


def normalise_axis(axis: Any, ndim: int = 2) -> int | None:
    """``None``, ``0`` or ``1`` for a NumPy ``axis`` argument of a 2-D array.

    Negative axes and tuples are accepted; out-of-range axes raise NumPy's ``AxisError``.

    Examples
    --------
    >>> normalise_axis(-1), normalise_axis((1, 0)), normalise_axis((0,))
    (1, None, 0)
    """
    if axis is None:
        return None
    axes = _normalize_axis_tuple(axis, ndim)
    if len(axes) == ndim:
        return None
    return axes[0]


def _split(op: str) -> tuple[str, bool]:
    if op not in REDUCTIONS:
        raise ValueError(f"unknown reduction {op!r}; choose one of {REDUCTIONS}")
    return (op[3:], True) if op.startswith("nan") else (op, False)


def _result_dtype(op: str, dtype: np.dtype) -> np.dtype:
    with np.errstate(all="ignore"):
        return getattr(np, op)(np.ones((1, 1), dtype), axis=0).dtype


# --------------------------------------------------------------------------- partials
def partial_statistics(x: np.ndarray, kinds: set[str], axis: int | None, skipna: bool,
                       sum_dtype: np.dtype) -> dict[str, np.ndarray]:
    """Reduce one 2-D block to partial statistics per kept position (runs in a worker).

    Parameters
    ----------
    x : numpy.ndarray
        The block.
    kinds : set of {"sum", "moments", "min", "max"}
        What to keep besides the count (``"moments"``: mean and M2).
    axis : None, 0 or 1
        The reduced axis (None: all cells, one position).
    skipna : bool
        Ignore NaNs.
    sum_dtype : numpy.dtype
        Accumulation dtype of ``"sum"`` (see :func:`sum_dtype_for`).

    Returns
    -------
    dict
        ``count`` and the requested statistics, one value per kept position; merge them
        with :meth:`Accumulator.merge`.

    Examples
    --------
    >>> p = partial_statistics(np.array([[1.0, 3.0], [2.0, 6.0]]), {"sum", "max"}, 1, False, np.dtype("f8"))
    >>> p["count"].tolist(), p["sum"].tolist(), p["max"].tolist()
    ([2, 2], [4.0, 8.0], [3.0, 6.0])
    """
    if axis is None:
        x, ax = x.reshape(1, -1), 1
    else:
        ax = axis
    nan_aware = skipna and x.dtype.kind in "fc"
    p: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        if nan_aware:
            valid = ~np.isnan(x)
            count = valid.sum(axis=ax, dtype=np.int64)
            xz = np.where(valid, x, 0)
        else:
            valid = None
            count = np.full(x.shape[1 - ax], x.shape[ax], dtype=np.int64)
            xz = x
        p["count"] = count
        if "sum" in kinds:
            p["sum"] = xz.sum(axis=ax, dtype=sum_dtype)
        if "moments" in kinds:
            xf = xz.astype(np.float64, copy=False)
            s = xf.sum(axis=ax)
            mean = np.divide(s, count, out=np.zeros_like(s), where=count > 0)
            dev = xf - (mean[:, None] if ax == 1 else mean[None, :])
            if valid is not None:
                dev = np.where(valid, dev, 0.0)
            p["mean"] = mean
            np.multiply(dev, dev, out=dev)
            p["m2"] = dev.sum(axis=ax)
        if "min" in kinds:
            p["min"] = np.fmin.reduce(x, axis=ax) if nan_aware else np.min(x, axis=ax)
        if "max" in kinds:
            p["max"] = np.fmax.reduce(x, axis=ax) if nan_aware else np.max(x, axis=ax)
    return p


class Accumulator:
    """Merged statistics of one output over the positions of the kept axis.

    Partial statistics of disjoint blocks (:func:`partial_statistics`) are merged in
    any grid order: sums are added, moments combined with Chan et al.'s pairwise
    formula, extrema with ``minimum``/``fmin``.

    Parameters
    ----------
    length : int
        Number of kept positions (rows for ``axis=1``).
    kinds : set of {"sum", "moments", "min", "max"}
    skipna : bool
        Ignore NaNs.
    dtype : numpy.dtype
        dtype of the data (of the extrema).
    sum_dtype : numpy.dtype
        Accumulation dtype of the sums (see :func:`sum_dtype_for`).

    Examples
    --------
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> acc = Accumulator(3, {"sum", "moments", "max"}, False, x.dtype, sum_dtype_for(x.dtype))
    >>> acc.add(x[:, :1]); acc.add(x[:, 1:])
    >>> acc.mean_().tolist(), acc.var_(0).tolist(), acc.extreme("max").tolist()
    ([1.5, 5.5, 9.5], [1.25, 1.25, 1.25], [3.0, 7.0, 11.0])
    """

    def __init__(self, length: int, kinds: set[str], skipna: bool, dtype: np.dtype, sum_dtype: np.dtype) -> None:
        self.kinds = kinds
        self.sum_dtype = np.dtype(sum_dtype)
        self.skipna = skipna
        self.count = np.zeros(length, dtype=np.int64)
        if "sum" in kinds:
            self.sum = np.zeros(length, dtype=sum_dtype)
        if "moments" in kinds:
            self.mean = np.zeros(length, dtype=np.float64)
            self.m2 = np.zeros(length, dtype=np.float64)
        if kinds & {"min", "max"}:
            self.seen = np.zeros(length, dtype=bool)
        if "min" in kinds:
            self.min = np.zeros(length, dtype=dtype)
        if "max" in kinds:
            self.max = np.zeros(length, dtype=dtype)

    def add(self, block: np.ndarray, axis: int = 1, sl: slice = slice(None)) -> None:
        """Reduce ``block`` along ``axis`` and merge it into positions ``sl``."""
        self.merge(sl, partial_statistics(block, self.kinds, axis, self.skipna, self.sum_dtype))

    def merge(self, sl: slice, p: Mapping[str, np.ndarray]) -> None:
        """Merge the partial statistics ``p`` of a disjoint block into positions ``sl``."""
        na = self.count[sl]
        nb = p["count"]
        n = na + nb
        with np.errstate(all="ignore"):
            if "sum" in self.kinds:
                self.sum[sl] += p["sum"]
            if "moments" in self.kinds:
                # Chan, Golub & LeVeque: combine (n, mean, M2) of two disjoint sets.
                frac = np.divide(nb, n, out=np.zeros(n.shape), where=n > 0)
                delta = p["mean"] - self.mean[sl]
                self.mean[sl] += delta * frac
                self.m2[sl] += p["m2"] + delta * delta * (na * frac)
            if "min" in self.kinds or "max" in self.kinds:
                first = ~self.seen[sl]
                pick = np.fmin if self.skipna else np.minimum
                if "min" in self.kinds:
                    self.min[sl] = np.where(first, p["min"], pick(self.min[sl], p["min"]))
                pick = np.fmax if self.skipna else np.maximum
                if "max" in self.kinds:
                    self.max[sl] = np.where(first, p["max"], pick(self.max[sl], p["max"]))
                self.seen[sl] = True
        self.count[sl] = n

    # -- final statistics
    def mean_(self) -> np.ndarray:
        """Mean per position (warns on empty positions, like NumPy)."""
        if np.any(self.count == 0):
            warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=4)
        with np.errstate(all="ignore"):
            return self.sum / self.count

    def var_(self, ddof: float) -> np.ndarray:
        """Variance per position with ``ddof`` delta degrees of freedom."""
        dof = self.count - ddof
        if np.any(dof <= 0):
            warnings.warn("Degrees of freedom <= 0 for slice.", RuntimeWarning, stacklevel=4)
        with np.errstate(all="ignore"):
            if self.skipna:
                var = self.m2 / dof
                var[dof <= 0] = np.nan
            else:
                var = self.m2 / np.maximum(dof, 0)
        return var

    def extreme(self, kind: str) -> np.ndarray:
        """``"min"`` or ``"max"`` per position."""
        values = getattr(self, kind)
        if self.skipna and values.dtype.kind in "fc" and np.any(np.isnan(values)):
            warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=4)
        return values


def sum_dtype_for(dtype: np.dtype) -> np.dtype:
    """Accumulation dtype of sums of ``dtype`` data (float64 at least for floats, as NumPy's ``sum``).

    Examples
    --------
    >>> sum_dtype_for(np.dtype("f4")), sum_dtype_for(np.dtype("i2"))
    (dtype('float64'), dtype('int64'))
    """
    rd = _result_dtype("sum", dtype)
    return np.result_type(rd, np.float64) if rd.kind in "fc" else rd


def _run(
    store: BlockStore,
    spec: Mapping[str, set[str]],
    axis: int | None,
    skipna: bool,
    rows: Any,
    cols: Any,
    progress: bool | None,
    desc: str,
    length: int,
) -> dict[str, Accumulator]:
    sdt = sum_dtype_for(store.dtype)
    accs = {n: Accumulator(length, spec[n], skipna, store.dtype, sdt) for n in spec}

    def partials(arrays: Mapping[str, np.ndarray]) -> dict:
        return {n: partial_statistics(arrays[n], kinds, axis, skipna, sdt) for n, kinds in spec.items()}

    blocks = store.iter_blocks(
        names=tuple(spec), rows=rows, cols=cols, cache=False, progress=progress, transform=partials, desc=desc
    )
    for rsl, csl, parts in blocks:
        sl = slice(0, 1) if axis is None else (rsl if axis == 1 else csl)
        for name, p in parts.items():
            accs[name].merge(sl, p)
    return accs


def _selection_shape(store: BlockStore, rows: Any, cols: Any) -> tuple[int, int]:
    return (
        store.check_index(rows, 0).size if rows is not None else store.shape[0],
        store.check_index(cols, 1).size if cols is not None else store.shape[1],
    )


# --------------------------------------------------------------------------- public
def reduce(
    store: BlockStore,
    name: str,
    op: str,
    axis: Any = None,
    *,
    ddof: float = 0,
    keepdims: bool = False,
    dtype: Any = None,
    out: np.ndarray | None = None,
    progress: bool | None = None,
    rows: Any = None,
    cols: Any = None,
) -> Any:
    """Reduce output ``name`` of ``store`` in one streaming pass, like ``np.<op>``.

    Parameters
    ----------
    store : BlockStore
    name : str
        Output to reduce.
    op : str
        One of :data:`REDUCTIONS` (``"sum"``, ``"mean"``, ``"var"``, ``"std"``,
        ``"min"``, ``"max"`` and their ``"nan"`` variants).
    axis : None, int or tuple of int
        As in NumPy (``None``: all cells; ``0``: per column; ``1``: per row).
    ddof : float
        Delta degrees of freedom of ``var``/``std``.
    keepdims : bool
        Keep the reduced axes with length one.
    dtype : dtype, optional
        Result dtype (the computation is always done in float64 or int64).
    out : numpy.ndarray, optional
        Array to write the result into (returned).
    progress : bool, optional
        Progress bar (None: automatic on long work).
    rows, cols : numpy.ndarray or slice, optional
        Reduce only this sorted selection.

    Returns
    -------
    numpy scalar or numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> class Lin:
    ...     names, shape, dtype = ("v",), (6, 7), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         return {"v": rows[:, None] * 1.5 - cols[None, :] ** 2}
    >>> store = BlockStore(Lin(), chunks=(4, 3))
    >>> full = np.arange(6)[:, None] * 1.5 - np.arange(7)[None, :] ** 2
    >>> bool(np.allclose(reduce(store, "v", "std", axis=1, ddof=1), full.std(axis=1, ddof=1)))
    True
    """
    kind, skipna = _split(op)
    ax = normalise_axis(axis)
    shape = _selection_shape(store, rows, cols)
    if shape[0] * shape[1] == 0:  # NumPy's own semantics (NaN, warnings, errors) on empties
        kwargs: dict[str, Any] = {"axis": ax, "keepdims": keepdims, "out": out}
        if kind in ("var", "std"):
            kwargs["ddof"] = ddof
        if kind not in ("min", "max"):
            kwargs["dtype"] = dtype
        return getattr(np, op)(np.empty(shape, store.dtype), **kwargs)

    length = 1 if ax is None else shape[0] if ax == 1 else shape[1]
    spec = {name: set(_KINDS[kind])}
    desc = f"{op}({name}, axis={ax})"
    acc = _run(store, spec, ax, skipna, rows, cols, progress, desc, length)[name]
    res = _finish(acc, op, ax, ddof, keepdims, dtype, store.dtype)
    if out is not None:
        out[...] = res
        return out
    return res


def _finish(acc: Accumulator, op: str, ax: int | None, ddof: float, keepdims: bool, dtype: Any,
            store_dtype: np.dtype) -> Any:
    """The result of reduction ``op`` from its merged accumulator."""
    kind, _ = _split(op)
    if kind == "sum":
        res = acc.sum
    elif kind == "mean":
        res = acc.mean_()
    elif kind in ("var", "std"):
        res = acc.var_(ddof)
        if kind == "std":
            res = np.sqrt(res)
    else:
        res = acc.extreme(kind)

    res_dtype = np.dtype(dtype) if dtype is not None else _result_dtype(op, store_dtype)
    res = res.astype(res_dtype, copy=False)
    if keepdims:
        res = res.reshape((1, 1) if ax is None else (1, -1) if ax == 0 else (-1, 1))
    elif ax is None:
        res = res[0]
    return res


def reduce_many(
    store: BlockStore,
    ops: Mapping[str, str | Sequence[str]],
    axis: Any = None,
    *,
    ddof: float = 0,
    keepdims: bool = False,
    progress: bool | None = None,
    rows: Any = None,
    cols: Any = None,
) -> dict[str, dict[str, Any]]:
    """Several reductions of several outputs in ONE streaming pass over the blocks.

    Parameters
    ----------
    store : BlockStore
    ops : mapping of str to str or sequence of str
        ``{output: reduction or [reductions]}``, reductions among :data:`REDUCTIONS`; the
        NaN-skipping ones (``"nanmax"``...) and the others cannot be mixed in one call.
    axis, ddof, keepdims, progress, rows, cols
        As in :func:`reduce`.

    Returns
    -------
    dict
        ``{output: {reduction: result}}``, each result equal to :func:`reduce`'s.

    Examples
    --------
    >>> class Two:
    ...     names, shape, dtype = ("a", "b"), (3, 5), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         a = rows[:, None] + cols[None, :] * 0.5
    ...         return {"a": a, "b": -a}
    >>> store = BlockStore(Two(), chunks=(3, 2))
    >>> r = reduce_many(store, {"a": ["max", "mean"], "b": "min"}, axis=1)
    >>> r["a"]["max"].tolist(), r["b"]["min"].tolist(), store.stats.calls  # 3 column blocks, once each
    ([2.0, 3.0, 4.0], [-2.0, -3.0, -4.0], 3)
    """
    wanted = {n: ((o,) if isinstance(o, str) else tuple(o)) for n, o in ops.items()}
    store.check_names(tuple(wanted))
    flags = {_split(op)[1] for o in wanted.values() for op in o}
    if len(flags) > 1:
        raise ValueError("reduce_many: NaN-skipping reductions (nanmax, ...) and the others cannot share a pass; "
                         "make two calls")
    skipna = flags.pop() if flags else False
    ax = normalise_axis(axis)
    shape = _selection_shape(store, rows, cols)
    if shape[0] * shape[1] == 0:
        return {n: {op: reduce(store, n, op, ax, ddof=ddof, keepdims=keepdims, rows=rows, cols=cols) for op in o}
                for n, o in wanted.items()}
    spec = {n: set().union(*(_KINDS[_split(op)[0]] for op in o)) for n, o in wanted.items()}
    length = 1 if ax is None else shape[0] if ax == 1 else shape[1]
    accs = _run(store, spec, ax, skipna, rows, cols, progress, f"{sum(map(len, wanted.values()))} reductions", length)
    return {n: {op: _finish(accs[n], op, ax, ddof, keepdims, None, store.dtype) for op in o} for n, o in wanted.items()}


def summary(
    store: BlockStore,
    names: str | Sequence[str] | None = None,
    axis: Any = 1,
    *,
    ddof: float = 0,
    skipna: bool = False,
    progress: bool | None = None,
    rows: Any = None,
    cols: Any = None,
) -> dict[str, dict[str, Any]]:
    """Mean, std, min and max of several outputs at once, in one pass over the blocks.

    Parameters
    ----------
    store : BlockStore
    names : str or sequence of str, optional
        Outputs to summarise (default all).
    axis : None, 0 or 1
        ``1`` (default): one value per row; ``0``: per column; ``None``: scalars.
    ddof : float
        Delta degrees of freedom of the standard deviation.
    skipna : bool
        Ignore NaNs (``nanmean`` etc.).
    progress : bool, optional
        Progress bar (None: automatic).
    rows, cols : numpy.ndarray or slice, optional
        Summarise only this sorted selection.

    Returns
    -------
    dict
        ``{name: {"mean": ..., "std": ..., "min": ..., "max": ...}}``.

    Examples
    --------
    >>> import numpy as np
    >>> class Two:
    ...     names, shape, dtype = ("a", "b"), (3, 5), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         a = rows[:, None] + cols[None, :] * 0.5
    ...         return {"a": a, "b": 2 * a}
    >>> s = summary(BlockStore(Two(), chunks=(2, 2)), axis=1)
    >>> s["b"]["max"].tolist(), s["a"]["mean"].tolist()
    ([4.0, 6.0, 8.0], [1.0, 2.0, 3.0])
    """
    names = store.check_names(names)
    ax = normalise_axis(axis)
    shape = _selection_shape(store, rows, cols)
    prefix = "nan" if skipna else ""
    if shape[0] * shape[1] == 0:
        return {
            n: {
                s: reduce(store, n, prefix + s, ax, ddof=ddof, rows=rows, cols=cols)
                for s in MOMENTS
            }
            for n in names
        }
    length = 1 if ax is None else shape[0] if ax == 1 else shape[1]
    spec = {n: {"sum", "moments", "min", "max"} for n in names}
    accs = _run(store, spec, ax, skipna, rows, cols, progress, f"summary(axis={ax})", length)
    result: dict[str, dict[str, Any]] = {}
    for n, acc in accs.items():
        stats = {
            "mean": acc.mean_(),
            "std": np.sqrt(acc.var_(ddof)),
            "min": acc.extreme("min"),
            "max": acc.extreme("max"),
        }
        if ax is None:
            stats = {k: v[0] for k, v in stats.items()}
        result[n] = stats
    return result
