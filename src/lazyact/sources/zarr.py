"""AnnData zarr stores (``anndata.write_zarr``, zarr formats 2 and 3) read chunk-wise with zarr-python 3.

A store holds the same tree as an ``.h5ad`` file, so :class:`ZarrSource` shares all of
AnnData's encoding with :class:`~lazyact.sources.h5ad.H5ADSource`
(:mod:`lazyact.sources.encoding`: the choice of matrix ``layer``, gene names,
obs / var / obsm) and the chunk-wise column readers of :mod:`lazyact.sources.hdf5`
(CSR: a cell's entries only; CSC: one bounded scan; dense: row runs), which read a zarr
array through :class:`ZarrArray`, an adapter with the few methods of ``h5py.Dataset``
they use. Values are the stored ones converted to float64 exactly as HDF5 converts
them, so a store and the ``.h5ad`` file of the same AnnData give the same bits.

Memory: as for ``.h5ad`` (see :mod:`lazyact.sources.hdf5`), plus the zarr chunks that a
read touches (``anndata`` writes chunks of about 1 MB).

zarr is an optional dependency (``pip install "lazyact[zarr]"``), imported on use.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .base import FileSource, SourceReadError
from .encoding import AnnDataEncoded
from .hdf5 import H5DenseMatrix, H5SparseMatrix

__all__ = ["ZARR", "ZarrArray", "ZarrSource", "import_zarr", "is_zarr_store", "open_zarr"]

#: Files that mark the root of a zarr store (format 3, format 2 group / array).
MARKERS = ("zarr.json", ".zgroup", ".zarray")


def import_zarr() -> Any:
    """The ``zarr`` module (version 3), or an ImportError that says how to install it."""
    try:
        import zarr  # optional dependency (lazyact[zarr])
    except ImportError as exc:  # pragma: no cover - zarr is in the test extra
        raise ImportError('reading or writing zarr stores needs zarr-python 3: pip install "lazyact[zarr]"') from exc
    if int(zarr.__version__.split(".")[0]) < 3:  # pragma: no cover
        raise ImportError(f'lazyact needs zarr-python >= 3 (found {zarr.__version__}): pip install "zarr>=3"')
    return zarr


def is_zarr_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding the root of a zarr store (format 2 or 3).

    Examples
    --------
    >>> import tempfile
    >>> is_zarr_store(tempfile.mkdtemp())
    False
    """
    p = Path(os.fspath(path))
    return p.is_dir() and any((p / m).is_file() for m in MARKERS)


def open_zarr(path: str | os.PathLike, mode: str = "r") -> Any:
    """Open the root group of a zarr store (formats 2 and 3), with errors that say what is wrong.

    Raises
    ------
    FileNotFoundError
        No such path.
    SourceReadError
        (an ``OSError``) the path is not a zarr store or its metadata cannot be read.
    """
    zarr = import_zarr()
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such zarr store: '{p}'")
    if not is_zarr_store(p):
        raise SourceReadError(f"'{p}' is not a zarr store (a directory with zarr.json or .zgroup at its root)")
    try:
        return zarr.open_group(p, mode=mode)
    except Exception as exc:  # zarr raises a variety of errors on bad metadata
        raise SourceReadError(f"cannot open the zarr store '{p}': {type(exc).__name__}: {exc}") from exc


class _Parent:
    def __init__(self, name: str) -> None:
        self.name = name


class _Valid:
    valid = True


