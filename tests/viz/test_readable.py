"""The pictures name what they show: colour bar, group track, legend, labels, titles; both renderers.

Each check finds its object in the picture by colour, without knowing the layout: the
colour bar is a column of pixels that runs through the colour map from one end to the
other; the group track is a row of pixels whose colour runs are the window's groups in
order; the legend's swatches are the group colours stacked in category order; the
protein names are "ink" left of the heatmap rows. Every test runs with fastplotlib
(skipped where wgpu cannot draw) and with matplotlib (the fallback, always).
"""
from __future__ import annotations

import numpy as np
import pytest

from lazyact.viz import Viewer

from .helpers import N_SAMPLES, PROTEINS, lut, save_doc_image, screen

GROUPS = np.array(["T cell", "B cell", "Macrophage"])[(np.arange(N_SAMPLES) // 7) % 3]


@pytest.fixture
def make(renderer):
    made = []

    def _make(obj, **kwargs):
        kwargs.setdefault("offscreen", True)
        kwargs.setdefault("imgui", False)
        kwargs.setdefault("size", (900, 520))
        kwargs.setdefault("renderer", renderer)
        v = Viewer(obj, **kwargs)
        made.append(v)
        return v

    yield _make
    for v in made:
        v.close()


# --------------------------------------------------------------------------- finders
def find_colorbar(img: np.ndarray, cmap_name: str, tol: float = 18.0) -> tuple[int, int, int] | None:
    """(x, top, bottom) of a vertical run of pixels going through the whole colour map, or None."""
    table = lut(cmap_name)
    rgb = img[..., :3].astype(np.float32)
    ends = [np.abs(rgb - table[k]).max(axis=-1) < tol for k in (0, 255)]
    cols = np.flatnonzero(ends[0].any(axis=0) & ends[1].any(axis=0))
    best = None
    for x in cols:
        col = rgb[:, x]
        d = np.abs(col[:, None, :] - table[None, :, :]).max(axis=-1)  # H x 256
        idx = d.argmin(axis=1)
        ok = d.min(axis=1) < tol
        # longest run of matched pixels whose map index falls monotonically (upper limit on top)
        y = 0
        while y < col.shape[0]:
            if not ok[y]:
                y += 1
                continue
            y0 = y
            while y + 1 < col.shape[0] and ok[y + 1] and idx[y + 1] <= idx[y] + 2:
                y += 1
            run = idx[y0 : y + 1]
            if run.size >= 80 and run.max() >= 245 and run.min() <= 10 and run[0] > run[-1]:
                if best is None or run.size > best[2] - best[1]:
                    best = (int(x), y0, y)
            y += 1
    return best


def color_runs(row: np.ndarray, colors: np.ndarray, tol: float = 12.0, min_px: int = 3) -> list[tuple[int, int, int]]:
    """(group, first, stop) runs of pixels of a row matching one of ``colors`` (0..1 RGBA)."""
    table = colors[:, :3] * 255.0
    d = np.abs(row[:, None, :3].astype(np.float32) - table[None]).max(axis=-1)
    code = np.where(d.min(axis=1) < tol, d.argmin(axis=1), -1)
    runs, x = [], 0
    while x < code.size:
        x0 = x
        while x + 1 < code.size and code[x + 1] == code[x]:
            x += 1
        if code[x0] >= 0 and x - x0 + 1 >= min_px:
            if runs and runs[-1][0] == code[x0] and x0 - runs[-1][2] < 90:  # a name written on the run
                runs[-1] = (runs[-1][0], runs[-1][1], x + 1)
            else:
                runs.append((int(code[x0]), x0, x + 1))
        x += 1
    return runs


def find_track(img: np.ndarray, groups, codes: np.ndarray) -> list[int]:
    """Image rows whose group-colour runs are the window's groups in order, with their widths."""
    segs = groups.segments(codes)
    want = [c for c, _, _ in segs]
    widths = np.array([b - a for _, a, b in segs], dtype=float)
    rows = []
    for y in range(img.shape[0]):
        runs = color_runs(img[y], groups.colors)
        runs = [r for r in runs if r[2] - r[1] >= 3]
        if [r[0] for r in runs] != want:
            continue
        got = np.array([b - a for _, a, b in runs], dtype=float)
        if np.allclose(got / got.sum(), widths / widths.sum(), atol=0.03):
            rows.append(y)
    return rows


def ink(img: np.ndarray, x0: int, x1: int, y0: int, y1: int) -> float:
    """Fraction of pixels in a box that differ from the box's most common colour (text)."""
    box = img[max(0, y0) : y1, max(0, x0) : x1, :3].reshape(-1, 3).astype(int)
    if box.size == 0:
        return 0.0
    vals, counts = np.unique(box, axis=0, return_counts=True)
    bg = vals[counts.argmax()]
    return float((np.abs(box - bg).max(axis=1) > 60).mean())


# --------------------------------------------------------------------------- tests
def test_colour_bar_names_the_statistic_and_spans_the_map(make, shared_act):
    v = make(shared_act, window=100, start=200, protein="P3")
    frame = v.frame()
    found = find_colorbar(frame, v.cmap(matplotlib=v.renderer == "matplotlib"))
    assert found is not None, "no colour bar in the picture"
    x, top, bottom = found
    # a bar of its own: right of the heatmap, at least 100 px tall, symmetric z limits
    (hm_right,), _ = screen(v, "heatmap", [v.window - 0.5], [0])
    assert x > hm_right and bottom - top >= 100
    assert v.clim == (-3.0, 3.0) and v.titles()["colorbar"] == "z-score"
    # the middle of the bar is the colour map's middle (0 of a symmetric scale): near-white
    mid = frame[(top + bottom) // 2, x, :3].astype(int)
    assert mid.min() > 170
    # tick labels beside it and its name above it: ink
    assert ink(frame, x + 3, x + 60, top, bottom) > 0.005
    assert ink(frame, x - 30, x + 60, top - 30, top - 4) > 0.005
    v.set_view("-log10p")  # another statistic: another bar (magma)
    assert find_colorbar(v.frame(), v.cmap(matplotlib=v.renderer == "matplotlib")) is not None
    assert v.titles()["colorbar"] == "-log10 p"


def test_group_track_legend_and_lazy_order(make, act):
    v = make(act, window=100, start=150, groupby=GROUPS, protein="P3", spatial=False, prefetch=False)
    frame = v.frame()
    g = v.groups
    assert list(g.categories) == ["B cell", "Macrophage", "T cell"]
    # ordering by group is a permutation of columns: the window shows order[150:250] ...
    cols = g.order[150:250]
    np.testing.assert_allclose(v.data, act.zscore[:, cols], rtol=1e-6, atol=1e-6)
    # ... and only those cells were computed (no copy, no whole-array read)
    assert act.store.stats.cells == 12 * 100
    codes = v.window_codes
    assert len(g.segments(codes)) == 2  # B cell | Macrophage
    rows = find_track(frame, g, codes)
    assert len(rows) >= 8, "no group track with the window's groups"
    (_, ), (hm_top,) = screen(v, "heatmap", [0], [-0.5])
    assert max(rows) < hm_top  # above the heatmap, never over it
    # the legend: each group's swatch, in category order, outside the track
    ys = []
    below = frame.copy()
    below[min(rows) : max(rows) + 1] = 0
    for k in range(len(g)):
        hit = np.abs(below[..., :3].astype(float) - g.colors[k, :3] * 255).max(axis=-1) < 12
        yy, xx = np.nonzero(hit)
        assert yy.size >= 60, f"no legend swatch for {g.categories[k]}"
        ys.append(yy.mean())
    assert ys == sorted(ys)
    assert v.titles()["legend"] == "group" and "by group" in v.titles()["heatmap"]
    # the selected cell is named with its group in the trace's title
    assert "(B cell)" in v.titles()["trace"] or "(Macrophage)" in v.titles()["trace"]


def test_protein_names_on_rows_and_selected_one_highlighted(make, shared_act):
    v = make(shared_act, window=100, start=200, protein="P8", spatial=False)
    frame = v.frame()
    nr = len(PROTEINS)
    xs, ys = screen(v, "heatmap", np.full(nr, -0.5), np.arange(nr))
    x_left = max(42, int(xs[0]))
    half = max(2, int(abs(ys[1] - ys[0]) * 0.35))
    for r in range(nr):
        assert ink(frame, x_left - 40, x_left - 2, ys[r] - half, ys[r] + half) > 0.03, PROTEINS[r]
    # the selected name is drawn in the accent colour (yellow on black / orange on white)
    accent = np.array([255, 217, 25]) if v.renderer == "fastplotlib" else np.array([217, 95, 2])
    box = frame[ys[8] - half : ys[8] + half, x_left - 40 : x_left - 2, :3].astype(int)
    assert (np.abs(box - accent).max(axis=-1) < 60).sum() >= 5
    other = frame[ys[5] - half : ys[5] + half, x_left - 40 : x_left - 2, :3].astype(int)
    assert (np.abs(other - accent).max(axis=-1) < 60).sum() == 0
    t = v.titles()
    assert t["trace"].startswith("P8 z-score | cell s") and "cells 200-299 of 600" in t["heatmap"]


def test_trace_cells_sit_under_their_heatmap_columns(make, shared_act):
    """The trace keeps the heatmap's label margin: a cell's point is straight below its column."""
    v = make(shared_act, window=100, start=200, protein="P8", spatial=False)
    v.frame()
    cells = np.arange(200, 300, 9)
    hx, _ = screen(v, "heatmap", cells - v.shown_start, np.zeros(cells.size))
    tx, _ = screen(v, "trace", cells, np.zeros(cells.size))
    assert np.abs(np.asarray(hx, float) - np.asarray(tx, float)).max() <= 1.0, (hx, tx)


def test_default_protein_is_the_most_active(make, act):
    v = make(act, window=100, start=210, spatial=False, prefetch=False)  # no protein given
    v.wait()
    assert v.protein == "P3"  # active in that window (not the first, P0)
    act.summary(progress=False)  # stored summaries decide without a window
    v2 = make(act, window=50, start=0, spatial=False, prefetch=False)
    assert v2.protein in ("P3", "P8")


def test_spatial_panel_legible_at_200k_spots(make):
    rng = np.random.default_rng(0)
    m = 200_000
    xy = rng.uniform(0, 1000, size=(m, 2))
    z = (xy[:, 0] / 1000 * 6 - 3)[None, :].repeat(2, axis=0)  # z runs -3..3 from left to right
    v = make({"zscore": z}, window=64, spatial=xy, protein=0, size=(1000, 560))
    frame = v.frame()
    # spots tile the panel: colours follow x from blue to red, and the colour bar is there
    xs = np.linspace(50, 950, 7)
    px, py = screen(v, "spatial", xs, np.full(7, 500.0))
    reds = frame[py, px, 0].astype(int) - frame[py, px, 2].astype(int)
    assert np.all(np.diff(reds) > 0)
    assert find_colorbar(frame, v.cmap(matplotlib=v.renderer == "matplotlib")) is not None
    # the window's spots are marked under the data: a spot's own colour is intact
    j = int(v.window_samples[0])
    (sx,), (sy,) = screen(v, "spatial", [xy[j, 0]], [xy[j, 1]])
    want = lut(v.cmap(matplotlib=v.renderer == "matplotlib"))[int(round((z[0, j] + 3) / 6 * 255))]
    assert np.abs(frame[sy, sx, :3].astype(float) - want).max() < 40
    assert "200,000 spots" in v.titles()["spatial"]


def test_docs_screenshots(make):
    """The pictures of docs/viewer.md (written with LAZYACT_DOCS_IMAGES=1): real data, grouped."""
    import lazyact

    from .test_parts import H5AD

    act = lazyact.activity(str(H5AD), "CytoSig", preprocess="scrnaseq", n_rand=50)
    v = make(act, groupby="cell_type", size=(1200, 700), prefetch=False)
    frame = v.frame()
    assert v.groups.name == "cell_type" and len(v.groups) == 5
    assert find_track(frame, v.groups, v.window_codes)
    save_doc_image(frame, f"viewer_{v.renderer}.png")
