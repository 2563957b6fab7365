"""AnnData zarr stores (formats 2 and 3) read as the same bits as the ``.h5ad`` file of the same AnnData."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lazyact
from conftest import write_counts_h5ad
from lazyact.sources import SourceReadError, ZarrSource, as_source
from lazyact.sources.h5ad import H5ADSource

from .conftest import write_anndata

ad = pytest.importorskip("anndata")
pytest.importorskip("zarr")

ENCODINGS = ("csr", "csc", "dense")


def _matrix(encoding, x):
    return {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "dense": np.asarray}[encoding](x)


def _adata(encoding, seed=0):
    """Counts (float32 X, int64 raw, a CSC and a dense layer), Ensembl ids with symbol columns, obs columns."""
    rng = np.random.default_rng(seed)
    n_cells, n_genes = 41, 29
    x = rng.poisson(2.0, (n_cells, n_genes)) * (rng.random((n_cells, n_genes)) < 0.3)
    x[7] = 0  # an empty cell
    obs = pd.DataFrame({"cell_type": pd.Categorical(rng.choice(["T", "B", "NK"], n_cells)),
                        "n_counts": pd.array(np.where(rng.random(n_cells) < 0.1, None, x.sum(1)), dtype="Int64")},
                       index=[f"cell-{i}" for i in range(n_cells)])
    symbols = [f"G{i}" for i in range(n_genes)]
    var = pd.DataFrame({"gene_name": symbols, "feature_name": pd.Categorical(symbols[::-1])},
                       index=[f"ENSG{i:05d}" for i in range(n_genes)])
    a = ad.AnnData(_matrix(encoding, x.astype(np.float32)), obs=obs, var=var)
    a.layers["counts_csc"] = sp.csc_matrix(x.astype(np.float64))
    a.layers["dense"] = (x * 0.5).astype(np.float64)
    a.raw = ad.AnnData(_matrix(encoding, x.astype(np.int64)), obs=obs, var=var.iloc[:, :1])
    a.obsm["spatial"] = rng.random((n_cells, 2))
    return a


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """{X encoding: (h5ad path, {zarr format: store path})} of the same AnnData."""
    out = {}
    for enc in ENCODINGS:
        tmp = tmp_path_factory.mktemp(f"zarr_{enc}")
        a = _adata(enc)
        out[enc] = write_anndata(a, tmp / "a.h5ad"), {f: write_anndata(a, tmp / f"a{f}.zarr", f) for f in (2, 3)}
    return out


def _same(a, b):
    if sp.issparse(a):
        assert sp.issparse(b) and a.shape == b.shape
        for k in ("data", "indices", "indptr"):
            x, y = getattr(a, k), getattr(b, k)
            assert x.dtype == y.dtype and np.array_equal(x, y), k
    else:
        assert not sp.issparse(b) and a.dtype == b.dtype and np.array_equal(a, b)


CASES = [(e, layer) for e in ENCODINGS for layer in (None, "X")] + [("csr", "counts_csc"), ("csr", "dense")]


@pytest.mark.parametrize("fmt", (2, 3))
@pytest.mark.parametrize("encoding, layer", CASES)
def test_columns_equal_h5ad_bit_for_bit(pairs, encoding, fmt, layer):
    """X (CSR, CSC, dense), raw/X (int64, the default when present) and layers (CSC, dense)."""
    h5ad, stores = pairs[encoding]
    with H5ADSource(h5ad, layer=layer) as h, as_source(stores[fmt], layer=layer) as z:
        assert isinstance(z, ZarrSource)
        assert (z.layer, z.encoding, z.shape, z.dtype, z.nnz, z.is_sparse) == \
            (h.layer, h.encoding, h.shape, h.dtype, h.nnz, h.is_sparse)
        assert z.genes.equals(h.genes) and z.samples.equals(h.samples)
        for cols in (np.arange(h.n_samples), np.array([0, 3, 4, 7, 40]), np.array([39, 2, 2, 11])):
            _same(z.columns(cols), h.columns(cols))
        rows = np.array([5, 0, 28, 3])
        _same(z.columns(np.arange(10, 30), rows=rows), h.columns(np.arange(10, 30), rows=rows))
        zb, hb = list(z.iter_columns(6)), list(h.iter_columns(6))
        assert [s for s, _ in zb] == [s for s, _ in hb]
        for (_, x), (_, y) in zip(zb, hb):
            _same(x, y)
        assert np.array_equal(z.column_totals(), h.column_totals())


@pytest.mark.parametrize("fmt", (2, 3))
def test_names_and_tables_equal_h5ad(pairs, fmt):
    h5ad, stores = pairs["csr"]
    with H5ADSource(h5ad, layer="X", gene_column="auto") as h, ZarrSource(stores[fmt], layer="X",
                                                                            gene_column="auto") as z:
        assert list(z.genes) == list(h.genes) == [f"G{i}" for i in range(29)]  # Ensembl ids -> gene_name
        assert z.obs_keys() == h.obs_keys() and z.var_keys() == h.var_keys()
        pd.testing.assert_series_equal(z.obs_column("cell_type"), h.obs_column("cell_type"))
        pd.testing.assert_series_equal(z.obs_column("n_counts"), h.obs_column("n_counts"))
        pd.testing.assert_series_equal(z.var_column("feature_name"), h.var_column("feature_name"))
        assert np.array_equal(z.spatial, h.spatial)
    with H5ADSource(h5ad, gene_column="feature_name", layer="X") as h, \
            ZarrSource(stores[fmt], gene_column="feature_name", layer="X") as z:
        assert list(z.genes) == list(h.genes) == [f"G{i}" for i in range(28, -1, -1)]


def test_pickles_by_reference_and_reopens(pairs):
    _, stores = pairs["csc"]
    src = ZarrSource(stores[3])
    blob = pickle.dumps(src)
    assert len(blob) < 2000 and stores[3].encode() in blob
    back = pickle.loads(blob)
    _same(back.columns(np.arange(5)), src.columns(np.arange(5)))
    back.close()
    with pytest.raises(lazyact.sources.SourceClosedError, match="closed"):
        back.columns(np.arange(2))


def test_errors_name_the_store(tmp_path):
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(SourceReadError, match="not a zarr store"):
        as_source(tmp_path / "empty.zarr")
    with pytest.raises(FileNotFoundError):
        as_source(tmp_path / "missing.zarr")
    store = write_anndata(ad.AnnData(np.ones((3, 2), dtype=np.float32)), tmp_path / "a.zarr", 3)
    with pytest.raises(ValueError, match="no layer 'counts'"):
        as_source(store, layer="counts")
    with pytest.raises(ValueError, match="no raw/X"):
        as_source(store, layer="raw")


def test_activity_from_zarr_equals_h5ad(tmp_path):
    """The whole single-cell pipeline (raw counts, library sizes, gene means) on a store and on the file."""
    h5ad = write_counts_h5ad(tmp_path / "cells.h5ad", 60, 300, 20, density=0.1, mean=3, seed=4, cell_prefix="c",
                             other_prefix="X")
    store = write_anndata(ad.read_h5ad(h5ad), tmp_path / "cells.zarr", 3)
    kw = dict(preprocess="scrnaseq", n_rand=30, chunks=(43, 20))
    a, b = lazyact.activity(h5ad, "CytoSig", **kw), lazyact.activity(store, "CytoSig", **kw)
    assert np.array_equal(a.blocks.expression.totals, b.blocks.expression.totals)
    assert np.array_equal(a.blocks.expression.row_offsets, b.blocks.expression.row_offsets)
    for name in ("zscore", "pvalue"):
        assert np.array_equal(a[name][:, :], b[name][:, :])
