"""Stored results: act.to_hdf5 / to_h5ad / to_anndata, lazyact.open, resume after kill -9."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lazyact
from lazyact.array.sinks import DONE_KEY, IncompleteFileError, ResumeMismatchError, partial_path
from lazyact.store import NotResultsFileError, StoredActivity, file_info, fingerprint

DATA = Path(__file__).parent / "data"
LY86 = DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"
STORED = DATA / "stored"
STATS = ("beta", "se", "zscore", "pvalue")


@pytest.fixture(scope="module")
def ly86():
    """CytoSig on the real bulk example, n_rand=100 (SecActPy's golden call)."""
    return lazyact.activity(LY86, "CytoSig", n_rand=100)


def one_blas_thread():
    """File writers compute with one BLAS thread (rounding independent of the BLAS setting)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(scope="module")
def ly86_full():
    """The reference values, computed as the writers compute them (fresh, one BLAS thread)."""
    act = lazyact.activity(LY86, "CytoSig", n_rand=100)
    with one_blas_thread():
        return {n: act[n][:, :] for n in STATS}


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, o: out.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset) else None)
        attrs = {k: np.asarray(v) for k, v in f.attrs.items()}
    return out, attrs


def _assert_same_file(a, b):
    da, aa = _datasets(a)
    db, ab = _datasets(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert np.array_equal(da[k], db[k]), k
    assert sorted(aa) == sorted(ab)
    for k in aa:
        nan = aa[k].dtype.kind == "f"
        assert np.array_equal(aa[k], ab[k], equal_nan=nan), k


# --------------------------------------------------------------------------- to_hdf5 / open
def test_to_hdf5_layout_and_roundtrip(tmp_path, ly86, ly86_full):
    out = ly86.to_hdf5(tmp_path / "ly86.h5", progress=False, summary=True)
    assert out == tmp_path / "ly86.h5" and not partial_path(out).exists()
    with h5py.File(out) as f:
        assert {"beta", "se", "zscore", "pvalue", "feature_names", "sample_names", "summary"} <= set(f)
        assert DONE_KEY not in f
        for n in STATS:
            assert f[n].shape == (43, 5) and f[n].dtype == np.float64 and f[n].compression == "gzip"
            assert np.array_equal(f[n][()], ly86_full[n])
        assert f["feature_names"].asstr()[()].tolist() == list(ly86.proteins)
        assert f["sample_names"].asstr()[()].tolist() == list(ly86.samples)
        for key, value in ly86.params.items():  # every parameter is an attribute
            assert key in f.attrs, key
            stored = f.attrs[key]
            assert stored == value or str(stored) == str(value) or bool(stored) == value
        assert f.attrs["lazyact_version"] == lazyact.__version__
        assert f.attrs["lazyact_fingerprint"] == fingerprint(ly86)
    res = lazyact.open(out)
    assert isinstance(res, StoredActivity) and res.shape == (43, 5) and res.format == "lazyact hdf5"
    assert res.params == {k: v for k, v in ly86.params.items()}
    assert list(res.proteins) == list(ly86.proteins) and list(res.samples) == list(ly86.samples)
    for n in STATS:
        assert np.array_equal(res[n][:, :], ly86_full[n])
    # the stored summary is the one-pass summary of the activity
    pd.testing.assert_frame_equal(res.summary_stats, ly86.summary(), check_exact=False, rtol=1e-12)
    assert res.summary() is not res.summary_stats


def test_stored_views_behave_like_numpy(tmp_path, ly86):
    out = ly86.to_hdf5(tmp_path / "v.h5", progress=False, block=2)
    res = lazyact.open(out)
    ly86_full = _datasets(out)[0]  # (blocks of 2 samples round differently from 5 at 1e-15)
    z = ly86_full["zscore"]
    assert np.array_equal(res.zscore[5], z[5]) and np.array_equal(res.zscore[:, -1], z[:, -1])
    assert np.array_equal(res.zscore[[3, 1, 3], ::2], z[[3, 1, 3], ::2])
    assert np.array_equal(res.pvalue[z > 2], ly86_full["pvalue"][z > 2])
    assert res.zscore[0, 0] == z[0, 0] and isinstance(res.zscore[0, 0], np.float64)
    assert np.array_equal(res.zscore.loc["IL6", :], z[list(ly86.proteins).index("IL6")])
    assert np.array_equal(res.se.oindex[[0, 2], [1, 4]], ly86_full["se"][np.ix_([0, 2], [1, 4])])
    assert np.array_equal(res.zscore.max(axis=1), z.max(axis=1))
    np.testing.assert_allclose(np.mean(res.beta, axis=0), ly86_full["beta"].mean(axis=0), rtol=1e-13)
    with pytest.raises(IndexError):
        res.zscore[43]
    with pytest.raises(TypeError, match="slice first"):
        np.abs(res.zscore)
    assert "StoredActivity: 43 proteins x 5 samples" in repr(res) and "n_rand=100" in repr(res)
    res2 = pickle.loads(pickle.dumps(res))
    assert np.array_equal(res2.zscore[:, :], z)
    res.close()
    assert np.array_equal(res.zscore[1], z[1])  # reopened on demand


def test_float32_subset_and_chunks(tmp_path, ly86, ly86_full):
    out = ly86.to_hdf5(tmp_path / "f.h5", arrays=("zscore", "pvalue"), dtype=np.float32, progress=False)
    res = lazyact.open(out)
    assert res.arrays == ("zscore", "pvalue") and res.zscore.dtype == np.float32
    assert np.array_equal(res.zscore[:, :], ly86_full["zscore"].astype(np.float32))
    with pytest.raises(KeyError, match="stores no 'beta'"):
        res.beta
    info = file_info(out)
    assert info["complete"] and info["arrays"]["zscore"]["dtype"] == "float32"
    with pytest.raises(ValueError, match="arrays must be among"):
        ly86.to_hdf5(tmp_path / "g.h5", arrays=("nope",), progress=False)


def test_to_h5ad_and_to_anndata(tmp_path, ly86, ly86_full):
    out = ly86.to_h5ad(tmp_path / "ly86.h5ad", progress=False)
    ad = anndata.read_h5ad(out)
    assert ad.shape == (5, 43)
    assert np.array_equal(ad.X, ly86_full["beta"].T)
    for n in ("se", "zscore", "pvalue"):
        assert np.array_equal(np.asarray(ad.obsm[n]), ly86_full[n].T)
    assert list(ad.var_names) == list(ly86.proteins) and list(ad.obs_names) == list(ly86.samples)
    assert ad.uns["source"] == "lazyact" and '"n_rand": 100' in ad.uns["lazyact"]["params"]
    res = lazyact.open(out)
    assert res.format == "lazyact h5ad" and res.params["n_rand"] == 100
    for n in STATS:
        assert np.array_equal(res[n][:, :], ly86_full[n])
    mem = ly86.to_anndata()
    np.testing.assert_allclose(mem.X, ad.X, rtol=0, atol=1e-15)
    assert np.array_equal(mem.obsm["pvalue"], ad.obsm["pvalue"])
    with pytest.raises(MemoryError, match="to_hdf5"):
        ly86.to_anndata(max_bytes=1000)
    # stored results convert, e.g. the .h5ad back to a SecActPy-layout HDF5
    back = res.to_hdf5(tmp_path / "back.h5", progress=False)
    assert np.array_equal(lazyact.open(back).zscore[:, :], ly86_full["zscore"])


def test_to_xarray(ly86, ly86_full):
    ds = ly86.to_xarray()
    assert ds.zscore.dims == ("protein", "sample") and ds.attrs["n_rand"] == 100
    assert list(ds.protein.values) == list(ly86.proteins)
    assert np.array_equal(ds.pvalue.sel(protein="IL6").values, ly86.pvalue.loc["IL6"])
    # (the IL6 row is cached now: the other rows are computed as a 42-row block, which rounds differently)
    np.testing.assert_allclose(ds.beta.values, ly86_full["beta"], rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- SecActPy files
@pytest.mark.parametrize("name, kind", [("secactpy_stream_cytosig_ly86.h5", "SecActPy hdf5"),
                                        ("secactpy_saved_cytosig_ly86.h5", "SecActPy hdf5"),
                                        ("secactpy_cytosig_ly86.h5ad", "h5ad")])
def test_open_secactpy_files(name, kind, ly86, ly86_full):
    ref = np.load(STORED / "secactpy_cytosig_ly86_ref.npz")
    res = lazyact.open(STORED / name)
    assert res.format == kind and res.shape == (43, 5)
    assert list(res.proteins) == ref["proteins"].tolist() == list(ly86.proteins)
    assert list(res.samples) == ref["samples"].tolist() == list(ly86.samples)
    for n in STATS:
        assert np.array_equal(res[n][:, :], ref[n])  # exactly what SecActPy wrote
    # ... which is what lazyact computes (SecActPy 0.3.1 tolerances)
    for n in ("beta", "se", "zscore"):
        np.testing.assert_allclose(res[n][:, :], ly86_full[n], rtol=0, atol=1e-10)
    assert np.array_equal(res.pvalue[:, :], ly86_full["pvalue"])
    assert "SecActPy" in str(res.params.get("source", "")) or kind == "SecActPy hdf5"


def test_open_results_to_anndata_layers(tmp_path, ly86, ly86_full):
    # SecActPy's results_to_anndata: X = zscore, layers beta/se/zscore/pvalue
    ad = anndata.AnnData(X=ly86_full["zscore"].T, obs=pd.DataFrame(index=list(ly86.samples)),
                         var=pd.DataFrame(index=list(ly86.proteins)))
    for n in STATS:
        ad.layers[n] = ly86_full[n].T
    ad.write_h5ad(tmp_path / "layers.h5ad")
    res = lazyact.open(tmp_path / "layers.h5ad")
    assert res.format == "h5ad (layers)"
    assert np.array_equal(res.beta[:, :], ly86_full["beta"])


# --------------------------------------------------------------------------- not results
def test_open_explains_what_it_found(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["counts"] = np.zeros((2, 2))
        f.create_group("meta")
    with pytest.raises(NotResultsFileError, match=r"found top-level keys \['counts', 'meta'\]"):
        lazyact.open(tmp_path / "other.h5")
    expr = anndata.AnnData(X=sp.random(5, 4, density=0.5, format="csr", random_state=0))
    expr.obsm["spatial"] = np.zeros((5, 2))
    expr.write_h5ad(tmp_path / "expr.h5ad")
    with pytest.raises(NotResultsFileError, match=r"AnnData file but holds no activity results.*'spatial'.*"
                                                  r"lazyact.activity"):
        lazyact.open(tmp_path / "expr.h5ad")
    with pytest.raises(NotResultsFileError, match="not an HDF5 file"):
        lazyact.open(LY86)
    with pytest.raises(FileNotFoundError):
        lazyact.open(tmp_path / "nothing.h5")
    assert not lazyact.store.is_results_file(tmp_path / "expr.h5ad")
    assert lazyact.store.is_results_file(STORED / "secactpy_cytosig_ly86.h5ad")


# --------------------------------------------------------------------------- fingerprints, resume
def test_fingerprint_tracks_inputs(tmp_path):
    rng = np.random.default_rng(3)
    T, Y = rng.standard_normal((4, 60)), rng.standard_normal((60, 9))
    base = fingerprint(lazyact.LazyActivity(T, 20, Y))
    assert fingerprint(lazyact.LazyActivity(T.copy(), 20, Y.copy())) == base
    Y2 = Y.copy()
    Y2[0, 4] += 1  # the middle column is in the sample
    assert fingerprint(lazyact.LazyActivity(T, 20, Y2)) != base
    assert fingerprint(lazyact.LazyActivity(T, 20, Y, seed=1)) != base
    assert fingerprint(lazyact.LazyActivity(T, 20, Y, rng="gsl")) != base
    assert fingerprint(lazyact.LazyActivity(T, 20, Y, samples=list("abcdefghi"))) != base
    T2 = T.copy()
    T2[1, 1] += 1e-9
    assert fingerprint(lazyact.LazyActivity(T2, 20, Y)) != base


def _sparse_h5ad(path, n_cells=120, seed=0):
    sig = lazyact.load_signature("CytoSig")
    genes = list(sig.index[:1500]) + [f"EXTRA{i}" for i in range(50)]
    rng = np.random.default_rng(seed)
    X = sp.random(n_cells, len(genes), density=0.05, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.poisson(3, k) + 1.0)
    ad = anndata.AnnData(X=X.astype(np.float32), obs=pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)]),
                         var=pd.DataFrame(index=genes))
    ad.write_h5ad(path)
    return path


def test_resume_refused_when_the_input_file_changes(tmp_path):
    src = _sparse_h5ad(tmp_path / "cells.h5ad")
    act = lazyact.activity(src, "CytoSig", n_rand=10, chunks=(43, 16))
    parts = lazyact.store.fingerprint_parts(act)
    assert parts["expression"]["file"]["path"] == str(src.resolve())  # by reference, no data hash
    # interrupt after 2 blocks: a block function that fails on the third call
    calls = {"n": 0}
    real = act.blocks.__call__

    class Failing:
        names, shape, dtype = act.blocks.names, act.blocks.shape, act.blocks.dtype

        def __call__(self, rows, cols):
            calls["n"] += 1
            if calls["n"] > 2:
                raise KeyboardInterrupt
            return real(rows, cols)

    store = act.store
    store.function, orig = Failing(), store.function
    with pytest.raises(KeyboardInterrupt):
        act.to_hdf5(tmp_path / "out.h5", block=16, progress=False)
    store.function = orig
    assert file_info(tmp_path / "out.h5")["blocks_done"] == 2
    with pytest.raises(IncompleteFileError, match=r"only .*out.h5.partial.*2 of 8 column blocks.*resumes"):
        lazyact.open(tmp_path / "out.h5")
    with pytest.raises(IncompleteFileError, match="unfinished"):
        lazyact.open(partial_path(tmp_path / "out.h5"))
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "edited" input
    act2 = lazyact.activity(src, "CytoSig", n_rand=10, chunks=(43, 16))
    with pytest.raises(ResumeMismatchError, match=r"differences: expression.*resume=False"):
        act2.to_hdf5(tmp_path / "out.h5", block=16, progress=False)
    out = act2.to_hdf5(tmp_path / "out.h5", block=16, progress=False, resume=False)
    assert np.array_equal(lazyact.open(out).zscore[:, :], act2.zscore[:, :])


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
    assert expr.calls[0] == [0, 48, 95]  # the fingerprint's sample of the data
    assert sorted(expr.calls[1:]) == [list(range(c, c + 8)) for c in range(40, 96, 8)]  # (in parallel)

    # identical to an uninterrupted run
    ref = lazyact.LazyActivity(T, 30, Counting(Y), chunks=(12, 8)).to_hdf5(tmp_path / "ref.h5", block=8,
                                                                         progress=False)
    _assert_same_file(out, ref)
    # and equal to the lazy activity (to rounding: other block shapes sum in another order)
    np.testing.assert_allclose(lazyact.open(out).zscore[:, :], lazyact.LazyActivity(T, 30, Y).zscore[:, :],
                               rtol=0, atol=1e-12)
