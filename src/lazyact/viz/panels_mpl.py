"""The viewer's panels drawn by matplotlib: the same picture where wgpu cannot draw.

:class:`MatplotlibPanels` draws what a :class:`~lazyact.viz.viewer.Viewer` holds in the
layout of :func:`~lazyact.viz.layout.panel_rects`, on an Agg canvas (no display, no GPU):
the heatmap with protein names, the selected row outlined, the group track and the
selected-cell marker above it; the colour bar named after the statistic; the group
legend; the trace; the spatial map with the window's halo under the spots and a
reticle around the selected cell. :func:`~lazyact.viz.viewer.render_png` uses it when
fastplotlib cannot draw (``lazyact view --png`` says so in one line), and
``Viewer(..., renderer="matplotlib")`` asks for it. Key presses and clicks reach the
viewer through matplotlib's events when the figure is shown in a GUI backend.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .layout import colorbar_ticks, label_step, panel_rects, spot_size
from .panels import PanelUpdates

__all__ = ["MatplotlibPanels"]

_DPI = 100.0
_TITLE_PX = 24.0
_TRACK_PX = 14.0
_STRIP_PX = 6.0
_GAP_PX = 3.0
_ACCENT = "#d95f02"  # selected protein and cell (readable on white)
_KEYS = {"right": "ArrowRight", "left": "ArrowLeft", "up": "ArrowUp", "down": "ArrowDown", "home": "Home",
         "end": "End", "pagedown": "PageDown", "pageup": "PageUp", "shift+right": "ArrowRight",
         "shift+left": "ArrowLeft"}


def _pt(px: float) -> float:
    return px * 72.0 / _DPI


class MatplotlibPanels(PanelUpdates):
    """matplotlib figure of a :class:`~lazyact.viz.viewer.Viewer` (see the module doc)."""

    name = "matplotlib"
    in_notebook = False

    def __init__(self, viewer: Any, size: tuple[int, int]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.v = viewer
        self.output: Any = None
        self.size = (int(size[0]), int(size[1]))
        W, H = self.size
        self.figure = Figure(figsize=(W / _DPI, H / _DPI), dpi=_DPI, facecolor="white")
        FigureCanvasAgg(self.figure)
        src = viewer.source
        self._groups = src.groups
        self._rects = panel_rects(self.size, src.spatial is not None, self._groups is not None)
        self._build()

    # ------------------------------------------------------------------ geometry
    def _axes(self, name: str, left: float = 4, right: float = 4, top: float = _TITLE_PX, bottom: float = 4) -> Any:
        """Axes inside panel ``name`` with margins in pixels."""
        W, H = self.size
        x, y, w, h = self._rects[name]
        x0 = x * W + left
        x1 = (x + w) * W - right
        y_top = y * H + top
        y_bot = (y + h) * H - bottom
        return self.figure.add_axes([x0 / W, 1 - y_bot / H, max(1.0, x1 - x0) / W, max(1.0, y_bot - y_top) / H])

    def _build(self) -> None:
        import matplotlib.patches as mpatches

        v = self.v
        W, H = self.size
        nr, w = v.data.shape
        names = v.row_names
        hx, hy, hw, hh = self._rects["heatmap"]
        strip_px = (_TRACK_PX if self._groups is not None else _STRIP_PX) + _GAP_PX
        heat_h = hh * H - _TITLE_PX - 4
        step, row_px = label_step(nr, heat_h - strip_px)
        self._label_step = step
        font_px = float(np.clip(row_px * 0.7, 7, 13)) if step == 1 else 9.0
        self._font_pt = _pt(font_px)
        label_px = 0.0
        if v._labels is not False:
            label_px = min(0.3 * hw * W, 0.62 * font_px * max(len(n) for n in names) + 12)
        left = max(label_px, 34.0)
        self.ax = ax = self._axes("heatmap", left=left, right=6, bottom=4)
        per = 1.0 / max(1e-3, (heat_h - strip_px) / max(1, nr))  # data units per pixel
        self._track_y = (-0.5 - strip_px * per, -0.5 - _GAP_PX * per)
        lo, hi = v.clim
        self.image = ax.imshow(v.data, aspect="auto", interpolation="nearest", cmap=v.cmap(matplotlib=True),
                               vmin=lo, vmax=hi, extent=(-0.5, w - 0.5, nr - 0.5, -0.5))
        self.image.set_visible(False)
        self.track = None
        if self._groups is not None:
            y0, y1 = self._track_y
            self.track = ax.imshow(np.ones((1, w, 4), dtype=np.float32), aspect="auto", interpolation="nearest",
                                   extent=(-0.5, w - 0.5, y1, y0))
            self.track.set_visible(False)
        self.track_texts: list = []
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(nr - 0.5, self._track_y[0])
        ax.set_xticks([])
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        self.outline = mpatches.Rectangle((-0.5, -0.5), w, 1, fill=False, edgecolor="black", linewidth=1.5, zorder=4)
        ax.add_patch(self.outline)
        (self.cell_marker,) = ax.plot([0, 0], list(self._track_y), color=_ACCENT, linewidth=2.0, zorder=5,
                                      visible=False)
        # protein names: texts right-aligned 3 px left of the heatmap (y in data units)
        from matplotlib.transforms import blended_transform_factory, offset_copy

        names_at = offset_copy(blended_transform_factory(ax.transAxes, ax.transData), fig=self.figure,
                               x=-3, y=0, units="dots")
        self.labels: list = []
        if v._labels is not False:
            for r in range(0, nr, step):
                self.labels.append((r, ax.text(0, r, names[r], ha="right", va="center", fontsize=self._font_pt,
                                               transform=names_at)))
        self.sel_label = ax.text(0, 0, "", ha="right", va="center", fontsize=max(self._font_pt, _pt(9)),
                                 color=_ACCENT, fontweight="bold", transform=names_at, zorder=6)
        self.sel_label.set_visible(v._labels is not False)
        ax.set_yticks([])
        # trace: x aligned with the heatmap
        self.tax = tax = self._axes("trace", left=left, right=6, top=_TITLE_PX, bottom=20)
        s = v.start
        x = np.arange(s, s + w)
        (self.trace,) = tax.plot(x, np.zeros(w), color="black", linewidth=1.0, zorder=3, visible=False)
        self.zero_line = tax.axhline(0.0, color="0.6", linewidth=0.8, zorder=1)
        self.trace_marker = tax.axvline(s, color=_ACCENT, linewidth=1.2, zorder=2, visible=False)
        tax.set_xlim(s - 0.5, s + w - 0.5)
        tax.tick_params(labelsize=_pt(10), length=3)
        for side in ("top", "right"):
            tax.spines[side].set_visible(False)
        # colour bar
        self.cax = self._axes("colorbar", left=8, right=6, top=_TITLE_PX + 6, bottom=12)
        cw = self._rects["colorbar"][2] * W - 14
        bar_frac = min(1.0, 14.0 / max(1.0, cw))
        pos = self.cax.get_position()
        self.cax.set_position([pos.x0, pos.y0, pos.width * bar_frac, pos.height])
        self.cbar = self.cax.imshow(np.linspace(1.0, 0.0, 256)[:, None], aspect="auto", cmap=v.cmap(matplotlib=True),
                                    vmin=0.0, vmax=1.0, interpolation="nearest", extent=(-0.5, 0.5, 255.5, -0.5))
        self.cax.set_xticks([])
        self.cax.yaxis.tick_right()
        self.cax.tick_params(axis="y", labelsize=_pt(11), length=3)
        self.cax.set_ylim(255.5, -0.5)
        # legend
        self.lax = None
        self.legend_texts: list = []
        if self._groups is not None:
            self._build_legend()
        # spatial
        self.sax = self.scatter = self.halo = None
        if v.source.spatial is not None:
            self._build_spatial()
        self.figure.canvas.mpl_connect("key_press_event", self._on_key)
        self.figure.canvas.mpl_connect("button_press_event", self._on_click)
        self.update("window")

    def _build_legend(self) -> None:
        import matplotlib.patches as mpatches

        g = self._groups
        W, H = self.size
        self.lax = lax = self._axes("legend", left=8, right=2, top=_TITLE_PX, bottom=4)
        _, _, lw, lh = self._rects["legend"]
        h_px = lh * H - _TITLE_PX - 4
        w_px = lw * W - 10
        fit = max(1, int((h_px - 6) // 16))
        n = len(g)
        shown = n if n <= fit else fit - 1
        lax.set_xlim(0, w_px)
        lax.set_ylim(h_px, 0)
        lax.axis("off")
        for i in range(shown):
            y = 8 + 16 * i
            lax.add_patch(mpatches.Rectangle((0, y - 6), 14, 12, facecolor=tuple(g.colors[i]), edgecolor="none"))
            name = str(g.categories[i])
            if len(name) > 16:
                name = name[:14] + "..."
            self.legend_texts.append(lax.text(18, y, name, va="center", ha="left", fontsize=_pt(11)))
        if shown < n:
            lax.text(0, 8 + 16 * shown, f"+{n - shown} more", va="center", ha="left", fontsize=_pt(11), color="0.5")
        self._legend_px = (w_px, h_px)

    def _build_spatial(self) -> None:
        v = self.v
        W, H = self.size
        self.sax = sax = self._axes("spatial", left=6, right=6, top=_TITLE_PX, bottom=6)
        xy = v.source.spatial
        _, _, sw, sh = self._rects["spatial"]
        self._spot_px = spot_size(xy, sw * W - 12, sh * H - _TITLE_PX - 6)
        s_pt2 = _pt(self._spot_px) ** 2
        lo, hi = v.clim
        win = xy[v.window_samples]
        self.halo = sax.scatter(win[:, 0], win[:, 1], s=_pt(self._spot_px + 5.0) ** 2, c="black", linewidths=0,
                                zorder=1, marker="o")
        self.scatter = sax.scatter(xy[:, 0], xy[:, 1], s=s_pt2, c=np.zeros(xy.shape[0]), cmap=v.cmap(matplotlib=True),
                                   vmin=lo, vmax=hi, linewidths=0, zorder=2, marker="o")
        (self.reticle,) = sax.plot([], [], color=_ACCENT, linewidth=1.5, zorder=3)
        sax.set_aspect("equal", adjustable="box")
        sax.set_xticks([])
        sax.set_yticks([])
        sax.set_facecolor("white")
        for side in ("top", "right", "bottom", "left"):
            sax.spines[side].set_visible(False)
        pad = 0.02 * np.ptp(xy, axis=0)
        sax.set_xlim(xy[:, 0].min() - pad[0], xy[:, 0].max() + pad[0])
        sax.set_ylim(xy[:, 1].min() - pad[1], xy[:, 1].max() + pad[1])
        sax.invert_yaxis()  # image convention, as the fastplotlib panel
        sax.apply_aspect()

    # ------------------------------------------------------------------ updates
    def _update_window(self) -> None:
        v = self.v
        lo, hi = v.clim
        cmap = v.cmap(matplotlib=True)
        self.image.set_cmap(cmap)
        self.cbar.set_cmap(cmap)
        if v.window_ready:
            self.image.set_data(v.data)
            self.image.set_visible(True)
            self.trace.set_visible(True)
        self.image.set_clim(lo, hi)
        ticks = colorbar_ticks(lo, hi, v.view)
        self.cax.set_yticks([(hi - t) / (hi - lo) * 255.0 for t, _ in ticks])
        self.cax.set_yticklabels([text for _, text in ticks])
        s = v.shown_start
        x = np.arange(s, s + v.window)
        self.trace.set_xdata(x)
        self.tax.set_xlim(s - 0.5, s + v.window - 0.5)
        self.zero_line.set_visible(lo < 0 < hi)
        if self.scatter is not None:
            self.scatter.set_cmap(cmap)
            self.scatter.set_clim(lo, hi)
            self.halo.set_offsets(v.source.spatial[v.window_samples])
        if self.track is not None and v.window_ready:
            codes = v.window_codes
            self.track.set_data(self._groups.rgba(codes)[None, :, :])
            self.track.set_visible(True)
            self._update_track_texts(codes)
            present = set(np.unique(codes).tolist())
            for i, t in enumerate(self.legend_texts):
                t.set_color("black" if i in present else "0.6")
        self._update_selection()

    def _update_selection(self) -> None:
        v = self.v
        r = v.selected
        self.outline.set_xy((-0.5, r - 0.5))
        for row, text in self.labels:
            text.set_visible(row != r)
        if self.sel_label.get_visible():
            self.sel_label.set_text(v.row_names[r])
            self.sel_label.set_position((0, r))
        y = v.data[r]
        self.trace.set_ydata(y)
        lo, hi = v.clim
        fin = y[np.isfinite(y)]
        if fin.size and v.window_ready:
            lo, hi = min(lo, float(fin.min())), max(hi, float(fin.max()))
        pad = 0.05 * (hi - lo)
        self.tax.set_ylim(lo - pad, hi + pad)
        cell = v.cell_position
        ok = cell is not None and v.window_ready
        self.cell_marker.set_visible(ok)
        self.trace_marker.set_visible(ok)
        self.reticle.set_visible(ok) if self.sax is not None else None
        if not ok:
            return
        j = cell - v.shown_start
        self.cell_marker.set_xdata([j, j])
        self.trace_marker.set_xdata([cell, cell])
        if self.sax is not None:
            self._place_reticle(int(v.window_samples[j]))

    def _place_reticle(self, sample: int) -> None:
        x, y = (float(c) for c in self.v.source.spatial[sample][:2])
        (x0, _), (x1, _) = self.sax.transData.transform([(0.0, 0.0), (1.0, 0.0)])
        per_px = 1.0 / max(1e-9, abs(x1 - x0))
        r_in = (self._spot_px / 2 + 3.0) * per_px
        r_out = r_in + 7.0 * per_px
        nan = np.nan
        xs = [x - r_out, x - r_in, nan, x + r_in, x + r_out, nan, x, x, nan, x, x]
        ys = [y, y, nan, y, y, nan, y - r_out, y - r_in, nan, y + r_in, y + r_out]
        self.reticle.set_data(xs, ys)

    def _update_track_texts(self, codes: np.ndarray) -> None:
        for t in self.track_texts:
            t.remove()
        self.track_texts = []
        g = self._groups
        col_px = self.ax.bbox.width / max(1, self.v.window)
        y = sum(self._track_y) / 2
        for code, a, b in sorted(g.segments(codes), key=lambda t: t[1] - t[2])[:8]:
            name = str(g.categories[code])
            if (b - a) * col_px < 6.5 * len(name) + 6:
                continue
            r, gg, bb = (float(c) for c in g.colors[code][:3])
            color = "black" if 0.299 * r + 0.587 * gg + 0.114 * bb > 0.55 else "white"
            self.track_texts.append(self.ax.text((a + b - 1) / 2, y, name, ha="center", va="center",
                                                 fontsize=_pt(10), color=color, zorder=6))

    def _update_row(self) -> None:
        if self.scatter is None:
            return
        vals = self.v.row_values
        if vals is not None:
            self.scatter.set_array(np.ma.masked_invalid(vals))  # NaN spots: the colour map's "bad" (not drawn)
        self.scatter.set_clim(*self.v.clim)

    def update_titles(self) -> None:
        axes = {"heatmap": self.ax, "trace": self.tax, "colorbar": self.cax, "legend": self.lax, "spatial": self.sax}
        for name, text in self.v.titles().items():
            ax = axes.get(name)
            if ax is None:
                continue
            if name == "colorbar":
                x, y, w, h = self._rects["colorbar"]
                W, H = self.size
                if not hasattr(self, "_cbar_title"):
                    self._cbar_title = self.figure.text(x + w / 2, 1 - (y * H + 14) / H, text, ha="center",
                                                        va="center", fontsize=_pt(13))
                self._cbar_title.set_text(text)
            else:
                ax.set_title(text, fontsize=_pt(13), pad=6)

    # ------------------------------------------------------------------ drawing
    def show(self) -> Any:
        self.output = self.figure
        return self.output

    def draw(self) -> np.ndarray:
        """Put finished reads on screen and draw the figure: ``(H, W, 4)`` uint8."""
        self.v.poll()
        canvas = self.figure.canvas
        canvas.draw()
        img = np.asarray(canvas.buffer_rgba()).copy()
        self.v.after_render()
        return img

    def pixel(self, panel: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (column, row) indices of data points of a panel."""
        ax = {"heatmap": self.ax, "trace": self.tax, "spatial": self.sax, "colorbar": self.cax,
              "legend": self.lax}[panel]
        pts = ax.transData.transform(np.column_stack([np.ravel(x), np.ravel(y)]).astype(np.float64))
        H = self.size[1]
        return np.floor(pts[:, 0]).astype(int), np.floor(H - pts[:, 1]).astype(int)

    def close(self) -> None:
        self.figure.clear()

    # ------------------------------------------------------------------ events (GUI backends)
    def _on_key(self, ev: Any) -> None:
        key = str(getattr(ev, "key", "") or "")
        mods = ("Shift",) if key.startswith("shift+") else ()
        self.v.key(_KEYS.get(key, key), mods)
        self.figure.canvas.draw_idle()

    def _on_click(self, ev: Any) -> None:
        if ev.inaxes is self.ax and ev.xdata is not None:
            self.v.click_heatmap(int(round(ev.xdata)), int(round(ev.ydata)))
        elif self.sax is not None and ev.inaxes is self.sax and ev.xdata is not None:
            xy = self.v.source.spatial
            d = (xy[:, 0] - ev.xdata) ** 2 + (xy[:, 1] - ev.ydata) ** 2
            self.v.click_spot(int(np.argmin(d)))
        self.figure.canvas.draw_idle()
