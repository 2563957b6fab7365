"""Interactive fastplotlib viewer that computes only what is on screen.

:class:`Viewer` shows a heatmap of proteins x a window of samples, a trace of the
selected protein over that window, and (when spatial coordinates are known) a scatter
of all spots coloured by the selected protein. Each window is one block read of a lazy
view (``act.zscore[rows, start:stop]``) on a background thread
(:class:`~lazyact.viz.prefetch.Prefetcher`). The first window is read while fastplotlib
is imported and the figure is built, and the first frame does not wait for it (it says
"loading"); once it has been drawn, the next and previous windows are read into the
block cache, so scrolling finds them ready. Contrast limits follow
:mod:`lazyact.viz.limits` and are never taken from a scan of the whole array.

Keyboard (on the canvas):

==========================  ==========================================================
``Right`` / ``j`` / PgDn    next window
``Left`` / ``k`` / PgUp     previous window
``Shift`` + ``Right/Left``  scroll by a tenth of a window
``Home`` / ``End``          first / last window
``Up`` / ``Down``           select the previous / next protein (heatmap row)
``1`` ... ``5``             switch the view (beta, se, zscore, pvalue, -log10 p)
==========================  ==========================================================

Clicking a heatmap row selects that protein; clicking a spot of the spatial scatter moves
the window to that sample. With ``imgui-bundle`` installed a control panel adds a slider
over samples, a view selector, a protein selector and contrast limits.
"""
from __future__ import annotations

import os
import tempfile
import time
import warnings
from typing import Any

import numpy as np

from ._source import ActivitySource, Cancelled, resolve
from .limits import DEFAULT_ZLIM, colormap, contrast_limits
from .prefetch import Prefetcher

__all__ = ["Viewer", "default_window", "import_fastplotlib", "view"]

#: Cells (proteins x samples) a default window holds at most.
WINDOW_CELLS = 65536
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


def import_fastplotlib(offscreen: bool = False) -> Any:
    """Import fastplotlib; ``offscreen=True`` forces the offscreen canvas if not yet imported.

    Interactive use must not force offscreen: then rendercanvas picks a GUI backend
    (Qt, glfw or Jupyter) and an ``ImportError`` explains what to install when none is
    available.
    """
    import sys

    if offscreen and "fastplotlib" not in sys.modules:
        os.environ.setdefault("RENDERCANVAS_FORCE_OFFSCREEN", "1")
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    try:
        import fastplotlib as fpl
    except ImportError as exc:
        raise ImportError(
            "the lazyact viewer needs fastplotlib with a GUI backend: pip install 'lazyact[viz]' glfw "
            "(or pyside6; in Jupyter, jupyter-rfb). Without a display use lazyact.viz.render_png or "
            f"RENDERCANVAS_FORCE_OFFSCREEN=1. ({exc})"
        ) from exc
    return fpl


def _figure_class(fpl: Any, imgui: bool | None) -> tuple[Any, bool]:
    from fastplotlib import layouts

    has_imgui = bool(getattr(layouts, "IMGUI", False))
    if has_imgui and imgui is not False:
        return layouts.ImguiFigure, True
    if imgui and not has_imgui:
        warnings.warn("imgui-bundle is not installed: the viewer runs without its control panel", stacklevel=3)
    return layouts.Figure, False


