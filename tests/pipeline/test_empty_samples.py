"""Cells and spots with no counts: NaN statistics, one warning, every other cell equal to SecActPy without them.

Fixtures ``empty_*`` (``tests/goldens/make_goldens_inputs.py``): SecActPy 0.3.1 run on
``sc_synth_cytosig.h5ad`` with the empty cells removed. Here lazyact runs on the input WITH them.
"""
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lazyact
from conftest import DATA, load_golden
from lazyact.preprocess import EmptySamplesWarning

H5AD = DATA / "sc_synth_cytosig.h5ad"
N_COLS = 44  # enough leading cells for the 40 stored columns (4 of the first 31 cells are empty)


@pytest.fixture(scope="module")
def empty_input(tmp_path_factory):
    """The fixtures' input: zeroed cells, and one cell whose only count is in the dropped duplicate PRKACA."""
    g = load_golden("empty_sc_cell_dense_n100")
    a = ad.read_h5ad(H5AD)
    X = a.X.tolil(copy=True)
    for c in list(g["zero_cells"]) + [g["dup_cell"]]:
        X[c, :] = 0
    X[g["dup_cell"], list(a.var_names).index(g["dup_gene"])] = 1
    X = sp.csr_matrix(X, dtype=np.float32)
    X.eliminate_zeros()
    a.X = X
    path = tmp_path_factory.mktemp("empty") / "empty.h5ad"
    a.write_h5ad(path)
    return a, str(path)


def run_warned(expression, what="cells", **kwargs):
    """lazyact.activity, asserting exactly one EmptySamplesWarning."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        act = lazyact.activity(expression, "CytoSig", n_rand=100, **kwargs)
    hits = [w for w in rec if issubclass(w.category, EmptySamplesWarning)]
    assert len(hits) == 1, [str(w.message) for w in rec]
    assert hits[0].filename == __file__  # attributed to the user's call
    return act, str(hits[0].message)


def check_against(act, g, atol_z, n_cols=N_COLS):
    """Valid columns equal the golden (SecActPy without the empty cells); invalid ones are all NaN."""
    valid = act.valid
    assert list(act.samples[~valid]) == list(g["empty_names"])
    cols = np.arange(n_cols)
    out = {k: act[k][:, cols] for k in ("beta", "se", "zscore", "pvalue")}
    ok = valid[cols]
    n = int(g["n_samples_stored"])
    assert ok.sum() >= n
    keep = np.flatnonzero(ok)[:n]
    assert list(act.samples[keep]) == list(g["samples"])
    assert list(act.proteins) == list(g["proteins"])
    np.testing.assert_allclose(out["beta"][:, keep], g["beta"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["se"][:, keep], g["se"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["zscore"][:, keep], g["zscore"], rtol=0, atol=atol_z)
    np.testing.assert_array_equal(out["pvalue"][:, keep], g["pvalue"])
    for k, v in out.items():
        assert np.isnan(v[:, ~ok]).all(), k
        assert np.isfinite(v[:, ok]).all(), k
    return out, keep


def check_empty_last_group(act, g):
    """Groups: the golden's 5 (SecActPy without the empty cells), then 'zz_empty' with NaN statistics."""
    assert list(act.samples) == list(g["samples"]) + ["zz_empty"]
    assert list(act.valid) == [True] * 5 + [False]
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(act[k][:, :5], g[k], rtol=0, atol=1e-10)
        assert np.isnan(act[k][:, 5]).all()
    np.testing.assert_array_equal(act.pvalue[:, :5], g["pvalue"])


CASES = [  # fixture, preprocess, options, kernel, z tolerance (dense 1e-10, sparse in-flight 1e-8)
    ("empty_sc_cell_dense_n100", "scrnaseq", {}, "dense", 1e-10),
    ("empty_sc_cell_dense_n100", "scrnaseq", {}, "auto", 1e-8),
    ("empty_sc_cell_sparse_n100", "scrnaseq", {"sparse_mode": True}, "auto", 1e-8),
    ("empty_sc_cell_sparse_n100", "scrnaseq", {"sparse_mode": True}, "dense", 1e-8),
    ("empty_st_spot_dense_n100", "spatial", {}, "dense", 1e-10),
    ("empty_st_spot_dense_n100", "spatial", {}, "auto", 1e-8),
    ("empty_st_spot_sparse_n100", "spatial", {"sparse_mode": True}, "auto", 1e-8),
]


@pytest.mark.parametrize("name, preprocess, options, kernel, atol_z", CASES)
def test_empty_cells_equal_secactpy_without_them(empty_input, name, preprocess, options, kernel, atol_z):
    g = load_golden(name)
    act, msg = run_warned(empty_input[0], preprocess=preprocess, kernel=kernel, **options)
    what = "cells" if preprocess == "scrnaseq" else "spots"
    assert msg.startswith(f"4 of 400 {what} have no counts over the kept genes (library size 0)")
    assert "'cell003', 'cell017', 'cell026', 'cell030'" in msg
    check_against(act, g, atol_z)


