"""Sparse kernel: walk each column's nonzeros once per permutation (numba, parallel).

For sparse expression ``Y`` that is centred and scaled *in flight*::

    Yn[:, s] = (Y[:, s] - r - mu_s) / sigma_s          (r: gene offsets, mu/sigma: per sample)

the statistics follow from the sparse product and rank-1 corrections, never
from a densified ``Yn``::

    beta_i[k, s] = (sum_{g in nz(s)} T[k, inv_i[g]] Y[g, s] - Tr_i[k] - c[k] mu_s) / sigma_s
    Tr_i = T[:, inv_i] @ r,  c = T @ 1   (c does not depend on the permutation)

Permutation ``i = -1`` is the identity (observed beta).  With ``Tt = T.T``
(genes x proteins, C-contiguous) the inner loop reads one contiguous protein
row per nonzero, so a column costs ``p * nnz * (n_rand + 1)`` multiply-adds
instead of ``p * n_genes * (n_rand + 1)``.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

__all__ = ["sparse_permutation_statistics", "offset_projections"]


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_columns(Tt, inv, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2):
    n_cols = indptr.shape[0] - 1
    p = Tt.shape[1]
    n_rand = inv.shape[0]
    for s in prange(n_cols):
        lo = indptr[s]
        hi = indptr[s + 1]
        acc = np.empty(p)
        # observed: identity permutation
        for k in range(p):
            acc[k] = 0.0
        for q in range(lo, hi):
            v = data[q]
            g = indices[q]
            for k in range(p):
                acc[k] += v * Tt[g, k]
        inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
        for k in range(p):
            beta[k, s] = (acc[k] - Tr[0, k] - c[k] * mu[s]) * inv_sigma
        for i in range(n_rand):
            for k in range(p):
                acc[k] = 0.0
            for q in range(lo, hi):
                v = data[q]
                g = inv[i, indices[q]]
                for k in range(p):
                    acc[k] += v * Tt[g, k]
            for k in range(p):
                b = (acc[k] - Tr[i + 1, k] - c[k] * mu[s]) * inv_sigma
                if abs(b) >= abs(beta[k, s]):
                    count[k, s] += 1
                s1[k, s] += b
                s2[k, s] += b * b


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_column_by_permutations(Tt, inv, idx, val, Tr, c, mu_s, sigma_s, n_chunks, beta, count, s1, s2, s):
    """One column, permutations split into ``n_chunks`` parallel ranges, merged in order."""
    p = Tt.shape[1]
    n_rand = inv.shape[0]
    inv_sigma = 1.0 / sigma_s if sigma_s > 0 else 0.0  # constant column: caller substitutes zeros
    acc0 = np.zeros(p)
    for q in range(idx.shape[0]):
        v = val[q]
        g = idx[q]
        for k in range(p):
            acc0[k] += v * Tt[g, k]
    for k in range(p):
        beta[k, s] = (acc0[k] - Tr[0, k] - c[k] * mu_s) * inv_sigma
    cnt = np.zeros((n_chunks, p), dtype=np.int64)
    a1 = np.zeros((n_chunks, p))
    a2 = np.zeros((n_chunks, p))
    for ch in prange(n_chunks):
        lo = ch * n_rand // n_chunks
        hi = (ch + 1) * n_rand // n_chunks
        acc = np.empty(p)
        for i in range(lo, hi):
            for k in range(p):
                acc[k] = 0.0
            for q in range(idx.shape[0]):
                v = val[q]
                g = inv[i, idx[q]]
                for k in range(p):
                    acc[k] += v * Tt[g, k]
            for k in range(p):
                b = (acc[k] - Tr[i + 1, k] - c[k] * mu_s) * inv_sigma
                if abs(b) >= abs(beta[k, s]):
                    cnt[ch, k] += 1
                a1[ch, k] += b
                a2[ch, k] += b * b
    for ch in range(n_chunks):
        for k in range(p):
            count[k, s] += cnt[ch, k]
            s1[k, s] += a1[ch, k]
            s2[k, s] += a2[ch, k]


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_columns_few_proteins(Tt, invT, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2):
    """Nonzero-major variant for few proteins: ``invT`` is the inverse table
    transposed (genes x permutations), so each nonzero reads one contiguous
    row of permuted positions and the accumulator (n_rand x p) stays in L1."""
    n_cols = indptr.shape[0] - 1
    p = Tt.shape[1]
    n_rand = invT.shape[1]
    for s in prange(n_cols):
        lo = indptr[s]
        hi = indptr[s + 1]
        acc = np.zeros((n_rand, p))
        obs = np.zeros(p)
        for q in range(lo, hi):
            v = data[q]
            g0 = indices[q]
            for k in range(p):
                obs[k] += v * Tt[g0, k]
            for i in range(n_rand):
                g = invT[g0, i]
                for k in range(p):
                    acc[i, k] += v * Tt[g, k]
        inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
        for k in range(p):
            b0 = (obs[k] - Tr[0, k] - c[k] * mu[s]) * inv_sigma
            beta[k, s] = b0
            for i in range(n_rand):
                b = (acc[i, k] - Tr[i + 1, k] - c[k] * mu[s]) * inv_sigma
                if abs(b) >= abs(b0):
                    count[k, s] += 1
                s1[k, s] += b
                s2[k, s] += b * b


FEW_PROTEINS = 8


def offset_projections(T_rows: np.ndarray, inv: np.ndarray, r: np.ndarray | None) -> np.ndarray:
    """``Tr[0] = T @ r`` and ``Tr[i + 1] = T[:, inv_i] @ r`` for every permutation.

    Returns an ``(n_rand + 1, p)`` array (zeros when ``r`` is None).
    """
    p, n = T_rows.shape
    out = np.zeros((inv.shape[0] + 1, p))
    if r is None:
        return out
    r = np.asarray(r, dtype=np.float64)
    out[0] = T_rows @ r
    # T[:, inv_i] @ r == T @ r[perm_i]; gather r by the forward table in one GEMM
    fwd = np.empty_like(inv, dtype=np.intp)
    rows = np.arange(n)
    for i in range(inv.shape[0]):
        fwd[i, inv[i]] = rows
    out[1:] = r[fwd] @ T_rows.T
    return out


def sparse_permutation_statistics(T_rows: np.ndarray, inv: np.ndarray, Y_csc, r=None, mu=None, sigma=None,
                                  Tr=None, invT=None):
    """Accumulators of the permutation test for sparse columns with in-flight normalisation.

    Parameters
    ----------
    T_rows : (p, n) projection rows.
    inv : (n_rand, n) inverse permutation table.
    Y_csc : scipy.sparse CSC (n, m) raw (un-centred) expression columns.
    r : (n,) gene offsets subtracted from every column (row means), or None.
    mu, sigma : (m,) per-column shift and scale, or None (0 and 1).
    Tr : precomputed :func:`offset_projections` (reuse it across blocks).
    invT : the inverse table transposed (genes x permutations, C-contiguous),
        used for few proteins; computed when missing.

    Returns
    -------
    beta : (p, m) float64, count : (p, m) int64, s1, s2 : (p, m) float64
    """
    p, n = T_rows.shape
    m = Y_csc.shape[1]
    Tt = np.ascontiguousarray(T_rows.T)
    if Tr is None:
        Tr = offset_projections(T_rows, inv, r)
    c = T_rows.sum(axis=1) if mu is not None else np.zeros(p)
    mu = np.zeros(m) if mu is None else np.asarray(mu, dtype=np.float64)
    sigma = np.ones(m) if sigma is None else np.asarray(sigma, dtype=np.float64)
    Y_csc = Y_csc.tocsc()
    Y_csc.sort_indices()
    beta = np.empty((p, m))
    count = np.zeros((p, m), dtype=np.int64)
    s1 = np.zeros((p, m))
    s2 = np.zeros((p, m))
    indptr = Y_csc.indptr.astype(np.int64)
    indices = Y_csc.indices.astype(np.int64)
    data = Y_csc.data.astype(np.float64)
    inv = np.ascontiguousarray(inv)
    threads = numba.get_num_threads()
    if p <= FEW_PROTEINS and m >= threads:
        if invT is None:
            invT = np.ascontiguousarray(inv.T)
        _sparse_columns_few_proteins(Tt, invT, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2)
    elif m < threads and inv.shape[0] >= 2 * threads:
        # few columns: parallelise over permutations instead
        for s in range(m):
            lo, hi = indptr[s], indptr[s + 1]
            _sparse_column_by_permutations(Tt, inv, indices[lo:hi], data[lo:hi], Tr, c, float(mu[s]),
                                           float(sigma[s]), threads, beta, count, s1, s2, s)
    else:
        _sparse_columns(Tt, inv, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2)
    return beta, count, s1, s2
