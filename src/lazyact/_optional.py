"""Optional dependencies, imported when used, with the command that installs them.

Examples
--------
>>> require("numpy", "arrays").__name__
'numpy'
>>> install_hint("dask.array")
"pip install 'lazyact[dask]'"
"""
from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "install_hint", "require"]

#: Top-level module -> the extra of ``pyproject.toml`` that installs it.
EXTRAS = {
    "anndata": "anndata",
    "dask": "dask",
    "distributed": "dask",
    "xarray": "xarray",
    "matplotlib": "viz",
    "fastplotlib": "viz",
    "imageio": "viz",
}


def install_hint(module: str) -> str:
    """The pip command that installs ``module`` with lazyact (its extra, else the package itself)."""
    top = module.split(".")[0]
    extra = EXTRAS.get(top)
    return f"pip install 'lazyact[{extra}]'" if extra else f"pip install {top}"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module``; if it is missing, an ``ImportError`` that names the extra to install.

    Parameters
    ----------
    module : str
        E.g. ``"dask.array"``.
    purpose : str
        What needs it, for the message (``"to_dask()"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(f"{purpose} needs {top}, which is not installed: {install_hint(module)}") from exc
