"""The option goldens of issue 15 (tests/goldens/make_goldens_options.py) are self-consistent.

lazyact has no ``control=``/``paired=``/``single_sample=``/``sig_filter=``/spatial ``groupby=``/
``scale_factor=``/``min_genes=``/Visium input yet (phase 2).  What can be checked today: each
fixture's stored regression input (``Y_in``, or the first columns of the differential matrix
``Y_diff_first``), run through lazyact's existing differential path (``preprocess="none"``) with the
signature SecActPy used (its proteins after ``sig_filter``), gives the stored beta/se/zscore within
1e-10 and identical p-values; and the spot-filtering options equal lazyact's spatial path run on
the spots SecActPy kept.  Phase 2 replaces the emulation by the keywords.
"""
import numpy as np
import pandas as pd
import pytest

from conftest import DATA, GOLDENS, load_golden
import lazyact
from lazyact.preprocess import zscore_columns
from lazyact.ridge import RidgeModel, projection

OPTION_CASES = sorted(p.stem for p in GOLDENS.glob("*.npz")
                      if p.stem.startswith(("bulk_ctrl_", "bulk_sigfilter_", "sc_opt_", "st_opt_", "visium_",
                                            "cytosig_ly86_sigfilter"))
                      and not p.stem.endswith(("_inputs", "_counts")))


def _has_regression_input(case):
    with np.load(GOLDENS / f"{case}.npz") as z:
        return "Y_in" in z.files or "Y_diff_first" in z.files


# the sparse_mode fixtures store SecActPy's population statistics instead (row_means, mu, sigma); the
# sig_filter ones are checked below, the scale_factor ones need phase 2
REGRESSION_CASES = [c for c in OPTION_CASES if _has_regression_input(c)]


def _check(act, g, ncols):
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(getattr(act, k)[:, :ncols], g[k][:, :ncols], rtol=0, atol=1e-10, err_msg=k)
    np.testing.assert_array_equal(act.pvalue[:, :ncols], g["pvalue"][:, :ncols])


def _signature(g):
    """The signature SecActPy regressed on: its proteins after sig_filter, grouped as it was."""
    proteins = list(g["proteins"])
    if str(g["signature"]).startswith("random"):
        z = load_golden(str(g["inputs_ref"]).removesuffix(".npz"))
        sig = pd.DataFrame(z["R"], index=z["R_genes"], columns=z["R_samples"])
        return sig[[c for c in sig.columns if c in proteins]], bool(g["is_group_sig"])
    return lazyact.load_signature("CytoSig")[proteins], False


def test_option_goldens_present():
    assert len(OPTION_CASES) >= 30 and len(REGRESSION_CASES) >= 25


@pytest.mark.parametrize("case", REGRESSION_CASES)
def test_option_golden_regression_input(case):
    g = load_golden(case)
    M = g["Y_in"] if "Y_in" in g else g["Y_diff_first"]
    sig, grouped = _signature(g)
    if "Y_diff" in g and np.isnan(g["Y_diff"]).any():
        # genes missing from the control: SecActPy leaves them out of the column mean/sd, then sets them
        # to 0 (NOTES.md section 12), so Y_in is not a z-scored column and must go to the engine as is
        X = zscore_columns(sig.loc[list(g["genes"])].to_numpy(np.float64))
        model = RidgeModel(projection(X, float(g["lambda_"])), n_rand=int(g["n_rand"]), seed=0, rng="srand")
        out = model.compute(np.arange(X.shape[1]), M)
        for k in ("beta", "se", "zscore"):
            np.testing.assert_allclose(out[k], g[k], rtol=0, atol=1e-10, err_msg=k)
        np.testing.assert_array_equal(out["pvalue"], g["pvalue"])
        return
    expr = pd.DataFrame(M, index=g["genes"])
    act = lazyact.activity(expr, sig, preprocess="none", group=0.9 if grouped else False, n_rand=int(g["n_rand"]),
                           seed=0, rng="srand")
    assert list(act.proteins) == list(g["proteins"])
    _check(act, g, M.shape[1])


def test_cytosig_ly86_sigfilter_is_the_file_on_the_kept_proteins():
    g = load_golden("cytosig_ly86_sigfilter_n100")
    sig = lazyact.load_signature("CytoSig")
    assert list(g["proteins"]) == [p for p in sig.columns if p in set(g["kept_proteins"])]
    act = lazyact.activity(DATA / "Ly86-Fc_vs_Vehicle_logFC.txt", sig[list(g["proteins"])], preprocess="none",
                           group=False, n_rand=100)
    _check(act, g, 5)


