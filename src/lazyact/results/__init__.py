"""Stored activity results: one module per file format, read and written together.

* :mod:`~lazyact.results.hdf5` -- SecActPy's streaming-writer HDF5 layout (``to_hdf5``)
  and the resumable HDF5 container the ``.h5ad`` format shares;
* :mod:`~lazyact.results.h5ad` -- AnnData's layout (``to_h5ad``), and ``obsm`` reading;
* :mod:`~lazyact.results.files` -- the ``.partial`` name, target checks, the errors
  (the lock, journal and atomic moves of every writer: :mod:`lazyact.array.journal`);
* :mod:`~lazyact.results.fingerprint` -- the identity of an activity's inputs;
* :mod:`~lazyact.results.io` -- :class:`ActivityIO`, the writers of an activity;
* :mod:`~lazyact.results.stored` -- :class:`StoredActivity` and :func:`open`;
* :mod:`~lazyact.results.info` -- :func:`file_info` / :func:`format_info` (``lazyact info``).
"""
from .files import (
    DiskSpaceError,
    IncompleteFileError,
    NotResultsFileError,
    ResumeMismatchError,
    WriterBusyError,
    partial_path,
)
from .fingerprint import fingerprint, fingerprint_parts
from .h5ad import read_obsm, write_h5ad
from .hdf5 import write_hdf5
from .info import file_info, format_info
from .io import FORMAT, ActivityIO
from .stored import StoredActivity, StoredBlocks, is_results_file, open, open_results

__all__ = [
    "FORMAT",
    "ActivityIO",
    "DiskSpaceError",
    "IncompleteFileError",
    "NotResultsFileError",
    "ResumeMismatchError",
    "StoredActivity",
    "StoredBlocks",
    "WriterBusyError",
    "file_info",
    "fingerprint",
    "fingerprint_parts",
    "format_info",
    "is_results_file",
    "open",
    "open_results",
    "partial_path",
    "read_obsm",
    "write_h5ad",
    "write_hdf5",
]
