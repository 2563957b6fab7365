"""Sample annotations (``obs``) in results files: AnnData's on-disk dataframe, with h5py.

``to_h5ad`` writes the input's ``obs`` as the file's ``obs`` and ``to_hdf5`` the same
group at ``/obs``, so the cell type, sample, batch... of every column travel with the
results; ``anndata.read_h5ad`` reads the first, :func:`read_frame` both (and any
AnnData's ``obs``). Columns are written in AnnData's encodings: numbers and booleans as
arrays, everything else (strings, categories, mixed objects) as categoricals (missing
values as code -1), pandas' nullable integers and booleans as ``nullable-*`` groups.

Examples
--------
>>> import tempfile, os, h5py
>>> obs = pd.DataFrame({"cell_type": ["T", "B", "T"], "n_counts": [10.0, 3.0, 7.0]})
>>> path = os.path.join(tempfile.mkdtemp(), "obs.h5")
>>> with h5py.File(path, "w") as f:
...     write_frame(f, "obs", ["c1", "c2", "c3"], obs)
>>> with h5py.File(path) as f:
...     back = read_frame(f["obs"])
>>> back.index.tolist(), back["cell_type"].tolist(), back.dtypes.astype(str).tolist()
(['c1', 'c2', 'c3'], ['T', 'B', 'T'], ['category', 'float64'])
>>> with h5py.File(path) as f:
...     describe_frame(f["obs"])
[('cell_type', 'categorical, 2 values'), ('n_counts', 'float64')]
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import h5py
import numpy as np
import pandas as pd

from ..sources.h5ad import read_h5_column, read_h5_index
from ..sources.safety import UnsafeFileError, attr_str, attr_strings, printable

__all__ = ["column_order", "describe_frame", "read_frame", "writable_columns", "write_frame"]

log = logging.getLogger(__name__)


def _encode(obj: h5py.HLObject, kind: str, version: str) -> None:
    obj.attrs["encoding-type"] = kind
    obj.attrs["encoding-version"] = version


def _strings(group: h5py.Group, key: str, values: Sequence[str], compression: str | None) -> h5py.Dataset:
    """A UTF-8 string-array dataset (chunked and compressed when long)."""
    ds = _array(group, key, np.array([str(v) for v in values], dtype=h5py.string_dtype("utf-8")), compression)
    _encode(ds, "string-array", "0.2.0")
    return ds


def _array(group: h5py.Group, key: str, values: np.ndarray, compression: str | None) -> h5py.Dataset:
    kw: dict[str, Any] = {}
    if values.size > 4096 and compression:
        kw = {"chunks": (min(values.size, 65536),), "compression": compression}
    return group.create_dataset(key, data=values, **kw)


def _categorical(group: h5py.Group, key: str, cat: pd.Categorical, compression: str | None) -> None:
    g = group.create_group(key)
    _encode(g, "categorical", "0.2.0")
    g.attrs["ordered"] = bool(cat.ordered)
    _array(g, "codes", np.asarray(cat.codes), compression)
    categories = cat.categories
    if categories.dtype.kind in "biuf":
        _encode(_array(g, "categories", categories.to_numpy(), None), "array", "0.2.0")
    else:
        _strings(g, "categories", categories, None)


def _column(group: h5py.Group, key: str, col: pd.Series, compression: str | None) -> None:
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        _categorical(group, key, col.array, compression)  # type: ignore[arg-type]
    elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biu":  # nullable int / bool
        g = group.create_group(key)
        _encode(g, "nullable-boolean" if dtype.kind == "b" else "nullable-integer", "0.1.0")
        mask = col.isna().to_numpy()
        fill = False if dtype.kind == "b" else 0
        _array(g, "values", col.fillna(fill).to_numpy(dtype=dtype.numpy_dtype), compression)
        _array(g, "mask", mask, compression)
    elif isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        _encode(_array(group, key, col.to_numpy(), compression), "array", "0.2.0")
    else:  # strings, mixed objects, dates...: categorical of their text, missing as -1
        text = [None if _missing(v) else str(v) for v in col.to_numpy(dtype=object)]
        _categorical(group, key, pd.Categorical(text), compression)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and np.isnan(v))


def writable_columns(frame: pd.DataFrame | None) -> list[str]:
    """The columns of ``frame`` that :func:`write_frame` writes (names that are HDF5 keys)."""
    if frame is None:
        return []
    out = []
    for name in frame.columns:
        key = str(name)
        if not key or "/" in key or key in ("_index", "__categories") or key in out:
            log.warning("obs column %r is not written (not a usable HDF5 name)", name)
            continue
        out.append(key)
    return out


def write_frame(f: h5py.Group, key: str, index: Sequence[str], frame: pd.DataFrame | None = None,
                compression: str | None = "gzip") -> None:
    """Create the AnnData dataframe group ``key``: ``index`` and the columns of ``frame`` (same length)."""
    g = f.create_group(key)
    _encode(g, "dataframe", "0.2.0")
    g.attrs["_index"] = "_index"
    _strings(g, "_index", index, compression)
    columns = writable_columns(frame)
    if frame is not None and len(frame) != len(index):
        raise ValueError(f"obs has {len(frame)} rows for {len(index)} samples")
    for name, col in (frame.items() if frame is not None else ()):
        if str(name) in columns and str(name) not in g:
            _column(g, str(name), col, compression)
    if columns:
        g.attrs.create("column-order", data=np.array(columns, dtype=object), dtype=h5py.string_dtype("utf-8"))
    else:
        g.attrs["column-order"] = np.array([], dtype=np.float64)


def column_order(g: h5py.Group) -> list[str]:
    """The column names of a stored AnnData dataframe group, in order (checked attribute)."""
    return attr_strings(g, "column-order") or []


def read_frame(g: h5py.Group) -> pd.DataFrame:
    """An AnnData dataframe group (``obs``) as a DataFrame; columns in unknown encodings are left out."""
    index = read_h5_index(g)
    n = None if index is None else len(index)
    columns: dict[str, Any] = {}
    for name in column_order(g):
        try:
            values = read_h5_column(g, name)
        except (KeyError, ValueError, TypeError) as exc:  # an unsafe file (UnsafeFileError) is refused, not skipped
            log.warning("obs column %s of %s is not read: %s", printable(name), printable(g.file.filename), exc)
            continue
        if n is not None and len(values) != n:
            log.warning("obs column %s of %s has %d values for %d rows: not read", printable(name),
                        printable(g.file.filename), len(values), n)
            continue
        columns[name] = values
    idx = pd.Index([str(i) for i in index], dtype=object) if index is not None else None
    return pd.DataFrame(columns, index=idx)


def describe_frame(g: h5py.Group) -> list[tuple[str, str]]:
    """``(column, kind)`` of an AnnData dataframe group, reading no values (only categories)."""
    out = []
    for name in column_order(g):
        node = g.get(name)
        if isinstance(node, h5py.Dataset):
            out.append((name, "strings" if h5py.check_string_dtype(node.dtype) else str(node.dtype)))
        elif isinstance(node, h5py.Group) and "categories" in node:
            out.append((name, f"categorical, {node['categories'].shape[0]} values"))
        elif isinstance(node, h5py.Group):
            try:
                kind = attr_str(node, "encoding-type") or "group"
            except UnsafeFileError:
                kind = "group"
            out.append((name, kind))
    return [(printable(name), printable(kind)) for name, kind in out]
