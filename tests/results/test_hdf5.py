"""The HDF5 results format: write_hdf5 block by block, resume, refusals, full disk, kill -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from array_toys import RefusedError

import lazyact
from lazyact.results import ResumeMismatchError, file_info, partial_path, write_hdf5
from lazyact.array.journal import Journal
from lazyact.results.hdf5 import DONE_KEY

from .helpers import assert_same_file, toy_store


@pytest.mark.parametrize("block", [None, 1, 5, 8, 100])
def test_write_hdf5_equals_numpy(tmp_path, block):
    store, toy = toy_store(chunks=(3, 4))
    out = tmp_path / "x.h5"
    res = write_hdf5(store, out, row_labels=[f"r{i}" for i in range(7)], col_labels=range(23), block=block,
                     progress=False, attrs={"answer": 42, "pi": 3.5, "name": "toy", "nested": {"a": [1, 2]}})
    assert res == out and out.exists() and not partial_path(out).exists()
    full = toy.full()
    assert toy.counts.max() == 1 and toy.counts.min() == 1  # cache bypassed, each cell once
    with h5py.File(out) as f:
        assert np.array_equal(f["a"][()], full["a"]) and np.array_equal(f["b"][()], full["b"])
        assert f["feature_names"].asstr()[()].tolist() == [f"r{i}" for i in range(7)]
        assert f["sample_names"].asstr()[()].tolist() == [str(j) for j in range(23)]
        assert h5py.check_string_dtype(f["feature_names"].dtype).encoding == "utf-8"
        assert f.attrs["answer"] == 42 and f.attrs["pi"] == 3.5 and f.attrs["name"] == "toy"
        assert f.attrs["nested"] == '{"a": [1, 2]}'
        assert bool(f.attrs["lazyact_complete"]) and DONE_KEY not in f
        assert f["a"].compression == "gzip" and f["a"].chunks is not None
        if block is not None:
            assert f["a"].chunks[1] <= block


def test_write_hdf5_subset_dtype_and_summary(tmp_path):
    store, toy = toy_store(shape=(6, 30), chunks=(4, 7), nan=False)
    out = write_hdf5(store, tmp_path / "s.h5", "b", dtype=np.float32, block=9, summary=True, progress=False,
                     compression=None)
    b = toy.full()["b"].astype(np.float32)
    with h5py.File(out) as f:
        assert "a" not in f and f["b"].dtype == np.float32 and f["b"].compression is None
        assert np.array_equal(f["b"][()], b)
        s = f["summary/b"]
        np.testing.assert_allclose(s["mean"][()], b.astype(np.float64).mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(s["std"][()], b.astype(np.float64).std(axis=1), rtol=1e-10)
        assert np.array_equal(s["min"][()], b.min(axis=1)) and np.array_equal(s["max"][()], b.max(axis=1))


def test_write_hdf5_empty(tmp_path):
    store, _ = toy_store(shape=(3, 0), chunks=(3, 1))
    out = write_hdf5(store, tmp_path / "e.h5", progress=False)
    with h5py.File(out) as f:
        assert f["a"].shape == (3, 0) and f["sample_names"].shape == (0,)


def _interrupted(tmp_path, allowed_cols, **kw):
    """Write until the toy refuses a column, leave the .partial behind."""
    shape = (7, 23)
    allowed = np.zeros(shape, dtype=bool)
    allowed[:, :allowed_cols] = True
    store, toy = toy_store(shape, allowed=allowed, threads=1)
    out = tmp_path / "r.h5"
    with pytest.raises(RefusedError):
        write_hdf5(store, out, block=5, progress=False, fingerprint="fp1", **kw)
    return out


def test_resume_computes_only_missing_blocks(tmp_path):
    out = _interrupted(tmp_path, 12)  # blocks of 5: [0,5) and [5,10) finish
    part = partial_path(out)
    assert part.exists() and not out.exists()
    with h5py.File(part) as f:
        assert DONE_KEY not in f and not f.attrs["lazyact_complete"]  # the journal says what is done
    assert Journal.read(tmp_path / "r.h5.journal").blocks.keys() == {0, 1}
    assert file_info(out)["blocks_done"] == 2
    store, toy = toy_store((7, 23), threads=2)
    write_hdf5(store, out, block=5, progress=False, fingerprint="fp1")
    assert toy.counts[:, :10].sum() == 0 and toy.counts[:, 10:].min() == 1
    assert not part.exists()
    ref_store, _ = toy_store((7, 23))
    write_hdf5(ref_store, tmp_path / "ref.h5", block=5, progress=False, fingerprint="fp1")
    assert_same_file(out, tmp_path / "ref.h5")


def test_resume_with_summary_equals_uninterrupted(tmp_path):
    out = _interrupted(tmp_path, 17, summary=True)
    store, _ = toy_store((7, 23))
    write_hdf5(store, out, block=5, progress=False, fingerprint="fp1", summary=True)
    ref_store, _ = toy_store((7, 23))
    write_hdf5(ref_store, tmp_path / "ref.h5", block=5, progress=False, fingerprint="fp1", summary=True)
    assert_same_file(out, tmp_path / "ref.h5")


def test_resume_refuses_other_inputs_or_layout(tmp_path):
    out = _interrupted(tmp_path, 6, fingerprint_parts={"T": "x", "seed": 0})
    store, toy = toy_store((7, 23))
    with pytest.raises(ResumeMismatchError, match=r"different inputs \(differences: seed\).*resume=False"):
        write_hdf5(store, out, block=5, progress=False, fingerprint="fp2", fingerprint_parts={"T": "x", "seed": 1})
    with pytest.raises(ResumeMismatchError, match="block"):
        write_hdf5(store, out, block=4, progress=False, fingerprint="fp1")
    assert toy.ncells == 0 and partial_path(out).exists()
    write_hdf5(store, out, block=4, progress=False, fingerprint="fp2", resume=False)  # starts over
    assert toy.counts.min() == 1 and out.exists() and not partial_path(out).exists()


def test_damaged_partial_starts_over(tmp_path):
    out = tmp_path / "d.h5"
    partial_path(out).write_bytes(b"not hdf5 at all" * 10)
    store, _ = toy_store()
    with pytest.warns(RuntimeWarning, match="Starting over"):
        write_hdf5(store, out, progress=False)
    assert out.exists()


def test_existing_file_needs_overwrite_and_survives_failure(tmp_path):
    out = tmp_path / "o.h5"
    out.write_bytes(b"precious")
    store, _ = toy_store()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_hdf5(store, out, progress=False)
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :9] = True
    bad, _ = toy_store(allowed=allowed)
    with pytest.raises(RefusedError):
        write_hdf5(bad, out, progress=False, overwrite=True, block=4)
    assert out.read_bytes() == b"precious"  # replaced only when complete
    write_hdf5(store, out, progress=False, overwrite=True, block=4)
    assert h5py.is_hdf5(out)


def test_block_writer_tolerates_unaligned_store_chunks(tmp_path):
    # store chunks (2, 3) vs write blocks of 7 columns: tasks split inside blocks and rows
    store, toy = toy_store((5, 20), chunks=(2, 3), threads=2)
    out = write_hdf5(store, tmp_path / "u.h5", block=7, progress=False)
    with h5py.File(out) as f:
        assert np.array_equal(f["a"][()], toy.full()["a"])
    assert toy.counts.min() == 1 and toy.counts.max() == 1


def test_progress_bar_shows_samples(tmp_path, capsys, monkeypatch):
    from lazyact.array import config

    monkeypatch.setattr(config, "progress", True)
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    store, _ = toy_store()
    write_hdf5(store, tmp_path / "p.h5", block=5, progress=True)
    err = capsys.readouterr().err
    assert "writing p.h5" in err and "23/23" in err


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import lazyact
    from lazyact.activity import LazyActivity

    T, Y, out = np.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]

    class Slow:
        '''The expression, slowly: announces every block of columns it is asked for.'''
        def __init__(self, Y):
            self.Y, self.shape = Y, Y.shape
        def block(self, cols):
            print(f"cols {int(cols[0])} {cols.size}", flush=True)
            time.sleep(0.25)
            return np.ascontiguousarray(self.Y[:, cols])

    act = LazyActivity(T, 30, Slow(Y), threads=1, chunks=(T.shape[0], 8))
    act.to_hdf5(out, block=8, progress=False)
    print("finished", flush=True)
""")


