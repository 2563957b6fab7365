"""Reading HDF5 files that may be hostile: nothing outside the file, nothing unbounded.

Every HDF5 file lazyact reads (expression files and results files alike) goes through
:func:`~lazyact.sources.hdf5.open_h5`, which calls :func:`check_file`: no **external
links** (they open other files) and no **soft links** (they make one path read another
object of the file) anywhere in the file. Every dataset lazyact reads is checked
(:func:`check_dataset`, by the readers below and by the matrix readers of
:mod:`~lazyact.sources.hdf5`): no **external raw storage** (its bytes live in another
file, e.g. ``/etc/passwd``) and no **virtual dataset** (it maps other files' datasets).

Whole datasets and attributes are read with :func:`read_array`, :func:`read_strings`
and :func:`read_attrs`, which first compare the **declared size** with what the file
can hold (:func:`check_size`: the file's size, or its allocated storage times the
largest compression ratio of its filters), so a 4 KiB file declaring 3e9 names is
refused before anything is allocated; strings are then read in bounded chunks. JSON
and other attributes are validated (:func:`attr_json`, :func:`attr_str`,
:func:`attr_strings`, :func:`attr_shape`): a bad one raises one clear error naming the
attribute and the file. Names shown to people go through :func:`printable`, which
escapes control characters (ANSI escapes, bells, carriage returns).

All refusals are :class:`UnsafeFileError` (a :class:`~lazyact.sources.SourceReadError`,
so an ``OSError``).
"""
from __future__ import annotations

import json
from typing import Any, Callable

import h5py
import numpy as np

from .base import SourceReadError

__all__ = [
    "UnsafeFileError",
    "attr_json",
    "attr_shape",
    "attr_str",
    "attr_strings",
    "check_dataset",
    "check_file",
    "check_size",
    "printable",
    "read_array",
    "read_attrs",
    "read_strings",
]

#: Largest compression ratio accepted for datasets filtered only by HDF5's built-in
#: filters (deflate, the strongest of them, cannot exceed 1032:1).
BUILTIN_RATIO = 1100
#: ... and for datasets with any other (plugin) filter.
PLUGIN_RATIO = 100_000
#: HDF5's built-in filter ids: deflate, shuffle, fletcher32, szip, nbit, scaleoffset, lzf.
_BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}
#: Strings are read this many at a time.
STRING_CHUNK = 65536


class UnsafeFileError(SourceReadError):
    """A file lazyact refuses to read: it links or stores data outside itself, declares
    sizes it cannot hold, or has attributes that are not what they claim to be."""


# --------------------------------------------------------------------------- text
def printable(text: Any) -> str:
    """``text`` with control and other non-printable characters escaped, for terminals.

    Examples
    --------
    >>> printable("IL6\\x1b[31m"), printable("IFN-γ"), printable("a\\tb\\r")
    ('IL6\\\\x1b[31m', 'IFN-γ', 'a\\\\tb\\\\r')
    """
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def _where(obj: Any) -> str:
    """``'/path' in 'file'`` for messages (escaped)."""
    try:
        return f"{printable(obj.name)!s} in '{printable(obj.file.filename)}'"
    except (AttributeError, ValueError):  # pragma: no cover - closed objects
        return printable(getattr(obj, "name", obj))


def _file_size(obj: Any) -> int:
    return int(obj.file.id.get_filesize())


# --------------------------------------------------------------------------- structure
def check_dataset(ds: h5py.Dataset) -> None:
    """Refuse a dataset whose data lives in other files (virtual, or external raw storage).

    Raises
    ------
    UnsafeFileError
    """
    if ds.is_virtual:
        raise UnsafeFileError(
            f"{_where(ds)} is a virtual dataset (it maps datasets of other files): lazyact reads no "
            "virtual datasets. Copy the data into a regular dataset first (h5py: f.create_dataset(name, "
            "data=vds[()]) in a file you trust).")
    if ds.id.get_create_plist().get_external_count() > 0:
        raise UnsafeFileError(
            f"{_where(ds)} keeps its raw data in external files (HDF5 external storage): lazyact reads "
            "nothing outside the file it was given. Rewrite the dataset with its data inside the file.")


