"""to_zarr / write_zarr written here (no cluster): layout as to_hdf5, AnnData's variant, open, info, resume, lock."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from array_toys import RefusedError

import lazyact
from lazyact.cli import main
from lazyact.results import IncompleteFileError, ResumeMismatchError, file_info, partial_path
from lazyact.array.journal import Journal, OutputFiles
from lazyact.array.sinks import Target, WritePlan
from lazyact.results.zarr import ZarrBlockSink, write_zarr

from .helpers import STATS, toy_store

zarr = pytest.importorskip("zarr")


def tree(path: Path) -> dict:
    """Every file of a store (relative path -> bytes)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def assert_same_store(a, b):
    ta, tb = tree(Path(a)), tree(Path(b))
    assert sorted(ta) == sorted(tb)
    assert all(ta[k] == tb[k] for k in ta), [k for k in ta if ta[k] != tb[k]]


def test_layout_and_attributes_as_to_hdf5(tmp_path, ly86):
    h5 = ly86.to_hdf5(tmp_path / "r.h5", block=2, progress=False)
    zs = ly86.to_zarr(tmp_path / "r.zarr", block=2, progress=False, client=False)
    assert not partial_path(zs).exists()
    z = zarr.open_group(zs, mode="r")
    assert sorted(z.keys()) == ["beta", "feature_names", "pvalue", "sample_names", "se", "zscore"]
    with h5py.File(h5) as f:
        for n in STATS:  # the same bits, however stored
            assert z[n].shape == f[n].shape == (43, 5) and np.array_equal(z[n][:], f[n][()]), n
            assert z[n].dtype == np.float64 and np.isnan(z[n].fill_value)
        assert z[STATS[0]].chunks[1] == 2  # a block is whole chunks
        assert list(z["feature_names"][:]) == [s.decode() for s in f["feature_names"][()]] == list(ly86.proteins)
        assert list(z["sample_names"][:]) == list(ly86.samples)
        ha = dict(f.attrs)
    za = dict(z.attrs)
    assert sorted(za) == sorted(set(ha) - {"feature_names", "sample_names"})
    for key in ("lazyact_params", "lazyact_fingerprint", "lazyact_fingerprint_parts", "lazyact_format",
                "lazyact_version", "signature", "n_rand", "lambda_", "rng"):
        assert za[key] == (ha[key].item() if isinstance(ha[key], np.generic) else ha[key]), key
    assert za["lazyact_complete"] is True
    layout = json.loads(za["lazyact_layout"])
    assert layout["format"] == "zarr" and layout["block"] == 2 and layout["chunks"][1] == 2


def test_open_info_and_summary(tmp_path, ly86, capsys):
    out = ly86.to_zarr(tmp_path / "s.zarr", summary=True, progress=False, client=False)
    res = lazyact.open(out)
    assert res.format == "lazyact zarr" and res.shape == (43, 5) and res.params["n_rand"] == 100
    h5 = lazyact.open(ly86.to_hdf5(tmp_path / "s.h5", summary=True, progress=False))
    for n in STATS:
        assert np.array_equal(res[n][:, :], h5[n][:, :])
    assert res.zscore.loc["IL6", "LY86_Treated_Sample2"] == h5.zscore.loc["IL6", "LY86_Treated_Sample2"]
    assert res.summary().equals(h5.summary())
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "lazyact zarr" in text and "complete   yes" in text and "summary" in text and "ZstdCodec" in text


def test_anndata_variant_read_by_anndata_and_open(tmp_path, ly86, ly86_full):
    anndata = pytest.importorskip("anndata")
    out = ly86.to_zarr(tmp_path / "a.zarr", format="anndata", progress=False, client=False)
    a = anndata.read_zarr(out)
    assert a.shape == (5, 43) and list(a.obs_names) == list(ly86.samples) and list(a.var_names) == list(ly86.proteins)
    assert sorted(a.obsm) == ["pvalue", "se", "zscore"] and a.uns["source"] == "lazyact"
    assert np.array_equal(a.X, ly86_full["beta"].T) and np.array_equal(a.obsm["pvalue"], ly86_full["pvalue"].T)
    res = lazyact.open(out)
    assert res.format == "lazyact zarr (AnnData)" and res.params["signature"] == "CytoSig"
    assert np.array_equal(res.zscore[:, :], ly86_full["zscore"])
    with pytest.raises(ValueError, match="summary"):
        ly86.to_zarr(tmp_path / "b.zarr", format="anndata", summary=True, client=False)


