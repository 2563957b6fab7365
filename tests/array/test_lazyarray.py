"""LazyArray: NumPy indexing semantics, laziness, .oindex, .loc, metadata."""
from __future__ import annotations

import pickle
import weakref

import numpy as np
import pandas as pd
import pytest
from array_strategies import index_keys, oindex_axis, reference_oindex, shapes
from array_toys import RefusedError, Toy
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.array import ArrayTooLargeError, BlockStore, LazyArray

SETTINGS = settings(max_examples=200, deadline=None)


def _view(shape, chunks, name="a", **kw):
    toy = Toy(shape, **kw)
    return LazyArray(BlockStore(toy, chunks=chunks, threads=2), name), toy


def _assert_same(got, expected):
    assert type(got) is type(expected), (type(got), type(expected))
    assert np.shape(got) == np.shape(expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(st.data())
def test_getitem_matches_numpy_and_computes_only_touched_cells(data):
    shape = data.draw(shapes())
    chunks = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    name = data.draw(st.sampled_from(["a", "b"]))
    view, toy = _view(shape, chunks, name)
    mat = toy.full()[name]
    key = data.draw(index_keys(shape))
    try:
        expected = mat[key]
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            view[key]
        assert toy.calls == []
        return
    _assert_same(view[key], expected)
    # computed, once each: the rectangle of the rows and columns the key touches, or, when
    # fewer, for each block holding touched cells (pointwise keys) the rows x cols of its cells
    cells = np.zeros(shape, bool)
    if expected.size:
        touched = np.unique(np.arange(mat.size).reshape(shape)[key])
        r, c = touched // shape[1], touched % shape[1]
        cells[np.ix_(np.unique(r), np.unique(c))] = True
        per_block = np.zeros(shape, bool)
        blocks = (r // chunks[0]) * shape[1] + c // chunks[1]
        for b in np.unique(blocks):
            per_block[np.ix_(np.unique(r[blocks == b]), np.unique(c[blocks == b]))] = True
        if per_block.sum() < cells.sum():
            cells = per_block
    np.testing.assert_array_equal(toy.counts, cells.astype(int))
    # the same key again is free
    calls = len(toy.calls)
    _assert_same(view[key], expected)
    assert len(toy.calls) == calls


@SETTINGS
@given(st.data())
def test_oindex_matches_ix(data):
    shape = data.draw(shapes())
    view, toy = _view(shape, (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))))
    mat = toy.full()["a"]
    key = (data.draw(oindex_axis(shape[0])), data.draw(oindex_axis(shape[1])))
    try:
        expected = reference_oindex(mat, key)
    except IndexError:
        with pytest.raises(IndexError):
            view.oindex[key]
        return
    _assert_same(view.oindex[key], expected)


ROW_LABELS = [f"r{i:02d}" for i in range(9)]
COL_LABELS = [10 * j for j in range(11)]


@st.composite
def loc_keys(draw, labels, unknown):
    lab = st.sampled_from(labels)
    maybe_unknown = st.one_of(lab, lab, lab, st.just(unknown))
    return draw(
        st.one_of(
            lab,
            st.just(unknown),
            st.lists(maybe_unknown, max_size=4),
            st.builds(slice, st.one_of(st.none(), lab), st.one_of(st.none(), lab)),
            st.builds(slice, st.one_of(st.none(), lab), st.one_of(st.none(), lab), st.sampled_from([None, 2, -1])),
            st.lists(st.booleans(), min_size=len(labels), max_size=len(labels)).map(np.array),
        )
    )


@SETTINGS
@given(st.data())
def test_loc_matches_pandas(data):
    toy = Toy((9, 11))
    view = LazyArray(BlockStore(toy, chunks=(4, 3)), "b", row_labels=ROW_LABELS, col_labels=pd.Index(COL_LABELS))
    df = pd.DataFrame(toy.full()["b"], index=ROW_LABELS, columns=COL_LABELS)
    kr = data.draw(loc_keys(ROW_LABELS, "zz"))
    kc = data.draw(loc_keys(COL_LABELS, 5))
    key = data.draw(st.sampled_from([(kr, kc), kr, (kr,)]))
    try:
        expected = df.loc[key]
    except KeyError:
        with pytest.raises(KeyError):
            view.loc[key]
        return
    got = view.loc[key]
    expected = np.asarray(expected) if isinstance(expected, (pd.Series, pd.DataFrame)) else expected
    _assert_same(got, expected)


