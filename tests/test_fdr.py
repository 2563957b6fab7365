"""q-values: equal to scipy.stats.false_discovery_control, lazy, computing only the axis they need."""
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

import lazyact
from conftest import load_golden
from lazyact.array import LazyArray
from lazyact.fdr import METHODS, QValueBlocks, adjust, qvalue
from lazyact.ridge import projection

LY86 = "tests/data/Ly86-Fc_vs_Vehicle_logFC.txt"


# -- the eager kernel ------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_adjust_equals_scipy(method, axis):
    rng = np.random.default_rng(0)
    p = rng.random((37, 23)) ** 3
    p[3, :5] = p[4, :5]  # ties
    p[5] = 1.0
    p[6] = 0.0
    p[:, 7] = np.round(p[:, 7], 1)  # many ties in a column
    ref = false_discovery_control(p, axis=axis, method=method)
    got = adjust(p, method, axis)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 9)), axis=st.sampled_from([0, 1]),
       method=st.sampled_from(METHODS), seed=st.integers(0, 2**32 - 1), grid=st.sampled_from([None, 11, 1001]))
def test_adjust_property(shape, axis, method, seed, grid):
    rng = np.random.default_rng(seed)
    p = rng.random(shape)
    if grid:  # permutation-like p-values (count + 1) / (n_rand + 1): lots of ties
        p = (np.floor(p * grid) + 1) / (grid + 1)
    np.testing.assert_allclose(adjust(p, method, axis), false_discovery_control(p, axis=axis, method=method),
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize("method", ["bh", "by"])
@pytest.mark.parametrize("axis", [0, 1])
def test_adjust_leaves_nan_out_of_the_family(method, axis):
    """NaN p-values (samples without an answer) are not tests: BH/BY over each slice's other
    p-values (m = their count, R's p.adjust rule), NaN q-values; bit-equal to SciPy on the rest."""
    rng = np.random.default_rng(4)
    p = (np.floor(rng.random((40, 9)) * 100) + 1) / 101
    p[rng.random(p.shape) < 0.15] = np.nan
    p[:, 2] = np.nan   # a sample without any answer
    p[5, :] = np.nan
    p[7, [0, 1, 3, 4, 5, 6, 7]] = np.nan  # slices with a single test
    q = adjust(p, method, axis)
    assert np.array_equal(np.isnan(q), np.isnan(p))
    for k in range(p.shape[1 - axis]):
        sl = (slice(None), k) if axis == 0 else (k, slice(None))
        ok = ~np.isnan(p[sl])
        if ok.any():
            np.testing.assert_array_equal(q[sl][ok], false_discovery_control(p[sl][ok], method=method))


def test_adjust_rejects_bad_input():
    np.testing.assert_array_equal(adjust([0.1, np.nan]), [0.1, np.nan])  # NaN: no test
    with pytest.raises(ValueError, match="between 0 and 1"):
        adjust([0.1, 1.5])
    with pytest.raises(ValueError, match="unknown method"):
        adjust([0.1, 0.2], method="holm")
    np.testing.assert_array_equal(adjust([[0.3, 0.2]], axis=0), [[0.3, 0.2]])  # one test per family


# -- the lazy view ---------------------------------------------------------------------
class CountingExpression:
    """Dense expression that records which columns were read."""

    def __init__(self, Y):
        self.Y, self.shape = Y, Y.shape
        self.read = []
        self.lock = threading.Lock()

    def block(self, cols):
        with self.lock:
            self.read.append(np.asarray(cols).copy())
        return self.Y[:, cols]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((120, 9))
    Y = rng.standard_normal((120, 40))
    Y[:, :10] += 2 * X[:, :1]  # something to find
    return projection(X, 10.0), Y


def make_act(data, **kw):
    P, Y = data
    kw.setdefault("chunks", (4, 6))  # row chunks shorter than the protein axis
    return lazyact.LazyActivity(P, 200, CountingExpression(Y), proteins=[f"P{i}" for i in range(9)],
                                samples=[f"s{j}" for j in range(40)], **kw)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("axis", [0, 1])
def test_qvalue_equals_scipy_on_materialised_pvalues(data, method, axis):
    act = make_act(data)
    q = qvalue(act, method, axis)
    assert isinstance(q, LazyArray) and q.shape == act.shape and q.dtype == np.float64
    p = act.pvalue[:, :]
    ref = false_discovery_control(p, axis=axis, method=method)
    np.testing.assert_allclose(q[:, :], ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(q), ref, rtol=0, atol=1e-15)
    for key in [(3, slice(None)), (slice(None), 5), (slice(2, 7), slice(None, None, 3)), ([8, 0, 0], [39, 1, 1]),
                (-1, -1)]:
        np.testing.assert_allclose(q[key], ref[key], rtol=0, atol=1e-15, err_msg=str(key))
    np.testing.assert_allclose(q.loc["P2", ["s3", "s0"]], ref[2, [3, 0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(q.max(axis=1), ref.max(axis=1), rtol=0, atol=1e-15)
    assert q.attrs["statistic"] == "qvalue" and q.attrs["fdr_method"] == method and q.attrs["fdr_axis"] == axis
    assert list(q.proteins) == list(act.proteins) and list(q.samples) == list(act.samples)


def test_qvalue_axis0_reads_only_the_requested_samples(data):
    act = make_act(data)
    q = qvalue(act)  # nothing computed yet
    assert act.store.stats.calls == 0 and act.blocks.expression.read == []
    q[2, 5]
    read = np.concatenate(act.blocks.expression.read)
    assert set(read.tolist()) == {5}
    assert act.store.stats.cells == 9  # all proteins of that one sample, nothing more
    q[:, 5]  # same sample, other proteins: the p-values come from the activity's cache
    assert act.store.stats.cells == 9


def test_qvalue_axis1_computes_only_the_requested_proteins(data):
    act = make_act(data)
    q = qvalue(act, axis=1)
    q[2, 5]
    assert act.store.stats.cells == 40  # protein 2 over all samples, no other protein
    q[[2, 7], 0]
    assert act.store.stats.cells == 80  # protein 2's p-values came from the activity's cache
    small = make_act(data, cache_bytes=3000)  # rows do not fit: streamed, nothing cached
    qs = qvalue(small, axis=1)
    np.testing.assert_allclose(qs[[2, 7], 0], q[[2, 7], 0], rtol=0, atol=1e-15)
    assert small.store.cache.nbytes == 0 and small.store.stats.cells == 80


def test_qvalue_on_arrays_and_lazy_arrays(data):
    act = make_act(data)
    p = act.pvalue[:, :]
    np.testing.assert_allclose(qvalue(p)[:, :], false_discovery_control(p, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(qvalue(act.pvalue, "by", 1)[:, :], false_discovery_control(p, axis=1, method="by"),
                               rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="axis"):
        qvalue(act, axis=2)
    with pytest.raises(ValueError, match="unknown method"):
        qvalue(act, method="bonferroni")
    with pytest.raises(TypeError):
        qvalue("not an activity")


def test_qvalue_pickles_and_has_deterministic_token(data):
    P, Y = data
    act = lazyact.LazyActivity(P, 50, Y, chunks=(4, 6))
    q = qvalue(act, axis=1)
    clone = pickle.loads(pickle.dumps(q))
    np.testing.assert_array_equal(clone[:, :], q[:, :])
    assert isinstance(q.store.function, QValueBlocks)
    assert qvalue(act, axis=1).store.token == q.store.token != qvalue(act, axis=0).store.token


def test_qvalue_real_cytosig_bulk():
    """CytoSig on the Ly86 bulk example (SecActPy's p-values, n_rand=1000)."""
    g = load_golden("cytosig_ly86_none_n1000")
    act = lazyact.LazyActivity(projection(g["X_in"], g["lambda_"]), int(g["n_rand"]), g["Y_in"],
                               proteins=g["proteins"], samples=g["samples"])
    for axis in (0, 1):
        q = qvalue(act, axis=axis)
        np.testing.assert_allclose(q[:, :], false_discovery_control(g["pvalue"], axis=axis), rtol=0, atol=1e-15)
    assert (q[:, :] >= g["pvalue"]).all()


def test_hook_methods_and_exports():
    act = lazyact.activity(LY86, "CytoSig", n_rand=100)
    q = act.qvalue()
    np.testing.assert_allclose(q[:, :], false_discovery_control(act.pvalue[:, :], axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(act.qvalue("by", axis=1)[:, :],
                               false_discovery_control(act.pvalue[:, :], axis=1, method="by"), rtol=0, atol=1e-15)
    assert lazyact.qvalue is qvalue
