"""Static matplotlib plots of lazy activity views, computing only what they draw.

* :func:`plot_heatmap` -- proteins x samples slice with protein labels, a colour bar named
  after the statistic and, with ``groupby=``, cells ordered by group under a coloured
  track with a legend (computes the slice);
* :func:`plot_top` -- the top-k proteins of one sample as a bar chart (computes one column);
* :func:`plot_spatial` -- one protein over all spots at their coordinates (one row; by
  default the most active protein of a small sample of cells).

Each accepts what :func:`lazyact.view` accepts (a ``LazyActivity``, one view such as
``act.zscore``, a results path, a mapping or a 2-D array) and returns the matplotlib
``Axes``. Colour limits follow :mod:`lazyact.viz.limits`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._source import ActivitySource, resolve, sample_positions
from .layout import activity_score, colorbar_ticks, stat_name, summary_score
from .limits import DEFAULT_ZLIM, colormap, contrast_limits

#: Cells read (evenly spaced) to choose the default protein of :func:`plot_spatial`.
SAMPLE_CELLS = 64

__all__ = ["most_active_protein", "plot_heatmap", "plot_top", "plot_spatial"]


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax``, or the axes of a new figure whose layout keeps every label inside it."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _colorbar(ax: Any, mappable: Any, view: str, lo: float, hi: float, **kwargs: Any) -> Any:
    """A colour bar named after the statistic, with the limits marked (``>=3`` for z)."""
    cb = ax.figure.colorbar(mappable, ax=ax, label=stat_name(view), **kwargs)
    ticks = colorbar_ticks(lo, hi, view)
    cb.set_ticks([t for t, _ in ticks], labels=[text for _, text in ticks])
    return cb


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
    groupby: Any = None,
    ax: Any = None,
    cmap: str | None = None,
    clim: tuple[float, float] | None = None,
    zlim: float = DEFAULT_ZLIM,
    max_labels: int = 60,
    colorbar: bool = True,
    title: str | None = None,
) -> Any:
    """Heatmap of a proteins x samples slice, with protein labels and a named colour bar.

    Only ``proteins x samples`` is computed (one block read of the lazy view). With
    ``groupby`` the selected cells are ordered by group (stable: file order within a
    group), a coloured track above the heatmap names the groups and a legend lists them.

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
    groupby : str, sequence or pandas.Series, optional
        Order and annotate the cells by group: an obs column name (e.g.
        ``"cell_type"``, read from the input ``.h5ad``) or one label per sample.
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
    source = resolve(obj, spatial=False, groupby=groupby)
    view = _view(source, array)
    rows = source.row_positions(proteins)
    cols = sample_positions(source, samples)
    if isinstance(cols, slice):
        start, stop, st = cols.indices(source.shape[1])
        col_idx = np.arange(start, stop, st, dtype=np.intp)
    else:
        col_idx = np.asarray(cols, dtype=np.intp)
    groups = source.groups
    if groups is not None:  # cells ordered by group; only the selected cells are read
        col_idx = col_idx[np.argsort(groups.codes[col_idx], kind="stable")]
        cols = col_idx
    values = _read(source, view, rows, cols)
    lo, hi = contrast_limits(view, clim, summary=source.summary, sample=values, n_rand=source.n_rand, zlim=zlim)
    ax = _axes(ax, (max(5.0, min(12.0, 3 + values.shape[1] * 0.05)), max(3.0, min(14.0, 1.5 + rows.size * 0.22))))
    nr, nc = values.shape
    im = ax.imshow(
        values,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap or colormap(view, matplotlib=True),
        vmin=lo,
        vmax=hi,
        extent=(-0.5, nc - 0.5, nr - 0.5, -0.5),
    )
    step = _tick_step(rows.size, max_labels)
    ticks = np.arange(0, rows.size, step)
    ax.set_yticks(ticks)
    ax.set_yticklabels([str(source.proteins[rows[i]]) for i in ticks])
    if groups is not None and col_idx.size:
        codes = groups.codes[col_idx]
        track_h = max(0.6, 0.05 * nr)
        ax.imshow(groups.rgba(codes)[None], aspect="auto", interpolation="nearest",
                  extent=(-0.5, nc - 0.5, -0.5 - 0.15 * track_h, -0.5 - 1.15 * track_h))
        ax.set_ylim(nr - 0.5, -0.5 - 1.15 * track_h)
        segs = groups.segments(codes)
        ax.set_xticks([(a + b - 1) / 2 for _, a, b in segs])
        ax.set_xticklabels([str(groups.categories[c]) for c, _, _ in segs], rotation=30 if len(segs) > 3 else 0,
                           ha="right" if len(segs) > 3 else "center")
        ax.set_xlabel(f"cells, ordered by {groups.name}")
        import matplotlib.patches as mpatches

        present = np.unique(codes)
        handles = [mpatches.Patch(color=tuple(groups.colors[c]), label=str(groups.categories[c])) for c in present]
        ax.legend(handles=handles, title=groups.name, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, fontsize="small", borderaxespad=0.0)
    elif col_idx.size:
        xt = np.linspace(0, col_idx.size - 1, min(6, col_idx.size)).round().astype(int)
        ax.set_xticks(xt)
        ax.set_xticklabels([str(col_idx[i]) for i in xt])
        ax.set_xlabel("cell (position)")
    if title is None:
        span = f"{col_idx.min()}-{col_idx.max()}" if col_idx.size else "none"
        by = f", by {groups.name}" if groups is not None else ""
        title = f"{stat_name(view)}: {nr} proteins x {nc} cells ({span}{by})"
    ax.set_title(title)
    if colorbar:
        _colorbar(ax, im, view, lo, hi, fraction=0.05, pad=0.02)
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
    ax.set_xlabel(stat_name(view))
    ax.set_ylim(-0.6, len(order) - 0.4)
    if title is None:
        title = f"{source.samples[j]}: top {len(order)} by {stat_name(view)}"
    ax.set_title(title)
    return ax


