"""Permutation tables of SecAct's permutation test, identical on every OS.

SecAct (R) and SecActPy draw ``n_rand`` gene permutations by shuffling one array
``0..n-1`` again and again, never resetting it (a *cumulative* shuffle)::

    for i in 0 .. n-2:
        j = i + r // (RAND_MAX // (n - i) + 1)      # r: the next raw draw
        swap(a[i], a[j])

and differ only in where the raw draws ``r`` come from:

``"srand"``
    glibc ``srand(seed)`` / ``rand()``: the TYPE_3 additive feedback generator
    (degree 31, separation 3, 310 discarded outputs, ``seed == 0`` acts as 1,
    RAND_MAX = 2**31 - 1).  R SecAct and SecActPy call the platform's libc, so
    they agree only on glibc; we implement the generator itself so the table is
    the same on Linux, macOS and Windows.
``"gsl"``
    GSL's ``gsl_rng_mt19937`` (seed 0 means 4357), RAND_MAX = 2**32 - 1: the raw
    stream is NumPy's ``MT19937`` with legacy (``init_genrand``) seeding.
``"numpy"``
    SecActPy's fast mode: a fresh ``RandomState(seed).permutation(n)`` per row
    from one RandomState (not cumulative).

Tables hold one permutation per row.  The *forward* table ``perm`` permutes
expression rows (``Y[perm[i]]``); the *inverse* table permutes projection
columns (``T[:, inv[i]] @ Y == T @ Y[perm[i]]``).  Both are stored in the
smallest unsigned integer dtype that holds ``n - 1``.
"""
from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Literal

import numba
import numpy as np

__all__ = [
    "RNG_NAMES",
    "permutation_table",
    "forward_table",
    "invert_table",
    "index_dtype",
    "clear_table_cache",
]

RNG_NAMES = ("srand", "gsl", "numpy")
RngName = Literal["srand", "gsl", "numpy"]

SRAND_RAND_MAX = 2**31 - 1
MT19937_RAND_MAX = 2**32 - 1
_GSL_DEFAULT_SEED = 4357


def index_dtype(n: int) -> np.dtype:
    """Smallest unsigned integer dtype that can index ``n`` items.

    >>> index_dtype(200), index_dtype(7919), index_dtype(70000)
    (dtype('uint8'), dtype('uint16'), dtype('uint32'))
    """
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if n - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"n={n} is too large for a permutation table")


# --------------------------------------------------------------------------
# glibc srand()/rand(): TYPE_3 additive feedback generator
# --------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _srand_state(seed: np.int64) -> np.ndarray:
    """The 31-word state of glibc ``srandom_r(seed)`` after its 310 discards."""
    state = np.empty(31, dtype=np.uint32)
    s = np.int64(seed & 0xFFFFFFFF)
    if s == 0:
        s = 1
    # glibc stores the unsigned seed in an int32_t word
    word = s - (1 << 32) if s >= (1 << 31) else s
    state[0] = np.uint32(word & 0xFFFFFFFF)
    for i in range(1, 31):
        # hi/lo with C's truncating division (word may be negative)
        hi = abs(word) // 127773
        lo = abs(word) % 127773
        if word < 0:
            hi = -hi
            lo = -lo
        word = 16807 * lo - 2836 * hi
        if word < 0:
            word += 2147483647
        state[i] = np.uint32(word & 0xFFFFFFFF)
    f = 3
    r = 0
    for _ in range(310):
        state[f] = np.uint32(state[f] + state[r])
        f = (f + 1) % 31
        r = (r + 1) % 31
    # return the feedback positions in the last two slots of a 33-word array
    out = np.empty(33, dtype=np.uint32)
    out[:31] = state
    out[31] = f
    out[32] = r
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _shuffle_step(a, i, n, draw, rand_max):
    # one step of the cumulative shuffle (module docstring): swap a[i] with a[j]
    j = i + draw // (rand_max // (n - i) + 1)
    tmp = a[i]
    a[i] = a[j]
    a[j] = tmp


