"""lazyact.open: stored results (lazyact's and SecActPy's) as lazy activity; what it refuses."""
from __future__ import annotations

import pickle

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lazyact
from lazyact.results import NotResultsFileError, is_results_file

from .helpers import LY86, STATS, STORED, datasets


def test_stored_views_behave_like_numpy(tmp_path, ly86):
    out = ly86.to_hdf5(tmp_path / "v.h5", progress=False, block=2)
    res = lazyact.open(out)
    ly86_full = datasets(out)[0]  # (blocks of 2 samples round differently from 5 at 1e-15)
    z = ly86_full["zscore"]
    assert np.array_equal(res.zscore[5], z[5]) and np.array_equal(res.zscore[:, -1], z[:, -1])
    assert np.array_equal(res.zscore[[3, 1, 3], ::2], z[[3, 1, 3], ::2])
    assert np.array_equal(res.pvalue[z > 2], ly86_full["pvalue"][z > 2])
    assert res.zscore[0, 0] == z[0, 0] and isinstance(res.zscore[0, 0], np.float64)
    assert np.array_equal(res.zscore.loc["IL6", :], z[list(ly86.proteins).index("IL6")])
    assert np.array_equal(res.se.oindex[[0, 2], [1, 4]], ly86_full["se"][np.ix_([0, 2], [1, 4])])
    assert np.array_equal(res.zscore.max(axis=1), z.max(axis=1))
    np.testing.assert_allclose(np.mean(res.beta, axis=0), ly86_full["beta"].mean(axis=0), rtol=1e-13)
    with pytest.raises(IndexError):
        res.zscore[43]
    assert np.array_equal(np.abs(res.zscore), np.abs(z)) and np.array_equal(res.zscore > 2, z > 2)
    assert "StoredActivity: 43 proteins x 5 samples" in repr(res) and "n_rand=100" in repr(res)
    res2 = pickle.loads(pickle.dumps(res))
    assert np.array_equal(res2.zscore[:, :], z)
    res.close()
    assert np.array_equal(res.zscore[1], z[1])  # reopened on demand


@pytest.mark.parametrize("name, kind", [("secactpy_stream_cytosig_ly86.h5", "SecActPy hdf5"),
                                        ("secactpy_saved_cytosig_ly86.h5", "SecActPy hdf5"),
                                        ("secactpy_cytosig_ly86.h5ad", "h5ad")])
def test_open_secactpy_files(name, kind, ly86, ly86_full):
    ref = np.load(STORED / "secactpy_cytosig_ly86_ref.npz")
    res = lazyact.open(STORED / name)
    assert res.format == kind and res.shape == (43, 5)
    assert list(res.proteins) == ref["proteins"].tolist() == list(ly86.proteins)
    assert list(res.samples) == ref["samples"].tolist() == list(ly86.samples)
    for n in STATS:
        assert np.array_equal(res[n][:, :], ref[n])  # exactly what SecActPy wrote
    # ... which is what lazyact computes (SecActPy 0.3.1 tolerances)
    for n in ("beta", "se", "zscore"):
        np.testing.assert_allclose(res[n][:, :], ly86_full[n], rtol=0, atol=1e-10)
    assert np.array_equal(res.pvalue[:, :], ly86_full["pvalue"])
    assert "SecActPy" in str(res.params.get("source", "")) or kind == "SecActPy hdf5"


def test_open_results_to_anndata_layers(tmp_path, ly86, ly86_full):
    # SecActPy's results_to_anndata: X = zscore, layers beta/se/zscore/pvalue
    ad = anndata.AnnData(X=ly86_full["zscore"].T, obs=pd.DataFrame(index=list(ly86.samples)),
                         var=pd.DataFrame(index=list(ly86.proteins)))
    for n in STATS:
        ad.layers[n] = ly86_full[n].T
    ad.write_h5ad(tmp_path / "layers.h5ad")
    res = lazyact.open(tmp_path / "layers.h5ad")
    assert res.format == "h5ad (layers)"
    assert np.array_equal(res.beta[:, :], ly86_full["beta"])


def test_open_explains_what_it_found(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["counts"] = np.zeros((2, 2))
        f.create_group("meta")
    with pytest.raises(NotResultsFileError, match=r"found top-level keys \['counts', 'meta'\]"):
        lazyact.open(tmp_path / "other.h5")
    expr = anndata.AnnData(X=sp.random(5, 4, density=0.5, format="csr", random_state=0))
    expr.obsm["spatial"] = np.zeros((5, 2))
    expr.write_h5ad(tmp_path / "expr.h5ad")
    with pytest.raises(NotResultsFileError, match=r"AnnData file but holds no activity results.*'spatial'.*"
                                                  r"lazyact.activity"):
        lazyact.open(tmp_path / "expr.h5ad")
    with pytest.raises(NotResultsFileError, match="not an HDF5 file"):
        lazyact.open(LY86)
    with pytest.raises(FileNotFoundError):
        lazyact.open(tmp_path / "nothing.h5")
    assert not is_results_file(tmp_path / "expr.h5ad")
    assert is_results_file(STORED / "secactpy_cytosig_ly86.h5ad")