def test_the_advice_in_the_warning_runs(empty_input):
    """The warning's advice (adata[act.valid]) runs, gives no warning, and the same numbers."""
    act, msg = run_warned(empty_input[0], preprocess="scrnaseq", kernel="dense")
    assert "adata[act.valid]" in msg
    adata = empty_input[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptySamplesWarning)
        kept = lazyact.activity(adata[act.valid].copy(), "CytoSig", preprocess="scrnaseq", kernel="dense", n_rand=100)
    cols = np.flatnonzero(act.valid)[:30]
    np.testing.assert_allclose(kept.zscore[:, :30], act.zscore[:, cols], rtol=0, atol=1e-12)


def test_empty_cells_file_source_and_pickle(empty_input):
    """The same from an .h5ad path (file-backed CSR, blocks read lazily), and after a pickle round trip."""
    import pickle

    g = load_golden("empty_sc_cell_dense_n100")
    act, _ = run_warned(empty_input[1], preprocess="scrnaseq", chunks=(43, 7))
    out, keep = check_against(act, g, 1e-8)
    again = pickle.loads(pickle.dumps(act))
    np.testing.assert_array_equal(again.valid, act.valid)
    np.testing.assert_array_equal(again.zscore[:, :N_COLS], out["zscore"])  # NaN at the same places


def test_empty_cells_make_secactpy_zero_everything_but_not_lazyact(empty_input):
    """Contrast with SecActPy WITH the empty cells (NOTES.md 6c): its dense path zeroes every cell,
    its sparse_mode gives the empty cells |z| up to 7.7; lazyact's other cells are unaffected."""
    act, _ = run_warned(empty_input[0], preprocess="scrnaseq", kernel="dense")
    z = act.zscore[:, :N_COLS]
    assert np.nanmax(np.abs(z)) > 3  # real activity, not SecActPy's all-zero result
    assert np.isnan(z[:, ~act.valid[:N_COLS]]).all()


def test_pseudobulk_group_without_counts(empty_input):
    """A pseudo-bulk group made only of empty cells gets NaN statistics and is left out of the
    gene means over groups; the other groups equal SecActPy without the empty cells."""
    g = load_golden("empty_sc_pseudobulk_n100")
    labels = g["labels"]
    assert list(labels).count("zz_empty") == 3
    act, msg = run_warned(empty_input[0], preprocess="pseudobulk", groupby=labels)
    assert msg.startswith("1 of 6 groups have no counts in any of their cells ('zz_empty')")
    check_empty_last_group(act, g)


def test_pseudobulk_empty_cells_in_a_group_change_nothing(empty_input):
    """Empty cells inside a populated group add no counts: no warning, SecActPy's numbers."""
    g = load_golden("empty_sc_pseudobulk_n100")
    labels = np.array(g["labels"], dtype=object)
    labels[labels == "zz_empty"] = "B_cell"
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptySamplesWarning)
        act = lazyact.activity(empty_input[0], "CytoSig", n_rand=100, preprocess="pseudobulk", groupby=labels)
    assert act.valid.all()
    np.testing.assert_allclose(act.zscore[:, :], g["zscore"], rtol=0, atol=1e-10)


def test_spatial_cell_type_group_without_counts(empty_input):
    """Spatial cell-type level (groupby=): a group of empty spots has no mean: NaN statistics, left out of
    the centring over groups; the other groups equal SecActPy without the empty spots."""
    g = load_golden("empty_st_celltype_n100")
    act, msg = run_warned(empty_input[0], preprocess="spatial", groupby=g["labels"])
    assert msg.startswith("1 of 6 groups have no spot with counts over the kept genes ('zz_empty')")
    check_empty_last_group(act, g)


def test_spatial_cell_type_empty_spots_in_a_group(empty_input):
    """Empty spots inside populated groups are left out of their group's mean (one warning): SecActPy's
    numbers without them."""
    g = load_golden("empty_st_celltype_n100")
    labels = np.array(g["labels"], dtype=object)
    labels[labels == "zz_empty"] = "B_cell"
    act, msg = run_warned(empty_input[0], preprocess="spatial", groupby=labels)
    assert msg.startswith("4 spot(s) have no counts over the kept genes; they are left out of their group's mean")
    assert act.valid.all()
    np.testing.assert_allclose(act.zscore[:, :], g["zscore"], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(act.pvalue[:, :], g["pvalue"])


def test_pseudobulk_normalised_input_leaves_empty_cells_out_of_the_averages():
    """Already-normalised input is averaged per group (SecActPy's rule): empty cells do not dilute a
    group's mean (no group is empty, so no warning), so the result equals the input without them."""
    rng = np.random.default_rng(3)
    sig = lazyact.load_signature("CytoSig")
    genes = list(sig.index[:800])
    vals = np.where(rng.random((60, 800)) < 0.3, np.round(rng.gamma(2.0, 0.8, (60, 800)), 3), 0.0)
    labels = np.array(["a", "b", "c"] * 20, dtype=object)
    empty = np.zeros(60, bool)
    empty[[4, 9, 33]] = True
    vals[empty] = 0.0
    full = ad.AnnData(X=sp.csr_matrix(vals), obs=pd.DataFrame(index=[f"c{i}" for i in range(60)]),
                      var=pd.DataFrame(index=genes))
    kw = dict(n_rand=50, preprocess="pseudobulk")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptySamplesWarning)
        act = lazyact.activity(full, "CytoSig", groupby=labels, **kw)
    ref = lazyact.activity(full[~empty].copy(), "CytoSig", groupby=labels[~empty], **kw)
    np.testing.assert_array_equal(act.zscore[:, :], ref.zscore[:, :])


