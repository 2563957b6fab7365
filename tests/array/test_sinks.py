"""lazyact.array.sinks: chunk choice, read_all, to_dask, and the generic crash-safe block writer.

The writer is tested through a toy format (a directory of .npy files, so also the
directory moves a zarr-like format needs): the real formats, kills and full disks are
tested in tests/results.
"""
from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from array_toys import RefusedError, Toy

from lazyact.array import BlockStore, config
from lazyact.array import sinks
from lazyact.array.lazyarray import ArrayTooLargeError
from lazyact.array.journal import Journal, ResumeMismatchError, WriteLock, WriterBusyError
from lazyact.array.sinks import BlockLayout, BlockWriter, Target, WritePlan, chunk_shape, read_all


def _store(shape=(7, 23), chunks=(3, 4), threads=2, **kw):
    toy = Toy(shape, **kw)
    return BlockStore(toy, chunks=chunks, threads=threads), toy


# --------------------------------------------------------------------------- a toy format
class NpyOutput:
    """A BlockOutput stored as a directory of ``.npy`` files (one per block and output)."""

    def __init__(self, layout: "NpyLayout", plan: WritePlan, path: Path):
        self.layout, self.plan, self.path = layout, plan, path

    def read_block(self, k):
        return {n: np.load(self.path / f"{k}.{n}.npy") for n in self.plan.names}

    def write_block(self, k, arrays):
        if self.layout.fail_at is not None and len(self.layout.writes) >= self.layout.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.layout.writes.append(k)
        for n in self.plan.names:
            with open(self.path / f"{k}.{n}.npy", "wb") as f:
                np.save(f, arrays[n])
                f.flush()
                os.fsync(f.fileno())

    def finish(self, summary):
        with open(self.path / "summary.pkl", "wb") as f:
            pickle.dump(summary, f)
        (self.path / "complete").touch()

    def close(self):
        self.layout.closed += 1

    def array(self, name):
        return np.concatenate([np.load(self.path / f"{k}.{name}.npy") for k in range(self.plan.n_blocks)], axis=1)

    def summary(self):
        with open(self.path / "summary.pkl", "rb") as f:
            return pickle.load(f)


class NpyLayout:
    """The toy format: a directory; its options and fingerprint are plain attributes."""

    kind = "npy"

    def __init__(self, final, names, fail_at=None, resume=True, fingerprint="fp", options=None):
        self.final = Path(final)
        self.targets = [Target(n, n) for n in names]
        self.fail_at, self.resume, self.fingerprint = fail_at, resume, fingerprint
        self.fingerprint_parts = {"inputs": fingerprint}
        self.options = options or {}
        self.writes: list[int] = []
        self.closed = 0
        self.output: NpyOutput | None = None

    def check_target(self):
        pass

    def create(self, plan, path):
        path.mkdir()
        return NpyOutput(self, plan, path)

    def open(self, plan, path, writable=False):
        if not path.is_dir():
            raise OSError(errno.ENOENT, f"no output at {path}")
        self.output = NpyOutput(self, plan, path)
        return self.output

    def result(self):
        return NpyOutput(self, self.output.plan, self.final)


def test_write_plan(tmp_path):
    layout: BlockLayout = NpyLayout(tmp_path / "o", ("a",))  # the protocol is structural
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
def test_writer_hands_every_block_once_in_order(tmp_path, block):
    store, toy = _store(chunks=(3, 4))
    layout = NpyLayout(tmp_path / "out", ("a", "b"))
    assert BlockWriter(store, layout, block=block, progress=False).run() == tmp_path / "out"
    res = layout.result()
    full = toy.full()
    assert np.array_equal(res.array("a"), full["a"]) and np.array_equal(res.array("b"), full["b"])
    assert layout.writes == list(range(res.plan.n_blocks)) and (tmp_path / "out" / "complete").exists()
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no partial, journal or lock left
    assert toy.counts.max() == 1 and toy.counts.min() == 1  # cache bypassed, each cell once
    if block is not None:
        assert res.plan.width == min(block, 23) and res.plan.chunks[1] <= block


