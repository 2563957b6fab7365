"""Dense in-memory and memory-mapped sources (NumPy arrays, ``numpy.memmap``, DataFrames).

Column access cost
------------------
* genes x samples storage: ``A[:, cols]`` -- one strided gather of
  ``n_genes * len(cols)`` values.  For a C-ordered memmap each value of a
  column sits on its own row, so one column touches up to ``n_genes`` pages;
  contiguous column runs are read as slices.
* samples x genes storage (``orientation="samples x genes"``, AnnData-like):
  each sample is one contiguous row, so reading ``k`` samples touches exactly
  ``k * n_genes * itemsize`` bytes; the result is F-contiguous.
"""
from __future__ import annotations

import mmap
import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .base import DescribedSource, ExpressionSource, as_index, is_contiguous, parse_orientation
from .sparse import SparseSource

__all__ = ["DenseSource", "from_dataframe"]


def _take(arr: np.ndarray, cols: np.ndarray, axis: int) -> np.ndarray:
    """``np.take`` that slices contiguous runs (a view, no copy yet)."""
    if is_contiguous(cols):
        sl = slice(int(cols[0]), int(cols[-1]) + 1)
        return arr[sl] if axis == 0 else arr[:, sl]
    return np.take(arr, cols, axis=axis)


class DenseSource(DescribedSource):
    """A dense 2-D array (ndarray or ``numpy.memmap``) as an expression source.

    Parameters
    ----------
    array : numpy.ndarray or numpy.memmap
        2-D numeric array.  It is not copied.
    genes, samples : sequence of str, optional
        Names; default ``RangeIndex``.
    orientation : str, default "genes x samples"
        ``"samples x genes"`` (or ``"cells x genes"``) for arrays stored with
        one sample per row.
    check_finite, check_counts : bool
        See :class:`~lazyact.sources.base.ExpressionSource`.  Values are
        checked per block when read, never for the whole array up front.

    Notes
    -----
    Pickling: a ``numpy.memmap`` that maps a whole file region pickles by
    reference (file name, offset, dtype, shape, order) and is mapped again
    read-only on unpickling; any other array pickles by value.

    Examples
    --------
    >>> import numpy as np
    >>> src = DenseSource(np.arange(6.0).reshape(2, 3), genes=["A", "B"])
    >>> src.columns(np.array([2]))
    array([[2.],
           [5.]])
    """

    is_sparse = False

    def __init__(self, array: np.ndarray, genes: Sequence[Any] | None = None,
                 samples: Sequence[Any] | None = None, *, orientation: str | None = None,
                 check_finite: bool = True, check_counts: bool = False) -> None:
        super().__init__(check_finite=check_finite, check_counts=check_counts)
        if isinstance(array, np.matrix):
            array = np.asarray(array)
        if not isinstance(array, np.ndarray):
            raise TypeError(f"DenseSource needs a numpy array, got {type(array).__name__}")
        if array.ndim != 2:
            raise ValueError(f"expression matrix must be 2-D, got shape {array.shape}")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"expression values must be numeric (bool/int/float), got dtype {array.dtype}")
        self._samples_first = parse_orientation(orientation)
        self._arr = array
        ng, ns = array.shape[::-1] if self._samples_first else array.shape
        self._shape = (int(ng), int(ns))
        self._genes = as_index(genes, ng, "genes")
        self._samples = as_index(samples, ns, "samples")
        self._memmap_ref: tuple | None = None

    # -- properties ----------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self._arr.dtype

    @property
    def array(self) -> np.ndarray:
        """The wrapped array, in its stored orientation."""
        return self._arr

    def describe(self) -> str:
        kind = "memmap" if isinstance(self._arr, np.memmap) else "ndarray"
        o = "samples x genes" if self._samples_first else "genes x samples"
        return f"DenseSource({kind}, {o})"

    # -- reading -------------------------------------------------------------
    def _read(self, cols: np.ndarray) -> np.ndarray:
        # a contiguous run is a view of the storage: copy it; a gather is fresh already
        conv = np.array if is_contiguous(cols) else np.asarray
        if self._samples_first:
            sub = _take(self._arr, cols, axis=0)  # k x genes, rows contiguous
            return conv(sub, dtype=np.float64, order="C").T  # F-contiguous genes x k
        sub = _take(self._arr, cols, axis=1)
        return conv(sub, dtype=np.float64, order="C")

    def _validate(self, block, cols):  # ints cannot be non-finite
        if self._arr.dtype.kind in "biu" and not self.check_counts:
            return
        super()._validate(block, cols)

    # -- pickling ------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = super().__getstate__()
        ref = _memmap_reference(self._arr)
        if ref is not None:
            state["_arr"] = None
            state["_memmap_ref"] = ref
        return state

    def _reopen(self) -> None:
        if self._arr is None and self._memmap_ref is not None:
            fn, dtype, shape, order, offset = self._memmap_ref
            self._arr = np.memmap(fn, dtype=dtype, mode="r", shape=shape, order=order, offset=offset)


