"""Single-cell / spatial pipelines against SecActPy, for every kind of source."""
import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import lazyact
from conftest import DATA, load_golden

H5AD = DATA / "sc_synth_cytosig.h5ad"


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """The same counts as .h5ad CSR, .h5ad CSC, AnnData (memory, backed) and scipy CSC genes x cells."""
    d = tmp_path_factory.mktemp("sc")
    adata = ad.read_h5ad(H5AD)
    csc = adata.copy()
    csc.X = sp.csc_matrix(csc.X)
    csc_path = d / "csc.h5ad"
    csc.write_h5ad(csc_path)
    return {
        "h5ad-csr": str(H5AD),
        "h5ad-csc": str(csc_path),
        "anndata": adata,
        "anndata-backed": ad.read_h5ad(H5AD, backed="r"),
        "scipy": (sp.csc_matrix(adata.X.T), dict(genes=list(adata.var_names), samples=list(adata.obs_names))),
    }


def statistics(act, cols=slice(None)):
    return {k: np.asarray(act[k][:, cols]) for k in ("beta", "se", "zscore", "pvalue")}


def assert_golden(act, g, atol_z, cols=slice(None)):
    out = statistics(act, cols)
    assert list(act.genes) == list(g["genes"])
    assert list(act.proteins) == list(g["proteins"])
    assert list(act.samples[cols]) == list(g["samples"])
    np.testing.assert_allclose(out["beta"], g["beta"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["se"], g["se"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["zscore"], g["zscore"], rtol=0, atol=atol_z)
    np.testing.assert_array_equal(out["pvalue"], g["pvalue"])


def run(variants, kind, **kwargs):
    obj = variants[kind]
    if isinstance(obj, tuple):
        obj, extra = obj
        kwargs = {**extra, **kwargs}
    return lazyact.activity(obj, "CytoSig", **kwargs)


KINDS = ["h5ad-csr", "h5ad-csc", "anndata", "anndata-backed", "scipy"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kernel", ["auto", "dense"])
def test_scrnaseq_single_cell(variants, kind, kernel):
    g = load_golden("sc_cell_dense_n100")
    act = run(variants, kind, preprocess="scrnaseq", n_rand=100, kernel=kernel)
    # sparse in-flight: 1e-8 on z; dense blocks: 1e-10
    assert_golden(act, g, atol_z=1e-8 if kernel == "auto" else 1e-10)


@pytest.mark.parametrize("kind", ["h5ad-csr", "anndata", "scipy"])
def test_scrnaseq_sparse_mode_compat(variants, kind):
    g = load_golden("sc_cell_sparse_n100")
    act = run(variants, kind, preprocess="scrnaseq", n_rand=100, sparse_mode=True)
    assert_golden(act, g, atol_z=1e-8)


def test_scrnaseq_n1000_slices(variants):
    g = load_golden("sc_cell_dense_n1000")
    act = lazyact.activity(str(H5AD), "CytoSig", preprocess="scrnaseq", n_rand=1000, chunks=(43, 16))
    rng = np.random.default_rng(1)
    for _ in range(3):
        rows = np.sort(rng.choice(43, 5, replace=False))
        cols = np.sort(rng.choice(g["zscore"].shape[1], 7, replace=False))  # the golden stores the first cells
        np.testing.assert_allclose(act.zscore.oindex[rows, cols], g["zscore"][np.ix_(rows, cols)], rtol=0, atol=1e-8)
        np.testing.assert_array_equal(act.pvalue.oindex[rows, cols], g["pvalue"][np.ix_(rows, cols)])


@pytest.mark.parametrize("kind", ["h5ad-csr", "anndata", "scipy"])
def test_spatial_spot_level(variants, kind):
    g = load_golden("st_spot_dense_n100")
    act = run(variants, kind, preprocess="spatial", n_rand=100)
    assert_golden(act, g, atol_z=1e-8, cols=slice(0, int(g["n_samples_stored"])))


@pytest.mark.parametrize("kind", ["h5ad-csr", "anndata-backed", "scipy"])
def test_spatial_sparse_mode_compat(variants, kind):
    g = load_golden("st_spot_sparse_n100")
    act = run(variants, kind, preprocess="spatial", n_rand=100, sparse_mode=True)
    assert_golden(act, g, atol_z=1e-8, cols=slice(0, int(g["n_samples_stored"])))


@pytest.mark.parametrize("kind", ["h5ad-csr", "h5ad-csc", "anndata"])
def test_pseudobulk(variants, kind):
    g = load_golden("sc_pseudobulk_n100")
    act = run(variants, kind, preprocess="pseudobulk", groupby="cell_type", n_rand=100)
    assert_golden(act, g, atol_z=1e-10)


def test_pseudobulk_labels_array(variants):
    g = load_golden("sc_pseudobulk_n1000")
    adata = variants["anndata"]
    act = lazyact.activity(adata, "CytoSig", preprocess="pseudobulk", groupby=adata.obs["cell_type"].to_numpy(),
                           n_rand=1000)
    assert_golden(act, g, atol_z=1e-10)


def test_pseudobulk_needs_groupby(variants):
    with pytest.raises(ValueError, match="groupby"):
        lazyact.activity(str(H5AD), "CytoSig", preprocess="pseudobulk")
    with pytest.raises(ValueError, match="no column 'tissue'"):
        lazyact.activity(str(H5AD), "CytoSig", preprocess="pseudobulk", groupby="tissue")


def test_negative_counts_refused(tmp_path):
    adata = ad.read_h5ad(H5AD)
    X = adata.X.tocsr(copy=True)
    X.data[7] = -3.0
    adata.X = X
    path = tmp_path / "neg.h5ad"
    adata.write_h5ad(path)
    with pytest.raises(ValueError, match="negative"):
        lazyact.activity(str(path), "CytoSig", preprocess="scrnaseq", n_rand=5)


def test_spatial_coordinates_found(tmp_path):
    adata = ad.read_h5ad(H5AD)
    adata.obsm["spatial"] = np.column_stack([np.arange(adata.n_obs), np.arange(adata.n_obs) % 7]).astype(float)
    del adata.obsm["spatial"]  # start without, then add known coordinates
    adata.obsm["spatial"] = np.column_stack([np.arange(adata.n_obs), np.arange(adata.n_obs) % 7]).astype(float)
    path = tmp_path / "st.h5ad"
    adata.write_h5ad(path)
    act = lazyact.activity(str(path), "CytoSig", preprocess="spatial", n_rand=5)
    assert act.spatial.shape == (adata.n_obs, 2)
