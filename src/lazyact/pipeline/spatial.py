"""Options of SecActPy's spatial entry point: a control profile and cell-type level, lazily.

``activity(adata, preprocess="spatial", ...)`` follows ``secact_activity_inference_st``
(``secactpy/inference.py:2203-2522``; NOTES.md section 14) after the common steps of
:mod:`lazyact.pipeline.singlecell` (``min_genes``, zero-gene removal, name clean-up,
de-duplication):

* ``control=C`` (:func:`restrict_to_control`): C's mean log profile
  (:func:`~lazyact.preprocess.control.control_log_means`, one streaming pass over C); the
  kept genes are restricted to those C has (input order), and C's means are subtracted
  instead of the spots' own means. The spots' library sizes still count every kept gene;
* ``groupby=K`` (:func:`group_level_activity`): one streaming pass gives, per group
  (``sorted(set(labels))``), the mean over its spots of the log values of every kept gene:
  a small genes x groups profile, centred over the groups with equal weight (or by the
  control's means), then the bulk pipeline on it (sig_filter, grouping, z-score, ridge).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..activity import LazyActivity
from ..preprocess import EmptySamplesWarning, check_valid, control_log_means, log_group_means, sorted_groups, warn_user
from ..sources import ExpressionSource
from .build import ActivityOptions
from .bulk import bulk_source, run_bulk

__all__ = ["ControlProfile", "group_level_activity", "restrict_to_control"]


@dataclass(frozen=True)
class ControlProfile:
    """The kept genes a spatial control has: their positions among the kept genes, names and control means."""

    positions: np.ndarray
    names: pd.Index
    means: np.ndarray


def restrict_to_control(control: ExpressionSource, kept_names: pd.Index, options: ActivityOptions) -> ControlProfile:
    """The control's mean log profile on the kept genes it has (input order).

    Raises
    ------
    ValueError
        The control shares no gene with the input.
    """
    profile = control_log_means(control, options.scale)
    has = np.asarray(pd.Index(kept_names).isin(profile.index))
    if not has.any():
        raise ValueError(
            f"the control ({control.describe()}) shares no gene with the input: input genes "
            f"{', '.join(map(str, kept_names[:5]))}, ...; control genes {', '.join(map(str, profile.index[:5]))}, ... "
            "(names compared after upper-casing and cutting at '.'); give a control of the same organism and naming")
    if options.sparse_mode:
        warnings.warn("sparse_mode=True is ignored with a spatial control (SecActPy runs its dense path then): "
                      "genes in expression order, dense arithmetic", UserWarning, stacklevel=4)
    pos = np.flatnonzero(has)
    names = pd.Index(kept_names[pos])
    return ControlProfile(pos, names, profile.reindex(names).to_numpy(np.float64))


def group_level_activity(src: ExpressionSource, kept: np.ndarray, kept_names: pd.Index, labels: Any,
                         control: ControlProfile | None, sig: pd.DataFrame, sig_name: str,
                         options: ActivityOptions) -> LazyActivity:
    """``preprocess="spatial", groupby=...``: the cell-type-level activity (see the module doc)."""
    if options.sparse_mode and control is None:
        warnings.warn("sparse_mode=True is ignored at cell-type level (SecActPy runs its dense path then): "
                      "genes in expression order, dense arithmetic", UserWarning, stacklevel=4)
    groups, codes = sorted_groups(labels)
    means, sizes = log_group_means(src, kept, codes, len(groups), options.scale)
    # a group without any spot with counts has no mean: NaN statistics, left out of the centring
    valid = check_valid(sizes > 0, groups, "groups", "no spot with counts over the kept genes")
    n_empty = int(codes.size - sizes.sum())
    if valid.all() and n_empty:
        warn_user(f"{n_empty} spot(s) have no counts over the kept genes; they are left out of their group's mean "
                  "(SecActPy's would be NaN, zeroing every group)", EmptySamplesWarning)
    if control is None:
        names = pd.Index(kept_names)
        profile = means - means[:, valid].mean(axis=1, keepdims=True)
    else:
        names = control.names
        profile = means[control.positions] - control.means[:, None]
    frame = pd.DataFrame(profile, index=names, columns=pd.Index(groups)).fillna(0.0)
    bulk = options.as_bulk()
    params = {"preprocess": "spatial", "layer": getattr(src, "layer", None), **options.option_params(),
              "group_sizes": [int(n) for n in sizes]}
    return run_bulk(bulk_source(frame, bulk), sig, sig_name, bulk, params=params, valid=valid)
