"""lazyact.tl: results in the user's AnnData, read by scanpy itself (Agg backend)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import anndata  # noqa: E402
import dask.array as da  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scanpy as sc  # noqa: E402
from scipy.stats import false_discovery_control  # noqa: E402

import lazyact  # noqa: E402
from lazyact.array import config  # noqa: E402

from conftest import DATA  # noqa: E402

H5AD = DATA / "sc_synth_cytosig.h5ad"
N_RAND = 30


@pytest.fixture(scope="module")
def annotated():
    """The 400-cell test file annotated by tl.activity (eager obsm), and its activity."""
    adata = anndata.read_h5ad(H5AD)
    act = lazyact.tl.activity(adata, "CytoSig", n_rand=N_RAND)
    return adata, act


def test_activity_writes_decoupler_style_obsm_and_uns(annotated):
    adata, act = annotated
    keys = ("cytosig_zscore", "cytosig_pvalue", "cytosig_padj")
    for k in keys:
        frame = adata.obsm[k]
        assert isinstance(frame, pd.DataFrame)
        assert frame.index.equals(adata.obs_names) and list(frame.columns) == list(act.proteins)
    z = act.zscore[:, :]
    p = act.pvalue[:, :]
    assert np.array_equal(adata.obsm["cytosig_zscore"].to_numpy(), z.T)
    assert np.array_equal(adata.obsm["cytosig_pvalue"].to_numpy(), p.T)
    # padj: Benjamini-Hochberg across the proteins of each cell, as decoupler's padj_<method>
    assert np.array_equal(adata.obsm["cytosig_padj"].to_numpy(), false_discovery_control(p.T, axis=1))
    uns = adata.uns["cytosig"]
    assert uns["signature"] == "CytoSig" and uns["version"] == lazyact.__version__ and uns["lazy"] is False
    assert list(uns["proteins"]) == list(act.proteins) and list(uns["obsm_keys"]) == list(keys)
    assert uns["params"]["n_rand"] == N_RAND and uns["params"]["preprocess"] == "scrnaseq"


def test_copy_key_and_stats():
    adata = anndata.read_h5ad(H5AD)
    out = lazyact.tl.activity(adata, "CytoSig", n_rand=N_RAND, key_added="cs", stats=("beta", "padj"), copy=True)
    assert isinstance(out, anndata.AnnData) and out is not adata
    assert sorted(k for k in out.obsm if k.startswith("cs_")) == ["cs_beta", "cs_padj"]
    assert not any(k.startswith("cs") for k in adata.obsm) and "cs" not in adata.uns
    with pytest.raises(ValueError, match="stats must be among"):
        lazyact.tl.activity(adata, "CytoSig", stats=("qvalue",))


def test_scanpy_plots_and_ranks_the_planted_programmes(annotated, tmp_path):
    adata, _ = annotated
    g = lazyact.tl.get_obsm(adata, "cytosig_zscore")
    assert g.shape == (adata.n_obs, 43) and g.obs.equals(adata.obs) and "spatial" in g.obsm
    assert np.array_equal(g[:, "IL6"].X.ravel(), adata.obsm["cytosig_zscore"]["IL6"].to_numpy())
    # an embedding coloured by one protein, drawn by scanpy with Agg
    sc.pl.embedding(g, basis="spatial", color="IFNG", show=False)
    png = tmp_path / "ifng.png"
    plt.savefig(png, dpi=60)
    plt.close("all")
    pixels = plt.imread(png)[..., :3]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # a coloured scatter, not a blank canvas
    # a violin per cell type
    ax = sc.pl.violin(g, "IFNG", groupby="cell_type", show=False)
    ax = ax[0] if isinstance(ax, list) else ax
    assert [t.get_text() for t in ax.get_xticklabels()] == list(adata.obs["cell_type"].cat.categories)
    plt.close("all")
    # marker proteins per cell type: the programmes planted in the data come out on top
    sc.tl.rank_genes_groups(g, "cell_type", method="wilcoxon")
    top = sc.get.rank_genes_groups_df(g, "Macrophage")["names"].head(3).tolist()
    assert {"IFNG", "TNFA"} & set(top), top


def test_obsm_round_trips_through_h5ad_and_zarr(annotated, tmp_path):
    adata, _ = annotated
    adata.write_h5ad(tmp_path / "a.h5ad")
    adata.write_zarr(tmp_path / "a.zarr")
    for back in (anndata.read_h5ad(tmp_path / "a.h5ad"), anndata.read_zarr(tmp_path / "a.zarr")):
        for k in ("cytosig_zscore", "cytosig_padj"):
            pd.testing.assert_frame_equal(back.obsm[k], adata.obsm[k])
        assert list(back.uns["cytosig"]["proteins"]) == list(adata.uns["cytosig"]["proteins"])
        g = lazyact.tl.get_obsm(back, "cytosig_pvalue")
        assert list(g.var_names) == list(adata.uns["cytosig"]["proteins"])


def test_lazy_obsm_beyond_the_memory_bound(annotated, tmp_path, monkeypatch):
    eager, _ = annotated
    monkeypatch.setattr(config, "max_materialise_bytes", 200 * 2**10)  # the results (3 x 138 KB) exceed it
    adata = anndata.read_h5ad(H5AD)
    act = lazyact.tl.activity(adata, "CytoSig", n_rand=N_RAND)
    assert adata.uns["cytosig"]["lazy"] is True
    z = adata.obsm["cytosig_zscore"]
    assert isinstance(z, da.Array) and z.shape == (adata.n_obs, 43)
    assert act.store.stats.calls == 0  # nothing computed yet
    g = lazyact.tl.get_obsm(adata, "cytosig_zscore")
    assert list(g.var_names) == list(act.proteins)
    one = np.asarray(g[:, "IL6"].X).ravel()  # one protein: only that row is computed
    assert act.store.stats.cells == adata.n_obs
    assert np.array_equal(one, eager.obsm["cytosig_zscore"]["IL6"].to_numpy())
    # group tables stream over the lazy arrays too
    pd.testing.assert_frame_equal(lazyact.tl.summarise(adata, "cell_type"), lazyact.tl.summarise(eager, "cell_type"))
    # writing streams the chunks (one cell block at a time) and the file reads back as plain arrays
    seen = []
    real = act.store.read

    def spy(rows, cols, *args, **kwargs):
        seen.append(act.store.check_index(cols, 1).size)
        return real(rows, cols, *args, **kwargs)

    monkeypatch.setattr(act.store, "read", spy)
    adata.write_h5ad(tmp_path / "lazy.h5ad")
    assert seen and max(seen) <= act.store.chunks[1]  # one block of cells at a time
    back = anndata.read_h5ad(tmp_path / "lazy.h5ad")
    for k in ("cytosig_zscore", "cytosig_pvalue", "cytosig_padj"):
        assert np.array_equal(back.obsm[k], eager.obsm[k].to_numpy()), k
    assert (tmp_path / "lazy.h5ad").stat().st_size > config.max_materialise_bytes


def test_summarise_streams_group_tables(annotated):
    adata, act = annotated
    table = lazyact.tl.summarise(adata, "cell_type")
    assert table.shape == (5 * 43, 6)
    z = adata.obsm["cytosig_zscore"]
    p = adata.obsm["cytosig_pvalue"]
    groups = adata.obs["cell_type"]
    mean = z.groupby(groups, observed=False).mean()
    std = z.groupby(groups, observed=False).std()
    active = ((p <= 0.05) & (z > 0)).groupby(groups, observed=False).mean()
    wide = table.pivot(index="group", columns="protein", values="mean")
    np.testing.assert_allclose(wide.loc[mean.index, mean.columns], mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(table.pivot(index="group", columns="protein", values="std").loc[std.index, std.columns],
                               std, rtol=1e-10)
    np.testing.assert_array_equal(table.pivot(index="group", columns="protein", values="fraction_active")
                                  .loc[active.index, active.columns], active)
    # the same table from the activity itself (its obs came from the input), in one pass
    act.store.stats.reset()
    again = lazyact.tl.summarise(act, "cell_type")
    pd.testing.assert_frame_equal(again, table, rtol=1e-12)
    assert act.store.stats.calls == 0  # the earlier full pass is on disk (the scratch tier)


def test_refusals_say_what_to_do():
    adata = anndata.read_h5ad(H5AD)
    with pytest.raises(ValueError, match="one column per group") as exc:
        lazyact.tl.activity(adata, "CytoSig", preprocess="pseudobulk", groupby="cell_type")
    assert "lazyact.activity(adata, signature, preprocess='pseudobulk'" in str(exc.value)
    act = lazyact.activity(adata, "CytoSig", preprocess="pseudobulk", groupby="cell_type", n_rand=N_RAND)
    assert act.shape == (43, 5)  # the advice runs
    with pytest.raises(TypeError, match="anndata.read_h5ad"):
        lazyact.tl.activity(str(H5AD), "CytoSig")
    with pytest.raises(KeyError, match="obsm keys"):
        lazyact.tl.get_obsm(adata, "cytosig_zscore")


def test_the_docs_example_draws_its_figure(tmp_path):
    """docs/examples/scanpy_workflow.py makes docs/img/scanpy_workflow.png (here small and fast)."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("scanpy_workflow", root / "docs" / "examples" / "scanpy_workflow.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = example.main(["--cells", "150", "--n-rand", "10", "--basis", "spatial", "--out", str(tmp_path / "f.png")])
    pixels = plt.imread(out)
    assert pixels.shape[1] > 3 * pixels.shape[0] / 2  # three panels side by side
    committed = root / "docs" / "img" / "scanpy_workflow.png"
    assert committed.stat().st_size < 200_000 and "img/scanpy_workflow.png" in (root / "docs" / "scanpy.md").read_text()
