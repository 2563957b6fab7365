"""What a results file holds, without reading the data: ``lazyact info``.

:func:`file_info` describes a complete file or an unfinished ``.partial`` one (how
many column blocks are written); :func:`format_info` is the text the command prints.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import h5py

from ..array import format_bytes
from ..sources.safety import attr_json, printable, read_attrs
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


def file_info(path: str | os.PathLike) -> dict:
    """What a results file holds, without reading the data; works on ``.partial`` files.

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
    if not p.exists() and partial_path(p).exists():
        p = partial_path(p)
    if not p.exists():
        raise FileNotFoundError(f"no such file: '{path}'")
    f = open_results_file(p, allow_locked=True)
    with f:
        attrs = read_attrs(f)
        out: dict[str, Any] = {"path": str(p), "size_bytes": p.stat().st_size}
        incomplete = DONE_KEY in f or not is_complete(f, attrs)
        out["complete"] = not incomplete
        found = progress(p, f) if incomplete else None
        if found is not None:
            out["blocks_done"], out["n_blocks"] = found
        layout = attr_json(f, "lazyact_layout", attrs, check=_layout_problem)
        if incomplete:
            out["format"] = f"lazyact {layout['format']} (unfinished)" if layout else "unfinished"
            if layout:
                out["shape"] = tuple(layout["shape"])
                out["arrays"] = {n: {"dtype": layout.get("dtype"), "chunks": layout.get("chunks"),
                                     "compression": layout.get("compression")} for n in layout["arrays"]}
            params = attr_json(f, "lazyact_params", attrs) or {}
        else:
            info = inspect(f, p)
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
        obs = f.get("obs")
        out["obs"] = describe_frame(obs) if isinstance(obs, h5py.Group) else []
        out["spatial"] = _spatial_shape(f)
        out["version"] = py_value(attrs.get("lazyact_version")) if "lazyact_version" in attrs else None
        out["summary"] = "summary" in f
        if layout:
            out["block"] = layout.get("block")
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
        lines.append(printable(f"  {n:<10} {a.get('dtype')}, chunks {a.get('chunks')}, "
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
