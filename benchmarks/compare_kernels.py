#!/usr/bin/env python
"""The dense permutation kernel of this tree against that of another commit, in one process.

Usage::

    python benchmarks/compare_kernels.py [--ref COMMIT] [--repeat N] [--only I ...]

The other commit's ``src/lazyact/ridge/kernels/{__init__,numpy}.py`` are taken with
``git show`` into a temporary package and run on the same inputs, alternately with
this tree's kernel, ``--repeat`` times; each row reports the best times, their
fractions of a float64 GEMM roofline measured between the runs, and the median of
the per-repeat time ratios (new / old), which is what to trust on a shared machine.
The old kernel gets ``T_rows`` and ``beta = T_rows @ Y`` as it expected them.
"""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from lazyact.ridge import forward_table, permutation_table  # noqa: E402
from lazyact.ridge.kernels import numpy as new  # noqa: E402
from lazyact.ridge.kernels import summation_order  # noqa: E402

N = 7919
CASES = [  # name, proteins, samples, n_rand, requested rows (None: all), dtype
    ("SecAct one sample, n_rand 1000", 1170, 1, 1000, None, np.float64),
    ("SecAct m=10, n_rand 200", 1170, 10, 200, None, np.float64),
    ("SecAct m=256, n_rand 20", 1170, 256, 20, None, np.float64),
    ("SecAct one protein x 500 samples, n_rand 200", 1170, 500, 200, [3], np.float64),
    ("SecAct 16 proteins x 256 samples, n_rand 100", 1170, 256, 100, list(range(16)), np.float64),
    ("CytoSig m=256, n_rand 200", 43, 256, 200, None, np.float64),
    ("CytoSig one sample, n_rand 1000", 43, 1, 1000, None, np.float64),
    ("SecAct m=20 float32, n_rand 1000", 1170, 20, 1000, None, np.float32),
    ("SecAct one sample float32, n_rand 1000", 1170, 1, 1000, None, np.float32),
]


def old_kernel(ref: str, where: Path):
    pkg = where / "oldkernels"
    pkg.mkdir()
    for name in ("__init__.py", "numpy.py"):
        text = subprocess.run(["git", "show", f"{ref}:src/lazyact/ridge/kernels/{name}"], cwd=HERE.parent,
                              check=True, capture_output=True, text=True).stdout
        (pkg / name).write_text(text.replace("cache=True", "cache=False"))
    sys.path.insert(0, str(where))
    return importlib.import_module("oldkernels.numpy")


def roofline(rng) -> float:
    A, B = rng.standard_normal((1170, N)), rng.standard_normal((N, 500))
    A @ B
    t = time.perf_counter()
    A @ B
    return 2 * 1170 * N * 500 / (time.perf_counter() - t) / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="HEAD~1", help="the commit to compare with")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", type=int, nargs="*", help="case numbers")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        old = old_kernel(args.ref, Path(tmp))
        T_all = rng.standard_normal((1170, N)) * 1e-3
        tables = {}
        print("| case | old s | new s | old / roofline | new / roofline | new / old (median) |\n|---|---|---|---|---|---|")
        for i, (name, p, m, n_rand, rows, dtype) in enumerate(CASES):
            if args.only and i not in args.only:
                continue
            if n_rand not in tables:
                tables[n_rand] = (forward_table(N, n_rand, 0, "srand"), permutation_table(N, n_rand, 0, "srand"))
            fwd, inv = tables[n_rand]
            T = np.ascontiguousarray(T_all[:p], dtype=dtype)
            T_rows = T if rows is None else np.ascontiguousarray(T[rows])
            Y = rng.standard_normal((N, m)).astype(dtype)
            order = "yrow" if dtype == np.float32 else summation_order(p)

            def run_old(Y=Y):
                return old.permutation_moments(T_rows, Y, T_rows @ Y, fwd, inv)

            def run_new(Y=Y):
                return new.permutation_statistics(T, Y, fwd, inv, method=order, rows=rows)

            run_old(Y[:, :1])
            run_new(Y[:, :1])  # compiled, tables and gene blocks built
            best_old = best_new = float("inf")
            ratios, roofs = [], []
            for _ in range(args.repeat):
                roofs.append(roofline(rng))
                t = time.perf_counter()
                run_old()
                t_old = time.perf_counter() - t
                t = time.perf_counter()
                run_new()
                t_new = time.perf_counter() - t
                best_old, best_new = min(best_old, t_old), min(best_new, t_new)
                ratios.append(t_new / t_old)
            gflop = 2 * T_rows.shape[0] * N * m * (n_rand + 1) / 1e9
            roof = max(roofs)
            print(f"| {name} | {best_old:.3f} | {best_new:.3f} | {gflop / best_old / roof:.0%} | "
                  f"{gflop / best_new / roof:.0%} | {np.median(ratios):.2f} |", flush=True)


if __name__ == "__main__":
    main()