def test_writer_refuses_bad_options(tmp_path):
    store, _ = _store()
    with pytest.raises(ValueError, match="floating"):
        BlockWriter(store, NpyLayout(tmp_path / "o", ("a",)), dtype=np.int32)
    with pytest.raises(ValueError, match="positive"):
        BlockWriter(store, NpyLayout(tmp_path / "o", ("a",)), block=0)
    with pytest.raises(ValueError, match="unique"):
        BlockWriter(store, NpyLayout(tmp_path / "o", ("a", "a")))
    with pytest.raises(KeyError):
        BlockWriter(store, NpyLayout(tmp_path / "o", ("c",)))


def _interrupt(tmp_path, n_cols=12, summary=False):
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :n_cols] = True
    store, _ = _store(allowed=allowed, threads=1)
    first = NpyLayout(tmp_path / "out", ("a", "b"))
    with pytest.raises(RefusedError) as info:
        BlockWriter(store, first, block=5, summary=summary, progress=False).run()
    assert any("saved in" in n for n in getattr(info.value, "__notes__", [])) and first.closed >= 1
    return first


def test_resume_computes_only_missing_blocks_and_summaries_match(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "progress", True)
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    first = _interrupt(tmp_path, summary=True)
    assert first.writes == [0, 1]  # blocks of 5: [0,5) and [5,10) finished
    assert Journal.read(tmp_path / "out.journal").blocks.keys() == {0, 1}
    store2, toy2 = _store()
    second = NpyLayout(tmp_path / "out", ("a", "b"))
    BlockWriter(store2, second, block=5, summary=True, progress=True).run()
    assert "resuming out: 2 of 5 blocks already saved" in capsys.readouterr().err
    assert toy2.counts[:, :10].sum() == 0 and toy2.counts[:, 10:].min() == 1
    assert second.writes == [0, 1, 2, 3, 4]  # 0 and 1 copied (verified) into a fresh partial
    full = toy2.full()
    res = second.result()
    summary = res.summary()
    for n in ("a", "b"):
        assert np.array_equal(res.array(n), full[n])
        s = summary[n]
        np.testing.assert_allclose(s["mean"], full[n].mean(axis=1), rtol=1e-13)
        np.testing.assert_allclose(s["std"], full[n].std(axis=1), rtol=1e-12)
        assert np.array_equal(s["min"], full[n].min(axis=1)) and np.array_equal(s["max"], full[n].max(axis=1))
    for width in (5, 7, 23):  # the summaries' bits do not depend on the blocks
        ref = NpyLayout(tmp_path / f"ref{width}", ("a", "b"))
        BlockWriter(_store()[0], ref, block=width, summary=True, progress=False).run()
        for n in ("a", "b"):
            for moment in ("mean", "std", "min", "max"):
                assert np.array_equal(ref.result().summary()[n][moment], summary[n][moment])


def test_resume_verifies_blocks_and_recomputes_damaged_ones(tmp_path):
    _interrupt(tmp_path, n_cols=17)  # blocks 0, 1, 2 saved
    part = tmp_path / "out.partial"
    damaged = np.load(part / "1.a.npy")
    damaged[0, 0] += 1
    np.save(part / "1.a.npy", damaged)  # a block whose content is not what was recorded
    (part / "2.b.npy").write_bytes(b"torn")  # a block that cannot be read
    store2, toy2 = _store()
    second = NpyLayout(tmp_path / "out", ("a", "b"))
    with pytest.warns(RuntimeWarning, match="2 of the 3 finished blocks .* did not read back"):
        BlockWriter(store2, second, block=5, progress=False).run()
    assert toy2.counts[:, :5].sum() == 0 and toy2.counts[:, 5:].min() == 1
    assert np.array_equal(second.result().array("a"), toy2.full()["a"])


def test_torn_journal_line_and_missing_journal(tmp_path):
    _interrupt(tmp_path, n_cols=17)
    journal = tmp_path / "out.journal"
    journal.write_bytes(journal.read_bytes()[:-7])  # the last line torn by a kill
    store2, toy2 = _store()
    BlockWriter(store2, NpyLayout(tmp_path / "out", ("a", "b")), block=5, progress=False).run()
    assert toy2.counts[:, :10].sum() == 0 and toy2.counts[:, 10:].min() == 1
    # a partial without its journal holds nothing trusted: starting over, said clearly
    (tmp_path / "x").mkdir()
    _interrupt(tmp_path / "x", n_cols=17)
    (tmp_path / "x" / "out.journal").unlink()
    store3, toy3 = _store()
    with pytest.warns(RuntimeWarning, match="no journal of finished blocks.*Starting over"):
        BlockWriter(store3, NpyLayout(tmp_path / "x" / "out", ("a", "b")), block=5, progress=False).run()
    assert toy3.counts.min() == 1


