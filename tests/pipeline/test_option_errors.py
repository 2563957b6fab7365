"""Wrong use of the SecActPy options gets a clear error that says what to do (SecActPy mostly ignores it:
tests/goldens/NOTES.md section 16), and the advice runs."""
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import lazyact
from lazyact.preprocess import EmptySamplesWarning
from conftest import DATA, load_golden

OPT = str(DATA / "synth_options.h5ad")
VISIUM = DATA / "visium_synth"


@pytest.fixture(scope="module")
def bulk():
    z = load_golden("bulk_ctrl_inputs")
    T = pd.DataFrame(z["T"], index=z["T_genes"], columns=z["T_samples"])
    C = pd.DataFrame(z["C"], index=z["C_genes"], columns=z["C_samples"])
    return T, C


def act(expr, **kw):
    return lazyact.activity(expr, "CytoSig", n_rand=10, **kw)


# --- control=, paired=, single_sample= (bulk) -----------------------------------------------------------------
def test_paired_without_shared_sample_names(bulk):
    T, C = bulk
    other = C.set_axis(["X1", "X2", "X3", "X4"], axis=1)
    with pytest.raises(ValueError, match="none is shared.*S1, S2.*X1, X2.*leave paired off"):
        act(T, control=other, paired=True)
    assert act(T, control=other).shape == (43, 1)  # the advice: without paired, the control's mean


def test_control_without_shared_genes(bulk):
    T, C = bulk
    with pytest.raises(ValueError, match="control shares no gene.*control genes: Q0, Q1"):
        act(T, control=C.set_axis([f"Q{i}" for i in range(len(C))], axis=0))


@pytest.mark.parametrize("name", ["paired", "single_sample"])
def test_paired_or_single_sample_without_control(bulk, name):
    with pytest.raises(ValueError, match=f"{name}=True compares samples with a control profile: pass control="):
        act(bulk[0], **{name: True})


@pytest.mark.parametrize("name", ["paired", "single_sample", "sig_filter"])
def test_flags_must_be_booleans(bulk, name):
    with pytest.raises(TypeError, match=f"{name}= must be True or False"):
        act(bulk[0], control=bulk[1], **{name: "yes"})


def test_control_with_centring_is_refused(bulk):
    T, C = bulk
    with pytest.raises(ValueError, match="control= replaces the centring: use preprocess='none'"):
        act(T, control=C, preprocess="center")


@pytest.mark.parametrize("mode", ["scrnaseq", "pseudobulk"])
def test_control_in_single_cell_modes_is_refused(mode):
    with pytest.raises(ValueError, match=f"control= is not available with preprocess='{mode}'"):
        act(OPT, preprocess=mode, control=str(VISIUM), groupby="cell_type" if mode == "pseudobulk" else None)


def test_paired_with_a_spatial_control_is_refused():
    with pytest.raises(ValueError, match="paired=/single_sample= apply to bulk controls"):
        act(OPT, preprocess="spatial", control=str(VISIUM), paired=True)


def test_duplicated_control_genes_keep_the_first(bulk):
    """SecActPy breaks on a DataFrame control with a duplicated gene; lazyact keeps the first row (its file rule)."""
    T, C = bulk
    dup = pd.concat([C, C.iloc[[0]] + 100.0])
    a, b = act(T, control=C), act(T, control=dup)
    np.testing.assert_array_equal(np.asarray(a.zscore), np.asarray(b.zscore))


# --- sig_filter= -------------------------------------------------------------------------------------------------
def test_sig_filter_keeping_nothing(bulk):
    T, _ = bulk
    T = T.loc[[g for g in T.index if g not in ("IL6", "TGFB1", "IFNG", "IL1B", "OSM", "LIF", "BMP2", "IL4")]]
    with pytest.raises(ValueError, match="sig_filter=True keeps no protein.*leave sig_filter off"):
        act(T, sig_filter=True, preprocess="center")
    assert act(T, preprocess="center").shape[0] == 43


def test_sig_filter_keeping_nothing_single_cell():
    with pytest.raises(ValueError, match="sig_filter=True keeps no protein"):
        act(str(DATA / "sc_synth_cytosig.h5ad"), preprocess="scrnaseq", sig_filter=True)


# --- groupby= ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["path", "anndata"])
def test_groupby_naming_a_missing_column(source):
    expr = OPT if source == "path" else ad.read_h5ad(OPT)
    with pytest.raises(ValueError, match="obs has no column 'nope'; available: .*cell_type"):
        act(expr, preprocess="spatial", groupby="nope")


def test_groupby_with_missing_labels():
    a = ad.read_h5ad(OPT)
    labels = a.obs["cell_type"].astype(object).to_numpy()
    labels[[3, 7]] = np.nan
    with pytest.raises(ValueError, match="2 missing label.*first at sample 3"):
        act(a, preprocess="spatial", groupby=labels)


def test_groupby_with_unsortable_labels():
    a = ad.read_h5ad(OPT)
    labels = np.full(a.n_obs, "a", dtype=object)
    labels[::2] = 1
    with pytest.raises(ValueError, match="mix types.*astype\\(str\\)"):
        act(a, preprocess="spatial", groupby=labels)
    assert act(a, preprocess="spatial", groupby=labels.astype(str)).shape[1] == 2


def test_groupby_with_wrong_length():
    with pytest.raises(ValueError, match="groupby has 3 labels for 240 samples"):
        act(OPT, preprocess="spatial", groupby=["a", "b", "c"])


