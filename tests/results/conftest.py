"""Fixtures of the results tests: CytoSig on the real bulk example."""
from __future__ import annotations

import pytest

import lazyact
from conftest import one_blas_thread

from .helpers import LY86, STATS


@pytest.fixture(scope="module")
def ly86():
    """CytoSig on the real bulk example, n_rand=100 (SecActPy's golden call)."""
    return lazyact.activity(LY86, "CytoSig", n_rand=100)


@pytest.fixture(scope="module")
def ly86_full():
    """The reference values, computed as the writers compute them (fresh, one BLAS thread)."""
    act = lazyact.activity(LY86, "CytoSig", n_rand=100)
    with one_blas_thread():
        return {n: act[n][:, :] for n in STATS}
