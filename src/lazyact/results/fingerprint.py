"""Fingerprints of an activity's inputs: what resuming a ``.partial`` file compares.

:func:`fingerprint_parts` describes the inputs part by part (hashes of the projection,
the row map, the permutation table parameters, the expression's identity, the names and
the parameters); :func:`fingerprint` is one digest of them. :func:`dumps` is the
canonical JSON used for digests and for parameters stored in files.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["digest", "dumps", "fingerprint", "fingerprint_parts", "hash_array", "hash_names"]


def _h() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=16)


def hash_array(a: Any) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = _h()
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def hash_names(names: Any) -> str:
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
            out[key] = hash_array(value)
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
        out["sample"] = hash_array(np.asarray(block, dtype=np.float64))
    return out


def _activity_parts(act: Any) -> dict:
    blocks = act.blocks
    model = blocks.model
    perms: dict[str, Any] = {"n_rand": int(model.n_rand)}
    if getattr(model, "explicit_table", False):
        perms["table"] = hash_array(model.inverse_table)
    else:
        perms.update(seed=int(model.seed), rng=str(model.rng))
    return {
        "T": hash_array(model.projection.T),
        "rows": hash_array(blocks.row_map),
        "permutations": perms,
        "expression": _expression_identity(blocks.expression),
        "proteins": hash_names(act.proteins),
        "samples": hash_names(act.samples),
        "params": json.loads(dumps(act.params)),
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
    >>> import lazyact
    >>> rng = np.random.default_rng(0)
    >>> T, Y = rng.standard_normal((3, 40)), rng.standard_normal((40, 6))
    >>> fingerprint(lazyact.LazyActivity(T, 20, Y)) == fingerprint(lazyact.LazyActivity(T, 20, Y.copy()))
    True
    >>> fingerprint(lazyact.LazyActivity(T, 20, Y)) == fingerprint(lazyact.LazyActivity(T, 21, Y))
    False
    """
    return digest(fingerprint_parts(act))


def dumps(obj: Any, sort_keys: bool = True) -> str:
    """JSON of ``obj``: NumPy scalars and arrays as numbers and lists, names as strings, anything else by ``str``.

    >>> dumps({"b": np.int64(2), "a": pd.Index(["x", 1])})
    '{"a": ["x", "1"], "b": 2}'
    """

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (pd.Index, pd.Series)):
            return [str(v) for v in o]
        return str(o)

    return json.dumps(obj, default=default, sort_keys=sort_keys)


def digest(parts: Mapping[str, Any]) -> str:
    """The hex digest of :func:`dumps` of ``parts``."""
    h = _h()
    h.update(dumps(parts).encode())
    return h.hexdigest()
