"""Crash-safe bookkeeping of a resumable block writer: a lock, a journal, free-space checks.

Nothing here knows a file format; :class:`~lazyact.array.sinks.BlockWriter` uses it for
every :class:`~lazyact.array.sinks.BlockLayout` (HDF5, AnnData, zarr), so any layout
gets the same guarantees by implementing that protocol.

The files of an output ``out`` (:class:`OutputFiles`)
-----------------------------------------------------
``out``
    The complete output, moved into place only when finished (a file or a directory).
``out.partial``
    The unfinished output, in the layout's format. Never trusted by itself: a kill
    can leave a block half written, or HDF5's chunk index flushed before the chunk it
    points to, so nothing inside it says which blocks are done.
``out.journal``
    Which blocks are done (:class:`Journal`). A text file, append-only::

        lazyact-journal 1 {"identity": {...}, "plan": {...}} 5f0c1e2a
        block 0 3b1f...e9 width=40 0c44aa17
        block 1 9a02...71 51d0b2c3

    The first line holds the identity of the run (fingerprint of the inputs and the
    layout's options) and the plan (block width, chunks); every other line records a
    finished block ``k`` with a digest of its content as written
    (:func:`block_digest`). Each line ends with the CRC-32 of what precedes it, so a
    torn or garbled line (a kill in the middle of the append) is ignored. A line is
    appended and fsynced only AFTER the block it names was written and fsynced.
``out.partial.new``
    A fresh output being filled with the verified blocks of an interrupted one.
``out.lock``
    The writer's lock: an ``fcntl.flock`` held for the whole run (:class:`WriteLock`).
    The kernel releases it when the holder dies, so a killed writer leaves no stale
    lock; a second writer is refused, never let in.

Resuming
--------
A writer never writes into an interrupted partial (its HDF5 metadata may be torn).
It opens it read-only, reads back each journaled block and keeps those whose digest
matches, copies them into ``out.partial.new``, rewrites the journal atomically with
only those blocks, atomically replaces ``out.partial`` by the new file, and continues.
A kill at any point of this leaves files from which the same procedure recovers: until
the journal is replaced the old journal and old partial stand; after it, every block
it names is intact in both the old and the new partial.

Free space
----------
:func:`check_free_space` compares ``statvfs`` with an upper bound of what the next
step writes (:func:`write_bound`), so that a full disk stops the run with a clear
error before the file format's library hits ``ENOSPC`` in the middle of a flush.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .config import format_bytes

__all__ = [
    "DiskSpaceError",
    "Journal",
    "JournalRecord",
    "OutputFiles",
    "ResumeMismatchError",
    "WriteLock",
    "WriterBusyError",
    "block_digest",
    "check_free_space",
    "fsync_dir",
    "fsync_path",
    "journal_progress",
    "remove_output",
    "replace_output",
    "write_bound",
]

#: Suffix of an unfinished output.
PARTIAL_SUFFIX = ".partial"
#: Header tag of a journal (format version 1).
MAGIC = "lazyact-journal 1"
#: Bytes kept free beyond the bound of each step (file-system metadata, the journal).
space_margin: int = 64 * 2**10
#: Check free space before each block (False: let the format hit ENOSPC; for tests).
preflight: bool = True


class WriterBusyError(OSError):
    """Another process is writing the same output (it holds the lock)."""


class DiskSpaceError(OSError):
    """Not enough free space for the next step of a write (checked before writing)."""


class ResumeMismatchError(ValueError):
    """An unfinished output was written for other inputs or with other options."""


# --------------------------------------------------------------------------- names
@dataclass(frozen=True)
class OutputFiles:
    """The paths of an output being written (see the module docstring).

    Examples
    --------
    >>> f = OutputFiles.of("out/act.h5")
    >>> f.partial.name, f.journal.name, f.lock.name, f.fresh.name
    ('act.h5.partial', 'act.h5.journal', 'act.h5.lock', 'act.h5.partial.new')
    """

    final: Path
    partial: Path
    fresh: Path
    journal: Path
    lock: Path

    @classmethod
    def of(cls, final: str | os.PathLike) -> "OutputFiles":
        p = Path(os.fspath(final))
        part = p.with_name(p.name + PARTIAL_SUFFIX)
        return cls(final=p, partial=part, fresh=part.with_name(part.name + ".new"),
                   journal=p.with_name(p.name + ".journal"), lock=p.with_name(p.name + ".lock"))


# --------------------------------------------------------------------------- durability
def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames and creations inside directory ``path`` durable (best effort)."""
    try:
        fsync_path(path)
    except OSError:  # pragma: no cover - e.g. a file system without directory fsync
        pass


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in files:
                fsync_path(Path(root) / name)
            fsync_dir(Path(root))
    else:
        fsync_path(path)


