"""BlockStore: what gets computed, caching, threads, streaming, pickling."""
from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from array_toys import RefusedError, Toy
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.array import BlockStore

BIG = 2**30


def _sorted_subset(draw, n):
    return np.array(sorted(draw(st.sets(st.integers(0, n - 1), max_size=n))), dtype=np.intp)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_read_computes_only_missing_rectangles(data):
    """Model check of the rule: per column chunk, ONE call for (rows with a missing cell)
    x (cols with a missing cell) over all the row chunks the read touches."""
    shape = (data.draw(st.integers(1, 9)), data.draw(st.integers(1, 11)))
    chunks = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)))
    toy = Toy(shape)
    store = BlockStore(toy, chunks=chunks, cache_bytes=BIG, threads=data.draw(st.sampled_from([1, 2])))
    full = toy.full()
    done = np.zeros(shape, bool)
    expected_counts = np.zeros(shape, np.int64)
    for _ in range(data.draw(st.integers(1, 5))):
        rows = _sorted_subset(data.draw, shape[0])
        cols = _sorted_subset(data.draw, shape[1])
        names = data.draw(st.sampled_from([None, "a", ("b",), ("b", "a")]))
        calls_before = len(toy.calls)
        expected_calls = 0
        for j0 in range(0, shape[1], chunks[1]):
            cj = cols[(cols >= j0) & (cols < j0 + chunks[1])]
            if rows.size == 0 or cj.size == 0:
                continue
            missing = ~done[np.ix_(rows, cj)]
            mr, mc = rows[missing.any(axis=1)], cj[missing.any(axis=0)]
            if mr.size:
                expected_calls += 1
                expected_counts[np.ix_(mr, mc)] += 1
                done[np.ix_(mr, mc)] = True
        out = store.read(rows, cols, names)
        assert set(out) == ({"a", "b"} if names is None else set([names] if isinstance(names, str) else names))
        for name, arr in out.items():
            assert arr.shape == (rows.size, cols.size) and arr.dtype == np.float64
            np.testing.assert_array_equal(arr, full[name][np.ix_(rows, cols)])
        assert len(toy.calls) - calls_before == expected_calls
        np.testing.assert_array_equal(toy.counts, expected_counts)


def test_one_row_over_many_columns_computes_that_row_only():
    toy = Toy((50, 400))
    store = BlockStore(toy, chunks=(50, 64))
    out = store.read(np.array([17]), None, "a")["a"]
    np.testing.assert_array_equal(out[0], toy.full()["a"][17])
    assert toy.ncells == 400 and toy.counts[17].min() == 1
    assert len(toy.calls) == 7  # one per column chunk
    # a second row: only it is computed
    store.read(np.array([3]), None)
    assert toy.ncells == 800


def test_refusing_function_proves_laziness():
    allowed = np.zeros((20, 30), bool)
    allowed[4:9, 10:25] = True
    toy = Toy((20, 30), allowed=allowed)
    store = BlockStore(toy, chunks=(7, 8))
    out = store.read(np.arange(4, 9), np.arange(10, 25))
    np.testing.assert_array_equal(out["b"], toy.full()["b"][4:9, 10:25])
    with pytest.raises(RefusedError):
        store.read(np.array([3]), np.array([10]))
    # the failed read leaves the store usable and its blocks unlocked
    out = store.read(np.array([5]), np.array([12, 20]))
    np.testing.assert_array_equal(out["a"], toy.full()["a"][[5]][:, [12, 20]])


def test_second_read_and_other_name_are_free():
    toy = Toy((12, 12))
    store = BlockStore(toy, chunks=(5, 5))
    rows, cols = np.array([0, 3, 7, 11]), np.arange(2, 9)
    a = store.read(rows, cols, "a")["a"]
    calls, cells = store.stats.calls, store.stats.cells
    assert calls == 2 and cells == 4 * 7
    b = store.read(rows, cols, "b")["b"]
    a2 = store.read(rows[1:3], cols[::2], "a")["a"]
    assert (store.stats.calls, store.stats.cells) == (calls, cells)
    np.testing.assert_array_equal(a2, a[1:3, ::2])
    np.testing.assert_array_equal(b, toy.full()["b"][np.ix_(rows, cols)])
    assert store.stats.hits > 0
    # results are fresh arrays, not views of the cache
    a2[...] = -1
    np.testing.assert_array_equal(store.read(rows[1:3], cols[::2], "a")["a"], a[1:3, ::2])


