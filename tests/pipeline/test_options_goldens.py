"""The options of SecActPy's entry points as lazyact.activity keywords, against SecActPy 0.3.1 (issue 15).

Fixtures: tests/goldens/make_goldens_options.py (README.md "Option fixtures"; facts NOTES.md sections 12-16).
Dense paths within 1e-10 on beta/se/zscore, the sparse in-flight kernel within 1e-8 on zscore, p identical.
Spot/cell-level fixtures hold their first 40 columns: only those are computed here (lazily).
"""
import shutil
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import lazyact
from conftest import DATA, GOLDENS, load_golden

SC = str(DATA / "sc_synth_cytosig.h5ad")
OPT = str(DATA / "synth_options.h5ad")
VISIUM = DATA / "visium_synth"
LY86 = DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"


def check(act, g, atol_z=1e-10, names="samples"):
    """act equals the golden g on the golden's columns (and names, genes)."""
    n = len(g["samples"])
    assert list(act.proteins) == list(g["proteins"])
    assert list(act.samples[:n]) == list(g[names])
    assert list(act.genes) == list(g["genes"])
    for k, tol in (("beta", 1e-10), ("se", 1e-10), ("zscore", atol_z)):
        np.testing.assert_allclose(act[k][:, :n], g[k], rtol=0, atol=tol, err_msg=k)
    np.testing.assert_array_equal(act.pvalue[:, :n], g["pvalue"])


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def test_every_option_fixture_is_tested():
    cases = {p.stem for p in GOLDENS.glob("*.npz")
             if p.stem.startswith(("bulk_ctrl_", "bulk_sigfilter_", "sc_opt_", "st_opt_", "visium_"))
             or "sigfilter" in p.stem}
    cases.add("st_celltype_n100")  # make_goldens_sc.py's cell-type-level fixture, until now untested
    inputs = {"bulk_ctrl_inputs", "st_opt_control_counts"}
    tested = set(BULK) | set(SINGLE_CELL) | set(SPATIAL) | set(VISIUM_CASES) | {
        "bulk_ctrl_files_n100", "cytosig_ly86_sigfilter_n100", "secact_ly86_sigfilter_n100"}
    assert cases - inputs == tested


# ---------------------------------------------------------------------------------------------------------
# bulk: control=, paired=, single_sample=, sig_filter=
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bulk_inputs():
    z = load_golden("bulk_ctrl_inputs")
    return {n: pd.DataFrame(z[n], index=z[f"{n}_genes"], columns=z[f"{n}_samples"])
            for n in ("T", "C", "Cd", "R", "RT", "RC")}


# case -> (treatment, control, keywords); "R" as signature = the random signature (grouping on)
BULK = {
    "bulk_ctrl_unpaired_n100": ("T", "C", {}),
    "bulk_ctrl_unpaired_n1000": ("T", "C", {}),
    "bulk_ctrl_unpaired_single_n100": ("T", "C", dict(single_sample=True)),
    "bulk_ctrl_unpaired_diffgenes_n100": ("T", "Cd", {}),
    "bulk_ctrl_unpaired_diffgenes_single_sigfilter_n100": ("T", "Cd", dict(single_sample=True, sig_filter=True)),
    "bulk_ctrl_paired_n100": ("T", "C", dict(paired=True)),
    "bulk_ctrl_paired_single_n100": ("T", "C", dict(paired=True, single_sample=True)),
    "bulk_ctrl_paired_diffgenes_single_n1000": ("T", "Cd", dict(paired=True, single_sample=True)),
    "bulk_ctrl_onesample_single_n100": ("T:S2", "C", dict(single_sample=True)),
    "bulk_ctrl_randsig_unpaired_n100": ("RT", "RC", dict(signature="R")),
    "bulk_ctrl_randsig_paired_single_sigfilter_n100": ("RT", "RC", dict(signature="R", paired=True,
                                                                        single_sample=True, sig_filter=True)),
    "bulk_sigfilter_randsig_center_n100": ("RT", None, dict(signature="R", preprocess="center", sig_filter=True)),
}