def test_all_cells_empty_is_an_error():
    sig = lazyact.load_signature("CytoSig")
    a = ad.AnnData(X=sp.csr_matrix((5, 100), dtype=np.float32), var=pd.DataFrame(index=sig.index[:100]))
    with pytest.raises(ValueError, match="all 5 cells have no counts"):
        lazyact.activity(a, "CytoSig", preprocess="scrnaseq", n_rand=10)


@pytest.fixture(scope="module")
def small_act(empty_input):
    """An activity of the first 60 cells of the fixtures' input: 3 empty (in 60 cells the duplicate PRKACA
    wins the de-duplication, so cell026 keeps its one count)."""
    with pytest.warns(EmptySamplesWarning, match="3 of 60 cells"):
        return lazyact.activity(empty_input[0][:60].copy(), "CytoSig", preprocess="scrnaseq", n_rand=50,
                                chunks=(43, 16))


def test_nan_flows_through_reductions_and_rankings(small_act):
    act = small_act
    bad = ~act.valid
    z, p = act.zscore[:, :], act.pvalue[:, :]
    assert np.isnan(z[:, bad]).all() and not np.isnan(z[:, ~bad]).any()
    # plain reductions give NaN like NumPy; the nan* variants skip the empty cells
    np.testing.assert_array_equal(act.zscore.mean(axis=1), z.mean(axis=1))
    assert np.isnan(act.zscore.mean(axis=1)).all()
    np.testing.assert_allclose(act.zscore.nanmean(axis=1), np.nanmean(z, axis=1), rtol=1e-13)
    np.testing.assert_allclose(np.nanstd(act.zscore, axis=1), np.nanstd(z, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(act.zscore.max(axis=0)[bad], np.nan)
    # summary: moments over the cells with an answer
    s = act.summary()
    np.testing.assert_allclose(s[("zscore", "mean")], np.nanmean(z, axis=1), rtol=1e-13)
    np.testing.assert_array_equal(s[("pvalue", "min")], np.nanmin(p, axis=1))
    # q-values: NaN p-values are not tests (adjust's documented rule)
    from scipy.stats import false_discovery_control

    q0, q1 = act.qvalue(axis=0)[:, :], act.qvalue(axis=1)[:, :]
    assert np.isnan(q0[:, bad]).all() and np.isnan(q1[:, bad]).all()
    np.testing.assert_array_equal(q0[:, ~bad], false_discovery_control(p[:, ~bad], axis=0))
    np.testing.assert_array_equal(q1[:, ~bad], false_discovery_control(p[:, ~bad], axis=1))
    # top: empty cells have no top protein; active never counts them
    t = act.top(3)
    names = np.asarray(act.samples)
    assert t.loc[names[bad], "protein"].isna().all().all()
    assert t.loc[names[bad], "zscore"].isna().all().all()
    assert not t.loc[names[~bad], "protein"].isna().any().any()
    n = act.active(0.05, by="qvalue")
    np.testing.assert_array_equal(n.to_numpy(), (q0[:, ~bad] <= 0.05).sum(axis=1))
    t1 = act.top(60, axis=1)  # all samples per protein: the empty ones rank last, unnamed
    assert t1["sample"].iloc[:, -3:].isna().all().all()


@pytest.mark.parametrize("fmt", ["h5", "h5ad"])
def test_nan_is_stored_and_read_back(small_act, tmp_path, fmt):
    path = tmp_path / f"act.{fmt}"
    if fmt == "h5":
        small_act.to_hdf5(path, summary=True)
    else:
        small_act.to_h5ad(path)
    stored = lazyact.open(path)
    for k in ("beta", "se", "zscore", "pvalue"):
        np.testing.assert_array_equal(stored[k][:, :], small_act[k][:, :])  # NaN at the same places
    if fmt == "h5":
        # the stored summary skips the empty cells too (finite), up to the order of accumulation
        np.testing.assert_allclose(stored.summary().to_numpy(), small_act.summary().to_numpy(), rtol=1e-12)


def test_nan_through_dask(small_act):
    np.testing.assert_array_equal(small_act.zscore.to_dask().compute(), small_act.zscore[:, :])