class Counting:
    """The same expression, fast, counting the columns it serves."""

    def __init__(self, Y):
        self.Y, self.shape, self.calls = Y, Y.shape, []

    def block(self, cols):
        self.calls.append(cols.tolist())
        return np.ascontiguousarray(self.Y[:, cols])


def test_kill_9_then_resume_gives_identical_file(tmp_path):
    rng = np.random.default_rng(7)
    T, Y = rng.standard_normal((12, 300)), rng.standard_normal((300, 96))  # 12 blocks of 8 samples
    np.save(tmp_path / "T.npy", T)
    np.save(tmp_path / "Y.npy", Y)
    (tmp_path / "writer.py").write_text(WRITER)
    out = tmp_path / "killed.h5"
    # another BLAS setting than this process (the writer computes with one BLAS thread anyway)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2")
    proc = subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(tmp_path / "T.npy"),
                             str(tmp_path / "Y.npy"), str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        while True:  # wait until block 5 (columns 40..47) is being computed: 5 blocks are on disk
            line = proc.stdout.readline()
            assert line, "writer exited early"
            if line.startswith("cols 40 8"):
                break
        live = file_info(out)  # `lazyact info` on a run in progress (the writer holds the file)
        assert not live["complete"] and live["blocks_done"] == 5
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert partial_path(out).exists() and not out.exists()
    info = file_info(out)
    assert not info["complete"] and info["blocks_done"] == 5 and info["n_blocks"] == 12

    # resume in this process: only the 7 missing blocks are computed
    expr = Counting(Y)
    act = lazyact.LazyActivity(T, 30, expr, chunks=(12, 8))
    assert act.to_hdf5(out, block=8, progress=False) == out
    assert not partial_path(out).exists()
    assert expr.calls[0] == list(range(96))  # the fingerprint hashes all the data
    assert sorted(expr.calls[1:]) == [list(range(c, c + 8)) for c in range(40, 96, 8)]  # (in parallel)

    # identical to an uninterrupted run
    ref = lazyact.LazyActivity(T, 30, Counting(Y), chunks=(12, 8)).to_hdf5(tmp_path / "ref.h5", block=8,
                                                                         progress=False)
    assert_same_file(out, ref)
    # and equal to the lazy activity (to rounding: other block shapes sum in another order)
    np.testing.assert_allclose(lazyact.open(out).zscore[:, :], lazyact.LazyActivity(T, 30, Y).zscore[:, :],
                               rtol=0, atol=1e-12)