@pytest.mark.parametrize("case", sorted(BULK))
def test_bulk_options(case, bulk_inputs):
    t, c, kw = BULK[case]
    kw = dict(kw)
    g = load_golden(case)
    name, _, col = t.partition(":")
    Y = bulk_inputs[name][[col]] if col else bulk_inputs[name]
    sig = bulk_inputs["R"] if kw.pop("signature", None) == "R" else "CytoSig"
    control = None if c is None else bulk_inputs[c]
    act = quiet(lazyact.activity, Y, sig, control=control, n_rand=int(g["n_rand"]), **kw)
    check(act, g)
    assert act.params["sig_filter"] is bool(g["sig_filter"])
    if control is not None:
        assert (act.params["paired"], act.params["single_sample"]) == (bool(g["is_paired"]),
                                                                       bool(g["is_single_sample_level"]))


def test_bulk_control_genes_missing_on_one_side_warn_and_count_as_zero(bulk_inputs):
    g = load_golden("bulk_ctrl_unpaired_diffgenes_n100")
    with pytest.warns(RuntimeWarning, match="30 of the 790 genes"):
        act = lazyact.activity(bulk_inputs["T"], "CytoSig", control=bulk_inputs["Cd"], n_rand=100)
    missing = np.isnan(g["Y_diff"]).ravel()
    assert missing.sum() == 30
    Y = act.blocks.expression.block(np.array([0]))
    assert (Y[missing] == 0).all()
    np.testing.assert_allclose(Y, g["Y_in"], rtol=0, atol=1e-13)


def test_bulk_control_from_files_keeps_first_duplicate(tmp_path):
    g = load_golden("bulk_ctrl_files_n100")
    t, c = tmp_path / "treatment.tsv", tmp_path / "control.tsv"
    t.write_text(g["treatment_tsv"])
    c.write_text(g["control_tsv"])
    act = lazyact.activity(t, "CytoSig", control=c, n_rand=100)
    check(act, g)
    assert act.params["control"] == str(c)


def test_bulk_collapsed_change_is_lazy_and_sliceable(bulk_inputs):
    g = load_golden("bulk_ctrl_unpaired_n1000")
    act = lazyact.activity(bulk_inputs["T"], "CytoSig", control=bulk_inputs["C"], n_rand=1000, chunks=(5, 1))
    assert act.shape == (43, 1) and act.store.cached_fraction() == 0
    np.testing.assert_allclose(act.zscore[[40, 3], 0], g["zscore"][[40, 3], 0], rtol=0, atol=1e-10)
    assert 0 < act.store.cached_fraction() < 1  # only the chunks asked for
    np.testing.assert_array_equal(act.pvalue.loc["IL6", :], g["pvalue"][list(g["proteins"]).index("IL6")])


def test_ly86_sig_filter_cytosig():
    g = load_golden("cytosig_ly86_sigfilter_n100")
    act = lazyact.activity(LY86, "CytoSig", sig_filter=True, n_rand=100)
    check(act, g)
    assert act.params["n_proteins_kept"] == len(g["kept_proteins"]) == 22


@pytest.mark.secact
def test_ly86_sig_filter_secact_regroups(secact_signature):
    """SecAct: the filter runs before grouping (1,170 -> 821 proteins, regrouped)."""
    g = load_golden("secact_ly86_sigfilter_n100")
    sig = lazyact.load_signature(secact_signature)  # a DataFrame: grouping on by default, as for the path
    act = lazyact.activity(LY86, sig, sig_filter=True, n_rand=100, backend="numpy")
    assert act.params["n_groups"] == len(g["groups"])
    check(act, g)


# ---------------------------------------------------------------------------------------------------------
# single-cell: sig_filter=, scale_factor=
# ---------------------------------------------------------------------------------------------------------
SINGLE_CELL = {
    "sc_opt_sigfilter_cell_dense_n100": dict(preprocess="scrnaseq", sig_filter=True, kernel="dense"),
    "sc_opt_sigfilter_cell_sparse_n100": dict(preprocess="scrnaseq", sig_filter=True, sparse_mode=True),
    "sc_opt_sigfilter_pseudobulk_n100": dict(preprocess="pseudobulk", sig_filter=True, groupby="cell_type"),
    "sc_opt_scale1e4_cell_dense_n100": dict(preprocess="scrnaseq", scale_factor=1e4, kernel="dense"),
}


@pytest.mark.parametrize("case", sorted(SINGLE_CELL))
def test_single_cell_options(case):
    g = load_golden(case)
    inp = OPT
    if "removed_genes" in g:  # the scale_factor reference: synth_options.h5ad without its all-zero genes
        a = ad.read_h5ad(OPT)
        inp = a[:, ~a.var_names.isin(list(g["removed_genes"]))].copy()
    act = lazyact.activity(inp, "CytoSig", n_rand=100, **SINGLE_CELL[case])
    check(act, g, atol_z=1e-10 if SINGLE_CELL[case].get("kernel") == "dense" else 1e-8)
    if "kept_proteins" in g:
        assert list(act.proteins) == list(g["kept_proteins"])


