"""Toy block functions for the lazyact.array tests (know nothing about SecAct)."""
from __future__ import annotations

import threading
import time

import numpy as np


class RefusedError(RuntimeError):
    """Raised by a Toy asked for cells outside its allowed set."""


def toy_values(rows, cols, nan=False, nan_rows=()):
    """a = sin(0.37 i) + cos(1.3 j) + i j 1e-3; b = a**2 - j / 7."""
    i = np.asarray(rows, dtype=np.float64)[:, None]
    j = np.asarray(cols, dtype=np.float64)[None, :]
    a = np.sin(0.37 * i) + np.cos(1.3 * j) + i * j * 1e-3
    b = a**2 - j / 7.0
    if nan:
        ii = np.asarray(rows)[:, None]
        jj = np.asarray(cols)[None, :]
        planted = (ii * 7 + jj * 3) % 11 == 0
        if len(nan_rows):
            planted = planted | np.isin(ii, np.asarray(nan_rows)) | np.zeros_like(jj, dtype=bool)
        a = np.where(planted, np.nan, a)
        b = np.where(planted, np.nan, b)
    return {"a": a, "b": b}


class Toy:
    """A BlockFunction with names ("a", "b") that records every cell it computes.

    ``allowed``: boolean mask of cells it agrees to compute (else RefusedError);
    ``delay``: seconds slept per call (to provoke concurrency);
    it counts calls whose rectangles overlap a concurrently running call.
    """

    names = ("a", "b")

    def __init__(self, shape, *, nan=False, nan_rows=(), allowed=None, delay=0.0, dtype=np.float64, preferred_chunks=None):
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.nan = nan
        self.nan_rows = tuple(nan_rows)
        self.allowed = allowed
        self.delay = delay
        if preferred_chunks is not None:
            self.preferred_chunks = preferred_chunks
        self._reset()

    def _reset(self):
        self.lock = threading.Lock()
        self.calls = []
        self.inflight = {}
        self.concurrent_duplicates = 0
        self.max_inflight = 0
        self._next = 0

    def __getstate__(self):
        state = self.__dict__.copy()
        for k in ("lock", "calls", "inflight", "concurrent_duplicates", "max_inflight", "_next"):
            state.pop(k)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    def full(self):
        return {k: v.astype(self.dtype) for k, v in toy_values(np.arange(self.shape[0]), np.arange(self.shape[1]), self.nan, self.nan_rows).items()}

    @property
    def counts(self):
        """How many times each cell was computed (dense; small shapes only)."""
        counts = np.zeros(self.shape, dtype=np.int64)
        with self.lock:
            for r, c in self.calls:
                counts[np.ix_(r, c)] += 1
        return counts

    @property
    def ncells(self):
        with self.lock:
            return sum(r.size * c.size for r, c in self.calls)

    def __call__(self, rows, cols):
        assert rows.dtype == np.intp and cols.dtype == np.intp
        assert rows.ndim == 1 and cols.ndim == 1 and rows.size and cols.size
        assert np.all(np.diff(rows) > 0) and np.all(np.diff(cols) > 0), "rows/cols must be sorted unique"
        if self.allowed is not None and not self.allowed[np.ix_(rows, cols)].all():
            raise RefusedError(f"asked for cells outside the allowed set: rows {rows}, cols {cols}")
        with self.lock:
            for r, c in self.inflight.values():
                if np.intersect1d(r, rows).size and np.intersect1d(c, cols).size:
                    self.concurrent_duplicates += 1
            token = self._next
            self._next += 1
            self.inflight[token] = (rows, cols)
            self.max_inflight = max(self.max_inflight, len(self.inflight))
            self.calls.append((rows.copy(), cols.copy()))
        try:
            if self.delay:
                time.sleep(self.delay)
            out = toy_values(rows, cols, self.nan, self.nan_rows)
            return {k: v.astype(self.dtype) for k, v in out.items()}
        finally:
            with self.lock:
                del self.inflight[token]
