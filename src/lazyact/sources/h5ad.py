"""File sources read chunk-wise with h5py: ``.h5ad`` (AnnData on disk) and 10x Genomics ``.h5``.

No ``anndata`` import is needed.  Files are cells x genes (h5ad) or genes x
cells (10x); both are presented as genes x cells.  Only the requested cells
are read (see :mod:`lazyact.sources.hdf5` for the cost of each layout):

========================  ===================================================
h5ad X encoding           cost of reading ``k`` cells
========================  ===================================================
CSR (``csr_matrix``)      their entries only: 1 ``indptr`` + 2 slice reads per
                          run of consecutive cells
CSC (``csc_matrix``)      one bounded streaming scan of all ``nnz`` indices
                          per read; ``iter_columns`` scans once per
                          ``scan_bytes`` super-block
dense dataset             ``k`` rows, one hyperslab per run
10x ``matrix`` (CSC g x c)  as h5ad CSR
========================  ===================================================

The choice of matrix (``layer``: ``raw/X`` when present, as SecActPy), the gene names
(``gene_column``, SecActPy's ``auto``) and the obs / var tables follow AnnData's encoding,
read by :mod:`lazyact.sources.encoding` (shared with the zarr reader,
:mod:`lazyact.sources.zarr`), where the rules are written out; the choice made is in
:attr:`H5ADSource.layer`.
"""
from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np
import pandas as pd

from .base import ExpressionSource, FileSource
from .dense import DenseSource
from .encoding import (
    SYMBOL_COLUMNS,
    AnnDataEncoded,
    read_column,
    read_index,
    resolve_gene_column,
    sparse_layout,
    to_str_names,
)
from .hdf5 import H5DenseMatrix, H5SparseMatrix, open_h5, read_guard
from .safety import attr_str, check_size, read_array, read_strings

__all__ = ["H5", "H5ADSource", "TenxH5Source", "open_path", "read_h5_column", "read_h5_index",
           "resolve_gene_column", "to_str_names", "SYMBOL_COLUMNS"]


# ----------------------------------------------------------------------------
# AnnData's encoding as h5py stores it
# ----------------------------------------------------------------------------
def _read_dataset(ds: h5py.Dataset) -> np.ndarray:
    """A whole dataset, its declared size checked against the file first; strings as objects."""
    if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind == "O":
        strings = read_strings(ds)  # checked against the file, then read in bounded chunks
        values = np.empty(len(strings), dtype=object)
        values[:] = strings
        return values.reshape(() if ds.shape is None else ds.shape)
    return read_array(ds)


class _H5Hierarchy:
    """h5py's side of :class:`~lazyact.sources.encoding.Hierarchy`."""

    @staticmethod
    def is_group(node: Any) -> bool:
        return isinstance(node, h5py.Group)

    @staticmethod
    def is_array(node: Any) -> bool:
        return isinstance(node, h5py.Dataset)

    @staticmethod
    def read(array: h5py.Dataset) -> np.ndarray:
        return _read_dataset(array)

    @staticmethod
    def deref(group: Any, value: Any) -> Any:
        return group.file[value] if isinstance(value, h5py.Reference) else None

    @staticmethod
    def size(array: h5py.Dataset, what: str) -> int:
        return check_size(array, what)

    @staticmethod
    def capacity(root: h5py.File) -> int:
        return int(root.id.get_filesize())


#: The :class:`~lazyact.sources.encoding.Hierarchy` of h5py files.
H5 = _H5Hierarchy()


def read_h5_column(group: h5py.Group, name: str) -> Any:
    """One column of an AnnData-encoded dataframe group of an HDF5 file
    (:func:`lazyact.sources.encoding.read_column`)."""
    return read_column(H5, group, name)


def read_h5_index(group: h5py.Group) -> np.ndarray | None:
    """The index of an AnnData dataframe group of an HDF5 file
    (:func:`lazyact.sources.encoding.read_index`)."""
    return read_index(H5, group)