class ZarrArray:
    """A zarr array with the methods of ``h5py.Dataset`` that the column readers use.

    ``read_direct`` converts into the destination's dtype as HDF5 does (exactly, for the
    integer and float types of counts).
    """

    id = _Valid()

    def __init__(self, array: Any) -> None:
        self.array = array
        self.shape = tuple(int(n) for n in array.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(array.dtype)
        self.name = str(array.name)
        self.parent = _Parent(self.name.rsplit("/", 1)[0] or "/")

    def __getitem__(self, key: Any) -> Any:
        return self.array[key]

    def read_direct(self, dest: np.ndarray, source_sel: Any = None, dest_sel: Any = None) -> None:
        """``dest[dest_sel] = self[source_sel]``."""
        src = self.array[source_sel if source_sel is not None else ...]
        dest[dest_sel if dest_sel is not None else ...] = src


class _ZarrHierarchy:
    """zarr's side of :class:`~lazyact.sources.encoding.Hierarchy`."""

    @staticmethod
    def is_group(node: Any) -> bool:
        return isinstance(node, import_zarr().Group)

    @staticmethod
    def is_array(node: Any) -> bool:
        return isinstance(node, import_zarr().Array)

    @staticmethod
    def read(array: Any) -> np.ndarray:
        values = np.asarray(array[...])
        if values.dtype.kind == "S":
            return np.array([v.decode() for v in values.ravel()], dtype=object).reshape(values.shape)
        if values.dtype.kind in "OUT":  # StringDType, fixed-width or object strings
            return values.astype(object)
        return values

    @staticmethod
    def deref(group: Any, value: Any) -> Any:
        return None

    @staticmethod
    def size(array: Any, what: str) -> int:
        return int(np.prod(array.shape, dtype=np.int64))

    @staticmethod
    def capacity(root: Any) -> None:
        return None  # chunks may be absent (the fill value): a store's size bounds nothing


#: The :class:`~lazyact.sources.encoding.Hierarchy` of zarr stores.
ZARR = _ZarrHierarchy()


@contextlib.contextmanager
def zarr_guard(path: str) -> Iterator[None]:
    """Re-raise read failures of a store (missing or corrupt chunks) naming it."""
    try:
        yield
    except SourceReadError:
        raise
    except (OSError, RuntimeError) as exc:
        raise SourceReadError(f"reading the zarr store '{path}' failed: a chunk is missing or corrupt "
                              f"[{type(exc).__name__}: {exc}]") from exc


class ZarrSource(AnnDataEncoded, FileSource):
    """An AnnData zarr store (``anndata.write_zarr``) read chunk-wise, presented as genes x cells.

    Options, attributes and behaviour are those of :class:`~lazyact.sources.h5ad.H5ADSource`
    (``layer``, ``gene_column``, ``encoding``, ``obs_column``...).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, anndata, tempfile, os
    >>> fn = os.path.join(tempfile.mkdtemp(), "a.zarr")
    >>> anndata.AnnData(sp.random(4, 3, density=0.5, format="csr", random_state=0)).write_zarr(fn)
    >>> with ZarrSource(fn) as src:
    ...     print(src.shape, src.encoding, src.columns(np.array([0, 3])).shape)
    (3, 4) csr (3, 2)
    """

    hierarchy = ZARR

    def describe(self) -> str:
        return f"ZarrSource('{self.path}', layer={getattr(self, 'layer', self.layer_requested)!r})"

    def _open_file(self) -> Any:
        self._is_open = True
        return open_zarr(self.path)

    def _close_file(self, handle: Any) -> None:
        self._is_open = False

    def _handle_valid(self, handle: Any) -> bool:
        return bool(getattr(self, "_is_open", False))

    def _guard(self) -> Any:
        return zarr_guard(self.path)

    def _setup(self, root: Any) -> None:
        self.setup_matrix(root)

    def _dense_reader(self, array: Any) -> H5DenseMatrix:
        return H5DenseMatrix(ZarrArray(array), samples_first=True)  # type: ignore[arg-type]

    def _sparse_reader(self, group: Any, n_genes: int, n_cells: int, sample_major: bool) -> H5SparseMatrix:
        data, indices, indptr = (ZarrArray(group[k]) for k in ("data", "indices", "indptr"))
        return H5SparseMatrix(data, indices, indptr, n_genes, n_cells, sample_major,  # type: ignore[arg-type]
                              scan_chunk=self.scan_chunk, scan_bytes=self.scan_bytes)
