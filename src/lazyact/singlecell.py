"""Single-cell and spatial pipelines: SecActPy's ``*_scrnaseq`` and ``*_st``, lazily.

``preprocess="scrnaseq"`` (``secact_activity_inference_scrnaseq`` with
``is_single_cell_level=True``) and ``"spatial"`` (``secact_activity_inference_st``
at spot level) both do, in this order (facts: ``tests/goldens/NOTES.md``):

1. take ``raw/X`` when present (scRNA-seq; spatial uses ``X``), gene names
   from a symbol column when the names are Ensembl IDs;
2. upper-case gene names and cut them at the first ``"."``; spatial first
   drops genes with no counts;
3. de-duplicate: keep the row with the highest mean (scRNA-seq) / sum
   (spatial) over all cells, first on ties, rows in original order;
4. per cell, ``log2(x / total * 1e5 + 1)`` with ``total`` the cell's count
   over the kept genes;
5. subtract each gene's mean over all cells;
6. then the bulk pipeline on the result: overlap, column z-score, ridge.

Here steps 3-5 are streaming passes that keep one number per gene and per
cell; the normalisation of step 4-6 is applied one block of cells at a time
(dense blocks) or in flight as rank-1 corrections (sparse blocks).

``preprocess="pseudobulk"`` sums counts per group (``groupby``: an obs
column or one label per cell; groups sorted case-insensitively), scales to
counts per million, ``log2(x + 1)``, subtracts each gene's mean over groups,
then runs the bulk pipeline.  Already-normalised input (SecActPy's check:
max < 20 and non-integer values in the first 1000 genes x 100 cells) is
averaged instead, without scaling or log.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .preprocess import PreparedExpression, pass_block, row_sums
from .sources import as_source, check_orientation, dedup_rows
from .sources.base import select_rows

__all__ = ["single_cell_activity", "clean_gene_name"]

SCALE = {"scrnaseq": 1e5, "spatial": 1e5}


def clean_gene_name(name: Any) -> str:
    """SecActPy's single-cell gene clean-up: upper-case, cut at the first ``"."``.

    >>> clean_gene_name("Actb.2"), clean_gene_name("ENSG0001.5")
    ('ACTB', 'ENSG0001')
    """
    return str(name).upper().split(".", 1)[0]


def _log_row_means(src, kept: np.ndarray, shared: np.ndarray, scale: float,
                   scale_dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """One pass: each cell's total over ``kept`` genes, and the mean over cells of
    ``log2(x / total * scale + 1)`` for ``shared`` (positions within ``kept``)."""
    probe = PreparedExpression(src, kept[shared], log_scale=scale, totals=np.ones(src.n_samples),
                               scale_dtype=scale_dtype, zscore=False)
    totals = np.empty(src.n_samples)
    sums = np.zeros(shared.size)
    for sl, blk in src.iter_columns(pass_block(src), rows=kept):
        tot = np.asarray(blk.sum(axis=0)).ravel()
        totals[sl] = tot
        probe.totals[sl] = tot
        cols = np.arange(sl.start, sl.stop)
        if sp.issparse(blk):
            sub = select_rows(blk.tocsc(), shared)
            with np.errstate(divide="ignore", invalid="ignore"):
                sub.data = np.log2(sub.data * np.repeat(probe.cell_scales(cols), np.diff(sub.indptr)) + 1.0)
            sub.data[~np.isfinite(sub.data)] = 0.0
            sums += np.asarray(sub.sum(axis=1)).ravel()
        else:
            sums += probe.transform(np.asarray(blk[shared]), cols).sum(axis=1)
    return totals, sums / src.n_samples


def _looks_normalised(src, kept: np.ndarray) -> bool:
    """SecActPy's check on the first 1000 genes x 100 cells: max < 20 and non-integer values."""
    cols = np.arange(min(100, src.n_samples))
    blk = src.columns(cols, rows=kept[:1000])
    vals = blk.toarray() if hasattr(blk, "toarray") else np.asarray(blk)
    nz = vals[vals != 0]
    is_integer = nz.size > 0 and np.allclose(nz, np.round(nz))
    return bool(vals.max(initial=0.0) < 20 and not is_integer)


def _group_labels(src, groupby, expression=None) -> np.ndarray:
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