# ----------------------------------------------------------------------------
# shared machinery for sources that own an h5py file
# ----------------------------------------------------------------------------
class _H5FileSource(FileSource):
    """A :class:`~lazyact.sources.base.FileSource` of an HDF5 file."""

    def _open_file(self) -> h5py.File:
        return open_h5(self.path)

    def _close_file(self, handle: h5py.File) -> None:
        handle.close()

    def _handle_valid(self, handle: h5py.File) -> bool:
        return bool(handle.id.valid)

    def _guard(self) -> Any:
        return read_guard(self.path)


class H5ADSource(AnnDataEncoded, _H5FileSource):
    """An ``.h5ad`` file read chunk-wise, presented as genes x cells.

    Parameters
    ----------
    path : str or os.PathLike
    layer : str, optional
        None (default): ``raw/X`` if present else ``X`` (as SecActPy's
        scRNA-seq path); ``"X"``, ``"raw"``, or the name of a ``layers`` entry.
    gene_column : str, optional
        None: var index; a var column name; or ``"auto"`` (SecActPy's Ensembl ->
        symbol rule).  See :mod:`lazyact.sources.encoding`.
    check_finite, check_counts : bool
        Checked per block when read.
    scan_chunk, scan_bytes : int
        Scan buffer (entries) and super-block budget (bytes) for CSC files.

    Attributes
    ----------
    layer : str
        The matrix actually used: ``"X"``, ``"raw"`` or a layer name.
    encoding : str
        ``"csr"``, ``"csc"`` or ``"dense"``.

    Notes
    -----
    Names are read lazily on first use of :attr:`genes` / :attr:`samples`.
    Pickles by reference (path and options); the copy reopens the file.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, anndata, tempfile, os
    >>> fn = os.path.join(tempfile.mkdtemp(), "a.h5ad")
    >>> anndata.AnnData(sp.random(4, 3, density=0.5, format="csr", random_state=0)).write_h5ad(fn)
    >>> with H5ADSource(fn) as src:
    ...     print(src.shape, src.encoding, src.columns(np.array([0, 3])).shape)
    (3, 4) csr (3, 2)
    """

    hierarchy = H5

    def describe(self) -> str:
        return f"H5ADSource('{self.path}', layer={getattr(self, 'layer', self.layer_requested)!r})"

    def _setup(self, f: h5py.File) -> None:
        self.setup_matrix(f)

    def _dense_reader(self, array: h5py.Dataset) -> H5DenseMatrix:
        return H5DenseMatrix(array, samples_first=True)

    def _sparse_reader(self, group: h5py.Group, n_genes: int, n_cells: int, sample_major: bool) -> H5SparseMatrix:
        return H5SparseMatrix(group["data"], group["indices"], group["indptr"], n_genes, n_cells, sample_major,
                              scan_chunk=self.scan_chunk, scan_bytes=self.scan_bytes)


