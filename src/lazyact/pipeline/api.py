"""``lazyact.activity``: SecActPy's activity-inference pipelines, lazily.

Reproduces ``secact_activity_inference`` (bulk: ``preprocess="none"`` /
``"center"``, :mod:`lazyact.pipeline.bulk`) and the single-cell / spatial pipelines
(``"scrnaseq"``, ``"spatial"``, ``"pseudobulk"``, :mod:`lazyact.pipeline.singlecell`),
returning a :class:`~lazyact.LazyActivity` instead of four dense result matrices.
Nothing proportional to the number of samples is held in memory except small
per-sample vectors.

:func:`activity` only collects its options into an
:class:`~lazyact.pipeline.build.ActivityOptions` (which validates them) and dispatches.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from ..activity import LazyActivity
from ..ridge import DEFAULT_LAMBDA
from .build import SINGLE_CELL_MODES, ActivityOptions
from .bulk import bulk_activity
from .singlecell import single_cell_activity

__all__ = ["activity"]

log = logging.getLogger(__name__)


def activity(expression, signature: Any = "SecAct", *, lambda_: float = DEFAULT_LAMBDA, n_rand: int = 1000,
             seed: int = 0, rng: str = "srand", preprocess: str = "none", group: bool | float | None = None,
             gene_order: str = "expression", groupby=None, backend: str = "auto", genes=None, samples=None,
             layer: str | None = None, gene_column: str | None = None, table=None, chunks=None,
             cache_bytes: int | None = None, threads: int | None = None, kernel: str = "auto",
             sparse_mode: bool = False, null: str = "permutation", dtype=None) -> LazyActivity:
    """Secreted-protein activity of an expression profile, computed lazily.

    Parameters
    ----------
    expression
        genes x samples data: NumPy array (with ``genes=``), pandas DataFrame,
        scipy sparse matrix, ``h5py.Dataset``, a text table path, an ``.h5ad``
        path or an AnnData (cells x genes, handled explicitly).
    signature : str, path or DataFrame, default "SecAct"
        ``"SecAct"``, ``"CytoSig"``, a file path or a genes x proteins DataFrame.
    lambda_, n_rand, seed, rng
        Ridge penalty and permutation test (SecActPy defaults).
    preprocess : {"none", "center", "scrnaseq", "spatial", "pseudobulk"}
        ``"none"``: the input is already differential.  ``"center"``: subtract
        each gene's mean over samples (not for a single sample).  The
        single-cell modes are described in the user guide.
    group : bool, float or None
        Signature grouping: ``None`` = SecActPy's default (on, except for
        CytoSig), ``False`` = off, a float = correlation threshold (0.9 when
        True).
    gene_order : {"expression", "signature", "sorted"}
        Order of the shared genes (affects only rounding).
    backend : {"auto", "numpy", "cupy"}
    genes, samples : names for inputs that carry none.
    layer, gene_column : which matrix / gene-name column of an AnnData or .h5ad.
    table : an explicit inverse permutation table (overrides seed/rng).
    chunks, cache_bytes, threads : block shape, cache bound and threads.
    null : {"permutation", "analytic"}, default "permutation"
        ``"analytic"``: the exact all-permutation null moments, one GEMM per
        block and normal p-values (``n_rand``, ``seed``, ``rng`` unused,
        ``table`` must be None); see ``docs/nulls.md``.
    kernel : {"auto", "dense", "sparse"}
        Sparse expression stays sparse (``"auto"``); ``"dense"`` densifies one
        block of columns at a time (exact to the dense path's rounding).
    sparse_mode : bool, default False
        Single-cell modes: reproduce the arithmetic of SecActPy's
        ``sparse_mode=True`` (shared genes in signature order; for float32
        counts the per-cell scale factors rounded to float32, which moves z by
        ~1e-8) instead of its dense path (the default, exact in float64).
    dtype : {None, "float64", "float32"}
        Precision of the dense permutation kernel (default float64, exact).
        ``"float32"`` is about twice as fast and *not* exact (see the user
        guide, "Single precision"); the sparse kernel always uses float64.

    Returns
    -------
    LazyActivity

    Examples
    --------
    >>> import numpy as np, pandas as pd, lazyact
    >>> sig = lazyact.load_signature("CytoSig")
    >>> rng = np.random.default_rng(0)
    >>> expr = pd.DataFrame(rng.standard_normal((sig.shape[0], 3)), index=sig.index)
    >>> act = lazyact.activity(expr, "CytoSig", n_rand=50)
    >>> act.zscore.loc["IL6", :].shape
    (3,)
    """
    options = ActivityOptions(
        signature=signature, lambda_=lambda_, n_rand=n_rand, seed=seed, rng=rng, preprocess=preprocess, group=group,
        gene_order=gene_order, groupby=groupby, backend=backend, genes=genes, samples=samples, layer=layer,
        gene_column=gene_column, table=table, chunks=chunks, cache_bytes=cache_bytes, threads=threads, kernel=kernel,
        sparse_mode=sparse_mode, null=null, dtype=dtype,
    )
    if options.preprocess in SINGLE_CELL_MODES:
        act = single_cell_activity(expression, options)
    else:
        act = bulk_activity(expression, options)
    path = input_path(expression)
    if path is not None and isinstance(act, LazyActivity):
        act.params["input"] = path
    log.debug("%r", act)
    return act


def input_path(expression: Any) -> str | None:
    """The file an input was read from (a path, a backed AnnData), as an absolute path, or None."""
    if isinstance(expression, (str, os.PathLike)):
        return os.path.abspath(os.fspath(expression))
    filename = getattr(expression, "filename", None) if getattr(expression, "isbacked", False) else None
    return os.path.abspath(os.fspath(filename)) if filename else None
