"""Module-level defaults of :mod:`lazyact.array`.

Change them at run time, e.g. ``lazyact.array.config.progress = False``. Environment
variables set the initial values:

``LAZYACT_CACHE_BYTES``
    default block-cache size in bytes (512 MiB).
``LAZYACT_THREADS``
    default number of worker threads (all CPUs available to the process).
``LAZYACT_PROGRESS``
    ``0``/``false``/``off`` silences the automatic progress bars; also honoured when set
    after import.
``LAZYACT_TIER_BYTES``
    largest result (all statistics) that full passes keep on disk in a scratch folder, so
    that the next full pass reads instead of computing (4 GiB; ``0`` turns it off).
``LAZYACT_TIER_DIR``
    where that scratch folder goes (default: the system's temporary folder).
"""
from __future__ import annotations

import os

__all__ = [
    "cache_bytes",
    "threads",
    "progress",
    "progress_delay",
    "progress_min_blocks",
    "max_materialise_bytes",
    "iter_bytes",
    "block_bytes",
    "tier_bytes",
    "tier_dir",
    "default_threads",
    "progress_enabled",
    "format_bytes",
]

_OFF = {"0", "false", "no", "off", ""}


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return int(float(value))


#: Default byte bound of a :class:`~lazyact.array.blocks.BlockStore`'s cache.
cache_bytes: int = _env_int("LAZYACT_CACHE_BYTES", 512 * 2**20)  # type: ignore[assignment]
#: Default worker threads; ``None`` means all CPUs available to the process.
threads: int | None = _env_int("LAZYACT_THREADS", None)
#: Automatic progress bars on long block-wise work (reductions, materialisation).
progress: bool = os.environ.get("LAZYACT_PROGRESS", "1").strip().lower() not in _OFF
#: Seconds of work before an automatic progress bar appears (tqdm ``delay``).
progress_delay: float = 1.0
#: Automatic progress bars only for more blocks than this.
progress_min_blocks: int = 8
#: ``LazyArray.as_numpy`` refuses results larger than this unless forced.
max_materialise_bytes: int = 2 * 2**30
#: ``iter(LazyArray)`` computes bands of at most this many bytes at a time.
iter_bytes: int = 64 * 2**20
#: Target bytes of one block (all outputs together) when chunks are chosen automatically.
block_bytes: int = 16 * 2**20
#: Results up to this size (all outputs) keep the blocks of full passes in a scratch folder
#: on disk (a second full pass reads them); ``0`` turns the scratch tier off.
tier_bytes: int = _env_int("LAZYACT_TIER_BYTES", 4 * 2**30)  # type: ignore[assignment]
#: Folder of the scratch tiers (None: the system's temporary folder).
tier_dir: str | None = os.environ.get("LAZYACT_TIER_DIR") or None


def default_threads() -> int:
    """Number of worker threads to use when none is given."""
    if threads is not None:
        return max(1, int(threads))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def progress_enabled() -> bool:
    """Whether automatic progress bars are allowed (``progress`` and the environment)."""
    env = os.environ.get("LAZYACT_PROGRESS")
    if env is not None and env.strip().lower() in _OFF:
        return False
    return bool(progress)


def format_bytes(n: float) -> str:
    """A byte count for messages, in binary units.

    Examples
    --------
    >>> format_bytes(512), format_bytes(3 * 2**20)
    ('512 B', '3.0 MiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover
