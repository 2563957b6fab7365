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
creates and opens the files of :class:`~lazyact.array.sinks.BlockWriter`, which
writes ``path + ".partial"`` and moves it into place when complete: root attributes
with the parameters, the fingerprint of the inputs and the layout, each block flushed
and fsynced before the writer records it in its journal. HDF5 is not crash-consistent
(a kill can leave the chunk index pointing at chunks never written), so nothing in
the file says what is done: the journal does (``lazyact info`` counts its entries:
:func:`progress`), and a resume verifies each journaled block by its digest and
copies it into a fresh file (:mod:`lazyact.array.journal`). Finishing changes no
HDF5 structure (the summaries are allocated at creation; ``lazyact_complete`` is
rewritten in place), so that a kill at the end cannot leave an unreadable file. :class:`HDF5Layout` adds the datasets of
this format; :class:`lazyact.results.h5ad.H5ADLayout` those of AnnData.

Reading: :func:`find_statistics` finds the statistics of files written by lazyact and by
SecActPy's streaming writer and ``save_results``; :func:`read_block` reads any rows x
cols of a stored (possibly transposed) dataset; :func:`open_results_file` opens a file
with messages that say what to do.
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from ..array import MOMENTS, BlockStore
from ..array.journal import journal_progress
from ..array.sinks import BlockWriter, Target, WritePlan, read_targets, write_targets
from ..ridge import STATISTICS
from ..sources import FileLockedError, SourceReadError, open_h5
from ..sources.safety import UnsafeFileError, check_size, printable, read_array, read_strings
from .files import IncompleteFileError, NotResultsFileError, check_target, partial_path
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
    "layout_info",
    "open_results_file",
    "progress",
    "read_block",
    "read_names",
    "read_spatial",
    "read_summary",
    "strings",
    "write_hdf5",
]

#: Bitmap of finished column blocks in ``.partial`` files of lazyact before the journal (read only).
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


def layout_info(kind: str, targets: Sequence[Target], plan: WritePlan, compression: str | None,
                chunks: Sequence[int] | None) -> dict:
    """How an output was written (stored as ``lazyact_layout``; read by ``lazyact info``), for every format."""
    return {
        "format": kind,
        "arrays": list(plan.names),
        "datasets": [t.key for t in targets],
        "shape": list(plan.shape),
        "dtype": plan.dtype.str,
        "compression": compression,
        "block": plan.width,
        "chunks": None if chunks is None else [int(c) for c in chunks],
        "summary": plan.summary,
    }


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
def progress(path: Path, f: h5py.File | None = None) -> tuple[int, int] | None:
    """``(blocks saved, blocks)`` of an unfinished file: from its journal (or the bitmap of older files)."""
    found = journal_progress(path)
    if found is None and f is not None and DONE_KEY in f:
        d = read_array(f[DONE_KEY], "done-block bitmap")
        found = int(np.count_nonzero(d)), int(d.size)
    return found


def incomplete_message(path: Path, f: h5py.File | None) -> str:
    """What an unfinished file is, and what to do about it."""
    found = progress(path, f)
    done = "" if found is None else f" ({found[0]} of {found[1]} column blocks written)"
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
def _errno(exc: BaseException) -> int:
    """The system errno behind an HDF5 error (its message says ``errno = 28``), else EIO."""
    if isinstance(exc, OSError) and exc.errno:
        return int(exc.errno)
    m = re.search(r"errno = (\d+)", str(exc))
    return int(m.group(1)) if m else errno.EIO


def _os_error(exc: BaseException, what: str, path: Path) -> OSError:
    """An HDF5 failure as one short ``OSError`` line: the system error, then HDF5's words."""
    code = _errno(exc)
    detail = (str(exc).splitlines() or [""])[0].split(" (")[0].strip()
    return OSError(code, f"{os.strerror(code)} ({what} '{path.name}'{': ' + detail if detail else ''})")


