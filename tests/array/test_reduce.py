"""Streaming reductions against NumPy on the materialised array."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from array_toys import Toy
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.array import REDUCTIONS, BlockStore, LazyArray, summary
from lazyact.array import reduce as reduce_

OPS = [op for op in REDUCTIONS]


def _close(got, expected, scale):
    assert np.shape(got) == np.shape(expected)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * scale, equal_nan=True)


def _numpy(op, mat, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return getattr(np, op)(mat, **kw)


@pytest.fixture(scope="module", params=[False, True], ids=["finite", "nan"])
def arrays(request):
    toy = Toy((23, 31), nan=request.param)
    store = BlockStore(toy, chunks=(5, 7), threads=2)
    return store, toy.full()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_equal_numpy(arrays, op, axis, keepdims):
    store, full = arrays
    for name in ("a", "b"):
        view = LazyArray(store, name)
        mat = full[name]
        scale = np.nanmax(np.abs(mat))
        ddofs = [0, 1] if op.endswith(("var", "std")) else [None]
        for ddof in ddofs:
            kw = {"axis": axis, "keepdims": keepdims}
            if ddof is not None:
                kw["ddof"] = ddof
            expected = _numpy(op, mat, **kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got = getattr(view, op)(**kw)
                via_numpy = getattr(np, op)(view, **kw)
            _close(got, expected, scale)
            _close(via_numpy, expected, scale)
            if axis is None and not keepdims:
                assert type(got) is np.float64


def test_reductions_do_not_fill_the_cache():
    toy = Toy((10, 10))
    view = LazyArray(BlockStore(toy, chunks=(3, 3)), "a")
    view.max(axis=1)
    assert len(view.store.cache) == 0
    view.min(axis=1)
    assert toy.counts.max() == 2  # streamed twice


@settings(max_examples=80, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    chunks=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    op=st.sampled_from(OPS),
    axis=st.sampled_from([None, 0, 1]),
    nan=st.booleans(),
    threads=st.sampled_from([1, 2]),
)
def test_reductions_random_grids(shape, chunks, op, axis, nan, threads):
    toy = Toy(shape, nan=nan)
    view = LazyArray(BlockStore(toy, chunks=chunks, threads=threads), "b")
    mat = toy.full()["b"]
    scale = np.nanmax(np.abs(mat)) if not np.all(np.isnan(mat)) else 1.0
    kw = {"axis": axis}
    if op.endswith(("var", "std")):
        kw["ddof"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _close(getattr(view, op)(**kw), getattr(np, op)(mat, **kw), scale)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize("op", ["sum", "mean", "std", "nanmax", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_empty_arrays_behave_like_numpy(shape, op, axis):
    view = LazyArray(BlockStore(Toy(shape)), "a")
    mat = np.empty(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            expected = getattr(np, op)(mat, axis=axis)
        except ValueError:
            with pytest.raises(ValueError):
                getattr(view, op)(axis=axis)
            return
        _close(getattr(view, op)(axis=axis), expected, 1.0)


def test_warnings_like_numpy():
    toy = Toy((6, 8), nan=True, nan_rows=(2,))
    view = LazyArray(BlockStore(toy, chunks=(4, 3)), "a")
    mat = toy.full()["a"]
    for op in ("nanmean", "nanmin", "nanmax", "nanvar", "nanstd"):
        with pytest.warns(RuntimeWarning):
            expected = getattr(np, op)(mat, axis=1)
        with pytest.warns(RuntimeWarning):
            got = getattr(view, op)(axis=1)
        _close(got, expected, 10.0)
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        view.var(axis=0, ddof=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        view.nanmean(axis=0)  # no all-NaN column: silent, like NumPy
        view.mean(axis=1)  # NaN propagates silently, like NumPy


def test_dtype_out_and_axis_errors():
    toy = Toy((6, 7))
    view = LazyArray(BlockStore(toy, chunks=(4, 3)), "a")
    mat = toy.full()["a"]
    got = view.mean(axis=0, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, mat.mean(axis=0), rtol=1e-6)
    out = np.empty(6)
    assert view.sum(axis=1, out=out) is out
    np.testing.assert_allclose(out, mat.sum(axis=1), rtol=1e-12)
    out0 = np.empty(())
    assert np.max(view, out=out0) is out0 and out0 == mat.max()
    with pytest.raises(np.exceptions.AxisError):
        view.mean(axis=2)
    with pytest.raises(TypeError):
        view.min(ddof=1)
    np.testing.assert_allclose(np.var(view, axis=1, correction=1), mat.var(axis=1, ddof=1), rtol=1e-12)
    # unsupported arguments fall back to NumPy on the materialised array
    where = mat > 0
    np.testing.assert_allclose(np.mean(view, axis=1, where=where), np.mean(mat, axis=1, where=where))
    np.testing.assert_allclose(np.max(view, initial=5.0), np.max(mat, initial=5.0))


def test_integer_function():
    class Ints:
        names, shape, dtype = ("n",), (5, 9), np.dtype(np.int32)

        def __call__(self, rows, cols):
            return {"n": (rows[:, None] * 100_000 + cols[None, :]).astype(np.int32)}

    view = LazyArray(BlockStore(Ints(), chunks=(2, 4)), "n")
    mat = np.arange(5)[:, None] * 100_000 + np.arange(9)[None, :]
    mat = mat.astype(np.int32)
    for op in ("sum", "min", "max", "mean", "std"):
        for axis in (None, 0, 1):
            expected = getattr(np, op)(mat, axis=axis)
            got = getattr(view, op)(axis=axis)
            assert np.asarray(got).dtype == np.asarray(expected).dtype
            np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("axis", [1, 0, None])
@pytest.mark.parametrize("skipna", [False, True])
def test_summary_one_pass(axis, skipna):
    toy = Toy((13, 17), nan=True)
    store = BlockStore(toy, chunks=(4, 5))
    res = summary(store, ("a", "b"), axis=axis, ddof=1, skipna=skipna)
    assert toy.counts.max() == 1  # one pass for both names and all statistics
    for name in ("a", "b"):
        mat = toy.full()[name]
        f = (lambda s: "nan" + s) if skipna else (lambda s: s)
        expected = {
            "mean": _numpy(f("mean"), mat, axis=axis),
            "std": _numpy(f("std"), mat, axis=axis, ddof=1),
            "min": _numpy(f("min"), mat, axis=axis),
            "max": _numpy(f("max"), mat, axis=axis),
        }
        assert set(res[name]) == set(expected)
        for stat, e in expected.items():
            _close(res[name][stat], e, 10.0)


def test_reduce_function_and_selection():
    toy = Toy((12, 15))
    store = BlockStore(toy, chunks=(5, 4))
    rows = np.array([1, 4, 5, 11])
    got = reduce_(store, "b", "std", axis=0, ddof=1, rows=rows, cols=slice(3, 13))
    np.testing.assert_allclose(got, toy.full()["b"][rows, 3:13].std(axis=0, ddof=1), rtol=1e-12)
    assert toy.ncells == 4 * 10
    with pytest.raises(ValueError):
        reduce_(store, "b", "median")


def test_reduction_progress(capsys, monkeypatch):
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    view = LazyArray(BlockStore(Toy((4, 40)), chunks=(4, 2), threads=1), "a")
    view.max(axis=1, progress=True)
    assert "max(a, axis=1)" in capsys.readouterr().err
    view.max(axis=1)
    assert capsys.readouterr().err == ""  # conftest: config.progress = False


def test_public_accumulator_merges_blocks_in_any_order():
    from lazyact.array import Accumulator
    from lazyact.array.reduce import sum_dtype_for

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 23))
    acc = Accumulator(5, {"sum", "moments", "min", "max"}, False, x.dtype, sum_dtype_for(x.dtype))
    for lo in (12, 0, 20, 5):  # disjoint column blocks, out of order
        hi = {0: 5, 5: 12, 12: 20, 20: 23}[lo]
        acc.add(x[:, lo:hi], axis=1)
    np.testing.assert_allclose(acc.mean_(), x.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(acc.var_(1), x.var(axis=1, ddof=1), rtol=1e-13)
    np.testing.assert_array_equal(acc.extreme("min"), x.min(axis=1))
    np.testing.assert_array_equal(acc.extreme("max"), x.max(axis=1))