def plot_spatial(
    obj: Any,
    protein: Any = None,
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

    Only the protein's row is computed (one protein over all samples); without
    ``protein``, also all proteins of :data:`SAMPLE_CELLS` evenly spaced cells, to pick
    the most active one (none when stored summaries tell it).

    Parameters
    ----------
    obj : LazyActivity, ActivityArray, path, mapping or 2-D array
        What to plot.
    protein : str or int, optional
        Protein name or row position (default: the most active protein, see above).
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
    row = source.row_of(protein) if protein is not None else most_active_protein(source, view)
    values = source.read_row(view, row)
    lo, hi = contrast_limits(view, clim, summary=source.summary, sample=values, n_rand=source.n_rand, zlim=zlim)
    xy = source.spatial
    ax = _axes(ax, (6.0, 5.0))
    if s is None:  # spots that tile the axes (points^2 from pixels)
        from .layout import spot_size

        fig = ax.figure
        bbox = ax.get_window_extent()
        s = (spot_size(xy, bbox.width, bbox.height) * 72.0 / fig.dpi) ** 2
    sc = ax.scatter(
        xy[:, 0], xy[:, 1], c=values, s=s, cmap=cmap or colormap(view, matplotlib=True), vmin=lo, vmax=hi,
        linewidths=0,
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None:
        title = f"{source.proteins[row]} {stat_name(view)}, {xy.shape[0]:,} spots"
    ax.set_title(title)
    if colorbar:
        _colorbar(ax, sc, view, lo, hi, fraction=0.046, pad=0.02)
    return ax


def most_active_protein(source: ActivitySource, view: str, n: int = SAMPLE_CELLS) -> int:
    """Row of the most active protein: by stored summaries, else in ``n`` evenly spaced cells.

    Examples
    --------
    >>> import numpy as np
    >>> src = resolve({"zscore": np.array([[0.1, -0.2, 0.3], [4.0, -5.0, 2.0]])})
    >>> most_active_protein(src, "zscore")
    1
    """
    score = summary_score(source.summary, source.proteins)
    if score is None:
        m = source.shape[1]
        cols = np.unique(np.linspace(0, m - 1, min(m, n)).round().astype(np.intp))
        values = _read(source, view, np.arange(source.shape[0], dtype=np.intp), cols)
        score = activity_score(view, values)
    return int(np.argmax(score))
