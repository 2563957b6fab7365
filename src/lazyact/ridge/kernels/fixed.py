"""Products in a fixed order of operations: the same bits however a value is asked for.

A (protein, sample) statistic must not depend on the block, the thread count
or the process it was computed in.  Every dense statistic is built from dot
products ``sum_g a[g] * b[g]`` over the genes, so this module fixes *how* such
a dot product is summed, and routes every product of the ridge kernels through
one of two implementations that sum it identically:

* :func:`matmul` calls BLAS (through NumPy) **single-threaded** (see
  :func:`single_threaded_blas`), never as a matrix-vector product (at least
  two rows and two columns), with an even number of rows, and splits large
  products into row panels computed concurrently by lazyact's own threads.
  Under these rules OpenBLAS's GEMM sums every element the same way whatever
  the shapes: the genes are cut into blocks that depend only on their number
  ``K`` and each block is a chain of fused multiply-adds added to the result
  in order.  What changes bits, measured on OpenBLAS 0.3.31 (Haswell
  kernels), and is avoided here: a matrix-vector call (one row or one
  column: up to 2.7e-15 in a z-score), the one-row edge kernel that an odd
  number of rows uses for its last row, multi-threaded GEMM, whose
  threaded driver cuts ``K`` differently and hands each thread a share of
  rows that may be odd, and -- on SkylakeX and later cores (AVX-512) -- the
  small-matrix kernels that take every product of at most 100**3
  multiply-adds and sum in an order of their own (small products are padded
  with zero rows past that size: :func:`gemm_rows`).  The blocked kernels cut
  the genes in blocks of 256 (Haswell) or 384 (SkylakeX).
* :func:`gathered_moments` is a numba kernel that sums in *exactly* that order
  (the same gene blocks, ``llvm.fma``), for the requests that BLAS cannot serve
  without a gather as large as the product itself (one protein over many
  samples, or one sample over many proteins).

The gene blocks of the BLAS in this process are found once per ``(K, dtype)``
by :func:`gene_blocks`: candidate blockings (OpenBLAS's rule with its known
blocking parameters) are tried on random probes of several shapes until one
reproduces BLAS bit for bit.  If none does (another BLAS, another CPU
family), the numba kernel is not used, every product goes through BLAS, and
a warning says that bit-identity across request shapes is not verified.

The promise therefore holds for one BLAS build on one CPU family (all the
processes of a machine, a cluster of identical machines); a different BLAS
(MKL, Accelerate, another OpenBLAS kernel) or a GPU sums in its own order.
"""
from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import numba
import numpy as np
from numba import prange

from .simd import fma, vadd, vfma, vload, vsplat, vstore, vzero

__all__ = ["single_threaded_blas", "matmul", "gene_blocks", "gathered_moments", "column_sums",
           "column_centred_squares"]

LANES = 4  # float64 lanes of the vector registers of the gathered kernel (one AVX2 register)


# --------------------------------------------------------------------------- BLAS threads
_guard_lock = threading.Lock()
_guard_depth = 0
_guard_saved: list[tuple[object, int]] = []
_guard_budget = 1
_controller = None
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _blas_libs() -> list:
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return list(_controller.lib_controllers)


def _per_thread(lib) -> bool:
    # OpenMP-threaded OpenBLAS and MKL keep one limit per thread; pthreads OpenBLAS one per process
    return getattr(lib, "threading_layer", None) == "openmp" or getattr(lib, "internal_api", None) == "mkl"


def _set_threads(lib, n: int) -> None:
    # threadpoolctl lets only its first ("controlling") thread change a process-wide
    # OpenBLAS pool and silently ignores the others; lazyact computes in worker threads
    setter = getattr(lib, "_real_set_num_threads", None) or lib.set_num_threads
    setter(int(n))


