"""Files of results, whatever their format: the ``.partial`` name, target checks, the atomic move.

Every writer writes ``path + ".partial"`` and moves it to ``path`` only when complete
(:func:`commit`: flushed to disk first, then :func:`os.replace`), so a file under the
final name is always complete. The errors raised by readers and writers of results
are defined here.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = [
    "PARTIAL_SUFFIX",
    "IncompleteFileError",
    "NotResultsFileError",
    "ResumeMismatchError",
    "check_target",
    "commit",
    "fsync_path",
    "partial_path",
]

#: Suffix of a file being written.
PARTIAL_SUFFIX = ".partial"


class IncompleteFileError(OSError):
    """A results file is still being written (or was interrupted): a ``.partial`` file."""


class ResumeMismatchError(ValueError):
    """A ``.partial`` file was written for other inputs or another layout."""


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


def fsync_path(path: Path) -> None:
    """Flush a closed file's data to disk (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def commit(partial: Path, final: Path) -> Path:
    """Move the complete, closed ``partial`` file to ``final`` (flushed to disk first); return ``final``."""
    fsync_path(partial)
    os.replace(partial, final)
    return final
