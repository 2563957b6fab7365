#!/usr/bin/env python
"""lazyact benchmark suite: lazyact vs SecActPy on the same inputs, and vs the BLAS roofline.

Usage::

    python benchmarks/run.py [--quick] [--secactpy-python PATH] [--markdown FILE] [--only NAME ...]

SecActPy 0.3.1 pins ``numpy<2``, so it runs in its own virtualenv; this script
calls that interpreter (``--secactpy-python``, default ``$SECACTPY_PYTHON`` or
``../secactpy-venv/bin/python``) in a subprocess on the very same input files,
in the same run, and reports the ratio.  Make that venv with::

    python3 -m venv ../secactpy-venv && ../secactpy-venv/bin/pip install secactpy==0.3.1 anndata

Without it the SecActPy columns read "n/a".  The SecAct signature size is used
(1,170 proteins x 7,919 genes) with a random signature of that shape, so no
80 MB download is needed; SecActPy runs its ``ridge()`` on the same arrays.

Each row reports: lazyact seconds, SecActPy seconds, their ratio (SecActPy /
lazyact, > 1 means lazyact is faster), achieved GFLOP/s with the permutation
test's FLOP count ``2 * p * n_genes * m * (n_rand + 1)``, the fraction of a
GEMM roofline measured in the same run, and the peak RSS of the process.
Sparse rows count only the useful work ``2 * p * nnz * (n_rand + 1)`` and divide by
a GEMM measured next to them (``suite.py``, ``sparse_kernel.py``): on a machine shared
with other jobs both slow down alike.
The roofline is a float64 GEMM; the optional ``dtype=float32`` rows divide by
it too, so they can exceed 100 %.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import lazyact  # noqa: E402
from roofline import gemm_rate  # noqa: E402
from lazyact.ridge import RidgeModel, permutation_table, projection  # noqa: E402
from lazyact.ridge.permutations import clear_table_cache  # noqa: E402

P, N = 1170, 7919  # SecAct signature size


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timeit(fn, repeat: int = 1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def gemm_roofline(k: int = 1000) -> float:
    """GFLOP/s of one (P x N) @ (N x k) float64 GEMM, best of 3 (see benchmarks/roofline.py)."""
    return gemm_rate(k, repeat=3)


def flops(p, n, m, n_rand):
    return 2.0 * p * n * m * (n_rand + 1)


class SecActPy:
    """Runs SecActPy's ridge() in its own interpreter on .npy inputs."""

    SCRIPT = r"""
import json, sys, time, numpy as np
from secactpy.ridge import ridge
X = np.load(sys.argv[1]); Y = np.load(sys.argv[2]); n_rand = int(sys.argv[3]); rng = sys.argv[4]
t = time.perf_counter()
res = ridge(X, Y, lambda_=5e5, n_rand=n_rand, seed=0, backend="numpy", rng_method=rng)
dt = time.perf_counter() - t
np.save(sys.argv[5], res["zscore"])
import resource
print(json.dumps({"seconds": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

    def __init__(self, python: str | None):
        self.python = python if python and Path(python).exists() else None

    def ridge(self, X, Y, n_rand, rng="srand"):
        if self.python is None:
            return None
        with tempfile.TemporaryDirectory() as d:
            np.save(f"{d}/X.npy", X)
            np.save(f"{d}/Y.npy", Y)
            out = subprocess.run([self.python, "-c", self.SCRIPT, f"{d}/X.npy", f"{d}/Y.npy", str(n_rand), rng,
                                  f"{d}/z.npy"], capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                return None
            info = json.loads(out.stdout.strip().splitlines()[-1])
            info["zscore"] = np.load(f"{d}/z.npy")
            return info


def bench_tables(quick):
    rows = []
    for rng in ("srand", "gsl", "numpy"):
        clear_table_cache()
        permutation_table(50, 2, 0, rng)  # compile
        clear_table_cache()
        dt, _ = timeit(lambda: (clear_table_cache(), permutation_table(N, 1000, 0, rng)), repeat=3)
        rows.append(dict(case=f"permutation table {rng} {N}x1000", lazyact_s=dt))
    return rows


def bench_dense(quick, secactpy, roof):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, P))
    proj = projection(X)
    rows = []
    cases = [(1, 1000), (10, 1000), (100, 1000), (1000, 100 if quick else 1000)]
    if quick:
        cases = [(1, 1000), (10, 1000), (100, 100), (1000, 20)]
    for m, n_rand in cases:
        Y = rng.standard_normal((N, m))
        model = RidgeModel(proj, n_rand=n_rand)
        model.compute(np.arange(P), Y[:, :1])  # tables built, kernels compiled
        dt, out = timeit(lambda: model.compute(np.arange(P), Y))
        row = dict(case=f"dense m={m} n_rand={n_rand}", lazyact_s=dt,
                   gflops=flops(P, N, m, n_rand) / dt / 1e9)
        row["roofline"] = row["gflops"] / roof
        ref = secactpy.ridge(X, Y, n_rand)
        if ref is not None:
            row["secactpy_s"] = ref["seconds"]
            row["max_dz"] = float(np.abs(ref["zscore"] - out["zscore"]).max())
        rows.append(row)
        if m >= 10:  # the optional single-precision kernel (not exact: max |dz| against float64 SecActPy)
            m32 = RidgeModel(proj, n_rand=n_rand, dtype=np.float32)
            m32.compute(np.arange(P), Y[:, :1])
            dt32, out32 = timeit(lambda: m32.compute(np.arange(P), Y))
            row32 = dict(case=f"dense m={m} n_rand={n_rand}, dtype=float32", lazyact_s=dt32,
                         gflops=flops(P, N, m, n_rand) / dt32 / 1e9)
            row32["roofline"] = row32["gflops"] / roof
            if ref is not None:
                row32["secactpy_s"] = ref["seconds"]
                row32["max_dz"] = float(np.abs(ref["zscore"] - out32["zscore"]).max())
            rows.append(row32)
    return rows


def fmt_table(rows, roof, meta) -> str:
    head = ["case", "lazyact s", "SecActPy s", "ratio", "GFLOP/s", "of roofline", "max |dz|", "peak RSS MB"]
    lines = [f"Run {meta['date']} on {meta['machine']}; GEMM roofline {roof:.1f} GFLOP/s (float64, "
             f"{P}x{N} @ {N}x1000, same run).", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for r in rows:
        ratio = r["secactpy_s"] / r["lazyact_s"] if r.get("secactpy_s") else None
        cells = [r["case"], f"{r['lazyact_s']:.3f}",
                 f"{r['secactpy_s']:.3f}" if r.get("secactpy_s") else "n/a",
                 f"{ratio:.2f}x" if ratio else "n/a",
                 f"{r['gflops']:.1f}" if r.get("gflops") else "",
                 f"{100 * r['roofline']:.0f}%" if r.get("roofline") else "",
                 f"{r['max_dz']:.1e}" if r.get("max_dz") is not None else "",
                 f"{r.get('rss_mb', peak_rss_mb()):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller n_rand for the big cases (minutes, not tens)")
    ap.add_argument("--secactpy-python", default=os.environ.get("SECACTPY_PYTHON",
                                                                str(HERE.parent.parent / "secactpy-venv/bin/python")))
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only these groups: tables dense latency sparse kernel analytic chunks write")
    args = ap.parse_args(argv)
    os.environ.setdefault("LAZYACT_PROGRESS", "0")
    secactpy = SecActPy(args.secactpy_python)
    meta = dict(date=_dt.date.today().isoformat(),
                machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                        f"numpy {np.__version__}, lazyact {lazyact.__version__}")
    roof = gemm_roofline()
    rows = []
    groups = {"tables": lambda: bench_tables(args.quick),
              "dense": lambda: bench_dense(args.quick, secactpy, roof)}
    sys.path.insert(0, str(HERE))
    import importlib

    for module in ("suite", "sparse_kernel", "analytic", "cases"):  # further groups, each module's groups(args, secactpy, roof)
        if (HERE / f"{module}.py").exists():
            groups.update(importlib.import_module(module).groups(args, secactpy, roof))
    for name, fn in groups.items():
        if args.only and name not in args.only:
            continue
        print(f"# {name} ...", file=sys.stderr, flush=True)
        rows.extend(fn())
    table = fmt_table(rows, roof, meta)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
