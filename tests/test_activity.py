"""LazyActivity: exact against SecActPy through the lazy path, lazy, thread-safe."""
import pickle
import threading

import numpy as np
import pytest

import lazyact
from conftest import load_golden
from lazyact.ridge import projection


@pytest.fixture(scope="module")
def ly86():
    g = load_golden("cytosig_ly86_none_n1000")
    act = lazyact.LazyActivity(projection(g["X_in"], g["lambda_"]), int(g["n_rand"]), g["Y_in"],
                               proteins=g["proteins"], samples=g["samples"], chunks=(16, 2))
    return g, act


def test_golden_through_lazy_indexing(ly86):
    g, act = ly86
    rng = np.random.default_rng(0)
    keys = [(slice(None), slice(None)), (5, slice(None)), (slice(None), 3), (slice(10, 20), slice(None, None, 2)),
            ([40, 2, 2, 17], [4, 0, 0, 1]), ([40, 2, 2], slice(None)), (-1, -1), (np.array([True, False] * 21 + [True]), slice(1, 4))]
    for _ in range(10):
        keys.append((np.sort(rng.choice(43, 5, replace=False)), rng.integers(0, 5)))
    for key in keys:
        for name in ("beta", "se", "zscore"):
            got = act[name][key]
            np.testing.assert_allclose(got, g[name][key], rtol=0, atol=1e-10, err_msg=f"{name}{key}")
        np.testing.assert_array_equal(act.pvalue[key], g["pvalue"][key])


def test_loc_by_names(ly86):
    g, act = ly86
    i = list(g["proteins"]).index("IL6")
    np.testing.assert_allclose(act.zscore.loc["IL6", :], g["zscore"][i], atol=1e-10)
    np.testing.assert_allclose(act.zscore.loc[["IFNG", "IL6"], "LY86_Treated_Sample2"],
                               g["zscore"][[list(g["proteins"]).index("IFNG"), i], 1], atol=1e-10)


def test_metadata(ly86):
    g, act = ly86
    assert act.shape == (43, 5)
    assert list(act.proteins) == list(g["proteins"]) and list(act.samples) == list(g["samples"])
    assert act.params["n_rand"] == 1000 and act.params["rng"] == "srand" and act.params["lambda_"] == 5e5
    z = act.zscore
    assert z.dtype == np.float64 and z.shape == (43, 5) and z.ndim == 2 and len(z) == 43
    assert z.proteins is act.proteins
    assert "zscore" in repr(z) and "LazyActivity" in repr(act)
    with pytest.raises(KeyError):
        act["tstat"]


class CountingExpression:
    """Dense expression that records which columns were read (and can refuse some)."""

    def __init__(self, Y, allowed=None):
        self.Y, self.shape, self.allowed = Y, Y.shape, allowed
        self.read = []
        self.lock = threading.Lock()

    def block(self, cols):
        cols = np.asarray(cols)
        if self.allowed is not None and not set(cols.tolist()) <= self.allowed:
            raise AssertionError(f"columns {sorted(set(cols.tolist()) - self.allowed)} must not be read")
        with self.lock:
            self.read.append(cols.copy())
        return self.Y[:, cols]


@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 12))
    Y = rng.standard_normal((80, 500))
    return projection(X, 5.0), Y


def test_reads_only_touched_columns_and_rows(small, monkeypatch):
    P, Y = small
    expr = CountingExpression(Y, allowed={7, 100, 101, 499})
    act = lazyact.LazyActivity(P, 30, expr, chunks=(12, 64))
    rows_seen = []
    orig = act.model.compute

    def spy(rows, Yb):
        rows_seen.append(np.asarray(rows).copy())
        return orig(rows, Yb)

    monkeypatch.setattr(act.model, "compute", spy)
    act.zscore[3, 7]
    act.pvalue[[2, 5], 100:102]
    act.beta[-1, -1]
    cols = np.unique(np.concatenate(expr.read))
    assert set(cols.tolist()) == {7, 100, 101, 499}
    assert set(np.concatenate(rows_seen).tolist()) <= {2, 3, 5, 11}
    # cached: reading again and switching statistic computes nothing
    n = len(expr.read)
    act.se[3, 7]
    act.zscore[[2, 5], 100:102]
    assert len(expr.read) == n


def test_refusing_expression_proves_laziness(small):
    P, Y = small
    act = lazyact.LazyActivity(P, 10, CountingExpression(Y, allowed=set(range(10, 20))), chunks=(12, 8))
    assert act.zscore[:, 10:20].shape == (12, 10)
    with pytest.raises(AssertionError, match="must not be read"):
        act.zscore[:, 25]


