"""AnnData's on-disk encoding, read the same way from any hierarchical container (HDF5, zarr).

``anndata.write_h5ad`` and ``anndata.write_zarr`` store the same tree: groups with
``encoding-type`` attributes (``anndata``, ``dataframe``, ``csr_matrix``,
``csc_matrix``, ``categorical``, ``nullable-*``, ``string-array``...) and arrays. What
differs between h5py and zarr is only how a node is told apart and how an array is
read whole; a :class:`Hierarchy` says that, and everything here is written once
against it, as xarray's backends share their CF decoding:

* :func:`read_column`, :func:`read_index`, :func:`columns_of`, :func:`index_len` -- the
  dataframe groups (obs, var, raw/var);
* :func:`to_str_names`, :func:`resolve_gene_column` -- gene names as SecActPy takes them;
* :func:`sparse_layout` -- which axis a CSR/CSC group's ``indptr`` runs over;
* :class:`AnnDataEncoded` -- the choice of matrix (``layer``), its names and its obs /
  var / obsm tables, for sources that read such a tree chunk-wise
  (:class:`~lazyact.sources.h5ad.H5ADSource`, :class:`~lazyact.sources.zarr.ZarrSource`).

Which matrix (``layer``)
------------------------
``layer=None`` mirrors SecActPy's ``secact_activity_inference_scrnaseq``: use
``raw/X`` (with ``raw/var`` names) when the file has it, else ``X``
(``secactpy/inference.py:1538-1547`` for AnnData objects, and
``streaming.py:117-131`` for the h5ad streaming reader).  Note that
``secact_activity_inference_st`` uses ``X`` of an AnnData and ignores ``raw``
(``inference.py:2255-2262``); pass ``layer="X"`` to reproduce it.
``layer="raw"`` requires ``raw/X``; any other string names ``layers/<name>``.

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

import warnings
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .safety import UnsafeFileError, attr_shape, attr_str, attr_strings, printable

__all__ = [
    "SYMBOL_COLUMNS",
    "AnnDataEncoded",
    "Hierarchy",
    "columns_of",
    "index_len",
    "read_column",
    "read_index",
    "resolve_gene_column",
    "sparse_layout",
    "to_str_names",
]

#: SecActPy's symbol columns, in its order (inference.py:58), then scanpy's (``sc.read_10x_mtx(var_names="gene_ids")``)
SYMBOL_COLUMNS = ("gene_name", "feature_name", "gene_symbol", "symbol", "gene_symbols")


class Hierarchy(Protocol):
    """What differs between containers of AnnData's tree (h5py, zarr).

    Groups support ``key in group``, ``group[key]`` (also ``"a/b"`` paths), ``keys()``
    and ``attrs.get``; arrays have ``shape``, ``dtype`` and ``name``.
    """

    def is_group(self, node: Any) -> bool:
        """Whether ``node`` is a group."""
        ...

    def is_array(self, node: Any) -> bool:
        """Whether ``node`` is an array (a dataset)."""
        ...

    def read(self, array: Any) -> np.ndarray:
        """All values of an array; strings as an object array of ``str``."""
        ...

    def deref(self, group: Any, value: Any) -> Any:
        """The node an attribute value refers to (HDF5 object references), else None."""
        ...

    def size(self, array: Any, what: str) -> int:
        """The element count of an array, refused (:class:`~lazyact.sources.safety.UnsafeFileError`)
        when it declares more than its container can hold."""
        ...

    def capacity(self, root: Any) -> int | None:
        """Bytes the container holds (a bound on any size it declares), or None when unknown."""
        ...


# ----------------------------------------------------------------------------
# dataframe groups
# ----------------------------------------------------------------------------
def _name(node: Any) -> str:
    return printable(getattr(node, "name", node))


def read_column(h: Hierarchy, group: Any, name: str) -> Any:
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
        raise KeyError(f"column '{name}' not found in {_name(group)}; available: {cols}")
    node = group[name]
    if h.is_group(node):
        if "codes" in node and "categories" in node:
            codes = np.asarray(h.read(node["codes"]))  # h.read checks the declared size first
            cats = h.read(node["categories"])
            return pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(cats))
        if "values" in node and "mask" in node:
            values = h.read(node["values"])
            mask = np.asarray(h.read(node["mask"]), dtype=bool)
            return pd.Series(values).mask(mask).array
        raise ValueError(f"unsupported column encoding '{attr_str(node, 'encoding-type')}' for {_name(node)}")
    target = h.deref(group, node.attrs.get("categories", None))
    if target is not None:  # anndata < 0.8 categorical
        cats = h.read(target)
        return pd.Categorical.from_codes(np.asarray(h.read(node)).astype(np.int64), categories=pd.Index(cats))
    return h.read(node)


def _index_keys(group: Any) -> list[str]:
    name = attr_str(group, "_index")
    return ([name] if name else []) + ["_index", "index"]


def read_index(h: Hierarchy, group: Any) -> np.ndarray | None:
    """The index of an AnnData dataframe group: ``attrs['_index']`` names the
    array (``_index`` in current files, e.g. ``index`` or ``cell_id`` in
    others); falls back to ``_index`` / ``index`` arrays.  None if absent."""
    for key in _index_keys(group):
        if key in group:
            col = read_column(h, group, key)
            return np.asarray(col, dtype=object) if not isinstance(col, np.ndarray) else col
    return None


def index_len(h: Hierarchy, group: Any | None) -> int | None:
    """Length of a dataframe group's index without reading it, checked against what the container
    can hold (None when unknown)."""
    if group is None:
        return None
    for key in _index_keys(group):
        if key in group:
            node = group[key]
            if h.is_group(node) and "codes" in node:
                node = node["codes"]
            if h.is_array(node) and len(node.shape) == 1:
                return h.size(node, "index")
    return None


def columns_of(group: Any) -> list[str]:
    """Column names of a dataframe group, in order (the attribute validated)."""
    order = attr_strings(group, "column-order")
    if order:
        return order
    idx = attr_str(group, "_index") or "_index"
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
# sparse matrix groups
# ----------------------------------------------------------------------------
def sparse_layout(node: Any, n_genes: int, n_cells: int, cells_first: bool, encoding: str | None) -> bool:
    """Whether a compressed sparse group's ``indptr`` runs over cells (``sample_major``).

    ``cells_first``: the matrix is stored cells x genes (AnnData), else genes x cells
    (10x). The encoding (``csr``/``csc``) decides; without one, the length of ``indptr``.
    """
    for k in ("data", "indices", "indptr"):
        if k not in node:
            raise ValueError(f"sparse matrix group {_name(node)} has no '{k}' array "
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
        raise ValueError(f"cannot tell the sparse layout of {_name(node)} (encoding {encoding!r}, "
                         f"indptr length {nptr}, shape {rows} x {cols})")
    return row_major if cells_first else not row_major


# ----------------------------------------------------------------------------
# an AnnData tree as a source
# ----------------------------------------------------------------------------
class AnnDataEncoded:
    """The AnnData side of a source reading ``X``/``raw/X``/``layers`` of an AnnData tree.

    A mixin of file sources (before :class:`~lazyact.sources.base.FileSource`, whose
    options its ``__init__`` passes on). The subclass gives ``hierarchy`` (a
    :class:`Hierarchy`), ``_root()`` (the open root group), and readers of a matrix:
    ``_dense_reader(array)`` (cells x genes) and
    ``_sparse_reader(group, n_genes, n_cells, sample_major)``. :meth:`setup_matrix`
    (called from ``_setup``) sets ``layer``, ``encoding``, ``_reader``, ``_shape``,
    ``_dtype``, ``_nnz`` and ``is_sparse``.
    """

    hierarchy: Hierarchy
    path: str

    def __init__(self, path: Any, *, layer: str | None = None, gene_column: str | None = None,
                 check_finite: bool = True, check_counts: bool = False, scan_chunk: int = 1 << 18,
                 scan_bytes: int = 256 << 20) -> None:
        self.layer_requested = layer
        self.gene_column = gene_column
        super().__init__(path, check_finite=check_finite, check_counts=check_counts,  # type: ignore[call-arg]
                         scan_chunk=scan_chunk, scan_bytes=scan_bytes)

    def _child(self, root: Any, key: str) -> Any | None:
        return root[key] if key in root else None

    def setup_matrix(self, root: Any) -> None:
        """Choose the matrix (see the module doc), check its shape against obs/var, make its reader."""
        h = self.hierarchy
        layer = self.layer_requested
        raw = self._child(root, "raw")
        has_raw = raw is not None and h.is_group(raw) and "X" in raw
        layers_node = self._child(root, "layers")
        layers = list(layers_node.keys()) if layers_node is not None and h.is_group(layers_node) else []
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
        if key not in root:
            raise ValueError(
                f"'{self.path}' has no X matrix (top-level keys: {sorted(root.keys())}); "
                f"it may have been written with X=None. Pass layer='raw' or one of the layers {layers}"
                if key == "X" else f"'{self.path}' has no {key}")
        node = root[key]
        self.layer = {"X": "X", "raw/X": "raw"}.get(key, layer)
        self._var_key = "raw/var" if key == "raw/X" else "var"
        obs = self._child(root, "obs")
        var = self._child(root, self._var_key)
        if h.is_array(node):
            if len(node.shape) != 2:
                raise ValueError(f"'{self.path}': {key} must be 2-D, got shape {node.shape}")
            self._reader = self._dense_reader(node)
            self.encoding = "dense"
        elif h.is_group(node):
            enc = attr_str(node, "encoding-type") or attr_str(node, "h5sparse_format")
            shp = attr_shape(node, "shape")
            if shp is None and "shape" in node:  # very old writers
                shp = h.read(node["shape"])
            if shp is not None:
                n_cells, n_genes = int(shp[0]), int(shp[1])
            else:
                n_cells, n_genes = index_len(h, obs), index_len(h, var)  # type: ignore[assignment]
                if n_cells is None or n_genes is None:
                    raise ValueError(f"'{self.path}': cannot tell the shape of {key}")
            sample_major = sparse_layout(node, n_genes, n_cells, True, enc)
            h.size(node["indptr"], "sparse indptr")  # it bounds the cells (CSR) or genes (CSC)
            self._reader = self._sparse_reader(node, n_genes, n_cells, sample_major)
            self.encoding = "csr" if sample_major else "csc"
        else:
            raise ValueError(f"'{self.path}': {key} is neither an array nor a group")
        self._shape = self._reader.shape
        self._dtype = self._reader.dtype
        self._nnz = self._reader.nnz
        self.is_sparse = self._reader.nnz is not None
        capacity = h.capacity(root)
        for grp, n, what in ((obs, self._shape[1], "obs"), (var, self._shape[0], self._var_key)):
            m = index_len(h, grp)
            if m is not None and m != n:
                raise ValueError(f"'{printable(self.path)}': {what} has {m} entries but {key} has {n}; "
                                 "the file looks corrupt")
            if m is None and capacity is not None and n > capacity:  # nothing in the file backs the size
                raise UnsafeFileError(f"'{printable(self.path)}': {key} declares {n:,} {what} entries without "
                                      f"an index, in a file of {capacity:,} bytes: the file is corrupt or crafted")

    # -- names and metadata ----------------------------------------------------
    def _read_genes(self, root: Any) -> pd.Index:
        var = self._child(root, self._var_key)
        if var is None:
            return pd.RangeIndex(self._shape[0])
        h = self.hierarchy
        index = read_index(h, var)
        col = resolve_gene_column(index, columns_of(var), self.gene_column)
        if col is None:
            if index is None:
                raise ValueError(f"'{self.path}': {self._var_key} has no index; pass gene_column=")
            return to_str_names(index, None)
        return to_str_names(read_column(h, var, col), index)

    def _read_samples(self, root: Any) -> pd.Index:
        obs = self._child(root, "obs")
        index = read_index(self.hierarchy, obs) if obs is not None else None
        if index is None:
            warnings.warn(f"'{self.path}': obs has no index; samples are numbered", stacklevel=3)
            return pd.RangeIndex(self._shape[1])
        return to_str_names(index, None)

    def obs_keys(self) -> list[str]:
        """Column names of ``obs``."""
        obs = self._child(self._root(), "obs")
        return columns_of(obs) if obs is not None else []

    def var_keys(self) -> list[str]:
        """Column names of the var table that goes with the matrix used."""
        var = self._child(self._root(), self._var_key)
        return columns_of(var) if var is not None else []

    def obs_column(self, name: str) -> pd.Series:
        """One ``obs`` column (categoricals decoded), indexed by sample name.

        Examples
        --------
        >>> # src.obs_column("cell_type").value_counts()
        """
        with self._guard():
            vals = read_column(self.hierarchy, self._root()["obs"], name)
        return pd.Series(vals, index=self.samples, name=name)  # type: ignore[attr-defined]

    def var_column(self, name: str) -> pd.Series:
        """One column of the var table that goes with the matrix, indexed by gene."""
        with self._guard():
            vals = read_column(self.hierarchy, self._root()[self._var_key], name)
        return pd.Series(vals, index=self.genes, name=name)  # type: ignore[attr-defined]

    def obsm_keys(self) -> list[str]:
        """Keys of ``obsm``."""
        obsm = self._child(self._root(), "obsm")
        return list(obsm.keys()) if obsm is not None else []

    def obsm(self, key: str) -> np.ndarray | pd.DataFrame:
        """``obsm[key]`` (cells x d), e.g. ``"spatial"`` coordinates."""
        obsm = self._child(self._root(), "obsm")
        if obsm is None or key not in obsm:
            raise KeyError(f"'{self.path}' has no obsm['{key}']; obsm keys: {self.obsm_keys()}")
        node = obsm[key]
        h = self.hierarchy
        with self._guard():
            if h.is_array(node):
                return np.asarray(h.read(node))
            return pd.DataFrame({c: read_column(h, node, c) for c in columns_of(node)},
                                index=self.samples)  # type: ignore[attr-defined]

    @property
    def spatial(self) -> np.ndarray:
        """``obsm['spatial']`` (cells x 2 or 3) for the viewer."""
        return np.asarray(self.obsm("spatial"))
