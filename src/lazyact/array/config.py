"""Module-level defaults of :mod:`lazyact.array`.

Change them at run time, e.g. ``lazyact.array.config.progress = False`` or
``lazyact.array.config.max_materialise_bytes = 8 * 2**30``. Three of them come from
environment variables until they are set in Python (``del config.threads`` goes back
to the environment):

``LAZYACT_CACHE_BYTES``
    default block-cache size in bytes (512 MiB): a non-negative number, e.g. ``1e9``.
``LAZYACT_THREADS``
    default number of worker threads: a positive integer (unset or empty: all CPUs
    available to the process).
``LAZYACT_PROGRESS``
    automatic progress bars: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``.
``LAZYACT_TIER_BYTES``
    largest result (all statistics) whose full passes are kept on disk in a scratch
    folder, so that the next full pass reads instead of computing (4 GiB; ``0``: never).
``LAZYACT_TIER_DIR``
    where that scratch folder goes (unset or empty: the system's temporary folder).

The environment is read when a value is used, not when lazyact is imported: an invalid
value raises :class:`ConfigError` (a ``ValueError``) naming the variable and the values
it accepts at that moment, so ``import lazyact`` always works.

Examples
--------
>>> import os
>>> from lazyact.array import config
>>> os.environ["LAZYACT_THREADS"] = "many"
>>> config.threads
Traceback (most recent call last):
...
lazyact.array.config.ConfigError: LAZYACT_THREADS='many' is not valid: expected a positive integer (the number of worker threads), or unset/empty for all CPUs
>>> os.environ["LAZYACT_THREADS"] = "3"
>>> config.threads
3
>>> del os.environ["LAZYACT_THREADS"]
"""
from __future__ import annotations

import os
from typing import Any, Callable

__all__ = [
    "ConfigError",
    "cache_bytes",
    "threads",
    "progress",
    "progress_delay",
    "progress_min_blocks",
    "progress_seconds",
    "max_materialise_bytes",
    "iter_bytes",
    "block_bytes",
    "tier_bytes",
    "tier_dir",
    "default_threads",
    "progress_enabled",
    "format_bytes",
]


class ConfigError(ValueError):
    """An invalid ``LAZYACT_*`` environment value (raised where the value is used)."""


_OFF = {"0", "false", "no", "off", ""}
_ON = {"1", "true", "yes", "on"}


def _invalid(name: str, value: str, expected: str) -> ConfigError:
    return ConfigError(f"{name}={value!r} is not valid: expected {expected}")


def _parse_bytes(name: str, value: str) -> int:
    try:
        n = float(value)
    except ValueError:
        n = float("nan")
    if not n >= 0 or n == float("inf"):  # also NaN
        raise _invalid(name, value, "a non-negative number of bytes, e.g. 536870912 or 5e8")
    return int(n)


def _parse_threads(name: str, value: str) -> int | None:
    if value.strip() == "":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise _invalid(name, value, "a positive integer (the number of worker threads), or unset/empty for all CPUs")
    return n


def _parse_switch(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _OFF:
        return False
    if v in _ON:
        return True
    raise _invalid(name, value, "one of 1, true, yes, on (progress bars) or 0, false, no, off (none)")


#: Settings read from the environment at use: name -> (variable, parser, default).
_FROM_ENV: dict[str, tuple[str, Callable[[str, str], Any], Any]] = {
    "cache_bytes": ("LAZYACT_CACHE_BYTES", _parse_bytes, 512 * 2**20),
    "threads": ("LAZYACT_THREADS", _parse_threads, None),
    "progress": ("LAZYACT_PROGRESS", _parse_switch, True),
    "tier_bytes": ("LAZYACT_TIER_BYTES", _parse_bytes, 4 * 2**30),
    "tier_dir": ("LAZYACT_TIER_DIR", lambda name, value: value.strip() or None, None),
}


def _from_env(setting: str) -> Any:
    var, parse, default = _FROM_ENV[setting]
    value = os.environ.get(var)
    return default if value is None else parse(var, value)


def __getattr__(name: str) -> Any:
    # ``cache_bytes``, ``threads``, ``progress``, ``tier_bytes``, ``tier_dir`` until they are set in Python
    if name in _FROM_ENV:
        return _from_env(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _setting(name: str) -> Any:
    """A setting set in Python, else from the environment (module functions cannot rely on
    the module ``__getattr__``)."""
    value = globals().get(name, _FROM_ENV)
    return _from_env(name) if value is _FROM_ENV else value


#: Default byte bound of a :class:`~lazyact.array.blocks.BlockStore`'s cache
#: (``LAZYACT_CACHE_BYTES``, 512 MiB); read from the environment until set here.
cache_bytes: int
#: Default worker threads; ``None`` means all CPUs available to the process
#: (``LAZYACT_THREADS``); read from the environment until set here.
threads: int | None
#: Automatic progress bars on long block-wise work (``LAZYACT_PROGRESS``); read from the
#: environment until set here. ``LAZYACT_PROGRESS=0`` silences them even then.
progress: bool
#: Results up to this size (all outputs) keep the blocks of full passes in a scratch folder on
#: disk, so that a second full pass reads them (``LAZYACT_TIER_BYTES``, 4 GiB; ``0``: never);
#: read from the environment until set here.
tier_bytes: int
#: Folder of the scratch tiers (``LAZYACT_TIER_DIR``; None: the system's temporary folder).
tier_dir: str | None
#: Seconds of work before an automatic progress bar appears (tqdm ``delay``).
progress_delay: float = 1.0
#: Without a time estimate yet, automatic progress bars only for more blocks than this.
progress_min_blocks: int = 8
#: Automatic progress bars for work estimated (from the store's timings) to take at
#: least this many seconds, however few blocks it has.
progress_seconds: float = 2.0
#: ``LazyArray.as_numpy``, indexing (``view[key]``, ``.loc``, ``.oindex``) and NumPy
#: ufuncs refuse results larger than this; ``as_numpy(force=True)`` ignores it, and
#: setting it (e.g. to ``8 * 2**30``) raises it for everything.
max_materialise_bytes: int = 2 * 2**30
#: ``iter(LazyArray)`` computes bands of at most this many bytes at a time.
iter_bytes: int = 64 * 2**20
#: Target bytes of one block (all outputs together) when chunks are chosen automatically.
block_bytes: int = 16 * 2**20


def default_threads() -> int:
    """Number of worker threads to use when none is given."""
    n = _setting("threads")
    if n is not None:
        return max(1, int(n))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def progress_enabled() -> bool:
    """Whether automatic progress bars are allowed (``progress`` and the environment)."""
    env = os.environ.get("LAZYACT_PROGRESS")
    if env is not None and not _parse_switch("LAZYACT_PROGRESS", env):
        return False
    return bool(_setting("progress"))


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