@contextmanager
def single_threaded_blas() -> Iterator[int]:
    """Run BLAS single-threaded inside the block; yield how many threads lazyact may use instead.

    The thread budget is the BLAS thread count in force when the outermost
    such block is entered (so ``threadpoolctl.threadpool_limits`` or
    ``OPENBLAS_NUM_THREADS`` still bound lazyact's parallelism), but every
    product runs on one thread, with a partition chosen by lazyact, so its
    bits do not depend on that count.  Re-entrant and safe from any thread:
    a process-wide pool (pthreads OpenBLAS) is limited by the first concurrent
    user and restored by the last; per-thread limits (OpenMP, MKL) are set in
    each thread that enters.  While it is held, other threads of the process
    also see single-threaded (pthreads) BLAS.
    """
    global _guard_depth, _guard_saved, _guard_budget
    libs = _blas_libs()
    with _guard_lock:
        if _guard_depth == 0:
            counts = [lib.get_num_threads() or 1 for lib in libs]
            _guard_budget = max(counts or [1])
            _guard_saved = [(lib, c) for lib, c in zip(libs, counts) if not _per_thread(lib)]
            for lib, _ in _guard_saved:
                _set_threads(lib, 1)
        _guard_depth += 1
        workers = _guard_budget
    mine = [(lib, lib.get_num_threads() or 1) for lib in libs if _per_thread(lib)]
    for lib, _ in mine:
        _set_threads(lib, 1)
    try:
        yield workers
    finally:
        for lib, count in mine:
            _set_threads(lib, count)
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                for lib, count in _guard_saved:
                    _set_threads(lib, count)
                _guard_saved = []


def pool(workers: int) -> ThreadPoolExecutor:
    """A shared pool of ``workers`` threads for products run one per thread."""
    key = (os.getpid(), int(workers))  # a forked child gets its own threads
    with _guard_lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(int(workers), thread_name_prefix="lazyact-gemm")
        return _pools[key]


# --------------------------------------------------------------------------- BLAS products
def matmul(A: np.ndarray, B: np.ndarray, out: np.ndarray | None = None, workers: int = 1) -> np.ndarray:
    """``A @ B`` with every element summed in the fixed order (see the module docstring).

    Must run inside :func:`single_threaded_blas`.  ``A`` (r x K) and ``B``
    (K x c) are C-contiguous of one float dtype.  Padding (zero rows to an
    even count and past BLAS's small-matrix kernels, :func:`gemm_rows`; a
    zero column when ``c == 1``) keeps BLAS on its blocked GEMM path;
    with ``workers > 1`` the rows are split into even panels computed
    concurrently.

    >>> A, B = np.arange(6.0).reshape(3, 2), np.ones((2, 1))
    >>> with single_threaded_blas():
    ...     matmul(A, B).ravel().tolist()
    [1.0, 5.0, 9.0]
    """
    A = np.ascontiguousarray(A)
    B = np.ascontiguousarray(B, dtype=A.dtype)
    r, c = A.shape[0], B.shape[1]
    if out is None:
        out = np.empty((r, c), dtype=A.dtype)
    if r == 0 or c == 0:
        return out
    K = A.shape[1]
    if K == 0:
        out[...] = 0
        return out
    cols = gemm_cols(c, A.dtype)
    if cols != c:
        B = np.concatenate([B, np.zeros((K, cols - c), A.dtype)], axis=1)
    rows = gemm_rows(r, cols, K)
    if rows != r or B.shape[1] != c:
        Ap = A if rows == r else np.concatenate([A, np.zeros((rows - r, K), A.dtype)])
        full = _panels(Ap, B, np.empty((rows, B.shape[1]), A.dtype), workers)
        out[...] = full[:r, :c]
        return out
    return _panels(A, B, out, workers)


#: OpenBLAS's small-matrix kernels (built for SkylakeX and later x86-64 cores, and some ARM
#: cores) take the GEMMs of at most this many multiply-adds ``M * N * K`` and sum them in
#: an order of their own that depends on the shape; larger GEMMs go through the blocked
#: kernels, whose order depends only on ``K``.
SMALL_GEMM = 100**3


def gemm_rows(r: int, c: int, K: int) -> int:
    """The rows an ``r x K @ K x c`` product is padded to (with zero rows) for BLAS's GEMM path.

    Even (the one-row edge kernel sums in its own order), and more than
    :data:`SMALL_GEMM` multiply-adds in all (never a small-matrix kernel).

    >>> gemm_rows(3, 2000, 1000), gemm_rows(1, 2, 1000)
    (4, 502)
    """
    rows = r + r % 2
    if rows * c * K <= SMALL_GEMM:
        rows = SMALL_GEMM // (c * K) + 1
        rows += rows % 2
    return rows


