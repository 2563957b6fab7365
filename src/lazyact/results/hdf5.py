"""The HDF5 results format (SecActPy's streaming-writer layout), read and written, and the
resumable HDF5 container that the ``.h5ad`` format shares.

File layout of ``act.to_hdf5(path)``::

    /beta, /se, /zscore, /pvalue      proteins x samples, float64 (or dtype=), chunked, gzip
    /feature_names, /sample_names     UTF-8 strings (also root attributes when they fit in 48 kB,
                                      where SecActPy's load_results() looks for them)
    /summary/<statistic>/<moment>     per-protein mean/std/min/max (summary=True)
    /spatial                          samples x 2 coordinates, when the activity has them
    root attributes                   every parameter (also all together as JSON in
                                      ``lazyact_params``), ``lazyact_version``,
                                      ``lazyact_format``, ``lazyact_fingerprint`` (inputs),
                                      ``lazyact_layout`` (dtype, chunks, block), ``lazyact_complete``

The container (:class:`HDF5Container`, a :class:`~lazyact.array.sinks.BlockLayout`)
writes ``path + ".partial"``: root attributes with the parameters, the fingerprint of
the inputs and the layout, and a bitmap dataset ``_lazyact_done`` of finished column
blocks, flushed after each block; a rerun with the same fingerprint and layout continues
it, and the complete file is moved into place. :class:`HDF5Layout` adds the datasets of
this format; :class:`lazyact.results.h5ad.H5ADLayout` those of AnnData.

Reading: :func:`find_statistics` finds the statistics of files written by lazyact and by
SecActPy's streaming writer and ``save_results``; :func:`read_block` reads any rows x
cols of a stored (possibly transposed) dataset; :func:`open_results_file` opens a file
with messages that say what to do.
"""
from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from ..array import MOMENTS, BlockStore
from ..array.sinks import BlockWriter, Target, WritePlan
from ..ridge import STATISTICS
from ..sources import FileLockedError, SourceReadError, open_h5
from ..sources.safety import UnsafeFileError, check_size, printable, read_array, read_strings
from .files import (
    IncompleteFileError,
    NotResultsFileError,
    ResumeMismatchError,
    check_target,
    commit,
    partial_path,
)
from .fingerprint import dumps
from .frames import write_frame

__all__ = [
    "DONE_KEY",
    "HDF5Container",
    "HDF5Layout",
    "HDF5Output",
    "attr_value",
    "dataset_info",
    "find_statistics",
    "incomplete_message",
    "open_results_file",
    "read_block",
    "read_names",
    "read_spatial",
    "read_summary",
    "strings",
    "write_hdf5",
]

#: Bitmap dataset of finished column blocks in a ``.partial`` file.
DONE_KEY = "_lazyact_done"

STR_DTYPE = h5py.string_dtype("utf-8")


