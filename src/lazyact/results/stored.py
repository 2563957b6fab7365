"""Stored results as lazy activity: :func:`open` and :class:`StoredActivity`.

:func:`open` reads files written by ``act.to_hdf5`` / ``act.to_h5ad`` / ``lazyact run``,
SecActPy's streaming-writer and ``save_results`` HDF5 files, and its
``save_results_to_h5ad`` / ``results_to_anndata`` AnnData files, as a
:class:`StoredActivity`: the same lazy array API as :class:`~lazyact.LazyActivity`,
whose blocks (:class:`StoredBlocks`) read the datasets; also zarr stores (``act.to_zarr``).
Each format's module (:mod:`~lazyact.results.hdf5`, :mod:`~lazyact.results.h5ad`,
:mod:`~lazyact.results.zarr`) finds its statistics; :func:`inspect` checks what the HDF5
ones found.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from ..array import BlockStore
from ..sources import open_h5
from ..sources.safety import UnsafeFileError, attr_json, printable, read_attrs
from ..views import ActivityViews
from . import h5ad, hdf5
from . import zarr as zarr_format
from .files import IncompleteFileError, NotResultsFileError
from .fingerprint import digest, hash_names
from .frames import column_order, read_frame
from .io import ActivityIO

__all__ = [
    "ResultsFileChangedError",
    "StoredActivity",
    "StoredBlocks",
    "file_stamp",
    "inspect",
    "is_results_file",
    "open",
    "open_results",
    "py_value",
]


def py_value(v: Any) -> Any:
    """An attribute value as plain Python (bytes decoded, NumPy scalars unwrapped, long arrays elided)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [py_value(x) for x in v.tolist()] if v.size < 100 else f"<array {v.shape}>"
    return v


def is_complete(f: h5py.File, attrs: Mapping[str, Any]) -> bool:
    """The ``lazyact_complete`` root attribute (True when absent: foreign files are complete).

    Raises
    ------
    UnsafeFileError
        It is not a boolean.
    """
    if "lazyact_complete" not in attrs:
        return True
    v = attrs["lazyact_complete"]
    v = v[()] if isinstance(v, np.ndarray) and v.shape == () else v
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and int(v) in (0, 1)):
        return bool(v)
    raise UnsafeFileError(f"attribute 'lazyact_complete' of / in '{printable(f.filename)}' should be a boolean, "
                          f"got {printable(repr(v))[:80]}: the file is corrupt, or was not written by lazyact.")


def _node_info(node: Any, transpose: bool
               ) -> tuple[tuple[int, int], np.dtype, tuple[int, int] | None, list[str] | None]:
    """(proteins x samples shape, dtype, chunks as proteins x samples, frame columns)."""
    if isinstance(node, h5py.Group):  # AnnData dataframe (samples x proteins)
        return h5ad.frame_info(node)
    return (*hdf5.dataset_info(node, transpose), None)


def inspect(f: h5py.File, path: Path) -> dict:
    """Find the statistics in an open results file: kind, sources, shape, dtype, names, params.

    Raises
    ------
    IncompleteFileError
        An unfinished lazyact file.
    NotResultsFileError
        No statistics, or inconsistent ones (the message says what was found).
    """
    keys = sorted(f.keys())
    attrs = read_attrs(f)
    if hdf5.DONE_KEY in f or not is_complete(f, attrs):
        raise IncompleteFileError(hdf5.incomplete_message(path, f))
    found = hdf5.find_statistics(f, attrs) or h5ad.find_statistics(f, attrs, path)
    if found is None:
        raise NotResultsFileError(
            f"'{printable(path)}' is not an activity results file: found top-level keys {keys}. Expected datasets "
            "beta/se/zscore/pvalue (written by lazyact's to_hdf5 or SecActPy's streaming writer) or an "
            "AnnData .h5ad with X and obsm se/zscore/pvalue (to_h5ad, SecActPy's save_results_to_h5ad).")
    kind, sources, proteins, samples = found["kind"], found["sources"], found["proteins"], found["samples"]
    infos = {}
    for n, (key, tr, _) in sources.items():
        infos[n] = _node_info(f[key], tr)
    shapes = {n: i[0] for n, i in infos.items()}
    shape = next(iter(shapes.values()))
    if len(set(shapes.values())) != 1:
        raise NotResultsFileError(f"'{printable(path)}': the statistics have different shapes {shapes}")
    sources = {n: (key, tr, infos[n][3]) for n, (key, tr, _) in sources.items()}
    dtype = np.result_type(*(i[1] for i in infos.values()))
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    if len(proteins) != shape[0] or len(samples) != shape[1]:
        raise NotResultsFileError(f"'{printable(path)}': {len(proteins)} protein / {len(samples)} sample names for "
                                  f"statistics of shape {shape}")
    if "lazyact_params" in attrs:
        params = attr_json(f, "lazyact_params", attrs)
    else:
        params = {k: py_value(v) for k, v in attrs.items() if k not in ("feature_names", "sample_names")
                  and not str(k).startswith(("encoding-", "lazyact_"))}
        params.setdefault("source", kind)
    return dict(kind=kind, sources=sources, shape=shape, dtype=dtype, chunks=infos[next(iter(infos))][2],
                proteins=proteins, samples=samples, params=params, attrs=attrs)


