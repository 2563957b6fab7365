"""Planted test data and pixel helpers of the viewer tests."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import lazyact

# --------------------------------------------------------------------------- planted data
N_GENES, N_PROTEINS, N_SAMPLES = 300, 12, 600
N_RAND = 50
PROTEINS = [f"P{i}" for i in range(N_PROTEINS)]
#: planted protein -> samples where it is active
PLANTED = {"P3": (200, 320), "P8": (420, 480)}
STRENGTH = 3.0
GRID_W = 30  # spots on a 30 x 20 grid, sample j at (j % 30, j // 30)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _planted_inputs():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N_GENES, N_PROTEINS))
    Y = rng.standard_normal((N_GENES, N_SAMPLES))
    for name, (a, b) in PLANTED.items():
        k = PROTEINS.index(name)
        Y[:, a:b] += STRENGTH * X[:, [k]]
    T = lazyact.ridge.projection(X, lambda_=1000.0)
    j = np.arange(N_SAMPLES)
    xy = np.column_stack([j % GRID_W, j // GRID_W]).astype(np.float64)
    return T, Y, xy


_INPUTS = None


def make_activity(spatial: bool = True, **kwargs) -> lazyact.LazyActivity:
    """A fresh LazyActivity (own block store and cache) over the planted data."""
    global _INPUTS
    if _INPUTS is None:
        _INPUTS = _planted_inputs()
    T, Y, xy = _INPUTS
    return lazyact.LazyActivity(
        T, N_RAND, Y, proteins=PROTEINS, samples=[f"s{i}" for i in range(N_SAMPLES)],
        spatial=xy if spatial else None, **kwargs,
    )


def computed_mask(act: lazyact.LazyActivity) -> np.ndarray:
    """Boolean (proteins x samples) mask of the cells the block store has computed."""
    store = act.store
    rc, cc = store.chunks
    mask = np.zeros(store.shape, dtype=bool)
    for (i, j), block in zip(store.cache.keys(), store.cache.blocks()):
        if block.done is not None:
            mask[i * rc : i * rc + block.shape[0], j * cc : j * cc + block.shape[1]] = block.done
    return mask


def lut(name: str) -> np.ndarray:
    """(256, 3) uint8-scaled colour table of a colour map (cmap-library or matplotlib name)."""
    try:
        import cmap

        return cmap.Colormap(name).lut(256)[:, :3] * 255.0
    except ImportError:  # matplotlib only
        import matplotlib

        return matplotlib.colormaps[name.split(":")[-1]](np.linspace(0, 1, 256))[:, :3] * 255.0


def expected_colors(values: np.ndarray, cmap_name: str, lo: float, hi: float) -> np.ndarray:
    t = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return lut(cmap_name)[np.round(t * 255).astype(int)]


def screen(viewer, panel, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (column, row) indices of data points of a viewer panel, for either renderer."""
    return viewer.panels.pixel(panel, x, y)


def heatmap_cells(viewer, frame: np.ndarray) -> np.ndarray:
    """RGB (rows x window x 3) of the pixel at the centre of every heatmap cell."""
    nr, w = viewer.data.shape
    rr, cc = np.meshgrid(np.arange(nr), np.arange(w), indexing="ij")
    px, py = screen(viewer, "heatmap", cc.ravel(), rr.ravel())
    return frame[py, px, :3].astype(np.float64).reshape(nr, w, 3)


def save_doc_image(frame: np.ndarray, name: str) -> None:
    """Write a screenshot for docs/viewer.md when LAZYACT_DOCS_IMAGES=1 (off by default)."""
    if os.environ.get("LAZYACT_DOCS_IMAGES", "0") != "1":
        return
    import imageio.v3 as iio

    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    rgb = np.ascontiguousarray(frame[..., :3])
    iio.imwrite(DOCS_IMG / name, rgb, optimize=True)
