"""Chunk geometry of a 2-D array: chunk shapes, and index sets split by chunk.

Nothing here computes or stores values; :mod:`lazyact.array.blocks` and the writers in
:mod:`lazyact.array.sinks` walk a chunk grid with these helpers.

* :func:`auto_chunks` -- a chunk shape of about a given number of bytes per block;
* :func:`normalise_chunks` -- a user's ``chunks`` argument checked against a shape;
* :func:`grid_shape` -- number of chunks along each axis;
* :func:`chunk_groups` / :func:`full_groups` -- sorted indices (or a whole axis) split
  into one :class:`ChunkGroup` per chunk they touch;
* :func:`compact` -- a sorted index array as a slice when it is an arithmetic progression.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import config

__all__ = [
    "ChunkGroup",
    "auto_chunks",
    "chunk_groups",
    "compact",
    "full_groups",
    "grid_shape",
    "normalise_chunks",
]


class ChunkGroup(NamedTuple):
    """The part of a sorted index set that falls in one chunk along one axis.

    Attributes
    ----------
    chunk : int
        Chunk number along the axis.
    index : numpy.ndarray
        The global indices in this chunk (sorted, unique, ``intp``).
    local : numpy.ndarray or slice
        The same indices relative to the chunk's start (a slice when contiguous).
    positions : slice
        Where these indices sit within the whole selection.
    """

    chunk: int
    index: np.ndarray
    local: np.ndarray | slice
    positions: slice


def compact(local: np.ndarray) -> np.ndarray | slice:
    """A sorted unique index array as a slice when it is an arithmetic progression.

    Examples
    --------
    >>> compact(np.array([2, 4, 6])), compact(np.array([1, 2, 5]))
    (slice(2, 7, 2), array([1, 2, 5]))
    """
    n = local.size
    if n == 0:
        return local
    first = int(local[0])
    if n == 1 or int(local[-1]) - first == n - 1:
        return slice(first, int(local[-1]) + 1)
    step = int(local[1]) - first
    if int(local[-1]) - first == step * (n - 1) and np.all(np.diff(local) == step):
        return slice(first, int(local[-1]) + 1, step)
    return local


def chunk_groups(idx: np.ndarray, chunk: int) -> list[ChunkGroup]:
    """Split sorted unique ``idx`` by chunks of length ``chunk``.

    Examples
    --------
    >>> [(g.chunk, g.index.tolist(), g.local, g.positions) for g in chunk_groups(np.array([1, 2, 7]), 4)]
    [(0, [1, 2], slice(1, 3, None), slice(0, 2, None)), (1, [7], slice(3, 4, None), slice(2, 3, None))]
    """
    if idx.size == 0:
        return []
    ids = idx // chunk
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [idx.size]))
    # groups that are runs of consecutive indices get a slice without any per-group work
    contiguous = (idx[stops - 1] - idx[starts]) == (stops - starts - 1)
    lo = (idx[starts] - ids[starts] * chunk).tolist()
    hi = (idx[stops - 1] - ids[starts] * chunk + 1).tolist()
    out = []
    for s, e, c, cont, a, b in zip(starts.tolist(), stops.tolist(), ids[starts].tolist(), contiguous.tolist(), lo, hi):
        glob = idx[s:e]
        local = slice(a, b) if cont else compact(glob - c * chunk)
        out.append(ChunkGroup(c, glob, local, slice(s, e)))
    return out


def full_groups(n: int, chunk: int) -> list[ChunkGroup]:
    """All of an axis of length ``n``, one :class:`ChunkGroup` per chunk.

    Examples
    --------
    >>> [(g.chunk, g.positions) for g in full_groups(5, 2)]
    [(0, slice(0, 2, None)), (1, slice(2, 4, None)), (2, slice(4, 5, None))]
    """
    out = []
    for c in range(-(-n // chunk) if n else 0):
        lo, hi = c * chunk, min(n, (c + 1) * chunk)
        out.append(ChunkGroup(c, np.arange(lo, hi, dtype=np.intp), slice(0, hi - lo), slice(lo, hi)))
    return out


def grid_shape(shape: tuple[int, int], chunks: tuple[int, int]) -> tuple[int, int]:
    """Number of chunks along each axis.

    Examples
    --------
    >>> grid_shape((5, 0), (2, 3))
    (3, 0)
    """
    return tuple(-(-n // c) if n else 0 for n, c in zip(shape, chunks))  # type: ignore[return-value]


def auto_chunks(shape: tuple[int, int], itemsize: int, n_outputs: int, target_bytes: int | None = None) -> tuple[int, int]:
    """A chunk shape whose block (all outputs plus the done mask) is about ``target_bytes``.

    Examples
    --------
    >>> auto_chunks((100, 50), 8, 2)
    (100, 50)
    """
    target = config.block_bytes if target_bytes is None else target_bytes
    cells = max(1, int(target) // (itemsize * n_outputs + 1))
    n0, n1 = max(1, shape[0]), max(1, shape[1])
    rc = min(n0, max(1, math.isqrt(cells)))
    cc = min(n1, max(1, cells // rc))
    rc = min(n0, max(1, cells // cc))
    return rc, cc


def normalise_chunks(chunks: Any, shape: tuple[int, int]) -> tuple[int, int]:
    """``chunks`` (an int, or two ints where ``-1``/None mean a whole axis) clipped to ``shape``.

    Examples
    --------
    >>> normalise_chunks((-1, 10), (4, 6)), normalise_chunks(3, (4, 6))
    ((4, 6), (3, 3))
    """
    if isinstance(chunks, (int, np.integer)):
        chunks = (chunks, chunks)
    chunks = tuple(chunks)
    if len(chunks) != 2:
        raise ValueError(f"chunks must have two entries, got {chunks!r}")
    out = []
    for c, n in zip(chunks, shape):
        c = n if c is None or int(c) == -1 else int(c)
        if c < 1 and n > 0:
            raise ValueError(f"chunk sizes must be positive, got {chunks!r}")
        out.append(max(1, min(c, n)))
    return out[0], out[1]
