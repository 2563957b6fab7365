"""Viewer tests. The offscreen canvas must be chosen before fastplotlib is imported."""
import os
import tempfile

os.environ.setdefault("RENDERCANVAS_FORCE_OFFSCREEN", "1")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
