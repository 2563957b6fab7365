"""The bulk pipeline with a control profile: SecActPy's ``input_profile_control``, lazily.

``activity(Y, control=C)`` (``preprocess="none"``) follows ``secact_activity_inference(Y, C)``
with ``is_differential=False`` (``secactpy/inference.py:1136-1175``; NOTES.md section 12):

1. the control is read like the expression (a text table keeps the first row of a
   duplicated gene, as does a DataFrame here);
2. the genes of ``Y - C``: the treatment's order when both gene lists are identical, else
   their sorted union (:func:`~lazyact.preprocess.control.control_gene_axis`);
3. ``paired=False``: every treatment column minus the control's row means; ``paired=True``:
   each treatment column minus the control column of the same name (shared names only,
   in the treatment's order);
4. unless ``single_sample``: one column ``"Change"``, each gene's mean of the differences
   (from one streaming pass: the activity of that column is computed lazily like any
   other); with ``single_sample`` the columns keep their names (a single one too);
5. ``sig_filter`` on the genes of ``Y - C``, grouping, overlap in that gene order, column
   z-score over the genes present on both sides (a gene missing on one side enters as 0).
"""
from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from ..activity import LazyActivity
from ..preprocess import (
    ControlAxis,
    DenseExpression,
    DifferenceExpression,
    check_orientation,
    control_gene_axis,
    control_row_means,
    masked_zscore,
    mean_difference,
    paired_samples,
)
from ..sources import ExpressionSource
from .build import ActivityOptions, build_model

__all__ = ["bulk_control_activity"]


def bulk_control_activity(src: ExpressionSource, control: ExpressionSource, sig: pd.DataFrame, sig_name: str,
                          options: ActivityOptions) -> LazyActivity:
    """:func:`lazyact.activity` with ``control=`` and ``preprocess="none"`` (see the module doc)."""
    check_orientation(control, sig.index)
    axis = control_gene_axis(src.genes, control.genes)
    build = build_model(sig, sig_name, axis.genes, options)
    rows = build.overlap.expression_rows
    shared = ControlAxis(axis.genes[rows], axis.treatment_rows[rows], axis.control_rows[rows])
    missing = int((~shared.present).sum())
    if missing:
        warnings.warn(f"{missing} of the {rows.size} genes shared with the signature are missing from the "
                      "expression or the control; as SecActPy, they are left out of each column's mean and sd "
                      "and enter the regression as 0", RuntimeWarning, stacklevel=4)
    pairs = paired_samples(src.samples, control.samples) if options.paired else None
    means = None if pairs is not None else control_row_means(control, shared)
    if options.single_sample:
        if pairs is None:
            expr: Any = DifferenceExpression(src, shared.treatment_rows, shared.control_rows, control_means=means)
        else:
            expr = DifferenceExpression(src, shared.treatment_rows, shared.control_rows, control=control,
                                        pairs=pairs[:2], samples=pairs[2])
        samples = expr.samples
    else:
        change = mean_difference(src, shared, control_means=means, control=control,
                                 pairs=None if pairs is None else pairs[:2])
        expr = DenseExpression(masked_zscore(change[:, None], shared.present))
        samples = pd.Index(["Change"], dtype=object)
    params = {"preprocess": options.preprocess, **options.option_params()}
    if pairs is not None:
        params["n_paired"] = int(pairs[0].size)
    return build.activity(expr, samples, params, source=src, **options.array_options())
