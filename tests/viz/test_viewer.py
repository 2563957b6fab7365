"""The viewer, checked from rendered pixels, with both renderers (fastplotlib and matplotlib).

Data: 12 proteins x 600 samples with P3 active on samples 200-319 and P8 on 420-479
(|z| > 3 there, |z| < 3 everywhere else). Every check reads the picture back
(``viewer.frame()`` / ``viewer.draw()``) and maps data coordinates to pixels with the
panels' own transforms (``viewer.panels.pixel``), so layouts and sizes do not matter.
Each test runs once per renderer (the ``renderer`` fixture); fastplotlib's runs skip
where wgpu finds no usable adapter, matplotlib's always run.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from lazyact.viz import Viewer, render_png, view

from .helpers import (
    N_PROTEINS,
    N_SAMPLES,
    PLANTED,
    PROTEINS,
    GRID_W,
    computed_mask,
    expected_colors,
    heatmap_cells,

    screen,
)

RED = np.array([180.0, 4.0, 38.0])  # coolwarm at z >= +3 (the fixed z limits)


def red_fraction(rgb: np.ndarray, tol: float = 40.0) -> np.ndarray:
    """Fraction of cells per row whose colour is saturated coolwarm red."""
    return (np.abs(rgb - RED).max(axis=-1) < tol).mean(axis=-1)


@pytest.fixture
def viewer_factory(renderer):
    made = []

    def make(obj, **kwargs):
        kwargs.setdefault("offscreen", True)
        kwargs.setdefault("imgui", None)  # the control panel when imgui-bundle is installed
        kwargs.setdefault("size", (900, 520))
        kwargs.setdefault("renderer", renderer)
        kwargs.setdefault("protein", 0)
        v = Viewer(obj, **kwargs)
        made.append(v)
        return v

    yield make
    for v in made:
        v.close()


_MPL_KEYS = {"ArrowRight": "right", "ArrowLeft": "left", "ArrowUp": "up", "ArrowDown": "down", "Home": "home",
             "End": "end"}


def key(viewer, name, modifiers=()):
    """A key press through the canvas's own event system."""
    canvas = viewer.figure.canvas
    if viewer.renderer == "fastplotlib":
        canvas.submit_event({"event_type": "key_down", "key": name, "modifiers": tuple(modifiers)})
        canvas._events.flush()
    else:
        from matplotlib.backend_bases import KeyEvent

        k = _MPL_KEYS.get(name, name)
        if "Shift" in modifiers:
            k = f"shift+{k}"
        canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", canvas, k))


def click(viewer, subplot, x, y):
    """A mouse click at data point (x, y) of a panel, through the canvas's event system."""
    px, py = viewer.panels.pixel(subplot, [x + 0.25 if subplot == "heatmap" else x], [y])
    px, py = float(px[0]) + 0.5, float(py[0]) + 0.5
    if viewer.renderer == "fastplotlib":
        px, py = viewer.figure[subplot].map_world_to_screen((float(x), float(y), 0.0))[:2]
        for event_type in ("pointer_down", "pointer_up"):
            viewer.figure.renderer.convert_event(
                {
                    "event_type": event_type, "x": float(px), "y": float(py), "button": 1, "buttons": (1,),
                    "modifiers": (), "ntouches": 0, "touches": {}, "time_stamp": 0.0,
                }
            )
    else:
        from matplotlib.backend_bases import MouseEvent

        canvas = viewer.figure.canvas
        H = viewer.panels.size[1]
        ev = MouseEvent("button_press_event", canvas, px, H - py, button=1)
        canvas.callbacks.process("button_press_event", ev)


# --------------------------------------------------------------------------- heatmap
def test_heatmap_pixels_are_the_window_data(viewer_factory, shared_act):
    v = viewer_factory(shared_act, window=100, start=210, prefetch=False)
    frame = v.frame()
    assert frame.shape == (520, 900, 4) and frame.dtype == np.uint8
    assert (v.start, v.stop, v.view, v.clim) == (210, 310, "zscore", (-3.0, 3.0))
    z = shared_act.zscore[:, 210:310]
    np.testing.assert_allclose(v.data, z, rtol=1e-6, atol=1e-6)  # float32 of the lazy window
    got = heatmap_cells(v, frame)
    want = expected_colors(z, "matplotlib:coolwarm", -3.0, 3.0)
    assert np.median(np.abs(got - want)) <= 3.0
    assert np.percentile(np.abs(got - want).max(axis=-1), 95) <= 12.0
    # the planted row is red where it is active, no other row is
    frac = red_fraction(got)
    assert frac[PROTEINS.index("P3")] > 0.99
    assert np.delete(frac, PROTEINS.index("P3")).max() < 0.05


