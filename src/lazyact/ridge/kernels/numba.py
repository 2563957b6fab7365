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

import os

import numba
import numpy as np
from numba import prange

__all__ = ["sparse_permutation_statistics", "offset_projections"]


@numba.njit(nogil=True, cache=True)
def _permuted_tile(Tt, inv_i, idx, val, k0, k1, acc):
    # acc[k - k0] = sum_q val[q] * T[k, inv_i[idx[q]]], nonzeros in order
    w = k1 - k0
    for k in range(w):
        acc[k] = 0.0
    for q in range(idx.shape[0]):
        v = val[q]
        row = Tt[inv_i[idx[q]], k0:k1]
        for k in range(w):
            acc[k] += v * row[k]


@numba.njit(parallel=True, nogil=True, cache=True)
def _observed(Tt, indptr, indices, data, Tr0, c, mu, sigma, beta):
    # beta[:, s] from the identity permutation, every protein
    n_cols = indptr.shape[0] - 1
    p = Tt.shape[1]
    identity = np.arange(Tt.shape[0])
    for s in prange(n_cols):
        acc = np.empty(p)
        lo = indptr[s]
        hi = indptr[s + 1]
        _permuted_tile(Tt, identity, indices[lo:hi], data[lo:hi], 0, p, acc)
        inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
        for k in range(p):
            beta[k, s] = (acc[k] - Tr0[k] - c[k] * mu[s]) * inv_sigma


@numba.njit(nogil=True, cache=True)
def _update(acc, k0, Tr_i, c, mu_s, inv_sigma, beta_s, cnt, a1, a2):
    # fused count / S1 / S2 of one permutation for proteins k0 .. k0 + len(acc)
    for k in range(acc.shape[0]):
        kk = k0 + k
        b = (acc[k] - Tr_i[kk] - c[kk] * mu_s) * inv_sigma
        if abs(b) >= abs(beta_s[kk]):
            cnt[kk] += 1
        a1[kk] += b
        a2[kk] += b * b


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_columns(Tt, inv, indptr, indices, data, Tr, c, mu, sigma, tile, beta, count, s1, s2):
    """Many columns: parallel over columns, proteins in tiles that stay in the last-level cache."""
    n_cols = indptr.shape[0] - 1
    p = Tt.shape[1]
    n_rand = inv.shape[0]
    _observed(Tt, indptr, indices, data, Tr[0], c, mu, sigma, beta)
    for k0 in range(0, p, tile):
        k1 = min(p, k0 + tile)
        for s in prange(n_cols):
            lo = indptr[s]
            hi = indptr[s + 1]
            inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
            acc = np.empty(k1 - k0)
            # contiguous per-column accumulators (the outputs' columns are strided)
            b_s = np.ascontiguousarray(beta[:, s])
            cnt = np.zeros(p, dtype=np.int64)
            a1 = np.zeros(p)
            a2 = np.zeros(p)
            for i in range(n_rand):
                _permuted_tile(Tt, inv[i], indices[lo:hi], data[lo:hi], k0, k1, acc)
                _update(acc, k0, Tr[i + 1], c, mu[s], inv_sigma, b_s, cnt, a1, a2)
            for k in range(k0, k1):
                count[k, s] = cnt[k]
                s1[k, s] = a1[k]
                s2[k, s] = a2[k]


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_column_by_permutations(Tt, inv, idx, val, Tr, c, mu_s, sigma_s, n_chunks, tile, beta, count, s1,
                                   s2, s):
    """One column, permutations split into ``n_chunks`` parallel ranges, merged in order."""
    p = Tt.shape[1]
    n_rand = inv.shape[0]
    inv_sigma = 1.0 / sigma_s if sigma_s > 0 else 0.0  # constant column: caller substitutes zeros
    acc0 = np.empty(p)
    _permuted_tile(Tt, np.arange(Tt.shape[0]), idx, val, 0, p, acc0)
    for k in range(p):
        beta[k, s] = (acc0[k] - Tr[0, k] - c[k] * mu_s) * inv_sigma
    cnt = np.zeros((n_chunks, p), dtype=np.int64)
    a1 = np.zeros((n_chunks, p))
    a2 = np.zeros((n_chunks, p))
    for k0 in range(0, p, tile):
        k1 = min(p, k0 + tile)
        for ch in prange(n_chunks):
            lo = ch * n_rand // n_chunks
            hi = (ch + 1) * n_rand // n_chunks
            acc = np.empty(k1 - k0)
            for i in range(lo, hi):
                _permuted_tile(Tt, inv[i], idx, val, k0, k1, acc)
                _update(acc, k0, Tr[i + 1], c, mu_s, inv_sigma, beta[:, s], cnt[ch], a1[ch], a2[ch])
    for ch in range(n_chunks):
        for k in range(p):
            count[k, s] += cnt[ch, k]
            s1[k, s] += a1[ch, k]
            s2[k, s] += a2[ch, k]


