"""What the viewer and the static plots read: named lazy 2-D views of one activity.

:func:`resolve` turns anything the user hands to :func:`lazyact.view` or the static plots
(a :class:`~lazyact.LazyActivity`, one :class:`~lazyact.ActivityArray`, an opened or
unopened results file, a mapping of names to arrays, a plain 2-D array) into an
:class:`ActivitySource`: a dict of named 2-D views, row (protein) and column (sample)
labels, optional spatial coordinates and stored summaries. Reading goes through the
views' own ``__getitem__``, so a lazy view computes only the cells asked for (through
its block cache); nothing here scans a whole array.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..array.labels import unknown_label_message
from ..results import open_results, read_obsm
from ..ridge import STATISTICS

__all__ = [
    "STATISTICS",
    "unknown_protein_message",
    "VIEWS",
    "ActivitySource",
    "Cancelled",
    "canonical_view",
    "resolve",
]

#: Views the viewer can show: the statistics plus ``-log10 p`` derived from ``pvalue``.
VIEWS: tuple[str, ...] = ("beta", "se", "zscore", "pvalue", "-log10p")

_ALIASES = {
    "z": "zscore",
    "z-score": "zscore",
    "p": "pvalue",
    "p-value": "pvalue",
    "logp": "-log10p",
    "log10p": "-log10p",
    "neglog10p": "-log10p",
    "mlog10p": "-log10p",
    "-log10(p)": "-log10p",
    "-log10 p": "-log10p",
    "-log10pvalue": "-log10p",
}


def unknown_protein_message(protein: Any, proteins: pd.Index) -> str:
    """``unknown protein 'TNF'; did you mean 'TNFA'?`` (close names, else the first few).

    Examples
    --------
    >>> unknown_protein_message("TNF", pd.Index(["IL6", "TNFA", "TGFB1"]))
    "unknown protein 'TNF'; did you mean 'TNFA'?"
    >>> unknown_protein_message("il6", pd.Index(["IL6", "IL1A"]))
    "unknown protein 'il6'; did you mean 'IL6'?"
    """
    return unknown_label_message(protein, proteins, "protein")


class Cancelled(Exception):
    """Raised inside a background read when its request was cancelled."""


def canonical_view(name: str) -> str:
    """The canonical spelling of a view name (``"logp"`` -> ``"-log10p"``, ``"z"`` -> ``"zscore"``).

    Examples
    --------
    >>> canonical_view("logp"), canonical_view("Z"), canonical_view("beta")
    ('-log10p', 'zscore', 'beta')
    """
    key = str(name).strip()
    return _ALIASES.get(key.lower(), key)


def _neglog10(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.log10(np.clip(p, np.finfo(np.float64).tiny, None))
    return out


def _col_chunk(arr: Any) -> int | None:
    """Column chunk size of a lazy/stored array (``.chunks`` as (r, c) or dask-style)."""
    chunks = getattr(arr, "chunks", None)
    if chunks is None:
        return None
    try:
        c = chunks[1]
    except (TypeError, IndexError):
        return None
    if isinstance(c, (tuple, list)):
        c = c[0] if len(c) else None
    try:
        c = int(c)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return c if c > 0 else None


def _as_2d_view(obj: Any) -> bool:
    shape = getattr(obj, "shape", None)
    return shape is not None and len(shape) == 2 and hasattr(obj, "__getitem__")


class ActivitySource:
    """Named 2-D views (proteins x samples) of one activity, with labels and extras.

    Parameters
    ----------
    arrays : mapping of str to 2-D array-like
        Base views by name (``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"`` or any other
        name); each supports NumPy ``__getitem__`` with an integer array and a slice.
        ``"-log10p"`` is derived from ``"pvalue"`` when that is present.
    proteins, samples : pandas.Index
        Row and column labels.
    spatial : numpy.ndarray, optional
        ``(n_samples, 2)`` coordinates.
    summary : pandas.DataFrame, optional
        Stored per-protein summaries with ``(statistic, moment)`` columns.
    params : dict, optional
        Parameters of the activity (``n_rand`` sets the ``-log10 p`` limits).
    store : object, optional
        The block store (``.stats``, ``.cache``) when the views are lazy.
    primary : str, optional
        The view to show by default (the one given when one view was passed).
    groups : Groups, optional
        One group per sample (:class:`lazyact.viz.groups.Groups`).
    order_by_group : bool
        Show the samples ordered by group (default True when ``groups`` is given):
        display positions are mapped to sample positions through ``groups.order``, a
        lazy permutation of the columns (nothing is copied).

    Examples
    --------
    >>> import numpy as np
    >>> src = ActivitySource({"zscore": np.arange(12.0).reshape(3, 4)})
    >>> src.views, src.shape
    (('zscore',), (3, 4))
    >>> src.read("zscore", None, 1, 3).tolist()
    [[1.0, 2.0], [5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(
        self,
        arrays: Mapping[str, Any],
        proteins: Iterable | None = None,
        samples: Iterable | None = None,
        spatial: np.ndarray | None = None,
        summary: Any = None,
        params: Mapping[str, Any] | None = None,
        store: Any = None,
        primary: str | None = None,
        groups: Any = None,
        order_by_group: bool = True,
    ) -> None:
        if not arrays:
            raise ValueError("nothing to show: no 2-D views found")
        self.arrays: dict[str, Any] = {}
        shape = None
        for name, arr in arrays.items():
            if not _as_2d_view(arr):
                arr = np.asarray(arr)
                if arr.ndim != 2:
                    raise ValueError(f"view {name!r} must be 2-D (proteins x samples), got shape {arr.shape}")
            s = tuple(int(n) for n in arr.shape)
            if shape is None:
                shape = s
            elif s != shape:
                raise ValueError(f"view {name!r} has shape {s}, others {shape}")
            self.arrays[canonical_view(name)] = arr
        self.shape: tuple[int, int] = shape  # type: ignore[assignment]
        first = next(iter(self.arrays.values()))
        if proteins is None:
            proteins = getattr(first, "row_labels", None)
        if samples is None:
            samples = getattr(first, "col_labels", None)
        self.proteins = pd.Index(proteins) if proteins is not None else pd.RangeIndex(self.shape[0])
        self.samples = pd.Index(samples) if samples is not None else pd.RangeIndex(self.shape[1])
        if len(self.proteins) != self.shape[0] or len(self.samples) != self.shape[1]:
            raise ValueError("labels do not match the shape of the views")
        self.spatial = spatial
        self.summary = summary
        self.params = dict(params or {})
        if store is None:
            store = getattr(first, "store", None)
        self.store = store
        #: the view shown by default: the one given when a single view was passed
        self.primary = canonical_view(primary) if primary is not None else None
        #: one group per sample (or None)
        self.groups = groups
        #: display position -> sample position (None: file order)
        self.order: np.ndarray | None = groups.order if (groups is not None and order_by_group) else None

    # -- display order ----------------------------------------------------------------
    def sample_positions(self, start: int, stop: int) -> np.ndarray:
        """Sample positions shown at display positions ``start:stop``."""
        if self.order is None:
            return np.arange(start, stop, dtype=np.intp)
        return self.order[start:stop]

    def group_codes(self, start: int, stop: int) -> np.ndarray | None:
        """Group codes of display positions ``start:stop`` (None without groups)."""
        if self.groups is None:
            return None
        return self.groups.codes[self.sample_positions(start, stop)]

    # -- names ------------------------------------------------------------------------
    @property
    def views(self) -> tuple[str, ...]:
        """Names of the views that can be shown, in :data:`VIEWS` order first."""
        names = [v for v in VIEWS if v in self.arrays or (v == "-log10p" and "pvalue" in self.arrays)]
        names += [n for n in self.arrays if n not in names]
        return tuple(names)

    def check_view(self, name: str) -> str:
        """Canonical name of ``name``; ``ValueError`` listing the choices when unknown."""
        canon = canonical_view(name)
        if canon not in self.views:
            raise ValueError(f"unknown view {name!r}; choose one of {', '.join(self.views)}")
        return canon

    def default_view(self, array: str | None = None) -> str:
        """``array`` checked, or by default the primary view, else ``zscore``, else the first."""
        if array is not None:
            return self.check_view(array)
        if self.primary is not None and self.primary in self.views:
            return self.primary
        return "zscore" if "zscore" in self.views else self.views[0]

    @staticmethod
    def base(name: str) -> str:
        """The stored/computed view a shown view is read from (``-log10p`` -> ``pvalue``)."""
        return "pvalue" if name == "-log10p" else name

    def transform(self, name: str, values: np.ndarray) -> np.ndarray:
        """Turn values of :meth:`base` ``(name)`` into the shown view, as float32."""
        if name == "-log10p":
            values = _neglog10(values)
        return np.asarray(values, dtype=np.float32)

    @property
    def n_rand(self) -> int | None:
        n = self.params.get("n_rand")
        try:
            return int(n) if n is not None else None
        except (TypeError, ValueError):
            return None

    # -- rows -------------------------------------------------------------------------
    def row_positions(self, proteins: Any) -> np.ndarray:
        """Row positions of ``proteins`` (names, integer positions, a slice or a mask).

        Examples
        --------
        >>> src = ActivitySource({"zscore": np.zeros((3, 2))}, proteins=["A", "B", "C"])
        >>> src.row_positions(["C", "A"]).tolist(), src.row_positions(slice(1, None)).tolist()
        ([2, 0], [1, 2])
        """
        n = self.shape[0]
        if proteins is None:
            return np.arange(n, dtype=np.intp)
        if isinstance(proteins, slice):
            return np.arange(n, dtype=np.intp)[proteins]
        if isinstance(proteins, (str, bytes)) or np.isscalar(proteins):
            proteins = [proteins]
        items = list(proteins)
        if len(items) and all(isinstance(x, (bool, np.bool_)) for x in items):
            mask = np.asarray(items, dtype=bool)
            if mask.size != n:
                raise ValueError(f"boolean protein mask has {mask.size} entries for {n} proteins")
            return np.flatnonzero(mask).astype(np.intp)
        out = []
        for x in items:
            out.append(self.row_of(x))
        if not out:
            raise ValueError("proteins selects no rows")
        return np.asarray(out, dtype=np.intp)

    def row_of(self, protein: Any) -> int:
        """Row position of one protein given by name (or by integer position)."""
        n = self.shape[0]
        if isinstance(protein, (int, np.integer)) and not isinstance(protein, (bool, np.bool_)):
            if protein in self.proteins and not isinstance(self.proteins, pd.RangeIndex):
                pass  # integer labels: fall through to the label lookup
            else:
                i = int(protein)
                if not -n <= i < n:
                    raise IndexError(f"protein position {i} out of range for {n} proteins")
                return i % n
        try:
            loc = self.proteins.get_loc(protein)
        except KeyError:
            raise KeyError(unknown_protein_message(protein, self.proteins)) from None
        if isinstance(loc, slice):
            loc = loc.start
        elif isinstance(loc, np.ndarray):
            loc = int(np.flatnonzero(loc)[0])
        return int(loc)

    # -- reading ----------------------------------------------------------------------
    def col_chunk(self, name: str) -> int | None:
        return _col_chunk(self.arrays[self.base(name)])

    def read_raw(
        self,
        base: str,
        rows: np.ndarray | None,
        start: int,
        stop: int,
        cancelled: Callable[[], bool] | None = None,
        ordered: bool = True,
    ) -> np.ndarray:
        """Values of view ``base`` for ``rows`` x display positions ``start:stop`` (float64).

        Rows may be unsorted. With ``ordered`` (default) and samples ordered by group the
        columns are ``order[start:stop]``, read with one fancy-index key per piece (only
        those cells are computed); ``ordered=False`` reads sample positions directly.
        When ``cancelled`` is given the columns are read piece by piece (aligned to the
        array's column chunks) and :class:`Cancelled` is raised between pieces once it
        returns True; what was computed so far stays in the block cache.
        """
        arr = self.arrays[base]
        nrows = self.shape[0] if rows is None else len(rows)
        if stop <= start:
            return np.empty((nrows, 0))
        all_rows = rows is None or (len(rows) == self.shape[0] and np.array_equal(rows, np.arange(nrows)))
        if not all_rows:
            order = np.argsort(rows, kind="stable")
            srows = np.asarray(rows)[order]
            uniq, inv = np.unique(srows, return_inverse=True)
        cols = None if (not ordered or self.order is None) else self.order[start:stop]
        span = 1
        chunk = _col_chunk(arr)
        if cancelled is not None and chunk:
            # pieces of one column chunk per worker thread of the store: cancellable
            # between pieces, still parallel within one
            span = chunk * max(1, int(getattr(getattr(arr, "store", None), "nthreads", 1) or 1))
        out = np.empty((nrows, stop - start), dtype=np.float64)
        if cols is None:
            pieces = [(start, stop)]
            if span > 1:
                cuts = list(range((start // span + 1) * span, stop, span))
                edges = [start, *cuts, stop]
                pieces = list(zip(edges[:-1], edges[1:]))
            keys = [(slice(lo, hi), slice(lo - start, hi - start)) for lo, hi in pieces]
        else:  # a permutation of the columns: read them sorted, put them back in display order
            perm = np.argsort(cols, kind="stable")
            scols = cols[perm]
            if span > 1:
                piece = scols // span
                cuts = np.flatnonzero(np.diff(piece)) + 1
            else:
                cuts = np.empty(0, dtype=np.intp)
            edges = [0, *cuts.tolist(), scols.size]
            keys = [(scols[a:b], perm[a:b]) for a, b in zip(edges[:-1], edges[1:])]
            if len(keys) == 1 and scols.size and scols[-1] - scols[0] + 1 == scols.size:
                keys = [(slice(int(scols[0]), int(scols[-1]) + 1), perm)]  # contiguous: a slice
        for key, dest in keys:
            if cancelled is not None and cancelled():
                raise Cancelled()
            if all_rows:
                block = arr[:, key]
            else:
                sub = np.asarray(arr[uniq, key] if isinstance(key, slice) else arr[np.ix_(uniq, key)])
                block = np.empty((nrows, sub.shape[1]), dtype=sub.dtype)
                block[order] = sub[inv]
            out[:, dest] = block
        return out

    def read(
        self,
        name: str,
        rows: np.ndarray | None,
        start: int,
        stop: int,
        cancelled: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Shown values (float32) of view ``name`` for ``rows`` x ``start:stop``."""
        return self.transform(name, self.read_raw(self.base(name), rows, start, stop, cancelled))

    def read_row(self, name: str, row: int, cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """One protein over all samples in sample order (float32), by chunks when cancellable."""
        raw = self.read_raw(self.base(name), np.array([row], dtype=np.intp), 0, self.shape[1], cancelled,
                            ordered=False)
        return self.transform(name, raw)[0]

    def read_col(self, name: str, col: int) -> np.ndarray:
        """All proteins of one sample (float32)."""
        arr = self.arrays[self.base(name)]
        return self.transform(name, np.asarray(arr[:, int(col)], dtype=np.float64))

    @property
    def stats(self) -> Any:
        """The block store's counters (``calls``, ``cells``, ...) or None."""
        return getattr(self.store, "stats", None)


# --------------------------------------------------------------------------- resolving
def _source_path(obj: Any) -> str | None:
    for attr in ("path", "filename", "source_path"):
        p = getattr(obj, attr, None)
        if isinstance(p, (str, os.PathLike)):
            return os.fspath(p)
    for attr in ("expression", "source"):
        inner = getattr(obj, attr, None)
        if inner is not None and inner is not obj:
            p = _source_path(inner) if attr == "source" else getattr(inner, "path", None)
            if isinstance(p, (str, os.PathLike)):
                return os.fspath(p)
    blocks = getattr(obj, "blocks", None)
    expr = getattr(blocks, "expression", None)
    for attr in ("path", "filename"):
        p = getattr(expr, attr, None)
        if isinstance(p, (str, os.PathLike)):
            return os.fspath(p)
    return None


def _resolve_spatial(spatial: Any, obj: Any, n_samples: int, path: str | None) -> np.ndarray | None:
    if spatial is False:
        return None
    coords = None
    if spatial is None or spatial is True:
        coords = getattr(obj, "spatial", None)
        if coords is None:
            getter = getattr(getattr(obj, "source", None), "obsm", None)
            if callable(getter):  # an AnnData source keeps obsm["spatial"]
                try:
                    coords = getter("spatial")
                except (KeyError, AttributeError, TypeError, ValueError):
                    coords = None
        if coords is None and path is not None and str(path).endswith(".h5ad"):
            coords = read_obsm(path, "spatial")
        if coords is None and spatial is True:
            raise ValueError("spatial=True but no spatial coordinates were found (obj.spatial or obsm['spatial'])")
    elif isinstance(spatial, (str, os.PathLike)):
        coords = read_obsm(spatial, "spatial")
        if coords is None:
            raise ValueError(f"no obsm['spatial'] in {os.fspath(spatial)!r}")
    else:
        coords = spatial
    if coords is None:
        return None
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[0] != n_samples or coords.shape[1] < 2:
        raise ValueError(
            f"spatial coordinates must have shape (n_samples={n_samples}, 2), got {coords.shape}"
        )
    return np.ascontiguousarray(coords[:, :2])


def resolve(obj: Any, spatial: Any = None, groupby: Any = None, order_by_group: bool = True) -> ActivitySource:
    """An :class:`ActivitySource` for anything the viewer or the static plots accept.

    Parameters
    ----------
    obj : LazyActivity, ActivityArray, str or path, mapping, or 2-D array
        * an activity (anything with ``beta``/``se``/``zscore``/``pvalue`` views, e.g.
          :class:`~lazyact.LazyActivity` or what :func:`lazyact.open` returns);
        * one view (e.g. ``act.zscore``); its sibling statistics are offered too when
          it is a view of a block store that computes them;
        * a results file path (opened with :func:`lazyact.open`);
        * a mapping ``{name: 2-D array}`` or one 2-D array-like.
    spatial : None, False, True, array-like or str
        ``None``: use ``obj.spatial`` (or ``obsm["spatial"]`` of an .h5ad source) when
        present; ``False``: none; ``True``: required; an ``(n_samples, 2)`` array; or
        the path of an .h5ad file whose ``obsm["spatial"]`` to use.
    groupby : None, str, sequence, pandas.Series or Groups
        Group the samples: an obs column name (read from the input's ``.h5ad``, an
        ``obs`` table, a results ``.h5ad`` or the input recorded in a results file) or
        one label per sample (see :func:`lazyact.viz.groups.find_labels`).
    order_by_group : bool
        Show the samples ordered by group (a lazy permutation of the columns).

    Examples
    --------
    >>> import numpy as np
    >>> src = resolve({"zscore": np.zeros((2, 3)), "pvalue": np.ones((2, 3))})
    >>> src.views
    ('zscore', 'pvalue', '-log10p')
    """
    if isinstance(obj, ActivitySource):
        if spatial is not None:
            obj.spatial = _resolve_spatial(spatial, None, obj.shape[1], None)
        if groupby is not None:
            from .groups import find_labels

            obj.groups = find_labels(None, groupby, obj.samples)
            obj.order = obj.groups.order if order_by_group else None
        return obj
    path = None
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        obj = open_results(path)
    else:
        path = _source_path(obj)

    arrays: dict[str, Any] = {}
    proteins = samples = None
    store = None
    primary = None
    if isinstance(obj, Mapping):
        arrays = dict(obj)
    elif not isinstance(obj, np.ndarray) and any(_as_2d_view(getattr(obj, n, None)) for n in STATISTICS):
        for n in STATISTICS:
            try:
                arr = getattr(obj, n)
            except (AttributeError, KeyError):
                continue
            if arr is not None and _as_2d_view(arr):
                arrays[n] = arr
        proteins = getattr(obj, "proteins", None)
        samples = getattr(obj, "samples", None)
        store = getattr(obj, "store", None)
    elif _as_2d_view(obj):
        name = getattr(obj, "name", None)
        attrs = getattr(obj, "attrs", None) or {}
        name = attrs.get("statistic", name) if isinstance(attrs, Mapping) else name
        if not isinstance(name, str) or not name:
            name = "values"
        arrays[name] = obj
        primary = name
        # siblings computed by the same block store (switching views is free there)
        st = getattr(obj, "store", None)
        names = getattr(st, "names", ())
        if st is not None and canonical_view(name) in STATISTICS and hasattr(obj, "row_labels"):
            for other in names:
                if other != name and other in STATISTICS:
                    try:
                        arrays[other] = type(obj)(
                            st, other, row_labels=obj.row_labels, col_labels=obj.col_labels, attrs=dict(attrs)
                        )
                    except Exception:  # pragma: no cover - unusual subclasses
                        pass
            # keep the given view first
            arrays = {name: arrays[name], **{k: v for k, v in arrays.items() if k != name}}
        proteins = getattr(obj, "row_labels", None)
        samples = getattr(obj, "col_labels", None)
        store = st
    else:
        arr = np.asarray(obj)
        if arr.ndim != 2:
            raise TypeError(
                f"cannot show {type(obj).__name__}: expected a LazyActivity, an ActivityArray, a results "
                "file, a mapping of views or a 2-D array"
            )
        arrays["values"] = arr
    if not arrays:
        raise TypeError(f"{type(obj).__name__} exposes no 2-D views (beta, se, zscore, pvalue)")

    # order the statistics canonically
    ordered = {n: arrays[n] for n in STATISTICS if n in arrays}
    ordered.update({n: a for n, a in arrays.items() if n not in ordered})
    first = next(iter(ordered.values()))
    n_samples = int(first.shape[1])
    params = getattr(obj, "params", None) or getattr(first, "attrs", None) or {}
    summary = getattr(obj, "summary_stats", None)
    coords = _resolve_spatial(spatial, obj, n_samples, path)
    source = ActivitySource(ordered, proteins, samples, coords, summary, params, store, primary)
    if groupby is not None and groupby is not False:
        from .groups import find_labels

        source.groups = find_labels(obj, groupby, source.samples, path)
        source.order = source.groups.order if order_by_group else None
    return source


def sample_positions(source: ActivitySource, samples: Any) -> np.ndarray | slice:
    """Column positions for a sample selection (names, ints, a slice, a mask)."""
    m = source.shape[1]
    if samples is None:
        return slice(0, m)
    if isinstance(samples, slice):
        return samples
    if isinstance(samples, range):
        return np.asarray(samples, dtype=np.intp)
    if isinstance(samples, (str, bytes)) or np.isscalar(samples):
        samples = [samples]
    items = list(samples)
    if items and all(isinstance(x, (bool, np.bool_)) for x in items):
        return np.flatnonzero(np.asarray(items, dtype=bool)).astype(np.intp)
    out = []
    for x in items:
        if isinstance(x, (int, np.integer)) and (isinstance(source.samples, pd.RangeIndex) or x not in source.samples):
            out.append(int(x) % m if -m <= int(x) < m else _raise_index(int(x), m))
        else:
            try:
                loc = source.samples.get_loc(x)
            except KeyError:
                raise KeyError(f"unknown sample {x!r}") from None
            out.append(int(loc if not isinstance(loc, slice) else loc.start))
    return np.asarray(out, dtype=np.intp)


def _raise_index(i: int, m: int) -> int:
    raise IndexError(f"sample position {i} out of range for {m} samples")
