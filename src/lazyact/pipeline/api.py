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
             gene_order: str = "expression", groupby=None, control=None, paired: bool = False,
             single_sample: bool = False, sig_filter: bool = False, scale_factor: float | None = None,
             min_genes: int = 0, backend: str = "auto", genes=None, samples=None,
             layer: str | None = None, gene_column: str | None = None, table=None, chunks=None,
             cache_bytes: int | None = None, threads: int | None = None, kernel: str = "auto",
             sparse_mode: bool = False, null: str = "permutation", dtype=None,
             check_input: bool = True) -> LazyActivity:
    """Secreted-protein activity of an expression profile, computed lazily.

    Parameters
    ----------
    expression
        genes x samples data: NumPy array (with ``genes=``), pandas DataFrame,
        scipy sparse matrix, ``h5py.Dataset``, a text table path, an ``.h5ad``
        path or an AnnData (cells x genes, handled explicitly), or a Space Ranger
        (Visium) output folder (in-tissue spots; positions become ``act.spatial``).
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
    groupby : str or array-like, optional
        ``"pseudobulk"``: the groups whose counts are summed. ``"spatial"``: cell-type
        level (SecActPy's ``cell_type_col`` with ``is_spot_level=False``): the mean of the
        spots' log values per group (groups ``sorted(set(labels))``, case-sensitive),
        then centred over the groups (or by the control). An obs column name or one
        label per cell.
    control : optional
        A control profile (SecActPy's ``input_profile_control`` / ``input_control``).
        ``preprocess="none"``: genes x samples expression (path, DataFrame, ...);
        ``Y - rowMeans(control)``, collapsed to one column ``"Change"`` (the row means)
        unless ``single_sample``. ``preprocess="spatial"``: control counts (a Visium
        folder, a genes x spots DataFrame, .h5ad / AnnData); its mean log profile is
        subtracted from every spot (or group) instead of the spots' means.
    paired : bool, default False
        With ``control``: subtract the control sample of the same name (samples named
        in both), instead of the control's mean.
    single_sample : bool, default False
        With ``control``: one result per sample instead of the collapsed ``"Change"``.
    sig_filter : bool, default False
        Keep only the proteins whose name is one of the expression's gene names
        (before grouping; SecActPy's ``sig_filter``).
    scale_factor : float, optional
        ``"scrnaseq"`` / ``"spatial"``: library size of ``log2(x / total * scale_factor + 1)``
        (default 1e5).
    min_genes : int, default 0
        Count modes: drop the cells/spots with fewer than ``min_genes`` detected genes
        (values > 0, over all features) before anything else.
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
    check_input : bool, default True
        Refuse values that contradict ``preprocess``, judged from the first 1000
        genes x 100 samples only: raw counts with ``"none"``/``"center"``,
        log-normalised values with ``"scrnaseq"``/``"spatial"``; the error names
        the fix (:func:`lazyact.preprocess.check_values`). ``False`` skips the check.

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
    >>> ctrl = pd.DataFrame(rng.standard_normal((sig.shape[0], 2)), index=sig.index)
    >>> lazyact.activity(expr, "CytoSig", control=ctrl, n_rand=50).samples.tolist()
    ['Change']
    """
    options = ActivityOptions(
        signature=signature, lambda_=lambda_, n_rand=n_rand, seed=seed, rng=rng, preprocess=preprocess, group=group,
        gene_order=gene_order, groupby=groupby, control=control, paired=paired, single_sample=single_sample,
        sig_filter=sig_filter, scale_factor=scale_factor, min_genes=min_genes, backend=backend, genes=genes, samples=samples, layer=layer,
        gene_column=gene_column, table=table, chunks=chunks, cache_bytes=cache_bytes, threads=threads, kernel=kernel,
        sparse_mode=sparse_mode, null=null, dtype=dtype, check_input=check_input,
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