class HDF5Output:
    """An open HDF5 file of the container (a :class:`~lazyact.array.sinks.BlockOutput`).

    Every block is flushed and fsynced before :meth:`write_block` returns. When HDF5
    fails (a full disk, an I/O error), the file is *abandoned*: its descriptor is
    pointed at an anonymous in-memory file before closing, so that HDF5's pending
    metadata goes nowhere instead of failing again at close or at interpreter exit
    (h5py's teardown after a failed flush segfaults); the file on disk keeps what it
    had, and the writer's journal says which of its blocks are intact.
    """

    def __init__(self, container: "HDF5Container", plan: WritePlan, f: h5py.File, path: Path):
        self.container, self.plan, self.f, self.path = container, plan, f, path
        self._closed = False
        self.fd: int | None = None
        # the datasets stay open while the file is: an h5py object closed mid-way flushes its chunk cache
        # from its destructor, where a failed write (a full disk) is swallowed and corrupts HDF5's state
        self.ds = {t.key: f[t.key] for t in container.targets}
        if f.mode != "r":
            handle = f.id.get_vfd_handle()
            self.fd = handle if isinstance(handle, int) else None

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except (OSError, RuntimeError, ValueError) as exc:
            self.abandon()
            raise _os_error(exc, what, self.path) from exc

    def abandon(self) -> None:
        """Close after a failure without writing anything more to the file on disk, and without raising."""
        if self._closed:
            return
        self._closed = True
        if self.fd is not None:  # HDF5 still holds it: send what it flushes at close to memory
            try:
                sink = os.memfd_create("lazyact-abandoned") if hasattr(os, "memfd_create") else \
                    os.dup(tempfile.TemporaryFile().fileno())
                os.dup2(sink, self.fd)
                os.close(sink)
            except OSError:  # pragma: no cover - best effort
                pass
        try:
            self.f.close()
        except Exception:  # pragma: no cover - HDF5 could still not flush
            pass

    def _sync(self) -> None:
        self.f.flush()
        if self.fd is not None:
            os.fsync(self.fd)

    def read_block(self, k: int) -> dict[str, np.ndarray]:
        return read_targets(self.ds.__getitem__, self.container.targets, self.plan, k)

    def write_block(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        with self._guard("writing"):
            write_targets(self.ds.__getitem__, self.container.targets, self.plan, k, arrays)
            self._sync()

    def finish(self, summary: Mapping[str, Mapping[str, np.ndarray]] | None) -> None:
        # only raw data and one attribute rewritten in place: no HDF5 structure changes at the end, where a
        # kill in the middle of a metadata flush could leave the whole file unreadable
        with self._guard("finishing"):
            f = self.f
            for name, stats in (summary or {}).items():
                for moment in MOMENTS:
                    self.ds[f"summary/{name}/{moment}"] = f["summary"][name][moment]  # kept open (see __init__)
                    self.ds[f"summary/{name}/{moment}"][...] = np.asarray(stats[moment])
            f.attrs.modify("lazyact_complete", True)
            self._sync()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            self.abandon()
            raise _os_error(exc, "closing", self.path) from exc
        self._closed = True


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

    @property
    def options(self) -> dict:
        """Format options a resumed file must share."""
        return {"compression": self.compression}

    def create_datasets(self, f: h5py.File, plan: WritePlan) -> None:  # pragma: no cover - abstract
        """Create the format's datasets (the statistics empty, names and extras filled)."""
        raise NotImplementedError

    def layout_info(self, plan: WritePlan) -> dict:
        """How the file was written (stored as ``lazyact_layout``; read by ``lazyact info``)."""
        return layout_info(self.kind, self.targets, plan, self.compression, plan.chunks)

    def check_target(self) -> None:
        check_target(self.final, self.overwrite)

    def create(self, plan: WritePlan, path: Path) -> HDF5Output:
        # the empty file is built in memory and written by Python: a full disk fails here, cleanly,
        # instead of inside HDF5 while it closes objects (after which h5py's teardown can crash)
        with h5py.File(f"{path}.image", "w", driver="core", backing_store=False) as f:
            for key, value in self.attrs.items():
                f.attrs[key] = attr_value(value)
            f.attrs["lazyact_complete"] = False
            f.attrs["lazyact_fingerprint"] = self.fingerprint
            f.attrs["lazyact_fingerprint_parts"] = dumps(self.fingerprint_parts)
            f.attrs["lazyact_layout"] = dumps(self.layout_info(plan))
            self.create_datasets(f, plan)
            if plan.summary:  # allocated now, filled by finish()
                g = f.create_group("summary")
                g.attrs["axis"] = 1
                g.attrs["ddof"] = 0
                for name in plan.names:
                    sg = g.create_group(name)
                    for moment in MOMENTS:  # means and deviations in float64, extremes as stored
                        dt = plan.dtype if moment in ("min", "max") else np.float64
                        sg.create_dataset(moment, data=np.zeros(plan.shape[0], dtype=dt))
            f.flush()
            image = f.id.get_file_image()
        try:
            with open(path, "wb") as out:
                out.write(image)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise OSError(exc.errno, f"{os.strerror(exc.errno or errno.EIO)} (creating '{path.name}')") from exc
        return self.open(plan, path, writable=True)

    def open(self, plan: WritePlan, path: Path, writable: bool = False) -> HDF5Output:
        try:
            f = open_h5(path, "r+" if writable else "r", rdcc_nbytes=None)
        except FileLockedError as exc:
            raise OSError(errno.EBUSY, f"'{path}' is open in another process: {exc.__cause__}") from exc
        except SourceReadError as exc:
            raise OSError(errno.EIO, str(exc.__cause__ or exc)) from exc
        return HDF5Output(self, plan, f, path)


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
