"""lazyact: lazy, NumPy-like arrays of secreted-protein activity."""
from ._version import __version__

__all__ = ["__version__"]
