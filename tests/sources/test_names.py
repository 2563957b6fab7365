"""Names, metadata, layers, orientation check, duplicate-gene rule."""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lazyact.sources import (
    AnnDataSource,
    H5ADSource,
    TenxH5Source,
    as_source,
)

from .conftest import GENES, SAMPLES, make_matrix, write_10x, write_h5ad

ENSG = [f"ENSG{i:011d}" for i in range(len(GENES))]


@pytest.fixture(scope="module")
def y():
    return make_matrix()


@pytest.fixture(scope="module")
def rich_h5ad(tmp_path_factory, y):
    """X = log-normalised values, raw/X = counts, a counts layer, Ensembl var index with symbols
    (categorical, one missing), categorical obs column, spatial coordinates."""
    fn = tmp_path_factory.mktemp("rich") / "rich.h5ad"
    symbols = list(GENES)
    symbols[3] = None
    xy = np.arange(2 * len(SAMPLES), dtype=np.float64).reshape(-1, 2)
    write_h5ad(
        fn, sp.csr_matrix(np.log1p(y.T)), genes=ENSG,
        raw=sp.csr_matrix(y.T), layers={"counts": sp.csr_matrix(y.T * 2)},
        var_extra={"gene_symbols": pd.Categorical(symbols), "feature_name": list(GENES)},
        obs_extra={"cell_type": pd.Categorical(["T", "B", "NK"] * 12 + [None]),
                   "n_counts": y.sum(axis=0)},
        obsm={"spatial": xy},
    )
    return fn


def test_layers_follow_secactpy(rich_h5ad, y):
    src = as_source(rich_h5ad)  # default: raw/X when present
    assert src.layer == "raw"
    np.testing.assert_array_equal(src.columns(np.arange(4)).toarray(), y[:, :4])
    src_x = as_source(rich_h5ad, layer="X")
    assert src_x.layer == "X"
    np.testing.assert_allclose(src_x.columns(np.arange(4)).toarray(), np.log1p(y[:, :4]), rtol=1e-6)
    src_l = as_source(rich_h5ad, layer="counts")
    np.testing.assert_array_equal(src_l.columns(np.array([9])).toarray(), 2 * y[:, [9]])
    for s in (src, src_x, src_l):
        s.close()


def test_gene_column_options(rich_h5ad):
    with as_source(rich_h5ad) as src:
        assert list(src.genes) == ENSG  # as stored
        assert list(src.samples) == SAMPLES
    with as_source(rich_h5ad, gene_column="gene_symbols") as src:
        expected = list(GENES)
        expected[3] = ENSG[3]  # missing symbol falls back to the index
        assert list(src.genes) == expected
    with as_source(rich_h5ad, gene_column="auto") as src:  # SecActPy: first of gene_name, feature_name...
        assert list(src.genes) == GENES
    with pytest.raises(KeyError, match="not in var"):
        as_source(rich_h5ad, gene_column="nope").genes


def test_metadata_accessors(rich_h5ad, y):
    with H5ADSource(rich_h5ad) as src:
        ct = src.obs_column("cell_type")
        assert isinstance(ct.dtype, pd.CategoricalDtype)
        assert list(ct.iloc[:4]) == ["T", "B", "NK", "T"] and pd.isna(ct.iloc[-1])
        assert list(ct.index) == SAMPLES
        np.testing.assert_array_equal(src.obs_column("n_counts").to_numpy(), y.sum(axis=0))
        assert set(src.obs_keys()) == {"cell_type", "n_counts"}
        assert "gene_symbols" in src.var_keys()
        assert src.spatial.shape == (len(SAMPLES), 2)
        assert src.obsm_keys() == ["spatial"]
        with pytest.raises(KeyError, match="obsm keys"):
            src.obsm("X_umap")
        with pytest.raises(KeyError, match="available"):
            src.obs_column("nope")


def test_index_attribute_variants(tmp_path, y):
    """obs/var index stored under a custom name (attrs['_index']), fixed-length bytes,
    and the pre-0.8 categorical encoding (codes + attrs['categories'] reference)."""
    fn = tmp_path / "old.h5ad"
    m = sp.csr_matrix(y.T.astype(np.float32))
    with h5py.File(fn, "w") as f:
        x = f.create_group("X")
        x.attrs["h5sparse_format"] = "csr"
        x.attrs["h5sparse_shape"] = m.shape
        x["data"], x["indices"], x["indptr"] = m.data, m.indices, m.indptr
        obs = f.create_group("obs")
        obs.attrs["_index"] = "cell_id"
        obs["cell_id"] = np.array(SAMPLES, dtype="S")
        cats = f.create_group("obs/__categories")
        cats["kind"] = np.array([b"a", b"b"])
        obs["kind"] = np.arange(len(SAMPLES), dtype=np.int8) % 2
        obs["kind"].attrs["categories"] = cats["kind"].ref
        var = f.create_group("var")
        var["index"] = np.array(GENES, dtype=object).astype("S")
    with as_source(fn) as src:
        assert src.encoding == "csr"
        assert list(src.samples) == SAMPLES and list(src.genes) == GENES
        assert list(src.obs_column("kind").iloc[:3]) == ["a", "b", "a"]
        np.testing.assert_array_equal(src.columns(np.array([2, 3])).toarray(), y[:, [2, 3]])


def test_h5_dispatch(tmp_path, y):
    fn = write_10x(tmp_path / "m.h5", y)
    with as_source(fn) as src:
        assert isinstance(src, TenxH5Source) and list(src.genes) == GENES
    with as_source(fn, gene_column="id") as src:
        assert src.genes[0].startswith("ENSG")
    fn2 = write_h5ad(tmp_path / "anndata.h5", sp.csr_matrix(y.T))  # AnnData with .h5 suffix
    with as_source(fn2) as src:
        assert isinstance(src, H5ADSource)


def test_anndata_sources(rich_h5ad, y):
    import anndata as ad

    a = ad.read_h5ad(rich_h5ad)
    src = as_source(a)
    assert isinstance(src, AnnDataSource) and src.layer == "raw" and not src.backed
    np.testing.assert_array_equal(src.columns(np.array([0, 36])).toarray(), y[:, [0, 36]])
    assert list(as_source(a, gene_column="auto").genes) == GENES
    assert src.spatial.shape == (len(SAMPLES), 2)
    with pytest.raises(ValueError, match="no layer"):
        as_source(a, layer="spliced")
    b = ad.read_h5ad(rich_h5ad, backed="r")
    sb = as_source(b, layer="counts")
    assert sb.backed and sb.layer == "counts"
    np.testing.assert_array_equal(sb.columns(np.array([4])).toarray(), 2 * y[:, [4]])
    assert sb.spatial.shape == (len(SAMPLES), 2)
    with pytest.raises(NotImplementedError, match="view of a backed"):
        as_source(b[:5])
    with pytest.raises(ValueError, match="cells x genes by definition"):
        as_source(a, orientation="genes x samples")
    sb.close()
    b.file.close()
    no_x = ad.AnnData(obs=pd.DataFrame(index=SAMPLES), var=pd.DataFrame(index=GENES))
    with pytest.raises(ValueError, match="no X matrix"):
        as_source(no_x, layer="X")
