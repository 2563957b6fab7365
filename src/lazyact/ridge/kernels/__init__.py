"""Compute kernels of the permutation test: the same accumulation on each backend.

Every kernel computes, for a block of projection rows ``T_rows`` (p x n) and
expression columns ``Y`` (n x m), the observed ``beta = T_rows @ Y`` and the
three accumulators of SecAct's permutation test over permutations
``i = 0 .. n_rand-1`` in order::

    beta_i = T_rows @ Y[perm_i]          (== T_rows[:, inv_i] @ Y)
    count += |beta_i| >= |beta|
    s1    += beta_i
    s2    += beta_i ** 2

The two forms of ``beta_i`` add the same ``n`` products in different orders
(over the genes of T for ``T @ Y[perm_i]``, over the genes of Y for
``T[:, inv_i] @ Y``), so they differ in the last bits.  Which one a model uses
is its *summation order*, fixed by :func:`summation_order` from the model's
size alone, never from the block asked for: a value does not depend on how
it was requested.  ``numpy`` runs many permutations per GEMM (see
:mod:`.fixed` for how every product keeps one order of operations); ``xp`` is
the same algorithm written against the array API (NumPy or CuPy).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BatchPlan", "plan_batches", "summation_order", "DEFAULT_BATCH_BYTES", "YROW_MIN_PROTEINS"]

DEFAULT_BATCH_BYTES = 96 * 2**20

#: Models with at least this many projection rows sum over the genes of T ("yrow"):
#: all-protein blocks then gather only Y and a single sample costs one GEMM.  Smaller
#: models sum over the genes of Y ("tcol"): gathering T is then cheap and one protein
#: over many samples costs one GEMM.
YROW_MIN_PROTEINS = 128


def summation_order(n_proteins: int) -> str:
    """The summation order of a model with ``n_proteins`` projection rows.

    >>> summation_order(1170), summation_order(43)
    ('yrow', 'tcol')
    """
    return "yrow" if n_proteins >= YROW_MIN_PROTEINS else "tcol"


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
                 itemsize: int = 8, method: str | None = None) -> BatchPlan:
    """The batch size of a summation order (by default the order of a ``p``-row model).

    The batch holds the gathered operand (``n * m`` elements of Y per
    permutation for "yrow", ``p * n`` of T for "tcol") and the GEMM result
    within the budget.  The batch size changes no bits: permutations are
    accumulated one by one in order.

    >>> plan_batches(p=1170, n=7919, m=1, n_rand=1000)
    BatchPlan(method='yrow', batch=1000)
    >>> plan_batches(p=1, n=7919, m=5000, n_rand=1000).method
    'tcol'
    """
    method = method or summation_order(p)
    if method not in ("yrow", "tcol"):
        raise ValueError(f"unknown permutation method {method!r}: 'yrow' or 'tcol'")
    gathered = n * m if method == "yrow" else p * n
    per_perm = (gathered + p * m) * itemsize
    batch = int(max(1, min(n_rand, budget_bytes // max(per_perm, 1))))
    return BatchPlan(method, batch)
