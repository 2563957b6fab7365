"""A column subset of another source: some of its samples, read through it.

:class:`ColumnSubset` presents chosen columns of a source (cells kept by a filter,
in-tissue spots of a Visium matrix) as a source of their own.  Nothing is copied:
each read maps the requested positions to the inner source's columns and reads
those, so the cost is the inner source's for the same columns.  The subset pickles
with its inner source (by reference for file-backed sources).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .base import DescribedSource, ExpressionSource

__all__ = ["ColumnSubset"]


class ColumnSubset(DescribedSource):
    """Columns ``cols`` of ``source`` (sorted, unique) as a genes x len(cols) source.

    Sample-level annotations of the inner source follow the subset: ``obs_column``,
    ``obs_keys`` and ``spatial`` (when the inner source has them) give the subset's rows.

    Parameters
    ----------
    source : ExpressionSource
    cols : array of int
        Positions of the kept samples in ``source``; sorted unique (a boolean mask
        of length ``source.n_samples`` is accepted too).

    Examples
    --------
    >>> import numpy as np
    >>> from lazyact.sources import as_source
    >>> sub = ColumnSubset(as_source(np.arange(12.0).reshape(3, 4)), [1, 3])
    >>> sub.shape, list(sub.samples)
    ((3, 2), [1, 3])
    >>> sub.columns(np.array([1])).ravel().tolist()
    [3.0, 7.0, 11.0]
    """

    def __init__(self, source: ExpressionSource, cols: Any) -> None:
        super().__init__(check_finite=source.check_finite, check_counts=source.check_counts)
        cols = np.asarray(cols)
        if cols.dtype == bool:
            if cols.shape != (source.n_samples,):
                raise ValueError(f"a boolean mask of samples needs {source.n_samples} entries, got {cols.shape}")
            cols = np.flatnonzero(cols)
        cols = cols.astype(np.intp, copy=False)
        if cols.ndim != 1 or (cols.size and (np.any(np.diff(cols) <= 0) or cols[0] < 0
                                              or cols[-1] >= source.n_samples)):
            raise ValueError(f"columns of a subset must be sorted unique positions in 0..{source.n_samples - 1}")
        self.source = source
        self.cols = cols
        self.is_sparse = bool(source.is_sparse)
        self._shape = (source.n_genes, int(cols.size))
        self._genes = source.genes
        self._samples = source.samples[cols]
        self.layer = getattr(source, "layer", None)

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    @property
    def nnz(self) -> int | None:
        nnz = self.source.nnz
        if nnz is None or not self.source.n_samples:
            return nnz
        return int(round(nnz * self.cols.size / self.source.n_samples))  # an estimate, for block sizes

    def describe(self) -> str:
        return f"{self.source.describe()} ({self.cols.size} of {self.source.n_samples} samples)"

    def _read(self, cols: np.ndarray):
        return self.source.columns(self.cols[cols])

    def _validate(self, block, cols) -> None:
        """The inner source validated the columns it read."""

    # -- annotations of the kept samples -------------------------------------------------
    def obs_keys(self) -> list[str]:
        keys = getattr(self.source, "obs_keys", None)
        return list(keys()) if callable(keys) else []

    def obs_column(self, name: str) -> pd.Series:
        getter = getattr(self.source, "obs_column", None)
        if not callable(getter):
            raise KeyError(f"{self.source.describe()} has no obs")
        return getter(name).iloc[self.cols]

    @property
    def spatial(self) -> np.ndarray:
        """The inner source's spatial coordinates of the kept samples."""
        coords = getattr(self.source, "spatial", None)
        coords = coords() if callable(coords) else coords
        if coords is None:
            raise KeyError(f"{self.source.describe()} has no spatial coordinates")
        return np.asarray(coords)[self.cols]

    def close(self) -> None:
        self.source.close()
