"""Stored activity results: :func:`open` and the writers behind ``act.to_hdf5`` / ``act.to_h5ad``.

Files
-----
``act.to_hdf5(path)`` (SecActPy's streaming-writer layout, extended)::

    /beta, /se, /zscore, /pvalue      proteins x samples, float64 (or dtype=), chunked, gzip
    /feature_names, /sample_names     UTF-8 strings (also root attributes when they fit in 48 kB,
                                      where SecActPy's load_results() looks for them)
    /summary/<statistic>/<moment>     per-protein mean/std/min/max (summary=True)
    /spatial                          samples x 2 coordinates, when the activity has them
    root attributes                   every parameter (also all together as JSON in
                                      ``lazyact_params``), ``lazyact_version``,
                                      ``lazyact_format``, ``lazyact_fingerprint`` (inputs),
                                      ``lazyact_layout`` (dtype, chunks, block), ``lazyact_complete``

``act.to_h5ad(path)`` (SecActPy's ``save_results_to_h5ad`` layout, written chunk-wise with
h5py in AnnData's on-disk format): ``X`` = beta (samples x proteins), ``obsm/se``,
``obsm/zscore``, ``obsm/pvalue`` (dense arrays), ``obs``/``var`` names, ``uns/source``,
``uns/feature_names``, ``uns/lazyact`` (version, parameters as JSON).

Both are written block by block as ``path + ".partial"`` and renamed when complete; see
:mod:`lazyact.array.sinks` for resuming.

:func:`open` reads those files, SecActPy's streaming-writer and ``save_results`` HDF5
files and its ``save_results_to_h5ad`` / ``results_to_anndata`` AnnData files, as a
:class:`StoredActivity`: the same lazy array API as :class:`~lazyact.LazyActivity`, whose
blocks read the datasets.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from ._version import __version__
from .array import BlockStore
from .array import MOMENTS as _MOMENTS
from .ridge import STATISTICS
from .views import ActivityViews
from .array.config import format_bytes as _fmt_bytes
from .array.sinks import (
    DONE_KEY,
    IncompleteFileError,
    ResumeMismatchError,
    partial_path,
    read_all,
    write_h5ad,
    write_hdf5,
)

__all__ = [
    "STATISTICS",
    "FORMAT",
    "ActivityIO",
    "StoredActivity",
    "StoredBlocks",
    "open",
    "open_results",
    "file_info",
    "format_info",
    "fingerprint",
    "fingerprint_parts",
    "IncompleteFileError",
    "ResumeMismatchError",
    "NotResultsFileError",
]

#: ``lazyact_format`` attribute of files written by lazyact.
FORMAT = "lazyact-activity/1"


class NotResultsFileError(ValueError):
    """The file is readable but holds no activity results."""


# --------------------------------------------------------------------------- fingerprints
def _h() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=16)


def _hash_array(a: Any) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = _h()
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def _hash_names(names: Any) -> str:
    h = _h()
    for s in names:
        h.update(str(s).encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def _find_path(obj: Any, depth: int = 0) -> str | None:
    """Path of the file behind an expression (walking ``.source`` / ``.expression``)."""
    if obj is None or depth > 6:
        return None
    for attr in ("path", "filename"):
        p = getattr(obj, attr, None)
        if isinstance(p, (str, os.PathLike)) and os.path.exists(p):
            return os.path.abspath(os.fspath(p))
    arr = getattr(obj, "_arr", None)
    if isinstance(arr, np.memmap) and getattr(arr, "filename", None):
        return os.path.abspath(os.fspath(arr.filename))
    for attr in ("source", "expression", "base"):
        inner = getattr(obj, attr, None)
        if inner is not None and inner is not obj and not isinstance(inner, (np.ndarray, str)):
            p = _find_path(inner, depth + 1)
            if p is not None:
                return p
    return None


def _state(obj: Any, depth: int = 0) -> dict:
    """Public small state of an expression wrapper chain: arrays hashed, scalars as such."""
    out: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    for key, value in sorted(getattr(obj, "__dict__", {}).items()):
        if key.startswith("_"):
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            out[key] = _hash_array(value)
        elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
            out[key] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, np.dtype):
            out[key] = value.str
        elif key in ("source", "expression") and depth < 4:
            out[key] = _state(value, depth + 1)
    return out


def _expression_identity(expr: Any) -> dict:
    shape = tuple(int(n) for n in expr.shape)
    out: dict[str, Any] = {"shape": list(shape)}
    path = _find_path(expr)
    if path is not None:
        st = os.stat(path)
        out["file"] = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        out["state"] = _state(expr)
    else:  # in-memory data: a hash of a sample of the (normalised) columns
        m = shape[1]
        cols = np.unique(np.array([0, m // 2, m - 1], dtype=np.intp)) if m else np.empty(0, np.intp)
        block = expr.block(cols) if cols.size else np.empty((shape[0], 0))
        if hasattr(block, "toarray"):
            block = block.toarray()
        out["sample"] = _hash_array(np.asarray(block, dtype=np.float64))
    return out


def _activity_parts(act: Any) -> dict:
    blocks = act.blocks
    model = blocks.model
    perms: dict[str, Any] = {"n_rand": int(model.n_rand)}
    if getattr(model, "explicit_table", False):
        perms["table"] = _hash_array(model.inverse_table)
    else:
        perms.update(seed=int(model.seed), rng=str(model.rng))
    return {
        "T": _hash_array(model.projection.T),
        "rows": _hash_array(blocks.row_map),
        "permutations": perms,
        "expression": _expression_identity(blocks.expression),
        "proteins": _hash_names(act.proteins),
        "samples": _hash_names(act.samples),
        "params": json.loads(_dumps(act.params)),
    }


def fingerprint_parts(act: Any) -> dict:
    """The components of :func:`fingerprint` (compared part by part when resuming).

    For a :class:`~lazyact.LazyActivity`: hashes of the projection T, the output row
    map, the permutation table parameters (or a hash of an explicit table), the
    expression's identity (file path, size and modification time for file-backed
    sources plus the normalisation state; a hash of a sample of the columns for
    in-memory data), the protein and sample names, and the parameters.
    """
    getter = getattr(act, "_fingerprint_parts", None)
    return getter() if getter is not None else _activity_parts(act)


def fingerprint(act: Any) -> str:
    """A hex digest identifying the inputs of an activity (see :func:`fingerprint_parts`).

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> T, Y = rng.standard_normal((3, 40)), rng.standard_normal((40, 6))
    >>> fingerprint(lazyact.LazyActivity(T, 20, Y)) == fingerprint(lazyact.LazyActivity(T, 20, Y.copy()))
    True
    >>> fingerprint(lazyact.LazyActivity(T, 20, Y)) == fingerprint(lazyact.LazyActivity(T, 21, Y))
    False
    """
    h = _h()
    h.update(_dumps(fingerprint_parts(act)).encode())
    return h.hexdigest()


def _dumps(obj: Any, sort_keys: bool = True) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (pd.Index, pd.Series)):
            return [str(v) for v in o]
        return str(o)

    return json.dumps(obj, default=default, sort_keys=sort_keys)


def _file_attrs(act: Any) -> dict:
    params = dict(act.params)
    attrs: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("lazyact_") or key in ("feature_names", "sample_names"):
            continue
        attrs[key] = value
    attrs["lazyact_format"] = FORMAT
    attrs["lazyact_version"] = __version__
    attrs["lazyact_params"] = _dumps(params, sort_keys=False)
    return attrs


def _statistics(names: Any, available: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    bad = [n for n in names if n not in available]
    if bad or not names:
        raise ValueError(f"arrays must be among {list(available)}, got {list(names)}")
    return names


# --------------------------------------------------------------------------- mixin
class ActivityIO:
    """Writers shared by :class:`~lazyact.LazyActivity` and :class:`StoredActivity`.

    Needs ``store`` (a :class:`~lazyact.array.BlockStore` with statistics as outputs),
    ``proteins``, ``samples``, ``params`` and optionally ``spatial``.
    """

    store: BlockStore
    proteins: pd.Index
    samples: pd.Index
    params: dict

    def fingerprint(self) -> str:
        """Hex digest of the inputs (see :func:`lazyact.store.fingerprint`)."""
        return fingerprint(self)

    def to_hdf5(
        self,
        path: str | os.PathLike,
        arrays: Sequence[str] = STATISTICS,
        dtype: Any = None,
        compression: str | None = "gzip",
        block: int | None = None,
        progress: bool | None = True,
        resume: bool = True,
        overwrite: bool = False,
        summary: bool = False,
    ) -> Path:
        """Write the statistics to an HDF5 file, block by block, resumably.

        The layout is SecActPy's streaming writer's (datasets ``beta``, ``se``,
        ``zscore``, ``pvalue`` as proteins x samples, ``feature_names``,
        ``sample_names``) with UTF-8 names, every parameter as a root attribute, the
        lazyact version and a fingerprint of the inputs. Chunks are chosen so that one
        protein row and one block of samples are both cheap to read
        (:func:`lazyact.array.sinks.hdf5_chunks`).

        Each column block is computed once for all requested arrays (all proteins,
        bounded memory), written, and recorded in the file. The file is written as
        ``path + ".partial"`` and renamed to ``path`` only when complete; running the
        same call again after an interruption (even ``kill -9``) resumes where it
        stopped and gives the same file as an uninterrupted run.

        Parameters
        ----------
        path : str or path
            Output file (``.h5``).
        arrays : sequence of str
            Statistics to store (default all four).
        dtype : dtype, optional
            Stored dtype (default float64; ``np.float32`` halves the file).
        compression : str or None
            ``"gzip"`` (default), ``"lzf"`` or None.
        block : int, optional
            Samples per write block (the resume granularity); default about 64 MiB of
            results per block.
        progress : bool
            tqdm progress bar with ETA.
        resume : bool
            Continue a matching ``.partial`` file (``False``: start over).
        overwrite : bool
            Replace an existing ``path`` (once the new file is complete).
        summary : bool
            Also store per-protein mean/std/min/max of each array under ``/summary``,
            streamed in the same pass (read back as ``lazyact.open(path).summary_stats``).

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        ResumeMismatchError
            The ``.partial`` file belongs to other inputs or options.
        OSError
            Writing failed (e.g. disk full); the ``.partial`` file keeps the finished
            blocks for a later resume.

        Examples
        --------
        >>> import lazyact, tempfile, os
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> out = act.to_hdf5(os.path.join(tempfile.mkdtemp(), "ly86.h5"), progress=False)
        >>> lazyact.open(out).zscore.loc["IL6"].shape
        (5,)
        """
        names = _statistics(arrays, self.store.names)
        spatial = getattr(self, "spatial", None)
        extra = None if spatial is None else {"spatial": np.asarray(spatial, dtype=np.float64)}
        parts = fingerprint_parts(self)
        return write_hdf5(
            self.store, path, names, row_labels=self.proteins, col_labels=self.samples, dtype=dtype,
            compression=compression, block=block, progress=progress, resume=resume, overwrite=overwrite,
            summary=summary, attrs=_file_attrs(self), extra=extra, fingerprint=_digest(parts),
            fingerprint_parts=parts,
        )

    def to_h5ad(
        self,
        path: str | os.PathLike,
        dtype: Any = None,
        compression: str | None = "gzip",
        block: int | None = None,
        progress: bool | None = True,
        resume: bool = True,
        overwrite: bool = False,
    ) -> Path:
        """Write an AnnData ``.h5ad`` file (samples x proteins), block by block, resumably.

        Layout of SecActPy's ``save_results_to_h5ad``: ``X`` = beta, ``obsm["se"]``,
        ``obsm["zscore"]``, ``obsm["pvalue"]`` (dense arrays, samples x proteins),
        ``obs_names`` = samples, ``var_names`` = proteins, ``uns["source"]``,
        ``uns["feature_names"]``, and ``uns["lazyact"]`` (version, parameters as
        JSON), plus ``obsm["spatial"]`` when the activity has coordinates. Written with
        h5py chunk by chunk (never materialised); ``anndata.read_h5ad`` opens it and
        :func:`lazyact.open` reads it back lazily. Options as in :meth:`to_hdf5`.

        Examples
        --------
        >>> import lazyact, anndata, tempfile, os
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> out = act.to_h5ad(os.path.join(tempfile.mkdtemp(), "ly86.h5ad"), progress=False)
        >>> anndata.read_h5ad(out).obsm["zscore"].shape
        (5, 43)
        """
        names = self.store.names
        x = "beta" if "beta" in names else names[0]
        obsm = [n for n in names if n != x]
        spatial = getattr(self, "spatial", None)
        extra = None if spatial is None else {"spatial": np.asarray(spatial, dtype=np.float64)}
        parts = fingerprint_parts(self)
        uns = {"source": "lazyact", "feature_names": [str(p) for p in self.proteins],
               "lazyact": {"version": __version__, "params": _dumps(self.params, sort_keys=False), "X": x}}
        return write_h5ad(
            self.store, path, x, obsm, obs_names=self.samples, var_names=self.proteins, uns=uns,
            obsm_extra=extra, dtype=dtype, compression=compression, block=block, progress=progress,
            resume=resume, overwrite=overwrite, attrs=_file_attrs(self), fingerprint=_digest(parts),
            fingerprint_parts=parts,
        )

    def to_anndata(self, max_bytes: int | None = None, force: bool = False, progress: bool | None = None) -> Any:
        """An in-memory ``anndata.AnnData`` (samples x proteins) for small results.

        ``X`` = beta, ``obsm`` se/zscore/pvalue (arrays), as :meth:`to_h5ad` writes.
        All four statistics are computed in one pass. Refuses results above
        ``max_bytes`` (default :data:`lazyact.array.config.max_materialise_bytes`)
        unless ``force=True``: write them with :meth:`to_h5ad` instead.

        Examples
        --------
        >>> import lazyact
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> act.to_anndata().obsm["pvalue"].shape
        (5, 43)
        """
        import anndata

        arrays = read_all(self.store, max_bytes=max_bytes, force=force, progress=progress)
        names = self.store.names
        x = "beta" if "beta" in names else names[0]
        obs = pd.DataFrame(index=pd.Index([str(s) for s in self.samples], dtype=object))
        var = pd.DataFrame(index=pd.Index([str(p) for p in self.proteins], dtype=object))
        adata = anndata.AnnData(X=np.ascontiguousarray(arrays[x].T), obs=obs, var=var)
        for n in names:
            if n != x:
                adata.obsm[n] = np.ascontiguousarray(arrays[n].T)
        spatial = getattr(self, "spatial", None)
        if spatial is not None:
            adata.obsm["spatial"] = np.asarray(spatial, dtype=np.float64)
        adata.uns["source"] = "lazyact"
        adata.uns["lazyact"] = {"version": __version__, "params": _dumps(self.params, sort_keys=False), "X": x}
        return adata

    def to_xarray(self, chunks: Any = None) -> Any:
        """An ``xarray.Dataset`` of the statistics as lazy dask arrays.

        Variables ``beta``, ``se``, ``zscore``, ``pvalue`` over dims
        ``("protein", "sample")`` with the names as coordinates and the parameters as
        attributes. Each variable is ``view.to_dask(chunks)``: nothing is computed until
        asked, and the graph runs on a ``dask.distributed`` cluster (the activity
        pickles with its sources by reference).

        Examples
        --------
        >>> import lazyact
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> ds = act.to_xarray()
        >>> float(ds.zscore.sel(protein="IL6").max()) == float(act.zscore.loc["IL6"].max())
        True
        """
        import xarray as xr

        data = {n: (("protein", "sample"), self[n].to_dask(chunks)) for n in self.store.names}  # type: ignore[index]
        coords = {"protein": np.asarray(self.proteins, dtype=object), "sample": np.asarray(self.samples, dtype=object)}
        attrs = {k: (v if isinstance(v, (str, int, float, bool, np.generic)) else _dumps(v))
                 for k, v in self.params.items()}
        return xr.Dataset(data, coords=coords, attrs=attrs)


def _digest(parts: Mapping[str, Any]) -> str:
    h = _h()
    h.update(_dumps(parts).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- reading
def _strings(ds: Any) -> list[str]:
    if isinstance(ds, h5py.Dataset):
        if h5py.check_string_dtype(ds.dtype) is not None:
            values = ds.asstr()[()]
        else:
            values = ds[()]
    else:
        values = np.asarray(ds)
    values = np.atleast_1d(values)
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _range_sel(idx: np.ndarray) -> tuple[Any, np.ndarray | None]:
    """(h5py selection, index into what it returns) for sorted unique ``idx``."""
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    if hi - lo == idx.size:
        return slice(lo, hi), None
    if idx.size * 4 >= hi - lo:  # dense enough: read the bounding slab
        return slice(lo, hi), idx - lo
    return idx, None


def _read_block(node: Any, rows: np.ndarray, cols: np.ndarray, transpose: bool,
                columns: Sequence[str] | None) -> np.ndarray:
    """rows x cols of a proteins x samples statistic stored as ``node``."""
    if columns is not None:  # an AnnData DataFrame in obsm: one dataset per protein
        csel, cpost = _range_sel(cols)
        out = np.empty((rows.size, cols.size))
        for i, r in enumerate(rows):
            v = node[columns[int(r)]][csel]
            out[i] = v if cpost is None else v[cpost]
        return out
    # storage axes: (a, b) = (samples, proteins) when transposed
    first, second = (cols, rows) if transpose else (rows, cols)
    s1, p1 = _range_sel(first)
    s2, p2 = _range_sel(second)
    if not isinstance(s1, slice) and not isinstance(s2, slice):
        s2, p2 = slice(int(second[0]), int(second[-1]) + 1), second - int(second[0])
    a = node[s1, s2]
    if p1 is not None:
        a = a[p1]
    if p2 is not None:
        a = a[:, p2]
    return a.T if transpose else a


class StoredBlocks:
    """Block function reading stored statistics from an HDF5 / h5ad file.

    Pickles as its path (the file is opened lazily in each process).

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
    """

    def __init__(self, path: str, sources: Mapping[str, tuple[str, bool, Sequence[str] | None]],
                 shape: tuple[int, int], dtype: Any, preferred_chunks: tuple[int, int], token: str):
        self.path = os.fspath(path)
        self.sources = dict(sources)
        self.names = tuple(self.sources)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.preferred_chunks = preferred_chunks
        self.token = token
        self._lock = threading.Lock()
        self._file: h5py.File | None = None
        self._pid = os.getpid()

    def _f(self) -> h5py.File:
        with self._lock:
            if self._file is None or not self._file.id.valid or self._pid != os.getpid():
                self._file = h5py.File(self.path, "r")
                self._pid = os.getpid()
            return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._file.id.valid:
                self._file.close()
            self._file = None

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        f = self._f()
        return {n: _read_block(f[key], rows, cols, tr, columns) for n, (key, tr, columns) in self.sources.items()}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock")
        state["_file"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _store_chunks(node_chunks: tuple[int, int] | None, shape: tuple[int, int], itemsize: int,
                  n: int) -> tuple[int, int]:
    """Cache-grid chunks (proteins, samples) aligned to the file's chunks."""
    p, m = max(1, shape[0]), max(1, shape[1])
    rc, cc = node_chunks if node_chunks else (p, min(m, 1024))
    cols = min(m, max(cc, (4096 // cc) * cc))
    budget = 32 * 2**20 // max(1, cols * (itemsize * n + 1))
    rows = p if p <= budget else max(rc, budget // rc * rc)
    return min(p, rows), cols


def _frame_columns(g: h5py.Group) -> list[str]:
    order = g.attrs.get("column-order", [])
    return _strings(np.asarray(order)) if len(order) else []


def _node_info(node: Any, transpose: bool
               ) -> tuple[tuple[int, int], np.dtype, tuple[int, int] | None, list[str] | None]:
    """(proteins x samples shape, dtype, chunks as proteins x samples, frame columns)."""
    if isinstance(node, h5py.Group):  # AnnData dataframe (samples x proteins)
        cols = _frame_columns(node)
        if not cols:
            raise NotResultsFileError(f"{node.name} is a group without columns")
        first = node[cols[0]]
        return (len(cols), int(first.shape[0])), first.dtype, (1, first.chunks[0] if first.chunks else 1024), cols
    if node.ndim != 2:
        raise NotResultsFileError(f"{node.name} is not 2-D (shape {node.shape})")
    shape = (int(node.shape[1]), int(node.shape[0])) if transpose else (int(node.shape[0]), int(node.shape[1]))
    chunks = None
    if node.chunks:
        chunks = (node.chunks[1], node.chunks[0]) if transpose else tuple(node.chunks)
    return shape, node.dtype, chunks, None


def _incomplete_message(path: Path, f: h5py.File | None) -> str:
    done = ""
    if f is not None and DONE_KEY in f:
        d = f[DONE_KEY][()]
        done = f" ({int(np.count_nonzero(d))} of {d.size} column blocks written)"
    return (f"'{path}' is an unfinished lazyact results file{done}. Finish it by running the same "
            "to_hdf5()/to_h5ad() call or `lazyact run` command again (it resumes), or delete it.")


def _inspect(f: h5py.File, path: Path) -> dict:
    """Find the statistics in an open file: kind, sources, names, params."""
    keys = sorted(f.keys())
    if DONE_KEY in f or (not bool(f.attrs.get("lazyact_complete", True))):
        raise IncompleteFileError(_incomplete_message(path, f))
    attrs = dict(f.attrs)
    sources: dict[str, tuple[str, bool, list[str] | None]] = {}
    root_stats = [n for n in STATISTICS if n in f and isinstance(f[n], h5py.Dataset) and f[n].ndim == 2]
    if root_stats:
        kind = "lazyact hdf5" if "lazyact_format" in attrs else "SecActPy hdf5"
        for n in root_stats:
            sources[n] = (n, False, None)
        p, m = f[root_stats[0]].shape
        proteins = _names(f, attrs, "feature_names", p)
        samples = _names(f, attrs, "sample_names", m)
    elif "X" in f and "obs" in f and "var" in f:
        layers = f.get("layers")
        obsm = f.get("obsm")
        layer_stats = [n for n in STATISTICS if isinstance(layers, h5py.Group) and n in layers]
        obsm_stats = [n for n in STATISTICS[1:] if isinstance(obsm, h5py.Group) and n in obsm]
        if layer_stats:
            kind = "h5ad (layers)"
            for n in layer_stats:
                sources[n] = (f"layers/{n}", True, None)
        elif obsm_stats and isinstance(f["X"], h5py.Dataset):
            kind = "lazyact h5ad" if "lazyact_format" in attrs else "h5ad"
            sources["beta"] = ("X", True, None)
            for n in obsm_stats:
                sources[n] = (f"obsm/{n}", True, None)
        else:
            raise NotResultsFileError(
                f"'{path}' is an AnnData file but holds no activity results: no se/zscore/pvalue in obsm "
                f"(obsm keys: {sorted(obsm.keys()) if isinstance(obsm, h5py.Group) else []}) or layers "
                f"(layers keys: {sorted(layers.keys()) if isinstance(layers, h5py.Group) else []}). If it is "
                "expression data, compute activity with lazyact.activity(path, signature=...).")
        samples = _frame_index(f["obs"])
        proteins = _frame_index(f["var"])
        if "lazyact_params" not in attrs and "uns" in f and "source" in f["uns"]:
            attrs["source"] = _strings(f["uns"]["source"])[0]
    else:
        raise NotResultsFileError(
            f"'{path}' is not an activity results file: found top-level keys {keys}. Expected datasets "
            "beta/se/zscore/pvalue (written by lazyact's to_hdf5 or SecActPy's streaming writer) or an "
            "AnnData .h5ad with X and obsm se/zscore/pvalue (to_h5ad, SecActPy's save_results_to_h5ad).")
    infos = {}
    for n, (key, tr, _) in sources.items():
        infos[n] = _node_info(f[key], tr)
    shapes = {n: i[0] for n, i in infos.items()}
    shape = next(iter(shapes.values()))
    if len(set(shapes.values())) != 1:
        raise NotResultsFileError(f"'{path}': the statistics have different shapes {shapes}")
    sources = {n: (key, tr, infos[n][3]) for n, (key, tr, _) in sources.items()}
    dtype = np.result_type(*(i[1] for i in infos.values()))
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    if len(proteins) != shape[0] or len(samples) != shape[1]:
        raise NotResultsFileError(f"'{path}': {len(proteins)} protein / {len(samples)} sample names for "
                                  f"statistics of shape {shape}")
    if "lazyact_params" in attrs:
        params = json.loads(attrs["lazyact_params"])
    else:
        params = {k: _py(v) for k, v in attrs.items() if k not in ("feature_names", "sample_names")
                  and not str(k).startswith(("encoding-", "lazyact_"))}
        params.setdefault("source", kind)
    return dict(kind=kind, sources=sources, shape=shape, dtype=dtype, chunks=infos[next(iter(infos))][2],
                proteins=proteins, samples=samples, params=params, attrs=attrs)


def _py(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [_py(x) for x in v.tolist()] if v.size < 100 else f"<array {v.shape}>"
    return v


def _default_names(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _names(f: h5py.File, attrs: Mapping[str, Any], key: str, n: int) -> list[str]:
    if key in f and isinstance(f[key], h5py.Dataset):
        return _strings(f[key])
    if key in attrs:
        return _strings(np.asarray(attrs[key]))
    return _default_names(n, "protein" if key == "feature_names" else "sample")


def _frame_index(g: Any) -> list[str]:
    if isinstance(g, h5py.Group):
        key = g.attrs.get("_index", "_index")
        key = key.decode() if isinstance(key, bytes) else str(key)
        if key in g:
            return _strings(g[key])
    raise NotResultsFileError(f"{getattr(g, 'name', g)} has no index")


def _read_summary(f: h5py.File, proteins: Sequence[str]) -> pd.DataFrame | None:
    g = f.get("summary")
    if not isinstance(g, h5py.Group):
        return None
    cols, data = [], []
    for name in STATISTICS:
        if name in g:
            for moment in _MOMENTS:
                if moment in g[name]:
                    cols.append((name, moment))
                    data.append(g[name][moment][()])
    if not cols:
        return None
    return pd.DataFrame(np.column_stack(data), index=pd.Index(proteins, dtype=object),
                        columns=pd.MultiIndex.from_tuples(cols, names=["statistic", "moment"]))


def _open_h5(path: Path, allow_locked: bool = False) -> h5py.File:
    if not path.exists():
        part = partial_path(path)
        if part.exists():
            try:
                with h5py.File(part, "r") as f:
                    msg = _incomplete_message(part, f)
            except OSError:
                msg = _incomplete_message(part, None)
            raise IncompleteFileError(f"'{path}' does not exist yet, only {msg}")
        raise FileNotFoundError(f"no such file: '{path}'")
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a directory, not a results file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if "lock" in str(exc).lower():
            if allow_locked:  # a run in progress: read its metadata without the lock
                try:
                    return h5py.File(path, "r", locking=False)
                except OSError:
                    pass
            raise OSError(f"'{path}' is open for writing by another process (a run in progress?): {exc}") from exc
        if not h5py.is_hdf5(path):
            raise NotResultsFileError(
                f"'{path}' is not an HDF5 file, so not a results file (lazyact.open reads files written by "
                "to_hdf5/to_h5ad/`lazyact run`, or by SecActPy). For an expression table use "
                "lazyact.activity(path, ...).") from exc
        raise OSError(f"cannot open '{path}': {exc}") from exc


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
    attrs : dict
        The file's root attributes.
    """

    def __init__(self, path: str | os.PathLike, *, chunks: tuple[int, int] | None = None,
                 cache_bytes: int | None = None, threads: int | None = None):
        self.path = Path(os.fspath(path))
        with _open_h5(self.path) as f:
            info = _inspect(f, self.path)
            self.summary_stats = _read_summary(f, info["proteins"])
            spatial = None
            if "spatial" in f and isinstance(f["spatial"], h5py.Dataset):
                spatial = f["spatial"][()]
            elif isinstance(f.get("obsm"), h5py.Group) and isinstance(f["obsm"].get("spatial"), h5py.Dataset):
                spatial = f["obsm"]["spatial"][()]
            self.spatial = None if spatial is None else np.asarray(spatial, dtype=np.float64)
        self.format: str = info["kind"]
        self.params: dict = info["params"]
        self.attrs: dict = {k: _py(v) for k, v in info["attrs"].items()}
        self.proteins = pd.Index(info["proteins"], dtype=object)
        self.samples = pd.Index(info["samples"], dtype=object)
        st = os.stat(self.path)
        self._file_id = {"path": str(self.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        token = _digest({"file": self._file_id, "sources": {k: v[:2] for k, v in info["sources"].items()}})
        dtype = info["dtype"]
        pref = _store_chunks(info["chunks"], info["shape"], dtype.itemsize, len(info["sources"]))
        self.blocks = StoredBlocks(str(self.path), info["sources"], info["shape"], dtype, pref, token)
        kwargs = {} if cache_bytes is None else {"cache_bytes": int(cache_bytes)}
        self.store = BlockStore(self.blocks, chunks=chunks, threads=threads, **kwargs)
        self._views: dict[str, Any] = {}

    def _missing(self, name: str) -> str:
        return f"'{self.path}' stores no {name!r} (stored: {', '.join(self.store.names)})"

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
        return {"file": self._file_id, "arrays": list(self.store.names), "proteins": _hash_names(self.proteins),
                "samples": _hash_names(self.samples)}

    def close(self) -> None:
        """Close the file handle (it is reopened on the next read)."""
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

    Reads files written by ``act.to_hdf5`` / ``act.to_h5ad`` / ``lazyact run``, by
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
    >>> import lazyact, tempfile, os
    >>> from lazyact.demo import example_path
    >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
    >>> res = lazyact.open(act.to_hdf5(os.path.join(tempfile.mkdtemp(), "r.h5"), progress=False))
    >>> res.shape, res.params["n_rand"]
    ((43, 5), 20)
    >>> import numpy as np
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
    if not p.is_file() or not h5py.is_hdf5(p):
        return False
    try:
        with h5py.File(p, "r") as f:
            _inspect(f, p)
        return True
    except (NotResultsFileError, IncompleteFileError, OSError, KeyError):
        return False


# --------------------------------------------------------------------------- info
def file_info(path: str | os.PathLike) -> dict:
    """What a results file holds, without reading the data; works on ``.partial`` files.

    Returns
    -------
    dict
        ``path``, ``complete`` (bool), ``blocks_done`` / ``n_blocks`` (for unfinished
        lazyact files), ``format``, ``shape``, ``arrays`` (dtype, chunks, compression
        per statistic), ``params``, ``version``, ``summary`` (bool), ``size_bytes``.

    Raises
    ------
    NotResultsFileError, FileNotFoundError
    """
    p = Path(os.fspath(path))
    if not p.exists() and partial_path(p).exists():
        p = partial_path(p)
    if not p.exists():
        raise FileNotFoundError(f"no such file: '{path}'")
    f = _open_h5(p, allow_locked=True)
    with f:
        attrs = dict(f.attrs)
        out: dict[str, Any] = {"path": str(p), "size_bytes": p.stat().st_size}
        incomplete = DONE_KEY in f or not bool(attrs.get("lazyact_complete", True))
        out["complete"] = not incomplete
        if DONE_KEY in f:
            d = f[DONE_KEY][()]
            out["blocks_done"], out["n_blocks"] = int(np.count_nonzero(d)), int(d.size)
        layout = json.loads(attrs["lazyact_layout"]) if "lazyact_layout" in attrs else None
        if incomplete:
            out["format"] = f"lazyact {layout['format']} (unfinished)" if layout else "unfinished"
            if layout:
                out["shape"] = tuple(layout["shape"])
                out["arrays"] = {n: {"dtype": layout["dtype"], "chunks": layout["chunks"],
                                     "compression": layout["compression"]} for n in layout["arrays"]}
            params = json.loads(attrs["lazyact_params"]) if "lazyact_params" in attrs else {}
        else:
            info = _inspect(f, p)
            out["format"] = info["kind"]
            out["shape"] = tuple(info["shape"])
            out["arrays"] = {}
            for n, (key, tr, cols) in info["sources"].items():
                node = f[key]
                if isinstance(node, h5py.Dataset):
                    ch = None if node.chunks is None else (tuple(reversed(node.chunks)) if tr else node.chunks)
                    out["arrays"][n] = {"dataset": key, "dtype": str(node.dtype), "chunks": ch,
                                        "compression": node.compression}
                else:
                    out["arrays"][n] = {"dataset": key, "dtype": "dataframe", "chunks": None, "compression": None}
            params = info["params"]
            out["proteins"] = info["proteins"][:5]
            out["samples"] = info["samples"][:5]
        out["params"] = params
        out["version"] = _py(attrs.get("lazyact_version")) if "lazyact_version" in attrs else None
        out["summary"] = "summary" in f
        if layout:
            out["block"] = layout.get("block")
    return out


def format_info(info: Mapping[str, Any]) -> str:
    """Human-readable text of :func:`file_info`."""
    lines = [f"{info['path']}"]
    lines.append(f"  format     {info.get('format')}")
    if "shape" in info:
        p, m = info["shape"]
        lines.append(f"  shape      {p:,} proteins x {m:,} samples")
    if info.get("complete"):
        lines.append("  complete   yes")
    else:
        done = ""
        if "n_blocks" in info:
            n = info["n_blocks"]
            pct = 100.0 * info["blocks_done"] / n if n else 100.0
            done = f" ({info['blocks_done']} of {n} column blocks written, {pct:.0f}%)"
        lines.append(f"  complete   no{done}: run the same command again to resume, or delete the .partial file")
    lines.append(f"  size       {_fmt_bytes(info['size_bytes'])}")
    for n, a in info.get("arrays", {}).items():
        lines.append(f"  {n:<10} {a.get('dtype')}, chunks {a.get('chunks')}, compression {a.get('compression')}")
    if info.get("summary"):
        lines.append("  summary    per-protein mean/std/min/max stored")
    if info.get("proteins"):
        lines.append(f"  proteins   {', '.join(map(str, info['proteins']))}{', ...' if info['shape'][0] > 5 else ''}")
    if info.get("samples"):
        lines.append(f"  samples    {', '.join(map(str, info['samples']))}{', ...' if info['shape'][1] > 5 else ''}")
    if info.get("version"):
        lines.append(f"  written by lazyact {info['version']}")
    params = info.get("params") or {}
    if params:
        lines.append("  parameters")
        for k, v in params.items():
            lines.append(f"    {k} = {v!r}")
    return "\n".join(lines)
