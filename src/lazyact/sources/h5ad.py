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

Which matrix (``layer``)
------------------------
``layer=None`` mirrors SecActPy's ``secact_activity_inference_scrnaseq``: use
``raw/X`` (with ``raw/var`` names) when the file has it, else ``X``
(``secactpy/inference.py:1538-1547`` for AnnData objects, and
``streaming.py:117-131`` for the h5ad streaming reader).  Note that
``secact_activity_inference_st`` uses ``X`` of an AnnData and ignores ``raw``
(``inference.py:2255-2262``); pass ``layer="X"`` to reproduce it.
``layer="raw"`` requires ``raw/X``; any other string names ``layers/<name>``.
The choice made is in :attr:`H5ADSource.layer`.

Gene names
----------
``gene_column=None`` (or ``"var_names"``) gives the var index as stored.  ``gene_column="name"``
takes a var column (categorical columns are decoded; missing entries fall
back to the index).  ``gene_column="auto"`` mirrors SecActPy's
``_resolve_gene_names`` (``inference.py:52-63``, ``streaming.py:303-321``):
when more than half of the index starts with ``ENSG``/``ENSMUSG``, use the
first of the var columns ``gene_name``, ``feature_name``, ``gene_symbol``,
``symbol`` that exists, then scanpy's ``gene_symbols``; when none exists it is
an error that lists the var columns (SecActPy would go on with the IDs and
find no shared genes).
"""
from __future__ import annotations

import os
import warnings
from typing import Any

import h5py
import numpy as np
import pandas as pd

from .base import ExpressionSource, SourceClosedError
from .dense import DenseSource
from .hdf5 import H5DenseMatrix, H5SparseMatrix, ensure_valid, open_h5, read_guard
from .safety import UnsafeFileError, attr_shape, attr_str, attr_strings, check_size, printable, read_array, read_strings

__all__ = ["H5ADSource", "TenxH5Source", "open_path", "read_h5_column", "read_h5_index"]

#: SecActPy's symbol columns, in its order (inference.py:58), then scanpy's (``sc.read_10x_mtx(var_names="gene_ids")``)
SYMBOL_COLUMNS = ("gene_name", "feature_name", "gene_symbol", "symbol", "gene_symbols")


# ----------------------------------------------------------------------------
# reading AnnData-encoded columns with plain h5py
# ----------------------------------------------------------------------------
_attr_str = attr_str  # a string attribute, validated (None when absent)


def _read_dataset(ds: h5py.Dataset) -> np.ndarray:
    """A whole dataset, its declared size checked against the file first; strings as objects."""
    if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind == "O":
        strings = read_strings(ds)  # checked against the file, then read in bounded chunks
        values = np.empty(len(strings), dtype=object)
        values[:] = strings
        return values.reshape(() if ds.shape is None else ds.shape)
    return read_array(ds)


def read_h5_column(group: h5py.Group, name: str) -> Any:
    """One column of an AnnData-encoded dataframe group (obs, var, raw/var).

    Handles plain arrays, string arrays (vlen or fixed), categoricals (new
    ``codes``/``categories`` groups and the pre-0.8 ``categories`` attribute
    reference), and nullable arrays (``values``/``mask``).

    Returns
    -------
    numpy.ndarray or pandas.Categorical or pandas array
    """
    if name not in group:
        cols = [k for k in group.keys() if k not in ("__categories",)]
        raise KeyError(f"column '{name}' not found in {group.name}; available: {cols}")
    node = group[name]
    if isinstance(node, h5py.Group):
        if "codes" in node and "categories" in node:
            codes = read_array(node["codes"], "categorical codes")
            cats = _read_dataset(node["categories"])
            return pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(cats))
        if "values" in node and "mask" in node:
            values = _read_dataset(node["values"])
            mask = np.asarray(read_array(node["mask"], "nullable mask"), dtype=bool)
            s = pd.Series(values)
            return s.mask(mask).array
        raise ValueError(f"unsupported column encoding "
                         f"'{_attr_str(node, 'encoding-type')}' for {printable(node.name)}")
    ref = node.attrs.get("categories", None)
    if isinstance(ref, h5py.Reference):  # anndata < 0.8 categorical
        cats = _read_dataset(group.file[ref])
        codes = read_array(node, "categorical codes")
        return pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(cats))
    return _read_dataset(node)


def read_h5_index(group: h5py.Group) -> np.ndarray | None:
    """The index of an AnnData dataframe group: ``attrs['_index']`` names the
    dataset (``_index`` in current files, e.g. ``index`` or ``cell_id`` in
    others); falls back to ``_index`` / ``index`` datasets.  None if absent."""
    name = _attr_str(group, "_index")
    for key in ([name] if name else []) + ["_index", "index"]:
        if key in group:
            col = read_h5_column(group, key)
            return np.asarray(col, dtype=object) if not isinstance(col, np.ndarray) else col
    return None


def _columns_of(group: h5py.Group) -> list[str]:
    order = attr_strings(group, "column-order")
    if order:
        return order
    idx = _attr_str(group, "_index") or "_index"
    return [k for k in group.keys() if k not in (idx, "__categories")]


def to_str_names(values: Any, fallback: np.ndarray | None) -> pd.Index:
    """Names as a string Index; missing entries (NaN/None/'') replaced by ``fallback``."""
    arr = np.asarray(pd.Series(values, dtype=object).to_numpy(), dtype=object)
    miss = pd.isna(arr) | (arr == "")
    if miss.any():
        if fallback is None:
            raise ValueError(f"{int(miss.sum())} gene names are missing and there is no index to fall back to")
        arr = arr.copy()
        arr[miss] = np.asarray(fallback, dtype=object)[miss]
    return pd.Index([str(x) for x in arr], dtype=object)


def resolve_gene_column(index: np.ndarray | None, columns: list[str], gene_column: str | None) -> str | None:
    """Which var column to take names from (None: the index; ``gene_column="var_names"`` asks for it)."""
    if gene_column is None or (gene_column == "var_names" and "var_names" not in columns):
        return None
    if gene_column != "auto":
        if gene_column not in columns:
            raise KeyError(f"gene_column '{gene_column}' not in var; available columns: {columns}")
        return gene_column
    if index is None:
        return next((c for c in SYMBOL_COLUMNS if c in columns), None)
    names = [str(x) for x in index]
    n_ens = sum(1 for g in names if g.startswith(("ENSG", "ENSMUSG")))
    if n_ens > len(names) * 0.5:
        found = next((c for c in SYMBOL_COLUMNS if c in columns), None)
        if found is None:
            raise ValueError(
                f"the gene names are Ensembl IDs ({names[0]!r}, ...) and gene_column='auto' found none of the "
                f"symbol columns {', '.join(SYMBOL_COLUMNS)} in var; var columns: {columns}. Name the column "
                "that holds gene symbols: gene_column='<column>' (command line: --gene-column COLUMN), or "
                "gene_column='var_names' (--gene-column var_names) to match the Ensembl IDs as they are")
        return found
    return None


# ----------------------------------------------------------------------------
# shared machinery for sources that own an h5py file
# ----------------------------------------------------------------------------
class _H5FileSource(ExpressionSource):
    """An HDF5 file opened by path; pickles as its path and options."""

    _transient = ("_file", "_reader", "_genes", "_samples")

    def __init__(self, path: str | os.PathLike, *, check_finite: bool, check_counts: bool,
                 scan_chunk: int, scan_bytes: int) -> None:
        super().__init__(check_finite=check_finite, check_counts=check_counts)
        self.path = os.fspath(path)
        self.scan_chunk = int(scan_chunk)
        self.scan_bytes = int(scan_bytes)
        self._file: h5py.File | None = None
        self._reader: Any = None
        self._genes: pd.Index | None = None
        self._samples: pd.Index | None = None
        self._open()

    # subclass: inspect the open file, set self._reader, self._shape, self.is_sparse
    def _setup(self, f: h5py.File) -> None:
        raise NotImplementedError

    def _open(self) -> None:
        f = open_h5(self.path)
        try:
            with read_guard(self.path):
                self._setup(f)
        except BaseException:
            f.close()
            raise
        self._file = f

    def _reopen(self) -> None:
        self._open()

    def close(self) -> None:
        """Close the file; reading afterwards raises ``SourceClosedError``."""
        if self._file is not None:
            self._file.close()
        self._file = None
        self._reader = None

    def _f(self) -> h5py.File:
        if self._file is None or not self._file.id.valid:
            raise SourceClosedError(f"{self.describe()} is closed; create a new source from the path")
        return self._file

    def _live(self) -> Any:
        if self._reader is None:
            raise SourceClosedError(f"{self.describe()} is closed; create a new source from the path")
        ensure_valid(self._reader.data if isinstance(self._reader, H5SparseMatrix) else self._reader.ds,
                     self.describe())
        return self._reader

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def nnz(self) -> int | None:
        return self._nnz

    @property
    def genes(self) -> pd.Index:
        if self._genes is None:
            with self._lock, read_guard(self.path):
                if self._genes is None:
                    self._genes = self._read_genes(self._f())
        return self._genes

    @property
    def samples(self) -> pd.Index:
        if self._samples is None:
            with self._lock, read_guard(self.path):
                if self._samples is None:
                    self._samples = self._read_samples(self._f())
        return self._samples

    def _read(self, cols: np.ndarray):
        r = self._live()
        with read_guard(self.path):
            return r.read(cols)

    def _iter_raw(self, block: int, start: int, stop: int):
        r = self._live()
        with read_guard(self.path):
            yield from r.iter_blocks(block, start, stop)

    def _compute_column_totals(self) -> np.ndarray:
        r = self._live()
        if isinstance(r, H5SparseMatrix):
            with read_guard(self.path):
                tot, neg = r.column_totals(self.check_counts)
            if neg is not None and self.check_counts:
                self._raise_bad(neg, "negative values where counts are expected")
            return tot
        return super()._compute_column_totals()

    def _validate(self, block, cols):
        if self._dtype.kind in "biu" and not self.check_counts:
            return
        super()._validate(block, cols)


def _sparse_reader(node: h5py.Group, n_genes: int, n_cells: int, cells_first: bool,
                   encoding: str | None, scan_chunk: int, scan_bytes: int) -> H5SparseMatrix:
    for k in ("data", "indices", "indptr"):
        if k not in node:
            raise ValueError(f"sparse matrix group {printable(node.name)} has no '{k}' dataset "
                             f"(keys: {list(node.keys())}); the file looks corrupt")
    enc = (encoding or "").lower()
    nptr = node["indptr"].shape[0]
    rows, cols = (n_cells, n_genes) if cells_first else (n_genes, n_cells)
    if "csr" in enc:
        row_major = True
    elif "csc" in enc:
        row_major = False
    elif nptr == rows + 1:
        row_major = True
    elif nptr == cols + 1:
        row_major = False
    else:
        raise ValueError(f"cannot tell the sparse layout of {printable(node.name)} (encoding {encoding!r}, "
                         f"indptr length {nptr}, shape {rows} x {cols})")
    # sample-major when indptr runs over cells
    sample_major = row_major if cells_first else not row_major
    return H5SparseMatrix(node["data"], node["indices"], node["indptr"], n_genes, n_cells,
                          sample_major, scan_chunk=scan_chunk, scan_bytes=scan_bytes)


def _index_len(group: h5py.Group | None) -> int | None:
    """Length of a dataframe group's index, checked against what the file can hold (None if absent)."""
    if group is None:
        return None
    name = _attr_str(group, "_index")
    for key in ([name] if name else []) + ["_index", "index"]:
        if key in group:
            node = group[key]
            if isinstance(node, h5py.Group) and "codes" in node:
                node = node["codes"]
            if isinstance(node, h5py.Dataset) and node.ndim == 1:
                return check_size(node, "index")
    return None