# ---------------------------------------------------------------------------------------------------------
# spatial: control=, groupby=, scale_factor=, min_genes=, sig_filter=
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def st_control():
    z = load_golden("st_opt_control_counts")
    return pd.DataFrame(z["counts"].astype(np.float64), index=z["genes"], columns=z["samples"])


SPATIAL = {
    "st_opt_control_spot_n100": (SC, dict(control="table")),
    "st_opt_control_celltype_n100": (SC, dict(control="table", groupby="cell_type")),
    "st_opt_control_visium_spot_n1000": (OPT, dict(control=str(VISIUM))),
    "st_opt_celltype_n1000": (OPT, dict(groupby="cell_type")),
    "st_celltype_n100": (SC, dict(groupby="cell_type")),
    "st_opt_scale1e4_spot_dense_n100": (SC, dict(scale_factor=1e4)),
    "st_opt_scale1e6_spot_sparse_n100": (SC, dict(scale_factor=1e6, sparse_mode=True)),
    "st_opt_scale1e4_celltype_dense_n100": (OPT, dict(scale_factor=1e4, groupby="cell_type")),
    "st_opt_mingenes150_spot_n100": (SC, dict(min_genes=150)),
    "st_opt_mingenes60_celltype_n100": (OPT, dict(min_genes=60, groupby="cell_type")),
    "st_opt_sigfilter_spot_dense_n100": (OPT, dict(sig_filter=True)),
    "st_opt_sigfilter_spot_sparse_n100": (OPT, dict(sig_filter=True, sparse_mode=True)),
}


# spot level with both kernels (sparse in-flight: z within 1e-8; dense blocks: 1e-10); cell-type level is a
# small dense profile (one kernel)
SPATIAL_RUNS = [(c, k) for c in sorted(SPATIAL) for k in (("auto",) if "groupby" in SPATIAL[c][1] else ("auto", "dense"))]


@pytest.mark.parametrize("case,kernel", SPATIAL_RUNS)
def test_spatial_options(case, kernel, st_control):
    g = load_golden(case)
    inp, kw = SPATIAL[case]
    kw = dict(kw)
    if kw.get("control") == "table":
        kw["control"] = st_control
    grouped = "groupby" in kw
    act = lazyact.activity(inp, "CytoSig", preprocess="spatial", n_rand=int(g["n_rand"]), kernel=kernel, **kw)
    check(act, g, atol_z=1e-10 if kernel == "dense" or grouped else 1e-8)
    if "control_genes_used" in g:  # the input genes kept are those the control has
        assert set(act.genes) <= set(g["control_genes_used"])
    if "group_sizes" in g:  # with min_genes: the groups' spots after the filter
        assert act.params["group_sizes"] == g["group_sizes"].tolist()
    if "dropped_samples" in g and not grouped:
        assert act.shape[1] == g["n_genes_detected"].size - len(g["dropped_samples"])
        assert not set(act.samples) & set(g["dropped_samples"])
    assert act.params["scale_factor"] == float(g.get("scale_factor", 1e5))


def test_spatial_options_on_anndata_and_labels(st_control):
    """Other input kinds: an in-memory AnnData (min_genes applies to it too, unlike SecActPy), labels as an array."""
    a = ad.read_h5ad(SC)
    g = load_golden("st_opt_control_celltype_n100")
    act = lazyact.activity(a, "CytoSig", preprocess="spatial", control=st_control,
                           groupby=a.obs["cell_type"].to_numpy(), n_rand=100)
    check(act, g)
    assert act.params["groupby"] == "labels"
    g = load_golden("st_opt_mingenes150_spot_n100")
    act = lazyact.activity(a, "CytoSig", preprocess="spatial", min_genes=150, n_rand=100)
    check(act, g, atol_z=1e-8)
    np.testing.assert_array_equal(act.spatial, a.obsm["spatial"][g["n_genes_detected"] >= 150])


