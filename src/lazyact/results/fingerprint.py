"""Fingerprints of an activity's inputs: what resuming a ``.partial`` file compares.

:func:`fingerprint_parts` describes the inputs part by part (hashes of the projection,
the row map, the permutation table parameters, the expression's identity, the names and
the parameters); :func:`fingerprint` is one digest of them. :func:`dumps` is the
canonical JSON used for digests and for parameters stored in files.
:func:`input_stamps` / :func:`check_input_stamps` record the input file of an activity
when it is built and check it when a copy (a dask worker's) reopens it.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "InputChangedError",
    "check_input_stamps",
    "digest",
    "dumps",
    "file_identity",
    "fingerprint",
    "fingerprint_parts",
    "hash_array",
    "hash_names",
    "input_stamps",
]


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


def _inner_objects(obj: Any) -> list:
    """The wrapped objects of an expression chain (``source``, ``expression``, ``_inner``, ``base``)."""
    out = []
    for attr in ("source", "expression", "_inner", "base"):
        inner = getattr(obj, attr, None)
        if inner is not None and inner is not obj and not isinstance(inner, (np.ndarray, str, bytes)):
            out.append(inner)
    return out


def _find_path(obj: Any, depth: int = 0) -> str | None:
    """Path of the file (or store directory) behind an expression, walking the wrapper chain."""
    if obj is None or depth > 6:
        return None
    for attr in ("path", "filename"):
        p = getattr(obj, attr, None)
        if isinstance(p, (str, os.PathLike)) and os.path.exists(p):
            return os.path.abspath(os.fspath(p))
    for attr in ("_arr", "ds"):
        arr = getattr(obj, attr, None)
        name = getattr(arr, "filename", None)
        if name is None and hasattr(arr, "file"):
            name = getattr(arr.file, "filename", None)
        if isinstance(name, (str, os.PathLike)) and os.path.exists(name):
            return os.path.abspath(os.fspath(name))
    for inner in _inner_objects(obj):
        p = _find_path(inner, depth + 1)
        if p is not None:
            return p
    return None


def _state(obj: Any, depth: int = 0) -> dict:
    """Public small state of an expression wrapper chain: arrays hashed in full, scalars as such."""
    out: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    for key, value in sorted(getattr(obj, "__dict__", {}).items()):
        if key.startswith("_") and key != "_inner":
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            out[key] = hash_array(value)
        elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
            out[key] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, np.dtype):
            out[key] = value.str
        elif key in ("source", "expression", "_inner") and depth < 4:
            out[key] = _state(value, depth + 1)
    return out


#: Bytes read from a file for its content sample: pieces at evenly spread offsets.
SAMPLE_PIECES, SAMPLE_PIECE_BYTES = 32, 4096


def _content_sample(path: str, size: int) -> str:
    """A digest of pieces of a file (its start, its end and 30 pieces in between)."""
    h = _h()
    with open(path, "rb") as f:
        n = SAMPLE_PIECES
        for i in range(n):
            f.seek(max(0, size - SAMPLE_PIECE_BYTES) * i // (n - 1))
            h.update(f.read(SAMPLE_PIECE_BYTES))
    return h.hexdigest()


def file_identity(path: str | os.PathLike, sample: bool = True) -> dict:
    """What identifies a file's content cheaply: path, size, mtime, inode (and a content sample).

    A directory (a zarr store) is described by the sizes and modification times of
    every file in it.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.bin")
    >>> _ = open(p, "wb").write(b"abc" * 1000)
    >>> sorted(file_identity(p))
    ['inode', 'mtime_ns', 'path', 'sample', 'size']
    """
    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    out: dict[str, Any] = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
    if os.path.isdir(path):
        h = _h()
        for root, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            for name in sorted(files):
                fst = os.stat(os.path.join(root, name))
                h.update(f"{os.path.relpath(os.path.join(root, name), path)}\x1f{fst.st_size}\x1f"
                         f"{fst.st_mtime_ns}\x1e".encode("utf-8", "surrogatepass"))
        out["tree"] = h.hexdigest()
    elif sample:
        out["sample"] = _content_sample(path, st.st_size)
    return out


class InputChangedError(OSError):
    """An input file changed since the activity was built from it."""


def input_stamps(expr: Any) -> list[dict]:
    """The identity (:func:`file_identity`) of the file behind an expression, as a list (empty for in-memory data)."""
    path = _find_path(expr)
    return [] if path is None else [file_identity(path)]


def check_input_stamps(stamps: Sequence[Mapping[str, Any]]) -> None:
    """Raise :class:`InputChangedError` when a file of ``stamps`` is not the one recorded.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.bin")
    >>> _ = open(p, "wb").write(b"abc")
    >>> stamps = [file_identity(p)]
    >>> check_input_stamps(stamps)
    >>> _ = open(p + ".new", "wb").write(b"abd"); os.replace(p + ".new", p)
    >>> try:
    ...     check_input_stamps(stamps)
    ... except InputChangedError as e:
    ...     print(str(e)[str(e).index("x.bin"):].split(" (")[0])
    x.bin' changed since the activity was built from it
    """
    for old in stamps:
        path = old["path"]
        try:
            new = file_identity(path, sample="sample" in old)
        except OSError:
            new = None
        if new != dict(old):
            what = "is gone" if new is None else ", ".join(
                f"{k} {old.get(k)} -> {new.get(k)}" for k in ("size", "mtime_ns", "inode") if old.get(k) != new.get(k)
            ) or "its content differs"
            raise InputChangedError(
                f"'{path}' changed since the activity was built from it ({what}): its global statistics (library "
                "sizes, gene means, names) describe the old file, so results would mix two inputs. Build the "
                "activity again from the new file (lazyact.activity(...)), or restore the old one.")


def _hash_columns(read: Any, shape: tuple[int, int]) -> str:
    """A digest of every column ``read(cols)`` gives (dense or sparse), in bounded batches."""
    n_genes, m = shape
    h = _h()
    batch = max(1, (32 << 20) // max(1, 8 * n_genes))
    for lo in range(0, m, batch):
        block = read(np.arange(lo, min(m, lo + batch), dtype=np.intp))
        if hasattr(block, "tocsc"):
            block = block.tocsc()
            block.sort_indices()
            for part in (block.indptr, block.indices, block.data):
                h.update(hash_array(part).encode())
        else:
            h.update(hash_array(block).encode())
    return h.hexdigest()


def _expression_identity(expr: Any) -> dict:
    shape = (int(expr.shape[0]), int(expr.shape[1]))
    out: dict[str, Any] = {"shape": list(shape)}
    path = _find_path(expr)
    if path is not None:  # by reference: identity and content sample, and the global statistics
        out["file"] = file_identity(path)
        out["state"] = _state(expr)
    elif hasattr(expr, "raw"):  # in memory: all the raw data, and the normalisation's global statistics
        out["data"] = _hash_columns(expr.raw, shape)
        out["state"] = _state(expr)
    else:  # any other expression: all of its columns as the activity reads them
        out["data"] = _hash_columns(expr.block, shape)
    return out


def _activity_parts(act: Any) -> dict:
    blocks = act.blocks
    model = blocks.model
    perms: dict[str, Any] = {"n_rand": int(model.n_rand)}
    if getattr(model, "explicit_table", False):
        perms["table"] = hash_array(model.inverse_table)
    else:
        perms.update(seed=int(model.seed), rng=str(model.rng))
    use_sparse = getattr(blocks, "_use_sparse", None)
    return {
        "T": hash_array(model.projection.T),
        "rows": hash_array(blocks.row_map),
        "permutations": perms,
        "kernel": {"option": getattr(blocks, "kernel", None), "sparse": bool(use_sparse()) if use_sparse else None,
                   "dtype": str(np.dtype(getattr(model, "dtype", np.float64)))},
        "expression": _expression_identity(blocks.expression),
        "proteins": hash_names(act.proteins),
        "samples": hash_names(act.samples),
        "params": json.loads(dumps(act.params)),
    }


def fingerprint_parts(act: Any) -> dict:
    """The components of :func:`fingerprint` (compared part by part when resuming).

    For a :class:`~lazyact.LazyActivity`: hashes of the projection T, the output row
    map, the permutation table parameters (or a hash of an explicit table), the
    kernel, the expression's identity, the protein and sample names, and the
    parameters. The expression is identified by everything the results depend on:
    file-backed sources by their file (path, size, modification time, inode and a
    sample of its content: :func:`file_identity`) plus the global statistics of the
    preprocessing (library sizes, gene offsets: hashed in full); in-memory data by a
    hash of all of it.
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
