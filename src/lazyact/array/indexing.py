"""Index-key normalisation for lazy 2-D arrays.

A key (anything NumPy accepts in ``a[key]``) is turned into an :class:`IndexPlan`:

* ``rows`` / ``cols`` -- the sorted, unique ``intp`` row and column indices the key
  touches (the only cells that need computing), and
* ``post`` -- a NumPy key that, applied to the dense ``(len(rows), len(cols))`` array of
  those cells, gives exactly ``a[key]`` (values, shape, dtype, scalar-ness), and
* ``shape`` -- the result shape, and
* ``points`` -- for pointwise keys (index arrays on both axes, or a 2-D boolean mask),
  the distinct (row, col) points asked for: only the blocks holding them need
  computing, not the whole ``rows x cols`` rectangle (``post`` then applies to the
  ``(1, n_points)`` array of their values, see :meth:`IndexPlan.apply_points`).

Validation (out-of-range indices, too many indices, wrong boolean-mask shapes, index
arrays that do not broadcast, invalid index types) is delegated to NumPy itself by
indexing a zero-byte array of the same shape (``dtype=np.dtype([])``, itemsize 0), so
errors are NumPy's own, raised before anything is computed. Strings are refused first
with an ``IndexError`` that points to ``.loc`` (selection by name).

:func:`plan_oindex` does the same for orthogonal ("outer") indexing as in zarr's
``.oindex[...]``: each axis is indexed independently by an int, a slice, a 1-D int
array or a 1-D boolean mask.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["IndexPlan", "plan_index", "plan_oindex", "refuse_strings"]

_EMPTY_DTYPE = np.dtype([])  # itemsize 0: a "shape-only" array, no memory


@dataclass(frozen=True)
class IndexPlan:
    """What to compute for a key, and how to turn it into the result.

    Attributes
    ----------
    rows, cols : numpy.ndarray
        Sorted, unique ``intp`` indices of the rows and columns to compute.
    post : tuple or None
        NumPy key applied to the computed ``(len(rows), len(cols))`` array; ``None``
        means the computed array is the result as it is.
    shape : tuple of int
        Shape of the result (``()`` for a scalar).

    Examples
    --------
    >>> import numpy as np
    >>> p = plan_index((slice(None, None, -2), [3, 1, 3]), (5, 4))
    >>> p.rows.tolist(), p.cols.tolist(), p.shape
    ([0, 2, 4], [1, 3], (3, 3))
    >>> a = np.arange(20.0).reshape(5, 4)
    >>> bool(np.array_equal(p.apply(a[np.ix_(p.rows, p.cols)]), a[::-2, [3, 1, 3]]))
    True
    """

    rows: np.ndarray
    cols: np.ndarray
    post: tuple | None
    shape: tuple[int, ...]
    points: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def ncells(self) -> int:
        """Number of cells of the rectangle ``len(rows) * len(cols)``."""
        return int(self.rows.size) * int(self.cols.size)

    @property
    def nresult(self) -> int:
        """Number of elements of the result."""
        return int(np.prod(self.shape, dtype=np.int64))

    def apply(self, block: np.ndarray) -> Any:
        """Apply ``post`` to the computed ``(len(rows), len(cols))`` block."""
        if 0 in self.shape:  # nothing selected (NumPy does not even bounds-check then)
            return np.empty(self.shape, dtype=block.dtype)
        if self.points is not None:
            pr, pc = self.points
            return self.apply_points(block[np.searchsorted(self.rows, pr), np.searchsorted(self.cols, pc)])
        if self.post is None:
            return block
        return block[self.post]

    def apply_points(self, values: np.ndarray) -> Any:
        """The result of a pointwise plan from the values at ``points`` (1-D, in their order)."""
        if self.points is None:
            raise ValueError("apply_points needs a pointwise plan (points is None)")
        return values.reshape(1, -1)[self.post]


# --------------------------------------------------------------------------- helpers
def _is_bool_scalar(k: Any) -> bool:
    return isinstance(k, (bool, np.bool_)) or (
        isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype == np.bool_
    )


def _as_int(k: Any) -> int | None:
    """``k`` as a Python int if NumPy would treat it as an integer index, else None."""
    if isinstance(k, (bool, np.bool_)):
        return None
    if isinstance(k, (int, np.integer)):
        return int(k)
    if isinstance(k, np.ndarray):
        if k.ndim == 0 and np.issubdtype(k.dtype, np.integer):
            return int(k)
        return None
    if isinstance(k, (slice, list, tuple, range)) or k is None or k is Ellipsis:
        return None
    try:
        return operator.index(k)
    except TypeError:
        return None


def _as_index_array(k: Any) -> np.ndarray:
    """A non-scalar index as NumPy sees it (empty sequences are ``intp``)."""
    arr = np.asarray(k)
    if arr.dtype != np.bool_ and not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0:
            arr = arr.astype(np.intp)
    return arr


def _sorted_unique(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, positions of each input in them), for an int array."""
    flat = idx.reshape(-1)
    if flat.size == 0 or np.all(flat[1:] > flat[:-1]):
        return flat.astype(np.intp, copy=False), np.arange(flat.size, dtype=np.intp).reshape(idx.shape)
    uniq, inv = np.unique(flat, return_inverse=True)
    return uniq.astype(np.intp, copy=False), inv.astype(np.intp, copy=False).reshape(idx.shape)