# --------------------------------------------------------------------------- small helpers
def attr_value(value: Any) -> Any:
    """A value HDF5 can store as an attribute (JSON text otherwise)."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)) and -(2**63) <= int(value) < 2**63:
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return value
    return dumps(value)


def labels(values: Any, n: int) -> list[str]:
    """``n`` names as strings (positions when ``values`` is None)."""
    if values is None:
        return [str(i) for i in range(n)]
    out = [str(v) for v in values]
    if len(out) != n:
        raise ValueError(f"{len(out)} names for {n} entries")
    return out


def string_dataset(group: h5py.Group, key: str, values: Sequence[str], compression: str | None, **attrs: Any) -> None:
    """A UTF-8 string dataset (chunked and compressed when long)."""
    arr = np.array(values, dtype=object)
    kw: dict[str, Any] = {}
    if arr.size > 4096:
        kw = {"chunks": (min(arr.size, 65536),), "compression": compression}
    ds = group.create_dataset(key, data=arr, dtype=STR_DTYPE, **kw)
    for k, v in attrs.items():
        ds.attrs[k] = v


def strings(ds: Any) -> list[str]:
    """A string dataset (or array of strings/bytes) as a list of ``str``.

    A dataset is read with :func:`~lazyact.sources.safety.read_strings` (its declared
    size checked against the file first, then in bounded chunks).
    """
    if isinstance(ds, h5py.Dataset):
        return read_strings(ds)
    values = np.atleast_1d(np.asarray(ds))
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


# --------------------------------------------------------------------------- opening
def incomplete_message(path: Path, f: h5py.File | None) -> str:
    """What an unfinished file is, and what to do about it."""
    done = ""
    if f is not None and DONE_KEY in f:
        d = read_array(f[DONE_KEY], "done-block bitmap")
        done = f" ({int(np.count_nonzero(d))} of {d.size} column blocks written)"
    return (f"'{printable(path)}' is an unfinished lazyact results file{done}. Finish it by running the same "
            "to_hdf5()/to_h5ad() call or `lazyact run` command again (it resumes), or delete it.")


def open_results_file(path: Path, allow_locked: bool = False) -> h5py.File:
    """Open a results file read-only, with errors that say what the file is and what to do.

    ``allow_locked``: read a file another process is writing (its metadata, for ``info``).

    Raises
    ------
    IncompleteFileError
        Only the ``.partial`` file of an unfinished run exists.
    NotResultsFileError
        The file is not HDF5.
    FileNotFoundError, IsADirectoryError, OSError
    """
    if not path.exists():
        part = partial_path(path)
        if part.exists():
            try:
                with open_h5(part, rdcc_nbytes=None) as f:
                    msg = incomplete_message(part, f)
            except OSError:
                msg = incomplete_message(part, None)
            raise IncompleteFileError(f"'{path}' does not exist yet, only {msg}")
        raise FileNotFoundError(f"no such file: '{path}'")
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a directory, not a results file")
    try:
        return open_h5(path, rdcc_nbytes=None)
    except UnsafeFileError:
        raise
    except FileLockedError as exc:
        if allow_locked:  # a run in progress: read its metadata without the lock
            try:
                return open_h5(path, rdcc_nbytes=None, locking=False)
            except OSError:
                pass
        raise OSError(f"'{path}' is open for writing by another process (a run in progress?): "
                      f"{exc.__cause__}") from exc
    except SourceReadError as exc:
        if not h5py.is_hdf5(path):
            raise NotResultsFileError(
                f"'{path}' is not an HDF5 file, so not a results file (lazyact.open reads files written by "
                "to_hdf5/to_h5ad/`lazyact run`, or by SecActPy). For an expression table use "
                "lazyact.activity(path, ...).") from exc
        raise OSError(f"cannot open '{path}': {exc.__cause__}") from exc


# --------------------------------------------------------------------------- the container
class HDF5Output:
    """An open ``.partial`` HDF5 file being written (a :class:`~lazyact.array.sinks.BlockOutput`)."""

    def __init__(self, container: "HDF5Container", plan: WritePlan, f: h5py.File):
        self.container, self.plan, self.f = container, plan, f
        self.final, self.partial = container.final, container.partial

    @property
    def complete(self) -> bool:
        return bool(self.f.attrs.get("lazyact_complete", False))

    @property
    def done(self) -> np.ndarray:
        return self.f[DONE_KEY][:].astype(bool)

    def read_block(self, k: int) -> dict[str, np.ndarray]:
        lo, hi = self.plan.columns(k)
        out = {}
        for t in self.container.targets:
            ds = self.f[t.key]
            out[t.name] = np.ascontiguousarray(ds[lo:hi, :].T) if t.transpose else ds[:, lo:hi]
        return out

    def write_block(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        lo, hi = self.plan.columns(k)
        for t in self.container.targets:
            ds = self.f[t.key]
            if t.transpose:
                ds[lo:hi, :] = np.ascontiguousarray(arrays[t.name].T)
            else:
                ds[:, lo:hi] = arrays[t.name]
        self.f[DONE_KEY][k] = 1
        self.f.flush()

    def finish(self, summary: Mapping[str, Mapping[str, np.ndarray]] | None) -> None:
        f = self.f
        if "summary" in f:
            del f["summary"]
        if summary:
            g = f.create_group("summary")
            g.attrs["axis"] = 1
            g.attrs["ddof"] = 0
            for name, stats in summary.items():
                sg = g.create_group(name)
                for moment in MOMENTS:
                    sg.create_dataset(moment, data=np.asarray(stats[moment]))
        if DONE_KEY in f:
            del f[DONE_KEY]
        f.attrs["lazyact_complete"] = True
        f.flush()

    def close(self) -> None:
        self.f.close()

    def commit(self) -> Path:
        self.f.close()
        return commit(self.partial, self.final)


class HDF5Container:
    """A resumable HDF5 results file (a :class:`~lazyact.array.sinks.BlockLayout`); formats subclass it.

    Parameters
    ----------
    path : str or path
        Final file name; the file is written as ``path + ".partial"`` and renamed when
        complete.
    targets : sequence of Target
        Outputs and the datasets they go to.
    compression : str or None
        HDF5 filter of the statistics (``"gzip"``, ``"lzf"``, None).
    resume : bool
        Continue an interrupted ``.partial`` file with the same fingerprint and layout
        (``False``: delete it and start over).
    overwrite : bool
        Replace an existing file at ``path`` (only once the new one is complete).
    attrs : mapping, optional
        Root attributes (scalars stored as such, anything else as JSON text).
    fingerprint, fingerprint_parts : str and mapping, optional
        Identity of the inputs, compared when resuming (the parts name what differs).
    """

    kind = "generic"

    def __init__(self, path: str | os.PathLike, targets: Sequence[Target], *, compression: str | None = "gzip",
                 resume: bool = True, overwrite: bool = False, attrs: Mapping[str, Any] | None = None,
                 fingerprint: str | None = None, fingerprint_parts: Mapping[str, Any] | None = None):
        self.final = Path(os.fspath(path))
        self.partial = partial_path(self.final)
        self.targets = list(targets)
        self.compression = compression
        self.resume = resume
        self.overwrite = overwrite
        self.attrs = dict(attrs or {})
        self.fingerprint = fingerprint or ""
        self.fingerprint_parts = dict(fingerprint_parts or {})

    def create_datasets(self, f: h5py.File, plan: WritePlan) -> None:  # pragma: no cover - abstract
        """Create the format's datasets (the statistics empty, names and extras filled)."""
        raise NotImplementedError

    def layout_info(self, plan: WritePlan) -> dict:
        """What a resumed file must have been started with (stored as ``lazyact_layout``)."""
        return {
            "format": self.kind,
            "arrays": list(plan.names),
            "datasets": [t.key for t in self.targets],
            "shape": list(plan.shape),
            "dtype": plan.dtype.str,
            "compression": self.compression,
            "block": plan.width,
            "chunks": None if plan.chunks is None else list(plan.chunks),
            "summary": plan.summary,
        }

    def open(self, plan: WritePlan) -> HDF5Output:
        check_target(self.final, self.overwrite)
        f = self._open_existing(plan)
        if f is None:
            f = self._create(plan)
        return HDF5Output(self, plan, f)

    def _create(self, plan: WritePlan) -> h5py.File:
        f = open_h5(self.partial, "w", rdcc_nbytes=None)
        try:
            for key, value in self.attrs.items():
                f.attrs[key] = attr_value(value)
            f.attrs["lazyact_complete"] = False
            f.attrs["lazyact_fingerprint"] = self.fingerprint
            f.attrs["lazyact_fingerprint_parts"] = dumps(self.fingerprint_parts)
            f.attrs["lazyact_layout"] = dumps(self.layout_info(plan))
            self.create_datasets(f, plan)
            done = f.create_dataset(DONE_KEY, shape=(plan.n_blocks,), dtype=np.uint8, fillvalue=0)
            done.attrs["block"] = plan.width
            f.flush()
        except BaseException:
            f.close()
            raise
        return f

    def _open_existing(self, plan: WritePlan) -> h5py.File | None:
        """The ``.partial`` file to continue, or None to start afresh."""
        if not self.partial.exists():
            return None
        if not self.resume:
            self.partial.unlink()
            return None
        try:
            f = open_h5(self.partial, "r+", rdcc_nbytes=None)
        except FileLockedError as exc:
            raise OSError(errno.EBUSY, f"'{self.partial}' is open in another process (another run writing "
                                       f"it?): {exc.__cause__}") from exc
        except OSError as exc:
            warnings.warn(f"'{self.partial}' cannot be read ({exc.__cause__ or exc}); it was probably killed "
                          "during a write. Starting over.", RuntimeWarning, stacklevel=5)
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
                                if dumps(parts.get(k)) != dumps(self.fingerprint_parts.get(k)))
                what = f" (differences: {', '.join(differ)})" if differ else ""
                raise ResumeMismatchError(
                    f"'{self.partial}' is an interrupted run on different inputs{what}: refusing to resume. "
                    "Delete the .partial file or pass resume=False (CLI: --no-resume) to start over.")
            old_layout = json.loads(old_layout)
            new_layout = json.loads(dumps(self.layout_info(plan)))
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


