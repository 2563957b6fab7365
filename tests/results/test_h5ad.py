"""The AnnData results format: write_h5ad in AnnData's on-disk layout, obsm reading."""
from __future__ import annotations

import anndata
import h5py
import numpy as np

from lazyact.results import read_obsm, write_h5ad
from lazyact.results.hdf5 import DONE_KEY

from .helpers import STORED, toy_store


def test_write_h5ad_reads_back_with_anndata(tmp_path):
    store, toy = toy_store((5, 17), chunks=(2, 3))
    out = write_h5ad(store, tmp_path / "t.h5ad", "a", ["b"], obs_names=[f"c{j}" for j in range(17)],
                     var_names=list("PQRST"), uns={"source": "test", "n": 3, "d": {"x": 1.5}, "l": ["u", "v"]},
                     obsm_extra={"spatial": np.arange(34.0).reshape(17, 2)}, block=4, progress=False)
    ad = anndata.read_h5ad(out)
    full = toy.full()
    assert ad.shape == (17, 5)
    assert np.array_equal(ad.X, full["a"].T) and np.array_equal(ad.obsm["b"], full["b"].T)
    assert list(ad.obs_names) == [f"c{j}" for j in range(17)] and list(ad.var_names) == list("PQRST")
    assert ad.uns["source"] == "test" and ad.uns["n"] == 3 and ad.uns["d"]["x"] == 1.5
    assert list(ad.uns["l"]) == ["u", "v"]
    assert ad.obsm["spatial"].shape == (17, 2)
    with h5py.File(out) as f:
        assert DONE_KEY not in f and f["X"].chunks is not None


def test_read_obsm_arrays_and_dataframes(tmp_path):
    import pandas as pd

    a = anndata.AnnData(np.zeros((4, 2)))
    a.obsm["spatial"] = np.arange(8.0).reshape(4, 2)
    a.obsm["frame"] = pd.DataFrame({"x": np.arange(4.0), "y": -np.arange(4.0)}, index=a.obs_names)
    a.write_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(read_obsm(tmp_path / "a.h5ad"), a.obsm["spatial"])
    np.testing.assert_array_equal(read_obsm(tmp_path / "a.h5ad", "frame"), a.obsm["frame"].to_numpy())
    assert read_obsm(tmp_path / "a.h5ad", "umap") is None
    assert read_obsm(tmp_path / "missing.h5ad") is None
    (tmp_path / "junk.h5ad").write_bytes(b"junk")
    assert read_obsm(tmp_path / "junk.h5ad") is None
    assert read_obsm(STORED / "secactpy_cytosig_ly86.h5ad") is None
