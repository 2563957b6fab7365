"""Static matplotlib plots of lazy activity views, computing only what they draw.

* :func:`plot_heatmap` -- proteins x samples slice with protein labels (computes the slice);
* :func:`plot_top` -- the top-k proteins of one sample as a bar chart (computes one column);
* :func:`plot_spatial` -- one protein over all spots at their coordinates (one row).

Each accepts what :func:`lazyact.view` accepts (a ``LazyActivity``, one view such as
``act.zscore``, a results path, a mapping or a 2-D array) and returns the matplotlib
``Axes``. Colour limits follow :mod:`lazyact.viz.limits`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._source import ActivitySource, resolve, sample_positions
from .limits import DEFAULT_ZLIM, colormap, contrast_limits

__all__ = ["plot_heatmap", "plot_top", "plot_spatial"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _view(source: ActivitySource, array: str | None) -> str:
    return source.default_view(array)


def _read(source: ActivitySource, view: str, rows: np.ndarray, cols: np.ndarray | slice) -> np.ndarray:
    """Values (float32) of ``rows x cols``: only those cells are computed."""
    m = source.shape[1]
    if isinstance(cols, slice):
        start, stop, step = cols.indices(m)
        if step == 1:
            return source.read(view, rows, start, max(start, stop))
        cols = np.arange(start, stop, step, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    if cols.size == 0 or rows.size == 0:
        return np.empty((rows.size, cols.size), dtype=np.float32)
    ur, ir = np.unique(rows, return_inverse=True)
    uc, ic = np.unique(cols, return_inverse=True)
    arr = source.arrays[source.base(view)]
    block = np.asarray(arr[np.ix_(ur, uc)], dtype=np.float64)
    return source.transform(view, block[np.ix_(ir, ic)])


def _tick_step(n: int, max_labels: int) -> int:
    return max(1, int(np.ceil(n / max_labels)))


def plot_heatmap(
    obj: Any,
    proteins: Any = None,
    samples: Any = slice(0, 100),
    array: str | None = None,
    *,
    ax: Any = None,
    cmap: str | None = None,
    clim: tuple[float, float] | None = None,
    zlim: float = DEFAULT_ZLIM,
    max_labels: int = 60,
    colorbar: bool = True,
    title: str | None = None,
) -> Any:
    """Heatmap of a proteins x samples slice, with protein labels.

    Only ``proteins x samples`` is computed (one block read of the lazy view).

    Parameters
    ----------
    obj : LazyActivity, ActivityArray, path, mapping or 2-D array
        What to plot.
    proteins : sequence of str or int, slice or mask, optional
        Rows, in this order (default all).
    samples : slice, sequence of str or int, or mask
        Columns (default the first 100 samples).
    array : str, optional
        View: ``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"`` or ``"-log10p"``
        (default: the view passed as ``obj``, else ``"zscore"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw (a new figure otherwise).
    cmap : str, optional
        Matplotlib colour map (default by view).
    clim : (float, float), optional
        Colour limits (default: :func:`~lazyact.viz.limits.contrast_limits`, from the
        drawn values when the view has no natural scale).
    zlim : float
        Half-width of the fixed z-score limits.
    max_labels : int
        At most this many protein labels (every k-th when there are more rows).
    colorbar : bool
        Add a colour bar.
    title : str, optional
        Axes title (default: the view and sample range).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> ax = plot_heatmap({"zscore": np.eye(4)}, samples=slice(0, 4))
    >>> ax.images[0].get_array().shape
    (4, 4)
    """
    source = resolve(obj, spatial=False)
    view = _view(source, array)
    rows = source.row_positions(proteins)
    cols = sample_positions(source, samples)
    values = _read(source, view, rows, cols)
    lo, hi = contrast_limits(view, clim, summary=source.summary, sample=values, n_rand=source.n_rand, zlim=zlim)
    ax = _axes(ax, (max(4.0, min(12.0, 2 + values.shape[1] * 0.06)), max(3.0, min(14.0, 1 + rows.size * 0.22))))
    im = ax.imshow(
        values,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap or colormap(view, matplotlib=True),
        vmin=lo,
        vmax=hi,
    )
    step = _tick_step(rows.size, max_labels)
    ticks = np.arange(0, rows.size, step)
    ax.set_yticks(ticks)
    ax.set_yticklabels([str(source.proteins[rows[i]]) for i in ticks])
    if isinstance(cols, slice):
        start, stop, st = cols.indices(source.shape[1])
        col_idx = np.arange(start, stop, st)
    else:
        col_idx = np.asarray(cols)
    if col_idx.size:
        xt = np.linspace(0, col_idx.size - 1, min(6, col_idx.size)).round().astype(int)
        ax.set_xticks(xt)
        ax.set_xticklabels([str(col_idx[i]) for i in xt])
    ax.set_xlabel("sample")
    if title is None:
        span = f"{col_idx[0]}-{col_idx[-1]}" if col_idx.size else "none"
        title = f"{view}, samples {span}"
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=view, fraction=0.05, pad=0.02)
    return ax


def plot_top(
    obj: Any,
    sample: int | str = 0,
    k: int = 20,
    array: str | None = None,
    *,
    ax: Any = None,
    by: str = "value",
    color: Any = None,
    title: str | None = None,
) -> Any:
    """Bar chart of the ``k`` top proteins of one sample.

    Only that sample's column is computed (all proteins, one block read).

    Parameters
    ----------
    obj : LazyActivity, ActivityArray, path, mapping or 2-D array
        What to plot.
    sample : int or str
        Sample position or name.
    k : int
        Number of proteins shown.
    array : str, optional
        View ranked and drawn (default: the view passed, else ``"zscore"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    by : {"value", "abs"}
        Rank by value (largest first; smallest first for ``pvalue``) or by absolute
        value.
    color : color or (color, color), optional
        Bar colour, or (positive, negative) colours (default red / blue).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        Bars from the top rank (at the top) down; the y tick labels are the proteins.

    Examples
    --------
    >>> import numpy as np
    >>> ax = plot_top({"zscore": np.array([[1.0], [3.0], [-2.0]])}, 0, k=2)
    >>> [t.get_text() for t in ax.get_yticklabels()]  # bottom to top
    ['0', '1']
    """
    source = resolve(obj, spatial=False)
    view = _view(source, array)
    col = sample_positions(source, [sample])
    j = int(np.asarray(col)[0])
    values = source.read_col(view, j)
    finite = np.where(np.isfinite(values), values, np.nan)
    if by == "abs":
        score = -np.abs(finite)
    elif by == "value":
        score = finite if view == "pvalue" else -finite
    else:
        raise ValueError(f"by must be 'value' or 'abs', got {by!r}")
    score = np.where(np.isnan(score), np.inf, score)
    order = np.argsort(score, kind="stable")[: max(1, int(k))]
    vals = values[order]
    names = [str(source.proteins[i]) for i in order]
    ax = _axes(ax, (5.0, max(2.5, 0.8 + 0.28 * len(order))))
    if color is None:
        pos, neg = "#c0392b", "#2e6eb5"
    elif isinstance(color, (tuple, list)) and len(color) == 2 and all(isinstance(c, (str, tuple, list)) for c in color):
        pos, neg = color
    else:
        pos = neg = color
    y = np.arange(len(order))[::-1]  # rank 0 at the top
    ax.barh(y, vals, color=[pos if v >= 0 else neg for v in vals], height=0.8)
    ax.set_yticks(np.arange(len(order)))  # ascending ticks: the last label is the top bar
    ax.set_yticklabels(names[::-1])
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel(view)
    ax.set_ylim(-0.6, len(order) - 0.4)
    if title is None:
        title = f"{source.samples[j]}: top {len(order)} by {view}"
    ax.set_title(title)
    return ax


def plot_spatial(
    obj: Any,
    protein: Any = 0,
    array: str | None = None,
    spatial: Any = None,
    *,
    ax: Any = None,
    cmap: str | None = None,
    clim: tuple[float, float] | None = None,
    zlim: float = DEFAULT_ZLIM,
    s: float | None = None,
    colorbar: bool = True,
    title: str | None = None,
) -> Any:
    """Spatial map of one protein: every spot at its coordinates, coloured by the view.

    Only the protein's row is computed (one protein over all samples).

    Parameters
    ----------
    obj : LazyActivity, ActivityArray, path, mapping or 2-D array
        What to plot.
    protein : str or int
        Protein name or row position.
    array : str, optional
        View drawn (default: the view passed, else ``"zscore"``).
    spatial : None, array or str
        ``(n_samples, 2)`` coordinates, the path of an .h5ad with ``obsm["spatial"]``,
        or None to use ``obj.spatial``.
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    cmap : str, optional
        Colour map (default by view).
    clim : (float, float), optional
        Colour limits.
    zlim : float
        Half-width of the fixed z-score limits.
    s : float, optional
        Marker size (default from the number of spots).
    colorbar : bool
        Add a colour bar.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> ax = plot_spatial({"zscore": np.array([[1.0, 2.0, 3.0]])}, 0, spatial=xy)
    >>> ax.collections[0].get_offsets().shape
    (3, 2)
    """
    source = resolve(obj, spatial=True if spatial is None else spatial)
    view = _view(source, array)
    row = source.row_of(protein)
    values = source.read_row(view, row)
    lo, hi = contrast_limits(view, clim, summary=source.summary, sample=values, n_rand=source.n_rand, zlim=zlim)
    xy = source.spatial
    ax = _axes(ax, (6.0, 5.0))
    if s is None:
        s = float(np.clip(20000.0 / max(1, xy.shape[0]), 0.3, 60.0))
    sc = ax.scatter(
        xy[:, 0], xy[:, 1], c=values, s=s, cmap=cmap or colormap(view, matplotlib=True), vmin=lo, vmax=hi,
        linewidths=0,
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None:
        title = f"{source.proteins[row]} ({view})"
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(sc, ax=ax, label=view, fraction=0.046, pad=0.02)
    return ax