class HDF5Layout(HDF5Container):
    """The HDF5 results format: one rows x cols dataset per output, names, extras.

    Parameters
    ----------
    path, targets : see :class:`HDF5Container`
    row_names, col_names : list of str
        Labels, stored as ``row_key`` and ``col_key`` string datasets (and as root
        attributes when they fit, for SecActPy's ``load_results``).
    row_key, col_key : str
    extra : mapping of str to array, optional
        Further small datasets.
    obs : pandas.DataFrame, optional
        Annotations of the columns (samples), stored as an AnnData dataframe at ``/obs``
        (:mod:`lazyact.results.frames`).
    **options
        Of :class:`HDF5Container`.
    """

    kind = "hdf5"

    def __init__(self, path: str | os.PathLike, targets: Sequence[Target], row_names: Sequence[str],
                 col_names: Sequence[str], row_key: str = "feature_names", col_key: str = "sample_names",
                 extra: Mapping[str, np.ndarray] | None = None, obs: pd.DataFrame | None = None, **options: Any):
        super().__init__(path, targets, **options)
        self.row_names, self.col_names = row_names, col_names
        self.row_key, self.col_key = row_key, col_key
        self.extra = extra
        self.obs = obs

    def create_datasets(self, f: h5py.File, plan: WritePlan) -> None:
        p, m = plan.shape
        for t in self.targets:
            f.create_dataset(t.key, shape=(p, m), dtype=plan.dtype, chunks=plan.chunks,
                             compression=self.compression if plan.chunks else None)
        string_dataset(f, self.row_key, self.row_names, self.compression)
        string_dataset(f, self.col_key, self.col_names, self.compression)
        # SecActPy's load_results() reads names from attributes: add them where they fit
        for key, names in ((self.row_key, self.row_names), (self.col_key, self.col_names)):
            if sum(len(s.encode()) + 16 for s in names) < 48_000:
                f.attrs.create(key, data=np.array(names, dtype=object), dtype=STR_DTYPE)
        for key, value in (self.extra or {}).items():
            f.create_dataset(key, data=value)
        if self.obs is not None and len(self.obs.columns):
            write_frame(f, "obs", self.col_names, self.obs, self.compression)


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
    obs: pd.DataFrame | None = None,
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
        :data:`lazyact.array.sinks.write_buffer_bytes` of all outputs).
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
        BLAS threads while the blocks are computed (see
        :class:`~lazyact.array.sinks.BlockWriter`).
    obs : pandas.DataFrame, optional
        Annotations of the columns, stored at ``/obs`` (an AnnData dataframe).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
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
    layout = HDF5Layout(path, [Target(n, n) for n in names], labels(row_labels, p), labels(col_labels, m),
                        row_key, col_key, extra, obs, compression=compression, resume=resume, overwrite=overwrite,
                        attrs=attrs, fingerprint=fingerprint, fingerprint_parts=fingerprint_parts)
    return BlockWriter(store, layout, dtype=dtype, block=block, progress=progress, summary=summary,
                       blas_threads=blas_threads).run()