def _slice_axis(s: slice, n: int) -> tuple[np.ndarray, slice]:
    start, stop, step = s.indices(n)
    r = np.arange(start, stop, step, dtype=np.intp)
    if step < 0 and r.size > 1:
        return r[::-1].copy(), slice(None, None, -1)
    return r, slice(None)


def _normalise_ints(arr: np.ndarray, n: int) -> np.ndarray:
    arr = arr.astype(np.intp, copy=False)
    if arr.size and arr.min() < 0:
        arr = np.where(arr < 0, arr + n, arr)
    return arr


def _kind(k: Any) -> str:
    """``"array"`` for a non-scalar index array (int or boolean), else ``"other"``."""
    if k is None or k is Ellipsis or isinstance(k, slice) or _is_bool_scalar(k) or _as_int(k) is not None:
        return "other"
    return "array"


def _axes_consumed(k: Any) -> int:
    if k is None or k is Ellipsis or _is_bool_scalar(k):
        return 0
    if isinstance(k, slice) or _as_int(k) is not None:
        return 1
    arr = _as_index_array(k)
    return arr.ndim if arr.dtype == np.bool_ else 1


def _identity_post(post: list, ndim_in: int) -> bool:
    return len(post) == ndim_in and all(isinstance(p, slice) and p == slice(None) for p in post)


def _string_in(key: Any) -> Any:
    """The first string (or bytes) label in a key, or None."""
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, (str, bytes)):
            return k
        if isinstance(k, (list, np.ndarray)):
            arr = np.asarray(k, dtype=object) if isinstance(k, list) else k
            if arr.dtype.kind in "USO" and arr.size:
                found = next((x for x in arr.flat if isinstance(x, (str, bytes, np.str_, np.bytes_))), None)
                if found is not None:
                    return found
    return None


def refuse_strings(key: Any) -> None:
    """Raise ``IndexError`` for string labels in a positional key, pointing to ``.loc``.

    Examples
    --------
    >>> refuse_strings((0, "IL6"))
    Traceback (most recent call last):
    ...
    IndexError: positional indexing got the label 'IL6': select by name with .loc, e.g. view.loc['IL6'] (a row) or view.loc[:, 'IL6'] (a column)
    """
    label = _string_in(key)
    if label is not None:
        label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
        raise IndexError(
            f"positional indexing got the label {label!r}: select by name with .loc, e.g. "
            f"view.loc[{label!r}] (a row) or view.loc[:, {label!r}] (a column)"
        )