def check_file(f: h5py.File) -> None:
    """Refuse an open file that links to other files or to other objects of itself.

    Walks every link once (HDF5's link iteration, cheap even with thousands of
    datasets): external and soft links are refused wherever they are. Datasets are
    checked (:func:`check_dataset`) when they are read.

    Raises
    ------
    UnsafeFileError

    Examples
    --------
    >>> import tempfile, os
    >>> fn = os.path.join(tempfile.mkdtemp(), "x.h5")
    >>> with h5py.File(fn, "w") as f:
    ...     f["a"] = np.zeros(3)
    ...     f["b"] = h5py.SoftLink("/a")
    >>> with h5py.File(fn) as f:
    ...     check_file(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lazyact.sources.safety.UnsafeFileError: /b in '...x.h5' is a soft link to '/a': lazyact follows no links (they can make one dataset read as another, or leave the file). Store the data itself under that name.
    """
    found: list[bytes] = []

    def visit(name: bytes, info: Any) -> bool | None:
        if info.type != h5py.h5l.TYPE_HARD:
            found.append(name)
            return True  # stops the walk (h5py's visit does not pass exceptions on)
        return None

    try:
        f.id.links.visit(visit, info=True)
    except (KeyError, RuntimeError, ValueError, OSError) as exc:
        raise SourceReadError(f"cannot read the structure of '{printable(f.filename)}': the file looks "
                              f"truncated or corrupt [{exc}]") from exc
    if not found:
        return
    name = found[0].decode("utf-8", "replace")
    where = f"/{printable(name)} in '{printable(f.filename)}'"
    lnk = f.get(name, getlink=True)
    if isinstance(lnk, h5py.ExternalLink):
        raise UnsafeFileError(
            f"{where} is an external link to '{printable(lnk.path)}' in '{printable(lnk.filename)}': "
            "lazyact reads nothing outside the file it was given. Copy the data into the file "
            "(e.g. with h5copy) instead of linking to it.")
    if isinstance(lnk, h5py.SoftLink):
        raise UnsafeFileError(
            f"{where} is a soft link to '{printable(lnk.path)}': lazyact follows no links (they can "
            "make one dataset read as another, or leave the file). Store the data itself under that name.")
    raise UnsafeFileError(f"{where} is a user-defined link: lazyact follows no links. Store the data itself "
                          "under that name.")


# --------------------------------------------------------------------------- sizes
def _ratio(ds: h5py.Dataset) -> int:
    plist = ds.id.get_create_plist()
    n = plist.get_nfilters()
    if n == 0:
        return 1
    ids = {plist.get_filter(k)[0] for k in range(n)}
    return BUILTIN_RATIO if ids <= _BUILTIN_FILTERS else PLUGIN_RATIO


def check_size(ds: h5py.Dataset, what: str | None = None) -> int:
    """Refuse a dataset stored elsewhere (:func:`check_dataset`) or whose declared size is more
    than its file can hold; return its element count.

    A dataset may declare at most as many bytes as the file has, or as its allocated
    storage times the largest compression ratio of its filters (1 without filters).
    Run it before reading a whole dataset: the check allocates nothing.

    Raises
    ------
    UnsafeFileError
    """
    check_dataset(ds)
    n = int(np.prod(ds.shape, dtype=np.float64)) if ds.shape is not None else 0
    itemsize = int(ds.id.get_type().get_size())
    declared = float(n) * itemsize
    fsize = _file_size(ds)
    storage = min(int(ds.id.get_storage_size()), fsize)
    if declared > max(fsize, storage * _ratio(ds)):
        raise UnsafeFileError(
            f"{what or 'dataset'} {_where(ds)} declares {n:,} entries of {itemsize} bytes, but the file is "
            f"only {fsize:,} bytes ({storage:,} of them allocated to it): the file is corrupt or crafted, "
            "refusing to allocate for it.")
    return n


def read_array(ds: h5py.Dataset, what: str | None = None) -> np.ndarray:
    """A whole (small) dataset, after :func:`check_size`."""
    check_size(ds, what)
    return np.asarray(ds[()])


def read_strings(ds: h5py.Dataset, what: str | None = None) -> list[str]:
    """A string dataset (any shape; variable or fixed length) as a flat list of ``str``.

    Checked with :func:`check_size`, then read :data:`STRING_CHUNK` strings at a time.
    Variable-length strings may not take more memory than a few times the file's size
    (the file holds each of them, uncompressed, in its global heap); fixed-length ones
    are bounded by :func:`check_size` already.

    Raises
    ------
    UnsafeFileError
    """
    n = check_size(ds, what)
    if ds.ndim == 0:
        return [_decode(ds[()])]
    if ds.ndim != 1:  # small multi-dimensional string arrays: read whole (the size was checked)
        return [_decode(v) for v in np.asarray(ds[()]).ravel()]
    info = h5py.check_string_dtype(ds.dtype)
    variable = info is None or info.length is None
    budget = 4 * _file_size(ds) + (1 << 20)
    used = 0
    out: list[str] = []
    reader = ds.asstr(errors="replace") if info is not None else ds
    for a in range(0, n, STRING_CHUNK):
        values = reader[a:min(n, a + STRING_CHUNK)]
        part = values.tolist() if info is not None else [_decode(v) for v in values]
        used += sum(map(len, part)) + 8 * len(part)
        if variable and used > budget:
            raise UnsafeFileError(
                f"{what or 'dataset'} {_where(ds)} holds more string data than its file could "
                f"({used:,} bytes read so far, the file has {_file_size(ds):,}): the file is corrupt or crafted.")
        out.extend(part)
    return out