@numba.njit(cache=True, nogil=True)
def _cumulative_shuffle_srand(seed: np.int64, n: np.int64, n_perm: np.int64, out: np.ndarray) -> None:
    """Fill ``out`` (n_perm x n) with the forward table of the srand shuffle."""
    st = _srand_state(seed)
    state = st[:31].copy()
    f = np.int64(st[31])
    r = np.int64(st[32])
    a = np.arange(n).astype(np.int64)
    rand_max = np.int64(2147483647)
    for p in range(n_perm):
        for i in range(n - 1):
            state[f] = np.uint32(state[f] + state[r])
            draw = np.int64(state[f] >> np.uint32(1))
            f += 1
            if f == 31:
                f = 0
            r += 1
            if r == 31:
                r = 0
            _shuffle_step(a, i, n, draw, rand_max)
        for k in range(n):
            out[p, k] = a[k]


@numba.njit(cache=True, nogil=True)
def _cumulative_shuffle_raw(raw: np.ndarray, rand_max: np.int64, a: np.ndarray, out: np.ndarray) -> None:
    """Continue the cumulative shuffle of ``a`` with raw draws, one row of ``out`` per permutation."""
    n = a.shape[0]
    pos = 0
    for p in range(out.shape[0]):
        for i in range(n - 1):
            draw = np.int64(raw[pos])
            pos += 1
            _shuffle_step(a, i, n, draw, rand_max)
        for k in range(n):
            out[p, k] = a[k]