def test_lru_eviction_and_byte_bound():
    toy = Toy((2, 8))
    block_bytes = 2 * 2 * (8 * 2 + 1)  # 2x2 cells, two float64 outputs + done mask
    store = BlockStore(toy, chunks=(2, 2), cache_bytes=3 * block_bytes, threads=1)
    for j in (0, 1, 2):
        store.read(None, np.array([2 * j]))
    assert store.cache.keys() == [(0, 0), (0, 1), (0, 2)]
    assert store.cache.nbytes == 3 * block_bytes
    store.read(None, np.array([0]))  # touch block 0: now most recent
    store.read(None, np.array([6]))  # block 3 evicts the least recently used: block 1
    assert store.cache.keys() == [(0, 2), (0, 0), (0, 3)]
    assert store.cache.evictions == 1 and store.cache.nbytes <= store.cache.max_bytes
    calls = store.stats.calls
    store.read(None, np.array([0, 4, 6]))  # all cached
    assert store.stats.calls == calls
    store.read(None, np.array([2]))  # evicted: computed again
    assert store.stats.calls == calls + 1
    # shrinking the bound evicts
    store.cache.max_bytes = block_bytes
    assert len(store.cache) == 1 and store.cache.nbytes == block_bytes


def test_request_larger_than_cache():
    toy = Toy((30, 40))
    store = BlockStore(toy, chunks=(4, 4), cache_bytes=5 * 16 * 17, threads=2)
    out = store.read(None, None)
    np.testing.assert_array_equal(out["a"], toy.full()["a"])
    assert store.cache.nbytes <= store.cache.max_bytes and len(store.cache) <= 5
    assert toy.counts.max() == 1


@pytest.mark.parametrize("cache_bytes", [0, 100])  # disabled / smaller than one block
def test_no_cache(cache_bytes):
    toy = Toy((9, 9))
    store = BlockStore(toy, chunks=(4, 4), cache_bytes=cache_bytes)
    for _ in range(2):
        out = store.read(np.array([1, 5]), np.arange(9), "b")
        np.testing.assert_array_equal(out["b"], toy.full()["b"][[1, 5]])
    assert len(store.cache) == 0 and store.cache.nbytes == 0
    assert toy.ncells == 2 * 18 and store.stats.calls == 2 * 3
    blocks = list(store.iter_blocks("a", cache=True))
    assert len(blocks) == 9


def test_empty_reads_call_nothing():
    toy = Toy((5, 0))
    store = BlockStore(toy)
    assert store.read(None, None)["a"].shape == (5, 0)
    toy = Toy((5, 6))
    store = BlockStore(toy)
    assert store.read(np.array([], np.intp), np.array([1]))["b"].shape == (0, 1)
    assert toy.calls == []


def test_read_argument_checks():
    store = BlockStore(Toy((5, 6)))
    with pytest.raises(ValueError):
        store.read(np.array([2, 1]), None)
    with pytest.raises(ValueError):
        store.read(np.array([1, 1]), None)
    with pytest.raises(IndexError):
        store.read(np.array([5]), None)
    with pytest.raises(KeyError):
        store.read(None, None, names="zscore")
    # slices are accepted too
    np.testing.assert_array_equal(store.read(slice(None, None, -2), slice(1, 3))["a"], Toy((5, 6)).full()["a"][[0, 2, 4], 1:3])


def test_bad_function_outputs():
    class Bad:
        names, shape, dtype = ("x", "y"), (3, 3), np.dtype("f8")

        def __call__(self, rows, cols):
            return {"x": np.zeros((rows.size, cols.size))}

    with pytest.raises(KeyError, match="'y'"):
        BlockStore(Bad()).read(None, None)

    class WrongShape(Bad):
        def __call__(self, rows, cols):
            return {"x": np.zeros((1, 1)), "y": np.zeros((1, 1))}

    with pytest.raises(ValueError, match="shape"):
        BlockStore(WrongShape()).read(None, None)


def test_chunks_defaults_and_normalisation():
    toy = Toy((10, 20), preferred_chunks=(5, 7))
    assert BlockStore(toy).chunks == (5, 7)
    assert BlockStore(toy, chunks=(-1, 100)).chunks == (10, 20)
    assert BlockStore(toy, chunks=3).chunks == (3, 3)
    assert BlockStore(Toy((0, 4))).chunks[0] == 1
    with pytest.raises(ValueError):
        BlockStore(toy, chunks=(0, 3))
    assert BlockStore(Toy((3, 4))).grid == (1, 1)


