"""Expression sources: readers of genes x samples data that give columns on request.

Sources read; they apply no SecActPy rule (names are kept as stored, duplicates
included): :mod:`lazyact.preprocess` does that.

:func:`as_source` turns any supported input into an
:class:`~lazyact.sources.base.ExpressionSource`:

==========================================  ===========================================
input                                       source
==========================================  ===========================================
``numpy.ndarray`` / ``numpy.memmap``        :class:`DenseSource` (genes x samples, or
                                            ``orientation="samples x genes"``)
``pandas.DataFrame``                        index = genes, columns = samples
scipy sparse matrix / array                 :class:`SparseSource`
``h5py.Dataset`` (2-D)                      :class:`HDF5Source`
path ``.h5ad``                              :class:`H5ADSource` (chunk-wise, cells x genes)
path ``.h5`` (AnnData or 10x)               :class:`H5ADSource` / :class:`TenxH5Source`
path ``.npy``                               memory-mapped :class:`DenseSource`
path of an AnnData zarr store (``.zarr``)   :class:`ZarrSource` (chunk-wise, cells x genes)
a folder (Space Ranger / Visium output)     :class:`VisiumSource` (in-tissue spots)
``anndata.AnnData`` (memory or backed)      :class:`AnnDataSource` (cells x genes)
an ``ExpressionSource``                     itself
==========================================  ===========================================
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .anndata import AnnDataSource, is_anndata
from .base import ExpressionSource, FileLockedError, SourceClosedError, SourceReadError, parse_orientation
from .dense import DenseSource, from_dataframe
from .h5ad import H5ADSource, TenxH5Source, open_path
from .hdf5 import HDF5Source, open_h5
from .safety import UnsafeFileError, printable
from .sparse import SparseSource
from .subset import ColumnSubset
from .visium import VisiumSource, is_visium_folder
from .zarr import ZarrSource, is_zarr_store

__all__ = [
    "as_source",
    "ExpressionSource",
    "DenseSource",
    "SparseSource",
    "HDF5Source",
    "H5ADSource",
    "TenxH5Source",
    "ZarrSource",
    "is_zarr_path",
    "AnnDataSource",
    "ColumnSubset",
    "VisiumSource",
    "is_visium_folder",
    "from_dataframe",
    "parse_orientation",
    "SourceReadError",
    "SourceClosedError",
    "FileLockedError",
    "UnsafeFileError",
    "open_h5",
    "printable",
]


def is_zarr_path(obj: Any) -> bool:
    """Whether ``obj`` is the path of a zarr store (a ``.zarr`` name or a directory with zarr metadata)."""
    if not isinstance(obj, (str, os.PathLike)):
        return False
    return os.fspath(obj).rstrip("/").lower().endswith(".zarr") or is_zarr_store(obj)


def _is_folder(path: Any) -> bool:
    """A directory, or a path that names no file and has no file suffix (a missing folder)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return True
    return not os.path.exists(p) and (p.endswith(("/", os.sep)) or not os.path.splitext(p)[1])


