"""What a results file holds, without reading the data: ``lazyact info``.

:func:`file_info` describes a complete file or an unfinished ``.partial`` one (how
many column blocks are written); :func:`format_info` is the text the command prints.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from ..array import format_bytes
from .files import partial_path
from .hdf5 import DONE_KEY, open_results_file
from . import zarr as zarr_format
from .stored import inspect, py_value

__all__ = ["file_info", "format_info"]


def _describe(out: dict, attrs: Mapping[str, Any], done: np.ndarray | None, summary: bool,
              complete: Any) -> dict:
    """Fill ``out`` with what any format's root attributes say; ``complete()`` describes a complete file."""
    incomplete = done is not None or not bool(attrs.get("lazyact_complete", True))
    out["complete"] = not incomplete
    if done is not None:
        out["blocks_done"], out["n_blocks"] = int(np.count_nonzero(done)), int(done.size)
    layout = json.loads(attrs["lazyact_layout"]) if "lazyact_layout" in attrs else None
    if incomplete:
        out["format"] = f"lazyact {layout['format']} (unfinished)" if layout else "unfinished"
        if layout:
            out["shape"] = tuple(layout["shape"])
            out["arrays"] = {n: {"dtype": layout["dtype"], "chunks": layout["chunks"],
                                 "compression": layout["compression"]} for n in layout["arrays"]}
        params = json.loads(attrs["lazyact_params"]) if "lazyact_params" in attrs else {}
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


def _zarr_info(p: Path) -> dict:
    if not p.exists():
        p = partial_path(p)
    root = zarr_format.open_store(p)
    attrs = dict(root.attrs)
    done = np.asarray(root[zarr_format.DONE_KEY][:]) if zarr_format.DONE_KEY in root else None
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

    return _describe({"path": str(p), "size_bytes": size}, attrs, done, "summary" in root, complete)


def file_info(path: str | os.PathLike) -> dict:
    """What a results file (or zarr store) holds, without reading the data; works on ``.partial`` files.

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
    if zarr_format.is_zarr_results(p):
        return _zarr_info(p)
    if not p.exists() and partial_path(p).exists():
        p = partial_path(p)
    if not p.exists():
        raise FileNotFoundError(f"no such file: '{path}'")
    f = open_results_file(p, allow_locked=True)
    with f:
        done = f[DONE_KEY][()] if DONE_KEY in f else None

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

        return _describe({"path": str(p), "size_bytes": p.stat().st_size}, dict(f.attrs), done, "summary" in f,
                         complete)


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
    lines.append(f"  size       {format_bytes(info['size_bytes'])}")
    for n, a in info.get("arrays", {}).items():
        shards = f", shards {a['shards']}" if a.get("shards") else ""
        lines.append(f"  {n:<10} {a.get('dtype')}, chunks {a.get('chunks')}{shards}, compression {a.get('compression')}")
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
