"""Interactive viewer that computes only what is on screen, drawn by fastplotlib or matplotlib.

:class:`Viewer` shows a heatmap of proteins x a window of samples (protein names on
the rows, a coloured group track above when ``groupby=`` is given), a colour bar naming
the statistic, a legend of the groups, a trace of the selected protein over the window,
and (when spatial coordinates are known) every spot coloured by the selected protein.
Each window is one block read of a lazy view (``act.zscore[rows, start:stop]``, or the
columns ``order[start:stop]`` when the samples are ordered by group) on a background
thread (:class:`~lazyact.viz.prefetch.Prefetcher`). The first window is read while the
figure is built, and the first frame does not wait for it (it says "loading"); once it
has been drawn, the next and previous windows are read into the block cache, so
scrolling finds them ready. Contrast limits follow :mod:`lazyact.viz.limits` and are
never taken from a scan of the whole array.

The panels are drawn by fastplotlib (:mod:`~lazyact.viz.panels_fpl`, GPU through wgpu)
or, where wgpu finds no usable adapter, by matplotlib (:mod:`~lazyact.viz.panels_mpl`):
:func:`render_png` falls back by itself and says so in one line; the interactive
:func:`view` says in one line what to install.

Keyboard (on the canvas, or :meth:`Viewer.key`):

==========================  ==========================================================
``Right`` / ``j`` / PgDn    next window
``Left`` / ``k`` / PgUp     previous window
``Shift`` + ``Right/Left``  scroll by a tenth of a window
``Home`` / ``End``          first / last window
``Up`` / ``Down``           select the previous / next protein (heatmap row)
``1`` ... ``5``             switch the view (beta, se, zscore, pvalue, -log10 p)
==========================  ==========================================================

Clicking a heatmap cell selects that protein and cell; clicking a spot of the spatial
map selects that cell and moves the window to it. With ``imgui-bundle`` installed a
control panel adds a slider over samples, a view selector, a protein selector and
contrast limits.
"""
from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np

from ._source import ActivitySource, Cancelled, resolve
from .layout import activity_score, fmt_value, most_extreme, stat_name, summary_score
from .limits import DEFAULT_ZLIM, colormap, contrast_limits
from .prefetch import Prefetcher
from .renderer import _VULKAN_FIX, RendererFallbackWarning, RendererUnavailable, import_fastplotlib

__all__ = [
    "RENDERERS",
    "RendererFallbackWarning",
    "RendererUnavailable",
    "Viewer",
    "default_window",
    "import_fastplotlib",
    "render_png",
    "view",
]

#: Cells (proteins x samples) a default window holds at most.
WINDOW_CELLS = 65536
#: Renderers of the viewer's panels.
RENDERERS = ("fastplotlib", "matplotlib")
_SCROLL_KEYS = {"ArrowRight": 1, "j": 1, "PageDown": 1, "ArrowLeft": -1, "k": -1, "PageUp": -1}