def gemm_cols(c: int, dtype) -> int:
    """The columns an ``r x K @ K x c`` product is padded to (with zero columns).

    At least two (one column is a matrix-vector product), and a multiple of
    :func:`column_multiple`: SkylakeX's kernels sum the last columns of a
    product wider than their column panel in their own order unless the width
    is a multiple of 8 (float64).

    >>> gemm_cols(1, np.float64) >= 2
    True
    """
    m = column_multiple(dtype)
    return max(2, -(-int(c) // m) * m)


def column_multiple(dtype) -> int:
    """The smallest width multiple (1, 2, 4, 8, 16 or 32) whose products this process's BLAS
    sums like the blocked kernel in every column, found once per dtype by probes (1 where
    no blocking of the genes is known)."""
    dtype = np.dtype(dtype)
    if dtype.str in _column_multiple:
        return _column_multiple[dtype.str]
    _column_multiple[dtype.str] = 32  # while probing (matmul pads to it)
    K, rows = 400, 16
    blocks = gene_blocks(K, dtype)
    found = 1
    if blocks is not None:
        rng = np.random.default_rng(K)
        A = rng.standard_normal((rows, K)).astype(dtype)
        B = rng.standard_normal((K, 256)).astype(dtype)
        for m in (1, 2, 4, 8, 16, 32):
            widths = sorted({max(2, -(-c // m) * m) for c in range(193, 225)})
            with single_threaded_blas():
                products = [np.matmul(A, np.ascontiguousarray(B[:, :w])) for w in widths]
            if all(_reproduces(A, np.ascontiguousarray(B[:, :w]), C, blocks) for w, C in zip(widths, products)):
                found = m
                break
    _column_multiple[dtype.str] = found
    return found


_column_multiple: dict[str, int] = {}


def _matmul_single(A, B, out):
    with single_threaded_blas():  # per-thread BLAS limits hold in this pool thread too
        np.matmul(A, B, out=out)


def _panels(A, B, out, workers):
    # rows in even panels, one BLAS call each (concurrently when worth it)
    r = A.shape[0]
    n_panels = max(1, min(int(workers), r // 2, int(A.size * B.shape[1] // 2**22) or 1))
    if n_panels == 1:
        np.matmul(A, B, out=out)
        return out
    cuts = [2 * (i * (r // 2) // n_panels) for i in range(n_panels + 1)]
    cuts[-1] = r
    jobs = [pool(int(workers)).submit(_matmul_single, A[a:b], B, out[a:b]) for a, b in zip(cuts, cuts[1:]) if b > a]
    for job in jobs:
        job.result()
    return out


# --------------------------------------------------------------------------- the gene blocks of BLAS
def _blocking(K: int, Q: int, U: int) -> np.ndarray:
    # OpenBLAS driver/level3/level3.c: blocks of Q, the tail between Q and 2Q halved
    # and rounded up to a multiple of the kernel's unroll U
    out = []
    start = 0
    while start < K:
        size = K - start
        if size >= 2 * Q:
            size = Q
        elif size > Q:
            size = ((size // 2 + U - 1) // U) * U
        out.append((start, start + size))
        start += size
    return np.array(out, dtype=np.int64).reshape(-1, 2)


# (Q, unroll) of OpenBLAS's x86-64 and ARM double/single GEMM kernels, most common first
_CANDIDATES = [(256, 4), (384, 16), (384, 4), (320, 16), (256, 8), (512, 4), (256, 16), (384, 8),
               (320, 8), (192, 4), (128, 4), (512, 8), (512, 16), (256, 2), (448, 16), (480, 16),
               (640, 16), (224, 4), (240, 8), (768, 16), (336, 16), (352, 16), (256, 1), (1 << 40, 1)]

_blocks_cache: dict[tuple[int, str], np.ndarray | None] = {}
_warned = False


@numba.njit(nogil=True, cache=True)
def _blocked_product(A, B, blocks, zero, out):  # pragma: no cover - numba
    # out = A @ B summed block by block, each block a chain of fused multiply-adds
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            z = zero
            for bl in range(blocks.shape[0]):
                acc = zero
                for g in range(blocks[bl, 0], blocks[bl, 1]):
                    acc = fma(A[i, g], B[g, j], acc)
                z = z + acc
            out[i, j] = z


def gene_blocks(K: int, dtype) -> np.ndarray | None:
    """The gene blocks in which this process's BLAS sums a length-``K`` dot product, or None.

    Found once per ``(K, dtype)`` by reproducing single-threaded GEMMs of
    three shapes (2 x K @ K x 2, 6 x K @ K x 5, 40 x K @ K x 24) bit for bit.

    >>> blocks = gene_blocks(1000, np.float64)
    >>> blocks is None or int(blocks[-1, 1]) == 1000
    True
    """
    dtype = np.dtype(dtype)
    key = (int(K), dtype.str)
    if key in _blocks_cache:
        return _blocks_cache[key]
    rng = np.random.default_rng(K)
    probes = []
    with single_threaded_blas():
        for r, c in ((2, 2), (6, 5), (40, 24)):
            A = (rng.standard_normal((r, K)) * np.exp(rng.uniform(-3, 3, (r, K)))).astype(dtype)
            B = (rng.standard_normal((K, c)) * np.exp(rng.uniform(-3, 3, (K, c)))).astype(dtype)
            probes.append((A, B, matmul(A, B)))
    found = None
    for Q, U in _CANDIDATES:
        blocks = _blocking(K, Q, U)
        if all(_reproduces(A, B, C, blocks) for A, B, C in probes):
            found = blocks
            break
    if found is None and K > 0:
        _warn_unverified(f"no known blocking reproduces this BLAS's {dtype} GEMM for {K} genes")
    _blocks_cache[key] = found
    return found


def _reproduces(A, B, C, blocks) -> bool:
    out = np.empty_like(C)
    _blocked_product(A, B, blocks, C.dtype.type(0), out)
    return bool(np.array_equal(out.view(np.uint8), C.view(np.uint8)))


def _warn_unverified(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"lazyact could not verify the order in which BLAS sums ({why}); values may differ in "
                      "their last bits depending on how they are requested. Same-bits is guaranteed with "
                      "the OpenBLAS that NumPy wheels ship.", RuntimeWarning, stacklevel=3)


# --------------------------------------------------------------------------- the numba kernels
@numba.njit(nogil=True, cache=True)
def _zeros8():  # pragma: no cover - numba
    z = vzero(LANES)
    return z, z, z, z, z, z, z, z


@numba.njit(nogil=True, cache=True)
def _store8(zb, v0, v1, v2, v3, v4, v5, v6, v7):  # pragma: no cover - numba
    vstore(zb, 0, v0)
    vstore(zb, LANES, v1)
    vstore(zb, 2 * LANES, v2)
    vstore(zb, 3 * LANES, v3)
    vstore(zb, 4 * LANES, v4)
    vstore(zb, 5 * LANES, v5)
    vstore(zb, 6 * LANES, v6)
    vstore(zb, 7 * LANES, v7)


@numba.njit(nogil=True, cache=True)
def _add8(z, a):  # pragma: no cover - numba
    return (vadd(z[0], a[0]), vadd(z[1], a[1]), vadd(z[2], a[2]), vadd(z[3], a[3]),
            vadd(z[4], a[4]), vadd(z[5], a[5]), vadd(z[6], a[6]), vadd(z[7], a[7]))


@numba.njit(nogil=True, cache=True)
def _moments(zb, e, r, c0, w, b0, beta, count, s1, s2):  # pragma: no cover - numba
    # permutation e (-1: the identity, i.e. the observed beta) of row r, columns c0 .. c0 + w
    for s in range(w):
        z = zb[s]
        if e < 0:
            b0[s] = abs(z)
            beta[r, c0 + s] = z
        else:
            if abs(z) >= b0[s]:
                count[r, c0 + s] += 1
            s1[r, c0 + s] += z
            s2[r, c0 + s] += z * z


@numba.njit(parallel=True, nogil=True, cache=True)
def _four_rows(S, n_groups, V8, C, perm, blocks, beta, count, s1, s2):  # pragma: no cover - numba
    """Rows 4q .. 4q+3 x a tile of 8 columns, one permutation at a time (8 register accumulators);
    the four rows share each gathered row of the tile."""
    n_tiles = V8.shape[0]
    n_rand = perm.shape[0]
    for task in prange(n_groups * n_tiles):
        r0 = (task // n_tiles) * 4
        tile = task % n_tiles
        c0 = tile * 8
        w = min(C, c0 + 8) - c0
        Vt = V8[tile]
        zb = np.empty(32)
        b0 = np.empty(32)
        for e in range(-1, n_rand):
            z = _zeros8()
            for bl in range(blocks.shape[0]):
                a00, a01, a10, a11, a20, a21, a30, a31 = _zeros8()
                for g in range(blocks[bl, 0], blocks[bl, 1]):
                    o = (g if e < 0 else perm[e, g]) * 8
                    v0 = vload(Vt, o, LANES)
                    v1 = vload(Vt, o + LANES, LANES)
                    t = vsplat(S[r0, g], LANES)
                    a00 = vfma(t, v0, a00); a01 = vfma(t, v1, a01)  # noqa: E702
                    t = vsplat(S[r0 + 1, g], LANES)
                    a10 = vfma(t, v0, a10); a11 = vfma(t, v1, a11)  # noqa: E702
                    t = vsplat(S[r0 + 2, g], LANES)
                    a20 = vfma(t, v0, a20); a21 = vfma(t, v1, a21)  # noqa: E702
                    t = vsplat(S[r0 + 3, g], LANES)
                    a30 = vfma(t, v0, a30); a31 = vfma(t, v1, a31)  # noqa: E702
                z = _add8(z, (a00, a01, a10, a11, a20, a21, a30, a31))
            _store8(zb, *z)
            for q in range(4):
                _moments(zb[8 * q:8 * q + 8], e, r0 + q, c0, w, b0[8 * q:8 * q + 8], beta, count, s1, s2)


@numba.njit(parallel=True, nogil=True, cache=True)
def _one_row(S, rows, V8, C, perm, blocks, beta, count, s1, s2):  # pragma: no cover - numba
    """One row x a tile of 8 columns, four permutations at a time (8 register accumulators)."""
    n_tiles = V8.shape[0]
    n_rand = perm.shape[0]
    for task in prange(rows.shape[0] * n_tiles):
        r = rows[task // n_tiles]
        tile = task % n_tiles
        c0 = tile * 8
        w = min(C, c0 + 8) - c0
        Vt = V8[tile]
        zb = np.empty(32)
        b0 = np.empty(8)
        for e0 in range(-1, n_rand, 4):  # e0 = -1: the identity first
            e1 = min(e0 + 1, n_rand - 1)
            e2 = min(e0 + 2, n_rand - 1)
            e3 = min(e0 + 3, n_rand - 1)
            z = _zeros8()
            for bl in range(blocks.shape[0]):
                a00, a01, a10, a11, a20, a21, a30, a31 = _zeros8()
                for g in range(blocks[bl, 0], blocks[bl, 1]):
                    t = vsplat(S[r, g], LANES)
                    o0 = (g if e0 < 0 else perm[e0, g]) * 8
                    o1 = perm[e1, g] * 8
                    o2 = perm[e2, g] * 8
                    o3 = perm[e3, g] * 8
                    a00 = vfma(t, vload(Vt, o0, LANES), a00)
                    a01 = vfma(t, vload(Vt, o0 + LANES, LANES), a01)
                    a10 = vfma(t, vload(Vt, o1, LANES), a10)
                    a11 = vfma(t, vload(Vt, o1 + LANES, LANES), a11)
                    a20 = vfma(t, vload(Vt, o2, LANES), a20)
                    a21 = vfma(t, vload(Vt, o2 + LANES, LANES), a21)
                    a30 = vfma(t, vload(Vt, o3, LANES), a30)
                    a31 = vfma(t, vload(Vt, o3 + LANES, LANES), a31)
                z = _add8(z, (a00, a01, a10, a11, a20, a21, a30, a31))
            _store8(zb, *z)
            _moments(zb[0:8], e0, r, c0, w, b0, beta, count, s1, s2)
            if e0 + 1 < n_rand:
                _moments(zb[8:16], e1, r, c0, w, b0, beta, count, s1, s2)
            if e0 + 2 < n_rand:
                _moments(zb[16:24], e2, r, c0, w, b0, beta, count, s1, s2)
            if e0 + 3 < n_rand:
                _moments(zb[24:32], e3, r, c0, w, b0, beta, count, s1, s2)


def gathered_moments(S: np.ndarray, V: np.ndarray, perm: np.ndarray, blocks: np.ndarray):
    """Observed products and permutation moments of ``S @ V[perm_i]``, summed as BLAS sums them.

    For every row ``r`` of ``S`` and column ``c`` of ``V``: ``beta[r, c] = sum_g S[r, g] V[g, c]``
    and, over ``i = 0 .. n_rand-1`` in order, ``count``/``s1``/``s2`` of
    ``x_i[r, c] = sum_g S[r, g] V[perm[i, g], c]`` (``|x_i| >= |beta|``, sums in float64), each
    sum taken over the gene ``blocks`` of :func:`gene_blocks` as a chain of fused multiply-adds
    per block, the blocks added in order: bit for bit what :func:`matmul` gives.  Four rows
    share each gathered row (or one row takes four permutations at once), eight columns at a
    time, in vector registers.

    Parameters
    ----------
    S : (R, n) float64 (one scalar per gene and row).
    V : (n, C) float64 (its rows are gathered by the permutation).
    perm : (n_rand, n) integer table.
    blocks : the gene blocks from :func:`gene_blocks`.

    Returns
    -------
    beta : (R, C); count (int64), s1, s2 (float64), (R, C).
    """
    S = np.ascontiguousarray(S, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    R, n = S.shape
    C = V.shape[1]
    beta = np.empty((R, C))
    count = np.zeros((R, C), np.int64)
    s1 = np.zeros((R, C))
    s2 = np.zeros((R, C))
    if R == 0 or C == 0:
        return beta, count, s1, s2
    n_tiles = (C + 7) // 8
    V8 = np.zeros((n_tiles, n, 8))  # column tiles, contiguous: a gathered row is one cache line
    for t in range(n_tiles):
        V8[t, :, :min(8, C - 8 * t)] = V[:, 8 * t:8 * t + 8]
    perm = np.ascontiguousarray(perm)
    groups = R // 4
    if groups:
        _four_rows(S, groups, V8, C, perm, blocks, beta, count, s1, s2)
    if R % 4:
        _one_row(S, np.arange(4 * groups, R), V8, C, perm, blocks, beta, count, s1, s2)
    return beta, count, s1, s2


# --------------------------------------------------------------------------- column sums in a fixed order
@numba.njit(parallel=True, nogil=True, cache=True)
def _column_sums(Y, out):  # pragma: no cover - numba
    n, m = Y.shape
    for s in prange(m):
        z = 0.0
        for g in range(n):
            z += Y[g, s]
        out[s] = z


@numba.njit(parallel=True, nogil=True, cache=True)
def _column_centred_squares(Y, mean, out):  # pragma: no cover - numba
    n, m = Y.shape
    for s in prange(m):
        z = 0.0
        mu = mean[s]
        for g in range(n):
            d = Y[g, s] - mu
            z += d * d
        out[s] = z


def column_sums(Y: np.ndarray) -> np.ndarray:
    """Column sums of a (n, m) array, each summed over the rows in order (NumPy's
    pairwise sum changes with the layout, e.g. for one column).

    >>> column_sums(np.arange(6.0).reshape(3, 2)).tolist()
    [6.0, 9.0]
    """
    Y = np.asarray(Y, dtype=np.float64)
    out = np.empty(Y.shape[1])
    _column_sums(Y, out)
    return out


def column_centred_squares(Y: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``sum_g (Y[g, s] - mean[s])**2`` per column, over the rows in order.

    >>> column_centred_squares(np.array([[1.0], [3.0]]), np.array([2.0])).tolist()
    [2.0]
    """
    Y = np.asarray(Y, dtype=np.float64)
    out = np.empty(Y.shape[1])
    _column_centred_squares(Y, np.asarray(mean, dtype=np.float64), out)
    return out