def _memmap_reference(arr: np.ndarray) -> tuple | None:
    """(filename, dtype, shape, order, offset) when ``arr`` maps a file region as a whole."""
    if not isinstance(arr, np.memmap) or getattr(arr, "filename", None) is None:
        return None
    if not isinstance(arr.base, mmap.mmap):  # a view of a memmap: pickle by value
        return None
    if arr.flags.c_contiguous:
        order = "C"
    elif arr.flags.f_contiguous:
        order = "F"
    else:
        return None
    if not os.path.exists(arr.filename):
        return None
    return (os.fspath(arr.filename), arr.dtype.str, arr.shape, order, int(arr.offset))


def from_dataframe(df: pd.DataFrame, *, orientation: str | None = None, check_finite: bool = True,
                   check_counts: bool = False) -> ExpressionSource:
    """A source from a pandas DataFrame (index = genes, columns = samples).

    Parameters
    ----------
    df : pandas.DataFrame
        Numeric genes x samples table.  With ``orientation="samples x genes"``
        the index holds samples and the columns genes.  A DataFrame whose
        columns are all ``pd.SparseDtype`` becomes a sparse source.
    orientation : str, optional
    check_finite, check_counts : bool

    Returns
    -------
    DenseSource or SparseSource

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"s1": [1.0, 2.0], "s2": [3.0, 4.0]}, index=["IL6", "TNF"])
    >>> src = from_dataframe(df)
    >>> list(src.genes), list(src.samples)
    (['IL6', 'TNF'], ['s1', 's2'])
    """
    samples_first = parse_orientation(orientation)
    bad = [c for c, t in df.dtypes.items()
           if not (isinstance(t, pd.SparseDtype) or pd.api.types.is_numeric_dtype(t)
                   or pd.api.types.is_bool_dtype(t))]
    if bad:
        raise TypeError(f"DataFrame has non-numeric columns {bad[:5]}{'...' if len(bad) > 5 else ''}; "
                        "drop them or set them as the index")
    genes, samples = (df.columns, df.index) if samples_first else (df.index, df.columns)
    o = "samples x genes" if samples_first else "genes x samples"
    if len(df.columns) and all(isinstance(t, pd.SparseDtype) for t in df.dtypes):
        return SparseSource(df.sparse.to_coo().tocsc(), genes=genes, samples=samples,
                            orientation=o, check_finite=check_finite, check_counts=check_counts)
    values = df.to_numpy()
    if values.dtype.kind not in "biuf":  # mixed / nullable / object-with-numbers
        values = df.to_numpy(dtype=np.float64, na_value=np.nan)
    return DenseSource(values, genes=genes, samples=samples, orientation=o,
                       check_finite=check_finite, check_counts=check_counts)
