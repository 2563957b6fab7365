"""Which renderer can draw here: fastplotlib (GPU through wgpu) or the matplotlib fallback.

Kept apart from :mod:`~lazyact.viz.viewer` so that the panel renderers and the viewer
both import it without an import circle.
"""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

__all__ = [
    "RendererUnavailable",
    "RendererFallbackWarning",
    "import_fastplotlib",
    "adapter_problem",
    "no_adapter",
]

# Why wgpu could not draw in this process, once it failed: pygfx keeps its half-made device, and a
# second attempt fails with an AttributeError instead of the reason, so later viewers reuse this.
_NO_ADAPTER: str | None = None

_VULKAN_FIX = "install a Vulkan driver (CPU-only machines: apt install mesa-vulkan-drivers, Mesa's lavapipe)"


class RendererUnavailable(RuntimeError):
    """fastplotlib cannot draw here (not installed, or wgpu finds no usable GPU adapter).

    ``problem`` says what is missing; the message adds the fix, on one line.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix if fix is not None else (
            f"to open the viewer {_VULKAN_FIX}; a picture needs no GPU: `lazyact view INPUT --png FILE` "
            "or lazyact.viz.render_png (drawn with matplotlib)"
        )
        super().__init__(f"{problem}; {self.fix}")


class RendererFallbackWarning(UserWarning):
    """The picture was drawn with matplotlib because fastplotlib could not draw here."""


def import_fastplotlib(offscreen: bool = False) -> Any:
    """Import fastplotlib; ``offscreen=True`` forces the offscreen canvas if not yet imported.

    Interactive use must not force offscreen: then rendercanvas picks a GUI backend
    (Qt, glfw or Jupyter) and an ``ImportError`` explains what to install when none is
    available.
    """
    if offscreen and "fastplotlib" not in sys.modules:
        os.environ.setdefault("RENDERCANVAS_FORCE_OFFSCREEN", "1")
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    try:
        import fastplotlib as fpl
    except ImportError as exc:
        raise ImportError(
            "the lazyact viewer needs fastplotlib with a GUI backend: pip install 'lazyact[viz]' glfw "
            "(or pyside6; in Jupyter, jupyter_rfb). Without a display use lazyact.viz.render_png or "
            f"RENDERCANVAS_FORCE_OFFSCREEN=1. ({exc})"
        ) from exc
    return fpl


def adapter_problem(exc: BaseException) -> str:
    """One line saying why wgpu cannot draw, from the exception it raised."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reason = lines[-1] if lines else type(exc).__name__
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return f"no usable GPU adapter for wgpu ({reason})"


def no_adapter(problem: str | None = None) -> str | None:
    """Why wgpu cannot draw in this process (None while it has not failed); ``problem`` records it.

    Process state, so no example here: recording a problem turns every later viewer of the
    process to matplotlib (tested in a subprocess without Vulkan, tests/viz/test_entry.py).
    """
    global _NO_ADAPTER
    if problem is not None:
        _NO_ADAPTER = problem
    return _NO_ADAPTER