def test_threads_hammering_equal_serial(small):
    P, Y = small
    ref = lazyact.LazyActivity(P, 20, Y[:, :120]).zscore[:, :]
    act = lazyact.LazyActivity(P, 20, Y[:, :120], chunks=(12, 16), cache_bytes=200_000)
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        try:
            for _ in range(15):
                rows = np.sort(r.choice(12, r.integers(1, 12), replace=False))
                c0 = int(r.integers(0, 110))
                key = (rows, slice(c0, c0 + int(r.integers(1, 10))))
                np.testing.assert_allclose(act.zscore[key], ref[key], rtol=0, atol=1e-12)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_reductions_and_summary_equal_numpy(small):
    P, Y = small
    act = lazyact.LazyActivity(P, 15, Y[:, :90], chunks=(5, 16))
    full = {k: np.asarray(act[k]) for k in ("beta", "se", "zscore", "pvalue")}
    np.testing.assert_allclose(act.zscore.max(axis=1), full["zscore"].max(axis=1), rtol=1e-12)
    np.testing.assert_allclose(np.mean(act.beta, axis=0), full["beta"].mean(axis=0), rtol=1e-12, atol=1e-15)
    s = act.summary()
    for k in full:
        np.testing.assert_allclose(s[(k, "mean")], full[k].mean(axis=1), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(s[(k, "std")], full[k].std(axis=1), rtol=1e-10, atol=1e-15)
        np.testing.assert_array_equal(s[(k, "min")], full[k].min(axis=1))
        np.testing.assert_array_equal(s[(k, "max")], full[k].max(axis=1))


def test_grouped_rows_expand(small):
    P, Y = small
    row_map = np.array([0, 0, 3, 5, 3])
    act = lazyact.LazyActivity(P, 10, Y[:, :9], row_map=row_map)
    plain = lazyact.LazyActivity(P, 10, Y[:, :9])
    # same statistics (up to GEMM rounding: a different row subset is multiplied)
    np.testing.assert_allclose(act.zscore[:, :], plain.zscore[:, :][row_map], rtol=0, atol=1e-12)
    np.testing.assert_allclose(act.zscore[[4, 1], 2], plain.zscore[[3, 0], 2], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(act.pvalue[:, :], plain.pvalue[:, :][row_map])


def test_pickle_roundtrip(small):
    P, Y = small
    act = lazyact.LazyActivity(P, 10, Y[:, :20], proteins=[f"P{i}" for i in range(12)])
    act.zscore[:, :3]
    back = pickle.loads(pickle.dumps(act))
    assert back.store.cached_fraction() == 0
    np.testing.assert_allclose(back.zscore[:, :3], act.zscore[:, :3], atol=1e-12)
    assert list(back.proteins) == list(act.proteins)


def test_bad_inputs(small):
    P, Y = small
    with pytest.raises(ValueError, match="80 genes|has 79 genes"):
        lazyact.LazyActivity(P, 10, Y[:79])
    Yn = Y[:, :5].copy()
    Yn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN/inf"):
        lazyact.LazyActivity(P, 10, Yn)
    with pytest.raises(ValueError, match="t-test"):
        lazyact.LazyActivity(P.T, 0, Y[:, :5])
    with pytest.raises(ValueError, match="names"):
        lazyact.LazyActivity(P, 10, Y[:, :5], proteins=["a"])
    with pytest.raises(ValueError, match="n_rand must be >= 0"):
        lazyact.LazyActivity(P, -1, Y[:, :5])


# -- property: any NumPy index expression on a real LazyActivity equals NumPy on the materialised array
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_P, _M = 7, 23


def _axis_key(n):
    ints = st.integers(-n - 2, n + 1)
    slices = st.builds(slice, st.none() | st.integers(-n - 2, n + 2), st.none() | st.integers(-n - 2, n + 2),
                       st.none() | st.integers(-4, 4).filter(lambda s: s != 0))
    lists = st.lists(st.integers(-n, n - 1), min_size=0, max_size=6)
    masks = st.lists(st.booleans(), min_size=n, max_size=n).map(np.array)
    return st.one_of(ints, slices, lists.map(np.array), masks, st.builds(range, st.integers(0, n), st.integers(0, n)))


_keys = st.one_of(
    st.tuples(_axis_key(_P), _axis_key(_M)),
    _axis_key(_P),
    st.tuples(st.just(Ellipsis), _axis_key(_M)),
    st.tuples(_axis_key(_P), st.just(None), st.just(slice(None))),
)


@pytest.fixture(scope="module")
def prop_activity():
    rng = np.random.default_rng(5)
    P = projection(rng.standard_normal((60, _P)), 3.0)
    act = lazyact.LazyActivity(P, 25, rng.standard_normal((60, _M)), chunks=(3, 5), cache_bytes=20_000)
    return act, {k: np.asarray(act[k]) for k in ("zscore", "pvalue")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_keys)
def test_any_key_equals_numpy(prop_activity, key):
    act, full = prop_activity
    act.store.clear_cache()
    for name in ("zscore", "pvalue"):
        try:
            expect = full[name][key]
        except IndexError:
            with pytest.raises(IndexError):
                act[name][key]
            continue
        got = act[name][key]
        assert type(got) is type(expect)
        assert np.shape(got) == np.shape(expect)
        np.testing.assert_allclose(got, expect, rtol=0, atol=1e-12)
