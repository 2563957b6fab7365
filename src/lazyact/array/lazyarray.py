"""A read-only, NumPy-like 2-D view of one output of a :class:`BlockStore`."""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from .._optional import require
from . import config
from .blocks import BlockStore
from .config import format_bytes
from .indexing import IndexPlan, plan_index, plan_oindex
from .labels import unknown_label_message
from .reduce import normalise_axis
from .reduce import reduce as _reduce

__all__ = ["LazyArray", "ArrayTooLargeError"]


class ArrayTooLargeError(MemoryError):
    """Materialising (part of) a lazy array would exceed the allowed size.

    Raised by ``as_numpy``, indexing and NumPy ufuncs above
    :data:`lazyact.array.config.max_materialise_bytes`; the message says how to select
    less or raise the bound.
    """


# --------------------------------------------------------------------------- helpers
def _as_labels(labels: Any, n: int, what: str) -> pd.Index | None:
    if labels is None:
        return None
    index = labels if isinstance(labels, pd.Index) else pd.Index(labels)
    if len(index) != n:
        raise ValueError(f"{what} has {len(index)} entries, expected {n}")
    return index


def _labels_to_positions(index: pd.Index, key: Any, axis: int, what: str = "label") -> Any:
    """A pandas ``.loc`` key for one axis as a positional (orthogonal) key (``what``: the labels' name)."""
    if isinstance(key, slice):
        if key == slice(None):
            return key
        return index.slice_indexer(key.start, key.stop, key.step)
    if pd.api.types.is_scalar(key) or (isinstance(key, tuple) and isinstance(index, pd.MultiIndex)):
        try:
            loc = index.get_loc(key)
        except KeyError:
            raise KeyError(unknown_label_message(key, index, what)) from None
        if isinstance(loc, (int, np.integer)):
            return int(loc)
        return loc  # slice or boolean mask for a repeated label: keeps the axis
    if isinstance(key, (pd.Series, pd.Index)):
        key = key.to_numpy()
    arr = np.asarray(key)
    if arr.dtype == np.bool_:
        if arr.ndim != 1 or arr.shape[0] != len(index):
            raise IndexError(
                f"Boolean index has wrong length: {arr.shape[0] if arr.ndim else 0} instead of {len(index)}"
            )
        return arr
    if arr.ndim != 1:
        raise KeyError(f"labels for axis {axis} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.intp)
    if index.is_unique:
        indexer = index.get_indexer(arr)
        missing = indexer < 0
    else:
        indexer, missing_pos = index.get_indexer_non_unique(arr)
        missing = np.zeros(arr.size, dtype=bool)
        missing[missing_pos] = True
        indexer = indexer[indexer >= 0]
    if missing.any():
        first = arr[missing][0]
        raise KeyError(f"{arr[missing].tolist()} not in index: {unknown_label_message(first, index, what)}")
    return indexer.astype(np.intp)


def _materialise(obj: Any) -> Any:
    if isinstance(obj, LazyArray):
        return obj.as_numpy()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    return obj


def _signature(func: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # pragma: no cover
        return None


_REDUCTION_FUNCS: dict[Callable, str] = {
    np.sum: "sum", np.mean: "mean", np.var: "var", np.std: "std",
    np.min: "min", np.max: "max", np.amin: "min", np.amax: "max",
    np.nansum: "nansum", np.nanmean: "nanmean", np.nanvar: "nanvar", np.nanstd: "nanstd",
    np.nanmin: "nanmin", np.nanmax: "nanmax",
}  # fmt: skip


class _OIndexer:
    def __init__(self, array: LazyArray) -> None:
        self._array = array

    def __getitem__(self, key: Any) -> Any:
        return self._array._compute(plan_oindex(key, self._array.shape))


class _LocIndexer:
    def __init__(self, array: LazyArray) -> None:
        self._array = array

    def __getitem__(self, key: Any) -> Any:
        a = self._array
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > 2:
            raise IndexError(f"too many indexers: .loc takes (row_labels, col_labels), got {len(key)}")
        key = key + (slice(None),) * (2 - len(key))
        rows = a.row_labels if a.row_labels is not None else pd.RangeIndex(a.shape[0])
        cols = a.col_labels if a.col_labels is not None else pd.RangeIndex(a.shape[1])
        pos = (_labels_to_positions(rows, key[0], 0, a.axis_names[0]),
               _labels_to_positions(cols, key[1], 1, a.axis_names[1]))
        return a._compute(plan_oindex(pos, a.shape))


def _operator(ufunc: np.ufunc, reflected: bool = False) -> Callable:
    """``view <op> other`` as the NumPy ufunc (materialised within the memory bound)."""
    if ufunc.nin == 1:
        def op(self: LazyArray) -> Any:
            return ufunc(self)
    elif reflected:
        def op(self: LazyArray, other: Any) -> Any:
            return ufunc(other, self)
    else:
        def op(self: LazyArray, other: Any) -> Any:
            return ufunc(self, other)

    op.__name__ = f"__{'r' if reflected else ''}{ufunc.__name__}__"
    return op


def _bound() -> int:
    return int(config.max_materialise_bytes)


# --------------------------------------------------------------------------- LazyArray
class LazyArray:
    """Read-only 2-D NumPy-like view of one output of a :class:`BlockStore`.

    Nothing is computed until values are asked for; indexing computes only the rows
    and columns the key touches (through the store's cache), reductions stream over
    the blocks.

    Parameters
    ----------
    store : BlockStore
        Computes (and caches) the values.
    name : str
        Which output of the store this view shows.
    row_labels, col_labels : pandas.Index or sequence, optional
        Labels for ``.loc`` (positions when absent).
    attrs : dict, optional
        Free metadata.

    Notes
    -----
    * ``view[key]`` follows NumPy's indexing semantics exactly (result shape, dtype,
      NumPy scalars for full integer keys, ``IndexError`` where NumPy raises it) and
      returns fresh ``numpy.ndarray`` objects. ``view.oindex[r, c]`` selects rows and
      columns independently (``a[np.ix_(r, c)]``); ``view.loc[r, c]`` does the same
      by label, with pandas' label rules (inclusive label slices, ``KeyError``).
    * Pointwise keys (index arrays on both axes, ``view[[0, 5], [3, 9]]``, or a 2-D
      mask) compute only the grid blocks that hold their points.
    * Indexing (``view[key]``, ``.loc``, ``.oindex``), :meth:`as_numpy` and ufuncs
      refuse, with :class:`ArrayTooLargeError`, to materialise more than
      :data:`lazyact.array.config.max_materialise_bytes` (2 GiB): select less, or
      raise the bound (``lazyact.array.config.max_materialise_bytes = 8 * 2**30``), or
      materialise everything with ``view.as_numpy(force=True)``. Long work shows a
      progress bar (see :meth:`~lazyact.array.blocks.BlockStore.progress_bar`).
    * ``np.mean/std/var/min/max/sum`` (``amin``/``amax`` and the ``nan`` variants)
      stream over the blocks; ``np.shape/ndim/size/result_type`` use metadata. Any
      other NumPy function materialises its LazyArray arguments with
      :meth:`as_numpy` and calls NumPy on them.
    * ufuncs and operators (``np.abs(view)``, ``-view``, ``view > 2``, ``view * 10``)
      materialise the view (within the memory bound) and return NumPy arrays; on a
      larger view, slice first (``np.abs(view[:, :1000])``) or reduce.
    * ``view.T`` is a lazy transposed view (nothing computed).

    Examples
    --------
    >>> import numpy as np
    >>> from lazyact.array import BlockStore, LazyArray
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (4, 6), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 10.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> x = LazyArray(BlockStore(Grid(), chunks=(2, 3)), "x", row_labels=list("abcd"))
    >>> x[1:3, ::2]
    array([[10., 12., 14.],
           [20., 22., 24.]])
    >>> x[-1, -1], x.loc["b", 5], float(x.mean())
    (np.float64(35.0), np.float64(15.0), 17.5)
    """

    #: What the row and column labels are, for messages (``unknown row 'e'; did you mean ...``).
    axis_names: tuple[str, str] = ("row", "column")
    #: Whether this view shows the store's output transposed (``view.T``).
    transposed: bool = False

    def __init__(
        self,
        store: BlockStore,
        name: str,
        row_labels: pd.Index | None = None,
        col_labels: pd.Index | None = None,
        attrs: dict | None = None,
        *,
        transposed: bool = False,
    ) -> None:
        if name not in store.names:
            raise KeyError(f"{name!r} is not an output of the store; available: {list(store.names)}")
        self.store = store
        self.name = name
        self.transposed = bool(transposed)
        self.row_labels = _as_labels(row_labels, self.shape[0], "row_labels")
        self.col_labels = _as_labels(col_labels, self.shape[1], "col_labels")
        self.attrs: dict = dict(attrs or {})

    # -- metadata
    @property
    def shape(self) -> tuple[int, int]:
        n0, n1 = self.store.shape
        return (n1, n0) if self.transposed else (n0, n1)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype:
        return self.store.dtype

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def chunks(self) -> tuple[int, int]:
        """Chunk shape of the store's grid (like ``h5py.Dataset.chunks``)."""
        c0, c1 = self.store.chunks
        return (c1, c0) if self.transposed else (c0, c1)

    @property
    def T(self) -> LazyArray:
        """The transposed view (lazy: nothing is computed), like ``ndarray.T``.

        Examples
        --------
        >>> import numpy as np
        >>> from lazyact.array import BlockStore, LazyArray
        >>> class Grid:
        ...     names, shape, dtype = ("x",), (2, 3), np.dtype("f8")
        ...     def __call__(self, rows, cols):
        ...         return {"x": rows[:, None] * 10.0 + cols[None, :]}
        >>> t = LazyArray(BlockStore(Grid()), "x", row_labels=["a", "b"]).T
        >>> t.shape, t[2], t.loc[1, "b"]
        ((3, 2), array([ 2., 12.]), np.float64(11.0))
        """
        return LazyArray(self.store, self.name, row_labels=self.col_labels, col_labels=self.row_labels,
                         attrs=self.attrs, transposed=not self.transposed)

    def __len__(self) -> int:
        return self.shape[0]

    def _repr_fields(self) -> list[str]:
        n0, n1 = self.shape
        return [
            f"{n0:,} x {n1:,}",
            str(self.dtype),
            f"chunks {self.chunks}",
            f"{self.store.cached_fraction():.1%} cached",
        ]

    def __repr__(self) -> str:
        t = ".T" if self.transposed else ""
        return f"<{type(self).__name__} {self.name!r}{t}: " + ", ".join(self._repr_fields()) + ">"

    def __dask_tokenize__(self) -> tuple:
        return (type(self).__module__, type(self).__qualname__, self.store.token, self.name, self.transposed)

    # -- the memory bound
    def _fitting_key(self, limit: int) -> str:
        """An example key whose result fits in ``limit`` bytes (for messages)."""
        n0, n1 = self.shape
        item = self.dtype.itemsize
        cols = limit // max(1, n0 * item)
        if cols >= 1:
            return f"view[:, :{min(cols, n1, 1000)}]"
        rows = limit // max(1, n1 * item)
        if rows >= 1:
            return f"view[:{min(rows, n0, 1000)}]"
        return f"view[:1, :{max(1, limit // item)}]"

    def _too_large(self, what: str, nbytes: int, limit: int, whole: bool = False) -> ArrayTooLargeError:
        gib = max(1, math.ceil(nbytes / 2**30))
        force = ("as_numpy(force=True) / as_numpy(max_bytes=...)" if whole
                 else "view.as_numpy(force=True) for the whole array")
        return ArrayTooLargeError(
            f"{what} of {type(self).__name__} {self.name!r} (shape {self.shape}, {self.dtype}) would "
            f"materialise {format_bytes(nbytes)}, more than the bound of {format_bytes(limit)} "
            f"(lazyact.array.config.max_materialise_bytes). Select less first (e.g. {self._fitting_key(limit)}"
            f" or view.loc[labels]), reduce it (e.g. view.mean(axis=1)), stream it to disk block by block "
            f"(to_hdf5, where available), or raise the bound: lazyact.array.config.max_materialise_bytes = "
            f"{gib} * 2**30 (or {force})."
        )

    # -- indexing
    def _read(self, rows: np.ndarray, cols: np.ndarray, desc: str) -> np.ndarray:
        """rows x cols of this view (through the store's cache)."""
        if self.transposed:
            return self.store.read(cols, rows, names=(self.name,), desc=desc)[self.name].T
        return self.store.read(rows, cols, names=(self.name,), desc=desc)[self.name]

    def _compute(self, plan: IndexPlan) -> Any:
        if 0 in plan.shape:
            return np.empty(plan.shape, dtype=self.dtype)
        limit, item, desc = _bound(), self.dtype.itemsize, f"{self.name}[...]"
        if plan.points is not None:
            pr, pc = plan.points[::-1] if self.transposed else plan.points
            groups = self.store.point_blocks(pr, pc)
            # per block, or the rectangle when the blocks would compute no fewer cells
            held = pr.size if groups[1] < plan.ncells else plan.ncells
            if max(plan.nresult, held) * item > limit:
                raise self._too_large("indexing", max(plan.nresult, held) * item, limit)
            values = self.store.read_points(pr, pc, names=(self.name,), desc=desc, groups=groups)[self.name]
            return plan.apply_points(values)
        if max(plan.nresult, plan.ncells) * item > limit:
            raise self._too_large("indexing", max(plan.nresult, plan.ncells) * item, limit)
        return plan.apply(self._read(plan.rows, plan.cols, desc))

    def __getitem__(self, key: Any) -> Any:
        return self._compute(plan_index(key, self.shape))

    @property
    def oindex(self) -> _OIndexer:
        """Orthogonal selection: ``view.oindex[rows, cols]`` == ``a[np.ix_(rows, cols)]``.

        Each axis takes an int, a slice, a 1-D int array/list/range or a boolean mask.
        """
        return _OIndexer(self)

    @property
    def loc(self) -> _LocIndexer:
        """Selection by label: ``view.loc[row_labels, col_labels]`` (pandas rules).

        Scalar labels drop the axis; lists of labels, inclusive label slices and boolean
        masks keep it; unknown labels raise ``KeyError``. Returns NumPy values.
        """
        return _LocIndexer(self)

    def __iter__(self) -> Iterator[np.ndarray]:
        n0, n1 = self.shape
        rc = self.chunks[0]
        band = max(1, min(rc, config.iter_bytes // max(1, n1 * self.dtype.itemsize)))
        for r0 in range(0, n0, rc):
            r1 = min(n0, r0 + rc)
            for s in range(r0, r1, band):
                yield from self[s : min(r1, s + band)]

    # -- materialisation
    def as_numpy(self, max_bytes: int | None = None, force: bool = False, progress: bool | None = None) -> np.ndarray:
        """Compute the whole array as a NumPy array, refusing oversized results.

        Parameters
        ----------
        max_bytes : int, optional
            Refuse results larger than this (default
            :data:`lazyact.array.config.max_materialise_bytes`, 2 GiB).
        force : bool
            Materialise whatever the size.
        progress : bool, optional
            Progress bar (None: automatic).

        Raises
        ------
        ArrayTooLargeError
            (a ``MemoryError``) when the result would exceed ``max_bytes``.
        """
        limit = _bound() if max_bytes is None else int(max_bytes)
        if self.nbytes > limit and not force:
            raise self._too_large("as_numpy()", self.nbytes, limit, whole=True)
        out = np.empty(self.shape, dtype=self.dtype)
        target = out.T if self.transposed else out  # in the store's orientation
        store = self.store
        fits = store.cacheable and self.size * store.bytes_per_cell <= store.cache.max_bytes
        for rsl, csl, arrays in store.iter_blocks(
            names=(self.name,), cache=fits, progress=progress, desc=f"{self.name} as numpy"
        ):
            target[rsl, csl] = arrays[self.name]
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError(
                f"a {type(self).__name__} is computed, so converting it to NumPy always makes a "
                "copy; use np.asarray(view) or np.array(view) (copy=None/True)"
            )
        arr = self.as_numpy()
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return arr

    def to_dask(self, chunks: Any = None, name: str | None = None) -> Any:
        """A dask array whose tasks compute blocks of this view (needs ``dask``).

        ``chunks`` defaults to the store's chunks. The view pickles without its cache,
        so the graph runs on a ``dask.distributed`` cluster when the block function is
        picklable.
        """
        da = require("dask.array", "to_dask()")
        kwargs: dict[str, Any] = {} if name is None else {"name": name}
        return da.from_array(
            self, chunks=self.chunks if chunks is None else chunks, asarray=False,
            meta=np.empty((0, 0), dtype=self.dtype), **kwargs,
        )  # fmt: skip

    # -- NumPy protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """Elementwise NumPy (``np.abs(view)``, ``view > 2``): materialise, then apply.

        The lazy inputs are materialised together only within
        :data:`lazyact.array.config.max_materialise_bytes`; above it
        :class:`ArrayTooLargeError` says how to slice first.
        """
        name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        out = kwargs.get("out", ())
        if any(isinstance(o, LazyArray) for o in (out if isinstance(out, tuple) else (out,))):
            raise TypeError(f"{name}: a {type(self).__name__} is read-only, it cannot be out=")
        lazy = [x for x in (*inputs, *kwargs.values()) if isinstance(x, LazyArray)]
        nbytes, limit = sum(x.nbytes for x in lazy), _bound()
        if nbytes > limit:
            big = max(lazy, key=lambda x: x.nbytes)
            raise big._too_large(name, nbytes, limit)
        inputs = tuple(x.as_numpy(force=True) if isinstance(x, LazyArray) else x for x in inputs)
        kwargs = {k: (v.as_numpy(force=True) if isinstance(v, LazyArray) else v) for k, v in kwargs.items()}
        return getattr(ufunc, method)(*inputs, **kwargs)

    __add__, __radd__ = _operator(np.add), _operator(np.add, True)
    __sub__, __rsub__ = _operator(np.subtract), _operator(np.subtract, True)
    __mul__, __rmul__ = _operator(np.multiply), _operator(np.multiply, True)
    __truediv__, __rtruediv__ = _operator(np.true_divide), _operator(np.true_divide, True)
    __floordiv__, __rfloordiv__ = _operator(np.floor_divide), _operator(np.floor_divide, True)
    __mod__, __rmod__ = _operator(np.remainder), _operator(np.remainder, True)
    __pow__, __rpow__ = _operator(np.power), _operator(np.power, True)
    __matmul__, __rmatmul__ = _operator(np.matmul), _operator(np.matmul, True)
    __lt__, __le__ = _operator(np.less), _operator(np.less_equal)
    __gt__, __ge__ = _operator(np.greater), _operator(np.greater_equal)
    __eq__, __ne__ = _operator(np.equal), _operator(np.not_equal)  # type: ignore[assignment]
    __neg__, __pos__, __abs__ = _operator(np.negative), _operator(np.positive), _operator(np.absolute)
    __invert__ = _operator(np.invert)
    __hash__ = object.__hash__  # views stay hashable (by identity), as before ``==`` became elementwise

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        op = _REDUCTION_FUNCS.get(func)
        if op is not None and args and args[0] is self:
            result = self._dispatch_reduction(func, op, args, kwargs)
            if result is not NotImplemented:
                return result
        if func is np.shape:
            return self.shape
        if func is np.ndim:
            return self.ndim
        if func is np.size:
            axis = args[1] if len(args) > 1 else kwargs.get("axis")
            return self.size if axis is None else self.shape[axis]
        if func is np.result_type:
            return np.result_type(*(a.dtype if isinstance(a, LazyArray) else a for a in args))
        return func(*_materialise(args), **_materialise(kwargs))

    def _dispatch_reduction(self, func: Callable, op: str, args: tuple, kwargs: dict) -> Any:
        sig = _signature(func)
        if sig is None:  # pragma: no cover
            return NotImplemented
        try:
            bound = sig.bind(*args, **kwargs).arguments
        except TypeError:
            return NotImplemented
        bound = dict(bound)
        bound.pop(next(iter(sig.parameters)))  # the array
        if "where" in bound and bound["where"] is not True:
            return NotImplemented
        bound.pop("where", None)
        if "initial" in bound or "mean" in bound:
            return NotImplemented
        if "correction" in bound:
            bound["ddof"] = bound.pop("correction")
        bound = {k: v for k, v in bound.items() if v is not np._NoValue}
        return self._reduce(op, **bound)

    # -- reductions (one streaming pass over the blocks; see lazyact.array.reduce)
    def _reduce(self, op: str, axis: Any = None, **kwargs: Any) -> Any:
        if not self.transposed:
            return _reduce(self.store, self.name, op, axis, **kwargs)
        ax = normalise_axis(axis)
        out = kwargs.pop("out", None)
        res = _reduce(self.store, self.name, op, None if ax is None else 1 - ax, **kwargs)
        if np.ndim(res) == 2:  # keepdims
            res = res.T
        if out is None:
            return res
        out[...] = res
        return out

    def sum(self, axis: Any = None, *, keepdims: bool = False, dtype: Any = None, out: Any = None,
            progress: bool | None = None) -> Any:
        """Sum over ``axis`` (None: all, 0: per column, 1: per row), like ``np.sum``."""
        return self._reduce("sum", axis, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def mean(self, axis: Any = None, *, keepdims: bool = False, dtype: Any = None, out: Any = None,
             progress: bool | None = None) -> Any:
        """Mean over ``axis``, like ``np.mean``."""
        return self._reduce("mean", axis, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def var(self, axis: Any = None, *, ddof: float = 0, keepdims: bool = False, dtype: Any = None,
            out: Any = None, progress: bool | None = None) -> Any:
        """Variance over ``axis`` (mergeable moments), like ``np.var``."""
        return self._reduce("var", axis, ddof=ddof, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def std(self, axis: Any = None, *, ddof: float = 0, keepdims: bool = False, dtype: Any = None,
            out: Any = None, progress: bool | None = None) -> Any:
        """Standard deviation over ``axis`` (mergeable moments), like ``np.std``."""
        return self._reduce("std", axis, ddof=ddof, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def min(self, axis: Any = None, *, keepdims: bool = False, out: Any = None, progress: bool | None = None) -> Any:
        """Minimum over ``axis`` (NaN propagates), like ``np.min``."""
        return self._reduce("min", axis, keepdims=keepdims, out=out, progress=progress)

    def max(self, axis: Any = None, *, keepdims: bool = False, out: Any = None, progress: bool | None = None) -> Any:
        """Maximum over ``axis`` (NaN propagates), like ``np.max``."""
        return self._reduce("max", axis, keepdims=keepdims, out=out, progress=progress)

    def nansum(self, axis: Any = None, *, keepdims: bool = False, dtype: Any = None, out: Any = None,
               progress: bool | None = None) -> Any:
        """Sum ignoring NaNs, like ``np.nansum``."""
        return self._reduce("nansum", axis, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def nanmean(self, axis: Any = None, *, keepdims: bool = False, dtype: Any = None, out: Any = None,
                progress: bool | None = None) -> Any:
        """Mean ignoring NaNs, like ``np.nanmean``."""
        return self._reduce("nanmean", axis, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def nanvar(self, axis: Any = None, *, ddof: float = 0, keepdims: bool = False, dtype: Any = None,
               out: Any = None, progress: bool | None = None) -> Any:
        """Variance ignoring NaNs, like ``np.nanvar``."""
        return self._reduce("nanvar", axis, ddof=ddof, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def nanstd(self, axis: Any = None, *, ddof: float = 0, keepdims: bool = False, dtype: Any = None,
               out: Any = None, progress: bool | None = None) -> Any:
        """Standard deviation ignoring NaNs, like ``np.nanstd``."""
        return self._reduce("nanstd", axis, ddof=ddof, keepdims=keepdims, dtype=dtype, out=out, progress=progress)

    def nanmin(self, axis: Any = None, *, keepdims: bool = False, out: Any = None, progress: bool | None = None) -> Any:
        """Minimum ignoring NaNs, like ``np.nanmin``."""
        return self._reduce("nanmin", axis, keepdims=keepdims, out=out, progress=progress)

    def nanmax(self, axis: Any = None, *, keepdims: bool = False, out: Any = None, progress: bool | None = None) -> Any:
        """Maximum ignoring NaNs, like ``np.nanmax``."""
        return self._reduce("nanmax", axis, keepdims=keepdims, out=out, progress=progress)