class TenxH5Source(_H5FileSource):
    """A 10x Genomics feature-barcode ``.h5`` (v3 ``matrix`` group, or v2 genome group).

    The matrix is stored genes x cells in CSC, so a cell is one contiguous
    slice (cost as h5ad CSR).  ``gene_column="name"`` (default, gene symbols,
    as Seurat's ``Read10X_h5``) or ``"id"`` (Ensembl IDs).

    Examples
    --------
    >>> # src = TenxH5Source("filtered_feature_bc_matrix.h5")
    """

    def __init__(self, path: str | os.PathLike, *, gene_column: str | None = "name",
                 check_finite: bool = True, check_counts: bool = False,
                 scan_chunk: int = 1 << 18, scan_bytes: int = 256 << 20) -> None:
        self.gene_column = "name" if gene_column is None else gene_column
        if self.gene_column not in ("name", "id"):
            raise ValueError(f"gene_column for a 10x file must be 'name' or 'id', got {gene_column!r}")
        self.layer = "matrix"
        super().__init__(path, check_finite=check_finite, check_counts=check_counts,
                         scan_chunk=scan_chunk, scan_bytes=scan_bytes)

    def describe(self) -> str:
        return f"TenxH5Source('{self.path}')"

    @staticmethod
    def _find_group(f: h5py.File) -> h5py.Group | None:
        if "matrix" in f and isinstance(f["matrix"], h5py.Group):
            return f["matrix"]
        cands = [g for g in f.values() if isinstance(g, h5py.Group) and "indptr" in g and "barcodes" in g]
        return cands[0] if len(cands) == 1 else None

    def _setup(self, f: h5py.File) -> None:
        g = self._find_group(f)
        if g is None:
            raise ValueError(f"'{self.path}' is not a 10x feature-barcode matrix (keys {list(f.keys())})")
        self._group = g.name
        n_genes, n_cells = (int(x) for x in read_array(g["shape"], "shape"))
        sample_major = sparse_layout(g, n_genes, n_cells, False, "csc")
        check_size(g["indptr"], "sparse indptr")
        self._reader = H5SparseMatrix(g["data"], g["indices"], g["indptr"], n_genes, n_cells, sample_major,
                                      scan_chunk=self.scan_chunk, scan_bytes=self.scan_bytes)
        self._shape = self._reader.shape
        self._dtype = self._reader.dtype
        self._nnz = self._reader.nnz
        self.is_sparse = True
        self.encoding = "csc"

    def _read_genes(self, f: h5py.File) -> pd.Index:
        g = f[self._group]
        if "features" in g:
            key = "features/name" if self.gene_column == "name" else "features/id"
        else:
            key = "gene_names" if self.gene_column == "name" else "genes"
        return to_str_names(_read_dataset(g[key]), None)

    def _read_samples(self, f: h5py.File) -> pd.Index:
        return to_str_names(_read_dataset(f[self._group]["barcodes"]), None)


# ----------------------------------------------------------------------------
# path dispatch
# ----------------------------------------------------------------------------
def _looks_anndata(f: h5py.File) -> bool:
    if attr_str(f, "encoding-type") == "anndata":
        return True
    return any(k in f for k in ("X", "raw", "layers")) and "obs" in f


def open_path(path: str | os.PathLike, *, layer: str | None = None, gene_column: str | None = None,
              check_finite: bool = True, check_counts: bool = False, **kw: Any) -> ExpressionSource:
    """A source for a file path: ``.h5ad``; ``.h5``/``.hdf5`` holding AnnData or a
    10x matrix; ``.npy`` (memory-mapped, genes x samples unless
    ``orientation`` says otherwise).

    Examples
    --------
    >>> # open_path("pbmc.h5ad", layer="X", gene_column="auto")
    """
    p = os.fspath(path)
    low = p.lower()
    if low.endswith(".h5ad"):
        return H5ADSource(p, layer=layer, gene_column=gene_column, check_finite=check_finite,
                          check_counts=check_counts, **kw)
    if low.endswith((".h5", ".hdf5", ".he5", ".hdf")):
        f = open_h5(p)
        try:
            is_ad = _looks_anndata(f)
            is_10x = TenxH5Source._find_group(f) is not None
            keys = list(f.keys())
        finally:
            f.close()
        if is_ad:
            return H5ADSource(p, layer=layer, gene_column=gene_column, check_finite=check_finite,
                              check_counts=check_counts, **kw)
        if is_10x:
            if layer not in (None, "X", "matrix"):
                raise ValueError(f"'{p}' is a 10x matrix; it has no layer {layer!r}")
            return TenxH5Source(p, gene_column=gene_column, check_finite=check_finite,
                                check_counts=check_counts, **kw)
        raise ValueError(f"'{p}' is neither AnnData nor a 10x matrix (top-level keys {keys}); "
                         "for a plain 2-D dataset pass the h5py.Dataset with genes=, samples= and orientation=")
    if low.endswith(".npy"):
        orientation = kw.pop("orientation", None)
        arr = np.load(p, mmap_mode="r")
        return DenseSource(arr, kw.pop("genes", None), kw.pop("samples", None), orientation=orientation,
                           check_finite=check_finite, check_counts=check_counts)
    raise ValueError(f"don't know how to read '{p}': expected .h5ad, .h5 (AnnData or 10x) or .npy")
