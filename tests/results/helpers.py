"""Shared helpers of the results tests: data paths, a toy store, file comparison."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from array_toys import Toy

from lazyact.array import BlockStore

DATA = Path(__file__).resolve().parents[1] / "data"
LY86 = DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"
STORED = DATA / "stored"
STATS = ("beta", "se", "zscore", "pvalue")


def toy_store(shape=(7, 23), chunks=(3, 4), threads=2, **kw):
    """A BlockStore over a Toy (outputs "a", "b"), and the toy."""
    toy = Toy(shape, **kw)
    return BlockStore(toy, chunks=chunks, threads=threads), toy


def datasets(path):
    """Every dataset and root attribute of an HDF5 file."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, o: out.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset) else None)
        attrs = {k: np.asarray(v) for k, v in f.attrs.items()}
    return out, attrs


def assert_same_file(a, b):
    """Same datasets and root attributes, bit for bit."""
    da, aa = datasets(a)
    db, ab = datasets(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert np.array_equal(da[k], db[k]), k
    assert sorted(aa) == sorted(ab)
    for k in aa:
        nan = aa[k].dtype.kind == "f"
        assert np.array_equal(aa[k], ab[k], equal_nan=nan), k
