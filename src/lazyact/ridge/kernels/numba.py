"""Sparse kernel: walk each column's nonzeros once per permutation (numba, parallel).

For sparse expression ``Y`` that is centred and scaled *in flight*::

    Yn[:, s] = (Y[:, s] - r - mu_s) / sigma_s          (r: gene offsets, mu/sigma: per sample)

the statistics follow from the sparse product and rank-1 corrections, never
from a densified ``Yn``::

    beta_i[k, s] = (sum_{g in nz(s)} T[k, inv_i[g]] Y[g, s] - Tr_i[k] - c[k] mu_s) / sigma_s
    Tr_i = T[:, inv_i] @ r,  c = T @ 1   (c does not depend on the permutation)

Permutation ``i = -1`` is the identity (observed beta).  A column costs
``p * nnz * (n_rand + 1)`` multiply-adds instead of ``p * n_genes * (n_rand + 1)``.

The order of operations is fixed: for each (protein, column, permutation) the
nonzeros are added in gene order, each product rounded then added (no fused
multiply-add, no reassociation), and count/S1/S2 run over the permutations in
order.  So a value's bits depend only on its inputs, never on the proteins or
cells computed with it, the tiles, groups or threads.  Two kernels:

* many proteins -- register tiles: ``TILE`` proteins' sums of two permutations
  held in vector registers (:mod:`.simd`) while a cell's nonzeros stream past,
  the permuted rows read from a packed copy of the projection's rows
  (:func:`projection_tiles`, kept while the projection lives) and prefetched;
  a group of cells shares one gather of permuted row numbers;
* few proteins over many cells -- permutation lanes: ``TILE`` permutations of
  one protein's permuted values (:func:`permuted_row_tiles`, kept in a small
  LRU) as vector lanes, genes in order, each added to every cell expressing it.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict

import numba
import numpy as np
from numba import prange

from .simd import load, prefetch, vadd, vcount_ge, vload, vmul, vmuladd, vsplat, vstore, vsub, vwiden, vzeros

__all__ = ["sparse_permutation_statistics", "offset_projections", "pack_tiles", "projection_tiles",
           "permuted_row_tiles"]


TILE = 16  # proteins per register tile: four AVX2 (or two AVX-512) registers per permutation
AHEAD = 16  # nonzeros ahead whose permuted rows are prefetched
GROUP = 32  # cells whose permuted row numbers are gathered once and shared by every tile


def _aligned_zeros(shape, dtype=np.float64) -> np.ndarray:
    """Zeros whose first element starts a 64-byte cache line."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = np.zeros(n + 64 // dtype.itemsize, dtype)
    skip = (-buf.ctypes.data % 64) // dtype.itemsize
    return buf[skip:skip + n].reshape(shape)


@numba.njit(parallel=True, nogil=True, cache=True)
def _pack_tiles(T, tiles):
    # tiles[t, g, k] = T[t * TILE + k, g], zero beyond the last protein
    p, n = T.shape
    for t in prange(tiles.shape[0]):
        for k in range(min(TILE, p - t * TILE)):
            for g in range(n):
                tiles[t, g, k] = T[t * TILE + k, g]


