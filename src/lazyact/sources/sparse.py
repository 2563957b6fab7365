"""In-memory SciPy sparse sources (CSR/CSC matrices and arrays, any other format).

Column access cost
------------------
The matrix is first viewed as genes x samples (a transpose is free: CSR^T is
CSC and vice versa).

* CSC genes x samples (e.g. an AnnData CSR ``X`` transposed): column ``j`` is
  the contiguous slice ``indptr[j]:indptr[j+1]``; reading ``k`` columns costs
  ``O(k + nnz(cols))`` and touches only their entries.
* CSR genes x samples (e.g. an AnnData CSC ``X`` transposed): a column is
  scattered over every row.  ``csr_strategy="convert"`` (default) converts
  the matrix ONCE, lazily on the first read, to CSC and keeps the copy
  (extra memory: one more copy of the matrix in its stored dtype,
  ``nnz * (itemsize + 4..8) + 8 * (n_samples + 1)`` bytes); every read after
  that costs as above.  ``csr_strategy="scan"`` keeps no copy and scans all
  ``nnz`` stored entries on every read (SciPy minor-axis indexing), which
  suits a handful of reads of a matrix too large to duplicate.
* COO/LIL/DOK/BSR/DIA inputs are converted to CSC once at construction.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from .base import DescribedSource, as_index, make_csc, parse_orientation, take_csc_columns

__all__ = ["SparseSource"]


class SparseSource(DescribedSource):
    """A SciPy sparse matrix or array as an expression source.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array
        Not copied (except for formats other than CSR/CSC, see module notes).
    genes, samples : sequence, optional
        Names; default ``RangeIndex``.
    orientation : str, default "genes x samples"
        ``"samples x genes"`` / ``"cells x genes"`` for AnnData-like layout.
    csr_strategy : {"convert", "scan"}
        How to read columns when they are the minor axis (module notes).
    check_finite, check_counts : bool

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> m = sp.csr_matrix(np.array([[0, 1.0], [2.0, 0]]))
    >>> SparseSource(m, genes=["A", "B"]).columns(np.array([1])).toarray()
    array([[1.],
           [0.]])
    """

    is_sparse = True

    def __init__(self, matrix: Any, genes: Sequence[Any] | None = None,
                 samples: Sequence[Any] | None = None, *, orientation: str | None = None,
                 csr_strategy: str = "convert", check_finite: bool = True,
                 check_counts: bool = False) -> None:
        super().__init__(check_finite=check_finite, check_counts=check_counts)
        if not sp.issparse(matrix):
            raise TypeError(f"SparseSource needs a scipy.sparse matrix, got {type(matrix).__name__}")
        if matrix.ndim != 2:
            raise ValueError(f"expression matrix must be 2-D, got shape {matrix.shape}")
        if np.dtype(matrix.dtype).kind not in "biuf":
            raise TypeError(f"expression values must be numeric, got dtype {matrix.dtype}")
        if csr_strategy not in ("convert", "scan"):
            raise ValueError(f"csr_strategy must be 'convert' or 'scan', got {csr_strategy!r}")
        self.csr_strategy = csr_strategy
        self._samples_first = parse_orientation(orientation)
        m = matrix.T if self._samples_first else matrix  # genes x samples view
        if m.format not in ("csc", "csr"):
            m = m.tocsc()
        self._m = m
        self._csc_cache: Any = None
        self._shape = (int(m.shape[0]), int(m.shape[1]))
        self._genes = as_index(genes, self._shape[0], "genes")
        self._samples = as_index(samples, self._shape[1], "samples")

    _transient = ("_csc_cache",)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._m.dtype)

    @property
    def nnz(self) -> int:
        return int(self._m.nnz)

    @property
    def matrix(self) -> Any:
        """The wrapped matrix viewed as genes x samples."""
        return self._m

    def describe(self) -> str:
        return f"SparseSource({self._m.format} genes x samples{', converted to CSC' if self._csc_cache is not None else ''})"

    def _csc(self) -> Any:
        if self._m.format == "csc":
            return self._m
        if self.csr_strategy == "scan":
            return None
        with self._lock:
            if self._csc_cache is None:
                self._csc_cache = self._m.tocsc()
            return self._csc_cache

    def _read(self, cols: np.ndarray) -> sp.csc_matrix:
        c = self._csc()
        if c is not None:
            return take_csc_columns(c.indptr, c.indices, c.data, cols, self._shape[0])
        sub = self._m[:, cols].tocsc()  # O(nnz) scan of the CSR structure, no full copy
        return make_csc(sub.data, sub.indices, sub.indptr, sub.shape)

    def _validate(self, block, cols):
        if np.dtype(self._m.dtype).kind in "biu" and not self.check_counts:
            return
        super()._validate(block, cols)
