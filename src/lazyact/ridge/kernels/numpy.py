"""CPU kernel: batched GEMMs through BLAS, gathers and accumulation in numba.

Every product goes through :mod:`.fixed`, so a value's bits depend only on the
model's summation order (``"yrow"`` or ``"tcol"``), never on the block it was
computed in: BLAS single-threaded on padded shapes, the rows split into even
panels over lazyact's threads, and for the blocks that would need a gather
as large as the product itself (a few proteins in "yrow" order, a few samples
in "tcol" order) a numba kernel that sums in BLAS's own order.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from . import DEFAULT_BATCH_BYTES, plan_batches, summation_order
from . import fixed

__all__ = ["permutation_statistics", "float32_batch", "float32_panels", "GATHERED_MAX"]

#: Blocks with at most this many rows ("yrow") or columns ("tcol") use the numba
#: kernel of :func:`lazyact.ridge.kernels.fixed.gathered_moments` (measured: below
#: these, gathering for BLAS costs more than the products; the choice changes no bit).
GATHERED_MAX = {"yrow": 40, "tcol": 32}


@numba.njit(parallel=True, nogil=True, cache=True)
def _gather_yrow(Y, fwd, out):  # pragma: no cover - numba
    # out[g, b, :] = Y[fwd[b, g], :]
    n = out.shape[0]
    B = out.shape[1]
    m = out.shape[2]
    for g in prange(n):
        for b in range(B):
            src = fwd[b, g]
            for s in range(m):
                out[g, b, s] = Y[src, s]


@numba.njit(parallel=True, nogil=True, cache=True)
def _gather_tcol(T, inv, out):  # pragma: no cover - numba
    # out[k, b, g] = T[k, inv[b, g]]
    p = out.shape[0]
    B = out.shape[1]
    n = out.shape[2]
    for k in prange(p):
        for b in range(B):
            for g in range(n):
                out[k, b, g] = T[k, inv[b, g]]


@numba.njit(parallel=True, nogil=True, cache=True)
def _accumulate(R, abs_beta, count, s1, s2):  # pragma: no cover - numba
    # R[k, b, s] is beta of permutation b; accumulate in permutation order
    p = count.shape[0]
    B = R.shape[1]
    m = count.shape[1]
    # R and abs_beta may be float32 (the float32 compute mode): compared in their
    # own precision, summed in float64
    for k in prange(p):
        for b in range(B):
            for s in range(m):
                v = np.float64(R[k, b, s])
                if abs(v) >= abs_beta[k, s]:
                    count[k, s] += 1
                s1[k, s] += v
                s2[k, s] += v * v


def permutation_statistics(T: np.ndarray, Y: np.ndarray, fwd: np.ndarray, inv: np.ndarray,
                           method: str | None = None, budget_bytes: int = DEFAULT_BATCH_BYTES,
                           rows: np.ndarray | None = None):
    """Observed ``beta`` and ``count, s1, s2`` over all permutations for one block.

    Parameters
    ----------
    T : (p, n) projection, float64 (or float32: the gathers and products then
        run in float32, ``s1``/``s2`` still sum in float64).
    Y : (n, m) expression columns (cast to ``T.dtype``).
    fwd, inv : (n_rand, n) forward / inverse permutation tables.
    method : the model's summation order, ``"yrow"`` or ``"tcol"``
        (:func:`~lazyact.ridge.kernels.summation_order`; by default that of a
        ``p``-row model).  It decides the bits; nothing else here does.
    budget_bytes : memory for one batch of gathered operands and results.
    rows : the rows of ``T`` wanted (default all).

    Returns
    -------
    beta : (r, m) in the compute dtype; count : (r, m) int64; s1, s2 : (r, m) float64

    Notes
    -----
    float32 GEMM (OpenBLAS's sgemm) sums an element differently depending on
    its position in the product, so the float32 mode computes every sample
    in GEMMs of fixed shapes: a fixed row panel of ``T``
    (:func:`float32_panels`) times the identity and the permutations of that
    sample, in fixed batches of :func:`float32_batch` columns (the last one
    padded).  A float32 value then sits at the same place of the same product
    however it is asked for; a request computes the whole panels that hold its
    rows.
    """
    dtype = np.float32 if np.asarray(T).dtype == np.float32 else np.float64
    T = np.ascontiguousarray(T, dtype=dtype)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    if dtype == np.float32:
        return _float32_statistics(T, Y, fwd, rows)
    T_rows = T if rows is None else np.ascontiguousarray(T[rows])
    p, n = T_rows.shape
    m = Y.shape[1]
    n_rand = fwd.shape[0]
    method = method or summation_order(T.shape[0])
    plan = plan_batches(p, n, m, n_rand, budget_bytes, itemsize=np.dtype(dtype).itemsize, method=method)
    count = np.zeros((p, m), dtype=np.int64)
    s1 = np.zeros((p, m), dtype=np.float64)
    s2 = np.zeros((p, m), dtype=np.float64)
    if p == 0 or m == 0:
        return np.zeros((p, m), dtype), count, s1, s2
    with fixed.single_threaded_blas() as workers:
        blocks = fixed.gene_blocks(n, dtype) if n_rand else None  # float64 here
        if blocks is not None and method == "yrow" and p <= GATHERED_MAX["yrow"]:
            return fixed.gathered_moments(T_rows, Y, fwd, blocks)
        if blocks is not None and method == "tcol" and m <= GATHERED_MAX["tcol"]:
            out = fixed.gathered_moments(np.ascontiguousarray(Y.T), np.ascontiguousarray(T_rows.T), inv, blocks)
            return tuple(np.ascontiguousarray(a.T) for a in out)
        beta = fixed.matmul(T_rows, Y, workers=workers)
        if n_rand == 0:
            return beta, count, s1, s2
        abs_beta = np.abs(beta)
        B = plan.batch
        if method == "yrow":
            _yrow(T_rows, Y, fwd, B, workers, abs_beta, count, s1, s2)
        else:
            _tcol(T_rows, Y, inv, B, workers, abs_beta, count, s1, s2)
    return beta, count, s1, s2


def float32_batch(n_rand: int) -> int:
    """Columns per float32 GEMM (identity + permutations of one sample), from ``n_rand`` alone.

    >>> float32_batch(1000), float32_batch(10)
    (1002, 12)
    """
    cols = n_rand + 1
    cols += cols % 2
    return cols if cols <= 1024 else 512


@numba.njit(nogil=True, cache=True)
def _gather_sample(y, fwd, e0, out):  # pragma: no cover - numba
    # out[g, j] = y permuted by extended permutation e0 + j (0: identity), zero past the end
    n, B = out.shape
    n_rand = fwd.shape[0]
    for g in range(n):
        for j in range(B):
            e = e0 + j
            if e == 0:
                out[g, j] = y[g]
            elif e <= n_rand:
                out[g, j] = y[fwd[e - 1, g]]
            else:
                out[g, j] = 0.0


@numba.njit(nogil=True, cache=True)
def _accumulate_sample(R, e0, n_rand, local, out_rows, s, beta, count, s1, s2):  # pragma: no cover - numba
    # the columns of one float32 product: identity then permutations, in order;
    # row local[q] of R is output row out_rows[q]
    for j in range(R.shape[1]):
        e = e0 + j
        if e > n_rand:
            break
        for q0 in range(local.shape[0]):
            q = out_rows[q0]
            v = R[local[q0], j]
            if e == 0:
                beta[q, s] = v
            else:
                if abs(v) >= abs(beta[q, s]):
                    count[q, s] += 1
                w = np.float64(v)
                s1[q, s] += w
                s2[q, s] += w * w


def float32_panels(p: int) -> list[tuple[int, int]]:
    """The fixed row panels (even sizes) of the float32 products of a ``p``-row model, from ``p`` alone.

    >>> float32_panels(1170)
    [(0, 292), (292, 584), (584, 876), (876, 1170)]
    """
    even = p + p % 2
    k = max(1, min(4, even // 64))
    cuts = [2 * (i * (even // 2) // k) for i in range(k + 1)]
    return list(zip(cuts, cuts[1:]))


def _float32_statistics(T, Y, fwd, rows):
    p, n = T.shape
    m = Y.shape[1]
    n_rand = fwd.shape[0]
    rows = np.arange(p) if rows is None else np.asarray(rows, dtype=np.intp)
    beta = np.zeros((rows.size, m), np.float32)
    count = np.zeros((rows.size, m), np.int64)
    s1 = np.zeros((rows.size, m))
    s2 = np.zeros((rows.size, m))
    if rows.size == 0 or m == 0:
        return beta, count, s1, s2
    B = float32_batch(n_rand)
    Tp = T if p % 2 == 0 else np.concatenate([T, np.zeros((1, n), T.dtype)])
    panels = []  # only the panels that hold a requested row
    for a, b in float32_panels(p):
        inside = np.nonzero((rows >= a) & (rows < b))[0]
        if inside.size:
            panels.append((a, b, (rows[inside] - a).astype(np.intp), inside))

    def panel(G, e0, s, a, b, local, inside):
        with fixed.single_threaded_blas():  # also in the pool's threads (per-thread BLAS limits)
            R = np.matmul(Tp[a:b], G)  # one shape per panel, whatever the request
        _accumulate_sample(R, e0, n_rand, local, inside, s, beta, count, s1, s2)

    def sample(s, pool=None):
        y = np.ascontiguousarray(Y[:, s])
        G = np.empty((n, B), np.float32)
        for e0 in range(0, n_rand + 1, B):
            _gather_sample(y, fwd, e0, G)
            if pool is None:
                for args in panels:
                    panel(G, e0, s, *args)
            else:  # one sample: its panels in parallel
                for job in [pool.submit(panel, G, e0, s, *args) for args in panels]:
                    job.result()

    with fixed.single_threaded_blas() as workers:
        pool = fixed.pool(workers) if workers > 1 else None
        if pool is not None and m >= workers:
            for job in [pool.submit(sample, s) for s in range(m)]:
                job.result()
        else:
            for s in range(m):
                sample(s, pool if pool is not None and len(panels) > 1 else None)
    return beta, count, s1, s2


def _yrow(T_rows, Y, fwd, B, workers, abs_beta, count, s1, s2):
    p, n = T_rows.shape
    m = Y.shape[1]
    n_rand = fwd.shape[0]
    Tp = T_rows if p % 2 == 0 else np.concatenate([T_rows, np.zeros((1, n), T_rows.dtype)])
    buf = np.empty((n, B, m), dtype=T_rows.dtype)
    res = np.empty((Tp.shape[0], B, m), dtype=T_rows.dtype)
    for start in range(0, n_rand, B):
        nb = min(n_rand, start + B) - start
        G = buf[:, :nb, :] if nb == B else np.empty((n, nb, m), dtype=T_rows.dtype)
        R = res if nb == B else np.empty((Tp.shape[0], nb, m), dtype=T_rows.dtype)
        _gather_yrow(Y, fwd[start:start + nb], G)
        fixed.matmul(Tp, G.reshape(n, -1), out=R.reshape(Tp.shape[0], -1), workers=workers)
        _accumulate(R, abs_beta, count, s1, s2)


def _tcol(T_rows, Y, inv, B, workers, abs_beta, count, s1, s2):
    p, n = T_rows.shape
    m = Y.shape[1]
    n_rand = inv.shape[0]
    # one spare zero row: an odd p * nb is padded to even without a copy
    buf = np.zeros((p * B + 1, n), dtype=T_rows.dtype)
    res = np.empty((p * B + 1, m), dtype=T_rows.dtype)
    for start in range(0, n_rand, B):
        nb = min(n_rand, start + B) - start
        rows = p * nb
        even = rows + rows % 2
        G = buf[:rows].reshape(p, nb, n)
        _gather_tcol(T_rows, inv[start:start + nb], G)
        if even > rows:
            buf[rows] = 0
        fixed.matmul(buf[:even], Y, out=res[:even], workers=workers)
        _accumulate(res[:rows].reshape(p, nb, m), abs_beta, count, s1, s2)
