"""lazyact.array.sinks: chunk choice, read_all, to_dask, and the generic resumable block writer.

The writer is tested through an in-memory layout (no file format): the formats
themselves are tested in tests/results.
"""
from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from array_toys import RefusedError, Toy

from lazyact.array import BlockStore, config
from lazyact.array import sinks
from lazyact.array.lazyarray import ArrayTooLargeError
from lazyact.array.sinks import BlockLayout, BlockWriter, Target, WritePlan, chunk_shape, read_all


def _store(shape=(7, 23), chunks=(3, 4), threads=2, **kw):
    toy = Toy(shape, **kw)
    return BlockStore(toy, chunks=chunks, threads=threads), toy


# --------------------------------------------------------------------------- an in-memory layout
class MemoryOutput:
    """A BlockOutput kept in a dict ("the disk"), so that a second writer can resume it."""

    def __init__(self, layout: "MemoryLayout", plan: WritePlan):
        self.layout, self.plan = layout, plan
        self.final, self.partial = Path("mem/out"), Path("mem/out.partial")
        disk = layout.disk
        if disk.get("plan") != plan:  # another layout: start over
            disk.clear()
            disk.update(plan=plan, blocks={}, summary=None, complete=False, committed=False)
        self.disk = disk

    @property
    def complete(self):
        return self.disk["complete"]

    @property
    def done(self):
        return np.array([k in self.disk["blocks"] for k in range(self.plan.n_blocks)], dtype=bool)

    def read_block(self, k):
        return {n: a.copy() for n, a in self.disk["blocks"][k].items()}

    def write_block(self, k, arrays):
        if self.layout.fail_at is not None and len(self.disk["blocks"]) >= self.layout.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        self.layout.writes.append(k)
        self.disk["blocks"][k] = {n: np.array(a, copy=True) for n, a in arrays.items()}

    def finish(self, summary):
        self.disk["summary"] = summary
        self.disk["complete"] = True

    def commit(self):
        self.disk["committed"] = True
        return self.final

    def close(self):
        self.layout.closed += 1

    def array(self, name):
        blocks = self.disk["blocks"]
        return np.concatenate([blocks[k][name] for k in range(self.plan.n_blocks)], axis=1)


class MemoryLayout:
    kind = "memory"

    def __init__(self, names, disk=None, fail_at=None):
        self.targets = [Target(n, n) for n in names]
        self.disk = {} if disk is None else disk
        self.fail_at = fail_at
        self.writes: list[int] = []
        self.closed = 0
        self.output: MemoryOutput | None = None

    def open(self, plan):
        self.output = MemoryOutput(self, plan)
        return self.output


def test_write_plan():
    layout: BlockLayout = MemoryLayout(("a",))  # the protocol is structural
    plan = BlockWriter(_store()[0], layout, block=5).plan
    assert plan.columns(4) == (20, 23) and plan.n_blocks == 5 and plan.names == ("a",)


# --------------------------------------------------------------------------- chunks
@pytest.mark.parametrize("shape", [(43, 200_000), (1170, 2_000_000), (1170, 5), (1, 10), (5000, 3), (43, 1)])
def test_chunk_shape_fits_and_balances(shape):
    r, c = chunk_shape(shape, 8)
    assert 1 <= r <= shape[0] and 1 <= c <= shape[1]
    assert r * c * 8 <= 2 * sinks.chunk_target_bytes
    if r < shape[0] and c < shape[1]:  # balanced: one row ~ one column block in cells read
        row_cost, col_cost = r * shape[1], shape[0] * c
        assert 0.25 < row_cost / col_cost < 4


def test_chunk_shape_respects_max_cols_and_empty():
    assert chunk_shape((1170, 2_000_000), max_cols=100)[1] == 100
    assert chunk_shape((0, 10)) is None and chunk_shape((10, 0)) is None


# --------------------------------------------------------------------------- read_all, to_dask
def test_read_all_one_pass_and_refuses_big():
    store, toy = _store()
    got = read_all(store)
    full = toy.full()
    assert np.array_equal(got["a"], full["a"]) and np.array_equal(got["b"], full["b"])
    assert toy.counts.max() == 1  # every cell computed once for both outputs
    with pytest.raises(ArrayTooLargeError, match="to_hdf5"):
        read_all(store, max_bytes=100)
    assert read_all(store, "b", max_bytes=100, force=True)["b"].shape == (7, 23)


def test_to_dask_of_store():
    da = pytest.importorskip("dask.array")
    store, toy = _store()
    arr = sinks.to_dask(store, "b", chunks=(4, 5))
    assert isinstance(arr, da.Array) and arr.chunks[0] == (4, 3)
    assert np.array_equal(arr.compute(scheduler="sync"), toy.full()["b"])


