"""A second storage level for a :class:`~lazyact.array.blocks.BlockStore`: blocks kept on disk.

The in-memory block cache holds what is being looked at; a full pass over a large array
(a reduction, a ranking, a write) does not fill it, so a second full pass would compute
every block again. A :class:`BlockTier` keeps full-height column blocks instead, where
they cost disk space rather than memory: the store's :meth:`~BlockStore.compute` reads the
columns the tier holds and computes only the others (:func:`tiered_compute`), and full
-height column blocks it computes are handed to the tier to keep.

Nothing here knows how a tier stores its blocks: :mod:`lazyact.results.tier` provides the
tiers (a scratch folder of finished blocks, and a persisted results file).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = ["BlockTier", "tiered_compute", "tier_fraction"]


@runtime_checkable
class BlockTier(Protocol):
    """Full-height column blocks of a store's outputs, kept outside memory.

    Attributes
    ----------
    width : int
        Columns per tier block: block ``k`` is columns ``[k * width, (k + 1) * width)``
        of every output, all rows.
    writable : bool
        Whether :meth:`write` may be called (a finished results file is read-only).
    location : str
        Where the blocks are (for ``repr`` and messages).
    """

    width: int
    writable: bool
    location: str

    def done(self) -> np.ndarray:
        """One bool per column block: held by the tier (a snapshot; it only ever grows)."""
        ...

    def read(self, rows: np.ndarray, cols: np.ndarray) -> Mapping[str, np.ndarray]:
        """``rows x cols`` of every output; every column lies in a block that is :meth:`done`."""
        ...

    def write(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep column block ``k`` (all rows) of every output; it is :meth:`done` afterwards.

        A tier that cannot keep it (disk full, over its budget) stops writing and says why;
        it never raises for that: the values were computed, and the caller still has them.
        """
        ...


def tiered_compute(store: Any, rows: np.ndarray, cols: np.ndarray,
                   compute: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``rows x cols`` of every output of ``store`` (a :class:`~lazyact.array.blocks.BlockStore`): read from
    its tier where it has them, else ``compute``d.

    Columns computed here that complete a full-height tier block are given to the tier.
    Cells read are counted as ``store.stats.stored_cells``, blocks given as
    ``stored_blocks``; ``compute`` counts what it computes.
    """
    tier = store.tier
    width = int(tier.width)
    k_of = cols // width
    have = np.asarray(tier.done(), dtype=bool)[k_of] if cols.size else np.zeros(0, dtype=bool)
    if have.all():
        res = dict(tier.read(rows, cols))
        store.stats.add(stored_cells=rows.size * cols.size)
        return res
    if not have.any():
        res = compute(rows, cols)
        new_cols = cols
    else:
        new_cols = cols[~have]
        fresh = compute(rows, new_cols)
        old = tier.read(rows, cols[have])
        store.stats.add(stored_cells=rows.size * int(have.sum()))
        res = {}
        for n in store.names:
            out = np.empty((rows.size, cols.size), dtype=store.dtype)
            out[:, ~have] = fresh[n]
            out[:, have] = old[n]
            res[n] = out
    if tier.writable and rows.size == store.shape[0]:
        _spill(store, tier, width, cols, new_cols, res)
    return res


def _spill(store: Any, tier: BlockTier, width: int, cols: np.ndarray, new_cols: np.ndarray,
           res: Mapping[str, np.ndarray]) -> None:
    """Give the tier every full column block among ``new_cols`` (all rows were computed)."""
    m = store.shape[1]
    blocks, counts = np.unique(new_cols // width, return_counts=True)
    for k, count in zip(blocks.tolist(), counts.tolist()):
        lo, hi = k * width, min(m, (k + 1) * width)
        if count != hi - lo:
            continue
        start = int(np.searchsorted(cols, lo))
        tier.write(k, {n: res[n][:, start : start + (hi - lo)] for n in store.names})
        if not tier.writable:  # it stopped (full, over budget): nothing more to give
            return
        store.stats.add(stored_blocks=1)


def tier_fraction(tier: BlockTier | None, n_cols: int) -> float:
    """Fraction of all columns a tier holds (0 without a tier).

    Examples
    --------
    >>> class Half:
    ...     width, writable, location = 2, False, "here"
    ...     def done(self): return np.array([True, False])
    >>> tier_fraction(Half(), 4), tier_fraction(None, 4)
    (0.5, 0.0)
    """
    if tier is None or n_cols == 0:
        return 0.0
    done = np.asarray(tier.done(), dtype=bool)
    width = int(tier.width)
    cols = sum(min(n_cols, (k + 1) * width) - k * width for k in np.flatnonzero(done).tolist())
    return cols / n_cols