def test_spatial_control_as_anndata_equals_the_table(st_control):
    """A control given as AnnData (a lazyact extension; SecActPy takes a table or a Visium folder)."""
    g = load_golden("st_opt_control_spot_n100")
    c = ad.AnnData(X=st_control.to_numpy().T.copy(), obs=pd.DataFrame(index=st_control.columns),
                   var=pd.DataFrame(index=st_control.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata: duplicated var names (the control has one)
        act = lazyact.activity(SC, "CytoSig", preprocess="spatial", control=c, n_rand=100, kernel="dense")
    check(act, g)


def test_integer_labels_give_integer_groups():
    a = ad.read_h5ad(OPT)
    labels = np.arange(a.n_obs) % 3
    act = lazyact.activity(a, "CytoSig", preprocess="spatial", groupby=labels, n_rand=10)
    assert list(act.samples) == [0, 1, 2]


# ---------------------------------------------------------------------------------------------------------
# a Space Ranger (Visium) folder as input
# ---------------------------------------------------------------------------------------------------------
VISIUM_CASES = {
    "visium_spot_n100": {},
    "visium_spot_mingenes100_n1000": dict(min_genes=100),
    "visium_spot_scale1e4_sparse_n100": dict(scale_factor=1e4, sparse_mode=True),
    "visium_spot_sigfilter_n100": dict(sig_filter=True),
}


@pytest.mark.parametrize("case", sorted(VISIUM_CASES))
def test_visium_folder(case):
    g = load_golden(case)
    act = lazyact.activity(VISIUM, "CytoSig", preprocess="spatial", n_rand=int(g["n_rand"]), **VISIUM_CASES[case])
    check(act, g, atol_z=1e-8, names="barcodes")
    n = len(g["barcodes"])
    # positions as scanpy's obsm["spatial"]: (pxl_col, pxl_row) in full-resolution pixels
    np.testing.assert_array_equal(act.spatial[:n], np.c_[g["pxl_col_in_fullres"], g["pxl_row_in_fullres"]])
    assert act.shape[1] == (g["n_genes_detected"] >= VISIUM_CASES[case].get("min_genes", 0)).sum()
    obs = act.source  # the folder (a subset of it with min_genes): its positions are obs columns
    rc = [f"{r}x{c}" for r, c in zip(obs.obs_column("array_row"), obs.obs_column("array_col"))]
    assert rc[: len(g["samples"])] == list(g["samples"])  # SecActPy's names, derivable


@pytest.fixture
def visium_variants(tmp_path):
    """The same folder as Space Ranger >= 2.0 (headered positions only), MTX only, and under outs/."""
    sr2 = tmp_path / "sr2"
    shutil.copytree(VISIUM, sr2)
    (sr2 / "spatial" / "tissue_positions_list.csv").unlink()
    mtx = tmp_path / "mtx"
    shutil.copytree(VISIUM, mtx)
    (mtx / "filtered_feature_bc_matrix.h5").unlink()
    outs = tmp_path / "sample"
    shutil.copytree(VISIUM, outs / "outs")
    return {"sr2": sr2, "mtx": mtx, "outs": outs}


@pytest.mark.parametrize("variant", ["sr2", "mtx", "outs"])
def test_visium_folder_layouts(visium_variants, variant):
    g = load_golden("visium_spot_n100")
    act = lazyact.activity(str(visium_variants[variant]) + "/", "CytoSig", preprocess="spatial", n_rand=100)
    check(act, g, atol_z=1e-8, names="barcodes")
    assert act.source.describe().startswith("VisiumSource(")


# ---------------------------------------------------------------------------------------------------------
# min_genes= in the other count modes (a lazyact extension): the same as the mode on the kept cells
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["scrnaseq", "pseudobulk"])
def test_min_genes_in_other_count_modes_is_the_mode_on_the_kept_cells(mode):
    a = ad.read_h5ad(OPT)
    keep = np.asarray((a.X > 0).sum(axis=1)).ravel() >= 60
    assert 0 < (~keep).sum() < 40
    kw = dict(groupby="cell_type") if mode == "pseudobulk" else dict(kernel="dense")
    got = lazyact.activity(OPT, "CytoSig", preprocess=mode, min_genes=60, n_rand=20, **kw)
    ref = lazyact.activity(a[keep].copy(), "CytoSig", preprocess=mode, n_rand=20, **kw)
    assert list(got.samples) == list(ref.samples) and got.params["min_genes"] == 60
    np.testing.assert_allclose(got.zscore[:, :20], ref.zscore[:, :20], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.pvalue[:, :20], ref.pvalue[:, :20])
