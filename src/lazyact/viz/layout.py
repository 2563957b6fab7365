"""What the viewer's panels say and where they go, shared by both renderers.

The fastplotlib panels (:mod:`~lazyact.viz.panels_fpl`) and the matplotlib panels
(:mod:`~lazyact.viz.panels_mpl`, the fallback without a GPU adapter) draw the same
picture from the same numbers: panel rectangles, colour-bar ticks, how many protein
names fit, spot sizes, and the statistic's readable name. Nothing here imports a
plotting library.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "STAT_NAMES",
    "activity_score",
    "colorbar_ticks",
    "label_step",
    "panel_rects",
    "spot_size",
    "stat_name",
    "fmt_value",
    "most_extreme",
]

#: Readable names of the views, used in titles and on the colour bar.
STAT_NAMES = {
    "zscore": "z-score",
    "pvalue": "p-value",
    "-log10p": "-log10 p",
    "beta": "beta (coefficient)",
    "se": "standard error",
}
_SIGNED = {"zscore", "beta"}

#: Smallest row height (pixels) that gets a protein name.
MIN_LABEL_PX = 9.0


def stat_name(view: str) -> str:
    """Readable name of a view (``"zscore"`` -> ``"z-score"``).

    Examples
    --------
    >>> stat_name("zscore"), stat_name("-log10p"), stat_name("values")
    ('z-score', '-log10 p', 'values')
    """
    return STAT_NAMES.get(view, view)


def panel_rects(size: tuple[int, int], spatial: bool, groups: bool) -> dict[str, tuple[float, float, float, float]]:
    """Panels as ``(x, y, width, height)`` fractions of the canvas, from the top left.

    The heatmap (with the group track above it and protein names on its left) and the
    trace below it take the left part; a side column holds the colour bar and, with
    groups, the legend; the spatial map takes the right part when there are
    coordinates. The side column is at least 110 pixels wide.

    Examples
    --------
    >>> r = panel_rects((1200, 700), spatial=True, groups=True)
    >>> sorted(r), r["heatmap"][2] + r["colorbar"][2] + r["spatial"][2]
    (['colorbar', 'heatmap', 'legend', 'spatial', 'trace'], 1.0)
    """
    w, _ = size
    side = max(0.1, min(0.2, 110.0 / max(1.0, float(w))))
    top = 0.68
    if spatial:
        sp = 0.34
        left = 1.0 - sp - side
    else:
        sp = 0.0
        left = 1.0 - side
    rects = {
        "heatmap": (0.0, 0.0, left, top),
        "trace": (0.0, top, left, 1.0 - top),
    }
    if groups:
        rects["colorbar"] = (left, 0.0, side, 0.42)
        rects["legend"] = (left, 0.42, side, 0.58)
    else:
        rects["colorbar"] = (left, 0.0, side, top)
    if spatial:
        rects["spatial"] = (left + side, 0.0, sp, 1.0)
    return rects


def _nice(step: float) -> float:
    if not math.isfinite(step) or step <= 0:
        return 1.0
    e = math.floor(math.log10(step))
    f = step / 10**e
    for n in (1.0, 2.0, 2.5, 5.0, 10.0):
        if f <= n + 1e-9:
            return n * 10**e
    return 10.0 ** (e + 1)  # pragma: no cover


def colorbar_ticks(lo: float, hi: float, view: str, n: int = 6) -> list[tuple[float, str]]:
    """Tick values and labels of a colour bar: both limits plus round values between.

    For z-scores and beta the limits are marked ``<=``/``>=``: values beyond them are
    drawn in the end colours.

    Examples
    --------
    >>> [t for _, t in colorbar_ticks(-3, 3, "zscore")]
    ['<=-3', '-2', '-1', '0', '1', '2', '>=3']
    >>> [t for _, t in colorbar_ticks(0, 1, "pvalue")]
    ['0', '0.2', '0.4', '0.6', '0.8', '1']
    >>> [t for _, t in colorbar_ticks(-0.12, 0.12, "beta")]
    ['<=-0.12', '-0.05', '0', '0.05', '>=0.12']
    """
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    step = _nice((hi - lo) / n)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(round(step * 10**decimals) - step * 10**decimals) > 1e-6:
        decimals += 1
    inner = []
    v = math.ceil(lo / step - 1e-9) * step
    while v <= hi + 1e-9 * step:
        if v - lo > 0.45 * step and hi - v > 0.45 * step:
            inner.append(v)
        v += step

    def text(x: float, end: bool) -> str:
        t = f"{x:.3g}" if end else f"{x:.{decimals}f}"
        if "." in t and "e" not in t:
            t = t.rstrip("0").rstrip(".")
        return "0" if t in ("-0", "0.0") else t

    out = [(lo, text(lo, True))]
    out += [(0.0 if abs(x) < step * 1e-9 else x, text(0.0 if abs(x) < step * 1e-9 else x, False)) for x in inner]
    out.append((hi, text(hi, True)))
    if view in _SIGNED:  # values past the limits are drawn in the end colours
        out[0] = (lo, "<=" + out[0][1])
        out[-1] = (hi, ">=" + out[-1][1])
    return out


def label_step(n_rows: int, height_px: float) -> tuple[int, float]:
    """(every how many rows a protein name is drawn, row height in pixels).

    All names when rows are at least :data:`MIN_LABEL_PX` tall, else every k-th.

    Examples
    --------
    >>> label_step(43, 480)[0], label_step(1170, 480)[0]
    (1, 27)
    """
    row_px = height_px / max(1, n_rows)
    if row_px >= MIN_LABEL_PX:
        return 1, row_px
    return int(math.ceil(MIN_LABEL_PX * 1.2 / max(row_px, 1e-6))), row_px


def spot_size(xy: np.ndarray, width_px: float, height_px: float) -> float:
    """Marker diameter (pixels) at which the spots tile the panel: legible at any count.

    Spots are sized from the area they cover on screen, so 600 spots get large dots and
    200,000 spots form a continuous map (at least 1.5 pixels each).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.stack(np.meshgrid(np.arange(30.0), np.arange(20.0)), -1).reshape(-1, 2)
    >>> round(spot_size(g, 300, 300), 1)
    8.9
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = max(1, xy.shape[0])
    if xy.shape[0] < 2:
        return 8.0
    span = np.ptp(xy[:, :2], axis=0)
    span = np.where(span > 0, span, 1.0)
    scale = min(width_px / span[0], height_px / span[1])  # pixels per data unit (aspect kept)
    area_px = span[0] * span[1] * scale * scale
    pitch = math.sqrt(area_px / n)
    return float(np.clip(pitch * 0.9, 1.5, 14.0))


