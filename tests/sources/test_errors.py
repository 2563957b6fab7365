"""Bad input gives clear errors."""
from __future__ import annotations

import os
import pickle
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lazyact.sources import (
    H5ADSource,
    HDF5Source,
    SourceClosedError,
    SourceReadError,
    as_source,
)

from .conftest import GENES, SAMPLES, make_matrix, write_h5ad


@pytest.fixture()
def y():
    return make_matrix()


# ----------------------------------------------------------------------------- files
def test_h5ad_without_x(tmp_path, y):
    import anndata as ad

    fn = tmp_path / "nox.h5ad"
    a = ad.AnnData(obs=pd.DataFrame(index=SAMPLES), var=pd.DataFrame(index=GENES))
    a.write_h5ad(fn)
    with h5py.File(fn) as f:
        assert "X" not in f
    with pytest.raises(ValueError, match="has no X matrix"):
        as_source(fn)
    with pytest.raises(ValueError, match="has no raw/X"):
        as_source(fn, layer="raw")
    with pytest.raises(ValueError, match="has no layer 'counts'"):
        as_source(fn, layer="counts")


def test_truncated_h5ad(tmp_path, y):
    fn = write_h5ad(tmp_path / "ok.h5ad", sp.csr_matrix(y.T))
    bad = tmp_path / "cut.h5ad"
    data = open(fn, "rb").read()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceReadError, match=r"cut\.h5ad.*looks truncated") as ei:
        as_source(bad)
    assert isinstance(ei.value, OSError)
    # not HDF5 at all
    junk = tmp_path / "junk.h5ad"
    junk.write_bytes(b"this is not hdf5" * 64)
    with pytest.raises(SourceReadError, match=r"junk\.h5ad.*corrupt"):
        as_source(junk)
    with pytest.raises(FileNotFoundError):
        as_source(tmp_path / "missing.h5ad")


def test_read_error_is_wrapped(tmp_path, y, monkeypatch):
    """An OSError raised by HDF5 while reading names the file."""
    fn = write_h5ad(tmp_path / "x.h5ad", sp.csr_matrix(y.T))
    src = as_source(fn)

    def boom(*a, **k):
        raise OSError("Can't read data (inflate() failed)")

    monkeypatch.setattr(h5py.Dataset, "read_direct", boom)
    with pytest.raises(SourceReadError, match=r"x\.h5ad.*truncated or corrupt"):
        src.columns(np.array([0]))
    src.close()


def test_corrupt_structure(tmp_path, y):
    fn = write_h5ad(tmp_path / "x.h5ad", sp.csr_matrix(y.T))
    with h5py.File(fn, "r+") as f:
        del f["X/indptr"]
        f["X/indptr"] = np.arange(5)
    with pytest.raises(ValueError, match="indptr has 5 entries.*corrupt"):
        as_source(fn)


def test_closed_h5py_dataset(tmp_path, y):
    fn = tmp_path / "d.h5"
    with h5py.File(fn, "w") as f:
        f["y"] = y
    f = h5py.File(fn, "r")
    ds = f["y"]
    src = as_source(ds, genes=GENES, samples=SAMPLES)
    src.columns(np.array([0]))
    f.close()
    with pytest.raises(SourceClosedError, match="closed"):
        src.columns(np.array([0]))
    with pytest.raises(ValueError, match="closed"):  # SourceClosedError is a ValueError
        as_source(ds)


def test_closed_file_source(tmp_path, y):
    fn = write_h5ad(tmp_path / "x.h5ad", sp.csr_matrix(y.T))
    with as_source(fn) as src:
        src.columns(np.array([1]))
    with pytest.raises(SourceClosedError, match=r"x\.h5ad.*closed"):
        src.columns(np.array([1]))
    with pytest.raises(SourceClosedError):
        next(src.iter_columns(3))


def test_wrong_types_and_options(tmp_path, y):
    with pytest.raises(TypeError, match="cannot use"):
        as_source({"a": 1})
    with pytest.raises(TypeError, match="Python list"):
        as_source([[1.0]])
    with pytest.raises(TypeError, match="numeric"):
        as_source(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="2-D"):
        as_source(np.zeros(3))
    with pytest.raises(ValueError, match="genes has 2 names"):
        as_source(y, genes=["a", "b"])
    with pytest.raises(ValueError, match="orientation"):
        as_source(y, orientation="sideways")
    with pytest.raises(TypeError, match="layer"):
        as_source(y, layer="raw")
    fn = write_h5ad(tmp_path / "x.h5ad", sp.csr_matrix(y.T))
    with pytest.raises(ValueError, match="cells x genes by definition"):
        as_source(fn, orientation="genes x cells")
    with pytest.raises(TypeError, match="gene_column"):
        as_source(fn, genes=GENES)
    src = as_source(y)
    assert as_source(src) is src
    with pytest.raises(TypeError, match="ignored"):
        as_source(src, orientation="cells x genes")
    with pytest.raises(TypeError, match="non-numeric"):
        as_source(pd.DataFrame({"s1": [1.0, 2.0], "name": ["a", "b"]}))
    with pytest.raises(ValueError, match="neither AnnData nor a 10x"):
        p = tmp_path / "plain.h5"
        with h5py.File(p, "w") as f:
            f["y"] = y
        as_source(p)
    with pytest.raises(ValueError, match="don't know how to read"):
        as_source(tmp_path / "x.csv")


