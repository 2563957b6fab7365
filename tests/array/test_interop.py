"""NumPy protocols, matplotlib, dask and xarray on a LazyArray."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from array_toys import Toy

from lazyact.array import BlockStore, LazyArray


@pytest.fixture
def view_toy():
    toy = Toy((12, 30))
    return LazyArray(BlockStore(toy, chunks=(4, 10), threads=2), "a"), toy


def test_asarray_and_array(view_toy):
    view, toy = view_toy
    mat = toy.full()["a"]
    a = np.asarray(view)
    assert type(a) is np.ndarray and a.dtype == np.float64
    np.testing.assert_array_equal(a, mat)
    b = np.array(view, dtype=np.float32)
    assert b.dtype == np.float32
    np.testing.assert_array_equal(b, mat.astype(np.float32))
    with pytest.raises(ValueError, match="copy"):
        np.asarray(view, copy=False)
    np.testing.assert_array_equal(np.array(view, copy=True), mat)


def test_ufuncs_operators_and_comparisons_within_the_bound(view_toy):
    view, toy = view_toy
    mat = toy.full()["a"]
    other = LazyArray(view.store, "b")
    cases = [
        (np.abs(view), np.abs(mat)), (-view, -mat), (+view, mat), (abs(view), np.abs(mat)),
        (view > 0.5, mat > 0.5), (view <= 0, mat <= 0), (view == mat, np.ones(mat.shape, bool)),
        (view != 0, mat != 0), (0.5 < view, 0.5 < mat),
        (view + 1, mat + 1), (2.0 * view, 2.0 * mat), (np.float64(2.0) * view, 2.0 * mat),
        (view - other, mat - toy.full()["b"]), (1 / view, 1 / mat), (view ** 2, mat**2), (view % 1, mat % 1),
        (view // 1, mat // 1), (mat - view, np.zeros_like(mat)), (np.add(view, 1, dtype=np.float32), np.add(mat, 1, dtype=np.float32)),
        (np.add.reduce(view, axis=1), np.add.reduce(mat, axis=1)), (np.sqrt(np.abs(view)), np.sqrt(np.abs(mat))),
        (view @ np.ones(30), mat @ np.ones(30)),
        # the materialised transpose is C-ordered (BLAS on SkylakeX sums a transposed operand in another order)
        (view.T @ mat, np.ascontiguousarray(mat.T) @ mat),
    ]  # fmt: skip
    for got, expected in cases:
        assert type(got) is np.ndarray and got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    out = np.empty(mat.shape)
    assert np.multiply(view, 3, out=out) is out
    np.testing.assert_array_equal(out, 3 * mat)
    with pytest.raises(TypeError, match="read-only"):
        np.multiply(mat, 3, out=view)
    assert hash(view) == hash(view) and {view: 1}[view] == 1  # still hashable, by identity


def test_ufuncs_refuse_above_the_bound_saying_how_to_slice(view_toy, monkeypatch):
    from lazyact.array import ArrayTooLargeError, config

    view, toy = view_toy
    monkeypatch.setattr(config, "max_materialise_bytes", 1000)  # 12 x 30 float64 is 2,880 bytes
    for call in (lambda: np.abs(view), lambda: view > 2, lambda: -view, lambda: view * 2, lambda: 1 + view,
                 lambda: np.add.reduce(view)):  # fmt: skip
        with pytest.raises(ArrayTooLargeError, match=r"numpy\.\w+.* 2\.8 KiB.*Select less first \(e\.g\. view\[:, :10\]"):
            call()
    assert toy.calls == []
    mat = toy.full()["a"]
    np.testing.assert_array_equal(np.abs(view[:, :10]), np.abs(mat[:, :10]))  # the advice runs
    monkeypatch.setattr(config, "max_materialise_bytes", 10_000)  # the other advice: raise the bound
    np.testing.assert_array_equal(view > 2, mat > 2)


def test_array_function_metadata_and_fallback(view_toy):
    view, toy = view_toy
    assert np.shape(view) == (12, 30) and np.ndim(view) == 2
    assert np.size(view) == 360 and np.size(view, 1) == 30
    assert np.result_type(view, np.float32) == np.float64
    assert toy.calls == []
    mat = toy.full()["a"]
    np.testing.assert_array_equal(np.concatenate([view, view]), np.concatenate([mat, mat]))
    np.testing.assert_allclose(np.median(view, axis=1), np.median(mat, axis=1))
    np.testing.assert_allclose(np.mean(view, axis=1), mat.mean(axis=1), rtol=1e-12)
    assert np.allclose(view, mat)


def test_matplotlib_imshow(view_toy):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    view, toy = view_toy
    fig, (ax1, ax2) = plt.subplots(1, 2)
    try:
        im1 = ax1.imshow(view[:10, :20])
        im2 = ax2.imshow(view)
        fig.canvas.draw()
        np.testing.assert_array_equal(np.asarray(im2.get_array()), toy.full()["a"])
        assert im1.get_array().shape == (10, 20)
    finally:
        plt.close(fig)


def test_dask_from_array_computes_only_needed_blocks(view_toy):
    da = pytest.importorskip("dask.array")
    view, toy = view_toy
    x = da.from_array(view, chunks=(4, 10))
    assert toy.calls == []  # building the graph (and its meta) computes nothing
    block = x.blocks[1, 2].compute(scheduler="synchronous")
    np.testing.assert_array_equal(block, toy.full()["a"][4:8, 20:30])
    assert len(toy.calls) == 1 and toy.ncells == 40
    y = view.to_dask()
    assert y.chunks == ((4, 4, 4), (10, 10, 10))
    np.testing.assert_allclose(y.mean(axis=1).compute(), toy.full()["a"].mean(axis=1), rtol=1e-12)
    # a pickled graph (as dask.distributed ships it) computes with a fresh, empty cache
    clone = pickle.loads(pickle.dumps(x[2:5, ::7]))
    np.testing.assert_array_equal(clone.compute(), toy.full()["a"][2:5, ::7])


def test_dask_tokenize_is_cheap_and_stable(view_toy):
    dask = pytest.importorskip("dask")
    view, _ = view_toy
    assert dask.base.tokenize(view) == dask.base.tokenize(view)
    assert dask.base.tokenize(view) != dask.base.tokenize(LazyArray(view.store, "b"))


def test_xarray_stays_lazy(view_toy):
    xr = pytest.importorskip("xarray")
    view, toy = view_toy
    arr = xr.DataArray(view, dims=("row", "col"))
    assert "LazyArray" in repr(arr) and arr.name == "a"
    assert toy.calls == []  # construction and repr compute nothing
    vals = arr.isel(row=slice(2, 5), col=[1, 7, 3]).values
    np.testing.assert_array_equal(vals, toy.full()["a"][2:5][:, [1, 7, 3]])
    assert toy.ncells == 9
    np.testing.assert_array_equal(arr[5, :, ...].values, toy.full()["a"][5])  # xarray's (5, slice, ...) key