def journaled(out) -> list[int]:
    """The blocks the writer's journal records as saved."""
    return sorted(Journal.read(OutputFiles.of(out).journal).blocks)


def _interrupted(tmp_path, allowed_cols, name="r.zarr", **kw):
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :allowed_cols] = True
    store, _ = toy_store(allowed=allowed, threads=1)
    out = tmp_path / name
    with pytest.raises(RefusedError):
        write_zarr(store, out, block=4, progress=False, fingerprint="fp1", client=False, **kw)
    return out


def test_resume_computes_only_missing_blocks_and_equals_uninterrupted(tmp_path):
    out = _interrupted(tmp_path, 10)  # blocks of 4: [0,4) and [4,8) finish
    part = partial_path(out)
    assert part.is_dir() and not out.exists()
    assert journaled(out) == [0, 1]
    with pytest.raises(IncompleteFileError, match="2 of 6 column blocks"):
        lazyact.open(out)
    info = file_info(out)
    assert not info["complete"] and (info["blocks_done"], info["n_blocks"]) == (2, 6)
    store, toy = toy_store(threads=2)
    write_zarr(store, out, block=4, progress=False, fingerprint="fp1", client=False, summary=False)
    assert toy.counts[:, :8].sum() == 0 and toy.counts[:, 8:].min() == 1
    ref, _ = toy_store()
    write_zarr(ref, tmp_path / "ref.zarr", block=4, progress=False, fingerprint="fp1", client=False)
    assert_same_store(out, tmp_path / "ref.zarr")
    z = zarr.open_group(out, mode="r")
    assert "lazyact_run" not in z.attrs and not OutputFiles.of(out).journal.exists()
    assert np.array_equal(z["b"][:], toy.full()["b"])


def test_a_block_is_journaled_only_after_all_its_chunks(tmp_path):
    """A writer dying between the chunks of a block leaves it unjournaled; the rerun writes it again."""
    out = _interrupted(tmp_path, 4)
    part = partial_path(out)
    root = zarr.open_group(part, mode="r")
    plan = WritePlan(names=("a", "b"), shape=(7, 23), dtype=np.dtype("f8"), width=4, n_blocks=6, chunks=(7, 4),
                     summary=False)
    sink = ZarrBlockSink(part, [Target("a", "a"), Target("b", "b")], plan, root.attrs["lazyact_run"])

    class Dies(dict):
        def __getitem__(self, name):
            if name == "b":
                raise KeyboardInterrupt  # the process stops after "a" of block 1 is stored
            return super().__getitem__(name)

    with pytest.raises(KeyboardInterrupt):
        sink(1, Dies(a=np.full((7, 4), 5.0), b=np.zeros((7, 4))))
    root = zarr.open_group(part, mode="r")
    assert journaled(out) == [0] and root["a"][0, 4] == 5.0
    stale = ZarrBlockSink(part, sink.targets, plan, "a-run-started-before")  # a task of an abandoned run
    with pytest.raises(RuntimeError, match="started afresh by another run"):
        stale(2, {"a": np.ones((7, 4)), "b": np.ones((7, 4))})
    assert np.isnan(zarr.open_group(part, mode="r")["a"][0, 8])
    store, _ = toy_store()
    write_zarr(store, out, block=4, progress=False, fingerprint="fp1", client=False)
    assert np.array_equal(zarr.open_group(out, mode="r")["a"][:], store.function.full()["a"])


def test_resume_refuses_other_inputs_or_layout_and_restarts_on_request(tmp_path):
    out = _interrupted(tmp_path, 6, fingerprint_parts={"T": "x", "seed": 0})
    store, toy = toy_store()
    with pytest.raises(ResumeMismatchError, match=r"different inputs \(differences: seed\)"):
        write_zarr(store, out, block=4, progress=False, fingerprint="fp2", fingerprint_parts={"T": "x", "seed": 1},
                   client=False)
    with pytest.raises(ResumeMismatchError, match="block"):
        write_zarr(store, out, block=8, progress=False, fingerprint="fp1", client=False)
    assert toy.counts.sum() == 0 and partial_path(out).exists()
    write_zarr(store, out, block=8, progress=False, fingerprint="fp2", resume=False, client=False)
    assert toy.counts.min() == 1 and out.is_dir() and not partial_path(out).exists()