@numba.njit(nogil=True, cache=True)
def _observed_one(t, indices, data, lo, hi):
    # sum_q data[q] * t[indices[q]] over one column's nonzeros, in order
    obs = 0.0
    for q in range(lo, hi):
        obs += data[q] * t[indices[q]]
    return obs


@numba.njit(nogil=True, cache=True)
def _moments_one(acc, Tr, i0, k, shift, inv_sigma, abs_b0, a1, a2):
    # count / S1 / S2 of protein k over permutations i0 .. i0 + len(acc), in order,
    # continuing the sums a1, a2
    n_ge = 0
    for i in range(acc.shape[0]):
        b = (acc[i] - Tr[i0 + i + 1, k] - shift) * inv_sigma
        if abs(b) >= abs_b0:
            n_ge += 1
        a1 += b
        a2 += b * b
    return n_ge, a1, a2


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_columns_few_proteins(T_rows, invT, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2):
    """Few proteins: one protein at a time, all permutations as one contiguous
    accumulator; ``invT`` is the inverse table transposed (genes x permutations)
    so each nonzero reads one contiguous row of permuted positions.  Four
    nonzeros are added per pass over the accumulator (same order of additions)."""
    n_cols = indptr.shape[0] - 1
    p = T_rows.shape[0]
    n_rand = invT.shape[1]
    for s in prange(n_cols):
        lo = indptr[s]
        hi = indptr[s + 1]
        inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
        acc = np.empty(n_rand)
        for k in range(p):
            t = T_rows[k]
            b0 = (_observed_one(t, indices, data, lo, hi) - Tr[0, k] - c[k] * mu[s]) * inv_sigma
            beta[k, s] = b0
            for i in range(n_rand):
                acc[i] = 0.0
            q = lo
            while q + 4 <= hi:
                v0 = data[q]
                v1 = data[q + 1]
                v2 = data[q + 2]
                v3 = data[q + 3]
                r0 = invT[indices[q]]
                r1 = invT[indices[q + 1]]
                r2 = invT[indices[q + 2]]
                r3 = invT[indices[q + 3]]
                for i in range(n_rand):
                    acc[i] = (((acc[i] + v0 * t[r0[i]]) + v1 * t[r1[i]]) + v2 * t[r2[i]]) + v3 * t[r3[i]]
                q += 4
            while q < hi:
                v = data[q]
                r = invT[indices[q]]
                for i in range(n_rand):
                    acc[i] += v * t[r[i]]
                q += 1
            n_ge, a1, a2 = _moments_one(acc, Tr, 0, k, c[k] * mu[s], inv_sigma, abs(b0), s1[k, s], s2[k, s])
            count[k, s] += n_ge
            s1[k, s] = a1
            s2[k, s] = a2


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_block_few_proteins(T_rows, invT, indptr, indices, data, rptr, rcells, rdata, Tr, c, mu, sigma,
                               n_parts, ptile, beta, count, s1, s2):
    """Few proteins over a wide block, gene-major: each permuted protein value
    ``T[k, inv_i[g]]`` is gathered once per gene and added to every cell that
    expresses ``g`` (``rptr/rcells/rdata``: the block as CSR, genes x cells).
    Cells are split into ``n_parts`` parallel ranges, permutations into tiles
    of ``ptile`` whose accumulators stay in cache.  Each accumulator adds its
    nonzeros in gene order, as the cell-major kernels do: identical results."""
    n_cols = indptr.shape[0] - 1
    n_genes = rptr.shape[0] - 1
    p = T_rows.shape[0]
    n_rand = invT.shape[1]
    for part in prange(n_parts):
        c0 = part * n_cols // n_parts
        c1 = (part + 1) * n_cols // n_parts
        lo_g = np.empty(n_genes, np.int64)
        hi_g = np.empty(n_genes, np.int64)
        for g in range(n_genes):
            a = rptr[g]
            b = rptr[g + 1]
            lo_g[g] = a + np.searchsorted(rcells[a:b], c0)
            hi_g[g] = a + np.searchsorted(rcells[a:b], c1)
        acc = np.empty((c1 - c0, ptile))
        tg = np.empty(ptile)
        for k in range(p):
            t = T_rows[k]
            for s in range(c0, c1):
                obs = _observed_one(t, indices, data, indptr[s], indptr[s + 1])
                inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
                beta[k, s] = (obs - Tr[0, k] - c[k] * mu[s]) * inv_sigma
            for i0 in range(0, n_rand, ptile):
                w = min(n_rand, i0 + ptile) - i0
                acc[:, :w] = 0.0
                for g in range(n_genes):
                    lo = lo_g[g]
                    hi = hi_g[g]
                    if lo == hi:
                        continue
                    r = invT[g]
                    for i in range(w):
                        tg[i] = t[r[i0 + i]]
                    for q in range(lo, hi):
                        v = rdata[q]
                        a = acc[rcells[q] - c0]
                        for i in range(w):
                            a[i] += v * tg[i]
                for s in range(c0, c1):
                    inv_sigma = 1.0 / sigma[s] if sigma[s] > 0 else 0.0
                    n_ge, a1, a2 = _moments_one(acc[s - c0, :w], Tr, i0, k, c[k] * mu[s], inv_sigma,
                                                abs(beta[k, s]), s1[k, s], s2[k, s])
                    count[k, s] += n_ge
                    s1[k, s] = a1
                    s2[k, s] = a2


