"""lazyact.array.sinks: block-wise HDF5 / h5ad writers with resume, read_all, chunk choice."""
from __future__ import annotations

import errno

import anndata
import h5py
import numpy as np
import pytest
from array_toys import RefusedError, Toy

from lazyact.array import BlockStore
from lazyact.array import sinks
from lazyact.array.lazyarray import ArrayTooLargeError
from lazyact.array.sinks import (
    DONE_KEY,
    ResumeMismatchError,
    hdf5_chunks,
    partial_path,
    read_all,
    write_h5ad,
    write_hdf5,
)


def _store(shape=(7, 23), chunks=(3, 4), threads=2, **kw):
    toy = Toy(shape, **kw)
    return BlockStore(toy, chunks=chunks, threads=threads), toy


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
        attrs = dict(f.attrs)
    return out, attrs


def _assert_same_file(a, b):
    da, aa = _datasets(a)
    db, ab = _datasets(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert np.array_equal(da[k], db[k]), k
    assert sorted(aa) == sorted(ab)
    for k in aa:
        assert np.array_equal(np.asarray(aa[k]), np.asarray(ab[k])), k


# --------------------------------------------------------------------------- chunks
@pytest.mark.parametrize("shape", [(43, 200_000), (1170, 2_000_000), (1170, 5), (1, 10), (5000, 3), (43, 1)])
def test_hdf5_chunks_fit_and_balance(shape):
    r, c = hdf5_chunks(shape, 8)
    assert 1 <= r <= shape[0] and 1 <= c <= shape[1]
    assert r * c * 8 <= 2 * sinks.chunk_target_bytes
    if r < shape[0] and c < shape[1]:  # balanced: one row ~ one column block in cells read
        row_cost, col_cost = r * shape[1], shape[0] * c
        assert 0.25 < row_cost / col_cost < 4


def test_hdf5_chunks_respects_max_cols_and_empty():
    assert hdf5_chunks((1170, 2_000_000), max_cols=100)[1] == 100
    assert hdf5_chunks((0, 10)) is None and hdf5_chunks((10, 0)) is None


# --------------------------------------------------------------------------- read_all
def test_read_all_one_pass_and_refuses_big():
    store, toy = _store()
    got = read_all(store)
    full = toy.full()
    assert np.array_equal(got["a"], full["a"]) and np.array_equal(got["b"], full["b"])
    assert toy.counts.max() == 1  # every cell computed once for both outputs
    with pytest.raises(ArrayTooLargeError, match="to_hdf5"):
        read_all(store, max_bytes=100)
    assert read_all(store, "b", max_bytes=100, force=True)["b"].shape == (7, 23)


# --------------------------------------------------------------------------- write_hdf5
@pytest.mark.parametrize("block", [None, 1, 5, 8, 100])
def test_write_hdf5_equals_numpy(tmp_path, block):
    store, toy = _store(chunks=(3, 4))
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
    store, toy = _store(shape=(6, 30), chunks=(4, 7), nan=False)
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
    store, _ = _store(shape=(3, 0), chunks=(3, 1))
    out = write_hdf5(store, tmp_path / "e.h5", progress=False)
    with h5py.File(out) as f:
        assert f["a"].shape == (3, 0) and f["sample_names"].shape == (0,)


# --------------------------------------------------------------------------- resume
def _interrupted(tmp_path, allowed_cols, **kw):
    """Write until the toy refuses a column, leave the .partial behind."""
    shape = (7, 23)
    allowed = np.zeros(shape, dtype=bool)
    allowed[:, :allowed_cols] = True
    store, toy = _store(shape, allowed=allowed, threads=1)
    out = tmp_path / "r.h5"
    with pytest.raises(RefusedError):
        write_hdf5(store, out, block=5, progress=False, fingerprint="fp1", **kw)
    return out


def test_resume_computes_only_missing_blocks(tmp_path):
    out = _interrupted(tmp_path, 12)  # blocks of 5: [0,5) and [5,10) finish
    part = partial_path(out)
    assert part.exists() and not out.exists()
    with h5py.File(part) as f:
        assert f[DONE_KEY][()].tolist() == [1, 1, 0, 0, 0]
        assert not f.attrs["lazyact_complete"]
    store, toy = _store((7, 23), threads=2)
    write_hdf5(store, out, block=5, progress=False, fingerprint="fp1")
    assert toy.counts[:, :10].sum() == 0 and toy.counts[:, 10:].min() == 1
    assert not part.exists()
    ref_store, _ = _store((7, 23))
    write_hdf5(ref_store, tmp_path / "ref.h5", block=5, progress=False, fingerprint="fp1")
    _assert_same_file(out, tmp_path / "ref.h5")


def test_resume_with_summary_equals_uninterrupted(tmp_path):
    out = _interrupted(tmp_path, 17, summary=True)
    store, _ = _store((7, 23))
    write_hdf5(store, out, block=5, progress=False, fingerprint="fp1", summary=True)
    ref_store, _ = _store((7, 23))
    write_hdf5(ref_store, tmp_path / "ref.h5", block=5, progress=False, fingerprint="fp1", summary=True)
    _assert_same_file(out, tmp_path / "ref.h5")


def test_resume_refuses_other_inputs_or_layout(tmp_path):
    out = _interrupted(tmp_path, 6, fingerprint_parts={"T": "x", "seed": 0})
    store, toy = _store((7, 23))
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
    store, _ = _store()
    with pytest.warns(RuntimeWarning, match="Starting over"):
        write_hdf5(store, out, progress=False)
    assert out.exists()


# --------------------------------------------------------------------------- bad output
def test_existing_file_needs_overwrite_and_survives_failure(tmp_path):
    out = tmp_path / "o.h5"
    out.write_bytes(b"precious")
    store, _ = _store()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_hdf5(store, out, progress=False)
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :9] = True
    bad, _ = _store(allowed=allowed)
    with pytest.raises(RefusedError):
        write_hdf5(bad, out, progress=False, overwrite=True, block=4)
    assert out.read_bytes() == b"precious"  # replaced only when complete
    write_hdf5(store, out, progress=False, overwrite=True, block=4)
    assert h5py.is_hdf5(out)


