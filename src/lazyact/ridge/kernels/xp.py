"""The permutation kernel written against the array API (NumPy or CuPy).

The GPU backend runs this module with ``xp = cupy``; the CPU test-suite runs
it with ``xp = numpy`` so its logic is covered on machines without a GPU.
"""
from __future__ import annotations

from . import DEFAULT_BATCH_BYTES, plan_batches

__all__ = ["permutation_moments"]


def permutation_moments(xp, T_rows, Y, beta, fwd, inv, budget_bytes: int = DEFAULT_BATCH_BYTES,
                        method: str | None = None):
    """Same contract as :func:`lazyact.ridge.kernels.numpy.permutation_moments`,
    with every array (tables included) living in namespace ``xp``."""
    p, n = T_rows.shape
    m = Y.shape[1]
    n_rand = fwd.shape[0]
    plan = plan_batches(p, n, m, n_rand, budget_bytes, itemsize=T_rows.dtype.itemsize)
    use = method or plan.method
    B = plan.batch
    abs_beta = xp.abs(beta)
    count = xp.zeros((p, m), dtype=xp.int64)
    s1 = xp.zeros((p, m), dtype=xp.float64)
    s2 = xp.zeros((p, m), dtype=xp.float64)
    for start in range(0, n_rand, B):
        stop = min(n_rand, start + B)
        nb = stop - start
        if use == "yrow":
            idx = xp.reshape(fwd[start:stop].T.astype(xp.int64), (-1,))  # gene-major, (n * nb,)
            G = xp.take(Y, idx, axis=0)  # row g*nb + b is Y[perm_b[g]]
            R = xp.reshape(T_rows @ xp.reshape(G, (n, nb * m)), (p, nb, m))
        elif use == "tcol":
            idx = inv[start:stop].astype(xp.int64)
            G = xp.take(T_rows, xp.reshape(idx, (-1,)), axis=1)  # (p, nb*n)
            R = xp.reshape(xp.reshape(G, (p * nb, n)) @ Y, (p, nb, m))
        else:
            raise ValueError(f"unknown permutation method {use!r}: 'yrow' or 'tcol'")
        # accumulate in permutation order, as the reference does
        for b in range(nb):
            Rb = R[:, b, :]
            count += xp.abs(Rb) >= abs_beta  # in the compute precision
            Rb = Rb.astype(xp.float64)  # moments in float64 (float32 mode)
            s1 += Rb
            s2 += Rb * Rb
    return count, s1, s2
