"""Benchmark groups beyond the dense engine: sparse .h5ad, latency of slices, one protein row.

Imported by ``benchmarks/run.py``; each group returns rows for its table.
Inputs are generated (seeded): a SecAct-sized random signature (1,170 proteins
x 7,919 genes, gene names G0..G7918) and .h5ad count matrices over those genes,
so no download is needed.  Where a full run would take hours on 2 cores, a
slice is measured and extrapolated linearly in cells (and, for SecActPy, in
permutations); the case name says so.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import lazyact
from roofline import gemm_rate
from lazyact.ridge.permutations import clear_table_cache

P, N = 1170, 7919
_TMP = Path(tempfile.gettempdir()) / "lazyact-bench"


def signature() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.standard_normal((N, P)), index=[f"G{i}" for i in range(N)],
                        columns=[f"P{k}" for k in range(P)])


def h5ad(n_cells: int, density: float) -> Path:
    """A cells x genes CSR .h5ad of integer counts (cached between runs)."""
    import anndata as ad
    import scipy.sparse as sp

    _TMP.mkdir(exist_ok=True)
    path = _TMP / f"cells{n_cells}_d{density}.h5ad"
    if path.exists():
        return path
    rng = np.random.default_rng(n_cells)
    parts = []
    for start in range(0, n_cells, 20_000):
        m = min(20_000, n_cells - start)
        X = sp.random(m, N, density=density, format="csr", random_state=rng, dtype=np.float32)
        X.data = np.ceil(X.data * 10).astype(np.float32)
        parts.append(X)
    X = sp.vstack(parts).tocsr()
    obs = pd.DataFrame(index=[f"c{i}" for i in range(n_cells)])
    ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(N)])).write_h5ad(path)
    return path


SECACTPY_SPARSE = r"""
import json, sys, time, numpy as np, scipy.sparse as sp, anndata as ad, pandas as pd
from secactpy.ridge import ridge
path, n_cells, n_rand = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
z = np.load(sys.argv[4], allow_pickle=False)
sig = pd.DataFrame(z["values"], index=z["genes"], columns=z["proteins"])
a = ad.read_h5ad(path)
counts = a.X[:n_cells].T.tocsc().astype(np.float64)  # genes x cells
tot = np.asarray(counts.sum(axis=0)).ravel()
Y = (counts @ sp.diags(1e5 / tot)).tocsc(); Y.data = np.log2(Y.data + 1)
X = sig.loc[a.var_names].to_numpy(); X = (X - X.mean(0)) / X.std(0, ddof=1)
import resource
t = time.perf_counter()
res = ridge(X, Y, lambda_=5e5, n_rand=n_rand, seed=0, backend="numpy", rng_method="srand", sparse_mode=True)
print(json.dumps({"seconds": time.perf_counter() - t,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _secactpy_sparse(secactpy, path, n_cells, n_rand, sig_pickle):
    if secactpy.python is None:
        return None
    out = subprocess.run([secactpy.python, "-c", SECACTPY_SPARSE, str(path), str(n_cells), str(n_rand),
                          str(sig_pickle)], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-1500:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _nnz(path: Path, lo: int, hi: int) -> int:
    """Nonzeros of cells lo..hi-1 of a CSR .h5ad (all its genes are signature genes here)."""
    import h5py

    with h5py.File(path, "r") as f:
        ptr = f["X/indptr"]
        return int(ptr[hi] - ptr[lo])


def _gemm_rate() -> float:
    """float64 GEMM GFLOP/s (the roofline shape), measured now: sparse rows divide by the
    GEMM measured next to them, since other jobs on a shared machine slow both alike."""
    return gemm_rate(repeat=2)


def _sparse_rate(row: dict, p: int, nnz: int, seconds: float, n_rand: int = 1000) -> dict:
    # useful work of the sparse permutation test: 2 * p * nnz * (n_rand + 1) FLOP
    row["gflops"] = 2.0 * p * nnz * (n_rand + 1) / seconds / 1e9
    row["roofline"] = row["gflops"] / _gemm_rate()
    return row


def _rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_sparse(args, secactpy, roof):
    sig = signature()
    sig_pickle = _TMP / "sig.npz"  # npz, not a pickle: SecActPy's venv has numpy 1.x
    _TMP.mkdir(exist_ok=True)
    np.savez(sig_pickle, values=sig.to_numpy(), genes=sig.index.to_numpy(str), proteins=sig.columns.to_numpy(str))
    rows = []
    densities = (0.02, 0.05)
    sizes = (20_000,) if args.quick else (20_000, 100_000)
    slice_cells = 40 if args.quick else 200
    for density in densities:
        for n_cells in sizes:
            path = h5ad(n_cells, density)
            t = time.perf_counter()
            act = lazyact.activity(str(path), sig, preprocess="scrnaseq", n_rand=1000, group=False)
            build = time.perf_counter() - t
            act.zscore[:, 0]  # tables, kernels
            t = time.perf_counter()
            act.zscore[:, 1:1 + slice_cells]
            dt = time.perf_counter() - t
            per_cell = dt / slice_cells
            lazy_full = build + per_cell * n_cells
            row = dict(case=f"sparse .h5ad {n_cells // 1000}k cells {int(density * 100)}% n_rand=1000 "
                            f"(lazyact: build + {slice_cells} cells, extrapolated; {1 / per_cell:.1f} cells/s)",
                       lazyact_s=lazy_full, rss_mb=_rss_mb())
            _sparse_rate(row, P, _nnz(path, 1, 1 + slice_cells), dt)
            if n_cells == 20_000:
                # SecActPy sparse_mode with n_rand 10, x100 (its cost is linear in permutations);
                # quick: on the slice and x cells (overstates it: part of its per-permutation
                # cost does not grow with cells); full: on all 20k cells
                ref_cells = slice_cells if args.quick else n_cells
                ref = _secactpy_sparse(secactpy, path, ref_cells, 10, sig_pickle)
                if ref is not None:
                    row["secactpy_s"] = ref["seconds"] * 100 * n_cells / ref_cells
                    row["case"] += (f"; SecActPy: {ref_cells} cells, 10 perms x100"
                                    + (f" x{n_cells // ref_cells}" if ref_cells < n_cells else ""))
            rows.append(row)
    return rows


def bench_latency(args, secactpy, roof):
    rows = []
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, P))
    Y = rng.standard_normal((N, 4000))
    proj = lazyact.projection(X)
    clear_table_cache()
    t = time.perf_counter()
    act = lazyact.LazyActivity(proj, 1000, Y)
    act.zscore[:, 0]
    rows.append(dict(case="one dense sample, cold incl. srand table build", lazyact_s=time.perf_counter() - t))
    t = time.perf_counter()
    act.zscore[:, 1]
    rows.append(dict(case="one dense sample zscore[:, j], cold (tables built)", lazyact_s=time.perf_counter() - t))
    t = time.perf_counter()
    for _ in range(100):
        act.zscore[:, 1]
    rows.append(dict(case="one dense sample zscore[:, j], cached", lazyact_s=(time.perf_counter() - t) / 100))
    t = time.perf_counter()
    act.pvalue[:, 1]
    rows.append(dict(case="switch view pvalue[:, j], cached", lazyact_s=time.perf_counter() - t))
    n_row = 200 if args.quick else 1000
    t = time.perf_counter()
    act.zscore[5, 2000:2000 + n_row]
    rows.append(dict(case=f"one protein zscore[i, :{n_row}] dense, cold", lazyact_s=time.perf_counter() - t))
    # sparse: one cell of an .h5ad (~400 nonzeros), one protein over many cells
    n_file = 20_000 if args.quick else 100_000
    path = h5ad(n_file, 0.05)
    sig = signature()
    sp_act = lazyact.activity(str(path), sig, preprocess="scrnaseq", n_rand=1000, group=False)  # default chunks
    sp_act.zscore[:, 0]
    times, fractions = [], []
    for j in range(7, 12):
        t = time.perf_counter()
        sp_act.zscore[:, j]
        times.append(time.perf_counter() - t)
        fractions.append(_sparse_rate({}, P, _nnz(path, j, j + 1), times[-1])["roofline"])
    row = _sparse_rate(dict(case="one sparse cell (~400 nnz) zscore[:, j], cold (median of 5 cells)",
                            lazyact_s=float(np.median(times))), P, _nnz(path, 7, 12) / 5, float(np.median(times)))
    row["roofline"] = float(np.median(fractions))
    rows.append(row)
    sp_act.zscore[2, :10]  # the transposed table for the few-protein kernel
    if args.quick:
        n_cells = 5000
        t = time.perf_counter()
        sp_act.zscore[3, 100:100 + n_cells]
        dt = time.perf_counter() - t
        rows.append(_sparse_rate(dict(case=f"one protein over 100k sparse cells (measured {n_cells}, "
                                           f"x{100_000 // n_cells})", lazyact_s=dt * 100_000 / n_cells),
                                 1, _nnz(path, 100, 100 + n_cells), dt))
    else:
        t = time.perf_counter()
        sp_act.zscore[3, :]
        dt = time.perf_counter() - t
        rows.append(_sparse_rate(dict(case="one protein zscore[i, :] over 100k sparse cells (5 %), cold",
                                      lazyact_s=dt, rss_mb=_rss_mb()), 1, _nnz(path, 0, n_file), dt))
    return rows


def groups(args, secactpy, roof):
    return {"latency": lambda: bench_latency(args, secactpy, roof),
            "sparse": lambda: bench_sparse(args, secactpy, roof)}
