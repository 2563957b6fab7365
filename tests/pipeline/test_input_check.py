"""Values that contradict ``preprocess`` are refused with a message naming the fix, and the fix runs (finding 6).

Raw counts are never silently read as differential profiles (the default ``preprocess="none"``) or
as log expression (``"center"``); log-normalised values are never normalised again as counts
(``"scrnaseq"``, ``"spatial"``). ``check_input=False`` / ``--no-check-input`` overrides.
"""
import os
import re
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lazyact
from conftest import DATA
from lazyact.preprocess import InputCheckError
from lazyact.sources import as_source

H5AD = DATA / "sc_synth_cytosig.h5ad"
FAST = dict(n_rand=10)


@pytest.fixture(scope="module")
def counts():
    return ad.read_h5ad(H5AD)[:80].copy()


@pytest.fixture(scope="module")
def lognorm(counts):
    """log1p(CP10k) in X (as scanpy's normalize_total + log1p), the counts in layers['counts']."""
    X = counts.X.toarray().astype(np.float64)
    L = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
    out = ad.AnnData(X=sp.csr_matrix(L), obs=counts.obs.copy(), var=counts.var.copy())
    out.layers["counts"] = counts.X.copy()
    return out


@pytest.mark.parametrize("preprocess", ["none", "center"])
def test_counts_as_differential_profiles_are_refused(counts, preprocess):
    with pytest.raises(InputCheckError, match="look like raw counts") as exc:
        lazyact.activity(counts, "CytoSig", preprocess=preprocess, **FAST)
    msg = str(exc.value)
    assert f"preprocess={preprocess!r}" in msg and "integers from 0 to" in msg
    assert "preprocess='scrnaseq'" in msg and "check_input=False" in msg and "--no-check-input" in msg
    # the advice runs
    act = lazyact.activity(counts, "CytoSig", preprocess="scrnaseq", **FAST)
    assert np.isfinite(act.zscore[:, :5]).all()
    act = lazyact.activity(counts, "CytoSig", preprocess=preprocess, check_input=False, **FAST)
    assert act.zscore[:, :2].shape == (43, 2)


def test_bulk_counts_advice_runs():
    """A genes x samples table of bulk counts: the advised log-normalisation, then 'center', runs."""
    sig = lazyact.load_signature("CytoSig")
    rng = np.random.default_rng(0)
    expr = pd.DataFrame(rng.poisson(20.0, (2000, 4)).astype(np.float64), index=sig.index[:2000],
                        columns=list("abcd"))
    with pytest.raises(InputCheckError) as exc:
        lazyact.activity(expr, "CytoSig", **FAST)  # the default preprocess="none"
    snippet = re.search(r"e\.g\. (expr = [^,]+?\)), and pass preprocess='center'", str(exc.value)).group(1)
    scope = {"np": np, "expr": expr}
    exec(snippet, scope)
    act = lazyact.activity(scope["expr"], "CytoSig", preprocess="center", **FAST)
    assert np.isfinite(act.zscore[:, :]).all()


def test_bulk_counts_with_a_control_are_refused():
    sig = lazyact.load_signature("CytoSig")
    rng = np.random.default_rng(5)
    treat = pd.DataFrame(rng.poisson(20.0, (800, 3)).astype(np.float64), index=sig.index[:800], columns=list("abc"))
    ctrl = pd.DataFrame(rng.poisson(20.0, (800, 2)).astype(np.float64), index=sig.index[:800], columns=list("xy"))
    with pytest.raises(InputCheckError, match="subtracts the control's"):
        lazyact.activity(treat, "CytoSig", control=ctrl, **FAST)
    log = lambda e: np.log2(e / e.sum(axis=0) * 1e6 + 1)  # noqa: E731  (the advice, on both sides)
    act = lazyact.activity(log(treat), "CytoSig", control=log(ctrl), **FAST)
    assert np.isfinite(act.zscore[:, :]).all()


@pytest.mark.parametrize("preprocess", ["scrnaseq", "spatial"])
def test_lognormalised_as_counts_is_refused(lognorm, preprocess):
    with pytest.raises(InputCheckError, match="look log-normalised") as exc:
        lazyact.activity(lognorm, "CytoSig", preprocess=preprocess, **FAST)
    msg = str(exc.value)
    assert "layer='counts'" in msg and "preprocess='center'" in msg and "check_input=False" in msg
    # the advice runs: the counts layer, or the log values centred as they are
    act = lazyact.activity(lognorm, "CytoSig", preprocess=preprocess, layer="counts", **FAST)
    assert np.isfinite(act.zscore[:, :3]).all()
    act = lazyact.activity(lognorm, "CytoSig", preprocess="center", **FAST)
    assert np.isfinite(act.zscore[:, :3]).all()
    lazyact.activity(lognorm, "CytoSig", preprocess=preprocess, check_input=False, **FAST)


def test_pseudobulk_accepts_both(counts, lognorm):
    """SecActPy's pseudo-bulk sums counts and averages already-normalised values: both are valid inputs."""
    labels = counts.obs["cell_type"].astype(str).to_numpy()
    for a in (counts, lognorm):
        act = lazyact.activity(a, "CytoSig", preprocess="pseudobulk", groupby=labels, **FAST)
        assert np.isfinite(act.zscore[:, :]).all()


def test_differential_profiles_pass(counts):
    """No false alarm on real log fold changes (negative values), integer profiles with negatives, or
    log-normalised values with 'center'."""
    lazyact.activity(str(DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"), "CytoSig", **FAST)
    sig = lazyact.load_signature("CytoSig")
    ints = pd.DataFrame(np.random.default_rng(1).integers(-3, 4, (500, 3)).astype(float), index=sig.index[:500])
    lazyact.activity(ints, "CytoSig", **FAST)


def test_the_check_reads_a_bounded_sample(monkeypatch):
    """The judgement reads the first 100 samples (1000 genes of them) once, in the passes' block size,
    never a full pass."""
    from lazyact.preprocess import passes

    sig = lazyact.load_signature("CytoSig")
    big = np.random.default_rng(2).poisson(3.0, (3000, 700)).astype(np.float64)
    src = as_source(big, genes=list(sig.index[:3000]), samples=[f"s{i}" for i in range(700)])
    monkeypatch.setattr(passes, "PASS_BYTES", 8 * 3000 * 30)  # 30 samples per block
    reads = []
    real = type(src)._read

    def spy(self, cols):
        reads.append(len(cols))
        return real(self, cols)

    monkeypatch.setattr(type(src), "_read", spy)
    with pytest.raises(InputCheckError, match="first 1000 genes x 100 samples"):
        lazyact.activity(src, "CytoSig", preprocess="center", **FAST)
    assert reads == [30, 30, 30, 10]


def _cli(*args):
    env = {**os.environ, "LAZYACT_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "lazyact", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_refuses_counts_and_the_advice_runs(counts, tmp_path):
    path = tmp_path / "counts.h5ad"
    counts[:30].copy().write_h5ad(path)
    out = tmp_path / "out.h5"
    base = ["run", str(path), "-s", "CytoSig", "--n-rand", "10", "-q", "-o"]
    r = _cli(*base, str(out))
    assert r.returncode == 1 and not out.exists()
    assert "look like raw counts" in r.stderr and "--preprocess scrnaseq" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = _cli(*base, str(out), "--preprocess", "scrnaseq")
    assert r.returncode == 0, r.stderr
    r = _cli(*base, str(tmp_path / "forced.h5"), "--no-check-input")
    assert r.returncode == 0, r.stderr