FEW_PROTEINS = 8
GENE_MAJOR_MIN_COLUMNS = 128


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


def _last_level_cache_bytes() -> int:
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
    except (ValueError, OSError, AttributeError):
        size = 0
    return int(size) if size and size > 0 else 32 * 2**20


LLC_BYTES = _last_level_cache_bytes()


def protein_tile(n_genes: int, p: int, cache_bytes: int | None = None) -> int:
    """Proteins per tile so that a tile of the transposed projection (``n_genes x tile``
    float64, read in random gene order) fits in 60 % of the last-level cache
    (the rest holds the permutation table, the nonzeros and the accumulators).

    >>> protein_tile(7919, 1170, cache_bytes=32 * 2**20)
    293
    >>> protein_tile(7919, 40, cache_bytes=32 * 2**20)
    40
    """
    budget = 0.6 * (LLC_BYTES if cache_bytes is None else cache_bytes)
    n_tiles = max(1, -(-int(n_genes * p * 8) // max(1, int(budget))))
    return max(1, -(-p // n_tiles))


def sparse_permutation_statistics(T_rows: np.ndarray | None, inv: np.ndarray, Y_csc, r=None, mu=None, sigma=None,
                                  Tr=None, invT=None, Tt=None, c=None):
    """Accumulators of the permutation test for sparse columns with in-flight normalisation.

    Parameters
    ----------
    T_rows : (p, n) projection rows (may be None when ``Tt`` is given).
    inv : (n_rand, n) inverse permutation table.
    Y_csc : scipy.sparse CSC (n, m) raw (un-centred) expression columns.
    r : (n,) gene offsets subtracted from every column (row means), or None.
    mu, sigma : (m,) per-column shift and scale, or None (0 and 1).
    Tr : precomputed :func:`offset_projections` (reuse it across blocks).
    invT : the inverse table transposed (genes x permutations, C-contiguous),
        used for few proteins; computed when missing.
    Tt : the rows transposed, ``(n, p)`` C-contiguous (reuse it across blocks).
    c : ``T_rows.sum(axis=1)`` (reuse it across blocks).

    Returns
    -------
    beta : (p, m) float64, count : (p, m) int64, s1, s2 : (p, m) float64
    """
    if Tt is None:
        Tt = np.ascontiguousarray(np.asarray(T_rows, dtype=np.float64).T)
    n, p = Tt.shape
    m = Y_csc.shape[1]
    threads = numba.get_num_threads()
    few = p <= FEW_PROTEINS and m >= threads
    if T_rows is None and (Tr is None or (mu is not None and c is None) or few):
        T_rows = np.ascontiguousarray(Tt.T)  # only where row-major rows are needed
    if Tr is None:
        Tr = offset_projections(T_rows, inv, r)
    if mu is None:
        c = np.zeros(p)
    elif c is None:
        c = np.asarray(T_rows).sum(axis=1)
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
    if few:
        if invT is None:
            invT = np.ascontiguousarray(inv.T)
        rows = np.ascontiguousarray(T_rows, dtype=np.float64)
        if m >= GENE_MAJOR_MIN_COLUMNS:
            R = Y_csc.tocsr()
            R.sort_indices()
            parts = min(threads, m)
            ptile = int(min(256, max(32, (512 * 1024 // 8) // max(1, -(-m // parts)))) // 8 * 8)
            _sparse_block_few_proteins(rows, invT, indptr, indices, data, R.indptr.astype(np.int64),
                                       R.indices.astype(np.int64), R.data.astype(np.float64), Tr, c, mu, sigma,
                                       parts, ptile, beta, count, s1, s2)
        else:
            _sparse_columns_few_proteins(rows, invT, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2)
    elif m < threads and inv.shape[0] >= 2 * threads:
        # few columns: parallelise over permutations instead
        tile = protein_tile(n, p)
        for s in range(m):
            lo, hi = indptr[s], indptr[s + 1]
            _sparse_column_by_permutations(Tt, inv, indices[lo:hi], data[lo:hi], Tr, c, float(mu[s]),
                                           float(sigma[s]), threads, tile, beta, count, s1, s2, s)
    else:
        _sparse_columns(Tt, inv, indptr, indices, data, Tr, c, mu, sigma, protein_tile(n, p), beta, count, s1, s2)
    return beta, count, s1, s2
