"""Contrast limits and colour maps of the viewer and the static plots.

Limits never come from a scan of the whole (lazy) array. The policy, first match wins:

1. limits given by the user (a ``(lo, hi)`` pair or a ``{view: (lo, hi)}`` mapping);
2. fixed limits where the statistic has a natural scale: ``zscore`` symmetric
   ``(-zlim, zlim)`` (``zlim=3``), ``pvalue`` ``(0, 1)``, ``-log10p``
   ``(0, log10(n_rand + 1))`` (the smallest permutation p-value is ``1 / (n_rand + 1)``);
3. stored per-protein summaries (``LazyActivity.summary_stats``, a DataFrame with
   ``(statistic, moment)`` columns) when present: pooled mean +- 3 pooled standard
   deviations (symmetric for ``beta``, from 0 for ``se``);
4. a small sample: robust percentiles of values already computed for display (the first
   window the viewer shows), so this costs nothing extra.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["DEFAULT_ZLIM", "colormap", "contrast_limits", "limits_from_sample", "limits_from_summary"]

#: Half-width of the fixed symmetric z-score limits.
DEFAULT_ZLIM: float = 3.0

_CMAPS = {
    "beta": "matplotlib:coolwarm",
    "zscore": "matplotlib:coolwarm",
    "se": "viridis",
    "pvalue": "viridis_r",
    "-log10p": "magma",
}
_MPL_CMAPS = {
    "beta": "coolwarm",
    "zscore": "coolwarm",
    "se": "viridis",
    "pvalue": "viridis_r",
    "-log10p": "magma",
}
_SIGNED = {"beta", "zscore"}


def colormap(view: str, matplotlib: bool = False) -> str:
    """Default colour map name of a view (fastplotlib/cmap names, or matplotlib's).

    Examples
    --------
    >>> colormap("zscore", matplotlib=True), colormap("-log10p")
    ('coolwarm', 'magma')
    """
    table = _MPL_CMAPS if matplotlib else _CMAPS
    return table.get(view, "viridis")


def _pair(value: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"contrast limits must be finite, got {value!r}")
    if hi <= lo:
        raise ValueError(f"contrast limits need lo < hi, got {value!r}")
    return lo, hi


def _nonempty(lo: float, hi: float, symmetric: bool = False) -> tuple[float, float]:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if hi <= lo:
        pad = max(abs(hi), 1.0) * 0.5
        return lo - pad, hi + pad
    return float(lo), float(hi)


def limits_from_summary(view: str, summary: Any) -> tuple[float, float] | None:
    """Limits from stored per-protein summaries, or None when they do not cover ``view``.

    ``summary`` is a DataFrame indexed by protein with ``(statistic, moment)`` columns
    (``mean``, ``std``, ``min``, ``max``), as :meth:`lazyact.LazyActivity.summary` makes.
    The pooled mean ``m`` and standard deviation ``s`` over all cells give
    ``(-(|m| + 3 s), |m| + 3 s)`` for signed views and ``(max(min, m - 3 s), m + 3 s)``
    otherwise, clipped to the stored extremes.

    Examples
    --------
    >>> import pandas as pd
    >>> cols = pd.MultiIndex.from_tuples([("beta", "mean"), ("beta", "std"), ("beta", "min"), ("beta", "max")])
    >>> s = pd.DataFrame([[0.0, 1.0, -9.0, 9.0], [0.0, 1.0, -2.0, 2.0]], columns=cols)
    >>> limits_from_summary("beta", s)
    (-3.0, 3.0)
    """
    if summary is None or view not in ("beta", "se"):
        return None
    try:
        sub = summary[view]
        mean = np.asarray(sub["mean"], dtype=np.float64)
        std = np.asarray(sub["std"], dtype=np.float64)
        vmin = float(np.nanmin(np.asarray(sub["min"], dtype=np.float64)))
        vmax = float(np.nanmax(np.asarray(sub["max"], dtype=np.float64)))
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    ok = np.isfinite(mean) & np.isfinite(std)
    if not ok.any():
        return None
    m = float(mean[ok].mean())
    s = float(np.sqrt(np.mean(std[ok] ** 2 + (mean[ok] - m) ** 2)))
    if view in _SIGNED:
        half = min(abs(m) + 3 * s, max(abs(vmin), abs(vmax)))
        return _nonempty(-half, half, symmetric=True)
    return _nonempty(max(vmin, m - 3 * s, 0.0), min(vmax, m + 3 * s))


def limits_from_sample(view: str, values: np.ndarray, q: float = 99.5) -> tuple[float, float]:
    """Robust limits from already-computed values (percentiles, finite values only).

    Examples
    --------
    >>> import numpy as np
    >>> limits_from_sample("beta", np.array([-1.0, 0.5, 2.0]), q=100)
    (-2.0, 2.0)
    >>> limits_from_sample("se", np.array([1.0, 3.0]), q=100)
    (0.0, 3.0)
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0) if view in _SIGNED else (0.0, 1.0)
    if view in _SIGNED:
        half = float(np.percentile(np.abs(v), q))
        return _nonempty(-half, half, symmetric=True)
    if view in ("se", "pvalue", "-log10p") and v.min() >= 0:
        return _nonempty(0.0, float(np.percentile(v, q)))
    return _nonempty(float(np.percentile(v, 100 - q)), float(np.percentile(v, q)))


def contrast_limits(
    view: str,
    user: Any = None,
    *,
    summary: Any = None,
    sample: np.ndarray | None = None,
    n_rand: int | None = None,
    zlim: float = DEFAULT_ZLIM,
) -> tuple[float, float]:
    """Contrast limits ``(lo, hi)`` of ``view`` following the module's policy.

    Parameters
    ----------
    view : str
        ``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"``, ``"-log10p"`` or another name.
    user : (float, float) or mapping, optional
        User limits: one pair, or ``{view: pair}`` (views missing from it follow the policy).
    summary : pandas.DataFrame, optional
        Stored per-protein summaries.
    sample : numpy.ndarray, optional
        Values already computed (e.g. the window on screen).
    n_rand : int, optional
        Number of permutations (sets the ``-log10p`` maximum).
    zlim : float
        Half-width of the fixed z-score limits.

    Examples
    --------
    >>> contrast_limits("zscore")
    (-3.0, 3.0)
    >>> contrast_limits("-log10p", n_rand=999)
    (0.0, 3.0)
    >>> contrast_limits("zscore", {"zscore": (-5, 5)})
    (-5.0, 5.0)
    """
    if user is not None:
        if isinstance(user, Mapping):
            if view in user and user[view] is not None:
                return _pair(user[view])
        else:
            return _pair(user)
    if view == "zscore":
        return (-float(zlim), float(zlim))
    if view == "pvalue":
        return (0.0, 1.0)
    if view == "-log10p" and n_rand:
        return (0.0, float(np.log10(n_rand + 1)))
    lim = limits_from_summary(view, summary)
    if lim is not None:
        return lim
    if sample is not None:
        return limits_from_sample(view, sample)
    return (-1.0, 1.0) if view in _SIGNED else (0.0, 1.0)