def _old(path: Path) -> Path:
    return path.with_name(path.name + ".old")


def remove_output(path: Path) -> None:
    """Delete an output (a file or a directory tree) if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    old = _old(path)
    if old.is_dir():
        shutil.rmtree(old)


def recover_output(path: Path) -> None:
    """Finish an interrupted :func:`replace_output` of a directory (``path.old`` left)."""
    old = _old(path)
    if old.exists():
        if path.exists():
            remove_output(old)
        else:  # killed between the two renames: the old one stands
            os.rename(old, path)
            fsync_dir(path.parent)


def replace_output(src: Path, dst: Path) -> None:
    """Flush ``src`` to disk and put it in place of ``dst``, atomically for files.

    A file is moved with :func:`os.replace`. A directory (which cannot replace a
    non-empty one) goes in two renames, ``dst -> dst.old`` then ``src -> dst``; a kill
    between them is undone by :func:`recover_output`.
    """
    _fsync_tree(src)
    if src.is_dir() and dst.exists():
        old = _old(dst)
        if old.exists():
            remove_output(old)
        os.rename(dst, old)
        os.rename(src, dst)
        fsync_dir(dst.parent)
        shutil.rmtree(old)
    else:
        os.replace(src, dst)
    fsync_dir(dst.parent)


# --------------------------------------------------------------------------- lock
class WriteLock:
    """An exclusive ``fcntl.flock`` on ``path`` (a small lock file) while an output is written.

    The lock file holds the writer's process id (for the message of a refused writer).
    Released by :meth:`release` (which deletes the file) or by the kernel when the
    holder dies: a file left by a killed writer is not locked and is taken over.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "out.h5.lock"
    >>> with WriteLock(p, "out.h5"):
    ...     try:
    ...         WriteLock(p, "out.h5").acquire()
    ...     except WriterBusyError as e:
    ...         print(e.strerror[:49])
    'out.h5' is being written by another process (pid
    >>> p.exists()
    False
    """

    def __init__(self, path: Path, what: str | os.PathLike):
        self.path = Path(path)
        self.what = os.fspath(what)
        self.fd: int | None = None

    def acquire(self) -> "WriteLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                try:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                finally:
                    os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise WriterBusyError(
                        errno.EBUSY, f"'{self.what}' is being written by another process (pid {holder}, lock "
                        f"'{self.path}'); wait for it to finish or stop it, then run again") from None
                raise
            try:  # the file may have been released and deleted between open and flock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()
        except OSError:  # pragma: no cover
            pass
        os.close(self.fd)  # closing releases the flock
        self.fd = None

    def __enter__(self) -> "WriteLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


# --------------------------------------------------------------------------- journal
def block_digest(arrays: Mapping[str, np.ndarray], names: Sequence[str]) -> str:
    """Digest of a block's content: the outputs ``names`` (dtype, shape and bytes, in order).

    Examples
    --------
    >>> a = {"x": np.arange(6.0).reshape(2, 3)}
    >>> block_digest(a, ["x"]) == block_digest({"x": np.arange(6.0).reshape(2, 3).copy()}, ["x"])
    True
    >>> block_digest(a, ["x"]) == block_digest({"x": np.arange(6.0).reshape(3, 2)}, ["x"])
    False
    """
    h = hashlib.blake2b(digest_size=20)
    for n in names:
        a = np.ascontiguousarray(arrays[n])
        h.update(f"{n}\x1f{a.dtype.str}\x1f{a.shape}\x1e".encode())
        h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def _line(text: str) -> bytes:
    return f"{text} {zlib.crc32(text.encode()):08x}\n".encode()


def _parse(raw: bytes) -> str | None:
    """The text of a journal line, or None when it is torn or garbled."""
    if not raw.endswith(b"\n"):
        return None
    try:
        text, crc = raw[:-1].decode("utf-8").rsplit(" ", 1)
    except (UnicodeDecodeError, ValueError):
        return None
    return text if crc == f"{zlib.crc32(text.encode()):08x}" else None


@dataclass
class JournalRecord:
    """What a journal says: its header and the digest of each finished block.

    ``extras`` holds per-block ``key=value`` notes (e.g. ``width`` on block 0).
    """

    header: dict
    blocks: dict[int, str]
    extras: dict[int, dict[str, str]]


class Journal:
    """The append-only record of finished blocks of an output (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "out.h5.journal"
    >>> j = Journal.create(p, {"plan": {"width": 8}}, {0: "ab"})
    >>> j.append(1, "cd", width=8); j.close()
    >>> with open(p, "ab") as f:
    ...     _ = f.write(b"block 2 ef 1234")  # torn by a kill
    >>> r = Journal.read(p)
    >>> r.header, r.blocks, r.extras
    ({'plan': {'width': 8}}, {0: 'ab', 1: 'cd'}, {1: {'width': '8'}})
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd

    @staticmethod
    def read(path: Path) -> JournalRecord | None:
        """The journal at ``path``, or None when it is missing or its header is unreadable."""
        try:
            data = Path(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return None
        lines = data.splitlines(keepends=True)
        head = _parse(lines[0]) if lines else None
        if head is None or not head.startswith(MAGIC + " "):
            return None
        try:
            header = json.loads(head[len(MAGIC) + 1:])
        except ValueError:
            return None
        blocks: dict[int, str] = {}
        extras: dict[int, dict[str, str]] = {}
        for raw in lines[1:]:
            text = _parse(raw)
            if text is None:
                continue  # a torn or garbled line: that block is not recorded
            parts = text.split(" ")
            if len(parts) < 3 or parts[0] != "block" or not parts[1].isdigit():
                continue
            k = int(parts[1])
            blocks[k] = parts[2]
            notes = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            if notes:
                extras[k] = notes
        return JournalRecord(header, blocks, extras)

    @classmethod
    def create(cls, path: Path, header: Mapping[str, Any], blocks: Mapping[int, str],
               extras: Mapping[int, Mapping[str, Any]] | None = None) -> "Journal":
        """Write a journal atomically (a temporary file, fsynced, renamed over ``path``) and open it."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        body = _line(f"{MAGIC} {json.dumps(header, sort_keys=True)}")
        for k in sorted(blocks):
            body += _line(cls._entry(k, blocks[k], (extras or {}).get(k, {})))
        try:
            with open(tmp, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
        return cls(path, os.open(path, os.O_WRONLY | os.O_APPEND))

    @staticmethod
    def _entry(k: int, digest: str, notes: Mapping[str, Any]) -> str:
        return " ".join([f"block {int(k)} {digest}", *(f"{key}={value}" for key, value in notes.items())])

    def append(self, k: int, digest: str, **notes: Any) -> None:
        """Record block ``k`` as finished (one line, fsynced before returning)."""
        line = _line(self._entry(k, digest, notes))
        if os.write(self.fd, line) != len(line):  # pragma: no cover - a short write: the CRC drops the line
            raise OSError(errno.EIO, f"short write to '{self.path}'")
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None  # type: ignore[assignment]


def journal_progress(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(blocks saved, blocks)`` of the unfinished output ``path`` (or its partial) from its journal, or None.

    Counts the journal's entries (a resume verifies them before trusting them).
    """
    p = Path(os.fspath(path))
    if p.name.endswith(PARTIAL_SUFFIX):
        p = p.with_name(p.name[: -len(PARTIAL_SUFFIX)])
    record = Journal.read(OutputFiles.of(p).journal)
    if record is None:
        return None
    n = record.header.get("plan", {}).get("n_blocks")
    return (len(record.blocks), int(n)) if isinstance(n, int) else None


# --------------------------------------------------------------------------- free space
def write_bound(n_values: int, itemsize: int, n_chunks: int = 1) -> int:
    """Upper bound of the bytes a format writes for ``n_values`` values in ``n_chunks`` chunks.

    Compression can grow incompressible data slightly (deflate: 5 bytes per 16 KiB block
    plus a header), and each chunk costs an index entry; 1% + 1 KiB per chunk covers both.

    >>> write_bound(1000, 8, 2)
    10128
    """
    raw = int(n_values) * int(itemsize)
    return raw + raw // 100 + 1024 * max(1, int(n_chunks))


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer can still use on the file system of ``directory``."""
    st = os.statvfs(directory)
    return int(st.f_bavail) * int(st.f_frsize)


def check_free_space(directory: Path, need: int, what: str, advice: str) -> None:
    """Raise :class:`DiskSpaceError` unless ``need`` bytes (plus :data:`space_margin`) are free.

    ``what`` names the step ("block 5 of 40 of 'out.h5'"), ``advice`` says what to do.
    """
    if not preflight:
        return
    free = free_bytes(directory)
    if free < need + space_margin:
        raise DiskSpaceError(
            errno.ENOSPC, f"not enough free space in '{directory}' for {what}: it needs about "
            f"{format_bytes(need + space_margin)}, {format_bytes(free)} are free. {advice}")
