"""Shared test configuration: quiet progress bars, golden fixture paths."""
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("LAZYACT_PROGRESS", "0")

# --doctest-modules imports every module under tests/: the SecActPy golden generators run in their own
# virtualenv with SecActPy installed (tests/goldens/README.md), so they are not collected here.
collect_ignore_glob = ["goldens/make_*.py"]

DATA = Path(__file__).parent / "data"
GOLDENS = DATA / "goldens"


def load_golden(name: str) -> dict:
    with np.load(GOLDENS / f"{name}.npz", allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


@pytest.fixture
def golden():
    return load_golden


@pytest.fixture(scope="session")
def secact_signature():
    """Path of the 80 MB SecAct signature: found locally, else fetched from PyPI, else skip."""
    from lazyact.signatures import fetch_secact, signature_path

    try:
        return signature_path("SecAct")
    except FileNotFoundError:
        pass
    try:
        return fetch_secact()
    except Exception as exc:  # offline machine
        pytest.skip(f"SecAct signature not available and could not be fetched: {exc}")