def test_loc_examples():
    view, toy = _view((5, 4), (2, 2))
    view = LazyArray(view.store, "a", row_labels=pd.Index(["IL6", "TNF", "IL1B", "IFNG", "TGFB1"]),
                     col_labels=["c0", "c1", "c2", "c3"])  # fmt: skip
    mat = toy.full()["a"]
    _assert_same(view.loc["IL6", :], mat[0])
    _assert_same(view.loc["TNF", "c3"], mat[1, 3])
    _assert_same(view.loc[["IFNG", "IL6"]], mat[[3, 0]])
    _assert_same(view.loc["TNF":"IFNG", ["c2", "c0"]], mat[1:4][:, [2, 0]])
    _assert_same(view.loc[:, np.array([True, False, False, True])], mat[:, [0, 3]])
    with pytest.raises(KeyError):
        view.loc["NOPE"]
    with pytest.raises(KeyError):
        view.loc[["IL6", "NOPE"], :]
    with pytest.raises(IndexError):
        view.loc[:, [True, False]]
    with pytest.raises(IndexError):
        view.loc["IL6", "c0", 0]
    # without labels, positions act as labels (RangeIndex), slices inclusive
    plain, _ = _view((5, 4), (2, 2))
    _assert_same(plain.loc[1:3, 2], mat[1:4, 2])
    # a repeated label keeps the axis, like pandas
    dup = LazyArray(view.store, "a", row_labels=["x", "y", "x", "z", "w"])
    _assert_same(dup.loc["x"], mat[[0, 2]])
    _assert_same(dup.loc[["x", "z"]], mat[[0, 2, 3]])


def test_loc_is_lazy():
    allowed = np.zeros((6, 8), bool)
    allowed[2, :] = True
    view, toy = _view((6, 8), (3, 3), allowed=allowed)
    view = LazyArray(view.store, "a", row_labels=list("abcdef"))
    np.testing.assert_array_equal(view.loc["c", :], toy.full()["a"][2])
    with pytest.raises(RefusedError):
        view.loc["d", 0]


def test_metadata_and_repr_compute_nothing():
    view, toy = _view((1170, 2_000_000), (1170, 512))
    assert view.shape == (1170, 2_000_000) and view.ndim == 2 and len(view) == 1170
    assert view.dtype == np.dtype("float64") and isinstance(view.dtype, np.dtype)
    assert view.size == 1170 * 2_000_000 and view.nbytes == 8 * view.size
    assert view.chunks == (1170, 512)
    r = repr(view)
    assert "'a'" in r and "1,170 x 2,000,000" in r and "float64" in r and "(1170, 512)" in r and "0.0% cached" in r
    assert toy.calls == []
    col = view[:, 1_999_999]
    np.testing.assert_allclose(col, np.sin(0.37 * np.arange(1170)) + np.cos(1.3 * 1_999_999) + np.arange(1170) * 1999.999)
    assert toy.ncells == 1170
    assert "0.0% cached" in repr(view)  # 1170 of 2.3e9 cells
    assert weakref.ref(view)() is view


def test_one_column_of_a_huge_array():
    view, toy = _view((300, 2_000_000), (300, 4096))
    col = view[:, 123_456]
    assert col.shape == (300,)
    np.testing.assert_allclose(col, np.sin(0.37 * np.arange(300)) + np.cos(1.3 * 123_456) + np.arange(300) * 123.456)
    assert toy.ncells == 300 and len(toy.calls) == 1
    row = view[7, :5000:1000]
    assert row.shape == (5,) and toy.ncells == 305


def test_iteration_yields_rows_band_by_band():
    view, toy = _view((7, 5), (3, 5))
    rows = []
    for k, row in enumerate(view):
        rows.append(row)
        if k == 0:
            assert toy.ncells == 3 * 5  # only the first row chunk so far
    np.testing.assert_array_equal(np.array(rows), toy.full()["a"])
    assert len(toy.calls) == 3


def test_as_numpy_refuses_oversized():
    view, toy = _view((100, 300), (10, 30))
    with pytest.raises(ArrayTooLargeError, match=r"234\.4 KiB.*force=True") as err:
        view.as_numpy(max_bytes=10_000)
    assert isinstance(err.value, MemoryError)
    assert toy.calls == []
    np.testing.assert_array_equal(view.as_numpy(max_bytes=10_000, force=True), toy.full()["a"])
    huge, toy2 = _view((1170, 2_000_000), (1170, 512))
    with pytest.raises(ArrayTooLargeError, match="17.4 GiB"):
        np.asarray(huge)
    assert toy2.calls == []


def test_as_numpy_caches_when_it_fits():
    view, toy = _view((20, 30), (5, 7))
    a = view.as_numpy()
    b = LazyArray(view.store, "b").as_numpy()
    assert toy.counts.max() == 1
    np.testing.assert_array_equal(a, toy.full()["a"])
    np.testing.assert_array_equal(b, toy.full()["b"])
    small = LazyArray(BlockStore(Toy((20, 30)), chunks=(5, 7), cache_bytes=5 * 7 * 17 * 3), "a")
    small.as_numpy()
    small.as_numpy()  # too big for the cache: streamed, computed again, cache untouched
    assert small.store.function.counts.max() == 2 and len(small.store.cache) == 0


