"""Backend selection: ``numpy`` (CPU, numba + BLAS) or ``cupy`` (GPU)."""
from __future__ import annotations

import functools

__all__ = ["BACKENDS", "resolve_backend", "cupy_available"]

BACKENDS = ("auto", "numpy", "cupy")


@functools.lru_cache(maxsize=1)
def cupy_available() -> bool:
    """True when cupy imports and a CUDA device answers."""
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        cupy.zeros(1).sum()
        return True
    except Exception:
        return False


def resolve_backend(backend: str) -> str:
    """Resolve ``"auto"`` to ``"cupy"`` when a GPU is usable, else ``"numpy"``.

    >>> resolve_backend("numpy")
    'numpy'
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(map(repr, BACKENDS))}")
    if backend == "auto":
        return "cupy" if cupy_available() else "numpy"
    if backend == "cupy" and not cupy_available():
        raise ValueError("backend='cupy' needs cupy and a CUDA device; install lazyact[gpu] or use backend='numpy'")
    return backend