def activity_score(view: str, values: np.ndarray) -> np.ndarray:
    """Per-row score of how active or variable a protein is (larger: more).

    Root mean square for signed views (activity in either direction and its spread),
    the mean of ``-log10 p`` for p-values, the standard deviation otherwise. NaN
    values are ignored; an all-NaN row scores -inf.

    Examples
    --------
    >>> import numpy as np
    >>> activity_score("zscore", np.array([[0.1, -0.2], [3.0, 2.0], [np.nan, np.nan]])).round(2).tolist()
    [0.16, 2.55, -inf]
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if view == "pvalue":
            v = -np.log10(np.clip(v, 1e-300, None))
        ok = np.isfinite(v)
        cnt = ok.sum(axis=1)
        z = np.where(ok, v, 0.0)
        if view in _SIGNED:
            score = np.sqrt((z * z).sum(axis=1) / np.maximum(cnt, 1))
        elif view in ("pvalue", "-log10p"):
            score = z.sum(axis=1) / np.maximum(cnt, 1)
        else:
            mean = z.sum(axis=1) / np.maximum(cnt, 1)
            score = np.sqrt(np.where(ok, (v - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(cnt, 1))
    return np.where(cnt > 0, score, -np.inf)


def summary_score(summary: Any, proteins: Any) -> np.ndarray | None:
    """Activity score of ``proteins`` from stored per-protein z-score summaries, or None.

    ``sqrt(mean**2 + std**2)`` of the z-scores over all samples (their root mean square).
    """
    if summary is None:
        return None
    try:
        sub = summary["zscore"]
        mean = np.asarray(sub["mean"].reindex(proteins), dtype=np.float64)
        std = np.asarray(sub["std"].reindex(proteins), dtype=np.float64)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    score = np.sqrt(mean**2 + std**2)
    if not np.isfinite(score).any():
        return None
    return np.where(np.isfinite(score), score, -np.inf)


def most_extreme(view: str, values: np.ndarray) -> int | None:
    """Position of the most extreme finite value (largest |v| for signed views, smallest p)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return None
    if view in _SIGNED:
        key = np.where(ok, np.abs(v), -np.inf)
    elif view == "pvalue":
        key = np.where(ok, -v, -np.inf)
    else:
        key = np.where(ok, v, -np.inf)
    return int(np.argmax(key))


def fmt_value(v: float) -> str:
    """Short text of one value (``2.31``, ``0.001``, ``1.2e-05``).

    Examples
    --------
    >>> fmt_value(2.3141), fmt_value(0.00099), fmt_value(float("nan"))
    ('2.31', '0.00099', 'NaN')
    """
    if v is None or not np.isfinite(v):
        return "NaN"
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{v:.2g}"
    return f"{v:.3g}" if a < 1 else f"{v:.2f}"
