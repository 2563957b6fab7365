"""The ``lazyact`` command line: run / info / demo / view, in-process and as ``python -m lazyact``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anndata
import numpy as np
import pytest

import lazyact
from lazyact.results import partial_path
from lazyact.cli import main

DATA = Path(__file__).parent / "data"
LY86 = DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"


@pytest.fixture(scope="module")
def ly86_n50():
    return lazyact.activity(LY86, "CytoSig", n_rand=50)


def one_blas_thread():
    """File writers compute with one BLAS thread (rounding independent of the BLAS setting)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def test_run_writes_results_equal_to_the_api(tmp_path, capsys, ly86_n50):
    out = tmp_path / "r.h5"
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(out), "--n-rand", "50", "--summary", "-q"]) == 0
    err = capsys.readouterr().err
    assert "LazyActivity: 43 proteins x 5 samples" in err and f"wrote {out}" in err
    res = lazyact.open(out)
    assert res.params["n_rand"] == 50 and res.params["signature"] == "CytoSig"
    with one_blas_thread():
        ref = lazyact.activity(LY86, "CytoSig", n_rand=50).zscore[:, :]
    assert np.array_equal(res.zscore[:, :], ref)
    assert res.summary_stats is not None
    # an existing file needs --overwrite
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(out), "--n-rand", "50", "-q"]) == 1
    assert "exists; pass overwrite=True (CLI: --overwrite)" in capsys.readouterr().err
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(out), "--n-rand", "20", "--seed", "3",
                 "--rng", "gsl", "--no-group", "--overwrite", "-q", "--dtype", "float32",
                 "--arrays", "zscore", "pvalue"]) == 0
    res = lazyact.open(out)
    assert res.params["seed"] == 3 and res.params["rng"] == "gsl" and res.params["group"] is False
    assert res.arrays == ("zscore", "pvalue") and res.zscore.dtype == np.float32


def test_run_compute_dtype_float32(tmp_path, capsys, ly86_n50):
    out = tmp_path / "r32.h5"
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(out), "--n-rand", "50", "-q",
                 "--compute-dtype", "float32"]) == 0
    res = lazyact.open(out)
    assert res.params["dtype"] == "float32"  # recorded: not SecAct's exact numbers
    z = res.zscore[:, :]
    ref = ly86_n50.zscore[:, :]
    assert res.zscore.dtype == np.float64 and 0 < np.abs(z - ref).max() < 1e-4


def test_run_h5ad_and_center(tmp_path, capsys):
    out = tmp_path / "r.h5ad"
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(out), "--n-rand", "20", "--preprocess", "center",
                 "--block", "2", "-q"]) == 0
    ad = anndata.read_h5ad(out)
    act = lazyact.activity(LY86, "CytoSig", n_rand=20, preprocess="center")
    assert ad.shape == (5, 43)
    np.testing.assert_allclose(ad.obsm["zscore"], act.zscore[:, :].T, rtol=0, atol=1e-12)
    assert np.array_equal(ad.obsm["pvalue"], act.pvalue[:, :].T)


def test_run_progress_bar_has_eta(tmp_path, capsys, monkeypatch):
    from lazyact.array import config

    monkeypatch.setattr(config, "progress", True)
    monkeypatch.delenv("LAZYACT_PROGRESS", raising=False)
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(tmp_path / "p.h5"), "--n-rand", "10",
                 "--block", "1"]) == 0
    err = capsys.readouterr().err
    assert "writing p.h5" in err and "5/5" in err and "<00:00" in err  # tqdm: elapsed<remaining