class ResultsFileChangedError(OSError):
    """A results file was replaced or modified while a :class:`StoredActivity` had it open."""


class StoredBlocks:
    """Block function reading stored statistics from an HDF5 / h5ad file or a zarr store.

    Pickles as its path (the file is opened lazily in each process, by ``opener``). The
    file's identity (size, modification time, inode, and its ``lazyact_fingerprint``
    attribute) is recorded when it is first opened; every later (re)opening checks it and
    refuses a file that was replaced or modified meanwhile (:class:`ResultsFileChangedError`)
    instead of mixing the two files' blocks. :meth:`close` waits for the reads in flight; a
    read after it reopens.

    Parameters
    ----------
    path : str
        The file.
    sources : mapping
        ``{statistic: (hdf5 path, transposed, frame columns or None)}``.
    shape : (int, int)
        proteins x samples.
    dtype : numpy.dtype
    preferred_chunks : (int, int)
    token : str
        Deterministic identity (names dask graphs).
    identity : mapping, optional
        The file's identity (:func:`file_stamp`) to check on every opening (default: as
        found at the first opening).
    opener : callable
        ``opener(path)`` -> the open file or root group (a module-level function; default
        HDF5's).
    """

    def __init__(self, path: str, sources: Mapping[str, tuple[str, bool, Sequence[str] | None]],
                 shape: tuple[int, int], dtype: Any, preferred_chunks: tuple[int, int], token: str,
                 identity: Mapping[str, Any] | None = None, opener: Any = None):
        self.path = os.fspath(path)
        self.sources = dict(sources)
        self.names = tuple(self.sources)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.preferred_chunks = preferred_chunks
        self.token = token
        self.identity = None if identity is None else dict(identity)
        self.opener = opener or _open_hdf5
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._cond = threading.Condition()
        self._file: Any = None
        self._pid = os.getpid()
        self._readers = 0
        self._closing = False
        self._checked: set[str] = set()  # frame columns whose storage was checked

    def _open(self) -> Any:
        f = self.opener(self.path)
        try:
            found = file_stamp(self.path, f)
            if self.identity is None:
                self.identity = found
            elif found != self.identity:
                differ = ", ".join(f"{k} {self.identity.get(k)!r} -> {found.get(k)!r}" for k in self.identity
                                   if self.identity.get(k) != found.get(k))
                raise ResultsFileChangedError(
                    f"'{self.path}' was replaced or modified since it was opened ({differ}); its blocks would mix "
                    "with those already read. Open it again with lazyact.open(path).")
        except BaseException:
            _close(f)
            raise
        return f

    def _acquire(self) -> Any:
        with self._cond:
            while self._closing:
                self._cond.wait()
            if self._file is None or not _is_open(self._file) or self._pid != os.getpid():
                self._file = self._open()
                self._pid = os.getpid()
                self._checked = set()
            self._readers += 1
            return self._file

    def _release(self) -> None:
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    def close(self) -> None:
        """Close the file once the reads in flight are done (a later read reopens it)."""
        with self._cond:
            while self._closing:  # another close() is under way
                self._cond.wait()
            self._closing = True
            try:
                while self._readers:
                    self._cond.wait()
                if self._file is not None and self._pid == os.getpid():
                    _close(self._file)
                self._file = None
            finally:
                self._closing = False
                self._cond.notify_all()

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        f = self._acquire()
        try:
            out = {}
            for n, (key, tr, columns) in self.sources.items():
                if columns is not None:  # an AnnData DataFrame in obsm: one dataset per protein
                    out[n] = h5ad.read_frame_block(f[key], columns, rows, cols, self._checked)
                else:
                    out[n] = hdf5.read_block(f[key], rows, cols, tr)
            return out
        finally:
            self._release()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_cond", "_file", "_pid", "_readers", "_closing", "_checked"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_runtime()


def _stat_path(path: str | os.PathLike) -> str:
    """What identifies a results file on disk: the file, or a zarr store's root metadata (rewritten with it)."""
    p = os.fspath(path)
    return os.path.join(p, "zarr.json") if os.path.isdir(p) else p