def _point_plan(comps: list, kinds: list, shape: tuple[int, int], result_shape: tuple) -> IndexPlan:
    """The plan of a key whose index arrays cover both axes: NumPy pairs them into points."""
    arrays: list[np.ndarray] = []
    post: list[Any] = []
    slots: list[int] = []  # position in post of each axis array
    for k, kind in zip(comps, kinds):
        if kind == "array":
            arr = _as_index_array(k)
            parts = arr.nonzero() if arr.dtype == np.bool_ else (arr,)
            for part in parts:
                arrays.append(_normalise_ints(np.asarray(part), shape[len(arrays)]))
                slots.append(len(post))
                post.append(None)
        else:
            post.append(k)
    r, c = np.broadcast_arrays(*arrays)
    flat = r.astype(np.int64).ravel() * shape[1] + c.astype(np.int64).ravel()
    uniq, inv = np.unique(flat, return_inverse=True)
    pr, pc = (uniq // shape[1]).astype(np.intp), (uniq % shape[1]).astype(np.intp)
    post[slots[0]] = np.zeros(r.shape, dtype=np.intp)
    post[slots[1]] = inv.astype(np.intp).reshape(r.shape)
    return IndexPlan(np.unique(pr), np.unique(pc), tuple(post), result_shape, points=(pr, pc))


# --------------------------------------------------------------------------- NumPy semantics
def plan_index(key: Any, shape: tuple[int, int]) -> IndexPlan:
    """Plan ``a[key]`` for a 2-D array ``a`` of ``shape``, with NumPy's exact semantics.

    Parameters
    ----------
    key : object
        Any NumPy index expression: ints (incl. negative and NumPy ints), slices with
        any step, ``range``, ``Ellipsis``, ``None``, int lists/arrays of any shape,
        boolean masks (1-D per axis, or one 2-D mask), 0-d booleans and combinations.
    shape : tuple of int
        Shape of the indexed array.

    Returns
    -------
    IndexPlan

    Raises
    ------
    IndexError
        Exactly where NumPy raises it (out of range, too many indices, mask mismatch,
        non-broadcastable index arrays, invalid index types).

    Examples
    --------
    >>> p = plan_index((-1, Ellipsis), (3, 4))
    >>> p.rows.tolist(), p.cols.tolist(), p.shape
    ([2], [0, 1, 2, 3], (4,))
    >>> plan_index(5, (3, 4))
    Traceback (most recent call last):
    ...
    IndexError: index 5 is out of bounds for axis 0 with size 3
    """
    shape = (int(shape[0]), int(shape[1]))
    refuse_strings(key)
    # NumPy validates and gives the result shape; the dummy has no memory.
    dummy = np.ndarray(shape, dtype=_EMPTY_DTYPE)
    result_shape = tuple(dummy[key].shape)
    if 0 in result_shape:
        return IndexPlan(np.empty(0, np.intp), np.empty(0, np.intp), None, result_shape)

    comps = list(key) if isinstance(key, tuple) else [key]
    kinds = [_kind(k) for k in comps]
    if sum(_axes_consumed(k) for k, kind in zip(comps, kinds) if kind == "array") == 2:
        return _point_plan(comps, kinds, shape, result_shape)
    consumed = sum(_axes_consumed(k) for k in comps)
    ellipsis_at = next((i for i, k in enumerate(comps) if k is Ellipsis), None)
    if ellipsis_at is not None:
        comps[ellipsis_at : ellipsis_at + 1] = [slice(None)] * (2 - consumed)
    else:
        comps.extend([slice(None)] * (2 - consumed))

    touched: list[np.ndarray] = [np.empty(0, np.intp), np.empty(0, np.intp)]
    post: list[Any] = []
    axis = 0
    for k in comps:
        if k is None or _is_bool_scalar(k):
            post.append(k)
            continue
        if isinstance(k, slice):
            touched[axis], p = _slice_axis(k, shape[axis])
            post.append(p)
            axis += 1
            continue
        i = _as_int(k)
        if i is not None:
            touched[axis] = np.array([i + shape[axis] if i < 0 else i], dtype=np.intp)
            post.append(0)
            axis += 1
            continue
        arr = _as_index_array(k)
        if arr.dtype == np.bool_:
            nz = arr.nonzero()
            for ax_idx in nz:
                touched[axis], inv = _sorted_unique(ax_idx.astype(np.intp, copy=False))
                post.append(inv)
                axis += 1
            continue
        touched[axis], inv = _sorted_unique(_normalise_ints(arr, shape[axis]))
        post.append(inv)
        axis += 1

    if ellipsis_at is not None:
        # keep the Ellipsis itself: it makes NumPy return a 0-d array instead of a scalar
        # (``a[0, 0, ...]``); the slices it stood for are full slices of the computed block
        post[ellipsis_at : ellipsis_at + 2 - consumed] = [Ellipsis]
        return IndexPlan(touched[0], touched[1], tuple(post), result_shape)
    final_post = None if _identity_post(post, 2) else tuple(post)
    return IndexPlan(touched[0], touched[1], final_post, result_shape)


# --------------------------------------------------------------------------- orthogonal
def _oindex_axis(k: Any, n: int, axis: int) -> tuple[np.ndarray, Any, bool]:
    """(touched, post component, keeps the axis) for one orthogonal axis key."""
    if isinstance(k, slice):
        touched, p = _slice_axis(k, n)
        return touched, p, True
    i = _as_int(k)
    if i is not None:
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
        return np.array([i + n if i < 0 else i], dtype=np.intp), 0, False
    if k is None or k is Ellipsis or _is_bool_scalar(k):
        raise IndexError(f"unsupported orthogonal index for axis {axis}: {k!r}")
    try:
        arr = _as_index_array(k)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise IndexError(f"invalid orthogonal index for axis {axis}: {k!r}") from exc
    if arr.ndim != 1:
        raise IndexError(
            f"orthogonal indexing takes 1-D int arrays or masks per axis; axis {axis} got "
            f"a {arr.ndim}-D array"
        )
    if arr.dtype == np.bool_:
        if arr.shape[0] != n:
            raise IndexError(
                f"boolean index did not match indexed array along axis {axis}; size of axis "
                f"is {n} but size of corresponding boolean axis is {arr.shape[0]}"
            )
        touched = np.flatnonzero(arr).astype(np.intp)
        return touched, np.arange(touched.size, dtype=np.intp), True
    if not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(
            "only integers, slices (`:`), integer or boolean arrays are valid orthogonal "
            f"indices; axis {axis} got dtype {arr.dtype}"
        )
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        bad = lo if lo < -n else hi if hi >= n else None
        if bad is not None:
            raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    touched, inv = _sorted_unique(_normalise_ints(arr, n))
    return touched, inv, True


def plan_oindex(key: Any, shape: tuple[int, int]) -> IndexPlan:
    """Plan an orthogonal selection ``a.oindex[key]`` (zarr semantics).

    Each axis is indexed independently by an int (drops the axis), a slice, a 1-D int
    array/list/range (any order, repeats allowed) or a 1-D boolean mask; one
    ``Ellipsis`` may stand for the remaining axes. ``a.oindex[r, c]`` with arrays ``r``,
    ``c`` equals ``a[np.ix_(r, c)]``.

    Examples
    --------
    >>> p = plan_oindex(([2, 0], [True, False, True]), (3, 3))
    >>> p.rows.tolist(), p.cols.tolist(), p.shape
    ([0, 2], [0, 2], (2, 2))
    """
    shape = (int(shape[0]), int(shape[1]))
    refuse_strings(key)
    comps = list(key) if isinstance(key, tuple) else [key]
    n_ell = sum(k is Ellipsis for k in comps)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_ell:
        pos = next(i for i, k in enumerate(comps) if k is Ellipsis)
        n_rest = len(comps) - 1
        if n_rest > 2:
            raise IndexError(f"too many indices for array: array is 2-dimensional, but {n_rest} were indexed")
        comps[pos : pos + 1] = [slice(None)] * (2 - n_rest)
    if len(comps) > 2:
        raise IndexError(f"too many indices for array: array is 2-dimensional, but {len(comps)} were indexed")
    comps.extend([slice(None)] * (2 - len(comps)))

    touched, posts, keeps = [], [], []
    for axis, k in enumerate(comps):
        t, p, keep = _oindex_axis(k, shape[axis], axis)
        touched.append(t)
        posts.append(p)
        keeps.append(keep)
    out_shape = tuple(
        int(len(range(*comps[a].indices(shape[a])))) if isinstance(comps[a], slice) else int(np.size(posts[a]))
        for a in range(2)
        if keeps[a]
    )
    if all(isinstance(p, np.ndarray) for p in posts):
        posts = [posts[0][:, None], posts[1][None, :]]
    if 0 in out_shape:
        return IndexPlan(np.empty(0, np.intp), np.empty(0, np.intp), None, out_shape)
    final_post = None if _identity_post(posts, 2) else tuple(posts)
    return IndexPlan(touched[0], touched[1], final_post, out_shape)
