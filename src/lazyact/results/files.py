"""Files of results, whatever their format: the ``.partial`` name, target checks, errors.

Every writer writes ``path + ".partial"`` and moves it to ``path`` only when complete,
so a file under the final name is always complete; the lock, the journal of finished
blocks and the atomic moves are :mod:`lazyact.array.journal` (used by
:class:`~lazyact.array.sinks.BlockWriter` for every format). The errors raised by
readers and writers of results are defined or re-exported here.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from ..array.journal import PARTIAL_SUFFIX, DiskSpaceError, ResumeMismatchError, WriterBusyError

__all__ = [
    "PARTIAL_SUFFIX",
    "DiskSpaceError",
    "IncompleteFileError",
    "NotResultsFileError",
    "ResumeMismatchError",
    "WriterBusyError",
    "check_target",
    "partial_path",
]


class IncompleteFileError(OSError):
    """A results file is still being written (or was interrupted): a ``.partial`` file."""


class NotResultsFileError(ValueError):
    """The file is readable but holds no activity results."""


def partial_path(path: str | os.PathLike) -> Path:
    """The name a file is written under until it is complete: ``path + ".partial"``.

    Examples
    --------
    >>> partial_path("out/activity.h5").name
    'activity.h5.partial'
    """
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def check_target(final: Path, overwrite: bool) -> None:
    """Refuse, before any work, a destination that cannot be written or would be overwritten.

    Raises
    ------
    FileNotFoundError, NotADirectoryError, PermissionError
        The directory is missing, not a directory or not writable.
    IsADirectoryError
        ``final`` is a directory.
    FileExistsError
        ``final`` exists and ``overwrite`` is False.
    """
    parent = final.parent
    if not parent.exists():
        raise FileNotFoundError(errno.ENOENT, f"cannot write '{final}': directory '{parent}' does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write '{final}': '{parent}' is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot write '{final}': directory '{parent}' is not writable")
    if final.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write '{final}': it is a directory")
    if final.exists() and not overwrite:
        raise FileExistsError(
            errno.EEXIST, f"'{final}' exists; pass overwrite=True (CLI: --overwrite) to replace it "
            "(it is replaced only once the new file is complete)"
        )