def test_scrolling_moves_the_planted_rows(viewer_factory, shared_act):
    v = viewer_factory(shared_act, window=60, start=120)  # samples 120-179: nothing active
    first = v.frame()
    assert red_fraction(heatmap_cells(v, first)).max() < 0.05
    v.scroll(2)  # 240-299: inside P3's band
    moved = v.frame()
    assert (v.start, v.stop) == (240, 300)
    assert not np.array_equal(moved, first)
    frac = red_fraction(heatmap_cells(v, moved))
    assert frac.argmax() == PROTEINS.index("P3") and frac.max() > 0.99
    v.goto(420)  # P8's band
    frac = red_fraction(heatmap_cells(v, v.frame()))
    assert frac.argmax() == PROTEINS.index("P8") and frac.max() > 0.99
    v.goto(10_000)  # clamped so a full window fits
    assert (v.start, v.stop) == (N_SAMPLES - 60, N_SAMPLES)
    v.goto(120)
    again = v.frame()
    hm = heatmap_mask(v, first)
    assert np.array_equal(again[hm], first[hm])  # same window, same heatmap


def test_keyboard(viewer_factory, shared_act):
    v = viewer_factory(shared_act, window=50, start=100)
    v.frame()
    key(v, "j")
    assert v.start == 150
    key(v, "ArrowRight")
    assert v.start == 200
    key(v, "ArrowRight", ["Shift"])
    assert v.start == 205
    key(v, "k")
    key(v, "ArrowLeft")
    assert v.start == 105
    key(v, "End")
    assert v.start == N_SAMPLES - 50
    key(v, "Home")
    assert v.start == 0
    key(v, "ArrowDown")
    key(v, "ArrowDown")
    assert (v.selected, v.protein) == (2, "P2")
    key(v, "ArrowUp")
    assert v.protein == "P1"
    for k, name in zip("12345", ("beta", "se", "zscore", "pvalue", "-log10p")):
        key(v, k)
        assert v.view == name
    key(v, "9")  # no ninth view: ignored
    assert v.view == "-log10p"


def test_views_switch_without_computing(viewer_factory, act):
    v = viewer_factory(act, window=100, start=200, prefetch=False, spatial=False)
    z_frame = v.frame()
    cells = act.store.stats.cells
    assert cells == N_PROTEINS * 100
    p3 = PROTEINS.index("P3")
    v.set_view("pvalue")
    p_frame = v.frame()
    assert v.clim == (0.0, 1.0)
    got = heatmap_cells(v, p_frame)
    want = expected_colors(act.pvalue[:, 200:300], "viridis_r", 0.0, 1.0)
    assert np.median(np.abs(got - want)) <= 3.0
    # smallest p (1 / (n_rand + 1)) is the bright end of viridis_r on the planted row
    assert np.abs(got[p3] - expected_colors(0.0, "viridis_r", 0, 1)).max(axis=-1).mean() < 20
    v.set_view("-log10p")
    assert v.clim == pytest.approx((0.0, np.log10(51)))
    got = heatmap_cells(v, v.frame())
    want = expected_colors(-np.log10(act.pvalue[:, 200:300]), "magma", *v.clim)
    assert np.median(np.abs(got - want)) <= 3.0
    v.set_view("beta")
    b_frame = v.frame()
    assert v.clim[0] == -v.clim[1] > -np.inf  # symmetric, from the window on screen
    for f in (p_frame, b_frame):
        assert not np.array_equal(f, z_frame)
    # the four statistics are computed together: switching computed nothing
    assert act.store.stats.cells == cells
    v.set_clim(-1, 1)
    assert v.clim == (-1.0, 1.0)
    with pytest.raises(ValueError, match="unknown view"):
        v.set_view("tstat")