def test_construction_checks():
    store = BlockStore(Toy((3, 4)))
    with pytest.raises(KeyError):
        LazyArray(store, "zscore")
    with pytest.raises(ValueError):
        LazyArray(store, "a", row_labels=["x"])
    v = LazyArray(store, "a", attrs={"unit": "z"})
    assert v.attrs == {"unit": "z"} and v.row_labels is None and v.name == "a" and v.store is store


def test_pickle_lazyarray():
    view, toy = _view((10, 12), (4, 4))
    view = LazyArray(view.store, "b", row_labels=[f"p{i}" for i in range(10)], attrs={"k": 1})
    view[:, :]
    clone = pickle.loads(pickle.dumps(view))
    assert clone.store.cached_fraction() == 0 and clone.store.function.calls == []
    np.testing.assert_array_equal(clone.loc["p3"], toy.full()["b"][3])
    assert clone.attrs == {"k": 1} and clone.name == "b"


def test_subclass_hooks():
    class Named(LazyArray):
        def _repr_fields(self):
            return [f"{self.shape[0]} proteins x {self.shape[1]} samples"] + super()._repr_fields()[1:]

    view = Named(BlockStore(Toy((3, 4))), "a")
    assert repr(view).startswith("<Named 'a': 3 proteins x 4 samples")
    assert isinstance(view[0], np.ndarray) and isinstance(view.mean(axis=1), np.ndarray)


def test_threads_hammering_random_keys():
    import threading

    shape = (29, 41)
    toy = Toy(shape, delay=0.001)
    view = LazyArray(BlockStore(toy, chunks=(6, 7), threads=2), "b")
    mat = toy.full()["b"]
    keys = [
        (slice(None), 5), (3, slice(None, None, -2)), ([4, 1, 4], [[0], [40]]), (Ellipsis, range(3, 30, 4)),
        (np.arange(29) % 3 == 0, slice(10, 2, -1)), (-1, -1), (slice(5, 20), [7, 7, 39]), mat > 0.5, (None, 7, None),
    ]  # fmt: skip
    serial = [mat[k] for k in keys]
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        try:
            for k in rng.integers(0, len(keys), 30):
                got = view[keys[k]]
                assert type(got) is type(serial[k])
                np.testing.assert_array_equal(got, serial[k])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert toy.concurrent_duplicates == 0


# ----------------------------------------------------------------------------- transposed view
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_transposed_view_matches_numpy(data):
    shape = data.draw(shapes())
    chunks = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    view, toy = _view(shape, chunks, "b")
    t = view.T
    mat = toy.full()["b"].T
    assert t.shape == mat.shape and t.chunks == view.chunks[::-1] and t.T.shape == shape
    key = data.draw(index_keys(mat.shape))
    try:
        expected = mat[key]
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            t[key]
        return
    _assert_same(t[key], expected)
    axis = data.draw(st.sampled_from([None, 0, 1, -1]))
    if mat.size:
        np.testing.assert_allclose(t.sum(axis=axis, keepdims=True), mat.sum(axis=axis, keepdims=True), rtol=1e-12)
        np.testing.assert_array_equal(t.max(axis=axis), mat.max(axis=axis))


def test_transposed_view_is_lazy_and_labelled():
    view, toy = _view((5, 7), (2, 3))
    view = LazyArray(view.store, "a", row_labels=list("abcde"), col_labels=[f"c{j}" for j in range(7)])
    t = view.T
    assert toy.calls == [] and "'a'.T" in repr(t) and t.transposed and not t.T.transposed
    mat = toy.full()["a"]
    _assert_same(t.loc["c3", ["e", "a"]], mat[[4, 0], 3])
    _assert_same(t.oindex[[6, 1], 2], mat[2, [6, 1]])
    _assert_same(t.as_numpy(), mat.T.copy())
    np.testing.assert_array_equal(np.array(list(t)), mat.T)
    out = np.empty((1, 5))
    assert t.mean(axis=0, keepdims=True, out=out) is out
    np.testing.assert_allclose(out, mat.mean(axis=1)[None, :], rtol=1e-12)
    np.testing.assert_allclose(np.std(t, axis=1), mat.std(axis=0), rtol=1e-12)
    assert len(toy.calls) > 0 and toy.concurrent_duplicates == 0


