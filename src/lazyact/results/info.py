"""What a results file holds, without reading the data: ``lazyact info``.

:func:`file_info` describes a complete file or an unfinished ``.partial`` one (how
many column blocks are written); :func:`format_info` is the text the command prints.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

import json

import h5py

from ..array import format_bytes
from ..array.journal import journal_progress
from ..sources.safety import attr_json, printable, read_attrs
from . import zarr as zarr_format
from .files import partial_path
from .frames import describe_frame
from .hdf5 import DONE_KEY, open_results_file, progress
from .stored import inspect, is_complete, py_value

__all__ = ["file_info", "format_info"]


def _layout_problem(layout: dict) -> str | None:
    """What is wrong with a ``lazyact_layout`` attribute (None when it is fine)."""
    shape = layout.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) and n >= 0 for n in shape)):
        return "a JSON object whose 'shape' is two non-negative integers"
    arrays = layout.get("arrays")
    if not (isinstance(arrays, list) and all(isinstance(a, str) for a in arrays)):
        return "a JSON object whose 'arrays' is a list of names"
    if not isinstance(layout.get("format"), str):
        return "a JSON object whose 'format' is a string"
    if not (layout.get("block") is None or isinstance(layout.get("block"), int)):
        return "a JSON object whose 'block' is an integer"
    return None


def _describe(out: dict, attrs: Mapping[str, Any], incomplete: bool, found: tuple[int, int] | None,
              layout: dict | None, unfinished_params: Callable[[], dict], summary: bool,
              complete: Callable[[], tuple[dict, dict]]) -> dict:
    """Fill ``out`` with what any format says: its root attributes, the journal's ``found`` progress of an
    unfinished output, its parsed ``lazyact_layout``; ``complete()`` describes a complete one."""
    out["complete"] = not incomplete
    if found is not None:
        out["blocks_done"], out["n_blocks"] = found
    if incomplete:
        out["format"] = f"lazyact {layout['format']} (unfinished)" if layout else "unfinished"
        if layout:
            out["shape"] = tuple(layout["shape"])
            out["arrays"] = {n: {"dtype": layout.get("dtype"), "chunks": layout.get("chunks"),
                                 "compression": layout.get("compression")} for n in layout["arrays"]}
        params = unfinished_params()
    else:
        info, out["arrays"] = complete()
        out["format"] = info["kind"]
        out["shape"] = tuple(info["shape"])
        params = info["params"]
        out["proteins"] = info["proteins"][:5]
        out["samples"] = info["samples"][:5]
    out["params"] = params
    out["version"] = py_value(attrs.get("lazyact_version")) if "lazyact_version" in attrs else None
    out["summary"] = summary
    if layout:
        out["block"] = layout.get("block")
    return out


def _json_attr(attrs: Mapping[str, Any], key: str, check: Callable[[dict], str | None] | None = None) -> dict | None:
    """A JSON object attribute of a zarr store (None when absent or not what it should be)."""
    try:
        value = json.loads(attrs[key]) if isinstance(attrs.get(key), str) else None
    except ValueError:
        return None
    if not isinstance(value, dict) or (check is not None and check(value) is not None):
        return None
    return value


def _zarr_info(p: Path) -> dict:
    if not p.exists():
        p = partial_path(p)
    root = zarr_format.open_store(p)
    attrs = dict(root.attrs)
    incomplete = not bool(attrs.get("lazyact_complete", True))
    size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())

    def complete() -> tuple[dict, dict]:
        info = zarr_format.inspect_store(p)
        arrays = {}
        for n, (key, tr, _) in info["sources"].items():
            arr = root[key]
            codecs = [type(c).__name__ for c in (arr.compressors or ())]
            arrays[n] = {"dataset": key, "dtype": str(arr.dtype),
                         "chunks": tuple(int(x) for x in (reversed(arr.chunks) if tr else arr.chunks)),
                         "compression": ", ".join(codecs) or None}
            if arr.shards is not None:
                arrays[n]["shards"] = tuple(int(x) for x in (reversed(arr.shards) if tr else arr.shards))
        return info, arrays

    out = _describe({"path": str(p), "size_bytes": size}, attrs, incomplete,
                    journal_progress(p) if incomplete else None, _json_attr(attrs, "lazyact_layout", _layout_problem),
                    lambda: _json_attr(attrs, "lazyact_params") or {}, "summary" in root, complete)
    out["obs"] = zarr_format.describe_obs(root)
    spatial = root.get("obsm/spatial") if "obsm" in root else root.get("spatial")
    out["spatial"] = None if spatial is None else tuple(int(n) for n in spatial.shape)
    return out


def file_info(path: str | os.PathLike) -> dict:
    """What a results file (or zarr store) holds, without reading the data; works on ``.partial`` files.

    Returns
    -------
    dict
        ``path``, ``complete`` (bool), ``blocks_done`` / ``n_blocks`` (for unfinished
        lazyact files), ``format``, ``shape``, ``arrays`` (dtype, chunks, compression
        per statistic), ``params``, ``version``, ``summary`` (bool), ``size_bytes``,
        ``obs`` (``(column, kind)`` of the stored sample annotations), ``spatial`` (shape of
        stored coordinates, or None).

    Raises
    ------
    NotResultsFileError, FileNotFoundError
    """
    p = Path(os.fspath(path))
    if zarr_format.is_zarr_results(p):
        return _zarr_info(p)
    if not p.exists() and partial_path(p).exists():
        p = partial_path(p)
    if not p.exists():
        raise FileNotFoundError(f"no such file: '{path}'")
    f = open_results_file(p, allow_locked=True)
    with f:
        attrs = read_attrs(f)
        incomplete = DONE_KEY in f or not is_complete(f, attrs)

        def complete() -> tuple[dict, dict]:
            info = inspect(f, p)
            arrays = {}
            for n, (key, tr, cols) in info["sources"].items():
                node = f[key]
                if isinstance(node, h5py.Dataset):
                    ch = None if node.chunks is None else (tuple(reversed(node.chunks)) if tr else node.chunks)
                    arrays[n] = {"dataset": key, "dtype": str(node.dtype), "chunks": ch,
                                 "compression": node.compression}
                else:
                    arrays[n] = {"dataset": key, "dtype": "dataframe", "chunks": None, "compression": None}
            return info, arrays

        out = _describe({"path": str(p), "size_bytes": p.stat().st_size}, attrs, incomplete,
                        progress(p, f) if incomplete else None,
                        attr_json(f, "lazyact_layout", attrs, check=_layout_problem),
                        lambda: attr_json(f, "lazyact_params", attrs) or {}, "summary" in f, complete)
        obs = f.get("obs")
        out["obs"] = describe_frame(obs) if isinstance(obs, h5py.Group) else []
        out["spatial"] = _spatial_shape(f)
        return out


def _spatial_shape(f: h5py.File) -> tuple[int, ...] | None:
    """Shape of the stored coordinates (``/spatial`` or ``obsm/spatial``), or None."""
    for key in ("spatial", "obsm/spatial"):
        node = f.get(key)
        if isinstance(node, h5py.Dataset):
            return tuple(int(n) for n in node.shape)
    return None


def format_info(info: Mapping[str, Any]) -> str:
    """Human-readable text of :func:`file_info`; whatever came from the file is escaped
    (:func:`~lazyact.sources.safety.printable`: no control characters reach the terminal)."""
    lines = [printable(info["path"])]
    lines.append(f"  format     {printable(info.get('format'))}")
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
    lines.append(f"  size       {format_bytes(info['size_bytes'])}")
    for n, a in info.get("arrays", {}).items():
        shards = f", shards {a['shards']}" if a.get("shards") else ""
        lines.append(printable(f"  {n:<10} {a.get('dtype')}, chunks {a.get('chunks')}{shards}, "
                               f"compression {a.get('compression')}"))
    if info.get("summary"):
        lines.append("  summary    per-protein mean/std/min/max stored")
    if info.get("proteins"):
        more = ", ..." if info["shape"][0] > 5 else ""
        lines.append(f"  proteins   {', '.join(map(printable, info['proteins']))}{more}")
    if info.get("samples"):
        more = ", ..." if info["shape"][1] > 5 else ""
        lines.append(f"  samples    {', '.join(map(printable, info['samples']))}{more}")
    params = info.get("params") or {}
    if params.get("input"):
        lines.append(f"  input      {printable(params['input'])}")
    if isinstance(params.get("n_genes"), (int, float)) and params["n_genes"]:
        lines.append(f"  genes      {int(params['n_genes']):,} shared by the input and the signature")
    if info.get("obs"):
        lines.append("  obs        " + ", ".join(f"{name} ({kind})" for name, kind in info["obs"]))
    if info.get("spatial"):
        lines.append(f"  spatial    {' x '.join(map(str, info['spatial']))} coordinates")
    if info.get("version"):
        lines.append(f"  written by lazyact {printable(info['version'])}")
    if params:
        lines.append("  parameters")
        for k, v in params.items():
            lines.append(f"    {printable(k)} = {printable(repr(v))}")
    return "\n".join(lines)