# --------------------------------------------------------------------------- reading
def read_names(f: h5py.File, attrs: Mapping[str, Any], key: str, n: int) -> list[str]:
    """Protein (``feature_names``) or sample (``sample_names``) names: a dataset, an attribute, or positions.

    A dataset of names is read only when it has the ``n`` entries expected (else
    :class:`NotResultsFileError`), and within what the file can hold.
    """
    if key in f and isinstance(f[key], h5py.Dataset):
        ds = f[key]
        if ds.shape != (n,):
            raise NotResultsFileError(f"'{printable(f.filename)}': /{key} has shape {ds.shape}, expected ({n},) "
                                      "names for the statistics")
        return strings(ds)
    if key in attrs:
        return strings(np.asarray(attrs[key]))
    prefix = "protein" if key == "feature_names" else "sample"
    return [f"{prefix}{i}" for i in range(n)]


def find_statistics(f: h5py.File, attrs: Mapping[str, Any]) -> dict | None:
    """The statistics of an HDF5 results file (root datasets), or None when it has none.

    Returns
    -------
    dict or None
        ``kind``, ``sources`` (``{statistic: (dataset, transposed, None)}``), ``proteins``,
        ``samples``.
    """
    root_stats = [n for n in STATISTICS if n in f and isinstance(f[n], h5py.Dataset) and f[n].ndim == 2]
    if not root_stats:
        return None
    for n in root_stats:  # a complete file holds its statistics: their sizes bound every name list
        check_size(f[n], "statistic")
    p, m = f[root_stats[0]].shape
    return dict(kind="lazyact hdf5" if "lazyact_format" in attrs else "SecActPy hdf5",
                sources={n: (n, False, None) for n in root_stats},
                proteins=read_names(f, attrs, "feature_names", p),
                samples=read_names(f, attrs, "sample_names", m))


