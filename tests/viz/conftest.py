"""Fixtures of the viewer tests: a small activity with planted active proteins, offscreen rendering.

Tests that draw with fastplotlib take the ``fpl`` fixture, which skips when fastplotlib
or a Vulkan adapter (lavapipe on CPU machines) is missing. The offscreen canvas is chosen
in ``__init__.py``, before anything imports fastplotlib.
"""
from __future__ import annotations

import numpy as np
import pytest

import lazyact

from .helpers import make_activity


@pytest.fixture
def act() -> lazyact.LazyActivity:
    return make_activity()


@pytest.fixture(scope="module")
def shared_act() -> lazyact.LazyActivity:
    """One activity for tests that do not count computed cells (its cache warms up)."""
    return make_activity()


@pytest.fixture(scope="session")
def fpl():
    """fastplotlib, usable offscreen, or skip with the reason."""
    fpl = pytest.importorskip("fastplotlib", reason="fastplotlib is not installed")
    try:
        if len(fpl.enumerate_adapters()) < 1:
            pytest.skip("no Vulkan/GPU adapter for wgpu (install mesa-vulkan-drivers for lavapipe)")
        fig = fpl.Figure(size=(64, 48), canvas="offscreen")
        fig[0, 0].add_image(np.zeros((4, 4), np.float32))
        fig.show(axes_visible=False)
        np.asarray(fig.canvas.draw())
        fig.canvas.close()
    except RuntimeError as exc:  # "Request device failed" and friends
        pytest.skip(f"offscreen rendering unavailable: {exc}")
    return fpl


