"""The zarr results format (zarr-python 3, format 3), read and written, locally or by a dask cluster.

``act.to_zarr(path)`` stores what ``to_hdf5`` stores, in a directory store::

    beta/, se/, zscore/, pvalue/       proteins x samples, float64 (or dtype=), chunked, zstd,
                                       fill value NaN (an unwritten chunk never reads as a number)
    feature_names/, sample_names/      UTF-8 strings
    summary/<statistic>/<moment>/      per-protein mean/std/min/max (summary=True)
    spatial/                           samples x 2 coordinates, when the activity has them
    root attributes                    every parameter (also all together as JSON in
                                       ``lazyact_params``), ``lazyact_version``, ``lazyact_format``,
                                       ``lazyact_fingerprint``, ``lazyact_layout``, ``lazyact_complete``

``format="anndata"`` stores AnnData's layout instead (what ``to_h5ad`` writes, readable
by ``anndata.read_zarr``): ``X`` = beta and ``obsm/se|zscore|pvalue`` (samples x proteins),
``obs``/``var`` names, ``uns`` (written with ``anndata.io.write_elem``).

Writing, and what a kill leaves
-------------------------------
The store is written by :class:`~lazyact.array.sinks.BlockWriter` as every lazyact output
is (:mod:`lazyact.array.journal`): as ``path + ".partial"`` next to the journal of its
verified blocks, under the writer's lock (``path + ".lock"``, an ``flock`` the kernel drops
when the writer dies; a second run is refused, also with ``resume=False``), with free
space checked before each block, and moved into place (two renames, undone after a kill
between them) once complete. A resumed run reads back each journaled block, keeps those
whose digest matches in a fresh store, and computes the rest. :class:`ZarrLayout` is only
the format: a column block of samples (all proteins, every statistic) is always a whole
number of chunks (or one shard), so blocks never share a chunk and can be written by
different processes at once (:class:`~lazyact.array.distributed.DistributedWriter`:
workers store blocks through a :class:`ZarrBlockSink`, the client journals each one when
its task returns). zarr's ``LocalStore`` writes each chunk to a temporary file and renames
it into place; the sink fsyncs a block's chunks before it returns. Chunks are written even
where they equal the fill value (``write_empty_chunks``), so :meth:`ZarrOutput.finish` can
check that every chunk is there before the store is marked complete.

Blocks are sized by bytes (about :data:`~lazyact.array.sinks.write_buffer_bytes` of all
statistics), not by time as for HDF5 files: the block is the store's chunk (or shard)
geometry, which must not depend on a measurement, so that a store has the same bytes
whoever writes it (here, or a cluster).

Each ``.partial`` carries a run identity (``lazyact_run``) that every block write checks
before and after its chunks, so a task of an abandoned run still running on a cluster
does not write into a store started afresh (``resume=False``, or the fresh copy of a
resume) -- except for the chunks of a block it was writing at that very moment: before
starting a store afresh on an external cluster, let the old run's tasks end
(``client.cancel`` / restart the workers). Resuming is otherwise safe: blocks have the
same bits whoever writes them.

Reading: :func:`inspect_store` finds the statistics of a complete store (lazyact's
layout or any AnnData zarr store with ``obsm`` statistics), :func:`open_store` opens it,
:func:`lazyact.results.info.file_info` describes a store or its ``.partial`` (``lazyact info``).
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..array import MOMENTS, BlockStore
from ..array.distributed import DistributedWriter, active_client
from ..array.journal import fsync_dir, fsync_path, journal_progress, remove_output
from ..array.sinks import (
    BlockWriter,
    Target,
    WritePlan,
    chunk_shape,
    read_targets,
    write_buffer_bytes,
    write_targets,
)
from ..ridge import STATISTICS
from ..sources.encoding import read_index
from ..sources.zarr import ZARR, import_zarr, is_zarr_store
from .files import IncompleteFileError, NotResultsFileError, check_target, partial_path
from .fingerprint import dumps
from .hdf5 import labels, layout_info

__all__ = [
    "ZarrBlockSink",
    "ZarrLayout",
    "ZarrOutput",
    "compressors",
    "describe_obs",
    "inspect_store",
    "is_zarr_results",
    "open_store",
    "read_obs",
    "write_zarr",
]

#: Temporary files left by zarr's atomic writes when a process is killed mid-write.
_TMP_FILE = re.compile(r"\.[0-9a-f]{32}\.partial$")
_ENCODING_ARRAY = {"encoding-type": "array", "encoding-version": "0.2.0"}


# --------------------------------------------------------------------------- small helpers
def json_attr(value: Any) -> Any:
    """A value stored as a zarr attribute: scalars as such, anything else as JSON text (as in HDF5)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, str):
        return value
    return dumps(value)


