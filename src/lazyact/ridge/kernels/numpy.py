"""CPU kernel: batched GEMMs through BLAS, gathers and accumulation in numba."""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from . import DEFAULT_BATCH_BYTES, plan_batches

__all__ = ["permutation_moments"]


@numba.njit(parallel=True, nogil=True, cache=True)
def _gather_yrow(Y, fwd, out):
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
def _gather_tcol(T, inv, out):
    # out[k, b, g] = T[k, inv[b, g]]
    p = out.shape[0]
    B = out.shape[1]
    n = out.shape[2]
    for k in prange(p):
        for b in range(B):
            for g in range(n):
                out[k, b, g] = T[k, inv[b, g]]


@numba.njit(parallel=True, nogil=True, cache=True)
def _accumulate(R, abs_beta, count, s1, s2):
    # R[k, b, s] is beta of permutation b; accumulate in permutation order
    p = R.shape[0]
    B = R.shape[1]
    m = R.shape[2]
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


def permutation_moments(T_rows: np.ndarray, Y: np.ndarray, beta: np.ndarray, fwd: np.ndarray,
                        inv: np.ndarray, budget_bytes: int = DEFAULT_BATCH_BYTES,
                        method: str | None = None):
    """Accumulate ``count, s1, s2`` over all permutations for one block.

    Parameters
    ----------
    T_rows : (p, n) C-contiguous projection rows, float64 (or float32: the
        gathers and GEMMs then run in float32, ``s1``/``s2`` still sum in float64).
    Y : (n, m) expression columns (cast to ``T_rows.dtype``).
    beta : (p, m) observed ``T_rows @ Y``.
    fwd, inv : (n_rand, n) forward / inverse permutation tables.
    budget_bytes : memory for one batch of gathered operands and results.
    method : force ``"yrow"`` or ``"tcol"`` (default: by cost).

    Returns
    -------
    count : (p, m) int64, s1, s2 : (p, m) float64
    """
    dtype = np.float32 if np.asarray(T_rows).dtype == np.float32 else np.float64
    p, n = T_rows.shape
    m = Y.shape[1]
    n_rand = fwd.shape[0]
    plan = plan_batches(p, n, m, n_rand, budget_bytes, itemsize=np.dtype(dtype).itemsize)
    use = method or plan.method
    B = plan.batch
    abs_beta = np.abs(beta)
    count = np.zeros((p, m), dtype=np.int64)
    s1 = np.zeros((p, m), dtype=np.float64)
    s2 = np.zeros((p, m), dtype=np.float64)
    if n_rand == 0 or p == 0 or m == 0:
        return count, s1, s2
    T_rows = np.ascontiguousarray(T_rows, dtype=dtype)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    if use == "yrow":
        buf = np.empty((n, B, m), dtype=dtype)
        for start in range(0, n_rand, B):
            stop = min(n_rand, start + B)
            G = buf[:, : stop - start, :]
            if stop - start < B:
                G = np.empty((n, stop - start, m), dtype=dtype)
            _gather_yrow(Y, fwd[start:stop], G)
            R = (T_rows @ G.reshape(n, -1)).reshape(p, stop - start, m)
            _accumulate(R, abs_beta, count, s1, s2)
    elif use == "tcol":
        buf = np.empty((p, B, n), dtype=dtype)
        for start in range(0, n_rand, B):
            stop = min(n_rand, start + B)
            G = buf[:, : stop - start, :] if stop - start == B else np.empty((p, stop - start, n), dtype=dtype)
            _gather_tcol(T_rows, inv[start:stop], G)
            R = (G.reshape(-1, n) @ Y).reshape(p, stop - start, m)
            _accumulate(R, abs_beta, count, s1, s2)
    else:
        raise ValueError(f"unknown permutation method {use!r}: 'yrow' or 'tcol'")
    return count, s1, s2
