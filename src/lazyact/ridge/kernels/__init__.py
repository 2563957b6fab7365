"""Compute kernels of the permutation test: the same accumulation on each backend.

Every kernel computes, for a block of projection rows ``T_rows`` (p x n) and
expression columns ``Y`` (n x m), the three accumulators of SecAct's
permutation test over permutations ``i = 0 .. n_rand-1`` in order::

    beta_i = T_rows @ Y[perm_i]          (== T_rows[:, inv_i] @ Y)
    count += |beta_i| >= |beta|
    s1    += beta_i
    s2    += beta_i ** 2

``numpy`` runs many permutations per GEMM with numba-fused accumulation;
``xp`` is the same algorithm written against the array API (NumPy or CuPy).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BatchPlan", "plan_batches", "DEFAULT_BATCH_BYTES"]

DEFAULT_BATCH_BYTES = 96 * 2**20


@dataclass(frozen=True)
class BatchPlan:
    """How to batch permutations into GEMMs.

    ``method`` is ``"yrow"`` (gather permuted rows of Y, one wide GEMM
    ``T @ [Y[perm_1] .. Y[perm_B]]``) or ``"tcol"`` (gather permuted columns of
    T, one tall GEMM ``[T[:, inv_1]; ..; T[:, inv_B]] @ Y``); ``batch`` is the
    number of permutations per GEMM.
    """

    method: str
    batch: int


def plan_batches(p: int, n: int, m: int, n_rand: int, budget_bytes: int = DEFAULT_BATCH_BYTES,
                 itemsize: int = 8) -> BatchPlan:
    """Choose the permutation side by cost and the batch size by memory.

    Both sides do the same GEMM FLOPs; they differ in what is gathered per
    permutation: ``n * m`` elements of Y (Y-row) or ``p * n`` elements of T
    (T-column).  The cheaper gather wins (Y-row on ties, as SecActPy).  The
    batch holds the gathered operand and the GEMM result within the budget.

    >>> plan_batches(p=1170, n=7919, m=1, n_rand=1000)
    BatchPlan(method='yrow', batch=1000)
    >>> plan_batches(p=1, n=7919, m=5000, n_rand=1000).method
    'tcol'
    """
    method = "yrow" if m <= p else "tcol"
    gathered = n * m if method == "yrow" else p * n
    per_perm = (gathered + p * m) * itemsize
    batch = int(max(1, min(n_rand, budget_bytes // max(per_perm, 1))))
    return BatchPlan(method, batch)
