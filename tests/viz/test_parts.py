"""Contrast limits, the background prefetcher and input resolution (no rendering needed)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import lazyact
from lazyact.viz._source import Cancelled, canonical_view, resolve
from lazyact.viz.limits import contrast_limits, limits_from_sample, limits_from_summary
from lazyact.viz.prefetch import Prefetcher
from lazyact.viz.viewer import default_window

from .helpers import N_PROTEINS, N_RAND, N_SAMPLES, PROTEINS, computed_mask

H5AD = Path(__file__).resolve().parents[1] / "data" / "sc_synth_cytosig.h5ad"


# --------------------------------------------------------------------------- limits
def test_fixed_limits_and_user_override():
    assert contrast_limits("zscore") == (-3.0, 3.0)
    assert contrast_limits("zscore", zlim=5) == (-5.0, 5.0)
    assert contrast_limits("pvalue") == (0.0, 1.0)
    assert contrast_limits("-log10p", n_rand=N_RAND) == pytest.approx((0.0, np.log10(N_RAND + 1)))
    assert contrast_limits("zscore", (-2, 4)) == (-2.0, 4.0)
    assert contrast_limits("beta", {"zscore": (-1, 1)}, sample=np.array([-0.2, 0.1])) == pytest.approx((-0.2, 0.2), rel=0.02)
    with pytest.raises(ValueError):
        contrast_limits("zscore", (1, 1))
    with pytest.raises(ValueError):
        contrast_limits("zscore", (0, np.inf))


def test_limits_from_stored_summaries_then_sample(act):
    summary = act.summary(progress=False)  # stored per-protein moments
    lo, hi = limits_from_summary("beta", summary)
    beta = act.beta[:, :]
    assert lo == -hi and abs(beta).mean() < hi <= abs(beta).max()
    lo, hi = limits_from_summary("se", summary)
    assert 0 <= lo < act.se[:, :].mean() < hi
    assert limits_from_summary("zscore", summary) is None  # z has fixed limits
    assert limits_from_summary("beta", None) is None
    # sample: robust percentiles, symmetric for signed views, NaN ignored
    lo, hi = limits_from_sample("beta", np.array([np.nan, -4.0, 1.0, 2.0]), q=100)
    assert (lo, hi) == (-4.0, 4.0)
    lo, hi = limits_from_sample("se", np.zeros(3))  # constant values: still a usable range
    assert lo < hi
    assert limits_from_sample("beta", np.array([np.nan])) == (-1.0, 1.0)


def test_summary_limits_are_used_without_computing(act):
    act.summary(progress=False)
    act.store.clear_cache()
    act.store.stats.reset()
    src = resolve(act)
    assert src.summary is act.summary_stats
    lim = contrast_limits("beta", summary=src.summary)
    assert lim == limits_from_summary("beta", act.summary_stats)
    assert act.store.stats.cells == 0


# --------------------------------------------------------------------------- prefetcher
def test_prefetcher_runs_in_order_and_keeps_results():
    pf = Prefetcher(keep=2)
    order = []

    def job(cancelled, x):
        order.append(x)
        return x * 10

    futs = [pf.submit(k, job, k) for k in range(4)]
    assert [f.result() for f in futs] == [0, 10, 20, 30]
    assert order == [0, 1, 2, 3]  # one worker, first come first served
    assert pf.done(3) and pf.submit(3, job, 3) is futs[3]  # a kept result is not recomputed
    assert not pf.done(0)  # only the last `keep` results are kept
    assert pf.submitted == 4
    pf.close()
    with pytest.raises(RuntimeError):
        pf.submit(9, job, 9)


def test_prefetcher_cancels_queued_and_running_jobs():
    pf = Prefetcher()
    started, release = threading.Event(), threading.Event()
    pieces = []

    def slow(cancelled, n):
        started.set()
        for i in range(n):
            release.wait()
            if cancelled():
                raise Cancelled()
            pieces.append(i)
        return "finished"

    running = pf.submit("a", slow, 3)
    queued = pf.submit("b", slow, 3)
    started.wait()
    assert pf.cancel(keep={"c"}) == 2
    release.set()
    pf.wait()
    assert queued.cancelled()
    with pytest.raises(Cancelled):
        running.result()
    assert pieces == []  # the running job stopped at its first check
    assert pf.get("a") is None and pf.get("b") is None
    assert pf.submit("a", lambda c: "again").result() == "again"
    pf.close()


def test_window_reads_stop_between_chunks_when_cancelled():
    act = lazyact.LazyActivity(
        lazyact.ridge.projection(np.random.default_rng(0).standard_normal((50, 3)), lambda_=10.0),
        10, np.random.default_rng(1).standard_normal((50, 1000)), chunks=(3, 100), threads=1,
    )
    src = resolve(act)
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3  # allow three pieces

    with pytest.raises(Cancelled):
        src.read("zscore", None, 50, 950, cancelled)
    mask = computed_mask(act)
    # pieces are aligned to the column chunks: 50-99, 100-199, 200-299 were read
    assert mask[:, 50:300].all() and not mask[:, 300:].any() and not mask[:, :50].any()


# --------------------------------------------------------------------------- resolution
def test_resolve_activity_view_mapping_array(act):
    src = resolve(act)
    assert src.views == ("beta", "se", "zscore", "pvalue", "-log10p")
    assert list(src.proteins) == PROTEINS and src.shape == (N_PROTEINS, N_SAMPLES)
    assert src.spatial.shape == (N_SAMPLES, 2) and src.n_rand == N_RAND
    one = resolve(act.pvalue)  # a single view brings its siblings (same block store)
    assert one.views[:4] == ("beta", "se", "zscore", "pvalue") and one.store is act.store
    assert one.spatial is None
    assert one.default_view() == "pvalue" and src.default_view() == "zscore"
    assert resolve(act, spatial=False).spatial is None
    arr = np.arange(12.0).reshape(3, 4)
    plain = resolve(arr)
    assert plain.views == ("values",) and plain.read("values", np.array([2, 0]), 1, 3).tolist() == [[9, 10], [1, 2]]
    mp = resolve({"z": arr, "p": (arr + 1) / 20})
    assert mp.views == ("zscore", "pvalue", "-log10p")
    np.testing.assert_allclose(mp.read("-log10p", None, 0, 4), -np.log10((arr + 1) / 20), rtol=1e-6)
    with pytest.raises(ValueError, match="spatial"):
        resolve(arr, spatial=np.zeros((5, 2)))
    with pytest.raises(TypeError):
        resolve(np.zeros(3))
    assert act.store.stats.cells == 0  # resolving computes nothing


def test_resolve_rows_and_names(act):
    src = resolve(act)
    assert src.row_positions(["P8", 2, "P0"]).tolist() == [8, 2, 0]
    assert src.row_positions(slice(None, None, 4)).tolist() == [0, 4, 8]
    mask = np.zeros(N_PROTEINS, bool)
    mask[[1, 5]] = True
    assert src.row_positions(mask).tolist() == [1, 5]
    with pytest.raises(KeyError, match="unknown protein"):
        src.row_positions(["IL6"])
    with pytest.raises(IndexError):
        src.row_of(99)
    with pytest.raises(ValueError, match="unknown view"):
        src.check_view("tvalue")
    assert canonical_view("logp") == "-log10p"
    # unsorted, repeated rows come back in the asked order; only those rows computed
    got = src.read("zscore", np.array([5, 1, 5]), 10, 20)
    np.testing.assert_allclose(got, act.zscore[[5, 1, 5], 10:20], rtol=1e-6)
    assert computed_mask(act).sum() == 2 * 10


def test_spatial_found_in_h5ad_obsm():
    pytest.importorskip("h5py")
    if not H5AD.exists():
        pytest.skip("test .h5ad not available")
    act = lazyact.activity(str(H5AD), "CytoSig", n_rand=5, preprocess="scrnaseq")
    src = resolve(act)
    assert src.spatial is not None and src.spatial.shape == (act.shape[1], 2)
    assert resolve(act, spatial=False).spatial is None
    assert resolve(act.zscore, spatial=str(H5AD)).spatial.shape == (act.shape[1], 2)


def test_default_window():
    assert default_window(43, 20_000) == 512
    assert default_window(1170, 2_000_000) == 56
    assert default_window(5, 10) == 10
    assert default_window(100_000, 1000) == 16
