"""HDF5-backed sources: a 2-D ``h5py.Dataset``, and the chunk-wise readers that the
.h5ad / 10x sources build on.

Column access cost
------------------
Dense dataset (:class:`HDF5Source`, :class:`H5DenseMatrix`)
    Contiguous runs of the wanted samples are read with one hyperslab each
    (``Dataset.read_direct`` straight into the float64 result, HDF5 converts
    the type).  Samples stored as rows (``"samples x genes"``, h5ad dense X):
    ``k`` samples touch ``k * n_genes * itemsize`` bytes.  Samples stored as
    columns: HDF5 gathers the strided values (for chunked datasets it
    decompresses every chunk that the columns cross).

Sparse, sample-major (:class:`H5SparseMatrix` with ``sample_major=True``:
h5ad CSR X, 10x CSC matrix)
    A sample is one contiguous slice ``indptr[c]:indptr[c+1]``.  Per run of
    consecutive samples: one read of ``indptr`` (or the cached copy, see
    below) plus one read each of ``data`` and ``indices`` -- exactly that
    run's entries.  ``indptr`` (``8 * (n_samples + 1)`` bytes) is cached in
    memory once a read has more than 16 runs or a full pass is made.

Sparse, gene-major (``sample_major=False``: h5ad CSC X, cells scattered over
every gene column)
    A set of samples can only be found by scanning the ``indices`` of every
    gene: each read streams all ``nnz`` stored indices (and the data of
    chunks that contain a wanted sample) in chunks of ``scan_chunk``
    entries, so one read costs O(nnz) I/O but only
    ``scan_chunk * (2 itemsizes + 1)`` bytes of buffer plus the result.
    ``iter_columns`` therefore reads super-blocks of consecutive samples
    sized to ``scan_bytes`` with one scan each and hands them out in
    ``block``-sized pieces: a full pass costs about
    ``nnz * 40 / scan_bytes`` scans, and its peak memory is bounded by
    ``scan_bytes`` (not by the number of samples).  ``column_totals`` is
    one scan (``np.bincount``).  Rewrite such files as CSR for fast random
    cell access.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import h5py
import numpy as np
import scipy.sparse as sp

from .base import (
    DescribedSource,
    FileLockedError,
    SourceClosedError,
    SourceReadError,
    as_index,
    index_dtype,
    is_contiguous,
    make_csc,
    parse_orientation,
    runs,
    take_csc_columns,
)
from .safety import check_dataset, check_file, printable, read_array

__all__ = ["HDF5Source", "H5DenseMatrix", "H5SparseMatrix", "open_h5", "read_guard"]

#: HDF5 chunk-cache size per dataset for files we open (bytes).
RDCC_NBYTES = 8 << 20


def open_h5(path: str | os.PathLike, mode: str = "r", *, rdcc_nbytes: int | None = RDCC_NBYTES,
            locking: bool | None = None) -> h5py.File:
    """Open an HDF5 file, turning HDF5's errors into clear messages (every h5py open in lazyact).

    A file opened for reading (``"r"``, ``"r+"``) is checked first
    (:func:`~lazyact.sources.safety.check_file`): no external or soft links, no external
    raw storage, no virtual datasets.

    Parameters
    ----------
    path : str or path
    mode : {"r", "r+", "w"}
    rdcc_nbytes : int or None
        HDF5 chunk-cache bytes per dataset (None: h5py's default).
    locking : bool, optional
        HDF5 file locking (None: h5py's default; ``False`` reads a file another process
        is writing).

    Raises
    ------
    FileNotFoundError
        No such file (modes ``"r"``, ``"r+"``).
    IsADirectoryError
        ``path`` is a directory.
    FileLockedError
        (a :class:`SourceReadError`) another process holds HDF5's lock on the file.
    UnsafeFileError
        (a :class:`SourceReadError`) the file links or stores data outside itself.
    SourceReadError
        (an ``OSError``) the file exists but cannot be opened: truncated, corrupt, or
        not HDF5.
    """
    p = os.fspath(path)
    if mode in ("r", "r+") and not os.path.exists(p):
        raise FileNotFoundError(f"no such file: '{p}'")
    if os.path.isdir(p):
        raise IsADirectoryError(f"'{p}' is a directory, not an HDF5 file")
    kwargs: dict[str, Any] = {}
    if rdcc_nbytes is not None:
        kwargs["rdcc_nbytes"] = rdcc_nbytes
    if locking is not None:
        kwargs["locking"] = locking
    try:
        f = h5py.File(p, mode, **kwargs)
    except OSError as e:
        msg = str(e)
        if re.search(r"\block", msg, re.IGNORECASE):  # "unable to lock file" (not "sblock")
            raise FileLockedError(f"'{printable(p)}' is open in another process (HDF5 file lock) [{msg}]") from e
        what = ("looks truncated (it is shorter than its header says; was the copy or "
                "download interrupted?)") if "truncated" in msg else \
            "looks truncated or corrupt, or is not an HDF5 file"
        raise SourceReadError(f"cannot open '{printable(p)}': the file {what} [{msg}]") from e
    if mode in ("r", "r+"):
        try:
            check_file(f)
        except BaseException:
            f.close()
            raise
    return f


@contextmanager
def read_guard(path: str) -> Iterator[None]:
    """Re-raise HDF5 read failures naming the file."""
    try:
        yield
    except SourceReadError:
        raise
    except OSError as e:
        raise SourceReadError(
            f"reading '{path}' failed: the file looks truncated or corrupt [{e}]") from e


def ensure_valid(obj: Any, what: str) -> None:
    """Raise SourceClosedError when an h5py object's file has been closed."""
    if obj is None or not obj.id.valid:
        raise SourceClosedError(f"{what} is closed (its HDF5 file was closed); reopen the file "
                                "or build the source from the file path")


def _check_numeric(ds: h5py.Dataset, what: str) -> None:
    if ds.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got HDF5 dtype {ds.dtype}")


# ----------------------------------------------------------------------------
# readers (no names, no validation; used by the sources)
# ----------------------------------------------------------------------------
class H5DenseMatrix:
    """Column reader for a 2-D dense dataset stored genes x samples or samples x genes."""

    def __init__(self, ds: h5py.Dataset, samples_first: bool) -> None:
        if ds.ndim != 2:
            raise ValueError(f"HDF5 dataset {printable(ds.name)} must be 2-D, got shape {ds.shape}")
        _check_numeric(ds, f"HDF5 dataset {printable(ds.name)}")
        check_dataset(ds)
        self.ds = ds
        self.samples_first = samples_first
        s0, s1 = ds.shape
        self.shape = (int(s1), int(s0)) if samples_first else (int(s0), int(s1))
        self.dtype = ds.dtype
        self.nnz = None

    def read(self, cols: np.ndarray) -> np.ndarray:
        ds, k, ng = self.ds, cols.size, self.shape[0]
        if self.samples_first:
            buf = np.empty((k, ng), dtype=np.float64)
            for a, b, o in runs(cols):
                ds.read_direct(buf, np.s_[a:b, :], np.s_[o:o + b - a, :])
            return buf.T  # F-contiguous genes x k
        buf = np.empty((ng, k), dtype=np.float64)
        for a, b, o in runs(cols):
            ds.read_direct(buf, np.s_[:, a:b], np.s_[:, o:o + b - a])
        return buf

    def iter_blocks(self, block: int, start: int, stop: int):
        for a in range(start, stop, block):
            b = min(a + block, stop)
            yield slice(a, b), self.read(np.arange(a, b))

    column_totals = None  # use the generic pass


class H5SparseMatrix:
    """Column reader for a compressed sparse matrix stored as three HDF5 datasets.

    Parameters
    ----------
    data, indices, indptr : h5py.Dataset
    n_genes, n_samples : int
        Shape of the genes x samples matrix presented.
    sample_major : bool
        True when ``indptr`` runs over samples (h5ad CSR cells x genes, 10x
        CSC genes x cells); False when it runs over genes (h5ad CSC).
    scan_chunk : int
        Entries per read in gene-major scans.
    scan_bytes : int
        Memory budget of one gene-major super-block in ``iter_blocks``.
    """

    #: more runs than this in one read -> cache the whole sample-major indptr
    INDPTR_CACHE_RUNS = 16

    def __init__(self, data: h5py.Dataset, indices: h5py.Dataset, indptr: h5py.Dataset,
                 n_genes: int, n_samples: int, sample_major: bool, *,
                 scan_chunk: int = 1 << 18, scan_bytes: int = 256 << 20) -> None:
        _check_numeric(data, f"sparse data {printable(data.name)}")
        for ds in (data, indices, indptr):
            check_dataset(ds)
        self.data, self.indices, self.indptr_ds = data, indices, indptr
        self.shape = (int(n_genes), int(n_samples))
        self.sample_major = bool(sample_major)
        self.dtype = data.dtype
        self.nnz = int(data.shape[0])
        major = n_samples if sample_major else n_genes
        if indptr.shape[0] != major + 1:
            raise ValueError(
                f"sparse matrix {printable(data.parent.name)}: indptr has {indptr.shape[0]} entries, "
                f"expected {major + 1}; the file looks corrupt or its encoding is mislabelled")
        if indices.shape[0] != self.nnz:
            raise ValueError(f"sparse matrix {printable(data.parent.name)}: data and indices lengths differ "
                             f"({self.nnz} vs {indices.shape[0]}); the file looks corrupt")
        self.scan_chunk = int(scan_chunk)
        self.scan_bytes = int(scan_bytes)
        self._ip: np.ndarray | None = None

    def indptr(self) -> np.ndarray:
        """The whole indptr as int64 (cached)."""
        if self._ip is None:
            ip = np.asarray(read_array(self.indptr_ds, "sparse indptr"), dtype=np.int64)
            if ip[-1] > self.nnz or (ip.size > 1 and np.any(ip[1:] < ip[:-1])):
                raise ValueError(f"sparse matrix {printable(self.data.parent.name)}: indptr is not "
                                 "non-decreasing or exceeds nnz; the file looks corrupt")
            self._ip = ip
        return self._ip

    # -- reading -------------------------------------------------------------
    def read(self, cols: np.ndarray) -> sp.csc_matrix:
        return self._read_sample_major(cols) if self.sample_major else self._scan(cols)

    def _read_sample_major(self, cols: np.ndarray) -> sp.csc_matrix:
        k, ng = cols.size, self.shape[0]
        rr = runs(cols)
        if self._ip is None and len(rr) > self.INDPTR_CACHE_RUNS:
            self.indptr()
        ptrs = [self._ip[a:b + 1] if self._ip is not None
                else np.asarray(self.indptr_ds[a:b + 1], dtype=np.int64) for a, b, _ in rr]
        lens = np.concatenate([np.diff(p) for p in ptrs]) if ptrs else np.empty(0, np.int64)
        if lens.size and lens.min() < 0:
            raise ValueError(f"sparse matrix {printable(self.data.parent.name)}: indptr decreases; "
                             "the file looks corrupt")
        out_ptr = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(lens, out=out_ptr[1:])
        nnz = int(out_ptr[-1])
        data = np.empty(nnz, dtype=np.float64)
        ind = np.empty(nnz, dtype=index_dtype(nnz, ng))
        for (a, b, o), p in zip(rr, ptrs):
            p0, p1 = int(p[0]), int(p[-1])
            if p1 > p0:
                q0 = int(out_ptr[o])
                self.data.read_direct(data, np.s_[p0:p1], np.s_[q0:q0 + p1 - p0])
                self.indices.read_direct(ind, np.s_[p0:p1], np.s_[q0:q0 + p1 - p0])
        if nnz and (ind.min() < 0 or ind.max() >= ng):
            raise ValueError(f"sparse matrix {printable(self.data.parent.name)}: gene index out of range; "
                             "the file looks corrupt")
        return make_csc(data, ind, out_ptr, (ng, k))

    def _scan(self, cols: np.ndarray) -> sp.csc_matrix:
        """Gene-major: stream all stored entries, keep those of the wanted samples."""
        ng, ns, k = self.shape[0], self.shape[1], cols.size
        ip = self.indptr()
        nnz = int(ip[-1])
        contiguous = is_contiguous(cols)
        a, b = int(cols[0]), int(cols[-1]) + 1
        want = None
        if not contiguous:
            want = np.zeros(ns, dtype=bool)
            want[cols] = True
        chunk = max(1, min(self.scan_chunk, nnz))
        ibuf = np.empty(chunk, dtype=self.indices.dtype)
        dbuf = np.empty(chunk, dtype=self.data.dtype)
        G: list[np.ndarray] = []
        P: list[np.ndarray] = []
        V: list[np.ndarray] = []
        gdt = index_dtype(0, ng)
        for p0 in range(0, nnz, chunk):
            p1 = min(p0 + chunk, nnz)
            n = p1 - p0
            self.indices.read_direct(ibuf, np.s_[p0:p1], np.s_[0:n])
            idx = ibuf[:n]
            if contiguous:
                m = idx >= a
                m &= idx < b
            else:
                if n and (idx.min() < 0 or idx.max() >= ns):
                    raise ValueError(f"sparse matrix {printable(self.data.parent.name)}: cell index out of "
                                     "range; the file looks corrupt")
                m = want[idx]
            sel = np.flatnonzero(m)
            del m
            if sel.size == 0:
                continue
            self.data.read_direct(dbuf, np.s_[p0:p1], np.s_[0:n])
            V.append(dbuf[sel].astype(np.float64))
            cells = idx[sel]
            P.append((cells - a) if contiguous else np.searchsorted(cols, cells))
            G.append((np.searchsorted(ip, p0 + sel, side="right") - 1).astype(gdt))
        if not V:
            return sp.csc_matrix((ng, k), dtype=np.float64)
        vals = np.concatenate(V)
        del V
        row_ptr = np.zeros(ng + 1, dtype=np.int64)
        np.cumsum(np.bincount(np.concatenate(G), minlength=ng), out=row_ptr[1:])
        del G
        pos = np.concatenate(P)
        del P
        # entries arrive gene by gene with samples ascending: that is CSR (genes x k);
        # SciPy's linear-time CSR -> CSC transposition gives sorted indices
        idt = index_dtype(vals.size, max(ng, k))
        csr = sp.csr_matrix((vals, pos.astype(idt, copy=False), row_ptr.astype(idt)), shape=(ng, k))
        del vals, pos
        out = csr.tocsc()
        del csr
        return make_csc(out.data, out.indices, out.indptr, (ng, k))

    def iter_blocks(self, block: int, start: int, stop: int):
        if self.sample_major:
            for a in range(start, stop, block):
                b = min(a + block, stop)
                yield slice(a, b), self._read_sample_major(np.arange(a, b))
            return
        ns = max(self.shape[1], 1)
        per_sample = 40.0 * self.nnz / ns + 8.0
        sup = max(block, int(self.scan_bytes // per_sample) // block * block)
        for a in range(start, stop, sup):
            b = min(a + sup, stop)
            m = self._scan(np.arange(a, b))
            for s in range(a, b, block):
                e = min(s + block, b)
                yield slice(s, e), take_csc_columns(m.indptr, m.indices, m.data,
                                                    np.arange(s - a, e - a), self.shape[0])
            del m

    def column_totals(self, check_counts: bool = False) -> tuple[np.ndarray, int | None]:
        """Per-sample sums in one pass; also the first sample with a negative value."""
        ns = self.shape[1]
        tot = np.zeros(ns, dtype=np.float64)
        neg_first: int | None = None
        nnz = self.nnz
        chunk = max(1, min(self.scan_chunk, nnz))
        dbuf = np.empty(chunk, dtype=np.float64)  # HDF5 converts while reading
        if self.sample_major:
            ip = self.indptr()
            # walk whole samples so that each chunk ends on a sample boundary
            c0 = 0
            while c0 < ns:
                c1 = int(np.searchsorted(ip, ip[c0] + chunk, side="right")) - 1
                c1 = min(max(c1, c0 + 1), ns)
                p0, p1 = int(ip[c0]), int(ip[c1])
                if p1 > p0:
                    buf = dbuf if p1 - p0 <= chunk else np.empty(p1 - p0, dtype=np.float64)
                    self.data.read_direct(buf, np.s_[p0:p1], np.s_[0:p1 - p0])
                    d = buf[:p1 - p0]
                    lens = np.diff(ip[c0:c1 + 1])
                    nz = lens > 0
                    tot[c0:c1][nz] = np.add.reduceat(d, ip[c0:c1][nz] - p0)
                    if check_counts and neg_first is None and (d < 0).any():
                        first = int(np.flatnonzero(d < 0)[0]) + p0
                        neg_first = int(np.searchsorted(ip, first, side="right") - 1)
                c0 = c1
            return tot, neg_first
        ibuf = np.empty(chunk, dtype=self.indices.dtype)
        for p0 in range(0, nnz, chunk):
            p1 = min(p0 + chunk, nnz)
            n = p1 - p0
            self.indices.read_direct(ibuf, np.s_[p0:p1], np.s_[0:n])
            self.data.read_direct(dbuf, np.s_[p0:p1], np.s_[0:n])
            idx, d = ibuf[:n], dbuf[:n]
            if n and (idx.min() < 0 or idx.max() >= ns):
                raise ValueError(f"sparse matrix {printable(self.data.parent.name)}: cell index out of range; "
                                 "the file looks corrupt")
            tot += np.bincount(idx, weights=d, minlength=ns)
            if check_counts:
                neg = d < 0
                if neg.any():
                    j = int(idx[neg].min())
                    neg_first = j if neg_first is None else min(neg_first, j)
        return tot, neg_first


# ----------------------------------------------------------------------------
# a 2-D h5py.Dataset as a source
# ----------------------------------------------------------------------------
class HDF5Source(DescribedSource):
    """A 2-D dense ``h5py.Dataset`` as an expression source.

    Parameters
    ----------
    dataset : h5py.Dataset
        Numeric 2-D dataset of an open file (the file stays owned by the
        caller; :meth:`close` does not close it).
    genes, samples : sequence, optional
        Names; default ``RangeIndex``.
    orientation : str, default "genes x samples"
        ``"samples x genes"`` / ``"cells x genes"`` when each sample is a row.
    check_finite, check_counts : bool

    Notes
    -----
    Pickles by reference (file name + dataset path + names); the unpickled
    copy opens the file read-only itself and closes it in :meth:`close`.

    Examples
    --------
    >>> import h5py, numpy as np, tempfile, os
    >>> fn = os.path.join(tempfile.mkdtemp(), "x.h5")
    >>> with h5py.File(fn, "w") as f:
    ...     _ = f.create_dataset("expr", data=np.arange(6.0).reshape(2, 3))
    >>> f = h5py.File(fn, "r")
    >>> HDF5Source(f["expr"], genes=["A", "B"]).columns(np.array([0, 2]))
    array([[0., 2.],
           [3., 5.]])
    >>> f.close()
    """

    is_sparse = False

    def __init__(self, dataset: h5py.Dataset, genes: Sequence[Any] | None = None,
                 samples: Sequence[Any] | None = None, *, orientation: str | None = None,
                 check_finite: bool = True, check_counts: bool = False) -> None:
        super().__init__(check_finite=check_finite, check_counts=check_counts)
        if not isinstance(dataset, h5py.Dataset):
            raise TypeError(f"HDF5Source needs an h5py.Dataset, got {type(dataset).__name__}")
        ensure_valid(dataset, "the h5py Dataset")
        self._samples_first = parse_orientation(orientation)
        self._reader: H5DenseMatrix | None = H5DenseMatrix(dataset, self._samples_first)
        self._filename = os.fspath(dataset.file.filename)
        self._dsname = dataset.name
        self._file: h5py.File | None = None  # only set when we opened it ourselves
        self._shape = self._reader.shape
        self._dtype = dataset.dtype
        self._genes = as_index(genes, self._shape[0], "genes")
        self._samples = as_index(samples, self._shape[1], "samples")

    _transient = ("_reader", "_file")

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def describe(self) -> str:
        return f"HDF5Source('{self._filename}'{self._dsname})"

    def _live(self) -> H5DenseMatrix:
        if self._reader is None:
            raise SourceClosedError(f"{self.describe()} is closed")
        ensure_valid(self._reader.ds, self.describe())
        return self._reader

    def _read(self, cols: np.ndarray) -> np.ndarray:
        r = self._live()
        with read_guard(self._filename):
            return r.read(cols)

    def _validate(self, block, cols):
        if self._dtype.kind in "biu" and not self.check_counts:
            return
        super()._validate(block, cols)

    def _reopen(self) -> None:
        self._file = open_h5(self._filename)
        try:
            ds = self._file[self._dsname]
        except KeyError:
            self._file.close()
            raise KeyError(f"dataset {self._dsname} not found in '{self._filename}'") from None
        self._reader = H5DenseMatrix(ds, self._samples_first)

    def close(self) -> None:
        """Close the file if this source opened it (after unpickling); else drop the handle."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._reader = None
