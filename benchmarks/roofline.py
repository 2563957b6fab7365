"""The float64 GEMM roofline that every benchmark row is divided by, measured in the same run.

One shape for all: SecAct's (1170 x 7919) @ (7919 x k), k = 1000, all BLAS threads.

After a threaded GEMM, OpenBLAS's idle threads keep spinning for about 2^28 cycles
(~0.1 s) before they sleep, and on a 2-core machine such a thread takes a core from
whatever is timed next. Measured here: one sparse cell over all proteins took 24-26 ms,
but 41-92 ms when started right after a GEMM, 41-70 ms after 0.05 s, and 23-26 ms
after 0.1 s. :func:`gemm_rate` therefore waits :data:`SETTLE_S` before it returns, so a
timing taken right after it measures the kernel, not the BLAS threads' spin.
"""
from __future__ import annotations

import time

import numpy as np

P, N = 1170, 7919
SETTLE_S = 0.25


def settle() -> None:
    """Wait until the BLAS threads of a threaded call have gone to sleep."""
    time.sleep(SETTLE_S)


def gemm(k: int = 1000):
    """A callable that times one (P x N) @ (N x k) float64 GEMM and returns its GFLOP/s.

    The operands are made (and the GEMM run once) here; each call settles before it
    returns.
    """
    rng = np.random.default_rng(0)
    A = rng.standard_normal((P, N))
    B = rng.standard_normal((N, k))
    A @ B

    def rate() -> float:
        t = time.perf_counter()
        A @ B
        out = 2 * P * N * k / (time.perf_counter() - t) / 1e9
        settle()
        return out
    return rate


def gemm_rate(k: int = 1000, repeat: int = 3) -> float:
    """GFLOP/s of the roofline GEMM, best of ``repeat``, measured now (and settled)."""
    rate = gemm(k)
    return max(rate() for _ in range(repeat))
