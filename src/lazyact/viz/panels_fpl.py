"""The viewer's panels drawn by fastplotlib (GPU through wgpu; lavapipe on CPU machines).

:class:`FastplotlibPanels` draws what a :class:`~lazyact.viz.viewer.Viewer` holds:

* ``heatmap``: the window (one image), protein names left of the rows (all when they
  fit, else every k-th; the selected one in yellow), the selected row outlined, the
  group track above (one RGBA image row, the group names written on their segments)
  and the selected cell marked in the strip above the heatmap (never over the data);
* ``colorbar``: the colour map from the lower to the upper limit with round ticks,
  titled with the statistic's name;
* ``legend``: a swatch and the name of each group (those in the window in white);
* ``trace``: the selected protein over the window, the selected cell marked behind it;
* ``spatial``: every spot coloured by the selected protein, sized to tile the panel;
  the window's spots get a halo *under* the data (the data stays visible) and the
  selected cell a reticle around it.

Creating the figure is where wgpu asks for a device; when it cannot get a usable one
this raises :class:`~lazyact.viz.renderer.RendererUnavailable` (one line), and
:func:`~lazyact.viz.viewer.render_png` draws with matplotlib instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .layout import colorbar_ticks, label_step, panel_rects, spot_size
from .panels import PanelUpdates
from .renderer import RendererUnavailable, adapter_problem, import_fastplotlib, no_adapter

__all__ = ["FastplotlibPanels"]

_YELLOW = (1.0, 0.85, 0.1, 1.0)
_TRACK_PX = 14.0  # group track height
_STRIP_PX = 6.0  # strip above the heatmap for the selected-cell marker (no groups)
_GAP_PX = 3.0
_N_SEGMENT_TEXTS = 8


def _luminance(rgba: np.ndarray) -> float:
    r, g, b = (float(c) for c in rgba[:3])
    return 0.299 * r + 0.587 * g + 0.114 * b


def _figure_class(imgui: bool | None) -> tuple[Any, bool]:
    import warnings

    from fastplotlib import layouts

    has_imgui = bool(getattr(layouts, "IMGUI", False))
    if has_imgui and imgui is not False:
        return layouts.ImguiFigure, True
    if imgui and not has_imgui:
        warnings.warn("imgui-bundle is not installed: the viewer runs without its control panel", stacklevel=4)
    return layouts.Figure, False


class FastplotlibPanels(PanelUpdates):
    """fastplotlib figure of a :class:`~lazyact.viz.viewer.Viewer` (see the module doc)."""

    name = "fastplotlib"

    def __init__(self, viewer: Any, size: tuple[int, int], imgui: bool | None = None, canvas: Any = None,
                 offscreen: bool = False) -> None:
        self.v = viewer
        self.output: Any = None
        # what is on screen now, so that an update re-lays out only what changed (pygfx
        # transforms and text layout cost 0.1-0.5 ms per object)
        self._cmap: str | None = None
        self._cbar_key: tuple | None = None
        self._titles: dict[str, str] = {}
        self._labels_x: float | None = None
        self._col_margin = 0.0  # heatmap label margin, in columns; the trace keeps it too
        self._laid_out = False  # axes placed around their tick labels (needs a second frame)
        fpl = import_fastplotlib(offscreen)
        Figure, self._imgui = _figure_class(imgui)
        src = viewer.source
        self._groups = src.groups
        self._rects = panel_rects(size, src.spatial is not None, self._groups is not None)
        kwargs: dict[str, Any] = {"rects": self._rects, "size": size}
        if offscreen:
            canvas = "offscreen"
        if canvas is not None:
            kwargs["canvas"] = canvas
        if no_adapter() is not None:  # failed before in this process: pygfx would not say why again
            raise RendererUnavailable(no_adapter())
        try:
            self.figure = Figure(**kwargs)
        except RuntimeError as exc:  # wgpu: no adapter, or one without the features pygfx needs
            raise RendererUnavailable(no_adapter(adapter_problem(exc))) from None
        self._fpl = fpl
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        v, fig = self.v, self.figure
        hm, tr = fig["heatmap"], fig["trace"]
        lo, hi = v.clim
        nr, w = v.data.shape
        self.image = hm.add_image(v.data, vmin=lo, vmax=hi, cmap=v.cmap(), interpolation="nearest", name="heatmap")
        self.image.visible = False  # hidden until the first window arrives
        # cells without a value (NaN: samples without an answer) are drawn as holes, in the panel's
        # background colour, by an RGBA layer over the image (the colour map would draw NaN as its low end)
        self._hole = np.asarray(hm.background_color[0].rgba, dtype=np.float32)
        self.missing = hm.add_image(np.zeros((nr, w, 4), dtype=np.float32), vmin=0.0, vmax=1.0,
                                    interpolation="nearest", name="missing")
        self.missing.offset = (0, 0, 1)
        self.missing.visible = False
        self.outline = hm.add_line(self._outline_points(v.selected), colors="w", thickness=2.0, name="selection")
        self.track = self.track_texts = None
        if self._groups is not None:
            self.track = hm.add_image(np.ones((1, w, 4), dtype=np.float32), vmin=0.0, vmax=1.0, name="track")
            self.track.visible = False
            self.track_texts = [
                hm.add_text(" ", font_size=10, face_color="w", anchor="middle-center", offset=(0, -1, 3))
                for _ in range(_N_SEGMENT_TEXTS)
            ]
        self.cell_marker = hm.add_line(np.zeros((2, 3), np.float32), colors=_YELLOW, thickness=2.0, name="cell")
        self.cell_marker.visible = False
        x = np.arange(v.start, v.stop, dtype=np.float32)
        self.zero_line = tr.add_line(
            np.array([[x[0], 0.0, 0.0], [x[-1], 0.0, 0.0]], dtype=np.float32), colors="gray", thickness=1.0
        )
        self.zero_line.visible = lo < 0 < hi
        self.trace_marker = tr.add_line(np.zeros((2, 3), np.float32), colors=_YELLOW, thickness=1.5, name="cell")
        self.trace_marker.visible = False
        self.trace = tr.add_line(
            np.column_stack([x, v.data[v.selected], np.zeros_like(x)]).astype(np.float32),
            colors="w", thickness=1.5, name="trace",
        )
        self.trace.visible = False
        self._build_colorbar()
        self._build_legend()
        self.scatter = self.halo = self.reticle = None
        if v.source.spatial is not None:
            self._build_spatial()
        self.image.add_event_handler(self._on_heatmap_click, "click")
        self.missing.add_event_handler(self._on_heatmap_click, "click")
        fig.renderer.add_event_handler(self._on_key, "key_down")
        fig.add_animations(self._poll)
        fig.add_animations(self._after_render, pre_render=False, post_render=True)
        if self._imgui:
            self._add_panel()
        self.labels: list = []
        self.sel_label = None
        self.update_titles()

    def _build_colorbar(self) -> None:
        cb = self.figure["colorbar"]
        grad = np.linspace(1.0, 0.0, 256, dtype=np.float32)[:, None]
        self.cbar = cb.add_image(grad, vmin=0.0, vmax=1.0, cmap=self.v.cmap(), interpolation="nearest",
                                 name="colorbar")
        self.cbar_texts = [cb.add_text(" ", font_size=11, face_color="w", anchor="middle-left", offset=(1.0, 0, 1))
                           for _ in range(12)]

    def _build_legend(self) -> None:
        self.legend_texts: list = []
        self.swatches = None
        if self._groups is None:
            return
        g = self._groups
        lg = self.figure["legend"]
        _, _, _, h_px = self._panel_px("legend")
        fit = max(1, int((h_px - 30) // 16))
        n = len(g)
        shown = n if n <= fit else fit - 1
        sw = np.ones((max(1, shown), 1, 4), dtype=np.float32)
        sw[:shown, 0] = g.colors[:shown]
        self.swatches = lg.add_image(sw, vmin=0.0, vmax=1.0, name="swatches")
        self._legend_fit = fit
        for i in range(shown):
            name = str(g.categories[i])
            if len(name) > 16:
                name = name[:14] + "..."
            self.legend_texts.append(
                lg.add_text(name, font_size=11, face_color="w", anchor="middle-left", offset=(0.9, i, 1))
            )
        if shown < n:
            self.legend_texts.append(lg.add_text(f"+{n - shown} more", font_size=11, face_color="gray",
                                                 anchor="middle-left", offset=(-0.4, shown, 1)))

    def _build_spatial(self) -> None:
        v = self.v
        sp = self.figure["spatial"]
        xy = v.source.spatial
        m = xy.shape[0]
        _, _, w_px, h_px = self._panel_px("spatial")
        self._spot_px = spot_size(xy, w_px, h_px - 30)
        lo, hi = v.clim
        # the window's halo first and below: the data spots are drawn over it
        hl = np.zeros((v.window, 3), dtype=np.float32)
        hl[:, :2] = xy[v.window_samples]
        hl[:, 2] = -1.0
        self.halo = sp.add_scatter(hl, colors=(1, 1, 1, 1), sizes=self._spot_px + 5.0, markers="o",
                                   edge_colors=None, name="window")
        self.halo.world_object.render_order = -1  # drawn first ...
        self.halo.world_object.material.depth_write = False  # ... and never in front of a spot
        pos = np.zeros((m, 3), dtype=np.float32)
        pos[:, :2] = xy
        self.scatter = sp.add_scatter(
            pos, cmap=v.cmap(), cmap_transform=np.zeros(m, dtype=np.float32), cmap_range=(lo, hi),
            sizes=self._spot_px, edge_colors=None, markers="o", name="spots",
        )
        # spots without a value (NaN: samples without an answer) are covered in the panel's background colour
        pos[:, 2] = 1.0
        self._spot_hole = np.asarray(sp.background_color[0].rgba, dtype=np.float32)
        self.holes = sp.add_scatter(pos, colors=np.zeros((m, 4), dtype=np.float32), sizes=self._spot_px + 1.0,
                                    edge_colors=None, markers="o", name="missing spots")
        self.holes.visible = False
        self.holes.add_event_handler(self._on_spot_click, "click")
        self.reticle = sp.add_line(np.full((11, 3), np.nan, dtype=np.float32), colors=_YELLOW, thickness=1.5,
                                   name="cell")
        self.reticle.visible = False
        self.scatter.add_event_handler(self._on_spot_click, "click")

    def _panel_px(self, name: str) -> tuple[float, float, float, float]:
        """Pixel rectangle (x, y, w, h) of a panel's viewport (its drawing area)."""
        try:
            return tuple(float(t) for t in self.figure[name].viewport.rect)  # type: ignore[return-value]
        except Exception:  # pragma: no cover - before the canvas has a size
            W, H = self.figure.canvas.get_logical_size()
            x, y, w, h = self._rects[name]
            return x * W, y * H, w * W, h * H

    def _outline_points(self, r: int) -> np.ndarray:
        w = self.v.window
        return np.array(
            [[-0.5, r - 0.5, 1], [w - 0.5, r - 0.5, 1], [w - 0.5, r + 0.5, 1], [-0.5, r + 0.5, 1], [-0.5, r - 0.5, 1]],
            dtype=np.float32,
        )

    # ------------------------------------------------------------------ geometry (at show)
    def _fit(self) -> None:
        v = self.v
        hm = self.figure["heatmap"]
        nr, w = v.data.shape
        _, _, vw, vh = self._panel_px("heatmap")
        strip_px = (_TRACK_PX if self._groups is not None else _STRIP_PX) + _GAP_PX
        self._row_px = max(1e-3, (vh - strip_px) / max(1, nr))
        per = 1.0 / self._row_px  # world units per pixel (y)
        self._track_y = (-0.5 - _GAP_PX * per - (strip_px - _GAP_PX) * per, -0.5 - _GAP_PX * per)
        hm.y_range = (self._track_y[0], nr - 0.5)
        if self.track is not None:
            lo_y, hi_y = self._track_y
            self.track.scale = (1.0, hi_y - lo_y, 1.0)
            self.track.offset = (0.0, (lo_y + hi_y) / 2, 0.5)
        self._add_labels(vw, vh)
        self._place_labels()
        self._fit_trace()
        cb = self.figure["colorbar"]
        _, _, cw, ch = self._panel_px("colorbar")
        x0 = -0.5 - 6.0 / 16.0
        cb.x_range = (x0, x0 + cw / 16.0)
        pad = 10.0 * 256.0 / max(1.0, ch - 20.0)
        cb.y_range = (-0.5 - pad, 255.5 + pad)
        cb.controller.enabled = False
        if self.swatches is not None:
            lg = self.figure["legend"]
            _, _, lw, lh = self._panel_px("legend")
            x0 = -0.5 - 4.0 / 14.0
            lg.x_range = (x0, x0 + lw / 14.0)
            lg.y_range = (-0.7, -0.7 + lh / 16.0)
            lg.controller.enabled = False
        if self.scatter is not None:
            sp = self.figure["spatial"]
            sp.camera.maintain_aspect = True
            sp.auto_scale(maintain_aspect=True, zoom=0.95)
            # spots sized to tile the panel at the scale it is shown at
            xy = self.v.source.spatial
            x0, _ = sp.map_world_to_screen((0.0, 0.0, 0.0))[:2]
            x1, _ = sp.map_world_to_screen((1.0, 0.0, 0.0))[:2]
            span = np.ptp(xy, axis=0)
            span = np.where(span > 0, span, 1.0)
            scale = abs(x1 - x0)
            self._spot_px = spot_size(xy, span[0] * scale, span[1] * scale)
            self.scatter.sizes = self._spot_px
            self.holes.sizes = self._spot_px + 1.0
            self.halo.sizes = self._spot_px + 5.0
        self.update("window")

    def _add_labels(self, vw: float, vh: float) -> None:
        """Protein names left of the heatmap rows: all when they fit, else every k-th."""
        v = self.v
        hm = self.figure["heatmap"]
        nr = v.rows.size
        self.labels = []
        self._labels_x = None  # new texts: placed by the next _place_labels
        self._label_px = 0.0
        if v._labels is False:
            return
        step, row_px = label_step(nr, self._row_px * nr)
        names = v.row_names
        font = float(np.clip(row_px * 0.7, 7, 13)) if step == 1 else 9.0
        self._label_px = float(min(0.3 * vw, 0.62 * font * max(len(n) for n in names) + 12))
        self._label_step = step
        for r in range(0, nr, step):
            self.labels.append((r, hm.add_text(names[r], font_size=font, face_color="w", anchor="middle-right",
                                               offset=(-0.5, r, 2))))
        self.sel_label = hm.add_text(names[v.selected], font_size=max(font, 9.0), face_color=_YELLOW,
                                     anchor="middle-right", offset=(-0.5, v.selected, 3))

    def _place_labels(self) -> None:
        v = self.v
        hm = self.figure["heatmap"]
        w = v.window
        vw = self._panel_px("heatmap")[2]
        margin = w * self._label_px / max(1.0, vw - self._label_px) if self._label_px else 0.0
        self._col_margin = margin
        x = -0.5 - 0.1 * margin
        if x != self._labels_x:
            self._labels_x = x
            for r, t in self.labels:
                t.offset = (x, r, 2)
        for r, t in self.labels:
            shown = r != v.selected
            if t.visible != shown:
                t.visible = shown
        if self.sel_label is not None:
            self.sel_label.text = v.row_names[v.selected]
            self.sel_label.offset = (x, v.selected, 3)
        hm.x_range = (-0.5 - margin, w - 0.5)

    def _fit_trace(self) -> None:
        v = self.v
        tr = self.figure["trace"]
        s = v.shown_start
        tr.x_range = (s - 0.5 - self._col_margin, s + v.window - 0.5)
        lo, hi = v.clim
        y = v.data[v.selected]
        y = y[np.isfinite(y)]
        if y.size and v.window_ready:
            lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
        pad = 0.05 * (hi - lo)
        self._trace_y = (lo - pad, hi + pad)
        tr.y_range = self._trace_y

    # ------------------------------------------------------------------ updates
    def _update_window(self) -> None:
        v = self.v
        lo, hi = v.clim
        cmap = v.cmap()
        if cmap != self._cmap:
            self._cmap = cmap
            self.image.cmap = self.cbar.cmap = cmap
            if self.scatter is not None:
                self.scatter.cmap = cmap
        if v.window_ready:
            if self.image.data.value.shape == v.data.shape:
                self.image.data[:] = v.data
            else:  # pragma: no cover - the window shape is fixed
                self.image.data = v.data
            self.image.visible = self.trace.visible = True
            holes = np.isnan(v.data)
            if holes.any() or self.missing.visible:
                rgba = np.zeros((*holes.shape, 4), dtype=np.float32)
                rgba[holes] = self._hole
                self.missing.data[:] = rgba
                self.missing.visible = bool(holes.any())
        self.image.vmin, self.image.vmax = lo, hi
        self._update_colorbar(lo, hi)
        if self.scatter is not None:
            self.scatter.cmap_range = (lo, hi)
            self.halo.data[:, :2] = v.source.spatial[v.window_samples]
        s = v.shown_start
        x = np.arange(s, s + v.window, dtype=np.float32)
        self.trace.data[:, 0] = x
        self.zero_line.data[:, 0] = (x[0], x[-1])
        self.zero_line.visible = lo < 0 < hi
        if self.track is not None and v.window_ready:
            codes = v.window_codes
            self.track.data[:] = self._groups.rgba(codes)[None, :, :]
            self.track.visible = True
            self._update_track_texts(codes)
            self._update_legend(codes)
        self._update_selection()

    def _update_selection(self) -> None:
        v = self.v
        r = v.selected
        self.trace.data[:, 1] = v.data[r]
        self.outline.data[:] = self._outline_points(r)
        if self.labels or self.sel_label is not None:
            self._place_labels()
        if v._shown:
            self._fit_trace()
        cell = v.cell_position
        ok = cell is not None and v.window_ready
        self.cell_marker.visible = self.trace_marker.visible = ok
        if self.reticle is not None:
            self.reticle.visible = ok
        if not ok:
            return
        j = cell - v.shown_start
        if hasattr(self, "_track_y"):
            y0, y1 = self._track_y
            self.cell_marker.data[:] = np.array([[j, y0, 4], [j, y1, 4]], dtype=np.float32)
        ylo, yhi = getattr(self, "_trace_y", v.clim)
        self.trace_marker.data[:] = np.array([[cell, ylo, -1], [cell, yhi, -1]], dtype=np.float32)
        if self.reticle is not None:
            self._place_reticle(int(v.window_samples[j]))

    def _place_reticle(self, sample: int) -> None:
        sp = self.figure["spatial"]
        xy = self.v.source.spatial[sample]
        try:
            x0, y0 = sp.map_world_to_screen((0.0, 0.0, 0.0))[:2]
            x1, _ = sp.map_world_to_screen((1.0, 0.0, 0.0))[:2]
            per_px = 1.0 / max(1e-9, abs(x1 - x0))
        except Exception:  # pragma: no cover - before the first layout
            per_px = 1.0
        r_in = (self._spot_px / 2 + 3.0) * per_px
        r_out = r_in + 7.0 * per_px
        x, y = float(xy[0]), float(xy[1])
        nan = np.nan
        pts = [
            (x - r_out, y), (x - r_in, y), (nan, nan), (x + r_in, y), (x + r_out, y), (nan, nan),
            (x, y - r_out), (x, y - r_in), (nan, nan), (x, y + r_in), (x, y + r_out),
        ]
        data = np.zeros((11, 3), dtype=np.float32)
        data[:, :2] = pts
        data[:, 2] = 2.0
        self.reticle.data[:] = data

    def _update_track_texts(self, codes: np.ndarray) -> None:
        g = self._groups
        segs = sorted(g.segments(codes), key=lambda t: t[1] - t[2])[: len(self.track_texts)]
        hm_w = self._panel_px("heatmap")[2]
        col_px = max(1e-6, (hm_w - getattr(self, "_label_px", 0.0)) / self.v.window)
        y = sum(self._track_y) / 2 if hasattr(self, "_track_y") else -1.0
        for i, t in enumerate(self.track_texts):
            if i < len(segs):
                code, a, b = segs[i]
                name = str(g.categories[code])
                if (b - a) * col_px >= 6.5 * len(name) + 6:
                    t.text = name
                    t.offset = ((a + b - 1) / 2, y, 5)
                    t.face_color = "black" if _luminance(g.colors[code]) > 0.55 else "white"
                    t.visible = True
                    continue
            t.visible = False

    def _update_legend(self, codes: np.ndarray) -> None:
        present = set(np.unique(codes).tolist())
        for i, t in enumerate(self.legend_texts):
            if i < len(self._groups) and not str(t.text).startswith("+"):
                t.face_color = "w" if i in present else (0.55, 0.55, 0.55, 1.0)

    def _update_colorbar(self, lo: float, hi: float) -> None:
        key = (lo, hi, self.v.view)
        if key == self._cbar_key:
            return
        self._cbar_key = key
        ticks = colorbar_ticks(lo, hi, self.v.view)
        for i, t in enumerate(self.cbar_texts):
            if i < len(ticks):
                val, text = ticks[i]
                t.text = text
                t.offset = (0.8, (hi - val) / (hi - lo) * 255.0, 1)
                t.visible = True
            else:
                t.visible = False

    def _update_row(self) -> None:
        if self.scatter is None:
            return
        vals = self.v.row_values
        if vals is not None:
            self.scatter.cmap_transform = np.nan_to_num(vals, nan=0.0)
            holes = np.isnan(vals)
            if holes.any() or self.holes.visible:
                rgba = np.zeros((holes.size, 4), dtype=np.float32)
                rgba[holes] = self._spot_hole
                self.holes.colors = rgba
                self.holes.visible = bool(holes.any())
        self.scatter.cmap_range = self.v.clim

    def update_titles(self) -> None:
        for name, text in self.v.titles().items():
            if self._titles.get(name) == text:
                continue
            try:
                self.figure[name].title = text
                self._titles[name] = text
            except (KeyError, IndexError, ValueError):
                pass

    # ------------------------------------------------------------------ drawing
    def show(self) -> Any:
        self.output = self.figure.show(maintain_aspect=False, axes_visible=False)
        axes = self.figure["trace"].axes
        axes.visible = True
        try:  # no cell numbers in the margin left of the first cell (kept to align with the heatmap)
            axes.x.tick_format = self._cell_tick
        except (AttributeError, ValueError):  # pragma: no cover - another pygfx ruler
            pass
        self._fit()
        return self.output

    def _cell_tick(self, value: float, lo: float, hi: float) -> str:
        if value < self.v.shown_start - 0.5:
            return ""
        return "0" if value == 0 else format(value, "0.4g")

    @property
    def in_notebook(self) -> bool:
        canvas = self.figure.canvas
        return type(canvas).__name__ in ("JupyterRenderCanvas", "AnywidgetRenderCanvas") or (
            type(canvas).__module__.endswith(("jupyter", "anywidget"))
        )

    def draw(self) -> np.ndarray:
        """Render now (the render loop's hooks poll for finished reads first).

        fastplotlib places the trace's axes from the tick labels of the frame before, so the
        first frame with data would clip them at the panel's edge: it is drawn twice.
        """
        img = self._render_once()
        if not self._laid_out and self.v.window_ready:
            self._laid_out = True
            img = self._render_once()
        return img

    def _render_once(self) -> np.ndarray:
        canvas = self.figure.canvas
        if not self.v._shown:
            self.v.show()
        if hasattr(canvas, "draw"):
            return np.asarray(canvas.draw())
        if hasattr(canvas, "get_frame"):  # jupyter_rfb: draws and presents a bitmap
            canvas.get_frame()
            img = getattr(canvas, "_last_image", None)
            if img is not None:
                return np.asarray(img)
        self.figure._render(draw=False)  # pragma: no cover - GUI canvases
        return np.asarray(self.figure.renderer.snapshot())  # pragma: no cover

    def pixel(self, panel: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (column, row) indices of world points of a panel (the 2-D cameras are affine)."""
        sub = self.figure[panel]
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        x0, y0 = sub.map_world_to_screen((0.0, 0.0, 0.0))[:2]
        x1, _ = sub.map_world_to_screen((1.0, 0.0, 0.0))[:2]
        _, y1 = sub.map_world_to_screen((0.0, 1.0, 0.0))[:2]
        return np.floor(x0 + (x1 - x0) * x).astype(int), np.floor(y0 + (y1 - y0) * y).astype(int)

    def close(self) -> None:
        self.figure.canvas.close()

    # ------------------------------------------------------------------ events
    def _poll(self, figure: Any = None) -> None:
        self.v.poll()

    def _after_render(self, figure: Any = None) -> None:
        self.v.after_render()

    def _on_key(self, ev: Any) -> None:
        self.v.key(getattr(ev, "key", None), tuple(getattr(ev, "modifiers", ()) or ()))

    def _on_heatmap_click(self, ev: Any) -> None:
        info = getattr(ev, "pick_info", None) or {}
        index = info.get("index")
        if index is None:
            return
        col, row = (int(i) for i in index[:2])
        self.v.click_heatmap(col, row)

    def _on_spot_click(self, ev: Any) -> None:
        info = getattr(ev, "pick_info", None) or {}
        idx = info.get("vertex_index", info.get("index"))
        if idx is None:
            return
        self.v.click_spot(int(np.ravel(idx)[0]))

    # ------------------------------------------------------------------ imgui
    def _add_panel(self) -> None:  # pragma: no cover - needs imgui-bundle
        from imgui_bundle import imgui

        viewer = self.v
        names = viewer.row_names

        def panel() -> None:
            m = viewer.source.shape[1]
            width = imgui.get_content_region_avail().x
            imgui.set_next_item_width(max(100.0, width * 0.62))
            changed, s = imgui.slider_int("first cell", viewer.start, 0, max(0, m - viewer.window))
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
