"""The AnnData (``.h5ad``) results format, read and written with h5py (no AnnData needed).

``act.to_h5ad(path)`` writes SecActPy's ``save_results_to_h5ad`` layout chunk by chunk in
AnnData's on-disk format: ``X`` = beta (samples x proteins), ``obsm/se``,
``obsm/zscore``, ``obsm/pvalue`` (dense arrays), ``obs``/``var`` names, ``uns/source``,
``uns/feature_names``, ``uns/lazyact`` (version, parameters as JSON), ``obsm/spatial``
when the activity has coordinates; the same resumable container as the HDF5 format
(:class:`~lazyact.results.hdf5.HDF5Container`).

Reading: :func:`find_statistics` finds the statistics of such files and of SecActPy's
``save_results_to_h5ad`` / ``results_to_anndata`` files (in ``obsm`` or ``layers``);
:func:`read_frame_block` reads an ``obsm`` entry stored as a DataFrame (one dataset per
protein); :func:`read_obsm` reads ``obsm[key]`` (e.g. ``"spatial"``) of any ``.h5ad``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from ..array import BlockStore
from ..array.sinks import BlockWriter, Target, WritePlan
from ..ridge import STATISTICS
from ..sources import open_h5
from ..sources.safety import UnsafeFileError, attr_str, attr_strings, check_dataset, check_size, printable, read_array
from .files import NotResultsFileError
from .frames import write_frame
from .hdf5 import STR_DTYPE, HDF5Container, labels, range_selection, string_dataset, strings

__all__ = [
    "H5ADLayout",
    "find_statistics",
    "frame_info",
    "obsm_array",
    "read_frame_block",
    "read_obsm",
    "write_h5ad",
]


# --------------------------------------------------------------------------- writing
def _encode(obj: h5py.HLObject, kind: str, version: str) -> None:
    obj.attrs["encoding-type"] = kind
    obj.attrs["encoding-version"] = version


class H5ADLayout(HDF5Container):
    """AnnData's on-disk layout: outputs transposed as ``X`` / ``obsm`` arrays, obs/var names, uns.

    Parameters
    ----------
    path, targets : see :class:`~lazyact.results.hdf5.HDF5Container` (transposed targets)
    obs_names, var_names : list of str
    uns : mapping, optional
        Strings, numbers, arrays and nested dicts.
    obsm_extra : mapping of str to array, optional
        Further ``obsm`` arrays (e.g. ``"spatial"``).
    obs : pandas.DataFrame, optional
        Columns of ``obs`` (the samples' annotations, :mod:`lazyact.results.frames`).
    **options
        Of :class:`~lazyact.results.hdf5.HDF5Container`.
    """

    kind = "h5ad"

    def __init__(self, path: str | os.PathLike, targets: Sequence[Target], obs_names: Sequence[str],
                 var_names: Sequence[str], uns: Mapping[str, Any] | None = None,
                 obsm_extra: Mapping[str, np.ndarray] | None = None, obs: pd.DataFrame | None = None,
                 **options: Any):
        super().__init__(path, targets, **options)
        self.obs_names, self.var_names = obs_names, var_names
        self.uns = dict(uns or {})
        self.obsm_extra = dict(obsm_extra or {})
        self.obs = obs

    def _write_uns(self, g: h5py.Group, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping):
                sub = g.create_group(key)
                _encode(sub, "dict", "0.1.0")
                self._write_uns(sub, value)
            elif isinstance(value, str):
                ds = g.create_dataset(key, data=value, dtype=STR_DTYPE)
                _encode(ds, "string", "0.2.0")
            elif isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
                ds = g.create_dataset(key, data=value)
                _encode(ds, "numeric-scalar", "0.2.0")
            else:
                arr = np.asarray(value)
                if arr.dtype.kind in "OUS":
                    string_dataset(g, key, [str(v) for v in arr.ravel()], None)
                    _encode(g[key], "string-array", "0.2.0")
                else:
                    ds = g.create_dataset(key, data=arr)
                    _encode(ds, "array", "0.2.0")

    def create_datasets(self, f: h5py.File, plan: WritePlan) -> None:
        p, m = plan.shape
        _encode(f, "anndata", "0.1.0")
        chunks = None if plan.chunks is None else (plan.chunks[1], plan.chunks[0])
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            _encode(f.create_group(key), "dict", "0.1.0")
        for t in self.targets:
            ds = f.create_dataset(t.key, shape=(m, p), dtype=plan.dtype, chunks=chunks,
                                  compression=self.compression if chunks else None)
            _encode(ds, "array", "0.2.0")
        write_frame(f, "obs", self.obs_names, self.obs, self.compression)
        write_frame(f, "var", self.var_names, None, self.compression)
        for key, value in self.obsm_extra.items():
            ds = f["obsm"].create_dataset(key, data=np.asarray(value))
            _encode(ds, "array", "0.2.0")
        self._write_uns(f["uns"], self.uns)


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
    obs: pd.DataFrame | None = None,
) -> Path:
    """Write outputs of ``store`` as an AnnData ``.h5ad`` file (transposed), block by block.

    ``X`` holds output ``x`` and ``obsm[name]`` each output in ``obsm``, all as dense
    cols x rows arrays (obs = the store's columns, var = its rows), ``obs``/``var``
    hold the names, ``uns`` the given metadata (strings, numbers, arrays, nested
    dicts), ``obs`` the columns of ``obs`` (the samples' annotations). The file is
    written with h5py in AnnData's on-disk format (readable by ``anndata.read_h5ad``)
    with the same resumable machinery as :func:`~lazyact.results.hdf5.write_hdf5` (whose
    options these are).

    Examples
    --------
    >>> import tempfile, anndata
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
    targets = [Target(x, "X", True)] + [Target(n, f"obsm/{n}", True) for n in obsm]
    layout = H5ADLayout(path, targets, labels(obs_names, m), labels(var_names, p), uns, obsm_extra, obs,
                        compression=compression, resume=resume, overwrite=overwrite, attrs=attrs,
                        fingerprint=fingerprint, fingerprint_parts=fingerprint_parts)
    return BlockWriter(store, layout, dtype=dtype, block=block, progress=progress, summary=False,
                       blas_threads=blas_threads).run()


# --------------------------------------------------------------------------- reading
def frame_index(g: Any) -> list[str]:
    """The index (obs or var names) of an AnnData DataFrame group."""
    if isinstance(g, h5py.Group):
        key = attr_str(g, "_index") or "_index"
        if key in g and isinstance(g[key], h5py.Dataset):
            return strings(g[key])
    raise NotResultsFileError(f"{printable(getattr(g, 'name', g))} has no index")


def frame_columns(g: h5py.Group) -> list[str]:
    """The column names of an AnnData DataFrame group, in order."""
    return attr_strings(g, "column-order") or []


def frame_info(node: h5py.Group) -> tuple[tuple[int, int], np.dtype, tuple[int, int], list[str]]:
    """(proteins x samples shape, dtype, chunks, protein columns) of a statistic stored as a DataFrame."""
    cols = frame_columns(node)
    if not cols:
        raise NotResultsFileError(f"{printable(node.name)} is a group without columns")
    missing = [c for c in cols if c not in node]
    if missing:
        raise NotResultsFileError(f"{printable(node.name)} lists columns it does not hold: "
                                  f"{printable(missing[:5])}")
    first = node[cols[0]]
    if not isinstance(first, h5py.Dataset) or first.ndim != 1:
        raise NotResultsFileError(f"{printable(first.name)} is not a 1-D column")
    check_size(first, "statistic")  # the others are checked when read (read_frame_block)
    return (len(cols), int(first.shape[0])), first.dtype, (1, first.chunks[0] if first.chunks else 1024), cols


def read_frame_block(node: h5py.Group, columns: Sequence[str], rows: np.ndarray, cols: np.ndarray,
                     checked: set | None = None) -> np.ndarray:
    """rows x cols of a statistic stored as an ``obsm`` DataFrame (one dataset per protein).

    Each column dataset is checked (:func:`~lazyact.sources.safety.check_dataset`: its
    data is in the file) before its first read; ``checked`` remembers which were.
    """
    csel, cpost = range_selection(cols)
    out = np.empty((rows.size, cols.size))
    for i, r in enumerate(rows):
        ds = node[columns[int(r)]]
        if checked is None or ds.name not in checked:
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
                raise NotResultsFileError(f"{printable(ds.name)} is not a 1-D column")
            check_dataset(ds)
            if checked is not None:
                checked.add(ds.name)
        v = ds[csel]
        out[i] = v if cpost is None else v[cpost]
    return out


def find_statistics(f: h5py.File, attrs: dict, path: Path) -> dict | None:
    """The statistics of an AnnData results file, or None when ``f`` is not AnnData.

    ``attrs`` (the root attributes) gains ``source`` from ``uns`` for foreign files.

    Raises
    ------
    NotResultsFileError
        An AnnData file without results (the message lists what it holds).
    """
    if not ("X" in f and "obs" in f and "var" in f):
        return None
    layers = f.get("layers")
    obsm = f.get("obsm")
    layer_stats = [n for n in STATISTICS if isinstance(layers, h5py.Group) and n in layers]
    obsm_stats = [n for n in STATISTICS[1:] if isinstance(obsm, h5py.Group) and n in obsm]
    sources: dict[str, tuple[str, bool, None]] = {}
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
    for key, _, _ in sources.values():  # a complete file holds its statistics: they bound the names
        if isinstance(f[key], h5py.Dataset):
            check_size(f[key], "statistic")
    samples = frame_index(f["obs"])
    proteins = frame_index(f["var"])
    if "lazyact_params" not in attrs and "uns" in f and isinstance(f["uns"].get("source"), h5py.Dataset):
        source = strings(f["uns"]["source"])
        if source:
            attrs["source"] = source[0]
    return dict(kind=kind, sources=sources, proteins=proteins, samples=samples)


def obsm_array(f: h5py.File, key: str) -> np.ndarray | None:
    """``obsm[key]`` of an open AnnData file as an array (a DataFrame's columns stacked), or None."""
    obsm = f.get("obsm")
    if not isinstance(obsm, h5py.Group) or key not in obsm:
        return None
    node = obsm[key]
    if isinstance(node, h5py.Dataset):
        return read_array(node, f"obsm['{printable(key)}']")
    # a dataframe-encoded obsm entry: stack its columns
    order = attr_strings(node, "column-order")
    cols = [read_array(node[c], f"obsm['{printable(key)}']") for c in (order if order is not None else list(node))]
    return np.column_stack(cols) if cols else None


def read_obsm(path: str | os.PathLike, key: str = "spatial") -> np.ndarray | None:
    """``obsm[key]`` of an ``.h5ad`` file (e.g. spatial coordinates), or None when absent or unreadable.

    Examples
    --------
    >>> import tempfile, anndata
    >>> p = os.path.join(tempfile.mkdtemp(), "a.h5ad")
    >>> anndata.AnnData(np.zeros((3, 2)), obsm={"spatial": np.ones((3, 2))}).write_h5ad(p)
    >>> read_obsm(p).shape, read_obsm(p, "umap")
    ((3, 2), None)
    """
    try:
        with open_h5(path, rdcc_nbytes=None) as f:
            return obsm_array(f, key)
    except UnsafeFileError:
        raise
    except (OSError, KeyError, TypeError, ValueError):
        return None
