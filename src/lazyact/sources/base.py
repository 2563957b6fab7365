"""The expression-source interface and helpers shared by every backend.

An *expression source* is a genes x samples matrix that hands out columns
(samples) on request without ever loading or densifying the whole matrix.
Backends live in sibling modules (:mod:`.dense`, :mod:`.sparse`, :mod:`.hdf5`,
:mod:`.h5ad`, :mod:`.anndata`); :func:`lazyact.sources.as_source` picks one.

Conventions
-----------
* Rows are genes, columns are samples (cells, spots), whatever the storage
  orientation.  Names are exposed *as stored*: no upper-casing, no version
  stripping, duplicates kept (SecActPy's rules: :mod:`lazyact.preprocess.genes`).
* :meth:`ExpressionSource.columns` always returns float64 data that the caller
  owns (never a view of the source's storage), with all genes or the genes
  selected by ``rows``.
* Values are validated where they are read: NaN/inf raise ``ValueError``
  naming the first bad sample; with ``check_counts=True`` negative values do
  too.  Nothing is checked eagerly for file-backed data.
"""
from __future__ import annotations

import abc
import contextlib
import os
import threading
from typing import Any, Iterator, Union

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "ExpressionSource",
    "DescribedSource",
    "FileSource",
    "SourceReadError",
    "SourceClosedError",
    "FileLockedError",
    "Block",
    "normalise_indices",
    "parse_orientation",
    "select_rows",
]

#: What ``columns`` returns.
Block = Union[np.ndarray, sp.csc_matrix]

#: Target size in bytes of one block in internal streaming passes
#: (``column_totals``, statistics).
DEFAULT_BLOCK_BYTES = 32 << 20


class SourceReadError(OSError):
    """A file-backed source could not be read (truncated, corrupt, not HDF5)."""


class FileLockedError(SourceReadError):
    """An HDF5 file is locked by another process (one that is writing it)."""


class SourceClosedError(ValueError):
    """The source, or the h5py file behind it, has been closed."""


# ----------------------------------------------------------------------------
# orientation
# ----------------------------------------------------------------------------
_GENES_FIRST = {"genes x samples", "genes x cells", "genes x spots", "genes", "gs"}
_SAMPLES_FIRST = {
    "samples x genes", "cells x genes", "spots x genes", "samples", "cells", "sg",
}


def parse_orientation(orientation: str | None, default: str = "genes x samples") -> bool:
    """Return True when the stored matrix is samples x genes.

    Parameters
    ----------
    orientation : str or None
        ``"genes x samples"`` (also ``"genes x cells"``, ``"genes"``) or
        ``"samples x genes"`` (also ``"cells x genes"``, ``"cells"``).
        Case and repeated blanks are ignored, ``"x"`` may also be ``"*"``.
    default : str
        Used when ``orientation`` is None.

    Examples
    --------
    >>> parse_orientation("cells x genes")
    True
    >>> parse_orientation(None)
    False
    """
    o = default if orientation is None else orientation
    if not isinstance(o, str):
        raise TypeError(f"orientation must be a string, got {type(o).__name__}")
    key = " ".join(o.lower().replace("*", " x ").replace("×", " x ").split())
    if key in _GENES_FIRST:
        return False
    if key in _SAMPLES_FIRST:
        return True
    raise ValueError(
        f"orientation must be 'genes x samples' or 'samples x genes' "
        f"(or 'cells x genes'), got {orientation!r}"
    )


# ----------------------------------------------------------------------------
# index helpers
# ----------------------------------------------------------------------------
def as_index(names: Any, n: int, what: str) -> pd.Index:
    """Names as a pandas Index of length ``n`` (RangeIndex when None)."""
    if names is None:
        return pd.RangeIndex(n)
    idx = names if isinstance(names, pd.Index) else pd.Index(list(names))
    if len(idx) != n:
        raise ValueError(f"{what} has {len(idx)} names but the matrix has {n} {what}")
    return idx