@pytest.mark.parametrize("mode", ["none", "center", "scrnaseq"])
def test_groupby_in_other_modes_is_refused(mode):
    with pytest.raises(ValueError, match=f"groupby= groups cells for preprocess='pseudobulk' or 'spatial'.*"
                                         f"not preprocess='{mode}'"):
        act(OPT, preprocess=mode, groupby="cell_type")


# --- scale_factor=, min_genes= ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "1e4", True])
def test_scale_factor_must_be_positive(value):
    with pytest.raises(ValueError, match="scale_factor must be a finite number > 0"):
        act(OPT, preprocess="spatial", scale_factor=value)


@pytest.mark.parametrize("mode", ["none", "center", "pseudobulk"])
def test_scale_factor_in_other_modes_is_refused(mode):
    with pytest.raises(ValueError, match=f"scale_factor= sets the library size.*not preprocess='{mode}'"):
        act(OPT, preprocess=mode, scale_factor=1e4)


@pytest.mark.parametrize("value", [-1, 2.5, "10", True])
def test_min_genes_must_be_a_count(value):
    with pytest.raises(ValueError, match="min_genes must be an integer >= 0"):
        act(OPT, preprocess="spatial", min_genes=value)


@pytest.mark.parametrize("mode", ["none", "center"])
def test_min_genes_in_bulk_modes_is_refused(mode):
    with pytest.raises(ValueError, match=f"min_genes= drops cells/spots.*not preprocess='{mode}'"):
        act(OPT, preprocess=mode, min_genes=10)


def test_min_genes_removing_every_spot():
    with pytest.raises(ValueError, match=r"min_genes=100000 removes every one of the 240 samples \(the most "
                                         r"detected genes in a sample is \d+\); lower min_genes"):
        act(OPT, preprocess="spatial", min_genes=100_000)


# --- spatial control --------------------------------------------------------------------------------------------
def test_spatial_control_without_shared_genes():
    ctrl = pd.DataFrame(np.ones((3, 4)), index=["QQ1", "QQ2", "QQ3"])
    with pytest.raises(ValueError, match="shares no gene with the input.*control genes QQ1, QQ2, QQ3"):
        act(OPT, preprocess="spatial", control=ctrl)


def test_spatial_control_with_an_empty_spot_warns_and_leaves_it_out():
    z = load_golden("st_opt_control_counts")
    ctrl = pd.DataFrame(z["counts"].astype(np.float64), index=z["genes"], columns=z["samples"])
    empty = ctrl.copy()
    empty["blank"] = 0.0
    with pytest.warns(EmptySamplesWarning, match="1 control spot"):
        a = act(str(DATA / "sc_synth_cytosig.h5ad"), preprocess="spatial", control=empty, kernel="dense")
    b = act(str(DATA / "sc_synth_cytosig.h5ad"), preprocess="spatial", control=ctrl, kernel="dense")
    np.testing.assert_allclose(a.zscore[:, :5], b.zscore[:, :5], rtol=0, atol=1e-12)


def test_spatial_sparse_mode_with_a_control_warns():
    with pytest.warns(UserWarning, match="sparse_mode=True is ignored with a spatial control"):
        act(OPT, preprocess="spatial", control=str(VISIUM), sparse_mode=True)


# --- Visium folders ---------------------------------------------------------------------------------------------
@pytest.fixture
def broken(tmp_path):
    def make(name, *remove):
        d = tmp_path / name
        shutil.copytree(VISIUM, d)
        for rel in remove:
            p = d / rel
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        return d
    return make


def test_visium_folder_without_matrix(broken):
    d = broken("nomatrix", "filtered_feature_bc_matrix", "filtered_feature_bc_matrix.h5")
    with pytest.raises(FileNotFoundError, match="no count matrix in Visium folder.*filtered_feature_bc_matrix.h5 "
                                                "and filtered_feature_bc_matrix/"):
        act(d, preprocess="spatial")


def test_visium_folder_without_positions(broken):
    d = broken("nopos", "spatial/tissue_positions.csv", "spatial/tissue_positions_list.csv")
    with pytest.raises(FileNotFoundError, match="no spot positions in .*tissue_positions_list.csv and "
                                                "tissue_positions.csv"):
        act(d, preprocess="spatial")


def test_visium_folder_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder: .*missing'.*Space Ranger"):
        act(tmp_path / "missing", preprocess="spatial")


def test_visium_folder_without_in_tissue_spots(broken):
    d = broken("offtissue")
    for name in ("tissue_positions.csv", "tissue_positions_list.csv"):
        p = d / "spatial" / name
        pos = pd.read_csv(p, header=0 if name == "tissue_positions.csv" else None)
        pos.iloc[:, 1] = 0
        pos.to_csv(p, index=False, header=name == "tissue_positions.csv")
    with pytest.raises(ValueError, match="no in-tissue spot.*none of the 191 barcodes"):
        act(d, preprocess="spatial")


def test_visium_mtx_folder_missing_a_file(broken):
    d = broken("nobarcodes", "filtered_feature_bc_matrix.h5", "filtered_feature_bc_matrix/barcodes.tsv.gz")
    with pytest.raises(FileNotFoundError, match="lacks barcodes.tsv.gz of a 10x MTX matrix"):
        act(d, preprocess="spatial")
