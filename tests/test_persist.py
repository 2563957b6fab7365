"""A full pass is paid once: act.persist(path), the scratch disk tier, reductions sharing a pass."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import lazyact
from lazyact.array import BlockStore, config
from lazyact.demo import example_path
from lazyact.results.tier import FileTier, ScratchTier

N_RAND = 30


def _sc():
    """A small single-cell activity with several column blocks (400 cells, chunks of 64)."""
    from conftest import DATA

    return lazyact.activity(DATA / "sc_synth_cytosig.h5ad", "CytoSig", preprocess="scrnaseq", n_rand=N_RAND,
                            chunks=(64, 64))


@pytest.fixture(scope="module")
def reference():
    act = _sc()
    return {"z": act.zscore[:, :], "p": act.pvalue[:, :], "top": act.top(3), "q": act.qvalue()[:, :]}


@pytest.mark.parametrize("name", ["act.h5", "act.h5ad", "act.zarr"])
def test_persist_then_every_analysis_reads_the_file(tmp_path, reference, name):
    act = _sc()
    assert "0% computed" in repr(act)
    path = act.persist(tmp_path / name, progress=False)
    assert isinstance(act.store.tier, FileTier) and act.persisted == path
    assert f"100% computed, persisted to '{path}'" in repr(act)
    act.store.clear_cache()
    act.store.stats.reset()
    # reductions, rankings, q-values, slices: all from the file, nothing computed
    zmax = act.zscore.max(axis=1)
    top = act.top(3)
    q = act.qvalue()[:, :]
    both = act.reduce({"zscore": ["max", "mean"], "pvalue": "min"})
    assert act.store.stats.calls == 0 and act.store.stats.cells == 0
    assert act.store.stats.stored_cells > 0
    assert np.array_equal(zmax, reference["z"].max(axis=1))  # the same bits as computing them
    assert np.array_equal(both["zscore", "mean"].to_numpy(), act.zscore.mean(axis=1))
    pd.testing.assert_frame_equal(top, reference["top"])
    assert np.array_equal(q, reference["q"])
    assert np.array_equal(act.pvalue[:, 5:9], reference["p"][:, 5:9])
    # the written file carries the input's obs, and lazyact info lists its columns
    assert lazyact.open(path).obs["cell_type"].tolist() == act.obs["cell_type"].tolist()
    from lazyact.results.info import file_info

    assert "cell_type" in [c for c, _ in file_info(path)["obs"]]


def test_persist_again_attaches_and_refuses_other_results(tmp_path):
    first = _sc()
    path = first.persist(tmp_path / "act.h5", progress=False)
    second = _sc()  # a new session: the same inputs and parameters
    second.persist(path, progress=False)
    assert second.store.stats.calls == 0  # attached, nothing computed
    second.zscore.max(axis=1)
    assert second.store.stats.calls == 0
    other = lazyact.activity(example_path(), "CytoSig", n_rand=N_RAND)
    with pytest.raises(FileExistsError, match="holds other results.*overwrite=True"):
        other.persist(path)
    other.persist(path, overwrite=True, progress=False)  # the advice runs
    assert lazyact.open(path).shape == other.shape
    h5ad = other.persist(tmp_path / "act.h5ad", progress=False)
    assert lazyact.open(h5ad).format == "lazyact h5ad"


def test_scratch_tier_keeps_full_passes(reference, caplog):
    act = _sc()
    assert isinstance(act.store.tier, ScratchTier)
    with caplog.at_level(logging.INFO, logger="lazyact"):
        zmax = act.zscore.max(axis=1)  # a full pass: computes, and keeps the blocks on disk
    assert any("keeping the blocks of full passes" in r.getMessage() for r in caplog.records)
    n_blocks = act.store.grid[1]
    assert act.store.stats.stored_blocks == n_blocks and "100% computed" in repr(act)
    act.store.stats.reset()
    top = act.top(3)
    p_mean = act.pvalue.mean(axis=1)
    assert act.store.stats.calls == 0 and act.store.stats.stored_cells == 2 * act.shape[0] * act.shape[1]
    assert np.array_equal(zmax, reference["z"].max(axis=1))
    np.testing.assert_allclose(p_mean, reference["p"].mean(axis=1), rtol=1e-14)  # streaming vs pairwise sums
    pd.testing.assert_frame_equal(top, reference["top"])
    folder = act.store.tier.location
    act.store.tier.close()
    import os

    assert not os.path.exists(folder)


def test_scratch_tier_off_and_over_budget(monkeypatch):
    monkeypatch.setattr(config, "tier_bytes", 0)
    assert _sc().store.tier is None
    monkeypatch.setattr(config, "tier_bytes", 1000)  # smaller than the results
    assert _sc().store.tier is None


def test_several_reductions_share_one_pass():
    act = _sc()
    act.store.tier = None
    res = act.reduce({"zscore": ["max", "std"], "pvalue": ["min", "mean"]}, axis=1)
    assert act.store.stats.calls == act.store.grid[1]  # each column block computed once
    assert np.array_equal(res["zscore", "std"].to_numpy(), act.zscore.std(axis=1))
    per_sample = act.reduce({"zscore": "max"}, axis=0)
    assert per_sample.index.equals(act.samples)
    assert np.array_equal(act.reduce({"zscore": "max"}, axis=None)["zscore", "max"], act.zscore.max())
    with pytest.raises(ValueError, match="cannot share a pass"):
        act.reduce({"zscore": ["max", "nanmax"]})


def test_tier_of_a_generic_store_reads_what_it_holds(tmp_path):
    class Grid:
        names, shape, dtype = ("x", "y"), (3, 10), np.dtype("f8")

        def __call__(self, rows, cols):
            x = rows[:, None] * 100.0 + cols[None, :]
            return {"x": x, "y": -x}

    full = Grid()(np.arange(3), np.arange(10))["x"]
    store = BlockStore(Grid(), chunks=(3, 4), cache_bytes=0,
                       tier=ScratchTier(("x", "y"), (3, 10), 4, directory=str(tmp_path)))
    store.read(None, slice(0, 6))  # columns 0-3 are a full block: kept; 4-5 are not
    assert store.tier.done().tolist() == [True, False, False] and store.stats.stored_blocks == 1
    store.stats.reset()
    got = store.read(np.array([0, 2]), np.array([1, 3, 5]))  # 1 and 3 from disk, 5 computed
    assert np.array_equal(got["x"], full[np.ix_([0, 2], [1, 3, 5])])
    assert store.stats.stored_cells == 4 and store.stats.cells == 2


def test_a_full_disk_stops_the_tier_and_nothing_is_lost(tmp_path):
    """A real write failure (RLIMIT_FSIZE, a process-wide file size limit): the tier stops, values stay right."""
    script = textwrap.dedent(f"""
        import logging, resource, signal, sys
        import numpy as np
        import lazyact
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
        from lazyact.array import config
        config.tier_dir = {str(tmp_path)!r}
        act = lazyact.activity({str(example_path())!r}, "CytoSig", n_rand=20, chunks=(43, 1))
        truth = act.zscore[:, :]  # columns 0-4 computed, each a full-height block kept on disk
        act.store.tier.close()
        act.store.tier = type(act.store.tier)(act.store.names, act.store.shape, 1)
        act.store.clear_cache()
        _ = act.zscore[:, :2]  # blocks 0 and 1 kept
        resource.setrlimit(resource.RLIMIT_FSIZE, (500, resource.RLIM_INFINITY))  # no block file fits now
        first = act.zscore.max(axis=1)
        act.store.clear_cache()
        act.store.stats.reset()
        second = act.zscore.min(axis=1)
        print("kept", act.store.tier.done().sum(), "of", act.store.grid[1], "read", act.store.stats.stored_cells)
        assert np.array_equal(first, truth.max(axis=1)) and np.array_equal(second, truth.min(axis=1))
        print("values ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "stopped keeping full passes on disk" in out.stdout and "values ok" in out.stdout
    assert "kept 2 of 5 read 86" in out.stdout, out.stdout  # the blocks kept are still read