def dataset_info(node: h5py.Dataset, transpose: bool) -> tuple[tuple[int, int], np.dtype, tuple[int, int] | None]:
    """(proteins x samples shape, dtype, chunks as proteins x samples) of a stored statistic."""
    if node.ndim != 2:
        raise NotResultsFileError(f"{node.name} is not 2-D (shape {node.shape})")
    shape = (int(node.shape[1]), int(node.shape[0])) if transpose else (int(node.shape[0]), int(node.shape[1]))
    chunks = None
    if node.chunks:
        chunks = (node.chunks[1], node.chunks[0]) if transpose else tuple(node.chunks)
    return shape, node.dtype, chunks


def range_selection(idx: np.ndarray) -> tuple[Any, np.ndarray | None]:
    """(h5py selection, index into what it returns) for sorted unique ``idx``."""
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    if hi - lo == idx.size:
        return slice(lo, hi), None
    if idx.size * 4 >= hi - lo:  # dense enough: read the bounding slab
        return slice(lo, hi), idx - lo
    return idx, None


def read_block(node: h5py.Dataset, rows: np.ndarray, cols: np.ndarray, transpose: bool) -> np.ndarray:
    """rows x cols of a proteins x samples statistic stored as ``node`` (``transpose``: as samples x proteins)."""
    # storage axes: (a, b) = (samples, proteins) when transposed
    first, second = (cols, rows) if transpose else (rows, cols)
    s1, p1 = range_selection(first)
    s2, p2 = range_selection(second)
    if not isinstance(s1, slice) and not isinstance(s2, slice):
        s2, p2 = slice(int(second[0]), int(second[-1]) + 1), second - int(second[0])
    a = node[s1, s2]
    if p1 is not None:
        a = a[p1]
    if p2 is not None:
        a = a[:, p2]
    return a.T if transpose else a


def read_summary(f: h5py.File, proteins: Sequence[str]) -> pd.DataFrame | None:
    """Stored per-protein summaries (``to_hdf5(summary=True)``) as a DataFrame, or None."""
    g = f.get("summary")
    if not isinstance(g, h5py.Group):
        return None
    cols, data = [], []
    for name in STATISTICS:
        if name in g:
            for moment in MOMENTS:
                if moment in g[name]:
                    cols.append((name, moment))
                    data.append(read_array(g[name][moment], "summary"))
    if not cols:
        return None
    return pd.DataFrame(np.column_stack(data), index=pd.Index(proteins, dtype=object),
                        columns=pd.MultiIndex.from_tuples(cols, names=["statistic", "moment"]))


def read_spatial(f: h5py.File) -> np.ndarray | None:
    """The ``/spatial`` coordinates of an HDF5 results file, or None."""
    node = f.get("spatial")
    return read_array(node, "coordinates") if isinstance(node, h5py.Dataset) else None