def _h5ad_spots(path, keep):
    anndata = pytest.importorskip("anndata")
    a = anndata.read_h5ad(path)
    return a[keep(a)].copy()


def test_min_genes_is_a_spot_filter_before_everything():
    """st_opt_mingenes150_spot: SecActPy's min_genes = lazyact's spatial path on the spots it keeps."""
    g = load_golden("st_opt_mingenes150_spot_n100")
    a = _h5ad_spots(DATA / "sc_synth_cytosig.h5ad", lambda a: np.asarray((a.X > 0).sum(axis=1)).ravel() >= 150)
    assert not set(g["dropped_samples"]) & set(a.obs_names)
    act = lazyact.activity(a, "CytoSig", preprocess="spatial", n_rand=100)
    assert list(act.samples[: len(g["samples"])]) == list(g["samples"])
    _check(act, g, len(g["samples"]))


def _visium_anndata(min_genes=0):
    """The Visium folder as SecActPy reads it (in-tissue barcodes of the filtered matrix), from the 10x HDF5."""
    anndata = pytest.importorskip("anndata")
    import h5py
    import scipy.sparse as sp

    root = DATA / "visium_synth"
    with h5py.File(root / "filtered_feature_bc_matrix.h5", "r") as f:
        m = f["matrix"]
        C = sp.csc_matrix((m["data"][()], m["indices"][()], m["indptr"][()]), shape=tuple(m["shape"][()]))
        bcs = [b.decode() for b in m["barcodes"][()]]
        names = [b.decode() for b in m["features"]["name"][()]]
    pos = pd.read_csv(root / "spatial" / "tissue_positions.csv").set_index("barcode")
    cols = [i for i, b in enumerate(bcs) if pos.loc[b, "in_tissue"] == 1]
    X = C[:, cols].T.tocsr().astype(np.float32)
    a = anndata.AnnData(X=X, obs=pd.DataFrame(index=[bcs[i] for i in cols]),
                        var=pd.DataFrame(index=pd.Index(names)))
    if min_genes:
        a = a[np.asarray((a.X > 0).sum(axis=1)).ravel() >= min_genes].copy()
    return a


@pytest.mark.filterwarnings("ignore:Variable names are not unique")   # a 10x matrix has duplicated symbols
@pytest.mark.parametrize("case,min_genes", [("visium_spot_n100", 0), ("visium_spot_mingenes100_n1000", 100)])
def test_visium_golden_is_the_in_tissue_matrix(case, min_genes):
    g = load_golden(case)
    a = _visium_anndata(min_genes)
    n = len(g["samples"])
    assert list(a.obs_names[:n]) == list(g["barcodes"])
    act = lazyact.activity(a, "CytoSig", preprocess="spatial", n_rand=int(g["n_rand"]))
    _check(act, g, n)


@pytest.mark.parametrize("case,preprocess", [("sc_opt_sigfilter_cell_sparse_n100", "scrnaseq"),
                                             ("st_opt_sigfilter_spot_sparse_n100", "spatial"),
                                             ("sc_opt_sigfilter_cell_dense_n100", "scrnaseq"),
                                             ("st_opt_sigfilter_spot_dense_n100", "spatial")])
def test_sig_filter_sc_st_is_the_kept_proteins(case, preprocess):
    """sig_filter in the sc/ST functions = the same path on the signature's kept proteins (sparse in-flight:
    z within 1e-8, as tests/test_singlecell.py)."""
    g = load_golden(case)
    sig = lazyact.load_signature("CytoSig")[list(g["kept_proteins"])]
    act = lazyact.activity(DATA / "synth_options.h5ad", sig, preprocess=preprocess, group=False, n_rand=100,
                           sparse_mode=bool(g["sparse_mode"]))
    n = len(g["samples"])
    assert list(act.samples[:n]) == list(g["samples"])
    for k, tol in (("beta", 1e-10), ("se", 1e-10), ("zscore", 1e-8)):
        np.testing.assert_allclose(getattr(act, k)[:, :n], g[k], rtol=0, atol=tol, err_msg=k)
    np.testing.assert_array_equal(act.pvalue[:, :n], g["pvalue"])
