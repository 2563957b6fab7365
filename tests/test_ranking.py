"""top() and active(): one streaming pass, equal to NumPy on the materialised arrays."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

import lazyact
from conftest import load_golden
from lazyact.array import BlockStore, LazyArray
from lazyact.fdr import _ArrayFunction, qvalue
from lazyact.ranking import active, top
from lazyact.ridge import projection

LY86 = "tests/data/Ly86-Fc_vs_Vehicle_logFC.txt"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    X = rng.standard_normal((150, 11))
    Y = rng.standard_normal((150, 53))
    Y[:, :20] += 3 * X[:, [2]]
    return projection(X, 10.0), Y


def make_act(data, chunks=(4, 8), **kw):
    P, Y = data
    return lazyact.LazyActivity(P, 100, Y, proteins=[f"P{i}" for i in range(11)],
                                samples=[f"c{j}" for j in range(53)], chunks=chunks, **kw)


def lazy(a, chunks, name="v"):
    return LazyArray(BlockStore(_ArrayFunction(a, name), chunks=chunks), name,
                     row_labels=[f"r{i}" for i in range(a.shape[0])], col_labels=[f"c{j}" for j in range(a.shape[1])])


def reference_top(v, k, axis, largest):
    """Stable sort: ties keep the earlier position; NaN last."""
    a = v if axis == 0 else v.T
    key = -a if largest else a
    order = np.argsort(key, axis=0, kind="stable")[:k]
    return order.T, np.take_along_axis(a, order, axis=0).T


@pytest.mark.parametrize("chunks", [(4, 8), (11, 8), (11, 53), (1, 1)])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("largest", [True, False])
def test_top_equals_sorting_the_materialised_array(data, chunks, axis, largest):
    act = make_act(data, chunks)
    k = 4
    t = top(act, k, axis=axis, largest=largest)
    assert act.store.cache.nbytes == 0  # a sweep: nothing kept beyond the blocks in flight
    z = act.zscore[:, :]
    codes, values = reference_top(z, k, axis, largest)
    field = "protein" if axis == 0 else "sample"
    names = (act.proteins if axis == 0 else act.samples).to_numpy()
    assert t.shape == (z.shape[1 - axis], 2 * k)
    assert list(t.index) == list(act.samples if axis == 0 else act.proteins)
    assert t.columns.names == ["field", "rank"] and list(t.columns.get_level_values(0).unique()) == [field, "zscore"]
    np.testing.assert_array_equal(t[field].to_numpy().astype(object), names[codes])
    # BLAS rounding differs between block shapes (the sweep vs z[:, :]): 1e-14, no rank change
    np.testing.assert_allclose(t["zscore"].to_numpy(), values, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("chunks", [(2, 3), (7, 1), (7, 20)])
@pytest.mark.parametrize("axis", [0, 1])
def test_ties_and_nan_are_deterministic(chunks, axis):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, (7, 20)).astype(float)  # many ties
    a[rng.random(a.shape) < 0.15] = np.nan
    a[:, 3] = np.nan
    view = lazy(a, chunks)
    for largest in (True, False):
        for k in (1, 3, 7):
            t = top(view, k, axis=axis, largest=largest)
            kk = min(k, a.shape[axis])
            codes, values = reference_top(a, kk, axis, largest)
            field = "protein" if axis == 0 else "sample"
            labels = np.array(view.row_labels if axis == 0 else view.col_labels, dtype=object)
            names = t[field].to_numpy().astype(object)
            missing = np.isnan(values)  # no value, no name (a sample without an answer)
            assert (pd.isna(names) == missing).all()
            np.testing.assert_array_equal(names[~missing], labels[codes][~missing])
            np.testing.assert_array_equal(t["v"].to_numpy(), values)  # NaN == NaN here


def test_top_options(data):
    act = make_act(data)
    t = top(act, 3, by="pvalue")  # smallest p first by default
    p = act.pvalue[:, :]
    np.testing.assert_allclose(t["pvalue"].to_numpy(), np.sort(p, axis=0)[:3].T, rtol=1e-12)
    flat = top(act, 2, by="beta", flat=True)
    assert list(flat.columns) == ["protein_1", "protein_2", "beta_1", "beta_2"]
    assert isinstance(flat["protein_1"].dtype, pd.CategoricalDtype)
    assert list(flat["protein_1"].cat.categories) == list(act.proteins)
    every = top(act, 100)  # k larger than the axis: everything, ranked
    assert every.shape == (53, 22)
    q = top(act, 2, by="qvalue")
    ref = np.sort(false_discovery_control(p, axis=0), axis=0)[:2].T
    np.testing.assert_allclose(q["qvalue"].to_numpy(), ref, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(top(act, 2, by=qvalue(act, axis=1))["qvalue"].to_numpy(),
                                  np.sort(false_discovery_control(p, axis=1), axis=0)[:2].T)
    with pytest.raises(ValueError, match="k must be"):
        top(act, 0)
    with pytest.raises(KeyError):
        top(act, 2, by="tstat")
    with pytest.raises(ValueError, match="axis"):
        top(act, 2, axis=3)


def test_top_on_plain_arrays_and_frames():
    a = np.array([[1.0, 5.0], [3.0, 2.0], [3.0, 9.0]])
    t = top(a, 2, by="score")
    assert t["protein"].to_numpy().tolist() == [[1, 2], [2, 0]]
    df = pd.DataFrame(a, index=["x", "y", "z"], columns=["s1", "s2"])
    t = top(df, 1, by="score", flat=True)
    assert t["protein_1"].tolist() == ["y", "z"] and t["score_1"].tolist() == [3.0, 9.0]


@pytest.mark.parametrize("chunks", [(4, 8), (11, 53)])
def test_active_counts(data, chunks):
    act = make_act(data, chunks)
    first = active(act, 0.05, direction="up")
    assert act.store.cache.nbytes == 0
    p, z = act.pvalue[:, :], act.zscore[:, :]
    np.testing.assert_array_equal(first.to_numpy(), ((p <= 0.05) & (z > 0)).sum(1))
    for alpha in (0.01, 0.05, 0.5):
        n = active(act, alpha)
        assert isinstance(n, pd.Series) and n.dtype == np.int64 and n.name == "active"
        assert list(n.index) == list(act.proteins)
        np.testing.assert_array_equal(n.to_numpy(), (p <= alpha).sum(axis=1))
        np.testing.assert_array_equal(active(act, alpha, direction="up").to_numpy(), ((p <= alpha) & (z > 0)).sum(1))
        np.testing.assert_array_equal(active(act, alpha, direction="down").to_numpy(), ((p <= alpha) & (z < 0)).sum(1))
        for method in ("bh", "by"):
            q = false_discovery_control(p, axis=0, method=method)
            np.testing.assert_array_equal(active(act, alpha, by="qvalue", method=method).to_numpy(),
                                          (q <= alpha).sum(axis=1))
    assert first["P2"] >= 15  # the planted signal
    with pytest.raises(ValueError, match="direction"):
        active(act, direction="both")
    with pytest.raises(ValueError, match="by must"):
        active(act, by="zscore")
    with pytest.raises(ValueError, match="alpha"):
        active(act, 1.5)


def test_real_cytosig_bulk():
    """CytoSig on the Ly86 bulk example against SecActPy's z-scores (n_rand=1000)."""
    g = load_golden("cytosig_ly86_none_n1000")
    act = lazyact.LazyActivity(projection(g["X_in"], g["lambda_"]), int(g["n_rand"]), g["Y_in"],
                               proteins=g["proteins"], samples=g["samples"])
    np.testing.assert_allclose(act.zscore[:, :], g["zscore"], atol=1e-10)  # fills the cache: one computation
    t = top(act, 5)
    order = np.argsort(-g["zscore"], axis=0, kind="stable")[:5]
    np.testing.assert_array_equal(t["protein"].to_numpy().astype(object), g["proteins"][order.T].astype(object))
    np.testing.assert_allclose(t["zscore"].to_numpy(), np.take_along_axis(g["zscore"], order, 0).T, atol=1e-10)
    n = active(act, 0.05, direction="up")
    np.testing.assert_array_equal(n.to_numpy(), ((g["pvalue"] <= 0.05) & (g["zscore"] > 0)).sum(axis=1))
    assert act.store.stats.calls == 1


def test_hook_methods_and_exports():
    act = lazyact.activity(LY86, "CytoSig", n_rand=100)
    t = act.top(3)
    assert t.shape == (5, 6) and list(t.index) == list(act.samples)
    pd.testing.assert_frame_equal(t, top(act, 3))
    pd.testing.assert_series_equal(act.active(0.05, by="qvalue"), active(act, 0.05, by="qvalue"))
    assert lazyact.top is top and lazyact.active is active
    an = lazyact.activity(LY86, "CytoSig", null="analytic")
    assert (an.top(1, by="pvalue")["pvalue"].to_numpy() < 1e-10).all()