def _pseudobulk(src, kept: np.ndarray, names: pd.Index, groupby, expression=None) -> pd.DataFrame:
    labels = _group_labels(src, groupby, expression)
    groups = sorted({str(x) for x in labels}, key=str.lower)
    code = pd.Index(groups).get_indexer([str(x) for x in labels])
    normalised = _looks_normalised(src, kept)
    sums = np.zeros((kept.size, len(groups)))
    counts = np.bincount(code, minlength=len(groups)).astype(np.float64)
    for sl, blk in src.iter_columns(pass_block(src), rows=kept):
        onehot = np.zeros((sl.stop - sl.start, len(groups)))
        onehot[np.arange(onehot.shape[0]), code[sl]] = 1.0
        sums += np.asarray(blk @ onehot)
    if normalised:
        expr = sums / counts
    else:
        expr = np.log2(sums / sums.sum(axis=0) * 1e6 + 1.0)
    expr = expr - expr.mean(axis=1, keepdims=True)
    return pd.DataFrame(expr, index=names, columns=pd.Index(groups, dtype=object))


def single_cell_activity(*, expression, signature, lambda_, n_rand, seed, rng, preprocess, group, gene_order,
                         groupby, backend, genes, samples, layer, gene_column, table, chunks, cache_bytes,
                         threads, kernel, sparse_mode=False, null="permutation", dtype=None, **_):
    """Implementation of :func:`lazyact.activity` for the single-cell modes (see the module doc)."""
    from .pipeline import _default_group, _signature, activity, build_model

    annotated = hasattr(expression, "obs") or (isinstance(expression, (str, os.PathLike))
                                               and str(expression).lower().endswith((".h5ad", ".h5")))
    if annotated:  # AnnData / .h5ad: SecActPy's choice of matrix and gene names
        if layer is None and preprocess == "spatial":
            layer = "X"  # the spatial path ignores raw/X; scRNA-seq takes raw/X when present
        if gene_column is None:
            gene_column = "auto"
    src = as_source(expression, genes=genes, samples=samples, layer=layer, gene_column=gene_column,
                    check_counts=True)
    sig, sig_name = _signature(signature)
    check_orientation(src, sig.index)
    cleaned = pd.Index([clean_gene_name(g) for g in src.genes], dtype=object)

    candidates = np.arange(src.n_genes)
    gene_sums = None
    if preprocess == "spatial":
        gene_sums = row_sums(src)
        candidates = np.flatnonzero(gene_sums > 0)
    sub_names = cleaned[candidates]
    if sub_names.has_duplicates:
        score = gene_sums[candidates] if gene_sums is not None else row_sums(src, candidates)
        keep = dedup_rows(list(sub_names), keep="max", score=score)
    else:
        keep = np.arange(candidates.size)
    kept = candidates[keep]
    kept_names = cleaned[kept]

    if preprocess == "pseudobulk":
        frame = _pseudobulk(src, kept, kept_names, groupby, expression)
        act = activity(frame, sig if isinstance(signature, pd.DataFrame) else signature, lambda_=lambda_,
                       n_rand=n_rand, seed=seed, rng=rng, preprocess="none", group=group, gene_order=gene_order,
                       backend=backend, table=table, chunks=chunks, cache_bytes=cache_bytes, threads=threads,
                       kernel=kernel, null=null, dtype=dtype)
        act.params["preprocess"] = "pseudobulk"
        act.params["groupby"] = groupby if isinstance(groupby, str) else "labels"
        return act

    scale_dtype = None
    if sparse_mode:  # SecActPy's sparse_mode arithmetic: signature gene order, scale factors in X's dtype
        gene_order = "signature" if gene_order == "expression" else gene_order
        if src.dtype == np.float32:
            scale_dtype = np.float32
    build = build_model(sig, sig_name, _default_group(signature) if group is None else group, kept_names,
                        gene_order, lambda_, n_rand, seed, rng, table, backend, null=null, dtype=dtype)
    shared = build.overlap.expression_rows  # positions within `kept`
    totals, row_means = _log_row_means(src, kept, shared, SCALE[preprocess], scale_dtype)
    expr = PreparedExpression(src, kept[shared], row_offsets=row_means, log_scale=SCALE[preprocess],
                              totals=totals, scale_dtype=scale_dtype)
    try:  # obsm["spatial"] of an .h5ad / AnnData, for the viewer
        spatial = getattr(src, "spatial", None)
        spatial = spatial() if callable(spatial) else spatial
    except (KeyError, ValueError, OSError):
        spatial = None
    return build.activity(expr, pd.Index(src.samples), {"preprocess": preprocess, "layer": getattr(src, "layer", None)},
                          source=src, spatial=spatial, chunks=chunks, cache_bytes=cache_bytes, threads=threads,
                          kernel=kernel)
