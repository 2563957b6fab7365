"""Viewing lazy activity: an interactive fastplotlib viewer and static matplotlib plots.

Everything here computes only what it draws: the viewer one window of samples at a time
(plus the neighbouring windows, prefetched in the background), the static plots the
slice, column or row they show. fastplotlib and matplotlib are imported on first use
(``pip install 'lazyact[viz]'``).

* :func:`view` -- interactive viewer (returns the fastplotlib ``Figure``; its
  :class:`Viewer` is ``figure.viewer``);
* :func:`render_png` -- the viewer's picture rendered offscreen to a PNG (CLI ``--png``);
* :func:`plot_heatmap`, :func:`plot_top`, :func:`plot_spatial` -- matplotlib plots.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Viewer", "view", "render_png", "plot_heatmap", "plot_top", "plot_spatial"]


def __getattr__(name: str) -> Any:
    # keep `import lazyact` free of fastplotlib/matplotlib imports
    if name in ("Viewer", "view", "render_png"):
        from . import viewer

        return getattr(viewer, name)
    if name in ("plot_heatmap", "plot_top", "plot_spatial"):
        from . import static

        return getattr(static, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
