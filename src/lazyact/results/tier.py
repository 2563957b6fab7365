"""Disk tiers of an activity's block store (:class:`~lazyact.array.tier.BlockTier`).

* :class:`ScratchTier` -- the blocks of full passes, one ``.npy`` file per full-height
  column block in a private temporary folder (removed when the activity goes away): the
  second reduction, ranking or write over the same activity reads them instead of
  computing. :func:`scratch_tier` decides whether an activity gets one
  (:data:`lazyact.array.config.tier_bytes`).
* :class:`FileTier` -- a complete results file (``act.persist(path)``): every block is read
  from it.
"""
from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import tempfile
import threading
import weakref
from typing import Any, Mapping, Sequence

import numpy as np

from ..array import BlockStore, config, format_bytes

__all__ = ["FileTier", "ScratchTier", "scratch_tier"]

log = logging.getLogger(__name__)


class ScratchTier:
    """Full-height column blocks of a store, one ``.npy`` file each, in a temporary folder.

    The folder is made on the first block given and removed with the tier (or at exit).
    A block file is complete before it is counted (written under a temporary name, then
    renamed). When the disk fills up the tier stops taking blocks, logs why, and keeps
    serving the ones it has. Pickled (to a dask worker, a child process) it is empty and
    takes nothing: only the process that made it reads its files.

    Parameters
    ----------
    names : sequence of str
        The store's outputs.
    shape : (int, int)
    width : int
        Columns per block (the store's column chunk, so full passes fill whole blocks).
    dtype : numpy.dtype
    directory : str, optional
        Parent of the scratch folder (default :data:`lazyact.array.config.tier_dir`, else
        the system's temporary folder).

    Examples
    --------
    >>> tier = ScratchTier(("a",), (2, 4), width=2)
    >>> tier.write(1, {"a": np.ones((2, 2))})
    >>> tier.done().tolist(), tier.read(np.arange(2), np.array([2, 3]))["a"].sum()
    ([False, True], np.float64(4.0))
    >>> tier.close(); tier.done().tolist()
    [False, False]
    """

    def __init__(self, names: Sequence[str], shape: tuple[int, int], width: int, dtype: Any = np.float64,
                 directory: str | None = None):
        self.names = tuple(names)
        self.shape = (int(shape[0]), int(shape[1]))
        self.width = max(1, int(width))
        self.dtype = np.dtype(dtype)
        self.parent = directory if directory is not None else config.tier_dir
        n_blocks = -(-self.shape[1] // self.width)
        self._done = np.zeros(n_blocks, dtype=bool)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._dir: str | None = None
        self._finalizer: Any = None
        self.writable = True

    @property
    def location(self) -> str:
        return self._dir or "a scratch folder (empty)"

    @property
    def nbytes(self) -> int:
        """Bytes of the whole result (every output)."""
        return self.shape[0] * self.shape[1] * self.dtype.itemsize * len(self.names)

    def _path(self, k: int) -> str:
        return os.path.join(self._dir or "", f"block{k:08d}.npy")

    def done(self) -> np.ndarray:
        if self._pid != os.getpid():  # a forked child: the files are the parent's
            return np.zeros_like(self._done)
        return self._done.copy()

    def read(self, rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
        out = {n: np.empty((rows.size, cols.size), dtype=self.dtype) for n in self.names}
        k_of = cols // self.width
        full = rows.size == self.shape[0]
        for k in np.unique(k_of).tolist():
            pos = np.flatnonzero(k_of == k)
            local = cols[pos] - k * self.width
            stack = np.load(self._path(k), mmap_mode="r", allow_pickle=False)
            for i, n in enumerate(self.names):
                a = stack[i]
                out[n][:, pos] = a[:, local] if full else a[np.ix_(rows, local)]
        return out

    def _start(self) -> bool:
        """Make the folder on the first block (False when the tier cannot take blocks)."""
        if self._dir is not None:
            return True
        parent = self.parent or tempfile.gettempdir()
        try:
            free = shutil.disk_usage(parent).free
        except OSError:
            free = 0
        if free < self.nbytes + 2**30:
            log.info("not keeping full passes on disk: %s free in %s for %s of results; a second full pass "
                     "recomputes (act.persist(path) writes them once)", format_bytes(free), parent,
                     format_bytes(self.nbytes))
            self.writable = False
            return False
        self._dir = tempfile.mkdtemp(prefix=f"lazyact-tier-{os.getpid()}-", dir=parent)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        log.info("keeping the blocks of full passes in %s (up to %s)", self._dir, format_bytes(self.nbytes))
        return True

    def write(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:
        if self._pid != os.getpid():
            return
        with self._lock:
            if not self.writable or self._done[k] or not self._start():
                return
        tmp = f"{self._path(k)}.{threading.get_ident()}.tmp"
        try:
            stack = np.ascontiguousarray(np.stack([np.asarray(arrays[n], dtype=self.dtype) for n in self.names]))
            _save(tmp, stack)
            os.replace(tmp, self._path(k))
        except OSError as exc:
            with self._lock:
                self.writable = False
            try:
                os.unlink(tmp)
            except OSError:
                pass
            log.warning("stopped keeping full passes on disk in %s (%s); the blocks kept so far are still read, "
                        "the others are computed again when needed", self._dir, exc)
            return
        with self._lock:
            self._done[k] = True

    def close(self) -> None:
        """Remove the folder; the tier is empty and takes nothing afterwards."""
        with self._lock:
            self.writable = False
            self._done[:] = False
            if self._finalizer is not None:
                self._finalizer()

    def __getstate__(self) -> dict:
        return {"names": self.names, "shape": self.shape, "width": self.width, "dtype": self.dtype.str}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["names"], state["shape"], state["width"], state["dtype"])
        self.writable = False

    def __repr__(self) -> str:
        return f"ScratchTier({int(self._done.sum())} of {self._done.size} blocks in {self.location})"


def _save(path: str, a: np.ndarray) -> None:
    """Write ``a`` as a ``.npy`` file with checked writes (``np.save`` can lose a short write unnoticed)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(a))
    with open(path, "wb") as fh:
        fh.write(header.getvalue())
        fh.write(memoryview(a).cast("B"))
        fh.flush()
        if os.fstat(fh.fileno()).st_size != header.tell() + a.nbytes:
            raise OSError(errno.EIO, f"short write of {path}")


class FileTier:
    """A complete results file as the tier of an activity: every block is read from it.

    Parameters
    ----------
    blocks : callable
        ``blocks(rows, cols) -> {statistic: array}``, e.g. a
        :class:`~lazyact.results.stored.StoredBlocks` (which pickles as its path, so dask
        workers read the file too).
    n_cols : int
    location : str
        The file.
    """

    writable = False

    def __init__(self, blocks: Any, n_cols: int, location: str):
        self.blocks = blocks
        self.width = max(1, int(n_cols))
        self.location = str(location)

    def done(self) -> np.ndarray:
        return np.ones(1, dtype=bool)

    def read(self, rows: np.ndarray, cols: np.ndarray) -> Mapping[str, np.ndarray]:
        return self.blocks(rows, cols)

    def write(self, k: int, arrays: Mapping[str, np.ndarray]) -> None:  # pragma: no cover - never writable
        raise TypeError("a persisted results file is read-only")

    def close(self) -> None:
        close = getattr(self.blocks, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"FileTier('{self.location}')"


def scratch_tier(store: BlockStore) -> ScratchTier | None:
    """A :class:`ScratchTier` for ``store``, or None when the results are larger than
    :data:`lazyact.array.config.tier_bytes` (or full passes would not fill whole blocks)."""
    p, m = store.shape
    nbytes = p * m * store.dtype.itemsize * len(store.names)
    if config.tier_bytes <= 0 or nbytes == 0:
        return None
    if nbytes > config.tier_bytes:
        log.info("results are %s, more than lazyact.array.config.tier_bytes (%s): full passes are not kept on "
                 "disk; act.persist(path) writes them once and then reads the file", format_bytes(nbytes),
                 format_bytes(config.tier_bytes))
        return None
    if store.chunks[0] < p:
        return None
    return ScratchTier(store.names, store.shape, store.chunks[1], store.dtype)