def normalise_indices(idx: Any, n: int, what: str = "column") -> tuple[np.ndarray, np.ndarray | None]:
    """Validate an index selection along an axis of length ``n``.

    Returns ``(sorted_unique, inverse)`` where ``inverse`` is None when ``idx``
    was already sorted and unique, else the positions to gather from the
    sorted-unique result to reproduce ``idx``.  Accepts int arrays/lists,
    Python/NumPy ints, slices and ranges; negative indices wrap as in NumPy;
    anything outside ``[-n, n)`` raises ``IndexError``.
    """
    if isinstance(idx, slice):
        return np.arange(*idx.indices(n), dtype=np.intp), None
    if isinstance(idx, range):
        arr = np.asarray(idx, dtype=np.intp)
    else:
        arr = np.asarray(idx)
        if arr.dtype == bool:
            raise TypeError(f"boolean {what} masks are not accepted here; use np.flatnonzero")
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise IndexError(f"{what} indices must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            return np.empty(0, dtype=np.intp), None
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and np.all(arr == np.floor(arr)):
                raise IndexError(f"{what} indices must be integers, got floats")
            raise IndexError(f"{what} indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.intp, copy=False)
    if arr.size == 0:
        return arr, None
    lo, hi = arr.min(), arr.max()
    if lo < -n or hi >= n:
        bad = lo if lo < -n else hi
        raise IndexError(f"{what} index {bad} is out of range for {n} {what}s")
    if lo < 0:
        arr = np.where(arr < 0, arr + n, arr)
    if arr.size == 1 or np.all(arr[1:] > arr[:-1]):
        return arr, None
    uniq, inv = np.unique(arr, return_inverse=True)
    return uniq.astype(np.intp, copy=False), inv.astype(np.intp, copy=False)


def runs(cols: np.ndarray) -> list[tuple[int, int, int]]:
    """Split sorted unique ``cols`` into contiguous runs ``(start, stop, out_offset)``."""
    if cols.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(cols) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [cols.size]))
    return [(int(cols[s]), int(cols[e - 1]) + 1, int(s)) for s, e in zip(starts, stops)]


def is_contiguous(cols: np.ndarray) -> bool:
    return cols.size > 0 and int(cols[-1]) - int(cols[0]) + 1 == cols.size


# ----------------------------------------------------------------------------
# sparse helpers
# ----------------------------------------------------------------------------
def index_dtype(nnz: int, dim: int) -> type:
    return np.int32 if max(nnz, dim) < 2**31 - 1 else np.int64