# ----------------------------------------------------------------------------- values
def _nan_sources(tmp_path, y):
    """The same matrix with a NaN in sample 7 and +inf in sample 20, several backends."""
    bad = y.copy()
    bad[3, 7] = np.nan
    bad[0, 20] = np.inf
    fn = write_h5ad(tmp_path / "nan_csr.h5ad", sp.csr_matrix(bad.T.astype(np.float32)))
    fn2 = write_h5ad(tmp_path / "nan_csc.h5ad", sp.csc_matrix(bad.T.astype(np.float32)))
    fn3 = write_h5ad(tmp_path / "nan_dense.h5ad", bad.T.astype(np.float32))
    return {
        "ndarray": as_source(bad, samples=SAMPLES),
        "dataframe": as_source(pd.DataFrame(bad, columns=SAMPLES)),
        "csc": as_source(sp.csc_matrix(bad), samples=SAMPLES),
        "csr": as_source(sp.csr_matrix(bad), samples=SAMPLES),
        "h5ad_csr": as_source(fn),
        "h5ad_csc": as_source(fn2),
        "h5ad_dense": as_source(fn3),
    }


def test_nonfinite_detected_lazily(tmp_path, y):
    for name, src in _nan_sources(tmp_path, y).items():
        # construction and clean columns are fine (checked per block when read)
        assert src.columns(np.arange(0, 7)).shape[1] == 7
        with pytest.raises(ValueError, match=r"sample 'c7' \(column 7\) contains a non-finite value \(nan\)"):
            src.columns(np.array([2, 7, 20]))
        with pytest.raises(ValueError, match=r"'c20' \(column 20\).*non-finite value \(inf\)"):
            src.columns(np.array([20, 30]))
        with pytest.raises(ValueError, match="'c7'"):
            list(src.iter_columns(4))
        with pytest.raises(ValueError, match="'c7'"):
            src.column_totals()
        # can be switched off
        src.check_finite = False
        assert np.isnan(src.columns(np.array([7])).sum())
        src.close()


def test_negative_counts(tmp_path, y):
    bad = y.copy()
    bad[2, 11] = -3.0
    fn = write_h5ad(tmp_path / "neg.h5ad", sp.csc_matrix(bad.T.astype(np.float32)))
    fn2 = write_h5ad(tmp_path / "neg2.h5ad", sp.csr_matrix(bad.T.astype(np.float32)))
    for src in (as_source(bad, samples=SAMPLES), as_source(sp.csr_matrix(bad), samples=SAMPLES),
                as_source(fn), as_source(fn2)):
        assert src.columns(np.array([11])).sum() < 1e9  # allowed by default
        src.check_counts = True
        with pytest.raises(ValueError, match=r"'c11' \(column 11\) contains negative values"):
            src.columns(np.array([3, 11]))
        with pytest.raises(ValueError, match="'c11'"):
            src.column_totals()
        src.close()
    src = as_source(bad, samples=SAMPLES, check_counts=True)
    src.columns(np.array([0, 10]))
    with pytest.raises(ValueError, match="negative"):
        list(src.iter_columns(10))


def test_integer_storage_is_checked_for_negatives_only(y):
    src = as_source(y.astype(np.int32), check_counts=True)
    np.testing.assert_array_equal(src.columns(np.arange(3)), y[:, :3])
    neg = y.astype(np.int64)
    neg[0, 1] = -1
    with pytest.raises(ValueError, match="column 1"):
        as_source(neg, check_counts=True).columns(np.array([1]))


# ----------------------------------------------------------------------------- names
def write_h5ad_warn(path, x, genes):
    import anndata as ad

    a = ad.AnnData(X=x, obs=pd.DataFrame(index=SAMPLES), var=pd.DataFrame(index=genes))
    a.write_h5ad(path)
    return os.fspath(path)


def test_duplicate_genes_are_kept_as_stored(tmp_path, y):
    genes = list(GENES)
    genes[4] = genes[9] = "IL6"
    with pytest.warns(UserWarning, match="not unique"):
        fn = write_h5ad_warn(tmp_path / "dup.h5ad", sp.csr_matrix(y.T), genes=genes)
    for src in (as_source(fn), as_source(pd.DataFrame(y, index=genes)), as_source(y, genes=genes)):
        assert src.has_duplicate_genes
        assert list(src.genes) == genes
        np.testing.assert_array_equal(np.asarray(src.columns(np.array([0])).todense()
                                                 if src.is_sparse else src.columns(np.array([0]))),
                                      y[:, [0]])
        src.close()


def test_memmap_view_pickles_by_value(tmp_path, y):
    fn = tmp_path / "m.dat"
    mm = np.memmap(fn, dtype=np.float64, mode="w+", shape=y.shape)
    mm[:] = y
    mm.flush()
    view = np.memmap(fn, dtype=np.float64, mode="r", shape=y.shape)[:, 3:9]
    src = as_source(view)
    copy = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(copy.columns(np.arange(6)), y[:, 3:9])
    # the file can go away: the copy holds the data
    del view, mm, src
    shutil.copy(fn, tmp_path / "m2.dat")
    os.remove(fn)
    np.testing.assert_array_equal(copy.columns(np.array([0])), y[:, [3]])


def test_hdf5_source_without_file(tmp_path, y):
    with pytest.raises(TypeError, match="h5py.Dataset"):
        HDF5Source(np.zeros((2, 2)))
    fn = tmp_path / "s.h5"
    with h5py.File(fn, "w") as f:
        f["s"] = np.array([[b"a", b"b"]])
        f["y"] = y
    with h5py.File(fn, "r") as f:
        with pytest.raises(TypeError, match="must hold numbers"):
            as_source(f["s"])
        src = as_source(f["y"])
        blob = pickle.dumps(src)
    os.remove(fn)
    with pytest.raises(FileNotFoundError):
        pickle.loads(blob)


def test_h5ad_source_type(tmp_path, y):
    fn = write_h5ad(tmp_path / "x.h5ad", sp.csr_matrix(y.T))
    src = as_source(fn)
    assert isinstance(src, H5ADSource) and src.encoding == "csr" and src.layer == "X"
    src.close()