# --------------------------------------------------------------------------- the writer
@pytest.mark.parametrize("block", [None, 1, 5, 8, 100])
def test_writer_hands_every_block_once_in_order(block):
    store, toy = _store(chunks=(3, 4))
    layout = MemoryLayout(("a", "b"))
    assert BlockWriter(store, layout, block=block, progress=False).run() == Path("mem/out")
    out = layout.output
    full = toy.full()
    assert np.array_equal(out.array("a"), full["a"]) and np.array_equal(out.array("b"), full["b"])
    assert layout.writes == list(range(out.plan.n_blocks)) and out.disk["committed"]
    assert toy.counts.max() == 1 and toy.counts.min() == 1  # cache bypassed, each cell once
    if block is not None:
        assert out.plan.width == min(block, 23) and out.plan.chunks[1] <= block


def test_writer_refuses_bad_options():
    store, _ = _store()
    with pytest.raises(ValueError, match="floating"):
        BlockWriter(store, MemoryLayout(("a",)), dtype=np.int32)
    with pytest.raises(ValueError, match="positive"):
        BlockWriter(store, MemoryLayout(("a",)), block=0)
    with pytest.raises(ValueError, match="unique"):
        BlockWriter(store, MemoryLayout(("a", "a")))
    with pytest.raises(KeyError):
        BlockWriter(store, MemoryLayout(("c",)))


def test_resume_computes_only_missing_blocks_and_summaries_match():
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :12] = True
    store, _ = _store(allowed=allowed, threads=1)
    disk: dict = {}
    first = MemoryLayout(("a", "b"), disk)
    with pytest.raises(RefusedError) as info:
        BlockWriter(store, first, block=5, summary=True, progress=False).run()
    assert any("kept in" in n for n in getattr(info.value, "__notes__", [])) and first.closed == 1
    assert sorted(disk["blocks"]) == [0, 1]  # blocks of 5: [0,5) and [5,10) finished
    store2, toy2 = _store()
    second = MemoryLayout(("a", "b"), disk)
    BlockWriter(store2, second, block=5, summary=True, progress=False).run()
    assert toy2.counts[:, :10].sum() == 0 and toy2.counts[:, 10:].min() == 1
    full = toy2.full()
    for n in ("a", "b"):
        assert np.array_equal(second.output.array(n), full[n])
        s = disk["summary"][n]
        np.testing.assert_allclose(s["mean"], full[n].mean(axis=1), rtol=1e-13)
        np.testing.assert_allclose(s["std"], full[n].std(axis=1), rtol=1e-12)
        assert np.array_equal(s["min"], full[n].min(axis=1)) and np.array_equal(s["max"], full[n].max(axis=1))
    ref = MemoryLayout(("a", "b"))
    BlockWriter(_store()[0], ref, block=5, summary=True, progress=False).run()
    for n in ("a", "b"):
        for moment in ("mean", "std", "min", "max"):
            assert np.array_equal(ref.disk["summary"][n][moment], disk["summary"][n][moment])


def test_complete_output_is_only_committed():
    store, toy = _store()
    disk: dict = {}
    BlockWriter(store, MemoryLayout(("a",), disk), block=5, progress=False).run()
    store2, toy2 = _store()
    again = MemoryLayout(("a",), disk)
    BlockWriter(store2, again, block=5, progress=False).run()
    assert toy2.ncells == 0 and again.writes == []


def test_failed_write_names_the_partial_and_keeps_blocks():
    store, _ = _store()
    layout = MemoryLayout(("a", "b"), fail_at=2)
    with pytest.raises(OSError, match=r"failed after 2 of 5 column blocks.*No space left.*resume") as info:
        BlockWriter(store, layout, block=5, progress=False).run()
    assert info.value.errno == errno.ENOSPC and layout.closed == 1
    assert sorted(layout.disk["blocks"]) == [0, 1] and not layout.disk["complete"]


def test_writer_tolerates_unaligned_store_chunks():
    # store chunks (2, 3) vs write blocks of 7 columns: tasks split inside blocks and rows
    store, toy = _store((5, 20), chunks=(2, 3), threads=2)
    layout = MemoryLayout(("a",))
    BlockWriter(store, layout, block=7, progress=False).run()
    assert np.array_equal(layout.output.array("a"), toy.full()["a"])
    assert toy.counts.min() == 1 and toy.counts.max() == 1


def test_progress_bar_shows_samples(capsys, monkeypatch):
    monkeypatch.setattr(config, "progress", True)
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    store, _ = _store()
    BlockWriter(store, MemoryLayout(("a",)), block=5, progress=True).run()
    err = capsys.readouterr().err
    assert "writing out" in err and "23/23" in err