def make_csc(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sp.csc_matrix:
    """CSC matrix in canonical form (sorted indices, no duplicates), float64."""
    idt = index_dtype(int(indptr[-1]) if indptr.size else 0, shape[0])
    m = sp.csc_matrix(
        (np.asarray(data, dtype=np.float64),
         np.asarray(indices, dtype=idt), np.asarray(indptr, dtype=idt)),
        shape=shape, copy=False,
    )
    if not m.has_canonical_format:
        m.sum_duplicates()  # also sorts indices
    return m


def take_csc_columns(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                     cols: np.ndarray, n_rows: int) -> sp.csc_matrix:
    """Gather columns ``cols`` of a CSC structure; touches only their entries.

    Always copies (the result owns its arrays) and converts data to float64.
    """
    k = cols.size
    if is_contiguous(cols):
        p0, p1 = int(indptr[cols[0]]), int(indptr[cols[-1] + 1])
        out_ptr = np.asarray(indptr[cols[0]: cols[-1] + 2], dtype=np.int64) - p0
        d = np.array(data[p0:p1], dtype=np.float64)
        ind = np.array(indices[p0:p1])
        return make_csc(d, ind, out_ptr, (n_rows, k))
    starts = np.asarray(indptr[cols], dtype=np.int64)
    lens = np.asarray(indptr[cols + 1], dtype=np.int64) - starts
    out_ptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(lens, out=out_ptr[1:])
    total = int(out_ptr[-1])
    # position of every gathered entry in the source arrays
    gather = np.arange(total, dtype=np.int64) + np.repeat(starts - out_ptr[:-1], lens)
    return make_csc(data[gather], indices[gather], out_ptr, (n_rows, k))


@numba.njit(cache=True, nogil=True)
def _select_csc_rows(indptr, indices, data, new_of, ptr, ind, dat):
    # one pass over the nonzeros: keep those whose row maps to a new row
    k = 0
    ptr[0] = 0
    for j in range(indptr.shape[0] - 1):
        for q in range(indptr[j], indptr[j + 1]):
            r = new_of[indices[q]]
            if r >= 0:
                ind[k] = r
                dat[k] = data[q]
                k += 1
        ptr[j + 1] = k
    return k


def select_rows(block: np.ndarray | sp.csc_matrix, rows: np.ndarray) -> np.ndarray | sp.csc_matrix:
    """Restrict/reorder the rows of a block (``rows`` already validated).

    Dense blocks give a C-contiguous array; CSC blocks stay CSC with sorted
    indices.  Repeated rows are allowed.
    """
    if not sp.issparse(block):
        return np.ascontiguousarray(block[rows])
    n = block.shape[0]
    increasing = rows.size < 2 or bool((rows[1:] > rows[:-1]).all())
    if rows.size and (increasing or np.unique(rows).size == rows.size):
        new_of = np.full(n, -1, dtype=np.int64)
        new_of[rows] = np.arange(rows.size)
        ptr = np.empty(block.shape[1] + 1, dtype=np.int64)
        ind = np.empty(block.nnz, dtype=np.int64)
        dat = np.empty(block.nnz, dtype=block.data.dtype)
        nnz = _select_csc_rows(block.indptr, block.indices, block.data, new_of, ptr, ind, dat)
        idt = index_dtype(nnz, rows.size)
        out = sp.csc_matrix((dat[:nnz], ind[:nnz].astype(idt), ptr.astype(idt)),
                            shape=(rows.size, block.shape[1]), copy=False)
        if increasing and block.has_sorted_indices:
            out.has_sorted_indices = True  # an increasing map keeps each column's order
        else:
            out.sort_indices()
        return out
    out = sp.csc_matrix(block[rows, :])
    if not out.has_canonical_format:
        out.sum_duplicates()
    return out


# ----------------------------------------------------------------------------
# the interface
# ----------------------------------------------------------------------------
class ExpressionSource(abc.ABC):
    """Genes x samples expression data that gives columns on request.

    Subclasses implement :meth:`_read` (all genes of sorted unique columns,
    float64, freshly allocated) and the ``shape``/``genes``/``samples``/
    ``dtype`` properties; they may override :meth:`_iter_raw` (a faster
    streaming pass) and :meth:`_compute_column_totals`.

    Attributes
    ----------
    genes : pandas.Index
        Gene names (rows) as stored.
    samples : pandas.Index
        Sample / cell names (columns) as stored.
    is_sparse : bool
        True when :meth:`columns` returns ``scipy.sparse.csc_matrix``.
    check_finite : bool
        Raise on NaN/inf in the columns read (default True).
    check_counts : bool
        Raise on negative values in the columns read (default False); set by
        count-based preprocessing.

    Examples
    --------
    >>> import numpy as np
    >>> from lazyact.sources import as_source
    >>> src = as_source(np.arange(12.0).reshape(3, 4), genes=["A", "B", "C"])
    >>> src.shape
    (3, 4)
    >>> src.columns(np.array([1, 3]), rows=np.array([2, 0]))
    array([[ 9., 11.],
           [ 1.,  3.]])
    """

    is_sparse: bool = False

    def __init__(self, *, check_finite: bool = True, check_counts: bool = False) -> None:
        self.check_finite = bool(check_finite)
        self.check_counts = bool(check_counts)
        self._column_totals: np.ndarray | None = None
        self._lock = threading.RLock()

    # -- description ---------------------------------------------------------
    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(n_genes, n_samples)``."""

    @property
    @abc.abstractmethod
    def genes(self) -> pd.Index:
        """Gene names as stored (duplicates kept)."""

    @property
    @abc.abstractmethod
    def samples(self) -> pd.Index:
        """Sample / cell names as stored."""

    @property
    @abc.abstractmethod
    def dtype(self) -> np.dtype:
        """dtype of the stored values (``columns`` always returns float64)."""

    @property
    def n_genes(self) -> int:
        return int(self.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.shape[1])

    @property
    def nnz(self) -> int | None:
        """Stored entries for sparse sources, None for dense ones."""
        return None

    @property
    def has_duplicate_genes(self) -> bool:
        """True when some gene name occurs more than once (as stored)."""
        return not self.genes.is_unique

    def describe(self) -> str:
        """A short description naming the source (its file, for file-backed sources), for messages."""
        return type(self).__name__

    def __repr__(self) -> str:
        g, s = self.shape
        kind = "sparse" if self.is_sparse else "dense"
        return f"<{self.describe()}: {g} genes x {s} samples, {kind}, stored {np.dtype(self.dtype)}>"

    # -- subclass hooks ------------------------------------------------------
    @abc.abstractmethod
    def _read(self, cols: np.ndarray) -> np.ndarray | sp.csc_matrix:
        """All genes of sorted unique, in-range ``cols`` (float64, owned)."""

    def _iter_raw(self, block: int, start: int, stop: int) -> Iterator[tuple[slice, Any]]:
        for a in range(start, stop, block):
            b = min(a + block, stop)
            yield slice(a, b), self._read(np.arange(a, b, dtype=np.intp))

    def _bytes_per_column(self) -> float:
        nnz = self.nnz
        if nnz is not None and self.n_samples:
            return 12.0 * nnz / self.n_samples + 8.0
        return 8.0 * max(self.n_genes, 1)

    def default_block(self, target_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
        """A column-block size whose float64 data is about ``target_bytes``."""
        b = int(target_bytes // max(self._bytes_per_column(), 1.0))
        return int(min(max(b, 1), max(self.n_samples, 1)))

    # -- public API ----------------------------------------------------------
    def columns(self, cols: Any, rows: Any = None) -> np.ndarray | sp.csc_matrix:
        """Columns ``cols`` as a genes x len(cols) float64 block.

        Parameters
        ----------
        cols : array of int
            Sample positions, ideally sorted and unique (other orders and
            repeats are allowed and cost one extra gather).  A slice or a
            single int is accepted too.  Out of range -> ``IndexError``.
        rows : array of int, optional
            Gene positions to keep, in this order (repeats allowed), e.g. the
            shared-gene order with a signature.  Default: all genes.

        Returns
        -------
        numpy.ndarray or scipy.sparse.csc_matrix
            Dense sources return a C- or F-contiguous array, sparse sources a
            CSC matrix with sorted indices.  The caller owns the result.

        Raises
        ------
        ValueError
            NaN/inf (or, with ``check_counts``, negative) values in the
            columns read; the message names the first bad sample.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lazyact.sources import as_source
        >>> src = as_source(sp.random(5, 8, density=0.5, format="csc", random_state=0))
        >>> src.columns(np.array([0, 4])).shape
        (5, 2)
        """
        cols_u, inv = normalise_indices(cols, self.n_samples, "column")
        rows_u = None
        if rows is not None:
            rows_u = self._normalise_rows(rows)
        if cols_u.size == 0:
            block = self._empty(0)
        else:
            block = self._read(cols_u)
            self._validate(block, cols_u)
        if inv is not None:
            block = block[:, inv]
            if sp.issparse(block):
                block = sp.csc_matrix(block)
        if rows_u is not None:
            block = select_rows(block, rows_u)
        return block

    def _normalise_rows(self, rows: Any) -> np.ndarray:
        if isinstance(rows, slice):
            return np.arange(*rows.indices(self.n_genes), dtype=np.intp)
        r = np.asarray(rows)
        if r.dtype == bool:
            raise TypeError("boolean row masks are not accepted here; use np.flatnonzero")
        if r.ndim != 1:
            raise IndexError(f"rows must be 1-D, got shape {r.shape}")
        if r.size == 0:
            return np.empty(0, dtype=np.intp)
        if r.dtype.kind not in "iu":
            raise IndexError(f"row indices must be integers, got dtype {r.dtype}")
        r = r.astype(np.intp, copy=False)
        n = self.n_genes
        lo, hi = r.min(), r.max()
        if lo < -n or hi >= n:
            raise IndexError(f"row index {lo if lo < -n else hi} is out of range for {n} genes")
        return np.where(r < 0, r + n, r) if lo < 0 else r

    def _empty(self, k: int) -> np.ndarray | sp.csc_matrix:
        if self.is_sparse:
            return sp.csc_matrix((self.n_genes, k), dtype=np.float64)
        return np.zeros((self.n_genes, k), dtype=np.float64)

    def iter_columns(self, block: int, rows: Any = None, *, start: int = 0,
                     stop: int | None = None) -> Iterator[tuple[slice, np.ndarray | sp.csc_matrix]]:
        """Stream the columns in blocks of ``block`` samples.

        Yields ``(slice(a, b), columns(arange(a, b), rows))``.  Memory stays
        bounded by the block (plus a backend-specific scan buffer, see the
        backend docs), not by the number of samples.

        Examples
        --------
        >>> import numpy as np
        >>> from lazyact.sources import as_source
        >>> src = as_source(np.ones((3, 5)))
        >>> [sl for sl, blk in src.iter_columns(2)]
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
        """
        block = int(block)
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        n = self.n_samples
        stop = n if stop is None else int(stop)
        start = int(start)
        if not (0 <= start <= stop <= n):
            raise IndexError(f"start/stop {start}:{stop} out of range for {n} samples")
        rows_u = None if rows is None else self._normalise_rows(rows)
        for sl, blk in self._iter_raw(block, start, stop):
            self._validate(blk, np.arange(sl.start, sl.stop))
            if rows_u is not None:
                blk = select_rows(blk, rows_u)
            yield sl, blk

    def column_totals(self) -> np.ndarray:
        """Per-sample sum over ALL genes (library size), float64.

        Computed by one streaming pass on first use and cached on the object
        (not pickled).  Non-finite values raise ``ValueError``.

        Examples
        --------
        >>> import numpy as np
        >>> from lazyact.sources import as_source
        >>> as_source(np.array([[1.0, 2.0], [3.0, 4.0]])).column_totals()
        array([4., 6.])
        """
        with self._lock:
            if self._column_totals is None:
                tot = np.asarray(self._compute_column_totals(), dtype=np.float64)
                if self.check_finite and not np.isfinite(tot).all():
                    j = int(np.flatnonzero(~np.isfinite(tot))[0])
                    # re-read that column to produce the precise message
                    self._validate(self._read(np.array([j])), np.array([j]))
                    self._raise_bad(j, "a non-finite total (overflow)")
                if self.check_counts and (tot < 0).any():
                    j = int(np.flatnonzero(tot < 0)[0])
                    self._raise_bad(j, "negative values")
                tot.flags.writeable = False
                self._column_totals = tot
            return self._column_totals

    def _compute_column_totals(self) -> np.ndarray:
        out = np.empty(self.n_samples, dtype=np.float64)
        check = self.check_counts
        for sl, blk in self._iter_raw(self.default_block(), 0, self.n_samples):
            if check:
                self._validate(blk, np.arange(sl.start, sl.stop))
            out[sl] = np.asarray(blk.sum(axis=0)).ravel()
        return out

    # -- validation ----------------------------------------------------------
    def _validate(self, block: np.ndarray | sp.csc_matrix, cols: np.ndarray) -> None:
        if not (self.check_finite or self.check_counts):
            return
        if sp.issparse(block):
            data = block.data

            def col_of(pos: int) -> int:
                return int(np.searchsorted(block.indptr, pos, side="right") - 1)
        else:
            data = block

            def col_of(pos: int) -> int:
                return int(np.unravel_index(pos, block.shape, order="F")[1])
        if data.size == 0:
            return
        if self.check_finite:
            # cheap test first: a sum is finite iff all terms are (barring overflow)
            s = np.sum(data)
            if not np.isfinite(s):
                bad = ~np.isfinite(data)
                if bad.any():
                    if sp.issparse(block):
                        j = col_of(int(np.flatnonzero(bad)[0]))
                    else:
                        j = int(np.flatnonzero(bad.any(axis=0))[0])
                    v = (block.data[np.flatnonzero(bad)[0]] if sp.issparse(block)
                         else block[:, j][~np.isfinite(block[:, j])][0])
                    self._raise_bad(int(cols[j]), f"a non-finite value ({v})")
        if self.check_counts:
            neg = data < 0
            if neg.any():
                if sp.issparse(block):
                    j = col_of(int(np.flatnonzero(neg)[0]))
                else:
                    j = int(np.flatnonzero(neg.any(axis=0))[0])
                self._raise_bad(int(cols[j]), "negative values where counts are expected")

    def _raise_bad(self, col: int, what: str) -> None:
        try:
            name = repr(self.samples[col])
        except Exception:  # names unreadable: still report the position
            name = "?"
        raise ValueError(
            f"{self.describe()}: sample {name} (column {col}) contains {what}; "
            "clean the input or pass check_finite=False / check_counts=False to skip this check"
        )

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        """Release files held by the source (no-op for in-memory data)."""

    def __enter__(self) -> "ExpressionSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    _transient: tuple[str, ...] = ()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_column_totals"] = None
        for k in self._transient:
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        for k in self._transient:
            self.__dict__.setdefault(k, None)
        self._reopen()

    def _reopen(self) -> None:
        """Hook run after unpickling (file-backed sources reopen here)."""


class DescribedSource(ExpressionSource):
    """A source whose shape and names are set when it is made: subclasses assign
    ``_shape``, ``_genes`` and ``_samples`` in ``__init__`` (and give ``dtype``)."""

    _shape: tuple[int, int]
    _genes: pd.Index
    _samples: pd.Index

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def genes(self) -> pd.Index:
        return self._genes

    @property
    def samples(self) -> pd.Index:
        return self._samples


class FileSource(ExpressionSource):
    """A source read chunk-wise from a file (or store) opened by path; pickles as its path and options.

    The format's subclass gives ``_open_file()`` (the open handle), ``_close_file(handle)``,
    ``_handle_valid(handle)``, ``_guard()`` (a context naming the file in read errors),
    ``_setup(handle)`` (sets ``_reader``, ``_shape``, ``_dtype``, ``_nnz``, ``is_sparse``)
    and ``_read_genes(handle)`` / ``_read_samples(handle)``. The reader has ``shape``,
    ``dtype``, ``nnz``, ``read(cols)``, ``iter_blocks(block, start, stop)`` and
    ``column_totals`` (a method giving ``(totals, first negative sample)``, or None).
    Names are read on first use; the copy made by unpickling reopens the file. (That the
    file is still the one an activity was built from is checked by the activity:
    :func:`lazyact.results.fingerprint.check_input_stamps`.)
    """

    _transient = ("_file", "_reader", "_genes", "_samples")

    def __init__(self, path: Any, *, check_finite: bool, check_counts: bool,
                 scan_chunk: int, scan_bytes: int) -> None:
        super().__init__(check_finite=check_finite, check_counts=check_counts)
        self.path = os.fspath(path)
        self.scan_chunk = int(scan_chunk)
        self.scan_bytes = int(scan_bytes)
        self._file: Any = None
        self._reader: Any = None
        self._genes: pd.Index | None = None
        self._samples: pd.Index | None = None
        self._open()

    # -- the format's hooks
    def _open_file(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close_file(self, handle: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _handle_valid(self, handle: Any) -> bool:
        return True

    def _guard(self) -> Any:
        return contextlib.nullcontext()

    def _setup(self, handle: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_genes(self, handle: Any) -> pd.Index:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_samples(self, handle: Any) -> pd.Index:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- life cycle
    def _open(self) -> None:
        f = self._open_file()
        try:
            with self._guard():
                self._setup(f)
        except BaseException:
            self._close_file(f)
            raise
        self._file = f

    def _reopen(self) -> None:
        self._open()

    def close(self) -> None:
        """Close the file; reading afterwards raises ``SourceClosedError``."""
        if self._file is not None:
            self._close_file(self._file)
        self._file = None
        self._reader = None

    def _closed(self) -> SourceClosedError:
        return SourceClosedError(f"{self.describe()} is closed; create a new source from the path")

    def _root(self) -> Any:
        if self._file is None or not self._handle_valid(self._file):
            raise self._closed()
        return self._file

    def _live(self) -> Any:
        if self._reader is None:
            raise self._closed()
        self._root()
        return self._reader

    # -- description
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def nnz(self) -> int | None:
        return self._nnz

    @property
    def genes(self) -> pd.Index:
        if self._genes is None:
            with self._lock, self._guard():
                if self._genes is None:
                    self._genes = self._read_genes(self._root())
        return self._genes

    @property
    def samples(self) -> pd.Index:
        if self._samples is None:
            with self._lock, self._guard():
                if self._samples is None:
                    self._samples = self._read_samples(self._root())
        return self._samples

    # -- reading
    def _read(self, cols: np.ndarray) -> np.ndarray | sp.csc_matrix:
        r = self._live()
        with self._guard():
            return r.read(cols)

    def _iter_raw(self, block: int, start: int, stop: int) -> Iterator[tuple[slice, Any]]:
        r = self._live()
        with self._guard():
            yield from r.iter_blocks(block, start, stop)

    def _compute_column_totals(self) -> np.ndarray:
        r = self._live()
        if getattr(r, "column_totals", None) is not None:
            with self._guard():
                tot, neg = r.column_totals(self.check_counts)
            if neg is not None and self.check_counts:
                self._raise_bad(neg, "negative values where counts are expected")
            return tot
        return super()._compute_column_totals()

    def _validate(self, block: np.ndarray | sp.csc_matrix, cols: np.ndarray) -> None:
        if self._dtype.kind in "biu" and not self.check_counts:
            return
        super()._validate(block, cols)
