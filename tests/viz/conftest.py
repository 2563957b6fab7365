"""Fixtures of the viewer tests: a small activity with planted active proteins, both renderers.

Viewer tests take the ``renderer`` fixture and run twice: with matplotlib (always
available: the fallback that draws where wgpu cannot) and with fastplotlib, which
needs a usable wgpu adapter (lavapipe on CPU machines: ``apt install
mesa-vulkan-drivers``). Where fastplotlib cannot draw, its runs skip with the reason,
and the reason is repeated in one line at the end of the test run. The offscreen
canvas is chosen in ``__init__.py``, before anything imports fastplotlib.
"""
from __future__ import annotations

import numpy as np
import pytest

import lazyact

from .helpers import make_activity

_FPL_SKIPS: list[str] = []


@pytest.fixture
def act() -> lazyact.LazyActivity:
    return make_activity()


@pytest.fixture(scope="module")
def shared_act() -> lazyact.LazyActivity:
    """One activity for tests that do not count computed cells (its cache warms up)."""
    return make_activity()


def _fpl_problem() -> str | None:
    """Why fastplotlib cannot draw offscreen here (None when it can)."""
    try:
        import fastplotlib as fpl
    except ImportError as exc:
        return f"fastplotlib is not installed ({exc})"
    from lazyact.viz.renderer import adapter_problem

    try:
        fig = fpl.Figure(size=(64, 48), canvas="offscreen")
        fig[0, 0].add_image(np.zeros((4, 4), np.float32))
        fig.show(axes_visible=False)
        np.asarray(fig.canvas.draw())
        fig.canvas.close()
    except RuntimeError as exc:  # "Request device failed" and friends
        return adapter_problem(exc)
    return None


_PROBLEM: list = []


@pytest.fixture(scope="session")
def fpl():
    """fastplotlib, usable offscreen, or skip with the reason."""
    if not _PROBLEM:
        _PROBLEM.append(_fpl_problem())
    if _PROBLEM[0] is not None:
        _FPL_SKIPS.append(_PROBLEM[0])
        pytest.skip(f"fastplotlib cannot draw here: {_PROBLEM[0]} (install mesa-vulkan-drivers for lavapipe)")
    import fastplotlib

    return fastplotlib


@pytest.fixture(params=["matplotlib", "fastplotlib"])
def renderer(request) -> str:
    """Each viewer test runs with both renderers (fastplotlib skips where wgpu cannot draw)."""
    if request.param == "fastplotlib":
        request.getfixturevalue("fpl")
    else:
        pytest.importorskip("matplotlib")
    return request.param


_FPL_SKIPPED = [0]


def pytest_runtest_logreport(report):
    # the session fixture raises its skip once; pytest replays it for every later test
    if report.skipped and "fastplotlib cannot draw here" in str(report.longrepr):
        _FPL_SKIPPED[0] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say once, at the end, why the fastplotlib viewer tests did not run."""
    if _FPL_SKIPS:
        terminalreporter.write_sep("-", "lazyact viewer")
        terminalreporter.write_line(
            f"{_FPL_SKIPPED[0]} fastplotlib viewer tests skipped: {_FPL_SKIPS[0]}; the same checks ran with the "
            "matplotlib renderer. Install a Vulkan driver (apt install mesa-vulkan-drivers) to run them."
        )