def _decode(v: Any) -> str:
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    return str(v)


# --------------------------------------------------------------------------- attributes
def read_attrs(obj: Any) -> dict[str, Any]:
    """All attributes of an HDF5 object, each checked against the file's size first.

    Raises
    ------
    UnsafeFileError
        An attribute that declares more data than the file holds.
    """
    fsize = _file_size(obj)
    out: dict[str, Any] = {}
    for name in obj.attrs:
        aid = obj.attrs.get_id(name)
        n = float(np.prod(aid.shape, dtype=np.float64)) if aid.shape is not None else 0.0
        if n * aid.get_type().get_size() > fsize:
            raise UnsafeFileError(
                f"attribute {printable(name)!r} of {_where(obj)} declares {int(n):,} values, more than the "
                f"file of {fsize:,} bytes can hold: the file is corrupt or crafted.")
        out[name] = obj.attrs[name]
    return out


def _bad_attr(obj: Any, key: str, expected: str, got: Any) -> UnsafeFileError:
    shown = printable(repr(got))
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return UnsafeFileError(f"attribute {printable(key)!r} of {_where(obj)} should be {expected}, "
                           f"got {shown}: the file is corrupt, or was not written by what it claims.")


def _scalar(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.shape == ():
        return v[()]
    return v


def attr_str(obj: Any, key: str, attrs: Any = None) -> str | None:
    """A string attribute (None when absent); anything but one string raises :class:`UnsafeFileError`."""
    attrs = obj.attrs if attrs is None else attrs
    if key not in attrs:
        return None
    v = _scalar(attrs[key])
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, str):
        return v
    raise _bad_attr(obj, key, "a string", v)


def attr_strings(obj: Any, key: str, attrs: Any = None) -> list[str] | None:
    """A list-of-strings attribute (a scalar string counts as one; an empty float array as none)."""
    attrs = obj.attrs if attrs is None else attrs
    if key not in attrs:
        return None
    v = attrs[key]
    arr = np.atleast_1d(np.asarray(v, dtype=object) if isinstance(v, (list, tuple)) else v)
    if arr.size == 0:
        return []
    if arr.ndim != 1 or not all(isinstance(x, (str, bytes, np.str_, np.bytes_)) for x in arr):
        raise _bad_attr(obj, key, "a 1-D array of strings", v)
    return [_decode(x) for x in arr]


def attr_shape(obj: Any, key: str, ndim: int = 2, attrs: Any = None) -> tuple[int, ...] | None:
    """A shape attribute: ``ndim`` non-negative integers (None when absent)."""
    attrs = obj.attrs if attrs is None else attrs
    if key not in attrs:
        return None
    v = np.asarray(attrs[key])
    if v.shape != (ndim,) or v.dtype.kind not in "iu" or (v < 0).any():
        raise _bad_attr(obj, key, f"{ndim} non-negative integers", attrs[key])
    return tuple(int(x) for x in v)


def attr_json(obj: Any, key: str, attrs: Any = None, *, kind: type = dict,
              check: Callable[[Any], str | None] | None = None) -> Any:
    """A JSON attribute, parsed and checked (None when absent).

    Parameters
    ----------
    obj : h5py object
        Its owner (named in errors).
    key : str
    attrs : mapping, optional
        Already-read attributes of ``obj`` (default ``obj.attrs``).
    kind : type
        What the JSON must be (``dict`` by default).
    check : callable, optional
        Returns a description of what is wrong with the parsed value, or None.

    Raises
    ------
    UnsafeFileError
        Not a string, not JSON, not a ``kind``, or ``check`` objects.
    """
    text = attr_str(obj, key, attrs)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _bad_attr(obj, key, f"JSON text ({exc})", text) from None
    if not isinstance(value, kind):
        raise _bad_attr(obj, key, f"a JSON {'object' if kind is dict else kind.__name__}", value)
    problem = check(value) if check is not None else None
    if problem:
        raise _bad_attr(obj, key, problem, value)
    return value
