"""plan_index / plan_oindex against NumPy itself."""
from __future__ import annotations

import numpy as np
import pytest
from array_strategies import index_keys, oindex_axis, reference_oindex, shapes
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.array import plan_index, plan_oindex

SETTINGS = settings(max_examples=300, deadline=None)


def _numpy(mat, key):
    try:
        return mat[key], None
    except Exception as exc:  # noqa: BLE001 - compare the exception type
        return None, exc


def _assert_same(got, expected):
    assert type(got) is type(expected)
    assert np.shape(got) == np.shape(expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def _check_plan(shape, key):
    mat = np.arange(shape[0] * shape[1], dtype=np.float64).reshape(shape)
    expected, err = _numpy(mat, key)
    if err is not None:
        with pytest.raises(type(err)):
            plan_index(key, shape)
        return
    plan = plan_index(key, shape)
    assert plan.shape == expected.shape
    for idx, n in ((plan.rows, shape[0]), (plan.cols, shape[1])):
        assert idx.dtype == np.intp and idx.ndim == 1
        assert np.all(np.diff(idx) > 0) and (idx.size == 0 or (idx[0] >= 0 and idx[-1] < n))
    if expected.size:
        # exactly the rows and columns the key touches
        touched = np.unique(np.arange(mat.size).reshape(shape)[key])
        np.testing.assert_array_equal(plan.rows, np.unique(touched // max(shape[1], 1)))
        np.testing.assert_array_equal(plan.cols, np.unique(touched % max(shape[1], 1)))
        _assert_same(plan.apply(mat[np.ix_(plan.rows, plan.cols)]), expected)


@SETTINGS
@given(st.data())
def test_plan_index_matches_numpy(data):
    shape = data.draw(shapes())
    key = data.draw(index_keys(shape))
    _check_plan(shape, key)


@pytest.mark.parametrize(
    "key",
    [
        (5, slice(None), Ellipsis),  # xarray
        (slice(0, 0), slice(0, 0)),  # dask meta
        (),
        Ellipsis,
        (Ellipsis, 2),
        (None, 1, None, 2),
        (1, None, [0, 2]),  # int and array separated by None: advanced dims first
        ([0, 1], None, [1, 2]),
        ([[0, 1], [2, 2]], [[1], [0]]),  # 2-D arrays broadcasting
        (np.array([[True, False, True, False, True, False]] * 5),),
        (True,),
        (False, 0),
        (np.True_, [1, 2], [0, 1]),
        (range(4, 0, -2), range(1, 6, 2)),
        (slice(None, None, -1), slice(None, None, -2)),
        ([4, 0, 4, -1], 3),
        ([], []),
        (np.int8(-1), np.uint16(2)),
        (np.array(2), np.array([1])),
        ([True, 0],),
        (1.0,),
        ("a",),
        (0, 0, 0),
        (Ellipsis, Ellipsis),
        (5,),
        ([0, 1], [0, 1, 2]),
        (np.zeros(4, bool),),
        ([[0, 1]], slice(None), None),
    ],
)
def test_plan_index_examples(key):
    _check_plan((5, 6), key)


def test_plan_identity_and_scalar():
    p = plan_index(slice(None), (3, 4))
    assert p.post is None and p.shape == (3, 4)
    p = plan_index((1, -1), (3, 4))
    assert p.shape == () and p.rows.tolist() == [1] and p.cols.tolist() == [3]
    val = p.apply(np.ones((1, 1)))
    assert type(val) is np.float64


def test_plan_huge_shape_is_cheap():
    # validation uses a zero-byte array: no memory proportional to the shape
    p = plan_index((slice(None), 1_999_999), (1170, 2_000_000))
    assert p.rows.size == 1170 and p.cols.tolist() == [1_999_999]
    with pytest.raises(IndexError):
        plan_index((0, 2_000_000), (1170, 2_000_000))


@SETTINGS
@given(st.data())
def test_plan_oindex_matches_ix(data):
    shape = data.draw(shapes())
    k0 = data.draw(oindex_axis(shape[0]))
    k1 = data.draw(oindex_axis(shape[1]))
    mat = np.arange(shape[0] * shape[1], dtype=np.float64).reshape(shape)
    try:
        expected = reference_oindex(mat, (k0, k1))
    except IndexError:
        with pytest.raises(IndexError):
            plan_oindex((k0, k1), shape)
        return
    plan = plan_oindex((k0, k1), shape)
    assert plan.shape == np.shape(expected)
    got = plan.apply(mat[np.ix_(plan.rows, plan.cols)])
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got, expected)


def test_plan_oindex_forms():
    mat = np.arange(30.0).reshape(5, 6)
    p = plan_oindex(([3, 1, 3], [5, 0]), mat.shape)
    np.testing.assert_array_equal(p.apply(mat[np.ix_(p.rows, p.cols)]), mat[np.ix_([3, 1, 3], [5, 0])])
    p = plan_oindex((Ellipsis, [2, 2]), mat.shape)
    assert p.shape == (5, 2)
    p = plan_oindex(2, mat.shape)
    assert p.shape == (6,)
    p = plan_oindex((..., 1), mat.shape)
    assert p.shape == (5,)
    for bad in [(0, 0, 0), ([[0]], 0), (np.ones(4, bool), 0), (None, 0), (0.5, 1), (Ellipsis, Ellipsis), (9, 0), (0, [-7])]:
        with pytest.raises(IndexError):
            plan_oindex(bad, mat.shape)