# ----------------------------------------------------------------------------- threads
def test_concurrent_reads_of_the_same_cells_compute_them_once():
    toy = Toy((40, 40), delay=0.02)
    store = BlockStore(toy, chunks=(16, 16), threads=2)
    barrier = threading.Barrier(8)
    results = [None] * 8

    def worker(k):
        barrier.wait()
        results[k] = store.read(np.arange(5, 30), np.arange(3, 37), "a")["a"]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = toy.full()["a"][5:30, 3:37]
    for r in results:
        np.testing.assert_array_equal(r, expected)
    assert toy.concurrent_duplicates == 0
    assert toy.counts.max() == 1 and toy.ncells == 25 * 34


def test_hammering_random_reads_from_8_threads():
    shape = (37, 53)
    toy = Toy(shape, delay=0.001)
    store = BlockStore(toy, chunks=(8, 9), threads=3)
    full = toy.full()
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(40):
                rows = np.unique(rng.integers(0, shape[0], rng.integers(1, 12)))
                cols = np.unique(rng.integers(0, shape[1], rng.integers(1, 20)))
                name = "ab"[rng.integers(0, 2)]
                got = store.read(rows, cols, name)[name]
                np.testing.assert_array_equal(got, full[name][np.ix_(rows, cols)])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert toy.concurrent_duplicates == 0
    assert toy.max_inflight >= 2  # the reads did overlap


# ----------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cache", [False, True])
def test_iter_blocks_covers_the_grid(threads, cache):
    toy = Toy((11, 9))
    store = BlockStore(toy, chunks=(4, 4), threads=threads)
    full = toy.full()
    out = {n: np.full(store.shape, np.nan) for n in store.names}
    seen = []
    for rsl, csl, arrays in store.iter_blocks(cache=cache):
        seen.append((rsl.start, csl.start))
        for n, a in arrays.items():
            out[n][rsl, csl] = a
    assert seen == [(r, c) for r in (0, 4, 8) for c in (0, 4, 8)]  # row-major, deterministic
    for n in store.names:
        np.testing.assert_array_equal(out[n], full[n])
    assert toy.counts.max() == 1
    assert (len(store.cache) == 9) == cache
    # now the cache (if filled) serves a second sweep
    calls = store.stats.calls
    list(store.iter_blocks("a"))
    assert store.stats.calls == calls + (0 if cache else 9)


def test_iter_blocks_selection_and_transform():
    toy = Toy((20, 20))
    store = BlockStore(toy, chunks=(6, 6))
    rows = np.array([1, 2, 7, 13, 19])
    res = list(store.iter_blocks("b", rows=rows, cols=slice(5, 9), transform=lambda d: d["b"].sum()))
    # yielded slices are positions within the selection
    assert [(r, c) for r, c, _ in res] == [
        (slice(0, 2), slice(0, 1)), (slice(0, 2), slice(1, 4)),
        (slice(2, 3), slice(0, 1)), (slice(2, 3), slice(1, 4)),
        (slice(3, 4), slice(0, 1)), (slice(3, 4), slice(1, 4)),
        (slice(4, 5), slice(0, 1)), (slice(4, 5), slice(1, 4)),
    ]  # fmt: skip
    total = sum(v for _, _, v in res)
    assert np.isclose(total, toy.full()["b"][np.ix_(rows, np.arange(5, 9))].sum())
    assert toy.ncells == 5 * 4


def test_iter_blocks_bounded_memory():
    toy = Toy((4, 200))
    store = BlockStore(toy, chunks=(4, 5), threads=2)
    gen = store.iter_blocks()
    ahead = []
    for k, _ in enumerate(gen):
        ahead.append(len(toy.calls) - (k + 1))
        if k == 10:
            break
    gen.close()
    assert max(ahead) <= 2 * store.nthreads
    assert len(toy.calls) < 40  # abandoning the generator stops the sweep


def test_iter_blocks_uses_complete_cached_blocks():
    toy = Toy((8, 8))
    store = BlockStore(toy, chunks=(4, 4), threads=1)
    store.read(np.arange(4), np.arange(4))  # block (0, 0) complete
    store.read(np.array([5]), np.array([5]))  # block (1, 1) partial
    calls = store.stats.calls
    list(store.iter_blocks())
    assert store.stats.calls == calls + 3