def test_click_selects_a_row_and_the_trace_follows(viewer_factory, shared_act):
    v = viewer_factory(shared_act, window=80, start=220)
    frame = v.frame()
    p3 = PROTEINS.index("P3")
    click(v, "heatmap", 40, p3)
    assert v.protein == "P3"
    after = v.frame()
    # the trace of P3 (z ~ 15) runs high: its line pixels (white on black, black on
    # white) lie where the data says
    xs = np.arange(v.start + 5, v.stop - 5, 7)
    px, py = screen(v, "trace", xs, shared_act.zscore[p3, xs])
    for x, y in zip(px, py):
        column = after[max(0, y - 3) : y + 4, x, :3].astype(int)
        if v.renderer == "fastplotlib":
            assert column.min(axis=1).max() > 200  # a near-white line pixel
        else:
            assert column.max(axis=1).min() < 80  # a near-black line pixel
    assert not np.array_equal(after, frame)

    click(v, "heatmap", 10, 5)
    assert v.protein == "P5"


# --------------------------------------------------------------------------- spatial panel
def spot_colors(v, frame, samples):
    samples = np.asarray(samples)
    px, py = screen(v, "spatial", samples % GRID_W, samples // GRID_W)
    return frame[py, px, :3].astype(np.float64)


def test_spatial_panel_colours_spots_by_the_selected_protein(viewer_factory, shared_act):
    v = viewer_factory(shared_act, window=100, start=0, protein="P3")
    frame = v.frame()
    band = np.arange(*PLANTED["P3"])
    rest = np.setdiff1d(np.arange(N_SAMPLES), np.arange(190, 330))
    assert red_fraction(spot_colors(v, frame, band)[None])[0] > 0.95
    assert red_fraction(spot_colors(v, frame, rest)[None])[0] < 0.02
    v.select("P8")
    frame = v.frame()
    assert red_fraction(spot_colors(v, frame, band)[None])[0] < 0.02
    assert red_fraction(spot_colors(v, frame, np.arange(*PLANTED["P8"]))[None])[0] > 0.95
    # clicking a spot moves the window there
    click(v, "spatial", 450 % GRID_W, 450 // GRID_W)
    assert v.start <= 450 < v.stop


# --------------------------------------------------------------------------- laziness
def test_viewer_computes_only_what_is_shown_and_prefetched(viewer_factory, act):
    p, m, w = N_PROTEINS, N_SAMPLES, 100
    v = viewer_factory(act, window=w, start=100, protein="P3")
    v.frame()
    v.wait(prefetch=True)
    expected = np.zeros((p, m), dtype=bool)
    expected[:, 100:200] = True  # on screen
    expected[:, 0:100] = expected[:, 200:300] = True  # previous and next, prefetched
    expected[PROTEINS.index("P3"), :] = True  # the spatial panel's protein row
    np.testing.assert_array_equal(computed_mask(act), expected)
    assert act.store.stats.cells == expected.sum()  # and nothing twice
    # the next window is ready: scrolling shows it at once, without waiting
    v.scroll(1)
    assert not v.loading and v.start == 200
    v.wait(prefetch=True)
    expected[:, 300:400] = True  # the new next window; the previous one is cached
    np.testing.assert_array_equal(computed_mask(act), expected)
    assert act.store.stats.cells == expected.sum()
    # a row selection computes that row only
    v.select("P0")
    v.wait(prefetch=True)
    expected[0, :] = True
    np.testing.assert_array_equal(computed_mask(act), expected)
    assert act.store.stats.cells == expected.sum()


def test_scrolling_never_waits_for_a_computation(viewer_factory, act):
    v = viewer_factory(act, window=50, start=0, spatial=False, prefetch=False)
    before = v.frame()
    gate = threading.Event()
    compute = act.store.function
    act.store.function = lambda rows, cols: (gate.wait(), compute(rows, cols))[1]
    try:
        v.goto(400)  # returns at once; the read waits for the gate on the background thread
        assert v.loading and v.start == 400
        assert "loading" in v.titles()["heatmap"]
        drawn = v.draw()  # the render loop keeps drawing
        assert np.array_equal(drawn[..., :3][heatmap_mask(v, drawn)], before[..., :3][heatmap_mask(v, before)])
    finally:
        gate.set()
    after = v.frame()
    assert not v.loading and "loading" not in v.titles()["heatmap"]
    np.testing.assert_allclose(v.data, act.zscore[:, 400:450], rtol=1e-6, atol=1e-6)
    assert not np.array_equal(after, before)


def test_the_first_frame_does_not_wait_for_the_first_window(viewer_factory, act):
    from lazyact.viz.limits import limits_from_sample

    gate = threading.Event()
    compute = act.store.function
    act.store.function = lambda rows, cols: (gate.wait(), compute(rows, cols))[1]
    try:
        v = viewer_factory(act, array="beta", window=50, start=100, spatial=False)  # returns at once
        assert v.loading and "loading" in v.titles()["heatmap"]
        assert not v.window_ready  # no placeholder colours on screen
        v.draw()  # the render loop draws while the window is read
        assert v.loading
    finally:
        gate.set()
    v.wait()
    # the window only: the neighbours are prefetched once the first window has been drawn
    assert act.store.stats.cells == N_PROTEINS * 50
    v.frame()
    assert v.window_ready and "loading" not in v.titles()["heatmap"]
    # beta limits (no stored summaries) come from the first window, not from the placeholder
    assert v.clim == limits_from_sample("beta", v.data) and v.clim[1] > 0
    v.wait(prefetch=True)
    assert act.store.stats.cells == N_PROTEINS * 150
    np.testing.assert_allclose(v.data, act.beta[:, 100:150], rtol=1e-6, atol=1e-6)


def heatmap_mask(v, frame):
    """The heatmap's cells (not its labels or title)."""
    nr, w = v.data.shape
    (x0, x1), (y0, y1) = screen(v, "heatmap", [-0.5, w - 0.5], [-0.5, nr - 0.5])
    mask = np.zeros(frame.shape[:2], dtype=bool)
    mask[min(y0, y1) + 2 : max(y0, y1) - 2, min(x0, x1) + 2 : max(x0, x1) - 2] = True
    return mask


# --------------------------------------------------------------------------- entry points
def test_view_and_selected_proteins(renderer, act):
    fig = view(act.zscore, proteins=["P8", "P3", "P0"], window=120, start="s400", offscreen=True, imgui=False,
               prefetch=False, spatial=False, size=(700, 400), renderer=renderer, protein="P8")
    try:
        v = fig.viewer
        assert v.figure is fig and v.source.views == ("beta", "se", "zscore", "pvalue", "-log10p")
        assert (v.start, v.protein) == (400, "P8")
        frac = red_fraction(heatmap_cells(v, v.frame()))
        assert frac[0] > 0.5 and frac[1:].max() < 0.05  # only rows P8, P3, P0 on screen
        assert act.store.stats.cells == 3 * 120
    finally:
        fig.viewer.close()


def test_render_png(renderer, act, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    path = tmp_path / "view.png"
    img = render_png(act, path, protein="P8", start=420, window=60, size=(640, 400), renderer=renderer)
    assert img.shape == (400, 640, 4)
    back = iio.imread(path)
    assert back.shape[:2] == (400, 640)
    np.testing.assert_array_equal(back[..., :3], img[..., :3])
    # computed: the window on screen and the spatial panel's row, nothing prefetched
    assert act.store.stats.cells == N_PROTEINS * 60 + (N_SAMPLES - 60)
    # the picture has the saturated red of P8's band
    assert (np.abs(img[..., :3].astype(float) - RED).max(axis=-1) < 30).sum() > 1000


def test_results_file(viewer_factory, act, tmp_path):
    from lazyact.viz.limits import limits_from_summary

    from lazyact.results import ActivityIO

    write = getattr(act, "to_hdf5", None) or (lambda *a, **k: ActivityIO.to_hdf5(act, *a, **k))
    path = write(tmp_path / "act.h5", summary=True, progress=False)
    v = viewer_factory(str(path), window=100, start=200, prefetch=False)
    assert v.source.views == ("beta", "se", "zscore", "pvalue", "-log10p")
    assert v.source.spatial is not None and v.source.summary is not None  # both stored in the file
    frac = red_fraction(heatmap_cells(v, v.frame()))
    assert frac.argmax() == PROTEINS.index("P3") and frac.max() > 0.99
    # what was read from the file: the window and the spatial panel's row
    assert v.source.stats.cells == N_PROTEINS * 100 + (N_SAMPLES - 100)
    v.set_view("beta")  # limits from the stored summaries, not from a scan
    assert v.clim == limits_from_summary("beta", v.source.summary)