def compressors(compression: str | None) -> Any:
    """zarr codecs of ``compression``: ``"zstd"`` (default), ``"gzip"``, ``"blosc"`` or None."""
    zarr = import_zarr()
    if compression is None or str(compression).lower() == "none":
        return None
    name = str(compression).lower()
    codecs = {"zstd": lambda: zarr.codecs.ZstdCodec(level=3), "gzip": lambda: zarr.codecs.GzipCodec(level=4),
              "blosc": lambda: zarr.codecs.BloscCodec()}
    if name not in codecs:
        raise ValueError(f"compression {compression!r} is not available for zarr stores; use one of "
                         f"{', '.join(codecs)} or None")
    return codecs[name]()


def remove_tmp_files(root: Path) -> int:
    """Delete the temporary files of chunk writes interrupted by a kill; return how many."""
    n = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if _TMP_FILE.search(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))
                    n += 1
    return n


# --------------------------------------------------------------------------- the worker side
class ZarrBlockSink:
    """Stores column block ``k`` of every target in a ``.partial`` store, durably (fsynced).

    Picklable (the store's path, the targets and the plan's geometry); what the workers
    of a cluster call (:class:`~lazyact.array.distributed.BlockSink`). It records nothing:
    the writer journals the block once this returns. A sink of an abandoned run (whose
    ``lazyact_run`` is no longer the store's) refuses to write.
    """

    def __init__(self, partial: Path, targets: Sequence[Target], plan: WritePlan, run: str):
        self.partial = str(partial)
        self.targets = list(targets)
        self.plan = plan
        self.run = run
        self._arrays: dict[str, Any] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def _check_run(self) -> Any:
        """The store's root group, after checking that it is still this run's ``.partial``."""
        zarr = import_zarr()
        try:
            root = zarr.open_group(self.partial, mode="r+")
            current = root.attrs.get("lazyact_run")
        except Exception as exc:
            raise RuntimeError(f"the store '{self.partial}' is gone or unreadable ({exc}): its run was finished, "
                               "restarted or deleted; not writing into it") from exc
        if current != self.run:
            raise RuntimeError(f"'{self.partial}' was started afresh by another run; this task of an older run does "
                               "not write into it")
        return root

    def _arrays_of(self, root: Any) -> dict[str, Any]:
        if self._arrays is None:
            self._arrays = {t.key: root[t.key].with_config({"write_empty_chunks": True}) for t in self.targets}
        return self._arrays

    def _objects(self, k: int) -> list[Path]:
        """The files (chunks, or shards) holding column block ``k`` of every target."""
        lo, hi = self.plan.columns(k)
        out = []
        for t in self.targets:
            arr = self._arrays[t.key]  # type: ignore[index]
            grid = arr.shards or arr.chunks
            axis = 0 if t.transpose else 1
            other = 1 - axis
            cols = range(lo // grid[axis], -(-hi // grid[axis]))
            for j in cols:
                for i in range(-(-arr.shape[other] // grid[other])):
                    coords = (j, i) if t.transpose else (i, j)
                    out.append(Path(self.partial) / t.key / arr.metadata.encode_chunk_key(coords))
        return out

    def __call__(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        store = self._arrays_of(self._check_run())
        write_targets(store.__getitem__, self.targets, self.plan, k, arrays)
        files = self._objects(k)
        for f in files:  # zarr writes without fsync: the block is durable when this returns
            fsync_path(f)
        for d in {f.parent for f in files}:
            fsync_dir(d)
        self._check_run()  # again: a task of a run started afresh meanwhile reports failure, not a saved block


# --------------------------------------------------------------------------- the output
class ZarrOutput:
    """An open zarr store of the layout (a :class:`~lazyact.array.distributed.ParallelOutput`)."""

    def __init__(self, layout: "ZarrLayout", plan: WritePlan, root: Any, path: Path):
        self.layout, self.plan, self.root, self.path = layout, plan, root, path
        self.run = str(root.attrs.get("lazyact_run"))
        self._sink: ZarrBlockSink | None = None

    def block_sink(self) -> ZarrBlockSink:
        return ZarrBlockSink(self.path, self.layout.targets, self.plan, self.run)

    def read_block(self, k: int) -> dict[str, np.ndarray]:
        return read_targets(self.root.__getitem__, self.layout.targets, self.plan, k)

    def write_block(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        if self._sink is None:
            self._sink = self.block_sink()
        self._sink(k, arrays)

    def verify(self) -> None:
        """Check that every chunk of every statistic is stored (before marking the store complete)."""
        for t in self.layout.targets:
            arr = self.root[t.key]
            if arr.nchunks_initialized != arr.nchunks:
                raise OSError(errno.EIO, f"'{self.path}': {t.key} holds {arr.nchunks_initialized} of its "
                                         f"{arr.nchunks} chunks although every block is recorded as written; the "
                                         "store was changed by something else. Delete it and run again.")

    def finish(self, summary: Mapping[str, Mapping[str, np.ndarray]] | None) -> None:
        remove_tmp_files(self.path)
        self.verify()
        root = self.root
        if summary:
            g = root.create_group("summary", attributes={"axis": 1, "ddof": 0})
            for name, stats in summary.items():
                sg = g.create_group(name)
                for moment in MOMENTS:
                    sg.create_array(moment, data=np.asarray(stats[moment]))
        attrs = dict(root.attrs)
        attrs.pop("lazyact_run", None)  # tasks of this run (still running somewhere) write no more into it
        attrs["lazyact_complete"] = True
        root.attrs.put(attrs)  # one metadata write

    def close(self) -> None:
        self._sink = None  # a zarr group holds no open file


# --------------------------------------------------------------------------- the layout
class ZarrLayout:
    """A zarr results store (a :class:`~lazyact.array.sinks.BlockLayout`): lazyact's layout or AnnData's.

    Parameters
    ----------
    path : str or path
        Final store (a directory); written as ``path + ".partial"``.
    targets : sequence of Target
        Outputs and their arrays (transposed for AnnData).
    row_names, col_names : list of str
        Labels (proteins, samples).
    anndata : bool
        AnnData's layout (``X``, ``obsm``, ``obs``, ``var``, ``uns``).
    chunks : (int, int), optional
        Storage chunks (rows x cols of the statistics); the column block must be a
        multiple of the chunk's columns (default: the writer's chunks).
    compression : str or None
        See :func:`compressors`.
    shards : bool
        zarr v3's sharding codec: each column block of a statistic is ONE object (a shard of
        ``chunks`` inner chunks) instead of one per chunk -- far fewer files for object
        stores and parallel file systems; reads still fetch single inner chunks.
    resume, overwrite, attrs, fingerprint, fingerprint_parts
        As for :class:`~lazyact.results.hdf5.HDF5Container`.
    extra : mapping of str to array, optional
        Further small arrays (``spatial``: samples x 2; in ``obsm`` for AnnData).
    uns : mapping, optional
        AnnData's ``uns``.
    obs : pandas.DataFrame, optional
        The samples' annotations (cell type, sample...), stored at ``obs`` in both layouts.
    """

    kind = "zarr"

    def __init__(self, path: str | os.PathLike, targets: Sequence[Target], row_names: Sequence[str],
                 col_names: Sequence[str], *, anndata: bool = False, chunks: tuple[int, int] | None = None,
                 compression: str | None = "zstd", shards: bool = False, resume: bool = True,
                 overwrite: bool = False, attrs: Mapping[str, Any] | None = None, fingerprint: str | None = None,
                 fingerprint_parts: Mapping[str, Any] | None = None, extra: Mapping[str, np.ndarray] | None = None,
                 uns: Mapping[str, Any] | None = None, obs: pd.DataFrame | None = None):
        self.final = Path(os.fspath(path))
        self.partial = partial_path(self.final)
        self.targets = list(targets)
        self.row_names, self.col_names = row_names, col_names
        self.anndata = bool(anndata)
        self.kind = "zarr-anndata" if anndata else "zarr"
        self.chunks = None if chunks is None else (int(chunks[0]), int(chunks[1]))
        self.compression = compression
        self.shards = bool(shards)
        compressors(compression)  # refuse an unknown codec before any work
        self.resume, self.overwrite = resume, overwrite
        self.attrs = dict(attrs or {})
        self.fingerprint = fingerprint or ""
        self.fingerprint_parts = dict(fingerprint_parts or {})
        self.extra = dict(extra or {})
        self.uns = dict(uns or {})
        self.obs = obs if obs is not None and len(obs.columns) else None

    def storage_chunks(self, plan: WritePlan) -> tuple[int, int]:
        """Chunks (rows x cols) whose columns divide the block width, so blocks never share a chunk."""
        p, m = plan.shape
        r, c = self.chunks or plan.chunks or (max(p, 1), max(m, 1))
        r, c = max(1, min(r, max(p, 1))), max(1, min(c, plan.width))
        if plan.width % c:
            c = plan.width
        return r, c

    def layout_info(self, plan: WritePlan) -> dict:
        """What a resumed store must have been started with (``lazyact_layout``)."""
        shards = self.shards_of(plan)
        return {**layout_info(self.kind, self.targets, plan, self.compression, self.storage_chunks(plan)),
                "shards": None if shards is None else list(shards)}

    def shards_of(self, plan: WritePlan) -> tuple[int, int] | None:
        """The shard of a statistic (rows x cols): one column block, rows rounded up to whole chunks."""
        if not self.shards:
            return None
        r, _ = self.storage_chunks(plan)
        return -(-max(plan.shape[0], 1) // r) * r, plan.width

    @property
    def options(self) -> dict:
        """Format options a resumed store must share."""
        return {"compression": self.compression, "chunks": self.chunks, "shards": self.shards}

    # -- the BlockLayout protocol (lock, journal, verification, moves: the BlockWriter)
    def check_target(self) -> None:
        check_target(self.final, self.overwrite, is_zarr_store, "zarr store")

    def create(self, plan: WritePlan, path: Path) -> ZarrOutput:
        remove_output(path)
        zarr = import_zarr()
        self._create(zarr.open_group(str(path), mode="w-", zarr_format=3), plan)
        return self.open(plan, path, writable=True)

    def open(self, plan: WritePlan, path: Path, writable: bool = False) -> ZarrOutput:
        zarr = import_zarr()
        try:
            root = zarr.open_group(str(path), mode="r+" if writable else "r")
        except Exception as exc:  # zarr raises a variety of errors on missing or bad metadata
            raise OSError(errno.EIO, f"cannot open the zarr store '{path}': {type(exc).__name__}: {exc}") from exc
        return ZarrOutput(self, plan, root, path)

    # -- creating
    def _create(self, root: Any, plan: WritePlan) -> None:
        p, m = plan.shape
        attrs = {}
        if self.anndata:
            attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        attrs.update({k: json_attr(v) for k, v in self.attrs.items()})
        attrs.update(lazyact_complete=False, lazyact_fingerprint=self.fingerprint,
                     lazyact_fingerprint_parts=dumps(self.fingerprint_parts),
                     lazyact_layout=dumps(self.layout_info(plan)), lazyact_run=uuid.uuid4().hex)
        root.attrs.update(attrs)
        r, c = self.storage_chunks(plan)
        shard = self.shards_of(plan)
        codec = compressors(self.compression)
        if self.anndata:
            self._create_anndata(root)
        elif self.obs is not None:
            _write_elem(root, "obs", self._obs_frame())
        for t in self.targets:
            shape, chunks = ((m, p), (c, r)) if t.transpose else ((p, m), (r, c))
            shards = None if shard is None else (tuple(reversed(shard)) if t.transpose else shard)
            arr = root.create_array(t.key, shape=shape, chunks=chunks, shards=shards, dtype=plan.dtype,
                                    fill_value=np.nan, compressors=codec)
            if self.anndata:
                arr.attrs.update(_ENCODING_ARRAY)
        if not self.anndata:
            _string_array(root, "feature_names", self.row_names)
            _string_array(root, "sample_names", self.col_names)
        for key, value in self.extra.items():
            arr = root.create_array(f"obsm/{key}" if self.anndata else key, data=np.asarray(value))
            if self.anndata:
                arr.attrs.update(_ENCODING_ARRAY)

    def _obs_frame(self) -> pd.DataFrame:
        """``obs`` indexed by the sample names: the given annotations, or none."""
        index = pd.Index([str(s) for s in self.col_names], dtype=object)
        if self.obs is None:
            return pd.DataFrame(index=index)
        return pd.DataFrame({c: self.obs[c].array for c in self.obs.columns}, index=index)

    def _create_anndata(self, root: Any) -> None:
        _write_elem(root, "obs", self._obs_frame())
        _write_elem(root, "var", pd.DataFrame(index=pd.Index([str(s) for s in self.row_names], dtype=object)))
        for key in ("obsm", "varm", "obsp", "varp", "layers"):
            _write_elem(root, key, {})
        _write_elem(root, "uns", self.uns)


def _write_elem(root: Any, key: str, value: Any) -> None:
    """One element in AnnData's encoding, written by AnnData's own encoder (not sharded)."""
    from .._optional import require

    anndata = require("anndata", "AnnData's encoding in a zarr store (obs, the AnnData layout)")
    settings = {"auto_shard_zarr_v3": False} if hasattr(anndata.settings, "auto_shard_zarr_v3") else {}
    with anndata.settings.override(**settings):
        anndata.io.write_elem(root, key, value)


def read_obs(root: Any, samples: Sequence[str]) -> pd.DataFrame | None:
    """The samples' annotations stored in a results store (``obs``), indexed by ``samples``; None if none."""
    g = root.get("obs") if hasattr(root, "get") else None
    if g is None or not [k for k in g.attrs.get("column-order", [])]:
        return None
    from .._optional import require

    frame = require("anndata", "reading obs of a zarr store").io.read_elem(g)
    frame.index = pd.Index(samples)
    return frame


def describe_obs(root: Any) -> list[tuple[str, str]]:
    """``(column, kind)`` of a store's ``obs`` (no values read but categories)."""
    from ..sources.safety import printable

    g = root.get("obs") if hasattr(root, "get") else None
    if g is None:
        return []
    out = []
    for name in g.attrs.get("column-order", []):
        node = g.get(name)
        if node is None:
            continue
        if hasattr(node, "dtype"):
            out.append((name, "strings" if node.dtype.kind in "OTU" else str(node.dtype)))
        elif "categories" in node:
            out.append((name, f"categorical, {node['categories'].shape[0]} values"))
        else:
            out.append((name, str(node.attrs.get("encoding-type", "group"))))
    return [(printable(str(n)), printable(str(k))) for n, k in out]


def _string_array(root: Any, key: str, values: Sequence[str]) -> None:
    n = len(values)
    arr = root.create_array(key, shape=(n,), chunks=(max(1, min(n, 65536)),), dtype=str)
    if n:
        arr[:] = np.array([str(v) for v in values], dtype=object)


# --------------------------------------------------------------------------- writing
def _block_for(shape: tuple[int, int], itemsize: int, n: int, chunks: tuple[int, int] | None,
               block: int | None) -> int:
    """The column block: ``block``, else about :data:`write_buffer_bytes` of the ``n`` outputs, a multiple of the
    chunk width (``chunks``, or :func:`~lazyact.array.sinks.chunk_shape`'s): never a measured time (see above)."""
    if block is not None:
        return int(block)
    width = max(1, write_buffer_bytes // max(1, shape[0] * n * itemsize))
    c = chunks[1] if chunks is not None else (chunk_shape(shape, itemsize, max_cols=width) or (1, 1))[1]
    c = max(1, int(c))
    return c * max(1, width // c)


def write_zarr(
    store: BlockStore,
    path: str | os.PathLike,
    names: str | Sequence[str] | None = None,
    *,
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    anndata: bool = False,
    chunks: tuple[int, int] | None = None,
    shards: bool = False,
    dtype: Any = None,
    compression: str | None = "zstd",
    block: int | None = None,
    progress: bool | None = True,
    resume: bool = True,
    overwrite: bool = False,
    summary: bool = False,
    attrs: Mapping[str, Any] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    uns: Mapping[str, Any] | None = None,
    fingerprint: str | None = None,
    fingerprint_parts: Mapping[str, Any] | None = None,
    blas_threads: int | None = 1,
    client: Any = None,
    obs: pd.DataFrame | None = None,
) -> Path:
    """Write outputs of ``store`` to a zarr store, block by block, resumably; on a cluster when one is active.

    Parameters as :func:`~lazyact.results.hdf5.write_hdf5`, and:

    anndata : bool
        AnnData's layout (outputs transposed: the first is ``X``, the others ``obsm``).
    chunks : (int, int), optional
        Storage chunks (rows x cols); the column block is a multiple of their columns.
    shards : bool
        One shard (object) per block and statistic (zarr's sharding codec).
    obs : pandas.DataFrame, optional
        Annotations of the columns (samples), in AnnData's dataframe encoding at ``obs``
        (both layouts; read back by :func:`read_obs`).
    client : distributed.Client, optional
        Compute and store the blocks on this cluster (default: the active client, if
        any; ``False``: here). A worker's copy of an activity checks, before its first
        block, that its input file is the one the activity was built from
        (:func:`~lazyact.results.fingerprint.check_input_stamps`).

    Examples
    --------
    >>> import tempfile, zarr
    >>> class Grid:
    ...     names, shape, dtype = ("x", "y"), (3, 10), np.dtype("f8")
    ...     def __call__(self, rows, cols):
    ...         x = rows[:, None] * 100.0 + cols[None, :]
    ...         return {"x": x, "y": -x}
    >>> out = os.path.join(tempfile.mkdtemp(), "grid.zarr")
    >>> _ = write_zarr(BlockStore(Grid(), chunks=(3, 4)), out, block=4, progress=False, client=False)
    >>> z = zarr.open_group(out, mode="r")
    >>> z["y"][2, :3], sorted(z.keys())
    (array([-200., -201., -202.]), ['feature_names', 'sample_names', 'x', 'y'])
    """
    names = store.check_names(names)
    if anndata and summary:
        raise ValueError("summary=True is stored by lazyact's layout only, not AnnData's")
    p, m = store.shape
    rows, cols = labels(row_labels, p), labels(col_labels, m)
    if anndata:
        targets = [Target(names[0], "X", True)] + [Target(n, f"obsm/{n}", True) for n in names[1:]]
    else:
        targets = [Target(n, n) for n in names]
    itemsize = np.dtype(store.dtype if dtype is None else dtype).itemsize
    block = _block_for((p, m), itemsize, len(names), chunks, block)
    layout = ZarrLayout(path, targets, rows, cols, anndata=anndata, chunks=chunks, compression=compression,
                        shards=shards, resume=resume, overwrite=overwrite, attrs=attrs, fingerprint=fingerprint,
                        fingerprint_parts=fingerprint_parts, extra=extra, uns=uns, obs=obs)
    options = dict(dtype=dtype, block=block, progress=progress, summary=summary, blas_threads=blas_threads)
    client = active_client(client)
    if client is None:
        return BlockWriter(store, layout, **options).run()
    return DistributedWriter(store, layout, client, **options).run()


# --------------------------------------------------------------------------- reading
def is_zarr_results(path: str | os.PathLike) -> bool:
    """Whether ``path`` (or only its ``.partial``) is a zarr store: what :func:`lazyact.open` reads with zarr."""
    p = Path(os.fspath(path))
    return is_zarr_store(p) or (not p.exists() and is_zarr_store(partial_path(p)))


def open_store(path: str | os.PathLike) -> Any:
    """The root group of a zarr store, read-only (a module function: pickles by reference)."""
    return import_zarr().open_group(os.fspath(path), mode="r")


def _strings(arr: Any) -> list[str]:
    return [str(v) for v in ZARR.read(arr)]


def incomplete_message(path: Path, root: Any) -> str:
    """What an unfinished store is, and what to do about it."""
    found = journal_progress(path)
    done = "" if found is None else f" ({found[0]} of {found[1]} column blocks written)"
    return (f"'{path}' is an unfinished lazyact results store{done}. Finish it by running the same "
            "to_zarr() call or `lazyact run` command again (it resumes), or delete it.")


def _find_statistics(root: Any, attrs: Mapping[str, Any], path: Path) -> dict:
    stats = [n for n in STATISTICS if n in root and ZARR.is_array(root[n]) and len(root[n].shape) == 2]
    if stats:
        p, m = root[stats[0]].shape
        proteins = _strings(root["feature_names"]) if "feature_names" in root else [f"protein{i}" for i in range(p)]
        samples = _strings(root["sample_names"]) if "sample_names" in root else [f"sample{i}" for i in range(m)]
        return dict(kind="lazyact zarr", sources={n: (n, False, None) for n in stats}, proteins=proteins,
                    samples=samples)
    if "X" in root and "obs" in root and "var" in root:
        obsm = root["obsm"] if "obsm" in root else None
        found = [n for n in STATISTICS[1:] if obsm is not None and n in obsm and ZARR.is_array(obsm[n])]
        if found and ZARR.is_array(root["X"]):
            sources = {"beta": ("X", True, None), **{n: (f"obsm/{n}", True, None) for n in found}}
            samples, proteins = read_index(ZARR, root["obs"]), read_index(ZARR, root["var"])
            kind = "lazyact zarr (AnnData)" if "lazyact_format" in attrs else "zarr (AnnData)"
            return dict(kind=kind, sources=sources, proteins=[str(v) for v in proteins],
                        samples=[str(v) for v in samples])
        raise NotResultsFileError(
            f"'{path}' is an AnnData zarr store but holds no activity results (obsm keys: "
            f"{sorted(obsm.keys()) if obsm is not None else []}). If it is expression data, compute activity with "
            "lazyact.activity(path, signature=...).")
    raise NotResultsFileError(f"'{path}' is a zarr store without activity results: found keys {sorted(root.keys())}. "
                              "Expected arrays beta/se/zscore/pvalue (to_zarr) or AnnData's X and obsm statistics.")


def inspect_store(path: str | os.PathLike) -> dict:
    """The statistics of a complete zarr results store, as :func:`lazyact.results.stored.inspect` gives them.

    Also ``summary`` (a DataFrame or None) and ``spatial`` (an array or None).

    Raises
    ------
    IncompleteFileError
        An unfinished store (or only its ``.partial``).
    NotResultsFileError
        No statistics.
    FileNotFoundError
    """
    p = Path(os.fspath(path))
    if not p.exists():
        part = partial_path(p)
        if is_zarr_store(part):
            raise IncompleteFileError(f"'{p}' does not exist yet, only "
                                      f"{incomplete_message(part, open_store(part))}")
        raise FileNotFoundError(f"no such file: '{p}'")
    root = open_store(p)
    attrs = dict(root.attrs)
    if not bool(attrs.get("lazyact_complete", True)):
        raise IncompleteFileError(incomplete_message(p, root))
    found = _find_statistics(root, attrs, p)
    infos = {}
    for n, (key, tr, _) in found["sources"].items():
        arr = root[key]
        shape = (int(arr.shape[1]), int(arr.shape[0])) if tr else (int(arr.shape[0]), int(arr.shape[1]))
        chunks = (int(arr.chunks[1]), int(arr.chunks[0])) if tr else (int(arr.chunks[0]), int(arr.chunks[1]))
        infos[n] = (shape, np.dtype(arr.dtype), chunks)
    shapes = {n: i[0] for n, i in infos.items()}
    shape = next(iter(shapes.values()))
    if len(set(shapes.values())) != 1:
        raise NotResultsFileError(f"'{p}': the statistics have different shapes {shapes}")
    if len(found["proteins"]) != shape[0] or len(found["samples"]) != shape[1]:
        raise NotResultsFileError(f"'{p}': {len(found['proteins'])} protein / {len(found['samples'])} sample names "
                                  f"for statistics of shape {shape}")
    dtype = np.result_type(*(i[1] for i in infos.values()))
    if "lazyact_params" in attrs:
        params = json.loads(attrs["lazyact_params"])
    else:
        params = {k: v for k, v in attrs.items() if not str(k).startswith(("encoding-", "lazyact_"))}
        params.setdefault("source", found["kind"])
    summary = None
    if "summary" in root and ZARR.is_group(root["summary"]):
        g, cols, data = root["summary"], [], []
        for name in STATISTICS:
            for moment in MOMENTS:
                if name in g and moment in g[name]:
                    cols.append((name, moment))
                    data.append(np.asarray(g[name][moment][:]))
        if cols:
            summary = pd.DataFrame(np.column_stack(data), index=pd.Index(found["proteins"], dtype=object),
                                   columns=pd.MultiIndex.from_tuples(cols, names=["statistic", "moment"]))
    spatial = None
    for key in ("spatial", "obsm/spatial"):
        if key in root and ZARR.is_array(root[key]):
            spatial = np.asarray(root[key][...], dtype=np.float64)
    return dict(kind=found["kind"], sources=found["sources"], shape=shape,
                dtype=dtype if dtype.kind == "f" else np.dtype(np.float64), chunks=infos[next(iter(infos))][2],
                proteins=found["proteins"], samples=found["samples"], params=params, attrs=attrs, summary=summary,
                spatial=spatial)