def _gsl_forward(n: int, n_perm: int, seed: int, dtype: np.dtype) -> np.ndarray:
    bitgen = np.random.MT19937()
    bitgen._legacy_seeding(_GSL_DEFAULT_SEED if seed == 0 else seed & 0xFFFFFFFF)
    out = np.empty((n_perm, n), dtype=dtype)
    a = np.arange(n, dtype=np.int64)
    per_batch = max(1, (1 << 22) // max(n - 1, 1))  # ~32 MB of raw draws at a time
    for start in range(0, n_perm, per_batch):
        stop = min(n_perm, start + per_batch)
        raw = bitgen.random_raw((stop - start) * (n - 1))
        _cumulative_shuffle_raw(raw, np.int64(MT19937_RAND_MAX), a, out[start:stop])
    return out


def _numpy_forward(n: int, n_perm: int, seed: int, dtype: np.dtype) -> np.ndarray:
    rs = np.random.RandomState(seed)
    out = np.empty((n_perm, n), dtype=dtype)
    for p in range(n_perm):
        out[p] = rs.permutation(n)
    return out


@numba.njit(cache=True, nogil=True)
def _invert_rows(table: np.ndarray, out: np.ndarray) -> None:
    for p in range(table.shape[0]):
        for k in range(table.shape[1]):
            out[p, table[p, k]] = k


def invert_table(table: np.ndarray) -> np.ndarray:
    """Invert every row of a permutation table (forward <-> inverse).

    >>> t = np.array([[2, 0, 1]], dtype=np.uint8)
    >>> invert_table(t)
    array([[1, 2, 0]], dtype=uint8)
    """
    table = np.ascontiguousarray(table)
    out = np.empty_like(table)
    _invert_rows(table, out)
    return out


def _validate(n_genes: int, n_rand: int, seed: int, rng: str) -> None:
    if rng not in RNG_NAMES:
        raise ValueError(f"unknown rng {rng!r}: choose one of {', '.join(map(repr, RNG_NAMES))}")
    if int(n_genes) < 1:
        raise ValueError(f"n_genes must be >= 1, got {n_genes}")
    if int(n_rand) < 0:
        raise ValueError(f"n_rand must be >= 0, got {n_rand}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if rng != "numpy" and int(seed) > 0xFFFFFFFF:
        raise ValueError(f"seed must fit in 32 bits for rng={rng!r} (C unsigned int), got {seed}")
    if rng == "numpy" and int(seed) > 0xFFFFFFFF:
        raise ValueError(f"seed must be < 2**32 for rng='numpy' (RandomState), got {seed}")


def forward_table(n_genes: int, n_rand: int = 1000, seed: int = 0, rng: RngName = "srand") -> np.ndarray:
    """Forward permutation table: row ``i`` permutes expression rows, ``Y[perm[i]]``.

    Parameters
    ----------
    n_genes, n_rand, seed, rng
        As :func:`permutation_table`.

    Returns
    -------
    numpy.ndarray
        ``(n_rand, n_genes)``, smallest unsigned dtype that fits, read-only.

    Examples
    --------
    >>> forward_table(10, 3, seed=0, rng="srand")[0].tolist()
    [8, 4, 0, 2, 9, 5, 7, 1, 3, 6]
    """
    return _cached(n_genes, n_rand, seed, rng, inverse=False)


def permutation_table(n_genes: int, n_rand: int = 1000, seed: int = 0, rng: RngName = "srand") -> np.ndarray:
    """Inverse permutation table of SecAct's permutation test.

    Row ``i`` is the inverse of the ``i``-th cumulative shuffle, so that
    ``T[:, inv[i]] @ Y == T @ Y[perm[i]]``.  The table is the same on every
    platform (the generators are implemented here, not taken from libc).
    Tables are cached in memory, keyed by all four parameters.

    Parameters
    ----------
    n_genes : int
        Number of genes (the length of each permutation).
    n_rand : int, default 1000
        Number of permutations (rows).
    seed : int, default 0
        Generator seed.  For ``"srand"`` 0 acts as 1 (glibc); for ``"gsl"`` 0
        means 4357 (GSL's default).
    rng : {"srand", "gsl", "numpy"}, default "srand"
        Source of the raw draws; see the module docstring.

    Returns
    -------
    numpy.ndarray
        ``(n_rand, n_genes)`` inverse table in the smallest unsigned integer
        dtype that holds ``n_genes - 1``; read-only (it is shared by the cache).

    Examples
    --------
    >>> inv = permutation_table(7720, 2, seed=0, rng="srand")
    >>> inv[0, :4].tolist()
    [5009, 3424, 2632, 5975]
    """
    return _cached(n_genes, n_rand, seed, rng, inverse=True)


_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
_CACHE_LOCK = Lock()
_CACHE_MAX_BYTES = 256 * 2**20


def clear_table_cache() -> None:
    """Forget all cached permutation tables."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _cached(n_genes: int, n_rand: int, seed: int, rng: str, inverse: bool) -> np.ndarray:
    _validate(n_genes, n_rand, seed, rng)
    n_genes, n_rand, seed = int(n_genes), int(n_rand), int(seed)
    key = (rng, seed, n_genes, n_rand, inverse)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    if inverse:
        table = invert_table(_cached(n_genes, n_rand, seed, rng, inverse=False))
    else:
        table = _build_forward(n_genes, n_rand, seed, rng)
    table.setflags(write=False)
    with _CACHE_LOCK:
        _CACHE[key] = table
        _CACHE.move_to_end(key)
        total = sum(t.nbytes for t in _CACHE.values())
        while total > _CACHE_MAX_BYTES and len(_CACHE) > 1:
            _, old = _CACHE.popitem(last=False)
            total -= old.nbytes
    return table


def _build_forward(n: int, n_perm: int, seed: int, rng: str) -> np.ndarray:
    dtype = index_dtype(n)
    if rng == "srand":
        out = np.empty((n_perm, n), dtype=dtype)
        _cumulative_shuffle_srand(np.int64(seed), np.int64(n), np.int64(n_perm), out)
        return out
    if rng == "gsl":
        return _gsl_forward(n, n_perm, seed, dtype)
    return _numpy_forward(n, n_perm, seed, dtype)