def test_unwritable_destinations(tmp_path):
    store, toy = _store()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_hdf5(store, tmp_path / "missing" / "x.h5", progress=False)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        write_hdf5(store, tmp_path / "afile" / "x.h5", progress=False)
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError):
        write_hdf5(store, tmp_path / "adir", progress=False)
    assert toy.ncells == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def test_disk_full_keeps_partial_for_resume(tmp_path, monkeypatch):
    store, _ = _store((7, 23))
    out = tmp_path / "full.h5"
    real = h5py.Dataset.__setitem__
    writes = {"n": 0}

    def failing(self, key, value):
        if self.name == "/b":
            writes["n"] += 1
            if writes["n"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        return real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", failing)
    with pytest.raises(OSError, match=r"failed after 2 of 5 column blocks.*No space left.*resume") as info:
        write_hdf5(store, out, block=5, progress=False)
    assert info.value.errno == errno.ENOSPC
    assert not out.exists() and partial_path(out).exists()
    monkeypatch.setattr(h5py.Dataset, "__setitem__", real)
    store2, toy2 = _store((7, 23))
    write_hdf5(store2, out, block=5, progress=False)
    assert toy2.counts[:, :10].sum() == 0
    ref, _ = _store((7, 23))
    write_hdf5(ref, tmp_path / "ref.h5", block=5, progress=False)
    _assert_same_file(out, tmp_path / "ref.h5")


# --------------------------------------------------------------------------- h5ad
def test_write_h5ad_reads_back_with_anndata(tmp_path):
    store, toy = _store((5, 17), chunks=(2, 3))
    out = write_h5ad(store, tmp_path / "t.h5ad", "a", ["b"], obs_names=[f"c{j}" for j in range(17)],
                     var_names=list("PQRST"), uns={"source": "test", "n": 3, "d": {"x": 1.5}, "l": ["u", "v"]},
                     obsm_extra={"spatial": np.arange(34.0).reshape(17, 2)}, block=4, progress=False)
    ad = anndata.read_h5ad(out)
    full = toy.full()
    assert ad.shape == (17, 5)
    assert np.array_equal(ad.X, full["a"].T) and np.array_equal(ad.obsm["b"], full["b"].T)
    assert list(ad.obs_names) == [f"c{j}" for j in range(17)] and list(ad.var_names) == list("PQRST")
    assert ad.uns["source"] == "test" and ad.uns["n"] == 3 and ad.uns["d"]["x"] == 1.5
    assert list(ad.uns["l"]) == ["u", "v"]
    assert ad.obsm["spatial"].shape == (17, 2)
    with h5py.File(out) as f:
        assert DONE_KEY not in f and f["X"].chunks is not None


def test_to_dask_of_store():
    da = pytest.importorskip("dask.array")
    store, toy = _store()
    arr = sinks.to_dask(store, "b", chunks=(4, 5))
    assert isinstance(arr, da.Array) and arr.chunks[0] == (4, 3)
    assert np.array_equal(arr.compute(scheduler="sync"), toy.full()["b"])


def test_block_writer_tolerates_unaligned_store_chunks(tmp_path):
    # store chunks (2, 3) vs write blocks of 7 columns: tasks split inside blocks and rows
    store, toy = _store((5, 20), chunks=(2, 3), threads=2)
    out = write_hdf5(store, tmp_path / "u.h5", block=7, progress=False)
    with h5py.File(out) as f:
        assert np.array_equal(f["a"][()], toy.full()["a"])
    assert toy.counts.min() == 1 and toy.counts.max() == 1


def test_progress_bar_shows_samples(tmp_path, capsys, monkeypatch):
    from lazyact.array import config

    monkeypatch.setattr(config, "progress", True)
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    store, _ = _store()
    write_hdf5(store, tmp_path / "p.h5", block=5, progress=True)
    err = capsys.readouterr().err
    assert "writing p.h5" in err and "23/23" in err