# ----------------------------------------------------------------------------- bounded, pointwise, clear
def test_getitem_honours_the_memory_bound_and_its_override(monkeypatch):
    from lazyact.array import config

    huge, toy = _view((1170, 2_000_000), (1170, 512))
    with pytest.raises(ArrayTooLargeError, match=r"indexing .* 17\.4 GiB, more than the bound of 2\.0 GiB") as err:
        huge[:, :]
    msg = str(err.value)
    assert "lazyact.array.config.max_materialise_bytes = 18 * 2**30" in msg and "as_numpy(force=True)" in msg
    assert "e.g. view[:, :1000]" in msg
    monkeypatch.setattr(config, "max_materialise_bytes", 2**20)
    for key in (3, (slice(None), slice(0, 1000)), ([0] * 200_000, 5)):  # the result counts, not only the cells
        with pytest.raises(ArrayTooLargeError, match=r"e\.g\. view\[:, :112\]"):
            huge[key]
    with pytest.raises(ArrayTooLargeError):
        huge.loc[:, 0:1000]
    with pytest.raises(ArrayTooLargeError):
        huge.oindex[:, ::2]
    with pytest.raises(ArrayTooLargeError):
        huge.T[:1000]
    assert toy.calls == []
    np.testing.assert_array_equal(huge[:, :112], toy_values_of(np.arange(1170), np.arange(112)))  # the advice runs
    monkeypatch.setattr(config, "max_materialise_bytes", 20 * 2**20)  # the other advice: raise the bound
    assert huge[:, :1000].shape == (1170, 1000) and huge[3, :100_000].shape == (100_000,)


def toy_values_of(rows, cols):
    from array_toys import toy_values

    return toy_values(rows, cols)["a"]


def test_pointwise_keys_compute_only_the_blocks_holding_their_points():
    """Scattered (row, column) pairs of a 1,170 x 1,000,000 array in blocks of 1,170 x 256 (an
    activity's default): per block the rows x cols of its points, not the rectangle of all of them."""
    view, toy = _view((1170, 1_000_000), (1170, 256))
    rng = np.random.default_rng(0)
    r = rng.integers(0, 1170, 2000)
    c = rng.integers(0, 1_000_000, 2000)
    got = view[r, c]
    pairs = np.unique(r * 1_000_000 + c).size
    cells = view.store.stats.cells
    rectangle = np.unique(r).size * np.unique(c).size
    blocks = np.unique(c // 256, return_counts=True)[1]
    assert cells <= int((blocks**2).sum()) and cells < 1.5 * pairs and rectangle > 500 * pairs
    expected = toy_values_of(np.arange(1170), np.unique(c))
    np.testing.assert_array_equal(got, expected[r, np.searchsorted(np.unique(c), c)])
    # a 2-D mask is pointwise too; an np.ix_ key (a rectangle) is computed as one
    small, toy2 = _view((40, 60), (8, 10))
    mask = np.zeros((40, 60), bool)
    mask[3, 7] = mask[35, 55] = True
    np.testing.assert_array_equal(small[mask], toy2.full()["a"][mask])
    assert toy2.ncells == 2
    ix = np.ix_([1, 2, 30], [4, 50])
    np.testing.assert_array_equal(small[ix], toy2.full()["a"][ix])
    assert toy2.ncells == 2 + 6


def test_string_keys_point_to_loc():
    view, toy = _view((3, 4), (2, 2))
    for key, label in (("IL6", "IL6"), ((0, "cell1"), "cell1"), ((["IL6", "TNF"], 0), "IL6"),
                       (np.array(["x"]), "x"), (b"IL6", "IL6")):  # fmt: skip
        with pytest.raises(IndexError, match=rf"label '{label}': select by name with \.loc, e\.g\. view\.loc\['{label}'\]"):
            view[key]
        with pytest.raises(IndexError, match=r"\.loc"):
            view.oindex[key]
    assert toy.calls == []


def test_long_slices_and_rows_show_progress(capsys, monkeypatch):
    """Decided from the block count (nothing measured yet) or the store's measured time per cell."""
    from lazyact.array import config

    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    monkeypatch.setattr(config, "progress", True)
    monkeypatch.setattr(config, "progress_delay", 0.0)
    view, _ = _view((6, 400), (6, 20))
    view[:, :]  # 20 column chunks, nothing measured yet: shown
    assert "a[...]" in capsys.readouterr().err
    view.store.clear_cache()
    view[:2, :5]  # one chunk: never
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(config, "progress_seconds", 0.5 * view.store.estimate_seconds(400))
    view[3, :]  # a whole row, estimated long: shown
    assert "a[...]" in capsys.readouterr().err
    view[[0, 5], [1, 399]]  # two points: estimated short
    assert capsys.readouterr().err == ""
