"""Static matplotlib plots: rendered to PNG and checked from pixels; only what is drawn is computed."""
from __future__ import annotations

import io

import numpy as np
import pytest

from .helpers import GRID_W, N_PROTEINS, N_SAMPLES, PLANTED, PROTEINS, computed_mask, save_doc_image

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lazyact.viz import plot_heatmap, plot_spatial, plot_top  # noqa: E402

RED = np.array([180.0, 4.0, 38.0])


def render(ax, name: str | None = None) -> np.ndarray:
    """PNG bytes of the figure read back as an (H, W, 3) array (same dpi as drawn)."""
    fig = ax.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    buf.seek(0)
    img = plt.imread(buf)[..., :3]
    img = np.round(img * 255).astype(np.uint8)
    if name:
        save_doc_image(img, name)
    return img


def to_pixels(ax, img, x, y):
    """Pixel (row, col) of data points (matplotlib's display origin is bottom-left)."""
    pts = ax.transData.transform(np.column_stack([np.ravel(x), np.ravel(y)]))
    h = img.shape[0]
    return (h - pts[:, 1]).astype(int), pts[:, 0].astype(int)


def is_red(rgb, tol=40):
    return np.abs(rgb.astype(float) - RED).max(axis=-1) < tol


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_heatmap_shows_planted_rows_and_computes_the_slice(act):
    ax = plot_heatmap(act, samples=slice(150, 350))
    img = render(ax, "static_heatmap.png")
    assert act.store.stats.cells == N_PROTEINS * 200
    assert computed_mask(act)[:, 150:350].all() and computed_mask(act).sum() == N_PROTEINS * 200
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == PROTEINS
    cols = np.arange(200)
    for r, name in enumerate(PROTEINS):
        py, px = to_pixels(ax, img, cols, np.full(cols.size, r))
        red = is_red(img[py, px])
        in_band = (cols + 150 >= 200) & (cols + 150 < 320)
        if name == "P3":
            assert red[in_band].mean() > 0.99 and red[~in_band].mean() < 0.02
        else:
            assert red.mean() < 0.02


def test_plot_heatmap_selection_and_views(act):
    ax = plot_heatmap(act.pvalue, proteins=["P8", "P0"], samples=[430, 10, 440])  # the view passed
    img = render(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["P8", "P0"]
    assert act.store.stats.cells == 2 * 3
    # P8 at 430/440 has the smallest p: the bright (yellow) end of viridis_r
    py, px = to_pixels(ax, img, [0, 2], [0, 0])
    assert (img[py, px].astype(int) - [253, 231, 37]).__abs__().max() < 30
    ax = plot_heatmap(act, samples=slice(0, 50), array="-log10p", proteins=slice(0, 4))
    assert ax.images[0].get_clim() == pytest.approx((0.0, np.log10(51)))


def test_plot_top_puts_the_planted_protein_first(act):
    ax = plot_top(act, sample="s250", k=5)
    img = render(ax, "static_top.png")
    assert act.store.stats.cells == N_PROTEINS  # one column
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # labels are listed bottom-up; the top bar is the last tick
    assert labels[-1] == "P3" and len(labels) == 5
    z = act.zscore[:, 250]
    y_top = ax.get_yticks()[-1]
    # the P3 bar is red and ends where its z-score says
    py, px = to_pixels(ax, img, [z[3] * 0.5, z[3] * 1.02], [y_top, y_top])
    assert is_red(img[py[0], px[0]], tol=60)
    assert not is_red(img[py[1], px[1]], tol=60)
    # the other bars are much shorter: at half of P3's value their rows are background
    for y in ax.get_yticks()[:-1]:
        py, px = to_pixels(ax, img, [z[3] * 0.5], [y])
        assert not is_red(img[py[0], px[0]], tol=60)


def test_plot_spatial_colours_the_band(act):
    ax = plot_spatial(act, "P3", s=30)
    img = render(ax, "static_spatial.png")
    assert act.store.stats.cells == N_SAMPLES  # one row
    j = np.arange(N_SAMPLES)
    py, px = to_pixels(ax, img, j % GRID_W, j // GRID_W)
    red = is_red(img[py, px])
    band = (j >= PLANTED["P3"][0]) & (j < PLANTED["P3"][1])
    assert red[band].mean() > 0.95 and red[~band].mean() < 0.02
    with pytest.raises(ValueError, match="spatial"):
        plot_spatial(act.zscore, "P3")  # a bare view has no coordinates
    ax = plot_spatial(act.zscore, 8, spatial=np.column_stack([j % GRID_W, j // GRID_W]))
    assert ax.get_title() == "P8 z-score, 600 spots"
    # by default the most active protein of a cheap sample (64 cells) is shown: P3
    act.store.stats.reset()
    ax = plot_spatial(act)
    assert ax.get_title().startswith("P3 ")
    assert act.store.stats.cells <= N_PROTEINS * 64 + N_SAMPLES


def test_plot_heatmap_groupby_orders_cells_and_keeps_labels_inside(act):
    groups = np.array(["b", "a"])[(np.arange(N_SAMPLES) // 10) % 2]  # alternating blocks of 10
    ax = plot_heatmap(act, samples=slice(0, 100), groupby=groups)
    img = render(ax)
    assert act.store.stats.cells == N_PROTEINS * 100  # the selection only
    fig = ax.figure
    # cells ordered by group: the first 50 columns are the "a" cells 10-19, 30-39, ...
    z = act.zscore[:, :100]
    order = np.argsort(groups[:100], kind="stable")
    np.testing.assert_allclose(ax.images[0].get_array(), z[:, order], rtol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_legend().get_title().get_text() == "group"
    # the track above the heatmap has the group colours in order
    track = ax.images[1].get_array()
    assert track.shape == (1, 100, 4) and not np.array_equal(track[0, 0], track[0, -1])
    # nothing is cut off: the x label and the legend lie inside the saved figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for artist in (ax.xaxis.label, ax.get_legend()):
        bb = artist.get_window_extent(renderer)
        assert bb.x0 >= 0 and bb.y0 >= 0 and bb.x1 <= img.shape[1] and bb.y1 <= img.shape[0]
