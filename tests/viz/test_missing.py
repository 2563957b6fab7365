"""Samples without an answer (NaN statistics, e.g. empty cells) are drawn as missing, never as a colour.

The fastplotlib colour map would draw NaN as the low end of the scale (a strongly negative z-score);
the viewer draws such heatmap cells as holes (the panel's background) and does not draw their spots.
"""
import numpy as np
import pytest

import lazyact
from lazyact.viz.viewer import Viewer

from .helpers import GRID_W, _planted_inputs, expected_colors, heatmap_cells, screen

INVALID = np.r_[212, 215, 216, GRID_W * 11: GRID_W * 14]  # 3 cells of the window, and rows 11-13 of the grid


class MaskedExpression:
    """Dense expression with a per-sample ``valid`` mask (the protocol of lazyact.preprocess.expression)."""

    def __init__(self, Y, valid):
        self.Y, self.shape, self.valid = Y, Y.shape, valid

    def block(self, cols):
        return np.ascontiguousarray(self.Y[:, cols])


@pytest.fixture(scope="module")
def masked_act():
    T, Y, xy = _planted_inputs()
    valid = np.ones(Y.shape[1], bool)
    valid[INVALID] = False
    return lazyact.LazyActivity(T, 50, MaskedExpression(Y, valid), spatial=xy)


def test_nan_cells_and_spots_are_drawn_as_missing(renderer, masked_act):
    v = Viewer(masked_act, offscreen=True, imgui=None, size=(900, 520), renderer=renderer, protein=3, window=100,
               start=210, prefetch=False)
    try:
        frame = v.frame()
        z = masked_act.zscore[:, 210:310]
        assert np.isnan(z[:, [2, 5, 6]]).all()
        got = heatmap_cells(v, frame)
        if renderer == "fastplotlib":
            hole = np.asarray(v.figure["heatmap"].background_color[0].rgba[:3]) * 255
        else:
            hole = np.asarray(v.panels.ax.get_facecolor()[:3]) * 255
        np.testing.assert_allclose(got[:, [2, 5, 6]], np.broadcast_to(hole, got[:, [2, 5, 6]].shape), atol=3)
        ok = ~np.isnan(z)
        want = expected_colors(np.where(ok, z, 0.0), "matplotlib:coolwarm", *v.clim)
        assert np.median(np.abs(got[ok] - want[ok])) <= 3.0  # the other cells keep their colours
        # spots: the middle grid row of the invalid block is not drawn (its neighbours are invalid too)
        mid = np.arange(GRID_W * 12 + 1, GRID_W * 13 - 1)
        xy = masked_act.spatial
        px, py = screen(v, "spatial", xy[mid, 0], xy[mid, 1])
        if renderer == "fastplotlib":
            v.panels.scatter.visible = False
        else:
            v.panels.scatter.set_visible(False)
        bare = v.frame()
        np.testing.assert_array_equal(frame[py, px, :3], bare[py, px, :3])  # the same as no spot at all
        drawn = np.arange(GRID_W * 15, GRID_W * 16)  # valid spots are drawn
        qx, qy = screen(v, "spatial", xy[drawn, 0], xy[drawn, 1])
        assert (np.abs(frame[qy, qx, :3].astype(int) - bare[qy, qx, :3].astype(int)).sum(axis=1) > 30).mean() > 0.9
    finally:
        v.close()
