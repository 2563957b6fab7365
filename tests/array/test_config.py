"""lazyact.array.config: environment values are read and checked when used, never at import."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from array_toys import Toy

from lazyact.array import BlockStore, LazyArray, config
from lazyact.array.config import ConfigError

BAD = {
    "LAZYACT_THREADS": ("two", r"LAZYACT_THREADS='two' is not valid: expected a positive integer"),
    "LAZYACT_CACHE_BYTES": ("512MB", r"LAZYACT_CACHE_BYTES='512MB' is not valid: expected a non-negative number of bytes"),
    "LAZYACT_PROGRESS": ("maybe", r"LAZYACT_PROGRESS='maybe' is not valid: expected one of 1, true, yes, on"),
}


def test_invalid_environment_values_do_not_break_the_import():
    env = dict(os.environ, **{k: v for k, (v, _) in BAD.items()})
    code = ("import lazyact\n"
            "from lazyact.array import config\n"
            "try:\n    config.default_threads()\n"
            "except config.ConfigError as e:\n    print('ConfigError:', e)\n")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "ConfigError: LAZYACT_" in res.stdout and "is not valid: expected" in res.stdout


@pytest.mark.parametrize("var", sorted(BAD))
def test_invalid_environment_values_fail_at_use_naming_the_variable(monkeypatch, var):
    value, message = BAD[var]
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=message) as err:
        view = LazyArray(BlockStore(Toy((3, 4)), chunks=(1, 1)), "a")
        view.mean(axis=1)  # progress is decided here
    assert isinstance(err.value, ValueError)


def test_environment_is_read_at_use_and_python_settings_win(monkeypatch):
    monkeypatch.setenv("LAZYACT_THREADS", "3")
    monkeypatch.setenv("LAZYACT_CACHE_BYTES", "1e6")
    assert config.threads == 3 and config.default_threads() == 3 and config.cache_bytes == 1_000_000
    store = BlockStore(Toy((3, 4)))
    assert store.nthreads == 3 and store.cache.max_bytes == 1_000_000
    monkeypatch.setattr(config, "threads", 2)  # set in Python: the environment no longer matters
    monkeypatch.setenv("LAZYACT_THREADS", "nonsense")
    assert store.nthreads == 2 and BlockStore(Toy((3, 4))).nthreads == 2
    monkeypatch.undo()
    monkeypatch.delenv("LAZYACT_THREADS", raising=False)
    assert config.threads is None and config.default_threads() >= 1
    for empty in ("", " "):
        monkeypatch.setenv("LAZYACT_THREADS", empty)
        assert config.threads is None
    for var, value in (("LAZYACT_THREADS", "0"), ("LAZYACT_THREADS", "1.5"), ("LAZYACT_CACHE_BYTES", "-1"),
                       ("LAZYACT_CACHE_BYTES", "nan")):  # fmt: skip
        monkeypatch.setenv(var, value)
        with pytest.raises(ConfigError, match=var):
            BlockStore(Toy((3, 4)))
        monkeypatch.delenv(var)
    monkeypatch.setenv("LAZYACT_PROGRESS", "off")
    assert not config.progress_enabled() and np.isfinite(LazyArray(BlockStore(Toy((3, 4))), "a").mean())
