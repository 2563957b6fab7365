"""AnnData objects (in memory or backed) as genes x cells sources.

``anndata`` is not imported by this module; the object is used through its
attributes (``X``, ``raw``, ``layers``, ``obs_names``, ``var``...).

* In memory: the chosen matrix (cells x genes) is wrapped transposed, without
  a copy: CSR ``X`` -> CSC genes x cells (a cell is a contiguous slice),
  dense ``X`` -> rows are cells (contiguous), CSC ``X`` -> CSR genes x cells
  (converted once to CSC on first read, see :mod:`lazyact.sources.sparse`).
* Backed (``read_h5ad(..., backed="r")``): reads go to the file through
  :class:`~lazyact.sources.h5ad.H5ADSource` (same ``layer`` rules), chunk-wise.

``layer=None`` prefers ``adata.raw`` as SecActPy's scRNA-seq path does
(``secactpy/inference.py:1538-1547``); see :mod:`lazyact.sources.h5ad`.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import ExpressionSource
from .dense import DenseSource
from .h5ad import H5ADSource, resolve_gene_column, to_str_names
from .sparse import SparseSource

__all__ = ["AnnDataSource", "is_anndata"]


def is_anndata(obj: Any) -> bool:
    """True for an ``anndata.AnnData`` (checked without importing anndata)."""
    ad = sys.modules.get("anndata")
    if ad is not None and isinstance(obj, getattr(ad, "AnnData", ())):
        return True
    return any(c.__name__ == "AnnData" and c.__module__.startswith("anndata") for c in type(obj).__mro__)


class AnnDataSource(ExpressionSource):
    """An AnnData (cells x genes) presented as genes x cells.

    Parameters
    ----------
    adata : anndata.AnnData
    layer : str, optional
        None (default): ``adata.raw.X`` when ``adata.raw`` is set, else
        ``adata.X``; ``"X"``; ``"raw"``; or a key of ``adata.layers``.
    gene_column : str, optional
        None (var names), a var column, or ``"auto"`` (SecActPy's Ensembl ->
        symbol rule); taken from ``raw.var`` when the raw matrix is used.
    check_finite, check_counts : bool

    Notes
    -----
    In memory, pickles the wrapped matrix and the names by value (not obs,
    uns...); backed, pickles the file path.  Backed *views* are refused
    (subset after loading, or pass the path).

    Examples
    --------
    >>> import anndata, numpy as np
    >>> a = anndata.AnnData(np.arange(6.0).reshape(2, 3))
    >>> src = AnnDataSource(a)
    >>> src.shape, src.columns(np.array([1])).ravel().tolist()
    ((3, 2), [3.0, 4.0, 5.0])
    """

    def __init__(self, adata: Any, *, layer: str | None = None, gene_column: str | None = None,
                 check_finite: bool = True, check_counts: bool = False, **file_options: Any) -> None:
        super().__init__(check_finite=check_finite, check_counts=check_counts)
        self.layer_requested = layer
        self.gene_column = gene_column
        if getattr(adata, "isbacked", False):
            if adata.is_view:
                raise NotImplementedError(
                    "a view of a backed AnnData cannot be read lazily; pass the .h5ad path "
                    "(and select cells/genes by index) or call .to_memory() on the view")
            self._inner: ExpressionSource = H5ADSource(
                os.fspath(adata.filename), layer=layer, gene_column=gene_column,
                check_finite=check_finite, check_counts=check_counts, **file_options)
            self.layer = self._inner.layer
            self.backed = True
            self._genes = None
            self._samples = None
            self._obsm = None
            self._obs = None
        else:
            self.backed = False
            has_raw = getattr(adata, "raw", None) is not None
            if layer is None:
                layer = "raw" if has_raw else "X"
            if layer == "raw":
                if not has_raw:
                    raise ValueError("the AnnData has no .raw, but layer='raw' was requested")
                mat, var_names, var = adata.raw.X, adata.raw.var_names, adata.raw.var
            elif layer == "X":
                mat, var_names, var = adata.X, adata.var_names, adata.var
            else:
                if layer not in adata.layers:
                    raise ValueError(f"the AnnData has no layer {layer!r}; layers: {list(adata.layers.keys())}")
                mat, var_names, var = adata.layers[layer], adata.var_names, adata.var
            if mat is None:
                raise ValueError(f"the AnnData has no {'X' if layer == 'X' else layer} matrix "
                                 f"(X is None); pass layer='raw' or one of {list(adata.layers.keys())}")
            self.layer = layer
            genes = self._gene_names(var_names, var, gene_column)
            samples = pd.Index(adata.obs_names)
            opts = dict(orientation="cells x genes", check_finite=check_finite, check_counts=check_counts)
            if sp.issparse(mat):
                self._inner = SparseSource(mat, genes, samples, **opts)
            elif isinstance(mat, np.ndarray):
                self._inner = DenseSource(mat, genes, samples, **opts)
            else:
                raise TypeError(
                    f"unsupported AnnData matrix type {type(mat).__module__}.{type(mat).__name__}; "
                    "use a numpy array or scipy sparse matrix (e.g. .compute() a dask array)")
            self._genes = genes
            self._samples = samples
            self._obsm = {k: np.asarray(v) for k, v in adata.obsm.items()
                          if isinstance(v, np.ndarray)}
            self._obs = adata.obs
        self.is_sparse = self._inner.is_sparse

    @staticmethod
    def _gene_names(var_names: pd.Index, var: pd.DataFrame, gene_column: str | None) -> pd.Index:
        col = resolve_gene_column(np.asarray(var_names, dtype=object), list(var.columns), gene_column)
        if col is None:
            return pd.Index(var_names)
        return to_str_names(var[col].to_numpy(), np.asarray(var_names, dtype=object))

    def describe(self) -> str:
        where = f"backed '{self._inner.path}'" if self.backed else "in memory"
        return f"AnnDataSource({where}, layer={self.layer!r})"

    @property
    def shape(self) -> tuple[int, int]:
        return self._inner.shape

    @property
    def genes(self) -> pd.Index:
        return self._inner.genes if self._genes is None else self._genes

    @property
    def samples(self) -> pd.Index:
        return self._inner.samples if self._samples is None else self._samples

    @property
    def dtype(self) -> np.dtype:
        return self._inner.dtype

    @property
    def nnz(self) -> int | None:
        return self._inner.nnz

    @property
    def inner(self) -> ExpressionSource:
        """The backend source doing the reads."""
        return self._inner

    def _read(self, cols: np.ndarray):
        return self._inner._read(cols)

    def _iter_raw(self, block: int, start: int, stop: int):
        return self._inner._iter_raw(block, start, stop)

    def _compute_column_totals(self) -> np.ndarray:
        self._inner.check_counts = self.check_counts
        return self._inner._compute_column_totals()

    def _validate(self, block, cols):
        if np.dtype(self.dtype).kind in "biu" and not self.check_counts:
            return
        super()._validate(block, cols)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_obs"] = None  # the annotations stay in the process that has the AnnData
        if state.get("_obsm"):  # keep only the coordinates the viewer needs
            state["_obsm"] = {k: v for k, v in state["_obsm"].items() if k == "spatial"}
        return state

    def obs_keys(self) -> list[str]:
        """Column names of ``obs``."""
        if self.backed:
            return self._inner.obs_keys()
        return [] if self._obs is None else [str(c) for c in self._obs.columns]

    def obs_column(self, name: str) -> pd.Series:
        """One ``obs`` column, indexed by sample name."""
        if self.backed:
            return self._inner.obs_column(name)
        if self._obs is None or name not in self._obs.columns:
            raise KeyError(f"obs has no column {name!r}; available: {self.obs_keys()}")
        return pd.Series(self._obs[name].array, index=self.samples, name=name)

    def obsm(self, key: str) -> np.ndarray:
        """``obsm[key]`` as an array (cells x d)."""
        if self.backed:
            return self._inner.obsm(key)
        if key not in self._obsm:
            raise KeyError(f"the AnnData has no array obsm['{key}']; obsm keys: {list(self._obsm)}")
        return self._obsm[key]

    @property
    def spatial(self) -> np.ndarray:
        """``obsm['spatial']`` for the viewer."""
        return self.obsm("spatial")

    def close(self) -> None:
        self._inner.close()
