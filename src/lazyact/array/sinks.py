"""Sinks of a :class:`~lazyact.array.blocks.BlockStore`: NumPy, HDF5, AnnData files, dask.

Nothing here knows what the outputs mean; :mod:`lazyact.store` builds the activity
files on top of it.

* :func:`read_all` -- several outputs as NumPy arrays in ONE pass over the blocks
  (refusing oversized results, like :meth:`LazyArray.as_numpy`).
* :func:`write_hdf5` -- every output as a 2-D dataset (rows x cols), plus row and
  column names, written column block by column block with bounded memory.
* :func:`write_h5ad` -- one output as ``X`` and others as ``obsm`` arrays of an
  AnnData file (cols x rows, i.e. transposed), in AnnData's on-disk format.
* :func:`hdf5_chunks` -- the chunk shape that makes one row and one column block
  both cheap to read.
* :func:`to_dask` -- a dask array of one output.

Resumable writing
-----------------
Both writers write to ``path + ".partial"`` and :func:`os.replace` it into place only
when every column block is written. After each block the file is flushed and a
bitmap dataset ``_lazyact_done`` records it, so a run that is killed (even with
``SIGKILL``) continues where it stopped when started again with ``resume=True``: the
finished blocks are not recomputed, and the final file equals the one an
uninterrupted run writes (the blocks are always computed with the same
decomposition, bypassing the block cache). The ``.partial`` file carries a
fingerprint of the inputs and the layout; a mismatch refuses to resume.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import config
from .blocks import BlockStore
from .config import format_bytes
from .grid import chunk_groups, full_groups
from .reduce import MOMENTS, Accumulator, sum_dtype_for

__all__ = [
    "DONE_KEY",
    "PARTIAL_SUFFIX",
    "IncompleteFileError",
    "ResumeMismatchError",
    "hdf5_chunks",
    "read_all",
    "write_hdf5",
    "write_h5ad",
    "to_dask",
    "partial_path",
    "write_buffer_bytes",
    "chunk_target_bytes",
]

#: Suffix of a file being written.
PARTIAL_SUFFIX = ".partial"
#: Bitmap dataset of finished column blocks in a ``.partial`` file.
DONE_KEY = "_lazyact_done"
#: Bytes of one write block (all outputs, in the file's dtype) when ``block`` is not given.
write_buffer_bytes: int = 64 * 2**20
#: Uncompressed bytes of one HDF5 chunk chosen by :func:`hdf5_chunks`.
chunk_target_bytes: int = 256 * 2**10

_STR = h5py.string_dtype("utf-8")


class IncompleteFileError(OSError):
    """A results file is still being written (or was interrupted): a ``.partial`` file."""


class ResumeMismatchError(ValueError):
    """A ``.partial`` file was written for other inputs or another layout."""


def partial_path(path: str | os.PathLike) -> Path:
    """The name a file is written under until it is complete: ``path + ".partial"``."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