class Viewer:
    """Heatmap, trace and spatial panels over a lazy activity, computed window by window.

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
    start : int or str
        First sample shown (a position or a sample name); clamped so a full window fits.
    protein : str or int, optional
        Protein selected first (name, or position among ``proteins``); default the first.
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
        Protein names left of the heatmap rows (None: when rows are at least 9 px tall).
    offscreen : bool
        Render to an offscreen canvas (tests, :func:`render_png`).

    Attributes
    ----------
    source : ActivitySource
        The named views being shown.
    figure : fastplotlib.Figure
        The figure (``figure["heatmap"]``, ``figure["trace"]``, ``figure["spatial"]``).
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
    >>> v = Viewer(act, window=100, offscreen=True, prefetch=False)  # doctest: +SKIP
    >>> v.frame().shape, v.start, v.stop                                   # doctest: +SKIP
    ((700, 1200, 4), 0, 100)
    >>> v.scroll(1); v.select(3); v.set_view("pvalue")                    # doctest: +SKIP
    >>> act.store.stats.cells  # two windows of 6 x 100; switching views is free  # doctest: +SKIP
    1200
    """

    def __init__(
        self,
        obj: Any,
        array: str | None = None,
        window: int | None = None,
        proteins: Any = None,
        spatial: Any = None,
        *,
        start: int | str = 0,
        protein: Any = None,
        clim: Any = None,
        cmap: Any = None,
        zlim: float = DEFAULT_ZLIM,
        prefetch: bool = True,
        size: tuple[int, int] = (1200, 700),
        imgui: bool | None = None,
        labels: bool | None = None,
        offscreen: bool = False,
    ) -> None:
        self.source: ActivitySource = resolve(obj, spatial)
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
        self._sel = 0 if protein is None else self._row_index(protein)
        self._zlim = float(zlim)
        self._user_clim = clim if (clim is None or isinstance(clim, dict)) else {self._view: clim}
        self._user_cmap = cmap if (cmap is None or isinstance(cmap, dict)) else {self._view: cmap}
        self._clims: dict[str, tuple[float, float]] = {}
        self.prefetch = bool(prefetch)
        self._offscreen = bool(offscreen)
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

        try:
            # The first window is read on the background thread while fastplotlib is
            # imported and the figure built here; the render loop shows it when it arrives
            # (``frame()`` and ``wait()`` wait for it). Limits that come from the values
            # (beta / se without stored summaries) are taken from it then.
            self._t_request = time.perf_counter()
            self._pending_window = self._window_key(self._view, self._start)
            self._dispatch()
            self._build_figure(size, imgui)
        except BaseException:
            self._loader.close()
            raise
        self._request_row()
        self._apply_pending(block=False)  # already read (e.g. cached): on screen at once

    # ------------------------------------------------------------------ properties
    @property
    def view(self) -> str:
        """Name of the view on screen."""
        return self._view

    @property
    def start(self) -> int:
        """First sample of the (requested) window."""
        return self._start

    @property
    def stop(self) -> int:
        """One past the last sample of the window."""
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

    # ------------------------------------------------------------------ helpers
    def _clamp(self, start: int) -> int:
        return int(min(max(0, int(start)), self.source.shape[1] - self.window))

    def _sample_position(self, start: Any) -> int:
        if isinstance(start, (int, np.integer)) and not isinstance(start, (bool, np.bool_)):
            return int(start)
        try:
            loc = self.source.samples.get_loc(start)
        except KeyError:
            raise KeyError(f"unknown sample {start!r}") from None
        return int(loc.start if isinstance(loc, slice) else loc)

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
        return self.source.read_raw(base, np.array([row]), 0, self.source.shape[1], cancelled)[0]

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

    def _cmap(self, view: str) -> str:
        if self._user_cmap and view in self._user_cmap:
            return self._user_cmap[view]
        return colormap(view)

    # ------------------------------------------------------------------ figure
    def _build_figure(self, size: tuple[int, int], imgui: bool | None) -> None:
        fpl = import_fastplotlib(self._offscreen)
        Figure, self._imgui = _figure_class(fpl, imgui)
        has_spatial = self.source.spatial is not None
        if has_spatial:
            rects = {"heatmap": (0, 0, 0.64, 0.7), "trace": (0, 0.7, 0.64, 0.3), "spatial": (0.64, 0, 0.36, 1)}
        else:
            rects = {"heatmap": (0, 0, 1, 0.7), "trace": (0, 0.7, 1, 0.3)}
        kwargs: dict[str, Any] = {"rects": rects, "size": tuple(int(s) for s in size)}
        if self._offscreen:
            kwargs["canvas"] = "offscreen"
        self.figure = Figure(**kwargs)
        fig = self.figure
        hm, tr = fig["heatmap"], fig["trace"]
        lo, hi = self.clim
        nr, w = self.data.shape
        self.image = hm.add_image(
            self.data, vmin=lo, vmax=hi, cmap=self._cmap(self._view), interpolation="nearest", name="heatmap"
        )
        self.image.visible = self._raw is not None  # hidden until the first window arrives
        r = self._sel
        self.outline = hm.add_line(self._outline_points(r), colors="w", thickness=2.0, name="selection")
        x = np.arange(self._start, self.stop, dtype=np.float32)
        self.zero_line = tr.add_line(
            np.array([[x[0], 0.0, 0.0], [x[-1], 0.0, 0.0]], dtype=np.float32), colors="gray", thickness=1.0
        )
        self.zero_line.visible = lo < 0 < hi
        self.trace = tr.add_line(
            np.column_stack([x, self.data[r], np.zeros_like(x)]).astype(np.float32),
            colors="w",
            thickness=1.5,
            name="trace",
        )
        self.trace.visible = self._raw is not None
        self.scatter = self.window_spots = None
        if has_spatial:
            sp = fig["spatial"]
            xy = self.source.spatial
            m = xy.shape[0]
            pos = np.zeros((m, 3), dtype=np.float32)
            pos[:, :2] = xy
            size_px = float(np.clip(600.0 / np.sqrt(m), 1.5, 8.0))
            self.scatter = sp.add_scatter(
                pos,
                cmap=self._cmap(self._view),
                cmap_transform=np.zeros(m, dtype=np.float32),
                cmap_range=(lo, hi),
                sizes=size_px,
                edge_colors=None,
                markers="o",
                name="spots",
            )
            hl = np.zeros((self.window, 3), dtype=np.float32)
            hl[:, :2] = xy[self._start : self.stop]
            hl[:, 2] = 1.0
            self.window_spots = sp.add_scatter(
                hl,
                colors=(0, 0, 0, 0),
                edge_colors=(1, 1, 1, 0.7),
                edge_width=1.0,
                sizes=size_px + 3.0,
                markers="o",
                name="window",
            )
            self.scatter.add_event_handler(self._on_spot_click, "click")
        self.image.add_event_handler(self._on_heatmap_click, "click")
        fig.renderer.add_event_handler(self._on_key, "key_down")
        fig.add_animations(self._poll)
        fig.add_animations(self._after_render, pre_render=False, post_render=True)
        if self._imgui:
            self._add_panel()
        self._update_titles()

    def _outline_points(self, r: int) -> np.ndarray:
        w = self.window
        return np.array(
            [[-0.5, r - 0.5, 1], [w - 0.5, r - 0.5, 1], [w - 0.5, r + 0.5, 1], [-0.5, r + 0.5, 1], [-0.5, r - 0.5, 1]],
            dtype=np.float32,
        )

    def _add_labels(self) -> None:
        """Protein names left of the heatmap rows (when the rows are tall enough to read)."""
        self.labels = []
        hm = self.figure["heatmap"]
        nr = self.rows.size
        _, _, vw, vh = hm.viewport.rect
        row_px = vh / max(1, nr)
        if self._labels is False or (self._labels is None and row_px < 9):
            self._label_px = 0.0
            return
        names = [str(p) for p in self.source.proteins[self.rows]]
        font = float(np.clip(row_px * 0.7, 7, 13))
        self._label_px = float(min(0.3 * vw, 0.62 * font * max(len(n) for n in names) + 12))
        for r, name in enumerate(names):
            t = hm.add_text(name, font_size=font, face_color="w", anchor="middle-right", offset=(-0.5, r, 0))
            self.labels.append(t)
        self._place_labels()

    def _place_labels(self) -> None:
        if not self.labels:
            return
        hm = self.figure["heatmap"]
        w = self.window
        vw = hm.viewport.rect[2]
        margin = w * self._label_px / max(1.0, vw - self._label_px)
        for r, t in enumerate(self.labels):
            t.offset = (-0.5 - 0.1 * margin, r, 2)
            t.face_color = "yellow" if r == self._sel else "w"
        hm.x_range = (-0.5 - margin, w - 0.5)

    def _fit_cameras(self) -> None:
        hm, tr = self.figure["heatmap"], self.figure["trace"]
        nr, w = self.data.shape
        hm.x_range = (-0.5, w - 0.5)
        hm.y_range = (-0.5, nr - 0.5)
        if not hasattr(self, "labels"):
            self._add_labels()
        self._place_labels()
        self._fit_trace()
        if self.scatter is not None:
            sp = self.figure["spatial"]
            sp.camera.maintain_aspect = True
            sp.auto_scale(maintain_aspect=True)

    def _fit_trace(self) -> None:
        tr = self.figure["trace"]
        tr.x_range = (self._shown_start - 0.5, self._shown_start + self.window - 0.5)
        lo, hi = self.clim
        y = self.data[self._sel]
        y = y[np.isfinite(y)]
        if y.size:
            lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
        pad = 0.05 * (hi - lo)
        tr.y_range = (lo - pad, hi + pad)

    def show(self) -> Any:
        """Show the figure (starts its render loop in a GUI; no-op offscreen). Returns its output."""
        if self._shown:
            return getattr(self.figure, "_output", None)
        out = self.figure.show(maintain_aspect=False, axes_visible=False)
        self._shown = True
        self.figure["trace"].axes.visible = True
        self._fit_cameras()
        return out

    def _update_titles(self) -> None:
        m = self.source.shape[1]
        s = self._shown_start
        name = str(self.protein)
        status = " (loading)" if self._pending_window is not None else ""
        if not status and self._raw is None and self._error is not None:
            status = " (reading failed)"
        self.figure["heatmap"].title = f"{self._view}: samples {s}-{s + self.window - 1} of {m}{status}"
        self.figure["trace"].title = f"{name} ({self._view})"
        if self.scatter is not None:
            status = " (loading)" if self._pending_row is not None else ""
            self.figure["spatial"].title = f"{name} {self._view}{status}"

    @property
    def _shown_start(self) -> int:
        key = self._shown_window_key
        return int(key[2]) if key is not None else self._start

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
                self._update_titles()
        self._dispatch()

    def _request_row(self) -> None:
        """Bring the selected protein's row (all samples) to the spatial panel."""
        if self.scatter is None:
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
                self._update_titles()
        self._dispatch()

    def _apply_window(self, key: tuple, raw: np.ndarray | None) -> None:
        if raw is not None:
            self._raw = raw
            self._shown_window_key = key
        if self._raw is None:  # pragma: no cover - nothing read yet
            return
        self.data = self.source.transform(self._view, self._raw)
        lo, hi = self._limits(self._view)
        if self.image.data.value.shape == self.data.shape:
            self.image.data[:] = self.data
        else:  # pragma: no cover - the window shape is fixed
            self.image.data = self.data
        self.image.vmin, self.image.vmax = lo, hi
        self.image.visible = self.trace.visible = True
        if self.scatter is not None:
            self.scatter.cmap_range = (lo, hi)
        s = self._shown_start
        x = np.arange(s, s + self.window, dtype=np.float32)
        self.trace.data[:, 0] = x
        self.trace.data[:, 1] = self.data[self._sel]
        self.zero_line.data[:, 0] = (x[0], x[-1])
        self.zero_line.visible = lo < 0 < hi
        self.outline.data[:] = self._outline_points(self._sel)
        if self.window_spots is not None:
            self.window_spots.data[:, :2] = self.source.spatial[s : s + self.window]
        if self._shown:
            self._fit_trace()
        self._update_titles()
        self.last_latency = time.perf_counter() - self._t_request

    def _apply_row(self, key: tuple, raw: np.ndarray | None) -> None:
        if raw is not None:
            self._row_raw = raw
            self._shown_row_key = key
        if self._row_raw is not None:
            vals = self.source.transform(self._view, self._row_raw[None, :])[0]
            self.scatter.cmap_transform = np.nan_to_num(vals, nan=0.0)
        self.scatter.cmap_range = self._limits(self._view)
        self._update_titles()

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

    def _poll(self, figure: Any = None) -> None:
        """Render-loop hook: put finished reads on screen (never waits)."""
        try:
            self._apply_pending(block=False)
        except Exception as exc:  # keep the render loop alive; report once
            if self._error is None:
                self._error = exc
                warnings.warn(f"lazyact viewer: reading failed: {exc!r}", RuntimeWarning, stacklevel=1)
            self._pending_window = self._pending_row = None
            self._update_titles()

    def _after_render(self, figure: Any = None) -> None:
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
        for _ in range(4):  # a cancelled-and-resubmitted read may need a second round
            self._apply_pending(block=True)
            if not self.loading:
                break
        if prefetch:
            self._release_prefetch()
            self._loader.wait()

    # ------------------------------------------------------------------ actions
    def goto(self, start: int | str) -> None:
        """Show the window starting at sample ``start`` (a position or a name; clamped)."""
        self._start = self._clamp(self._sample_position(start))
        self._hold_prefetch = False  # navigating: keep the neighbours coming
        self._request_window()

    def scroll(self, n: float = 1, step: int | None = None) -> None:
        """Scroll by ``n`` windows (or by ``n * step`` samples when ``step`` is given).

        Examples
        --------
        >>> viewer.scroll(1); viewer.scroll(-2, step=10)  # doctest: +SKIP
        """
        delta = int(round(n * (self.window if step is None else int(step))))
        self.goto(self._start + delta)

    def select(self, protein: Any) -> None:
        """Select a protein by name or by heatmap row number (trace and spatial follow)."""
        self._sel = self._row_index(protein)
        self.trace.data[:, 1] = self.data[self._sel]
        self.outline.data[:] = self._outline_points(self._sel)
        for r, t in enumerate(getattr(self, "labels", ())):
            t.face_color = "yellow" if r == self._sel else "w"
        if self._shown:
            self._fit_trace()
        self._update_titles()
        self._request_row()

    def set_view(self, name: str) -> None:
        """Switch the statistic shown (``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"``, ``"-log10p"``).

        For a :class:`~lazyact.LazyActivity` the four statistics are computed together,
        so switching reads the cached block; ``pvalue`` and ``-log10p`` share one read.
        """
        name = self.source.check_view(name)
        if name == self._view:
            return
        self._view = name
        self.image.cmap = self._cmap(name)
        if self.scatter is not None:
            self.scatter.cmap = self._cmap(name)
        self._request_window()
        self._request_row()

    def set_clim(self, lo: float, hi: float, view: str | None = None) -> None:
        """Set the contrast limits of ``view`` (default: the view on screen)."""
        from .limits import _pair

        view = self._view if view is None else self.source.check_view(view)
        self._clims[view] = _pair((lo, hi))
        if view == self._view:
            self.image.vmin, self.image.vmax = self._clims[view]
            if self.scatter is not None:
                self.scatter.cmap_range = self._clims[view]
            self.zero_line.visible = self._clims[view][0] < 0 < self._clims[view][1]
            if self._shown:
                self._fit_trace()

    def frame(self) -> np.ndarray:
        """Wait for pending reads, draw, and return the picture as an ``(H, W, 4)`` uint8 array."""
        self.show()
        canvas = self.figure.canvas
        if hasattr(canvas, "draw") and not self._drawn and self.loading:
            # nothing drawn yet: draw the "loading" frame while the first window is read, so
            # the renderer's one-off set-up (shaders, pipelines) overlaps the computation
            canvas.draw()
        self.wait()
        if hasattr(canvas, "draw"):
            return np.asarray(canvas.draw())
        self.figure._render(draw=False)  # pragma: no cover - GUI canvases
        return np.asarray(self.figure.renderer.snapshot())  # pragma: no cover

    def close(self) -> None:
        """Stop background reads and close the canvas."""
        if self._closed:
            return
        self._closed = True
        self._loader.close()
        try:
            self.figure.canvas.close()
        except Exception:  # pragma: no cover - already closed
            pass

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        p, m = self.source.shape
        return (
            f"<Viewer {self._view}: {self.rows.size} of {p} proteins x samples {self._start}-{self.stop - 1} "
            f"of {m}, selected {self.protein!r}>"
        )

    # ------------------------------------------------------------------ events
    def _on_key(self, ev: Any) -> None:
        key = getattr(ev, "key", None)
        mods = tuple(getattr(ev, "modifiers", ()) or ())
        if key in _SCROLL_KEYS:
            if "Shift" in mods and key.startswith("Arrow"):
                self.scroll(_SCROLL_KEYS[key], step=max(1, self.window // 10))
            else:
                self.scroll(_SCROLL_KEYS[key])
        elif key == "Home":
            self.goto(0)
        elif key == "End":
            self.goto(self.source.shape[1])
        elif key == "ArrowUp":
            self.select(max(0, self._sel - 1))
        elif key == "ArrowDown":
            self.select(min(self.rows.size - 1, self._sel + 1))
        elif isinstance(key, str) and key.isdigit() and key != "0":
            i = int(key) - 1
            views = self.source.views
            if i < len(views):
                self.set_view(views[i])

    def _on_heatmap_click(self, ev: Any) -> None:
        info = getattr(ev, "pick_info", None) or {}
        index = info.get("index")
        if index is None:
            return
        col, row = (int(i) for i in index[:2])
        if 0 <= row < self.rows.size:
            self.select(row)

    def _on_spot_click(self, ev: Any) -> None:
        info = getattr(ev, "pick_info", None) or {}
        idx = info.get("vertex_index", info.get("index"))
        if idx is None:
            return
        self.goto(int(np.ravel(idx)[0]) - self.window // 2)

    # ------------------------------------------------------------------ imgui
    def _add_panel(self) -> None:  # pragma: no cover - needs imgui-bundle
        from imgui_bundle import imgui

        viewer = self
        names = [str(p) for p in self.source.proteins[self.rows]]

        def panel() -> None:
            m = viewer.source.shape[1]
            width = imgui.get_content_region_avail().x
            imgui.set_next_item_width(max(100.0, width * 0.62))
            changed, s = imgui.slider_int("first sample", viewer.start, 0, max(0, m - viewer.window))
            if changed:
                viewer.goto(s)
            imgui.same_line()
            views = list(viewer.source.views)
            imgui.set_next_item_width(110.0)
            changed, i = imgui.combo("view", views.index(viewer.view), views)
            if changed:
                viewer.set_view(views[i])
            imgui.set_next_item_width(max(100.0, width * 0.3))
            changed, j = imgui.combo("protein", viewer.selected, names)
            if changed:
                viewer.select(j)
            imgui.same_line()
            lo, hi = viewer.clim
            imgui.set_next_item_width(220.0)
            changed, vals = imgui.input_float2("limits", [lo, hi])
            if changed and vals[1] > vals[0]:
                viewer.set_clim(vals[0], vals[1])

        self.figure.add_imgui_window(panel, location="bottom", size=60)


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
    """Open the interactive viewer; returns the fastplotlib ``Figure``.

    The figure's :class:`Viewer` is at ``figure.viewer`` (scroll, select, set_view,
    set_clim, frame). In a script run the GUI loop afterwards
    (``fastplotlib.loop.run()``); in Jupyter the canvas is displayed in the cell.

    Parameters
    ----------
    obj, array, window, proteins, spatial
        See :class:`Viewer`.
    show : bool
        Show the figure now (default True).
    **kwargs
        Other :class:`Viewer` options (``start``, ``protein``, ``clim``, ``cmap``,
        ``zlim``, ``prefetch``, ``size``, ``imgui``, ``offscreen``).

    Examples
    --------
    >>> import lazyact
    >>> fig = lazyact.view(act, array="zscore", proteins=["IL6", "TGFB1"])  # doctest: +SKIP
    >>> fig.viewer.scroll(1)                                                # doctest: +SKIP
    >>> import fastplotlib; fastplotlib.loop.run()                          # doctest: +SKIP
    """
    viewer = Viewer(obj, array, window, proteins, spatial, **kwargs)
    fig = viewer.figure
    fig.viewer = viewer
    if show:
        out = viewer.show()
        if type(fig.canvas).__name__ in ("JupyterRenderCanvas", "AnywidgetRenderCanvas") or (
            type(fig.canvas).__module__.endswith(("jupyter", "anywidget"))
        ):
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

    Parameters
    ----------
    obj
        What to show (see :class:`Viewer`).
    path : str or path, optional
        PNG file to write (nothing is written when None).
    **view_kwargs
        :class:`Viewer` options: ``array``, ``window``, ``proteins``, ``spatial``,
        ``start``, ``protein``, ``clim``, ``cmap``, ``size``, ...

    Returns
    -------
    numpy.ndarray
        The ``(H, W, 4)`` uint8 picture.

    Examples
    --------
    >>> lazyact.viz.render_png(act, "view.png", protein="IL6", start=1000)  # doctest: +SKIP
    """
    view_kwargs.setdefault("prefetch", False)
    view_kwargs.setdefault("imgui", False)
    view_kwargs["offscreen"] = True
    # fastplotlib is imported (offscreen) by the viewer while its window is read
    viewer = Viewer(obj, **view_kwargs)
    try:
        img = viewer.frame()
    finally:
        viewer.close()
    if path is not None:
        import imageio.v3 as iio

        iio.imwrite(os.fspath(path), img)
    return img