def file_stamp(path: str | os.PathLike, f: Any = None) -> dict:
    """Size, modification time, inode and ``lazyact_fingerprint`` of a results file or zarr store
    (``f``: it, open: an ``h5py.File`` or a zarr group)."""
    st = os.stat(_stat_path(path))
    out: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
    if f is not None:
        fp = (read_attrs(f) if isinstance(f, h5py.File) else dict(f.attrs)).get("lazyact_fingerprint")
        out["fingerprint"] = None if fp is None else str(py_value(fp))
    return out


def _open_hdf5(path: str) -> h5py.File:
    return open_h5(path, rdcc_nbytes=None)


def _is_open(f: Any) -> bool:
    """Whether an opened file is still usable (a zarr group has no handle to lose)."""
    return bool(f.id.valid) if isinstance(f, h5py.File) else True


def _close(f: Any) -> None:
    if isinstance(f, h5py.File) and f.id.valid:
        f.close()


def store_chunks(node_chunks: tuple[int, int] | None, shape: tuple[int, int], itemsize: int,
                 n: int) -> tuple[int, int]:
    """Cache-grid chunks (proteins, samples) aligned to the file's chunks."""
    p, m = max(1, shape[0]), max(1, shape[1])
    rc, cc = node_chunks if node_chunks else (p, min(m, 1024))
    cols = min(m, max(cc, (4096 // cc) * cc))
    budget = 32 * 2**20 // max(1, cols * (itemsize * n + 1))
    rows = p if p <= budget else max(rc, budget // rc * rc)
    return min(p, rows), cols


class StoredActivity(ActivityViews, ActivityIO):
    """Activity results read from a file, with the API of :class:`~lazyact.LazyActivity`.

    ``beta``, ``se``, ``zscore``, ``pvalue`` are :class:`~lazyact.ActivityArray`
    views (proteins x samples) over a :class:`~lazyact.array.BlockStore` whose blocks
    read the datasets: lazy, cached, with NumPy indexing, ``.loc``, ``.oindex`` and
    streaming reductions. Made by :func:`lazyact.open`.

    Attributes
    ----------
    path : pathlib.Path
    format : str
        ``"lazyact hdf5"``, ``"SecActPy hdf5"``, ``"lazyact h5ad"``, ``"h5ad"``,
        ``"h5ad (layers)"``.
    proteins, samples : pandas.Index
    params : dict
        Parameters recorded in the file (``{"source": ...}`` for foreign files).
    summary_stats : pandas.DataFrame or None
        Stored per-protein summaries (``to_hdf5(summary=True)``).
    spatial : numpy.ndarray or None
        Stored coordinates (samples x 2).
    obs : pandas.DataFrame or None
        Stored sample annotations (cell type, sample...).
    attrs : dict
        The file's root attributes.
    """

    def __init__(self, path: str | os.PathLike, *, chunks: tuple[int, int] | None = None,
                 cache_bytes: int | None = None, threads: int | None = None):
        self.path = Path(os.fspath(path))
        self.path = Path(os.fspath(path))
        opener = None
        if zarr_format.is_zarr_results(self.path):
            info = zarr_format.inspect_store(self.path)
            self.summary_stats, spatial = info["summary"], info["spatial"]
            opener = zarr_format.open_store
            stamp = file_stamp(self.path, opener(self.path))
        else:
            with hdf5.open_results_file(self.path) as f:
                stamp = file_stamp(self.path, f)
                info = inspect(f, self.path)
                self.summary_stats = hdf5.read_summary(f, info["proteins"])
                spatial = hdf5.read_spatial(f)
                if spatial is None:
                    spatial = h5ad.obsm_array(f, "spatial")
        self.spatial = None if spatial is None else np.asarray(spatial, dtype=np.float64)
        self.format: str = info["kind"]
        self.params: dict = info["params"]
        self.attrs: dict = {k: py_value(v) for k, v in info["attrs"].items()}
        self.proteins = pd.Index(info["proteins"], dtype=object)
        self.samples = pd.Index(info["samples"], dtype=object)
        st = os.stat(_stat_path(self.path))
        self._file_id = {"path": str(self.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                         "inode": st.st_ino}
        token = digest({"file": self._file_id, "sources": {k: v[:2] for k, v in info["sources"].items()}})
        dtype = info["dtype"]
        pref = store_chunks(info["chunks"], info["shape"], dtype.itemsize, len(info["sources"]))
        self.blocks = StoredBlocks(str(self.path), info["sources"], info["shape"], dtype, pref, token,
                                   identity=stamp, opener=opener)
        kwargs = {} if cache_bytes is None else {"cache_bytes": int(cache_bytes)}
        self.store = BlockStore(self.blocks, chunks=chunks, threads=threads, **kwargs)
        self._views: dict[str, Any] = {}
        self._obs: pd.DataFrame | None | bool = False  # read when first asked

    def _missing(self, name: str) -> str:
        return f"'{self.path}' stores no {name!r} (stored: {', '.join(self.store.names)})"

    @property
    def obs(self) -> pd.DataFrame | None:
        """The samples' annotations stored with the results (``obs`` of an ``.h5ad`` or a zarr
        store, ``/obs`` of an ``.h5``: cell type, sample...), indexed by sample; None when there
        are none."""
        if self._obs is False and zarr_format.is_zarr_results(self.path):
            self._obs = zarr_format.read_obs(zarr_format.open_store(self.path), self.samples)
        if self._obs is False:
            with hdf5.open_results_file(self.path) as f:
                g = f.get("obs")
                frame = read_frame(g) if isinstance(g, h5py.Group) and column_order(g) else None
            if frame is not None:
                frame.index = pd.Index(self.samples)
            self._obs = frame
        return self._obs

    @property
    def arrays(self) -> tuple[str, ...]:
        """Names of the stored statistics."""
        return self.store.names

    def summary(self, progress: bool | None = None) -> pd.DataFrame:
        """Per-protein mean/std/min/max of every stored statistic.

        The stored summaries when the file has them (``to_hdf5(summary=True)``), else
        computed in one streaming pass over the file (and kept in ``summary_stats``).
        """
        if self.summary_stats is not None:
            return self.summary_stats.copy()
        return self._summary_frame(progress)

    def _fingerprint_parts(self) -> dict:
        return {"file": self._file_id, "arrays": list(self.store.names), "proteins": hash_names(self.proteins),
                "samples": hash_names(self.samples)}

    def close(self) -> None:
        """Close the file handle once the reads in flight are done (it is reopened on the next read).

        Safe while other threads read: they finish first. A reopening refuses a file
        that was replaced meanwhile (:class:`ResultsFileChangedError`).
        """
        self.blocks.close()

    def __enter__(self) -> "StoredActivity":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_views"] = {}
        return state

    def __repr__(self) -> str:
        p, m = self.shape
        bits = [f"{k}={self.params[k]!r}" for k in ("n_rand", "rng", "seed") if k in self.params]
        extra = f"; {', '.join(bits)}" if bits else ""
        return (f"StoredActivity: {p:,} proteins x {m:,} samples from '{self.path.name}' "
                f"({self.format}{extra}; arrays {', '.join(self.store.names)})")


def open_results(path: str | os.PathLike, *, chunks: tuple[int, int] | None = None, cache_bytes: int | None = None,
                 threads: int | None = None) -> StoredActivity:
    """Open stored activity results lazily, with the API of :class:`~lazyact.LazyActivity`.

    Reads files written by ``act.to_hdf5`` / ``act.to_h5ad`` / ``lazyact run``, zarr stores
    written by ``act.to_zarr`` (either layout) and AnnData zarr stores of results, files written by
    SecActPy's streaming writer (``ridge_batch(output_path=...)``) and ``save_results``,
    and AnnData files written by SecActPy's ``save_results_to_h5ad`` or
    ``results_to_anndata`` (statistics in ``obsm`` or ``layers``). Nothing is loaded
    but the names and metadata; indexing reads only the chunks it needs.

    Parameters
    ----------
    path : str or path
    chunks : (int, int), optional
        Block shape of the cache (default aligned to the file's chunks).
    cache_bytes, threads
        As for :class:`~lazyact.array.BlockStore`.

    Raises
    ------
    IncompleteFileError
        The file (or only its ``.partial``) is an unfinished run.
    NotResultsFileError
        The file holds no results (the message lists what it found).
    FileNotFoundError

    Examples
    --------
    >>> import lazyact, tempfile
    >>> from lazyact.demo import example_path
    >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
    >>> res = lazyact.open(act.to_hdf5(os.path.join(tempfile.mkdtemp(), "r.h5"), progress=False))
    >>> res.shape, res.params["n_rand"]
    ((43, 5), 20)
    >>> bool(np.allclose(res.zscore[:, 0], act.zscore[:, 0], rtol=1e-12, atol=0))
    True
    >>> bool((res.pvalue[:, 0] == act.pvalue[:, 0]).all())
    True
    """
    return StoredActivity(path, chunks=chunks, cache_bytes=cache_bytes, threads=threads)


#: ``lazyact.open``.
open = open_results  # noqa: A001


def is_results_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a complete results file :func:`open` can read."""
    p = Path(os.fspath(path))
    if zarr_format.is_zarr_results(p):
        try:
            zarr_format.inspect_store(p)
            return True
        except (NotResultsFileError, IncompleteFileError, OSError, KeyError, ValueError):
            return False
    if not p.is_file() or not h5py.is_hdf5(p):
        return False
    try:
        with open_h5(p, rdcc_nbytes=None) as f:
            inspect(f, p)
        return True
    except (NotResultsFileError, IncompleteFileError, OSError, KeyError):
        return False
