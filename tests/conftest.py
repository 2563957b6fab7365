"""Shared test configuration: quiet progress bars, golden fixture paths."""
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("LAZYACT_PROGRESS", "0")

DATA = Path(__file__).parent / "data"
GOLDENS = DATA / "goldens"


def load_golden(name: str) -> dict:
    with np.load(GOLDENS / f"{name}.npz", allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


@pytest.fixture
def golden():
    return load_golden