def default_window(n_rows: int, n_samples: int, cells: int = WINDOW_CELLS) -> int:
    """Samples per window: about ``cells`` cells on screen, between 16 and 512 samples.

    Examples
    --------
    >>> default_window(43, 20_000), default_window(1170, 2_000_000), default_window(12, 100)
    (512, 56, 100)
    """
    w = int(np.clip(cells // max(1, n_rows), 16, 512))
    return max(1, min(w, int(n_samples)))


class Viewer:
    """Heatmap, colour bar, group track, trace and spatial panels over a lazy activity.

    Parameters
    ----------
    obj : LazyActivity, ActivityArray, str or path, mapping or 2-D array
        What to show (see :func:`lazyact.viz._source.resolve`); a path is opened with
        :func:`lazyact.open`.
    array : str, optional
        View shown first: ``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"`` or
        ``"-log10p"`` (aliases ``"logp"``, ``"z"``, ``"p"``). Default: the view passed
        as ``obj`` when it is one view, else ``"zscore"``.
    window : int, optional
        Samples per window (default :func:`default_window`: about 65k cells).
    proteins : sequence of str or int, slice or mask, optional
        Heatmap rows, in this order (default all proteins).
    spatial : None, False, True, array or str
        Spatial coordinates (``(n_samples, 2)``); None finds ``obj.spatial`` or the
        ``obsm["spatial"]`` of an .h5ad source; False disables the spatial panel.
    groupby : str, sequence or pandas.Series, optional
        Order and annotate the samples by group: an obs column name (``"cell_type"``,
        read from the input ``.h5ad``, an ``obs`` table or a results file) or one label
        per sample. The samples are shown ordered by group (a lazy permutation of the
        columns: windows read ``order[start:stop]``), with a coloured track above the
        heatmap and a legend. ``start`` and the window then count in that order.
    order_by_group : bool
        With ``groupby``, order the samples by group (default True); False keeps file
        order and only colours the track.
    start : int or str
        First sample shown (a display position or a sample name); clamped so a full
        window fits.
    protein : str or int, optional
        Protein selected first (name, or position among ``proteins``). Default: the most
        active one (largest root-mean-square z-score) by the stored summaries when the
        results have them, else in the first window (already computed: no extra reads).
    clim : (float, float) or dict, optional
        Contrast limits for the first view, or ``{view: (lo, hi)}``.
    cmap : str or dict, optional
        Colour map for the first view, or ``{view: name}``.
    zlim : float
        Half-width of the fixed z-score limits (default 3).
    prefetch : bool
        Read the next and previous windows in the background (default True), from the
        first frame drawn on (or the first ``goto``/``scroll``/``wait(prefetch=True)``).
    size : (int, int)
        Canvas size in pixels.
    imgui : bool, optional
        Control panel when imgui-bundle is installed (None: when available).
    labels : bool, optional
        Protein names left of the heatmap rows (None: all when rows are at least 9 px
        tall, else every k-th).
    renderer : {"auto", "fastplotlib", "matplotlib"}
        What draws the panels. ``"auto"``: fastplotlib, or matplotlib offscreen when
        fastplotlib cannot draw here (with a :class:`RendererFallbackWarning`); an
        interactive canvas needs fastplotlib (:class:`RendererUnavailable` names the
        fix).
    canvas : str or canvas, optional
        fastplotlib canvas: ``"offscreen"``, ``"jupyter"``, ``"glfw"``, ``"qt"`` or a
        rendercanvas instance (default: chosen by rendercanvas, or offscreen).
    offscreen : bool
        Render to an offscreen canvas (tests, :func:`render_png`).

    Attributes
    ----------
    source : ActivitySource
        The named views being shown (``source.groups``, ``source.order``).
    panels : object
        The renderer (``panels.name`` is ``"fastplotlib"`` or ``"matplotlib"``).
    figure : fastplotlib.Figure or matplotlib.figure.Figure
        The figure.
    rows : numpy.ndarray
        Row positions of the heatmap's proteins.
    data : numpy.ndarray
        The float32 window on screen (``len(rows) x window``); zeros until the first window
        has arrived (``loading`` False, e.g. after :meth:`wait` or :meth:`frame`).

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> T = lazyact.ridge.projection(rng.standard_normal((200, 6)), lambda_=100.0)
    >>> act = lazyact.LazyActivity(T, 20, rng.standard_normal((200, 300)))
    >>> v = Viewer(act, window=100, offscreen=True, prefetch=False)
    >>> v.frame().shape, v.start, v.stop
    ((700, 1200, 4), 0, 100)
    >>> v.scroll(1); v.select(3); v.set_view("pvalue")
    >>> v.start, v.stop, v.view
    (100, 200, 'pvalue')
    >>> v.close()
    """

    def __init__(
        self,
        obj: Any,
        array: str | None = None,
        window: int | None = None,
        proteins: Any = None,
        spatial: Any = None,
        *,
        groupby: Any = None,
        order_by_group: bool = True,
        start: int | str = 0,
        protein: Any = None,
        clim: Any = None,
        cmap: Any = None,
        zlim: float = DEFAULT_ZLIM,
        prefetch: bool = True,
        size: tuple[int, int] = (1200, 700),
        imgui: bool | None = None,
        labels: bool | None = None,
        renderer: str = "auto",
        canvas: Any = None,
        offscreen: bool = False,
    ) -> None:
        if renderer not in ("auto", *RENDERERS):
            raise ValueError(f"renderer must be 'auto', 'fastplotlib' or 'matplotlib', got {renderer!r}")
        self.source: ActivitySource = resolve(obj, spatial, groupby=groupby, order_by_group=order_by_group)
        src = self.source
        self._view = src.default_view(array)
        self.rows = src.row_positions(proteins)
        n_samples = src.shape[1]
        if n_samples == 0 or self.rows.size == 0:
            raise ValueError("nothing to show: no samples or no proteins")
        self.window = int(window) if window is not None else default_window(self.rows.size, n_samples)
        if self.window < 1:
            raise ValueError(f"window must be positive, got {window}")
        self.window = min(self.window, n_samples)
        self._start = self._clamp(self._sample_position(start))
        self._zlim = float(zlim)
        self._user_clim = clim if (clim is None or isinstance(clim, dict)) else {self._view: clim}
        self._user_cmap = cmap if (cmap is None or isinstance(cmap, dict)) else {self._view: cmap}
        self._clims: dict[str, tuple[float, float]] = {}
        self.prefetch = bool(prefetch)
        self._offscreen = bool(offscreen) or canvas == "offscreen"
        self._labels = labels
        self._loader = Prefetcher(keep=8)
        self._pending_window: tuple | None = None
        self._pending_row: tuple | None = None
        self._shown_window_key: tuple | None = None
        self._shown_row_key: tuple | None = None
        self._row_raw: np.ndarray | None = None
        self._error: BaseException | None = None
        self._shown = False
        self._drawn = False  # a frame has been rendered
        self._closed = False
        #: seconds spent applying the last window (from request to graphics updated)
        self.last_latency: float | None = None
        #: neighbour windows are not prefetched before the first window has been drawn
        self._hold_prefetch = True
        # until the first window arrives: no values, a placeholder of the window's shape
        self._raw: np.ndarray | None = None
        self.data = np.zeros((self.rows.size, self.window), dtype=np.float32)
        # the selected protein: given, or the most active by the stored summaries, or
        # (decided when the first window arrives) the most active in that window
        self._auto_protein = protein is None
        self._sel = 0
        if protein is not None:
            self._sel = self._row_index(protein)
        else:
            score = summary_score(src.summary, src.proteins[self.rows])
            if score is not None:
                self._sel = int(np.argmax(score))
                self._auto_protein = False
        #: the selected cell (display position), chosen by a click or :meth:`select_cell`
        self._cell: int | None = None
        self._cell_user = False

        try:
            # The first window is read on the background thread while the figure is built
            # here; the render loop shows it when it arrives (``frame()`` and ``wait()``
            # wait for it). Limits that come from the values (beta / se without stored
            # summaries) are taken from it then.
            self._t_request = time.perf_counter()
            self._pending_window = self._window_key(self._view, self._start)
            self._dispatch()
            self.panels = self._make_panels(renderer, size, imgui, canvas)
            self.figure = self.panels.figure
        except BaseException:
            self._loader.close()
            raise
        if not self._auto_protein:
            self._request_row()
        self._apply_pending(block=False)  # already read (e.g. cached): on screen at once

    # ------------------------------------------------------------------ renderer
    def _make_panels(self, renderer: str, size: tuple[int, int], imgui: bool | None, canvas: Any) -> Any:
        size = (int(size[0]), int(size[1]))
        if renderer in ("auto", "fastplotlib"):
            try:
                from .panels_fpl import FastplotlibPanels

                return FastplotlibPanels(self, size, imgui=imgui, canvas=canvas, offscreen=self._offscreen)
            except (RendererUnavailable, ImportError) as exc:
                if renderer == "fastplotlib" or not self._offscreen:
                    if isinstance(exc, RendererUnavailable):
                        raise
                    raise RendererUnavailable(f"fastplotlib is not available ({exc})",
                                              "pip install 'lazyact[viz]'") from None
                problem = getattr(exc, "problem", None) or f"fastplotlib is not available ({exc})"
                warnings.warn(
                    f"{problem}: drew the picture with matplotlib instead; for the fastplotlib viewer "
                    f"{_VULKAN_FIX}",
                    RendererFallbackWarning,
                    stacklevel=4,
                )
        from .panels_mpl import MatplotlibPanels

        return MatplotlibPanels(self, size)

    # ------------------------------------------------------------------ properties
    @property
    def view(self) -> str:
        """Name of the view on screen."""
        return self._view

    @property
    def start(self) -> int:
        """First display position of the (requested) window."""
        return self._start

    @property
    def stop(self) -> int:
        """One past the last display position of the window."""
        return self._start + self.window

    @property
    def protein(self) -> Any:
        """Label of the selected protein."""
        return self.source.proteins[int(self.rows[self._sel])]

    @property
    def selected(self) -> int:
        """Position of the selected protein among the heatmap rows."""
        return self._sel

    @property
    def cell(self) -> Any:
        """Name of the selected cell (sample), or None before the first window arrives."""
        pos = self.cell_position
        return None if pos is None else self.source.samples[int(self.source.sample_positions(pos, pos + 1)[0])]

    @property
    def cell_position(self) -> int | None:
        """Display position of the selected cell (within the window on screen), or None."""
        return self._cell

    @property
    def clim(self) -> tuple[float, float]:
        """Contrast limits of the view on screen (settable)."""
        return self._limits(self._view)

    @clim.setter
    def clim(self, value: tuple[float, float]) -> None:
        self.set_clim(*value)

    @property
    def loading(self) -> bool:
        """Whether a window or protein row on its way to the screen is still being read."""
        return self._pending_window is not None or self._pending_row is not None

    @property
    def spatial(self) -> np.ndarray | None:
        return self.source.spatial

    @property
    def groups(self) -> Any:
        """The sample groups (:class:`~lazyact.viz.groups.Groups`) or None."""
        return self.source.groups

    @property
    def renderer(self) -> str:
        """``"fastplotlib"`` or ``"matplotlib"``."""
        return self.panels.name

    @property
    def window_ready(self) -> bool:
        """Whether values of a window are on screen (False until the first arrives)."""
        return self._raw is not None

    @property
    def shown_start(self) -> int:
        """First display position of the window whose values are on screen."""
        key = self._shown_window_key
        return int(key[2]) if key is not None else self._start

    _shown_start = shown_start

    @property
    def row_names(self) -> list[str]:
        """Names of the heatmap's proteins, top to bottom."""
        return [str(p) for p in self.source.proteins[self.rows]]

    @property
    def window_samples(self) -> np.ndarray:
        """Sample positions of the window on screen, left to right."""
        s = self.shown_start
        return self.source.sample_positions(s, s + self.window)

    @property
    def window_codes(self) -> np.ndarray | None:
        """Group codes of the window on screen (None without groups)."""
        s = self.shown_start
        return self.source.group_codes(s, s + self.window)

    @property
    def row_values(self) -> np.ndarray | None:
        """The selected protein over all samples (sample order) in the view shown, or None."""
        if self._row_raw is None:
            return None
        return self.source.transform(self._view, self._row_raw[None, :])[0]

    def cmap(self, view: str | None = None, matplotlib: bool = False) -> str:
        """Colour map name of ``view`` (default the one on screen) for the renderer."""
        view = self._view if view is None else view
        if self._user_cmap and view in self._user_cmap:
            return self._user_cmap[view]
        return colormap(view, matplotlib=matplotlib)

    def titles(self) -> dict[str, str]:
        """What each panel's title says (the statistic, the window, the protein and cell)."""
        m = self.source.shape[1]
        s = self.shown_start
        stat = stat_name(self._view)
        status = " (loading)" if self._pending_window is not None else ""
        if not status and self._raw is None and self._error is not None:
            status = " (reading failed)"
        groups = self.source.groups
        order = ""
        if groups is not None:
            order = f", by {groups.name}" if self.source.order is not None else f", {groups.name} shown"
        out = {
            "heatmap": f"{stat}: cells {s:,}-{s + self.window - 1:,} of {m:,}{order}{status}",
            "colorbar": stat,
        }
        name = str(self.protein)
        cell = ""
        if self._cell is not None and self._raw is not None:
            j = self._cell - s
            value = float(self.data[self._sel, j]) if 0 <= j < self.window else float("nan")
            label = self.cell
            if groups is not None:
                code = int(groups.codes[int(self.source.sample_positions(self._cell, self._cell + 1)[0])])
                label = f"{label} ({groups.categories[code]})"
            cell = f" | cell {label}: {fmt_value(value)}"
        out["trace"] = f"{name} {stat}{cell}"
        if groups is not None:
            out["legend"] = str(groups.name)
        if self.source.spatial is not None:
            loading = " (loading)" if self._pending_row is not None else ""
            out["spatial"] = f"{name} {stat}, {m:,} spots{loading}"
        return out

    # ------------------------------------------------------------------ helpers
    def _clamp(self, start: int) -> int:
        return int(min(max(0, int(start)), self.source.shape[1] - self.window))

    def _sample_position(self, start: Any) -> int:
        """Display position of a display position or a sample name."""
        if isinstance(start, (int, np.integer)) and not isinstance(start, (bool, np.bool_)):
            return int(start)
        try:
            loc = self.source.samples.get_loc(start)
        except KeyError:
            raise KeyError(f"unknown sample {start!r}") from None
        pos = int(loc.start if isinstance(loc, slice) else loc)
        return self._display_of(pos)

    def _display_of(self, sample: int) -> int:
        order = self.source.order
        if order is None:
            return int(sample)
        if not hasattr(self, "_inverse_order"):
            inv = np.empty_like(order)
            inv[order] = np.arange(order.size, dtype=order.dtype)
            self._inverse_order = inv
        return int(self._inverse_order[int(sample)])

    def _row_index(self, protein: Any) -> int:
        """Position among the heatmap rows of a protein name or heatmap row number."""
        if isinstance(protein, (int, np.integer)) and not isinstance(protein, (bool, np.bool_)):
            n = self.rows.size
            if not -n <= int(protein) < n:
                raise IndexError(f"row {protein} out of range for {n} heatmap rows")
            return int(protein) % n
        row = self.source.row_of(protein)
        hits = np.flatnonzero(self.rows == row)
        if hits.size == 0:
            raise KeyError(f"protein {protein!r} is not among the heatmap rows")
        return int(hits[0])

    def _window_key(self, view: str, start: int) -> tuple:
        return ("window", self.source.base(view), int(start), int(start) + self.window)

    def _row_key(self, view: str, sel: int) -> tuple:
        return ("row", self.source.base(view), int(self.rows[sel]))

    def _read_window(self, cancelled, base: str, start: int, stop: int) -> np.ndarray:
        rows = None if np.array_equal(self.rows, np.arange(self.source.shape[0])) else self.rows
        return self.source.read_raw(base, rows, start, stop, cancelled)

    def _read_row(self, cancelled, base: str, row: int) -> np.ndarray:
        return self.source.read_raw(base, np.array([row]), 0, self.source.shape[1], cancelled, ordered=False)[0]

    def _limits(self, view: str, sample: np.ndarray | None = None) -> tuple[float, float]:
        lim = self._clims.get(view)
        if lim is None:
            provisional = False
            if sample is None and view == self._view:
                provisional = self._raw is None  # the placeholder: not kept, the window decides
                sample = None if provisional else self.data
            lim = contrast_limits(
                view,
                self._user_clim,
                summary=self.source.summary,
                sample=sample,
                n_rand=self.source.n_rand,
                zlim=self._zlim,
            )
            if not provisional:
                self._clims[view] = lim
        return lim

    def _auto_cell(self) -> None:
        """Keep a chosen cell inside the window; else pick the selected protein's most extreme."""
        s = self.shown_start
        if self._cell_user and self._cell is not None and s <= self._cell < s + self.window:
            return
        self._cell_user = False
        if self._raw is None:
            self._cell = None
            return
        j = most_extreme(self._view, self.data[self._sel])
        self._cell = s + (j if j is not None else 0)

    # ------------------------------------------------------------------ showing
    def show(self) -> Any:
        """Show the figure (starts its render loop in a GUI; no-op offscreen). Returns its output."""
        if self._shown:
            return self.panels.output
        out = self.panels.show()
        self._shown = True
        return out

    def _update(self, *parts: str) -> None:
        panels = getattr(self, "panels", None)
        if panels is not None:
            panels.update(*parts)

    # ------------------------------------------------------------------ loading
    def _dispatch(self) -> None:
        """Queue the reads in priority order on the single background worker.

        Priority: the window the screen waits for, then the neighbour windows (short,
        they keep scrolling smooth), then the selected protein's row for the spatial
        panel (one protein over all samples: can be long). Reads nobody wants any more
        are cancelled; so are unfinished reads of lower priority than one that must be
        queued now -- they are queued again behind it. A cancelled read stops at its
        next chunk and what it computed stays in the block cache, so nothing is lost.
        """
        order = [k for k in (self._pending_window,) if k is not None]
        order += [k for k in self._neighbour_keys() if k not in order]
        if self._pending_row is not None:
            order.append(self._pending_row)
        wanted = set(order)
        self._loader.cancel(keep=wanted)
        first_missing = next((i for i, k in enumerate(order) if self._loader.get(k) is None), None)
        if first_missing is not None:
            later = {k for k in order[first_missing + 1 :] if self._loader.get(k) is not None and not self._loader.done(k)}
            if later:
                self._loader.cancel(keep=wanted - later)
        for key in order:
            fn = self._read_row if key[0] == "row" else self._read_window
            self._loader.submit(key, fn, *key[1:])

    def _neighbour_keys(self) -> list[tuple]:
        if not self.prefetch or self._hold_prefetch:
            return []
        out = []
        for s in (self._start + self.window, self._start - self.window):
            s = self._clamp(s)
            if s != self._start:
                k = self._window_key(self._view, s)
                if k not in out:
                    out.append(k)
        return out

    def _request_window(self) -> None:
        """Bring the window at ``self._start`` of the current view to the screen."""
        key = self._window_key(self._view, self._start)
        self._t_request = time.perf_counter()
        if key == self._shown_window_key:
            self._pending_window = None
            self._apply_window(key, None)
        else:
            fut = self._loader.get(key)
            if fut is not None and fut.done() and fut.exception() is None:
                self._pending_window = None
                self._apply_window(key, fut.result())
            else:
                self._pending_window = key
                self._update("titles")
        self._dispatch()

    def _request_row(self) -> None:
        """Bring the selected protein's row (all samples) to the spatial panel."""
        if self.source.spatial is None:
            return
        key = self._row_key(self._view, self._sel)
        if key == self._shown_row_key:
            self._pending_row = None
            self._apply_row(key, None)
        else:
            fut = self._loader.get(key)
            if fut is not None and fut.done() and fut.exception() is None:
                self._pending_row = None
                self._apply_row(key, fut.result())
            else:
                self._pending_row = key
                self._update("titles")
        self._dispatch()

    def _apply_window(self, key: tuple, raw: np.ndarray | None) -> None:
        if raw is not None:
            self._raw = raw
            self._shown_window_key = key
        if self._raw is None:  # pragma: no cover - nothing read yet
            return
        self.data = self.source.transform(self._view, self._raw)
        if self._auto_protein:  # the most active protein of the first window
            self._auto_protein = False
            self._sel = int(np.argmax(activity_score(self._view, self.data)))
            self._request_row()
        self._limits(self._view)
        self._auto_cell()
        self._update("window")
        self.last_latency = time.perf_counter() - self._t_request

    def _apply_row(self, key: tuple, raw: np.ndarray | None) -> None:
        if raw is not None:
            self._row_raw = raw
            self._shown_row_key = key
        self._update("row")

    def _take(self, key: tuple | None, block: bool) -> tuple[bool, Any]:
        """(ready, result) of a pending key; re-raises real errors."""
        if key is None:
            return False, None
        fut = self._loader.get(key)
        if fut is None:  # cancelled behind our back: ask again
            return False, None
        if not block and not fut.done():
            return False, None
        try:
            return True, fut.result()
        except Cancelled:
            return False, None

    def poll(self) -> None:
        """Put finished reads on screen (never waits; the render loop calls it every frame)."""
        try:
            self._apply_pending(block=False)
        except Exception as exc:  # keep the render loop alive; report once
            if self._error is None:
                self._error = exc
                warnings.warn(f"lazyact viewer: reading failed: {exc!r}", RuntimeWarning, stacklevel=1)
            self._pending_window = self._pending_row = None
            self._update("titles")

    _poll = poll

    def after_render(self) -> None:
        """Post-render hook: once the first window has been drawn, start prefetching."""
        self._drawn = True
        if self._hold_prefetch and self._shown_window_key is not None and not self._closed:
            self._release_prefetch()

    def _release_prefetch(self) -> None:
        if self._hold_prefetch:
            self._hold_prefetch = False
            if self.prefetch:
                self._dispatch()

    def _apply_pending(self, block: bool) -> None:
        lost = False
        for attr, apply in (("_pending_window", self._apply_window), ("_pending_row", self._apply_row)):
            key = getattr(self, attr)
            if key is None:
                continue
            ready, raw = self._take(key, block)
            if ready:
                setattr(self, attr, None)
                apply(key, raw)
            elif self._loader.get(key) is None:
                lost = True
        if lost:  # cancelled behind our back: ask again
            self._dispatch()

    def wait(self, prefetch: bool = False) -> None:
        """Block until the window and protein row on their way to the screen are shown.

        ``prefetch=True`` also waits for the background reads of the neighbour windows.
        """
        for _ in range(6):  # a cancelled-and-resubmitted read may need another round
            self._apply_pending(block=True)
            if not self.loading:
                break
        if prefetch:
            self._release_prefetch()
            self._loader.wait()

    # ------------------------------------------------------------------ actions
    def goto(self, start: int | str) -> None:
        """Show the window starting at ``start`` (a display position or a sample name; clamped)."""
        self._start = self._clamp(self._sample_position(start))
        self._hold_prefetch = False  # navigating: keep the neighbours coming
        self._request_window()

    def scroll(self, n: float = 1, step: int | None = None) -> None:
        """Scroll by ``n`` windows (or by ``n * step`` samples when ``step`` is given).

        ``scroll(1)`` shows the next window, ``scroll(-2, step=10)`` moves 20 samples back
        (run in the :class:`Viewer` example).
        """
        delta = int(round(n * (self.window if step is None else int(step))))
        self.goto(self._start + delta)

    def select(self, protein: Any) -> None:
        """Select a protein by name or by heatmap row number (trace and spatial follow)."""
        self._sel = self._row_index(protein)
        self._auto_protein = False
        self._auto_cell()
        self._update("selection")
        self._request_row()

    def select_cell(self, cell: int | str) -> None:
        """Select a cell by display position or sample name; the window moves to show it."""
        pos = self._sample_position(cell)
        if not 0 <= pos < self.source.shape[1]:
            raise IndexError(f"cell {cell} out of range for {self.source.shape[1]} samples")
        s = self.shown_start
        if not s <= pos < s + self.window:
            self._cell = pos
            self._cell_user = True
            self.goto(pos - self.window // 2)
            return
        self._cell = pos
        self._cell_user = True
        self._update("selection")

    def set_view(self, name: str) -> None:
        """Switch the statistic shown (``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"``, ``"-log10p"``).

        For a :class:`~lazyact.LazyActivity` the four statistics are computed together,
        so switching reads the cached block; ``pvalue`` and ``-log10p`` share one read.
        """
        name = self.source.check_view(name)
        if name == self._view:
            return
        self._view = name
        self._update("style")
        self._request_window()
        self._request_row()

    def set_clim(self, lo: float, hi: float, view: str | None = None) -> None:
        """Set the contrast limits of ``view`` (default: the view on screen)."""
        from .limits import _pair

        view = self._view if view is None else self.source.check_view(view)
        self._clims[view] = _pair((lo, hi))
        if view == self._view:
            self._update("style")

    def key(self, name: str, modifiers: tuple[str, ...] = ()) -> None:
        """Act on a key press (see the module's key table)."""
        mods = tuple(modifiers or ())
        if name in _SCROLL_KEYS:
            if "Shift" in mods and name.startswith("Arrow"):
                self.scroll(_SCROLL_KEYS[name], step=max(1, self.window // 10))
            else:
                self.scroll(_SCROLL_KEYS[name])
        elif name == "Home":
            self.goto(0)
        elif name == "End":
            self.goto(self.source.shape[1])
        elif name == "ArrowUp":
            self.select(max(0, self._sel - 1))
        elif name == "ArrowDown":
            self.select(min(self.rows.size - 1, self._sel + 1))
        elif isinstance(name, str) and name.isdigit() and name != "0":
            i = int(name) - 1
            views = self.source.views
            if i < len(views):
                self.set_view(views[i])

    def click_heatmap(self, col: int, row: int) -> None:
        """A click on heatmap cell (``col`` within the window, ``row``): select both."""
        if 0 <= row < self.rows.size:
            if 0 <= col < self.window:
                self._cell = self.shown_start + int(col)
                self._cell_user = True
            self.select(int(row))

    def click_spot(self, sample: int) -> None:
        """A click on the spot of sample position ``sample``: select it, move the window to it."""
        pos = self._display_of(int(sample))
        self._cell = pos
        self._cell_user = True
        s = self.shown_start
        if s <= pos < s + self.window:
            self._update("selection")
        else:
            self.goto(pos - self.window // 2)

    def draw(self) -> np.ndarray:
        """Put finished reads on screen and draw now, without waiting: ``(H, W, 4)`` uint8."""
        return self.panels.draw()

    def frame(self) -> np.ndarray:
        """Wait for pending reads, draw, and return the picture as an ``(H, W, 4)`` uint8 array."""
        self.show()
        if not self._drawn and self.loading:
            # nothing drawn yet: draw the "loading" frame while the first window is read, so
            # the renderer's one-off set-up (shaders, pipelines) overlaps the computation
            self.panels.draw()
        self.wait()
        return self.panels.draw()

    def close(self) -> None:
        """Stop background reads and close the canvas."""
        if self._closed:
            return
        self._closed = True
        self._loader.close()
        try:
            self.panels.close()
        except Exception:  # pragma: no cover - already closed
            pass

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        p, m = self.source.shape
        by = f", by {self.source.groups.name}" if self.source.groups is not None else ""
        return (
            f"<Viewer {self._view}: {self.rows.size} of {p} proteins x cells {self._start}-{self.stop - 1} "
            f"of {m}{by}, selected {self.protein!r}, drawn by {self.renderer}>"
        )


def view(
    obj: Any,
    array: str | None = None,
    window: int | None = None,
    proteins: Any = None,
    spatial: Any = None,
    *,
    show: bool = True,
    **kwargs: Any,
) -> Any:
    """Open the interactive viewer; returns the figure (its :class:`Viewer` is ``figure.viewer``).

    In a script run the GUI loop afterwards (``fastplotlib.loop.run()``); in Jupyter
    (with ``jupyter_rfb``) the canvas is displayed in the cell. Where wgpu finds no
    usable GPU adapter it raises :class:`RendererUnavailable` with one line naming the
    fix (or pass ``renderer="matplotlib", offscreen=True`` for a static picture).

    Parameters
    ----------
    obj, array, window, proteins, spatial
        See :class:`Viewer`.
    show : bool
        Show the figure now (default True).
    **kwargs
        Other :class:`Viewer` options (``groupby``, ``start``, ``protein``, ``clim``,
        ``cmap``, ``zlim``, ``prefetch``, ``size``, ``imgui``, ``canvas``, ``offscreen``,
        ``renderer``).

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> T = lazyact.ridge.projection(rng.standard_normal((200, 6)), lambda_=100.0)
    >>> act = lazyact.LazyActivity(T, 20, rng.standard_normal((200, 300)))
    >>> types = np.array(["B", "T", "NK"])[rng.integers(0, 3, 300)]  # or an obs column's name
    >>> fig = lazyact.view(act, array="zscore", groupby=types, window=100, offscreen=True)
    >>> fig.viewer.scroll(1)
    >>> fig.viewer.start, fig.viewer.stop
    (100, 200)
    >>> fig.viewer.close()

    In a script, ``offscreen`` is left out and the GUI loop runs last:
    ``import fastplotlib; fastplotlib.loop.run()``.
    """
    viewer = Viewer(obj, array, window, proteins, spatial, **kwargs)
    fig = viewer.figure
    try:
        fig.viewer = viewer
    except AttributeError:  # pragma: no cover - a figure that takes no attributes
        pass
    if show:
        out = viewer.show()
        if viewer.panels.in_notebook:
            try:  # pragma: no cover - notebook only
                from IPython.display import display

                display(out)
            except ImportError:  # pragma: no cover
                pass
    return fig


def render_png(obj: Any, path: str | os.PathLike | None = None, **view_kwargs: Any) -> np.ndarray:
    """Render the viewer's first picture offscreen and write it as a PNG.

    Used by ``lazyact view ... --png FILE``. Only the shown window (and the selected
    protein's row when there is a spatial panel) is computed; nothing is prefetched.
    Drawn by fastplotlib; where wgpu finds no usable GPU adapter, by matplotlib (the
    same panels), with one :class:`RendererFallbackWarning` saying so.

    Parameters
    ----------
    obj
        What to show (see :class:`Viewer`).
    path : str or path, optional
        PNG file to write (nothing is written when None).
    **view_kwargs
        :class:`Viewer` options: ``array``, ``window``, ``proteins``, ``spatial``,
        ``groupby``, ``start``, ``protein``, ``clim``, ``cmap``, ``size``, ``renderer``...

    Returns
    -------
    numpy.ndarray
        The ``(H, W, 4)`` uint8 picture.

    Examples
    --------
    >>> import os, tempfile, numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> T = lazyact.ridge.projection(rng.standard_normal((200, 6)), lambda_=100.0)
    >>> act = lazyact.LazyActivity(T, 20, rng.standard_normal((200, 300)))
    >>> path = os.path.join(tempfile.mkdtemp(), "view.png")
    >>> lazyact.viz.render_png(act, path, size=(800, 480)).shape, os.path.exists(path)
    ((480, 800, 4), True)
    """
    view_kwargs.setdefault("prefetch", False)
    view_kwargs.setdefault("imgui", False)
    view_kwargs["offscreen"] = True
    view_kwargs.pop("canvas", None)
    viewer = Viewer(obj, **view_kwargs)
    try:
        img = viewer.frame()
    finally:
        viewer.close()
    if path is not None:
        import imageio.v3 as iio

        iio.imwrite(os.fspath(path), img[..., :3])
    return img