class H5ADSource(_H5FileSource):
    """An ``.h5ad`` file read chunk-wise, presented as genes x cells.

    Parameters
    ----------
    path : str or os.PathLike
    layer : str, optional
        None (default): ``raw/X`` if present else ``X`` (as SecActPy's
        scRNA-seq path); ``"X"``, ``"raw"``, or the name of a ``layers`` entry.
    gene_column : str, optional
        None: var index; a var column name; or ``"auto"`` (SecActPy's
        Ensembl -> symbol rule).  See the module docstring.
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

    def __init__(self, path: str | os.PathLike, *, layer: str | None = None,
                 gene_column: str | None = None, check_finite: bool = True,
                 check_counts: bool = False, scan_chunk: int = 1 << 18,
                 scan_bytes: int = 256 << 20) -> None:
        self.layer_requested = layer
        self.gene_column = gene_column
        super().__init__(path, check_finite=check_finite, check_counts=check_counts,
                         scan_chunk=scan_chunk, scan_bytes=scan_bytes)

    def describe(self) -> str:
        return f"H5ADSource('{self.path}', layer={getattr(self, 'layer', self.layer_requested)!r})"

    def _setup(self, f: h5py.File) -> None:
        layer = self.layer_requested
        has_raw = "raw" in f and isinstance(f["raw"], h5py.Group) and "X" in f["raw"]
        layers = list(f["layers"].keys()) if "layers" in f and isinstance(f["layers"], h5py.Group) else []
        if layer is None:
            key = "raw/X" if has_raw else "X"
        elif layer == "X":
            key = "X"
        elif layer == "raw":
            if not has_raw:
                raise ValueError(f"'{self.path}' has no raw/X, but layer='raw' was requested")
            key = "raw/X"
        else:
            if layer not in layers:
                raise ValueError(f"'{self.path}' has no layer {layer!r}; layers: {layers}")
            key = f"layers/{layer}"
        if key not in f:
            raise ValueError(
                f"'{self.path}' has no X matrix (top-level keys: {sorted(f.keys())}); "
                f"it may have been written with X=None. Pass layer='raw' or one of the layers {layers}"
                if key == "X" else f"'{self.path}' has no {key}")
        node = f[key]
        self.layer = {"X": "X", "raw/X": "raw"}.get(key, layer)
        self._var_key = "raw/var" if key == "raw/X" else "var"
        obs = f["obs"] if "obs" in f else None
        var = f[self._var_key] if self._var_key in f else None
        if isinstance(node, h5py.Dataset):
            if node.ndim != 2:
                raise ValueError(f"'{self.path}': {key} must be 2-D, got shape {node.shape}")
            self._reader = H5DenseMatrix(node, samples_first=True)
            self.encoding = "dense"
        elif isinstance(node, h5py.Group):
            enc = _attr_str(node, "encoding-type") or _attr_str(node, "h5sparse_format")
            shp = attr_shape(node, "shape")
            if shp is None and "shape" in node:  # very old writers
                shp = read_array(node["shape"], "shape")
            if shp is not None:
                n_cells, n_genes = int(shp[0]), int(shp[1])
            else:
                n_cells, n_genes = _index_len(obs), _index_len(var)
                if n_cells is None or n_genes is None:
                    raise ValueError(f"'{self.path}': cannot tell the shape of {key}")
            self._reader = _sparse_reader(node, n_genes, n_cells, True, enc,
                                          self.scan_chunk, self.scan_bytes)
            check_size(self._reader.indptr_ds, "sparse indptr")  # it bounds the cells (CSR) or genes (CSC)
            self.encoding = "csr" if self._reader.sample_major else "csc"
        else:
            raise ValueError(f"'{self.path}': {key} is neither a dataset nor a group")
        self._shape = self._reader.shape
        self._dtype = self._reader.dtype
        self._nnz = self._reader.nnz
        self.is_sparse = isinstance(self._reader, H5SparseMatrix)
        fsize = f.id.get_filesize()
        for grp, n, what in ((obs, self._shape[1], "obs"), (var, self._shape[0], self._var_key)):
            m = _index_len(grp)
            if m is not None and m != n:
                raise ValueError(f"'{printable(self.path)}': {what} has {m} entries but {key} has {n}; "
                                 "the file looks corrupt")
            if m is None and n > fsize:  # nothing in the file backs the declared size
                raise UnsafeFileError(f"'{printable(self.path)}': {key} declares {n:,} {what} entries without "
                                      f"an index, in a file of {fsize:,} bytes: the file is corrupt or crafted")

    # -- names and metadata ----------------------------------------------------
    def _read_genes(self, f: h5py.File) -> pd.Index:
        if self._var_key not in f:
            return pd.RangeIndex(self._shape[0])
        var = f[self._var_key]
        index = read_h5_index(var)
        col = resolve_gene_column(index, _columns_of(var), self.gene_column)
        if col is None:
            if index is None:
                raise ValueError(f"'{self.path}': {self._var_key} has no index; pass gene_column=")
            return to_str_names(index, None)
        return to_str_names(read_h5_column(var, col), index)

    def _read_samples(self, f: h5py.File) -> pd.Index:
        index = read_h5_index(f["obs"]) if "obs" in f else None
        if index is None:
            warnings.warn(f"'{self.path}': obs has no index; samples are numbered", stacklevel=3)
            return pd.RangeIndex(self._shape[1])
        return to_str_names(index, None)

    def obs_keys(self) -> list[str]:
        """Column names of ``obs``."""
        f = self._f()
        return _columns_of(f["obs"]) if "obs" in f else []

    def var_keys(self) -> list[str]:
        """Column names of the var table that goes with the matrix used."""
        f = self._f()
        return _columns_of(f[self._var_key]) if self._var_key in f else []

    def obs_column(self, name: str) -> pd.Series:
        """One ``obs`` column (categoricals decoded), indexed by sample name.

        Examples
        --------
        >>> # src.obs_column("cell_type").value_counts()
        """
        with read_guard(self.path):
            vals = read_h5_column(self._f()["obs"], name)
        return pd.Series(vals, index=self.samples, name=name)

    def var_column(self, name: str) -> pd.Series:
        """One column of the var table that goes with the matrix, indexed by gene."""
        with read_guard(self.path):
            vals = read_h5_column(self._f()[self._var_key], name)
        return pd.Series(vals, index=self.genes, name=name)

    def obsm_keys(self) -> list[str]:
        f = self._f()
        return list(f["obsm"].keys()) if "obsm" in f else []

    def obsm(self, key: str) -> np.ndarray | pd.DataFrame:
        """``obsm[key]`` (cells x d), e.g. ``"spatial"`` coordinates."""
        f = self._f()
        if "obsm" not in f or key not in f["obsm"]:
            raise KeyError(f"'{self.path}' has no obsm['{key}']; obsm keys: {self.obsm_keys()}")
        node = f["obsm"][key]
        with read_guard(self.path):
            if isinstance(node, h5py.Dataset):
                return read_array(node, f"obsm['{printable(key)}']")
            cols = _columns_of(node)
            return pd.DataFrame({c: read_h5_column(node, c) for c in cols}, index=self.samples)

    @property
    def spatial(self) -> np.ndarray:
        """``obsm['spatial']`` (cells x 2 or 3) for the viewer."""
        return np.asarray(self.obsm("spatial"))


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
        self._reader = _sparse_reader(g, n_genes, n_cells, False, "csc",
                                      self.scan_chunk, self.scan_bytes)
        check_size(self._reader.indptr_ds, "sparse indptr")
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
    if _attr_str(f, "encoding-type") == "anndata":
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
