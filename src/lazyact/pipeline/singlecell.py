"""Single-cell and spatial pipelines: SecActPy's ``*_scrnaseq`` and ``*_st``, lazily.

``preprocess="scrnaseq"`` (``secact_activity_inference_scrnaseq`` with
``is_single_cell_level=True``) and ``"spatial"`` (``secact_activity_inference_st``
at spot level) both do, in this order (facts: ``tests/goldens/NOTES.md``):

0. ``min_genes``: drop the cells/spots with fewer detected features, over all
   features of the matrix (:func:`filter_samples`, one streaming pass);
1. take ``raw/X`` when present (scRNA-seq; spatial uses ``X``), gene names
   from a symbol column when the names are Ensembl IDs;
2. upper-case gene names and cut them at the first ``"."``; spatial first
   drops genes with no counts;
3. de-duplicate: keep the row with the highest mean (scRNA-seq) / sum
   (spatial) over all cells, first on ties, rows in original order;
4. per cell, ``log2(x / total * scale_factor + 1)`` (default 1e5) with ``total`` the
   cell's count over the kept genes;
5. subtract each gene's mean over all cells;
6. then the bulk pipeline on the result: overlap, column z-score, ridge.

Here steps 2-3 are :func:`~lazyact.preprocess.genes.single_cell_genes`, step 4-5's
statistics one streaming pass (:func:`~lazyact.preprocess.passes.log_row_means`) that
keeps one number per gene and per cell; the normalisation of steps 4-6 is applied one
block of cells at a time (dense blocks) or in flight as rank-1 corrections (sparse
blocks) by :class:`~lazyact.preprocess.expression.PreparedExpression`.

``"spatial"`` with ``control=`` or ``groupby=`` (cell-type level) continues in
:mod:`lazyact.pipeline.spatial`; ``sig_filter`` applies to the cleaned gene names.

``preprocess="pseudobulk"`` sums counts per group (``groupby``: an obs column or one
label per cell; groups sorted case-insensitively), scales to counts per million,
``log2(x + 1)``, subtracts each gene's mean over groups
(:func:`~lazyact.preprocess.passes.pseudobulk`), then runs the bulk pipeline
(:func:`~lazyact.pipeline.bulk.run_bulk`) on the result. Already-normalised input
(SecActPy's check: max < 20 and non-integer values in the first 1000 genes x 100 cells)
is averaged instead, without scaling or log.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from ..activity import LazyActivity
from ..array.distributed import cluster_map
from ..preprocess import (
    PreparedExpression,
    check_orientation,
    check_valid,
    check_values,
    detected_genes,
    log_row_means,
    pass_block,
    pseudobulk,
    single_cell_genes,
    valid_samples,
)
from ..sources import ColumnSubset, ExpressionSource, as_source
from .build import ActivityOptions, build_model, resolve_signature
from .bulk import bulk_source, run_bulk
from .spatial import group_level_activity, restrict_to_control

__all__ = ["filter_samples", "group_labels", "single_cell_activity"]

log = logging.getLogger(__name__)


def group_labels(src: ExpressionSource, groupby: Any, expression: Any = None) -> np.ndarray:
    """One pseudo-bulk group label per sample: an obs column of the input, or the labels given."""
    if groupby is None:
        raise ValueError("preprocess='pseudobulk' needs groupby=: an obs column name or one label per cell")
    obs = getattr(expression, "obs", None)
    if isinstance(groupby, str) and isinstance(obs, pd.DataFrame) and not hasattr(src, "obs_column"):
        if groupby not in obs.columns:
            raise ValueError(f"obs has no column {groupby!r}; available: {list(obs.columns)}")
        return np.asarray(obs[groupby], dtype=object)
    if isinstance(groupby, str):
        if not hasattr(src, "obs_column"):
            raise ValueError(f"groupby={groupby!r} names an obs column, but this input has no obs; "
                             "pass one label per sample instead")
        try:
            labels = src.obs_column(groupby)
        except KeyError:
            keys = src.obs_keys() if hasattr(src, "obs_keys") else []
            raise ValueError(f"obs has no column {groupby!r}; available: {keys}") from None
        return np.asarray(labels, dtype=object)
    labels = np.asarray(groupby, dtype=object)
    if labels.shape != (src.n_samples,):
        raise ValueError(f"groupby has {labels.size} labels for {src.n_samples} samples")
    return labels


def _counts_source(expression: Any, options: ActivityOptions) -> ExpressionSource:
    """The counts as a source, with SecActPy's choice of matrix and gene names for AnnData / .h5ad."""
    layer, gene_column = options.layer, options.gene_column
    annotated = hasattr(expression, "obs") or (isinstance(expression, (str, os.PathLike)) and str(
        expression).lower().rstrip("/").endswith((".h5ad", ".h5", ".zarr")))
    if annotated:
        if layer is None and options.preprocess == "spatial":
            layer = "X"  # the spatial path ignores raw/X; scRNA-seq takes raw/X when present
        if gene_column is None:
            gene_column = "auto"
    return as_source(expression, genes=options.genes, samples=options.samples, layer=layer,
                     gene_column=gene_column, check_counts=True)


