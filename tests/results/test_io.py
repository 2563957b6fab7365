"""The writers of an activity: to_hdf5 and to_h5ad layouts, to_anndata, to_xarray."""
from __future__ import annotations

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest

import lazyact
from lazyact.results import StoredActivity, file_info, fingerprint, partial_path
from lazyact.results.hdf5 import DONE_KEY

from .helpers import STATS


def test_to_hdf5_layout_and_roundtrip(tmp_path, ly86, ly86_full):
    out = ly86.to_hdf5(tmp_path / "ly86.h5", progress=False, summary=True)
    assert out == tmp_path / "ly86.h5" and not partial_path(out).exists()
    with h5py.File(out) as f:
        assert {"beta", "se", "zscore", "pvalue", "feature_names", "sample_names", "summary"} <= set(f)
        assert DONE_KEY not in f
        for n in STATS:
            assert f[n].shape == (43, 5) and f[n].dtype == np.float64 and f[n].compression == "gzip"
            assert np.array_equal(f[n][()], ly86_full[n])
        assert f["feature_names"].asstr()[()].tolist() == list(ly86.proteins)
        assert f["sample_names"].asstr()[()].tolist() == list(ly86.samples)
        for key, value in ly86.params.items():  # every parameter is an attribute
            assert key in f.attrs, key
            stored = f.attrs[key]
            assert stored == value or str(stored) == str(value) or bool(stored) == value
        assert f.attrs["lazyact_version"] == lazyact.__version__
        assert f.attrs["lazyact_fingerprint"] == fingerprint(ly86)
    res = lazyact.open(out)
    assert isinstance(res, StoredActivity) and res.shape == (43, 5) and res.format == "lazyact hdf5"
    assert res.params == {k: v for k, v in ly86.params.items()}
    assert list(res.proteins) == list(ly86.proteins) and list(res.samples) == list(ly86.samples)
    for n in STATS:
        assert np.array_equal(res[n][:, :], ly86_full[n])
    # the stored summary is the one-pass summary of the activity
    pd.testing.assert_frame_equal(res.summary_stats, ly86.summary(), check_exact=False, rtol=1e-12)
    assert res.summary() is not res.summary_stats


def test_float32_subset_and_chunks(tmp_path, ly86, ly86_full):
    out = ly86.to_hdf5(tmp_path / "f.h5", arrays=("zscore", "pvalue"), dtype=np.float32, progress=False)
    res = lazyact.open(out)
    assert res.arrays == ("zscore", "pvalue") and res.zscore.dtype == np.float32
    assert np.array_equal(res.zscore[:, :], ly86_full["zscore"].astype(np.float32))
    with pytest.raises(KeyError, match="stores no 'beta'"):
        res.beta
    info = file_info(out)
    assert info["complete"] and info["arrays"]["zscore"]["dtype"] == "float32"
    with pytest.raises(ValueError, match="arrays must be among"):
        ly86.to_hdf5(tmp_path / "g.h5", arrays=("nope",), progress=False)


def test_to_h5ad_and_to_anndata(tmp_path, ly86, ly86_full):
    out = ly86.to_h5ad(tmp_path / "ly86.h5ad", progress=False)
    ad = anndata.read_h5ad(out)
    assert ad.shape == (5, 43)
    assert np.array_equal(ad.X, ly86_full["beta"].T)
    for n in ("se", "zscore", "pvalue"):
        assert np.array_equal(np.asarray(ad.obsm[n]), ly86_full[n].T)
    assert list(ad.var_names) == list(ly86.proteins) and list(ad.obs_names) == list(ly86.samples)
    assert ad.uns["source"] == "lazyact" and '"n_rand": 100' in ad.uns["lazyact"]["params"]
    res = lazyact.open(out)
    assert res.format == "lazyact h5ad" and res.params["n_rand"] == 100
    for n in STATS:
        assert np.array_equal(res[n][:, :], ly86_full[n])
    mem = ly86.to_anndata()
    np.testing.assert_allclose(mem.X, ad.X, rtol=0, atol=1e-15)
    assert np.array_equal(mem.obsm["pvalue"], ad.obsm["pvalue"])
    with pytest.raises(MemoryError, match="to_hdf5"):
        ly86.to_anndata(max_bytes=1000)
    # stored results convert, e.g. the .h5ad back to a SecActPy-layout HDF5
    back = res.to_hdf5(tmp_path / "back.h5", progress=False)
    assert np.array_equal(lazyact.open(back).zscore[:, :], ly86_full["zscore"])


def test_to_xarray(ly86, ly86_full):
    ds = ly86.to_xarray()
    assert ds.zscore.dims == ("protein", "sample") and ds.attrs["n_rand"] == 100
    assert list(ds.protein.values) == list(ly86.proteins)
    assert np.array_equal(ds.pvalue.sel(protein="IL6").values, ly86.pvalue.loc["IL6"])
    # (the IL6 row is cached now: the other rows are computed as a 42-row block, which rounds differently)
    np.testing.assert_allclose(ds.beta.values, ly86_full["beta"], rtol=1e-12, atol=0)