def pack_tiles(T: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The projection rows as register tiles: ``(ceil(p / TILE), n_genes, TILE)`` of ``dtype``,
    C-contiguous, 64-byte aligned, zero-padded; row ``g`` of tile ``t`` holds
    ``T[t * TILE : (t + 1) * TILE, g]`` (two cache lines in float64).

    >>> tiles = pack_tiles(np.arange(40.0).reshape(20, 2))
    >>> tiles.shape, tiles[1, 1, :5].tolist()
    ((2, 2, 16), [33.0, 35.0, 37.0, 39.0, 0.0])
    """
    T = np.asarray(T, dtype=np.float64)
    p, n = T.shape
    tiles = _aligned_zeros((-(-p // TILE), n, TILE), dtype)
    _pack_tiles(T, tiles)
    return tiles


_TILES: dict[int, tuple[weakref.ref, np.ndarray]] = {}
_TILES_LOCK = threading.Lock()


def projection_tiles(T: np.ndarray, transposed: bool = False, dtype=np.float64) -> np.ndarray:
    """:func:`pack_tiles` of ``T`` (or of ``T.T`` when ``transposed``), kept while ``T`` lives.

    A model's projection is packed once and reused by every block and every cell
    (one cell's latency cannot afford the 74 MB repack of SecAct).
    """
    key = (id(T), transposed, np.dtype(dtype).str)
    with _TILES_LOCK:
        hit = _TILES.get(key)
        if hit is not None and hit[0]() is T:
            return hit[1]
    tiles = pack_tiles(T.T if transposed else T, dtype)
    try:
        ref = weakref.ref(T)
    except TypeError:  # not weak-referenceable: no caching
        return tiles
    with _TILES_LOCK:
        _TILES[key] = (ref, tiles)
    weakref.finalize(T, _TILES.pop, key, None)
    return tiles


@numba.njit(nogil=True, cache=True, inline="always")
def _prefetch_row(Tk, rows, q):
    o = np.intp(load(rows, q)) * TILE
    prefetch(Tk, o)
    prefetch(Tk, o + 8)


@numba.njit(nogil=True, cache=True)
def _walk(Tk, rows, data, lo, hi):
    # sum over nonzeros q = lo .. hi-1, in order, of data[q] * Tk[rows[q], :]  (TILE lanes);
    # rows holds AHEAD valid entries past hi (prefetch targets)
    acc = vzeros(Tk, TILE)
    for q in range(lo, hi):
        _prefetch_row(Tk, rows, q + AHEAD)
        acc = vmuladd(acc, vsplat(load(data, q), TILE), vload(Tk, np.intp(load(rows, q)) * TILE, TILE))
    return acc


@numba.njit(nogil=True, cache=True)
def _walk2(Tk, rows0, rows1, data, lo, hi):
    # two permutations at once: the nonzeros are read once, two independent sums in registers
    acc0 = vzeros(Tk, TILE)
    acc1 = vzeros(Tk, TILE)
    for q in range(lo, hi):
        _prefetch_row(Tk, rows0, q + AHEAD)
        _prefetch_row(Tk, rows1, q + AHEAD)
        v = vsplat(load(data, q), TILE)
        acc0 = vmuladd(acc0, v, vload(Tk, np.intp(load(rows0, q)) * TILE, TILE))
        acc1 = vmuladd(acc1, v, vload(Tk, np.intp(load(rows1, q)) * TILE, TILE))
    return acc0, acc1


@numba.njit(nogil=True, cache=True, inline="always")
def _accumulate(acc, tr, cmu, isg, beta, count, s1, s2, o):
    # beta_i = (acc - T[:, inv_i] r - c mu) / sigma; count/S1/S2 of one permutation (TILE lanes)
    b = vmul(vsub(vsub(vwiden(acc), tr), cmu), isg)
    vstore(count, o, vcount_ge(vload(count, o, TILE), b, vload(beta, o, TILE)))
    vstore(s1, o, vadd(vload(s1, o, TILE), b))
    vstore(s2, o, vadd(vload(s2, o, TILE), vmul(b, b)))


@numba.njit(nogil=True, cache=True)
def _tile_statistics(Tk, Tr, tr_stride, tr_at, cK, rows, ptr, data, mu, isg, beta, count, s1, s2):
    """One protein tile over a group of cells: the observed pass (``rows[0]``, the genes
    themselves) then permutations 1..n_rand in order, two at a time.  Outputs are
    ``(cells, TILE)`` flat; ``Tr`` rows ``i`` start at ``i * tr_stride + tr_at``."""
    n_cells = ptr.shape[0] - 1
    n_rand = rows.shape[0] - 1
    cmu = np.empty(n_cells * TILE)
    for s in range(n_cells):
        o = s * TILE
        vstore(cmu, o, vmul(cK, vsplat(mu[s], TILE)))
        acc = _walk(Tk, rows[0], data, ptr[s], ptr[s + 1])
        vstore(beta, o, vmul(vsub(vsub(vwiden(acc), vload(Tr, tr_at, TILE)), vload(cmu, o, TILE)),
                             vsplat(isg[s], TILE)))
    i = 1
    while i < n_rand:
        tr0 = vload(Tr, i * tr_stride + tr_at, TILE)
        tr1 = vload(Tr, (i + 1) * tr_stride + tr_at, TILE)
        if i + 3 <= n_rand:  # the next pair's offsets (strided rows): fetched during these walks
            for j in range(i + 2, i + 4):
                prefetch(Tr, j * tr_stride + tr_at)
                prefetch(Tr, j * tr_stride + tr_at + TILE - 1)
        for s in range(n_cells):
            o = s * TILE
            acc0, acc1 = _walk2(Tk, rows[i], rows[i + 1], data, ptr[s], ptr[s + 1])
            cmu_s = vload(cmu, o, TILE)
            isg_s = vsplat(isg[s], TILE)
            _accumulate(acc0, tr0, cmu_s, isg_s, beta, count, s1, s2, o)
            _accumulate(acc1, tr1, cmu_s, isg_s, beta, count, s1, s2, o)
        i += 2
    if i == n_rand:
        tr0 = vload(Tr, i * tr_stride + tr_at, TILE)
        for s in range(n_cells):
            o = s * TILE
            acc0 = _walk(Tk, rows[i], data, ptr[s], ptr[s + 1])
            _accumulate(acc0, tr0, vload(cmu, o, TILE), vsplat(isg[s], TILE), beta, count, s1, s2, o)


@numba.njit(parallel=True, nogil=True, cache=True)
def _permuted_rows(inv, invT, indices, lo, hi):
    # rows[0, q] = gene of nonzero q; rows[1 + i, q] = inv_i[gene]; then AHEAD columns of
    # prefetch targets past the last nonzero: the first rows of the walk that comes next
    # (row 0 is walked alone, then rows (1, 2), (3, 4), ...), so no walk starts cold
    n_rand, n = inv.shape
    nq = hi - lo
    rows = np.zeros((n_rand + 1, nq + AHEAD), inv.dtype)
    for q in range(nq):
        rows[0, q] = indices[lo + q]
    if invT.shape[0] > 0 and nq < n:  # few nonzeros: one contiguous row of invT each
        for q in prange(nq):
            src = invT[indices[lo + q]]
            for i in range(n_rand):
                rows[i + 1, q] = src[i]
    else:  # many: each permutation's row of inv once
        for i in prange(n_rand):
            perm = inv[i]
            for q in range(nq):
                rows[i + 1, q] = perm[indices[lo + q]]
    for i in range(n_rand + 1):
        nxt = i + 2 if i > 0 else 1
        if nxt <= n_rand:
            for q in range(min(AHEAD, nq)):
                rows[i, nq + q] = rows[nxt, q]
    return rows


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_tiles(tiles, p, inv, invT, indptr, indices, data, Tr, c, mu, sigma, group, beta, count, s1, s2):
    """All proteins, any number of cells: register tiles of TILE proteins, cells in groups
    that share one gather of permuted row numbers, tiles in parallel."""
    n_tiles = tiles.shape[0]
    m = mu.shape[0]
    n_rand = inv.shape[0]
    Tr_flat = Tr.ravel()
    last = n_tiles - 1
    width_last = p - last * TILE
    Tr_last = np.zeros((n_rand + 1) * TILE)  # the last, partial tile, padded
    c_last = np.zeros(TILE)
    for k in range(width_last):
        c_last[k] = c[last * TILE + k]
        for i in range(n_rand + 1):
            Tr_last[i * TILE + k] = Tr[i, last * TILE + k]
    isg = np.zeros(m)
    for s in range(m):
        if sigma[s] > 0:
            isg[s] = 1.0 / sigma[s]
    for c0 in range(0, m, group):
        c1 = min(m, c0 + group)
        n_cells = c1 - c0
        lo = indptr[c0]
        rows = _permuted_rows(inv, invT, indices, lo, indptr[c1])
        ptr = indptr[c0:c1 + 1] - lo
        d = data[lo:indptr[c1]]
        for t in prange(n_tiles):
            b = np.empty(n_cells * TILE)
            cn = np.zeros(n_cells * TILE)
            m1 = np.zeros(n_cells * TILE)
            m2 = np.zeros(n_cells * TILE)
            if t < last or width_last == TILE:
                _tile_statistics(tiles[t], Tr_flat, p, t * TILE, vload(c, t * TILE, TILE), rows, ptr, d,
                                 mu[c0:c1], isg[c0:c1], b, cn, m1, m2)
            else:
                _tile_statistics(tiles[t], Tr_last, TILE, 0, vload(c_last, 0, TILE), rows, ptr, d,
                                 mu[c0:c1], isg[c0:c1], b, cn, m1, m2)
            for s in range(n_cells):
                for k in range(min(TILE, p - t * TILE)):
                    beta[t * TILE + k, c0 + s] = b[s * TILE + k]
                    count[t * TILE + k, c0 + s] = np.int64(cn[s * TILE + k])
                    s1[t * TILE + k, c0 + s] = m1[s * TILE + k]
                    s2[t * TILE + k, c0 + s] = m2[s * TILE + k]


@numba.njit(nogil=True, cache=True)
def _observed_one(t, indices, data, lo, hi):
    # sum_q data[q] * t[indices[q]] over one column's nonzeros, in order (in t's precision)
    obs = t[0] - t[0]
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
        acc = np.empty(n_rand, T_rows.dtype)
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
def _pack_permuted_row(t, invT, tiles):
    # tiles[j, g, l] = t[inv_{j * TILE + l}[g]]: one protein's permuted values, TILE permutations
    # per tile (zero past the last permutation)
    n, n_rand = invT.shape
    for j in prange(tiles.shape[0]):
        i0 = j * TILE
        w = min(TILE, n_rand - i0)
        for g in range(n):
            src = invT[g]
            for l in range(w):
                tiles[j, g, l] = t[src[i0 + l]]


_PERMUTED: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
PERMUTED_CACHE_BYTES = 256 * 2**20


def permuted_row_tiles(t: np.ndarray, invT: np.ndarray) -> np.ndarray:
    """``T[k, inv_i[g]]`` for every gene and permutation of one protein row ``t`` (float64
    or float32), as
    ``(ceil(n_rand / TILE), n_genes, TILE)`` tiles; the same for every block of cells, so
    the last few proteins' tables are kept (``PERMUTED_CACHE_BYTES``, keyed by the row's bytes
    and the table's identity)."""
    n, n_rand = invT.shape
    t = np.ascontiguousarray(t)
    key = (hashlib.blake2b(t.view(np.uint8), digest_size=16).digest(), t.dtype.str, id(invT),
           invT.shape, invT.dtype.str)
    with _TILES_LOCK:
        hit = _PERMUTED.get(key)
        if hit is not None:
            _PERMUTED.move_to_end(key)
            return hit[1]
    n_tiles = -(-n_rand // TILE)
    tiles = _aligned_zeros((n_tiles, n, TILE), t.dtype)
    _pack_permuted_row(t, invT, tiles)
    if tiles.nbytes <= PERMUTED_CACHE_BYTES:
        with _TILES_LOCK:
            _PERMUTED[key] = (invT, tiles)  # holding invT keeps its id unique while cached
            while sum(v[1].nbytes for v in _PERMUTED.values()) > PERMUTED_CACHE_BYTES:
                _PERMUTED.popitem(last=False)
    return tiles


@numba.njit(nogil=True, cache=True)
def _lanes_gene_major(tile, genes, gptr, cells, values, acc):
    # genes in order: each gene's row of permuted values (TILE permutations) is read once, into
    # registers, and added to the sums of every cell expressing it, so every cell still adds its
    # nonzeros in gene order; the tile streams through in order
    for j in range(genes.shape[0]):
        row = vload(tile, np.intp(load(genes, j)) * TILE, TILE)
        for q in range(load(gptr, j), load(gptr, j + 1)):
            a = np.intp(load(cells, q)) * TILE
            vstore(acc, a, vmuladd(vload(acc, a, TILE), vsplat(load(values, q), TILE), row))


@numba.njit(parallel=True, nogil=True, cache=True)
def _sparse_lanes(t, ptiles, indptr, indices, data, bounds, gstart, genes, gptr, cells, values, Tr_k, c_k, mu,
                  isg, beta_k, count_k, s1_k, s2_k):
    """One protein, permutations as vector lanes over its cached permuted values: for each
    tile of TILE permutations and each part of the cells (``bounds``; each part as CSR by
    gene: ``genes[gstart[part]:gstart[part + 1]]`` with their ``gptr`` rows of local ``cells``
    and ``values``), the gene-major sums (tasks in parallel); then each cell's count/S1/S2
    over the permutations in order."""
    m = mu.shape[0]
    n_tiles = ptiles.shape[0]
    n_rand = Tr_k.shape[0] - 1
    n_parts = bounds.shape[0] - 1
    for s in range(m):
        beta_k[s] = (_observed_one(t, indices, data, indptr[s], indptr[s + 1]) - Tr_k[0] - c_k * mu[s]) * isg[s]
    width = n_tiles * TILE
    tr = np.zeros(width)
    tr[:n_rand] = Tr_k[1:]
    b = np.empty((m, width))
    for task in prange(n_tiles * n_parts):
        j = task // n_parts
        part = task % n_parts
        c0 = bounds[part]
        c1 = bounds[part + 1]
        g0 = gstart[part]
        g1 = gstart[part + 1]
        acc = np.zeros((c1 - c0) * TILE, ptiles.dtype)
        _lanes_gene_major(ptiles[j], genes[g0:g1], gptr[g0 + part:g1 + part + 1], cells, values, acc)
        tr_j = vload(tr, j * TILE, TILE)
        for s in range(c1 - c0):
            b_s = vmul(vsub(vsub(vwiden(vload(acc, s * TILE, TILE)), tr_j), vsplat(c_k * mu[c0 + s], TILE)),
                       vsplat(isg[c0 + s], TILE))
            vstore(b[c0 + s], j * TILE, b_s)
    for s in prange(m):
        ref = abs(beta_k[s])
        n_ge = 0
        a1 = 0.0
        a2 = 0.0
        row = b[s]
        for i in range(n_rand):
            x = row[i]
            if abs(x) >= ref:
                n_ge += 1
            a1 += x
            a2 += x * x
        count_k[s] = n_ge
        s1_k[s] = a1
        s2_k[s] = a2


def _parts_by_gene(Y_csc, part: int, dtype):
    """The columns in parts of ``part`` cells, each as CSR by gene (genes present only):
    ``bounds, gstart, genes, gptr, cells, values`` for :func:`_sparse_lanes` (``gptr`` of
    part ``k`` starts at ``gstart[k] + k``; ``cells`` are local to the part, ``gptr``
    offsets global)."""
    m = Y_csc.shape[1]
    bounds = np.unique(np.r_[np.arange(0, m, part), m]).astype(np.int64)
    gstart, genes, gptr, cells, values = [0], [], [], [], []
    nnz = 0
    for a, b in zip(bounds[:-1], bounds[1:]):
        R = Y_csc[:, a:b].tocsr()
        R.sort_indices()
        counts = np.diff(R.indptr)
        present = np.flatnonzero(counts)
        genes.append(present)
        gptr.append(nnz + np.r_[0, np.cumsum(counts[present])])
        cells.append(R.indices)
        values.append(R.data)
        gstart.append(gstart[-1] + present.size)
        nnz += R.nnz
    return (bounds, np.asarray(gstart, np.int64), np.concatenate(genes).astype(np.int64),
            np.concatenate(gptr).astype(np.int64), np.concatenate(cells).astype(np.int64),
            np.concatenate(values).astype(dtype))


FEW_PROTEINS = 8
LANES_MIN_COLUMNS = 64  # few proteins over at least this many cells: permutation lanes
LANES_PART = 128  # cells whose permutation-lane sums stay in L1 together


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


def sparse_permutation_statistics(T_rows: np.ndarray | None, inv: np.ndarray, Y_csc, r=None, mu=None, sigma=None,
                                  Tr=None, invT=None, Tt=None, c=None, group: int = GROUP, dtype=np.float64):
    """Accumulators of the permutation test for sparse columns with in-flight normalisation.

    Parameters
    ----------
    T_rows : (p, n) projection rows (may be None when ``Tt`` is given).
    inv : (n_rand, n) inverse permutation table.
    Y_csc : scipy.sparse CSC (n, m) raw (un-centred) expression columns.
    r : (n,) gene offsets subtracted from every column (row means), or None.
    mu, sigma : (m,) per-column shift and scale, or None (0 and 1).
    Tr : precomputed :func:`offset_projections` (reuse it across blocks).
    invT : the inverse table transposed (genes x permutations, C-contiguous);
        computed when missing for few proteins; gathers one cell's permuted
        rows fastest when given.
    Tt : the rows transposed, ``(n, p)`` (used only when ``T_rows`` is None).
    c : ``T_rows.sum(axis=1)`` (reuse it across blocks).
    group : cells whose permuted row numbers are gathered together (memory
        ``group * nnz_per_cell * n_rand`` table entries); results never depend on it.
    dtype : float64 (exact, the default) or float32: the precision of the products
        and of their sums over the nonzeros (each ``T[k, inv_i[g]] * Y[g, s]`` and the
        running sum rounded to float32); the offsets, scaling and count/S1/S2 stay
        float64.  Not exact: about twice as fast, with a measured error (see
        ``benchmarks/RESULTS.md``).

    Every (protein, column) value is computed by one fixed sequence of
    operations (nonzeros in gene order, permutations in order), whatever ``p``,
    ``m``, the tiles, ``group`` or the thread count: a value's bits depend only
    on its inputs.

    Returns
    -------
    beta : (p, m) float64, count : (p, m) int64, s1, s2 : (p, m) float64
    """
    source, transposed = (T_rows, False) if T_rows is not None else (Tt, True)
    n, p = (source.shape[1], source.shape[0]) if not transposed else source.shape
    m = Y_csc.shape[1]
    few = p <= FEW_PROTEINS
    if T_rows is None and (Tr is None or (mu is not None and c is None) or few):
        T_rows = np.ascontiguousarray(Tt.T)  # only where row-major rows are needed
    if Tr is None:
        Tr = offset_projections(T_rows, inv, r)
    if mu is None:
        c = np.zeros(p)
    elif c is None:
        c = np.asarray(T_rows).sum(axis=1)
    c = np.ascontiguousarray(c, dtype=np.float64)
    Tr = np.ascontiguousarray(Tr, dtype=np.float64)
    mu = np.zeros(m) if mu is None else np.ascontiguousarray(mu, dtype=np.float64)
    sigma = np.ones(m) if sigma is None else np.ascontiguousarray(sigma, dtype=np.float64)
    Y_csc = Y_csc.tocsc()
    Y_csc.sort_indices()
    beta = np.empty((p, m))
    count = np.zeros((p, m), dtype=np.int64)
    s1 = np.zeros((p, m))
    s2 = np.zeros((p, m))
    indptr = Y_csc.indptr.astype(np.int64)
    indices = Y_csc.indices.astype(np.int64)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dtype}")
    data = Y_csc.data.astype(dtype)
    inv = np.ascontiguousarray(inv)
    if few:
        if invT is None:
            invT = np.ascontiguousarray(inv.T)
        rows = np.ascontiguousarray(T_rows, dtype=dtype)
        if m >= LANES_MIN_COLUMNS:
            isg = np.where(sigma > 0, 1.0 / np.where(sigma > 0, sigma, 1.0), 0.0)
            parts = _parts_by_gene(Y_csc, LANES_PART, dtype)
            for k in range(p):
                out = np.empty(m), np.zeros(m, np.int64), np.empty(m), np.empty(m)
                _sparse_lanes(rows[k], permuted_row_tiles(rows[k], invT), indptr, indices, data, *parts,
                              np.ascontiguousarray(Tr[:, k]), float(c[k]), mu, isg, *out)
                for full, row in zip((beta, count, s1, s2), out):
                    full[k] = row
        else:
            _sparse_columns_few_proteins(rows, invT, indptr, indices, data, Tr, c, mu, sigma, beta, count, s1, s2)
        return beta, count, s1, s2
    tiles = projection_tiles(source, transposed, dtype)
    invT = np.zeros((0, 0), inv.dtype) if invT is None else np.ascontiguousarray(invT, dtype=inv.dtype)
    _sparse_tiles(tiles, p, inv, invT, indptr, indices, data, Tr, c, mu, sigma, max(1, int(group)),
                  beta, count, s1, s2)
    return beta, count, s1, s2