def test_run_bad_input_and_output(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.h5ad"), "-s", "CytoSig", "-o", str(tmp_path / "o.h5")]) == 1
    assert "missing.h5ad" in capsys.readouterr().err
    assert main(["run", str(LY86), "-s", "CytoSig", "-o", str(tmp_path / "no" / "dir" / "o.h5"), "-q",
                 "--n-rand", "5"]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", str(LY86), "-o", "x.h5"])  # -s is required
    assert exc.value.code == 2


def test_info_complete_partial_and_foreign(tmp_path, capsys, ly86_n50):
    out = ly86_n50.to_hdf5(tmp_path / "i.h5", progress=False, summary=True)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "43 proteins x 5 samples" in text and "complete   yes" in text and "n_rand = 50" in text
    assert "summary" in text and "chunks" in text
    # an unfinished run: keep a .partial with 2 of 5 blocks
    part = partial_path(tmp_path / "u.h5")
    store = ly86_n50.store
    store.tier = None  # the first write's blocks are on disk: this run must compute to be interrupted
    calls = {"n": 0}
    real = store.function

    class Stop:
        names, shape, dtype = real.names, real.shape, real.dtype

        def __call__(self, rows, cols):
            calls["n"] += 1
            if calls["n"] > 2:
                raise RuntimeError("stop")
            return real(rows, cols)

    store.function = Stop()
    try:
        with pytest.raises(RuntimeError):
            ly86_n50.to_hdf5(tmp_path / "u.h5", block=1, progress=False)
    finally:
        store.function = real
    assert part.exists()
    assert main(["info", str(tmp_path / "u.h5")]) == 3
    text = capsys.readouterr().out
    assert "complete   no (2 of 5 column blocks written, 40%)" in text and "u.h5.partial" in text
    assert main(["info", str(DATA / "stored" / "secactpy_stream_cytosig_ly86.h5")]) == 0
    assert "SecActPy hdf5" in capsys.readouterr().out
    assert main(["info", str(LY86)]) == 1
    assert "not an HDF5 file" in capsys.readouterr().err


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo.h5"
    assert main(["demo", "--out", str(out), "--n-rand", "30", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "Top 3 active proteins per sample" in text and "LY86_Treated_SampleComb:" in text
    assert out.exists() and lazyact.open(out).shape == (43, 5)


def test_view_png_calls_the_viewer(tmp_path, capsys, monkeypatch, ly86_n50):
    import lazyact.viz

    seen = {}

    def fake_render(obj, path, **kw):
        seen.update(obj=obj, path=path, **kw)
        Path(path).write_bytes(b"\x89PNG")

    monkeypatch.setattr(lazyact.viz, "render_png", fake_render, raising=False)
    res_file = ly86_n50.to_hdf5(tmp_path / "v.h5", progress=False)
    assert main(["view", str(res_file), "--png", str(tmp_path / "a.png"), "--protein", "IL6",
                 "--start", "2"]) == 0
    assert isinstance(seen["obj"], lazyact.StoredActivity)
    assert seen["protein"] == "IL6" and seen["start"] == 2 and (tmp_path / "a.png").exists()
    # expression input: computed lazily with the run options
    assert main(["view", str(LY86), "-s", "CytoSig", "--n-rand", "10", "--png", str(tmp_path / "b.png"),
                 "--start", "LY86_Treated_Sample3"]) == 0
    assert isinstance(seen["obj"], lazyact.LazyActivity) and seen["obj"].params["n_rand"] == 10
    assert seen["start"] == "LY86_Treated_Sample3"


def test_view_without_viz_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastplotlib", None)  # as if lazyact[viz] were not installed
    assert main(["view", str(LY86), "-s", "CytoSig", "--n-rand", "5"]) == 1
    assert "pip install 'lazyact[viz]'" in capsys.readouterr().err


def test_python_dash_m_lazyact(tmp_path):
    out = tmp_path / "sub.h5"
    env = dict(os.environ, LAZYACT_PROGRESS="0")
    proc = subprocess.run([sys.executable, "-m", "lazyact", "demo", "--out", str(out), "--n-rand", "20"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Top 5 active proteins" in proc.stdout and "wrote" in proc.stdout
    assert lazyact.open(out).params["n_rand"] == 20