# --------------------------------------------------------------------------- chunks
def hdf5_chunks(
    shape: tuple[int, int],
    itemsize: int = 8,
    *,
    max_cols: int | None = None,
    target_bytes: int | None = None,
) -> tuple[int, int] | None:
    """HDF5 chunk shape for a rows x cols dataset read both by row and by column block.

    Reading one row touches ``ceil(n_cols / c)`` chunks of ``r * c`` cells, i.e. about
    ``r * n_cols`` cells; reading a block of up to ``c`` columns touches
    ``ceil(n_rows / r)`` chunks, i.e. about ``n_rows * c`` cells. With ``r * c`` fixed
    by ``target_bytes`` both costs are balanced by ``r = sqrt(n_rows * K / n_cols)``.

    Parameters
    ----------
    shape : (int, int)
        Dataset shape (rows, cols).
    itemsize : int
        Bytes per value.
    max_cols : int, optional
        Upper bound on the chunk's columns (the writer's column block).
    target_bytes : int, optional
        Uncompressed bytes per chunk (default :data:`chunk_target_bytes`, 256 KiB).

    Returns
    -------
    (int, int) or None
        None for an empty dataset (which cannot be chunked).

    Examples
    --------
    >>> hdf5_chunks((43, 200_000))
    (3, 10922)
    >>> hdf5_chunks((1170, 2_000_000), max_cols=2048)
    (16, 2048)
    >>> hdf5_chunks((43, 5))
    (43, 5)
    """
    n_rows, n_cols = int(shape[0]), int(shape[1])
    if n_rows == 0 or n_cols == 0:
        return None
    k = max(1, int(chunk_target_bytes if target_bytes is None else target_bytes) // max(1, int(itemsize)))
    r = int(round(math.sqrt(n_rows * k / n_cols)))
    r = min(n_rows, max(1, r))
    c = min(n_cols, max(1, k // r))
    if max_cols is not None:
        c = min(c, max(1, int(max_cols)))
        r = min(n_rows, max(r, k // c))
    return r, c


# --------------------------------------------------------------------------- numpy
def read_all(
    store: BlockStore,
    names: str | Sequence[str] | None = None,
    *,
    max_bytes: int | None = None,
    force: bool = False,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Several outputs of ``store`` as NumPy arrays, computed in one pass over the blocks.

    Parameters
    ----------
    store : BlockStore
    names : str or sequence of str, optional
        Outputs (default all).
    max_bytes : int, optional
        Refuse results (all outputs together) larger than this (default
        :data:`lazyact.array.config.max_materialise_bytes`).
    force : bool
        Materialise whatever the size.
    progress : bool, optional
        Progress bar (None: automatic on long work).

    Raises
    ------
    ArrayTooLargeError
        When the result would exceed ``max_bytes``.

    Examples
    --------
    >>> import numpy as np
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (2, 3), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 10.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> read_all(BlockStore(Grid()))["y"]
    array([[ -0.,  -1.,  -2.],
           [-10., -11., -12.]])
    """
    from .lazyarray import ArrayTooLargeError

    names = store.check_names(names)
    total = store.shape[0] * store.shape[1] * store.dtype.itemsize * len(names)
    limit = config.max_materialise_bytes if max_bytes is None else int(max_bytes)
    if total > limit and not force:
        raise ArrayTooLargeError(
            f"{', '.join(names)} of shape {store.shape} ({store.dtype}) are {format_bytes(total)} together, more "
            f"than max_bytes={format_bytes(limit)}. Write them to disk block by block instead (to_hdf5 / to_h5ad), "
            f"select a part first, or pass force=True / max_bytes=..."
        )
    out = {n: np.empty(store.shape, dtype=store.dtype) for n in names}
    for rsl, csl, arrays in store.iter_blocks(names=names, cache=False, progress=progress, desc="reading"):
        for n in names:
            out[n][rsl, csl] = arrays[n]
    return out


def to_dask(store: BlockStore, name: str, chunks: Any = None, row_labels: Any = None, col_labels: Any = None) -> Any:
    """A dask array of output ``name`` whose tasks compute blocks of the store.

    The graph holds the store (which pickles without its cache), so it runs on a
    ``dask.distributed`` cluster when the block function pickles (expression sources
    pickle by reference, e.g. as their file path). Same as ``LazyArray.to_dask``.
    """
    from .lazyarray import LazyArray

    return LazyArray(store, name, row_labels=row_labels, col_labels=col_labels).to_dask(chunks=chunks)


# --------------------------------------------------------------------------- helpers
def _json(value: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (pd.Index, pd.Series)):
            return list(map(str, o))
        return str(o)

    return json.dumps(value, default=default, sort_keys=True)


def _attr_value(value: Any) -> Any:
    """A value HDF5 can store as an attribute (JSON text otherwise)."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)) and -(2**63) <= int(value) < 2**63:
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return value
    return _json(value)


def _labels(values: Any, n: int) -> list[str]:
    if values is None:
        return [str(i) for i in range(n)]
    out = [str(v) for v in values]
    if len(out) != n:
        raise ValueError(f"{len(out)} names for {n} entries")
    return out


def _string_dataset(group: h5py.Group, key: str, values: Sequence[str], compression: str | None, **attrs: Any) -> None:
    arr = np.array(values, dtype=object)
    kw: dict[str, Any] = {}
    if arr.size > 4096:
        kw = {"chunks": (min(arr.size, 65536),), "compression": compression}
    ds = group.create_dataset(key, data=arr, dtype=_STR, **kw)
    for k, v in attrs.items():
        ds.attrs[k] = v


def _check_target(final: Path, overwrite: bool) -> None:
    parent = final.parent
    if not parent.exists():
        raise FileNotFoundError(errno.ENOENT, f"cannot write '{final}': directory '{parent}' does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write '{final}': '{parent}' is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot write '{final}': directory '{parent}' is not writable")
    if final.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write '{final}': it is a directory")
    if final.exists() and not overwrite:
        raise FileExistsError(
            errno.EEXIST, f"'{final}' exists; pass overwrite=True (CLI: --overwrite) to replace it "
            "(it is replaced only once the new file is complete)"
        )


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Target:
    """Output ``name`` of the store goes to dataset ``key`` (transposed: cols x rows)."""

    name: str
    key: str
    transpose: bool = False


class _Layout:
    """What a writer puts in the file besides the column blocks."""

    kind = "generic"

    def __init__(self, targets: Sequence[_Target]):
        self.targets = list(targets)

    def create(self, f: h5py.File, writer: "_BlockWriter") -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, f: h5py.File, writer: "_BlockWriter",
               summary: Mapping[str, Mapping[str, np.ndarray]] | None) -> None:
        if summary:
            g = f.create_group("summary")
            g.attrs["axis"] = 1
            g.attrs["ddof"] = 0
            for name, stats in summary.items():
                sg = g.create_group(name)
                for moment in MOMENTS:
                    sg.create_dataset(moment, data=np.asarray(stats[moment]))


class _HDF5Layout(_Layout):
    kind = "hdf5"

    def __init__(self, targets, row_names, col_names, row_key, col_key, extra):
        super().__init__(targets)
        self.row_names, self.col_names = row_names, col_names
        self.row_key, self.col_key = row_key, col_key
        self.extra = extra

    def create(self, f: h5py.File, w: "_BlockWriter") -> None:
        p, m = w.shape
        for t in self.targets:
            f.create_dataset(t.key, shape=(p, m), dtype=w.dtype, chunks=w.chunks,
                             compression=w.compression if w.chunks else None)
        _string_dataset(f, self.row_key, self.row_names, w.compression)
        _string_dataset(f, self.col_key, self.col_names, w.compression)
        # SecActPy's load_results() reads names from attributes: add them where they fit
        for key, names in ((self.row_key, self.row_names), (self.col_key, self.col_names)):
            if sum(len(s.encode()) + 16 for s in names) < 48_000:
                f.attrs.create(key, data=np.array(names, dtype=object), dtype=_STR)
        for key, value in (self.extra or {}).items():
            f.create_dataset(key, data=value)


class _H5ADLayout(_Layout):
    kind = "h5ad"

    def __init__(self, targets, obs_names, var_names, uns, obsm_extra):
        super().__init__(targets)
        self.obs_names, self.var_names = obs_names, var_names
        self.uns = dict(uns or {})
        self.obsm_extra = dict(obsm_extra or {})

    @staticmethod
    def _enc(obj: h5py.HLObject, kind: str, version: str) -> None:
        obj.attrs["encoding-type"] = kind
        obj.attrs["encoding-version"] = version

    def _frame(self, f: h5py.File, key: str, names: Sequence[str], compression: str | None) -> None:
        g = f.create_group(key)
        self._enc(g, "dataframe", "0.2.0")
        g.attrs["_index"] = "_index"
        g.attrs["column-order"] = np.array([], dtype=np.float64)
        _string_dataset(g, "_index", names, compression)
        self._enc(g["_index"], "string-array", "0.2.0")

    def _write_uns(self, g: h5py.Group, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping):
                sub = g.create_group(key)
                self._enc(sub, "dict", "0.1.0")
                self._write_uns(sub, value)
            elif isinstance(value, str):
                ds = g.create_dataset(key, data=value, dtype=_STR)
                self._enc(ds, "string", "0.2.0")
            elif isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
                ds = g.create_dataset(key, data=value)
                self._enc(ds, "numeric-scalar", "0.2.0")
            else:
                arr = np.asarray(value)
                if arr.dtype.kind in "OUS":
                    _string_dataset(g, key, [str(v) for v in arr.ravel()], None)
                    self._enc(g[key], "string-array", "0.2.0")
                else:
                    ds = g.create_dataset(key, data=arr)
                    self._enc(ds, "array", "0.2.0")

    def create(self, f: h5py.File, w: "_BlockWriter") -> None:
        p, m = w.shape
        self._enc(f, "anndata", "0.1.0")
        chunks = None if w.chunks is None else (w.chunks[1], w.chunks[0])
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            self._enc(f.create_group(key), "dict", "0.1.0")
        for t in self.targets:
            ds = f.create_dataset(t.key, shape=(m, p), dtype=w.dtype, chunks=chunks,
                                  compression=w.compression if chunks else None)
            self._enc(ds, "array", "0.2.0")
        self._frame(f, "obs", self.obs_names, w.compression)
        self._frame(f, "var", self.var_names, w.compression)
        for key, value in self.obsm_extra.items():
            ds = f["obsm"].create_dataset(key, data=np.asarray(value))
            self._enc(ds, "array", "0.2.0")
        self._write_uns(f["uns"], self.uns)


# --------------------------------------------------------------------------- writer
class _BlockWriter:
    """Writes the outputs of a store column block by column block into an HDF5 file."""

    def __init__(self, store: BlockStore, path: str | os.PathLike, layout: _Layout, *, dtype: Any,
                 compression: str | None, block: int | None, progress: bool | None, resume: bool,
                 overwrite: bool, summary: bool, attrs: Mapping[str, Any] | None, fingerprint: str | None,
                 fingerprint_parts: Mapping[str, Any] | None, blas_threads: int | None = 1):
        self.store = store
        self.final = Path(os.fspath(path))
        self.partial = partial_path(self.final)
        self.layout = layout
        self.names = tuple(t.name for t in layout.targets)
        store.check_names(self.names)
        if len(set(self.names)) != len(self.names) or not self.names:
            raise ValueError(f"arrays must be unique and non-empty, got {self.names}")
        self.dtype = np.dtype(store.dtype if dtype is None else dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type, got {self.dtype}")
        self.compression = compression
        self.shape = store.shape
        p, m = self.shape
        per_col = max(1, p * len(self.names) * self.dtype.itemsize)
        if block is None:
            budget = max(1, write_buffer_bytes // per_col)
            chunks = hdf5_chunks(self.shape, self.dtype.itemsize, max_cols=budget)
            width = budget if chunks is None else max(chunks[1], budget // chunks[1] * chunks[1])
        else:
            if int(block) < 1:
                raise ValueError(f"block must be a positive number of columns, got {block}")
            width = int(block)
            chunks = hdf5_chunks(self.shape, self.dtype.itemsize, max_cols=width)
        self.chunks = chunks
        self.width = max(1, min(width, m)) if m else 1
        self.n_blocks = -(-m // self.width) if m else 0
        self.progress = progress
        self.blas_threads = blas_threads
        self.resume = resume
        self.overwrite = overwrite
        self.summary = bool(summary)
        self.attrs = dict(attrs or {})
        self.fingerprint = fingerprint or ""
        self.fingerprint_parts = dict(fingerprint_parts or {})
        self.layout_info = {
            "format": layout.kind,
            "arrays": list(self.names),
            "datasets": [t.key for t in layout.targets],
            "shape": list(self.shape),
            "dtype": self.dtype.str,
            "compression": compression,
            "block": self.width,
            "chunks": None if chunks is None else list(chunks),
            "summary": self.summary,
        }

    # -- the file
    def _create(self) -> h5py.File:
        f = h5py.File(self.partial, "w")
        try:
            for key, value in self.attrs.items():
                f.attrs[key] = _attr_value(value)
            f.attrs["lazyact_complete"] = False
            f.attrs["lazyact_fingerprint"] = self.fingerprint
            f.attrs["lazyact_fingerprint_parts"] = _json(self.fingerprint_parts)
            f.attrs["lazyact_layout"] = _json(self.layout_info)
            self.layout.create(f, self)
            done = f.create_dataset(DONE_KEY, shape=(self.n_blocks,), dtype=np.uint8, fillvalue=0)
            done.attrs["block"] = self.width
            f.flush()
        except BaseException:
            f.close()
            raise
        return f

    def _open_existing(self) -> h5py.File | None:
        """The ``.partial`` file to continue, or None to start afresh."""
        if not self.partial.exists():
            return None
        if not self.resume:
            self.partial.unlink()
            return None
        try:
            f = h5py.File(self.partial, "r+")
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise OSError(errno.EBUSY, f"'{self.partial}' is open in another process (another run writing "
                                           f"it?): {exc}") from exc
            warnings.warn(f"'{self.partial}' cannot be read ({exc}); it was probably killed during a write. "
                          "Starting over.", RuntimeWarning, stacklevel=4)
            self.partial.unlink()
            return None
        try:
            old = f.attrs.get("lazyact_fingerprint")
            old_layout = f.attrs.get("lazyact_layout")
            if old is None or old_layout is None:
                raise ResumeMismatchError(
                    f"'{self.partial}' was not written by lazyact's resumable writer (top-level keys: "
                    f"{sorted(f.keys())}); delete it or pass resume=False to overwrite it")
            if str(old) != self.fingerprint:
                try:
                    parts = json.loads(f.attrs.get("lazyact_fingerprint_parts", "{}"))
                except ValueError:
                    parts = {}
                differ = sorted(k for k in set(parts) | set(self.fingerprint_parts)
                                if _json(parts.get(k)) != _json(self.fingerprint_parts.get(k)))
                what = f" (differences: {', '.join(differ)})" if differ else ""
                raise ResumeMismatchError(
                    f"'{self.partial}' is an interrupted run on different inputs{what}: refusing to resume. "
                    "Delete the .partial file or pass resume=False (CLI: --no-resume) to start over.")
            old_layout = json.loads(old_layout)
            new_layout = json.loads(_json(self.layout_info))
            if old_layout != new_layout:
                differ = sorted(k for k in new_layout if old_layout.get(k) != new_layout[k])
                raise ResumeMismatchError(
                    f"'{self.partial}' was started with other output options ({', '.join(differ)}: "
                    f"{ {k: old_layout.get(k) for k in differ} }); run again with the same options, or delete "
                    "it / pass resume=False to start over.")
        except BaseException:
            f.close()
            raise
        return f

    # -- computing
    def _tasks(self, pending: Sequence[int]) -> list[tuple[int, tuple, tuple]]:
        p, m = self.shape
        rgroups = full_groups(p, self.store.chunks[0])
        tasks = []
        for k in pending:
            lo, hi = k * self.width, min(m, (k + 1) * self.width)
            for cg in chunk_groups(np.arange(lo, hi, dtype=np.intp), self.store.chunks[1]):
                for rg in rgroups:
                    tasks.append((k, rg, cg))
        return tasks

    def _work(self, task: tuple) -> tuple:
        k, rg, cg = task
        res = self.store.compute(rg[1], cg[1])
        return k, rg, cg, {n: np.asarray(res[n], dtype=self.dtype) for n in self.names}

    def _read_back(self, f: h5py.File, k: int) -> dict[str, np.ndarray]:
        lo, hi = k * self.width, min(self.shape[1], (k + 1) * self.width)
        out = {}
        for t in self.layout.targets:
            ds = f[t.key]
            out[t.name] = np.ascontiguousarray(ds[lo:hi, :].T) if t.transpose else ds[:, lo:hi]
        return out

    def _write(self, f: h5py.File, k: int, buf: Mapping[str, np.ndarray]) -> None:
        lo, hi = k * self.width, min(self.shape[1], (k + 1) * self.width)
        for t in self.layout.targets:
            ds = f[t.key]
            if t.transpose:
                ds[lo:hi, :] = np.ascontiguousarray(buf[t.name].T)
            else:
                ds[:, lo:hi] = buf[t.name]
        f[DONE_KEY][k] = 1
        f.flush()

    def _bar(self, initial: int) -> tqdm:
        enabled = self.progress is not False and config.progress_enabled()
        if self.progress is None:
            enabled = enabled and self.n_blocks > 1
        return tqdm(total=self.shape[1], initial=initial, disable=not enabled, unit="sample",
                    unit_scale=self.shape[1] >= 100_000, desc=f"writing {self.final.name}", dynamic_ncols=True,
                    smoothing=0.1)

    def run(self) -> Path:
        _check_target(self.final, self.overwrite)
        f = self._open_existing()
        if f is None:
            f = self._create()
        p, m = self.shape
        try:
            complete = bool(f.attrs.get("lazyact_complete", False))
            done = np.ones(self.n_blocks, dtype=bool) if complete else f[DONE_KEY][:].astype(bool)
            pending = [k for k in range(self.n_blocks) if not done[k]]
            accs = None
            if self.summary and not complete:
                sdt = sum_dtype_for(self.dtype)
                accs = {n: Accumulator(p, {"sum", "moments", "min", "max"}, False, self.dtype, sdt)
                        for n in self.names}
            done_cols = sum(min(m, (k + 1) * self.width) - k * self.width for k in range(self.n_blocks) if done[k])
            bar = self._bar(done_cols)
            stream: Iterator | None = None
            limits = contextlib.ExitStack()
            if self.blas_threads is not None and pending:
                from threadpoolctl import threadpool_limits

                limits.enter_context(threadpool_limits(limits=int(self.blas_threads), user_api="blas"))
            try:
                if pending:
                    stream = self.store.stream(self._work, self._tasks(pending), False, None)
                written = 0
                for k in range(0 if complete else self.n_blocks):
                    if done[k]:
                        if accs is None:
                            continue
                        buf = self._read_back(f, k)
                    else:
                        lo, hi = k * self.width, min(m, (k + 1) * self.width)
                        buf = {n: np.empty((p, hi - lo), dtype=self.dtype) for n in self.names}
                        need = len(chunk_groups(np.arange(lo, hi), self.store.chunks[1])) * len(
                            full_groups(p, self.store.chunks[0]))
                        for _ in range(need):
                            kk, rg, cg, arrays = next(stream)  # type: ignore[arg-type]
                            if kk != k:  # pragma: no cover - the stream yields in task order
                                raise RuntimeError(f"block {kk} arrived while writing block {k}")
                            for n in self.names:
                                buf[n][rg[3], cg[3]] = arrays[n]
                            if rg[0] == (p - 1) // self.store.chunks[0]:
                                bar.update(cg[1].size)
                        try:
                            self._write(f, k, buf)
                        except OSError as exc:
                            raise OSError(
                                exc.errno or errno.EIO,
                                f"writing '{self.partial}' failed after {written + int(done.sum())} of "
                                f"{self.n_blocks} column blocks ({exc}). The finished blocks are kept in "
                                f"'{self.partial}': free space (or fix the cause) and run the same command again "
                                "to resume, or delete it. Nothing was written under the final name "
                                f"'{self.final.name}'.") from exc
                        written += 1
                    if accs is not None:
                        for n in self.names:
                            accs[n].add(buf[n], axis=1, sl=slice(0, p))
                    del buf
            finally:
                if stream is not None:
                    stream.close()  # type: ignore[attr-defined]
                bar.close()
                limits.close()
            summary = None
            if accs is not None:
                with np.errstate(all="ignore"):
                    summary = {n: {"mean": a.sum / np.maximum(a.count, 1), "std": np.sqrt(a.var_(0)),
                                   "min": a.extreme("min"), "max": a.extreme("max")} for n, a in accs.items()}
            if not complete:
                if "summary" in f:
                    del f["summary"]
                self.layout.finish(f, self, summary)
                if DONE_KEY in f:
                    del f[DONE_KEY]
                f.attrs["lazyact_complete"] = True
                f.flush()
        except BaseException as exc:
            try:
                f.close()
            except Exception:  # pragma: no cover - e.g. disk still full
                pass
            if hasattr(exc, "add_note") and not isinstance(exc, (OSError, ResumeMismatchError)):
                exc.add_note(f"lazyact: the finished column blocks are kept in '{self.partial}'; run the same "
                             "call again to resume (or delete it).")
            raise
        f.close()
        _fsync(self.partial)
        os.replace(self.partial, self.final)
        return self.final


# --------------------------------------------------------------------------- public
def write_hdf5(
    store: BlockStore,
    path: str | os.PathLike,
    names: str | Sequence[str] | None = None,
    *,
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    row_key: str = "feature_names",
    col_key: str = "sample_names",
    dtype: Any = None,
    compression: str | None = "gzip",
    block: int | None = None,
    progress: bool | None = True,
    resume: bool = True,
    overwrite: bool = False,
    summary: bool = False,
    attrs: Mapping[str, Any] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    fingerprint: str | None = None,
    fingerprint_parts: Mapping[str, Any] | None = None,
    blas_threads: int | None = 1,
) -> Path:
    """Write outputs of ``store`` as rows x cols HDF5 datasets, block by block, resumably.

    Layout: one dataset per output (named like the output), ``row_key`` and
    ``col_key`` string datasets (UTF-8) with the labels, root attributes ``attrs``
    plus ``lazyact_complete``, ``lazyact_fingerprint``, ``lazyact_layout``, optional
    ``summary/<output>/{mean,std,min,max}`` (per row) and ``extra`` datasets.

    Parameters
    ----------
    store : BlockStore
    path : str or path
        Final file name; the file is written as ``path + ".partial"`` and renamed when
        complete.
    names : str or sequence of str, optional
        Outputs to write (default all).
    row_labels, col_labels : sequence, optional
        Names of the rows and columns (positions when None).
    row_key, col_key : str
        Dataset names of the labels.
    dtype : dtype, optional
        Stored dtype (default the store's).
    compression : str or None
        HDF5 filter (``"gzip"``, ``"lzf"``, None).
    block : int, optional
        Columns per write block (the resume granularity; default: about
        :data:`write_buffer_bytes` of all outputs).
    progress : bool or None
        tqdm bar with ETA (False: none; silenced by ``config.progress = False``).
    resume : bool
        Continue an interrupted ``.partial`` file with the same fingerprint and layout
        (``False``: delete it and start over).
    overwrite : bool
        Replace an existing file at ``path`` (only once the new one is complete).
    summary : bool
        Also store per-row mean/std/min/max of each output, streamed in the same pass.
    attrs : mapping, optional
        Root attributes (scalars stored as such, anything else as JSON text).
    extra : mapping of str to array, optional
        Further small datasets.
    fingerprint, fingerprint_parts : str and mapping, optional
        Identity of the inputs, compared when resuming (the parts name what differs).
    blas_threads : int or None
        BLAS threads while the blocks are computed (default 1: the store's threads
        compute blocks in parallel, and float64 rounding does not depend on the BLAS
        thread setting of the process, so a resumed file is bitwise identical to an
        uninterrupted one even when the two processes were configured differently).
        None leaves BLAS alone.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np, tempfile, os, h5py
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (3, 10), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 100.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> out = os.path.join(tempfile.mkdtemp(), "grid.h5")
    >>> _ = write_hdf5(BlockStore(Grid(), chunks=(3, 4)), out, block=4, progress=False)
    >>> with h5py.File(out) as f:
    ...     print(f["y"][2, :3], sorted(f))
    [-200. -201. -202.] ['feature_names', 'sample_names', 'x', 'y']
    """
    names = store.check_names(names)
    p, m = store.shape
    layout = _HDF5Layout([_Target(n, n) for n in names], _labels(row_labels, p), _labels(col_labels, m),
                         row_key, col_key, extra)
    return _BlockWriter(store, path, layout, dtype=dtype, compression=compression, block=block, progress=progress,
                        resume=resume, overwrite=overwrite, summary=summary, attrs=attrs, fingerprint=fingerprint,
                        fingerprint_parts=fingerprint_parts, blas_threads=blas_threads).run()


def write_h5ad(
    store: BlockStore,
    path: str | os.PathLike,
    x: str,
    obsm: Sequence[str] = (),
    *,
    obs_names: Sequence[Any] | None = None,
    var_names: Sequence[Any] | None = None,
    uns: Mapping[str, Any] | None = None,
    obsm_extra: Mapping[str, np.ndarray] | None = None,
    dtype: Any = None,
    compression: str | None = "gzip",
    block: int | None = None,
    progress: bool | None = True,
    resume: bool = True,
    overwrite: bool = False,
    attrs: Mapping[str, Any] | None = None,
    fingerprint: str | None = None,
    fingerprint_parts: Mapping[str, Any] | None = None,
    blas_threads: int | None = 1,
) -> Path:
    """Write outputs of ``store`` as an AnnData ``.h5ad`` file (transposed), block by block.

    ``X`` holds output ``x`` and ``obsm[name]`` each output in ``obsm``, all as dense
    cols x rows arrays (obs = the store's columns, var = its rows), ``obs``/``var``
    hold the names, ``uns`` the given metadata (strings, numbers, arrays, nested
    dicts). The file is written with h5py in AnnData's on-disk format (readable by
    ``anndata.read_h5ad``) with the same resumable machinery as :func:`write_hdf5`.

    Examples
    --------
    >>> import numpy as np, tempfile, os, anndata
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (3, 10), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 100.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> out = os.path.join(tempfile.mkdtemp(), "grid.h5ad")
    >>> _ = write_h5ad(BlockStore(Grid()), out, "x", ["y"], progress=False)
    >>> a = anndata.read_h5ad(out)
    >>> a.shape, a.obsm["y"][1, 2]
    ((10, 3), np.float64(-201.0))
    """
    store.check_names([x, *obsm])
    p, m = store.shape
    targets = [_Target(x, "X", True)] + [_Target(n, f"obsm/{n}", True) for n in obsm]
    layout = _H5ADLayout(targets, _labels(obs_names, m), _labels(var_names, p), uns, obsm_extra)
    return _BlockWriter(store, path, layout, dtype=dtype, compression=compression, block=block, progress=progress,
                        resume=resume, overwrite=overwrite, summary=False, attrs=attrs, fingerprint=fingerprint,
                        fingerprint_parts=fingerprint_parts, blas_threads=blas_threads).run()
