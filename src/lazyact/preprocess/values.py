"""What an expression's values look like, judged from a small bounded sample: counts, log-normalised or other.

SecActPy judges its input from the first 1000 genes x 100 cells (``inference.py:1549-1567``,
``1630-1639``): "already normalised" when the maximum is below 20 and the non-zero values
are not all integers. lazyact reads the same sample once (:func:`sample_values`, never a full
pass) and uses it twice:

* :func:`~lazyact.preprocess.passes.looks_normalised` -- SecActPy's rule, which picks
  pseudo-bulk's averaging path;
* :func:`check_values` -- refuse inputs whose values contradict the preprocessing asked for:
  raw counts read as differential profiles (``"none"``) or as log expression (``"center"``),
  and log-normalised values normalised again as counts (``"scrnaseq"``, ``"spatial"``).
  The error names the fix; ``check_input=False`` (CLI ``--no-check-input``) skips it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SAMPLE_GENES", "SAMPLE_SAMPLES", "InputCheckError", "ValueSample", "check_values", "sample_values"]

#: Genes and samples of the bounded sample (SecActPy's 1000 genes x 100 cells).
SAMPLE_GENES, SAMPLE_SAMPLES = 1000, 100

_COUNT_MODES = ("scrnaseq", "spatial")
_DIFFERENTIAL_MODES = ("none", "center")


class InputCheckError(ValueError):
    """The values contradict the preprocessing asked for (see :func:`check_values`)."""


@dataclass(frozen=True)
class ValueSample:
    """Facts about the first genes x samples of an expression.

    Attributes
    ----------
    n_genes, n_samples : int
        Size of the sample read.
    n_nonzero : int
        Its non-zero values.
    max, min : float
        Its largest and smallest value (0 when empty).
    integer : bool
        The non-zero values are all integers (``np.allclose`` to their rounding, as
        SecActPy tests it); False when there is none.
    """

    n_genes: int
    n_samples: int
    n_nonzero: int
    max: float
    min: float
    integer: bool

    @property
    def counts(self) -> bool:
        """Looks like raw counts: non-negative integers, some of them non-zero."""
        return self.integer and self.min >= 0

    @property
    def normalised(self) -> bool:
        """SecActPy's "already normalised": maximum below 20 and not all integers."""
        return self.max < 20 and not self.integer

    def describe(self) -> str:
        kind = "integers" if self.integer else "non-integer values"
        return (f"{kind} from {self.min:.4g} to {self.max:.4g} in the first {self.n_genes} genes x "
                f"{self.n_samples} samples")


def sample_values(source: Any, rows: np.ndarray | None = None, block: int | None = None) -> ValueSample | None:
    """Read the first :data:`SAMPLE_GENES` of ``rows`` (default all genes) x :data:`SAMPLE_SAMPLES` samples.

    One bounded read (at most 100,000 values), whatever the size of the source, ``block``
    samples at a time (the pipelines pass their statistics passes' block,
    :func:`~lazyact.preprocess.passes.pass_block`). None when the sample holds values the
    source refuses (NaN/inf): the source's own error names the bad sample when it is computed.

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> s = sample_values(as_source(np.array([[0.0, 3.0], [7.0, 1.0]])))
    >>> s.counts, s.normalised, s.max
    (True, False, 7.0)
    """
    rows = np.arange(source.n_genes) if rows is None else np.asarray(rows)
    rows = rows[:SAMPLE_GENES]
    n_cols = min(SAMPLE_SAMPLES, source.n_samples)
    block = max(n_cols, 1) if block is None else min(int(block), max(n_cols, 1))
    parts = []
    try:
        for _, blk in source.iter_columns(block, rows=rows, stop=n_cols):
            parts.append(blk.toarray() if hasattr(blk, "toarray") else np.asarray(blk))
    except ValueError:  # non-finite values: reported by the source where they are used
        return None
    vals = np.hstack(parts) if parts else np.zeros((rows.size, 0))
    nz = vals[vals != 0]
    integer = bool(nz.size > 0 and np.allclose(nz, np.round(nz)))
    return ValueSample(n_genes=int(rows.size), n_samples=int(n_cols), n_nonzero=int(nz.size),
                       max=float(vals.max(initial=0.0)), min=float(vals.min(initial=0.0)), integer=integer)


def check_values(source: Any, preprocess: str, rows: np.ndarray | None = None, *, control: bool = False,
                 block: int | None = None) -> ValueSample | None:
    """Refuse values that contradict ``preprocess``, with a message that names the fix.

    * ``"none"`` / ``"center"`` with values that look like raw counts (non-negative
      integers): counts are not log fold changes, nor log expression;
    * ``"scrnaseq"`` / ``"spatial"`` with values that look log-normalised (SecActPy's
      rule: maximum below 20, non-integer): they would be normalised a second time.

    ``"pseudobulk"`` accepts both (SecActPy averages already-normalised values per group):
    nothing is read and None is returned. The judgement uses :func:`sample_values` only
    (bounded; ``rows``: the genes to sample, e.g. the genes shared with the signature;
    ``block``: samples per read; ``control``: the values are compared with a control
    profile, ``control=``). A user who knows better passes
    ``check_input=False`` to :func:`lazyact.activity` (CLI ``--no-check-input``).

    Raises
    ------
    InputCheckError
        A ``ValueError`` whose message says what the values look like and what to pass.

    Examples
    --------
    >>> from lazyact.sources import as_source
    >>> check_values(as_source(np.array([[0.0, 3.0], [7.0, 1.0]])), "none")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lazyact.preprocess.values.InputCheckError: ...the values look like raw counts (integers from 0 to 7 ...
    """
    if preprocess not in _DIFFERENTIAL_MODES + _COUNT_MODES:
        return None
    sample = sample_values(source, rows, block)
    if sample is None or sample.n_nonzero == 0:  # nothing to judge from
        return sample
    what = source.describe() if hasattr(source, "describe") else "the expression"
    skip = ("If they really are {}, pass check_input=False (CLI: --no-check-input) to skip this check, "
            "which reads only the first 1000 genes x 100 samples.")
    if preprocess in _DIFFERENTIAL_MODES and sample.counts:
        if control:
            reads = "log expression and subtracts the control's from them"
        elif preprocess == "none":
            reads = "differential profiles (log fold changes), used as they are"
        else:
            reads = "log expression, only centred per gene"
        raise InputCheckError(
            f"{what}: the values look like raw counts ({sample.describe()}), but preprocess={preprocess!r} "
            f"reads them as {reads}: the activities would be meaningless. For single cells pass "
            "preprocess='scrnaseq' (CLI: --preprocess scrnaseq), for spots preprocess='spatial', for groups of "
            "cells preprocess='pseudobulk' with groupby=; for bulk RNA-seq counts log-normalise first, e.g. "
            "expr = np.log2(expr / expr.sum(axis=0) * 1e6 + 1), and pass preprocess='center'. "
            + skip.format("differential profiles" if preprocess == "none" and not control else "log expression values")
        )
    if preprocess in _COUNT_MODES and sample.normalised:
        raise InputCheckError(
            f"{what}: the values look log-normalised ({sample.describe()}; SecActPy's test: maximum below 20 "
            f"and not integers), but preprocess={preprocess!r} expects raw counts and would normalise them a "
            "second time. Pass the raw counts: for an AnnData whose counts are in a layer, layer='counts' (CLI: "
            "--layer counts; raw/X is used by default when present). Or, to use these log-normalised values "
            "as they are, pass preprocess='center' (CLI: --preprocess center), which centres each gene over the "
            "cells. " + skip.format("counts (e.g. non-integer corrected counts)")
        )
    return sample