def as_source(obj: Any, *, genes: Sequence[Any] | None = None, samples: Sequence[Any] | None = None,
              orientation: str | None = None, layer: str | None = None,
              gene_column: str | None = None, check_finite: bool = True,
              check_counts: bool = False, **options: Any) -> ExpressionSource:
    """Wrap expression data as an :class:`ExpressionSource` (genes x samples).

    Parameters
    ----------
    obj
        See the module table.
    genes, samples : sequence, optional
        Names for inputs that carry none (NumPy, SciPy, h5py, .npy).
    orientation : str, optional
        ``"genes x samples"`` (default for unnamed matrices) or
        ``"samples x genes"`` / ``"cells x genes"``.  AnnData and .h5ad are
        cells x genes by definition (anything else is an error); for a
        DataFrame the index holds genes unless ``"samples x genes"``.
    layer : str, optional
        AnnData / .h5ad / zarr: None (``raw`` if present, else ``X``), ``"X"``,
        ``"raw"`` or a ``layers`` key.
    gene_column : str, optional
        AnnData / .h5ad: take gene names from this var column, ``"auto"`` (a symbol
        column when the names are Ensembl IDs), or ``"var_names"`` (the index as stored).
        10x .h5: ``"name"`` (default) or ``"id"``.
    check_finite, check_counts : bool
        Per-block value checks (NaN/inf; negative values).
    **options
        Backend options, e.g. ``csr_strategy`` (SciPy), ``scan_bytes`` /
        ``scan_chunk`` (.h5ad / .h5).

    Returns
    -------
    ExpressionSource

    Examples
    --------
    >>> import numpy as np
    >>> src = as_source(np.zeros((4, 3)), genes=list("ABCD"))
    >>> src.shape, src.is_sparse
    ((4, 3), False)
    >>> as_source(np.zeros((3, 4)), genes=list("ABCD"), orientation="cells x genes").shape
    (4, 3)
    """
    checks = dict(check_finite=check_finite, check_counts=check_counts)
    if isinstance(obj, ExpressionSource):
        if any(v is not None for v in (genes, samples, orientation, layer, gene_column)) or options:
            raise TypeError("as_source got an ExpressionSource together with options that would be ignored")
        return obj

    cells_first_only = is_anndata(obj) or isinstance(obj, (str, os.PathLike))
    if cells_first_only and isinstance(obj, (str, os.PathLike)) and os.fspath(obj).lower().endswith(".npy"):
        cells_first_only = False
    if cells_first_only:
        if orientation is not None and not parse_orientation(orientation):
            raise ValueError(
                f"AnnData / .h5ad / .h5 data is cells x genes by definition; orientation="
                f"{orientation!r} contradicts it (leave orientation unset)")
        if genes is not None or samples is not None:
            raise TypeError("genes=/samples= are taken from the file or AnnData; "
                            "use gene_column= to choose the gene names")
        if is_anndata(obj):
            return AnnDataSource(obj, layer=layer, gene_column=gene_column, **checks, **options)
        if is_zarr_path(obj):  # a directory too: before the Visium folder
            return ZarrSource(obj, layer=layer, gene_column=gene_column, **checks, **options)
        if _is_folder(obj):
            if layer not in (None, "X", "matrix"):
                raise ValueError(f"'{os.fspath(obj)}' is a Visium folder; it has no layer {layer!r}")
            return VisiumSource(obj, gene_column=gene_column, **checks)
        return open_path(obj, layer=layer, gene_column=gene_column, **checks, **options)

    if isinstance(obj, (str, os.PathLike)):  # .npy
        return open_path(obj, orientation=orientation, genes=genes, samples=samples, **checks)
    if layer is not None or gene_column is not None:
        raise TypeError(f"layer= and gene_column= apply to AnnData and .h5ad inputs, "
                        f"not {type(obj).__name__}")
    if isinstance(obj, pd.DataFrame):
        if genes is not None or samples is not None:
            raise TypeError("a DataFrame carries its names: genes are the index, samples the columns")
        return from_dataframe(obj, orientation=orientation, **checks)
    if sp.issparse(obj):
        return SparseSource(obj, genes, samples, orientation=orientation, **checks, **options)
    if isinstance(obj, h5py.Dataset):
        return HDF5Source(obj, genes, samples, orientation=orientation, **checks)
    if isinstance(obj, np.ndarray):
        return DenseSource(obj, genes, samples, orientation=orientation, **checks)
    if isinstance(obj, (list, tuple)):
        raise TypeError("pass a NumPy array, not a Python list (np.asarray(...) first)")
    raise TypeError(
        f"cannot use {type(obj).__module__}.{type(obj).__name__} as expression data; supported: "
        "numpy.ndarray / memmap, pandas.DataFrame, scipy.sparse, h5py.Dataset, a .h5ad/.h5/.npy "
        "path, anndata.AnnData, or an ExpressionSource")