def test_resume_refuses_other_inputs_options_or_blocks(tmp_path):
    _interrupt(tmp_path, summary=True)
    store, toy = _store()
    with pytest.raises(ResumeMismatchError, match=r"different inputs \(differences: inputs\).*resume=False"):
        BlockWriter(store, NpyLayout(tmp_path / "out", ("a", "b"), fingerprint="other"), block=5).run()
    with pytest.raises(ResumeMismatchError, match="other output options.*compression"):
        BlockWriter(store, NpyLayout(tmp_path / "out", ("a", "b"), options={"compression": 1}), block=5).run()
    with pytest.raises(ResumeMismatchError, match="other output options.*block"):
        BlockWriter(store, NpyLayout(tmp_path / "out", ("a", "b")), block=4, summary=True).run()
    assert toy.ncells == 0
    # block=None adopts the interrupted run's blocks
    BlockWriter(store, NpyLayout(tmp_path / "out", ("a", "b")), summary=True, progress=False).run()
    assert toy.counts[:, :10].sum() == 0
    _interrupt(tmp_path)
    BlockWriter(_store()[0], NpyLayout(tmp_path / "out2", ("a", "b"), resume=False), block=4).run()


def test_failed_write_names_the_partial_and_keeps_blocks(tmp_path):
    store, _ = _store()
    layout = NpyLayout(tmp_path / "out", ("a", "b"), fail_at=2)
    with pytest.raises(OSError, match=r"block 3 of 5 .*No space left on device. 2 of 5 column blocks are "
                                      r"saved in .*out.partial.*resume") as info:
        BlockWriter(store, layout, block=5, progress=False).run()
    assert info.value.errno == errno.ENOSPC and layout.closed >= 1
    assert Journal.read(tmp_path / "out.journal").blocks.keys() == {0, 1}
    assert sorted(os.listdir(tmp_path)) == ["out.journal", "out.partial"]  # the lock is released


def test_a_second_writer_is_refused(tmp_path):
    lock = WriteLock(tmp_path / "out.lock", tmp_path / "out").acquire()
    try:
        with pytest.raises(WriterBusyError, match=f"being written by another process \\(pid {os.getpid()}"):
            BlockWriter(_store()[0], NpyLayout(tmp_path / "out", ("a",)), progress=False).run()
    finally:
        lock.release()
    (tmp_path / "out.lock").write_text("12345\n")  # left by a killed writer: not locked
    BlockWriter(_store()[0], NpyLayout(tmp_path / "out", ("a",)), progress=False).run()
    assert not (tmp_path / "out.lock").exists()


def test_blocks_sized_by_time(tmp_path, monkeypatch):
    store, toy = _store((4, 400), chunks=(4, 10), threads=1, delay=0.02)  # 20 ms per store chunk: ~50 columns
    monkeypatch.setattr(sinks, "block_seconds", 0.1)
    layout = NpyLayout(tmp_path / "out", ("a",))
    writer = BlockWriter(store, layout, progress=False)
    writer.run()
    assert 10 <= writer.plan.width < 400 and writer.plan.width % writer.plan.chunks[1] == 0
    assert np.array_equal(layout.result().array("a"), toy.full()["a"])
    assert toy.counts.min() == 1 and toy.counts.max() == 1  # the timed first chunk is not computed twice


def test_writer_tolerates_unaligned_store_chunks(tmp_path):
    # store chunks (2, 3) vs write blocks of 7 columns: tasks split inside blocks and rows
    store, toy = _store((5, 20), chunks=(2, 3), threads=2)
    layout = NpyLayout(tmp_path / "out", ("a",))
    BlockWriter(store, layout, block=7, progress=False).run()
    assert np.array_equal(layout.result().array("a"), toy.full()["a"])
    assert toy.counts.min() == 1 and toy.counts.max() == 1


def test_progress_bar_counts_saved_samples(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "progress", True)
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    store, _ = _store()
    BlockWriter(store, NpyLayout(tmp_path / "out", ("a",)), block=5, progress=True).run()
    err = capsys.readouterr().err
    assert "writing out" in err and "23/23" in err and "5/5 blocks saved" in err