def test_existing_store_needs_overwrite_and_survives_failure(tmp_path):
    store, _ = toy_store()
    out = write_zarr(store, tmp_path / "o.zarr", progress=False, client=False)
    before = tree(out)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_zarr(store, out, progress=False, client=False)
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :9] = True
    bad, _ = toy_store(allowed=allowed)
    with pytest.raises(RefusedError):
        write_zarr(bad, out, progress=False, overwrite=True, block=4, client=False)
    assert tree(out) == before  # replaced only when complete
    write_zarr(store, out, progress=False, overwrite=True, block=4, fingerprint="new", resume=False, client=False)
    assert zarr.open_group(out, mode="r").attrs["lazyact_fingerprint"] == "new"
    assert not list(tmp_path.glob(".o.zarr*"))
    (tmp_path / "dir.zarr").mkdir()
    with pytest.raises(IsADirectoryError, match="not a zarr store"):
        write_zarr(store, tmp_path / "dir.zarr", progress=False, overwrite=True, client=False)


HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)  # what the writing client holds
print("locked", flush=True)
time.sleep(60)
"""


def test_second_writer_refused_until_the_first_dies(tmp_path):
    out = _interrupted(tmp_path, 6)
    part = partial_path(out)
    store, toy = toy_store()
    lock = OutputFiles.of(out).lock
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for resume in (True, False):  # refused, and --no-resume does not take the store away either
            with pytest.raises(OSError, match="another process") as exc:
                write_zarr(store, out, block=4, progress=False, fingerprint="fp1", resume=resume, client=False)
            assert exc.value.errno == errno.EBUSY
        assert part.is_dir() and toy.counts.sum() == 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    write_zarr(store, out, block=4, progress=False, fingerprint="fp1", client=False)  # the lock died with it
    assert out.is_dir() and toy.counts[:, :4].sum() == 0


def test_zarr_tmp_files_of_a_killed_chunk_write_are_removed(tmp_path):
    out = _interrupted(tmp_path, 6)
    junk = partial_path(out) / "a" / "c" / "0" / f"2.{'0' * 32}.partial"
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"half a chunk")
    store, _ = toy_store()
    write_zarr(store, out, block=4, progress=False, fingerprint="fp1", client=False)
    assert not any(p.name.endswith(".partial") for p in out.rglob("*"))
    assert os.path.isdir(out)


def test_sharded_store_has_one_object_per_block_and_statistic(tmp_path, capsys):
    out = _interrupted(tmp_path, 10, name="s.zarr", shards=True)
    store, _ = toy_store()
    write_zarr(store, out, block=4, progress=False, fingerprint="fp1", client=False, shards=True)
    z = zarr.open_group(out, mode="r")
    assert z["a"].shards == (7, 4) and z["a"].chunks[1] == 4
    assert len([p for p in (out / "a").rglob("*") if p.is_file() and p.name != "zarr.json"]) == 6  # 6 blocks
    plain, _ = toy_store()
    ref = write_zarr(plain, tmp_path / "p.zarr", block=4, progress=False, fingerprint="fp1", client=False)
    for n in ("a", "b"):
        assert np.array_equal(z[n][:], zarr.open_group(ref, mode="r")[n][:])
    assert main(["info", str(out)]) == 1  # toy outputs are not statistics: info refuses clearly
    assert "without activity results" in capsys.readouterr().err


def test_obs_travels_in_both_layouts(tmp_path):
    """The input's obs (cell type...) is stored in the zarr store as in the .h5 / .h5ad files."""
    from conftest import DATA

    anndata = pytest.importorskip("anndata")
    act = lazyact.activity(DATA / "sc_synth_cytosig.h5ad", "CytoSig", preprocess="scrnaseq", n_rand=10)
    cell_type = act.obs["cell_type"].tolist()
    plain = act.to_zarr(tmp_path / "r.zarr", progress=False, client=False)
    ad = act.to_zarr(tmp_path / "a.zarr", format="anndata", progress=False, client=False)
    assert lazyact.open(plain).obs["cell_type"].tolist() == cell_type
    assert lazyact.open(ad).obs["cell_type"].tolist() == cell_type
    back = anndata.read_zarr(ad)
    assert back.obs["cell_type"].tolist() == cell_type and list(back.obs_names) == list(act.samples)
    assert ("cell_type", "categorical, 5 values") in file_info(plain)["obs"]
    assert "cell_type" in dict(file_info(ad)["obs"])