def test_progress_bar(capsys, monkeypatch):
    from lazyact.array import config

    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    store = BlockStore(Toy((4, 40)), chunks=(4, 2), threads=1)
    list(store.iter_blocks(progress=True, desc="sweep"))
    assert "sweep" in capsys.readouterr().err
    list(store.iter_blocks(progress=False))
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(config, "progress", True)
    monkeypatch.setattr(config, "progress_delay", 0.0)
    fresh = BlockStore(Toy((4, 40)), chunks=(4, 2), threads=1)
    list(fresh.iter_blocks(desc="auto"))  # nothing measured yet: 20 blocks > 8, shown
    assert "auto" in capsys.readouterr().err
    list(fresh.iter_blocks(desc="quick"))  # measured: 20 fast blocks take far less than 2 s
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LAZYACT_PROGRESS", "0")
    list(BlockStore(Toy((4, 40)), chunks=(4, 2)).iter_blocks(desc="silenced"))
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("LAZYACT_PROGRESS")
    small = BlockStore(Toy((4, 4)), chunks=(2, 2))
    list(small.iter_blocks(desc="small"))  # 4 blocks, no estimate yet: not shown
    assert capsys.readouterr().err == ""


def test_long_work_shows_progress_however_few_blocks(capsys, monkeypatch):
    """The decision comes from the time measured per cell, not from the block count."""
    from lazyact.array import config

    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    monkeypatch.setattr(config, "progress", True)
    monkeypatch.setattr(config, "progress_delay", 0.0)
    store = BlockStore(Toy((4, 40)), chunks=(4, 10), threads=1)
    store.read(np.arange(4), np.arange(2))  # measures the time per cell
    per_cell = store.stats.seconds_per_cell()
    assert per_cell > 0 and store.estimate_seconds(160) == pytest.approx(160 * per_cell)
    # a threshold between the estimates of the small and the large work (the machine's speed drops out)
    monkeypatch.setattr(config, "progress_seconds", 0.5 * store.estimate_seconds(4 * 38))
    store.read(np.arange(4), np.arange(2, 40), desc="long slice")  # 4 column chunks, estimated long
    assert "long slice" in capsys.readouterr().err
    monkeypatch.setattr(config, "progress_seconds", 0.5 * store.estimate_seconds(4 * 40))
    list(store.iter_blocks(desc="long sweep"))  # 4 blocks, estimated long
    assert "long sweep" in capsys.readouterr().err
    monkeypatch.setattr(config, "progress_seconds", 0.5 * store.estimate_seconds(4 * 40))
    store.clear_cache()
    store.read(np.arange(1), np.arange(1), desc="one cell")  # estimated short
    assert capsys.readouterr().err == ""
    assert not store.shows_progress(4, 1) and store.shows_progress(4, 4 * 40)


# ----------------------------------------------------------------------------- pickling
def test_pickle_round_trip_drops_the_cache():
    toy = Toy((10, 10))
    store = BlockStore(toy, chunks=(3, 3), cache_bytes=10**6, threads=2)
    size_empty = len(pickle.dumps(store))
    store.read(None, None)
    assert len(store.cache) == 16
    data = pickle.dumps(store)
    assert len(data) == size_empty  # no cache contents
    clone = pickle.loads(data)
    assert len(clone.cache) == 0 and clone.stats.calls == 0
    assert clone.chunks == (3, 3) and clone.cache.max_bytes == 10**6 and clone.threads == 2
    assert clone.token == store.token
    np.testing.assert_array_equal(clone.read(np.array([4]), None, "b")["b"][0], toy.full()["b"][4])
    assert clone.function.ncells == 10


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_gets_a_working_pool():
    import multiprocessing as mp

    toy = Toy((6, 40))
    store = BlockStore(toy, chunks=(6, 4), threads=2)
    store.read(np.array([0]), None)  # the parent's pool exists
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_sum_of_row, args=(store, 3, queue))  # inherited, not pickled
    child.start()
    total = queue.get()
    child.join()
    assert child.exitcode == 0
    assert np.isclose(total, toy.full()["a"][3].sum())


def _sum_of_row(store, row, queue):
    assert store._executor is not None  # the parent's, without threads here
    queue.put(float(store.read(np.array([row]), None, "a")["a"].sum()))