def filter_samples(src: ExpressionSource, min_genes: int) -> tuple[ExpressionSource, np.ndarray | None]:
    """``min_genes``: the samples with at least ``min_genes`` detected features (one streaming pass).

    Returns the source (a :class:`~lazyact.sources.ColumnSubset` when samples are dropped)
    and the kept positions (None when all are kept).
    """
    detected = detected_genes(src)
    keep = detected >= min_genes
    if keep.all():
        return src, None
    if not keep.any():
        raise ValueError(f"min_genes={min_genes} removes every one of the {src.n_samples} samples (the most detected "
                         f"genes in a sample is {int(detected.max(initial=0))}); lower min_genes")
    cols = np.flatnonzero(keep)
    return ColumnSubset(src, cols), cols


def single_cell_activity(expression: Any, options: ActivityOptions) -> LazyActivity:
    """:func:`lazyact.activity` for the single-cell modes (see the module doc)."""
    src = _counts_source(expression, options)
    log.info("input: %s, %d genes x %d cells; matrix %r%s", src.describe(), src.shape[0], src.shape[1],
             getattr(src, "layer", None), " (raw/X, as SecActPy; layer='X' uses X)"
             if getattr(src, "layer", None) == "raw" and options.layer is None else "")
    labels = None
    if options.preprocess == "pseudobulk" or options.groupby is not None:
        labels = group_labels(src, options.groupby, expression)
    if options.min_genes:  # before anything else, over all features (SecActPy's ST order)
        src, cols = filter_samples(src, options.min_genes)
        if cols is not None and labels is not None:
            labels = labels[cols]
    sig, sig_name = resolve_signature(options.signature)
    check_orientation(src, sig.index)
    kept, kept_names = single_cell_genes(src, drop_empty=options.preprocess == "spatial")
    if options.check_input:  # log-normalised values are not counts (SecActPy's test, first kept genes and cells)
        check_values(src, options.preprocess, kept, block=pass_block(src))

    if options.preprocess == "pseudobulk":
        frame = pseudobulk(src, kept, kept_names, labels)
        valid = check_valid(frame.notna().all(axis=0).to_numpy(), frame.columns, "groups",
                            "no counts in any of their cells")
        groupby = options.groupby if isinstance(options.groupby, str) else "labels"
        log.info("preprocess='pseudobulk': counts summed over the %d groups of %s, CPM, log2(x + 1), centred",
                 frame.shape[1], groupby)
        bulk = options.as_bulk()
        return run_bulk(bulk_source(frame.fillna(0.0), bulk), sig, sig_name, bulk,
                        params={"preprocess": "pseudobulk", **options.option_params(), "groupby": groupby},
                        valid=valid)

    control = None
    if options.control is not None:  # spatial only (checked by ActivityOptions)
        control = restrict_to_control(_counts_source(options.control, options.replace(genes=None, samples=None)),
                                      kept_names, options)
    if labels is not None:  # spatial at cell-type level
        return group_level_activity(src, kept, kept_names, labels, control, sig, sig_name, options)

    scale_dtype = None
    gene_order = options.gene_order
    if options.sparse_mode and control is None:  # SecActPy's sparse_mode arithmetic: signature gene order,
        gene_order = "signature" if gene_order == "expression" else gene_order  # scale factors in X's dtype
        if src.dtype == np.float32:
            scale_dtype = np.float32
    names = kept_names if control is None else control.names
    build = build_model(sig, sig_name, names, options.replace(gene_order=gene_order))
    shared = build.overlap.expression_rows  # positions within `names`
    if control is not None:
        offsets = control.means[shared]
        shared = control.positions[shared]  # positions within `kept`
    # one distributed reduction when a dask client is active and the source pickles by reference (a file)
    passes_map = cluster_map() if getattr(src, "path", None) is not None else None
    if control is not None:
        totals, _ = log_row_means(src, kept, np.empty(0, np.intp), options.scale, map=passes_map)
    else:
        totals, offsets = log_row_means(src, kept, shared, options.scale, scale_dtype, map=passes_map)
    log.info("preprocess=%r: per cell log2(x / total * %g + 1) over %d kept genes, %s, then each cell z-scored "
             "over the %d shared genes", options.preprocess, options.scale, kept.size,
             "gene means over all cells subtracted" if control is None else "the control's gene means subtracted",
             shared.size)
    valid = check_valid(valid_samples(totals), src.samples, "cells" if options.preprocess == "scrnaseq" else "spots",
                        "no counts over the kept genes (library size 0)")
    expr = PreparedExpression(src, kept[shared], row_offsets=offsets, log_scale=options.scale, totals=totals,
                              scale_dtype=scale_dtype, valid=valid)
    try:  # obsm["spatial"] of an .h5ad / AnnData, a Visium folder's positions, for the viewer
        spatial = getattr(src, "spatial", None)
        spatial = spatial() if callable(spatial) else spatial
    except (KeyError, ValueError, OSError):
        spatial = None
    params = {"preprocess": options.preprocess, "layer": getattr(src, "layer", None), **options.option_params()}
    return build.activity(expr, pd.Index(src.samples), params, source=src, spatial=spatial, **options.array_options())
