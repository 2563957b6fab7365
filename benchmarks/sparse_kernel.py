"""The sparse in-flight kernel against the float64 GEMM roofline, measured side by side.

Group ``kernel`` of ``benchmarks/run.py`` (``--only kernel``), or standalone::

    python benchmarks/sparse_kernel.py [--cells 64] [--rounds 5]

SecAct-sized (1,170 proteins x 7,919 genes, srand table, n_rand 1000) on random
5 %-density cells (~396 nonzeros each), through ``RidgeModel.compute_sparse``:

* all proteins over a block of cells (float64, and the optional float32 with its
  error against float64: max |dz| and the share of p-values that move);
* one cell over all proteins, cold (a cell not computed before; tables and the
  packed projection built, as in a lazy session after its first slice);
* one protein over a block of 256 cells (a default column chunk), reported per
  100k cells.

Useful work is ``2 * p * nnz * (n_rand + 1)`` FLOP.  Each timing alternates with
the roofline GEMM (1170 x 7919 @ 7919 x 1000, float64, all threads) and the row
reports the median over rounds of kernel rate / neighbouring GEMM rate, so a
machine shared with other jobs slows both alike (the absolute seconds still
vary; the ratio is the figure to compare).
Each GEMM waits for OpenBLAS's spinning idle threads to sleep before the next timing
(``benchmarks/roofline.py``: right after a threaded GEMM they take a core for ~0.1 s).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from roofline import gemm as gemm_callable

P, N, N_RAND = 1170, 7919, 1000
HERE = Path(__file__).resolve().parent


def _case(m: int, seed: int = 5):
    from lazyact.ridge import RidgeModel, projection

    rng = np.random.default_rng(seed)
    proj = projection(rng.standard_normal((N, P)))
    Y = sp.random(N, m, density=0.05, format="csc", random_state=rng)
    Y.data = np.log2(np.ceil(Y.data * 10) * 13.7 + 1)
    r = rng.random(N) * 0.1
    mu = rng.random(m)
    sigma = 1 + rng.random(m)
    return proj, Y, r, mu, sigma, RidgeModel


def _timed(fn, gemm, rounds):
    """Median seconds of ``fn`` and median of (its rate / the GEMM rate next to it)."""
    secs, rel = [], []
    for _ in range(rounds):
        before = gemm()
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        secs.append(dt)
        rel.append((before + gemm()) / 2)
    return float(np.median(secs)), np.array(secs), np.array(rel), out


def bench_kernel(cells: int = 64, rounds: int = 5, protein_cells: int = 256) -> list[dict]:
    proj, Y, r, mu, sigma, RidgeModel = _case(max(cells, protein_cells))
    gemm = gemm_callable()
    rows = []
    every = np.arange(P)
    models = {"float64": RidgeModel(proj, n_rand=N_RAND), "float32": RidgeModel(proj, n_rand=N_RAND, dtype="float32")}
    block = Y[:, :cells]
    results = {}
    for name, model in models.items():
        model.compute_sparse(every, Y[:, [0]], r, mu[:1], sigma[:1])  # tables, packed tiles, compilation
        _, secs, roof, out = _timed(lambda: model.compute_sparse(every, block, r, mu[:cells], sigma[:cells]),
                                    gemm, rounds)
        results[name] = out
        gflops = 2.0 * P * block.nnz * (N_RAND + 1) / secs / 1e9
        row = dict(case=f"sparse kernel, all {P} proteins x {cells} cells (5 %, {block.nnz / cells:.0f} nnz/cell), "
                        f"n_rand {N_RAND}, {name}: {cells / np.median(secs):.1f} cells/s",
                   lazyact_s=float(np.median(secs)), gflops=float(np.median(gflops)),
                   roofline=float(np.median(gflops / roof)))
        if name == "float32":
            a, b = results["float64"], out
            moved = a["pvalue"] != b["pvalue"]
            row["max_dz"] = float(np.abs(a["zscore"] - b["zscore"]).max())
            row["case"] += (f"; vs float64: {100 * moved.mean():.3f} % of p-values move "
                            f"(max {np.abs(a['pvalue'] - b['pvalue']).max() * (N_RAND + 1):.0f} permutation step)")
        rows.append(row)
    # one cell, all proteins, cold: cells never computed before, one at a time
    model = models["float64"]
    secs, rel = [], []
    for j in range(cells, cells + 2 * rounds + 1):
        before = gemm()
        t = time.perf_counter()
        model.compute_sparse(every, Y[:, [j]], r, mu[[j]], sigma[[j]])
        dt = time.perf_counter() - t
        secs.append(dt)
        rel.append(2.0 * P * Y[:, [j]].nnz * (N_RAND + 1) / dt / 1e9 / ((before + gemm()) / 2))
    dt = float(np.median(secs))
    rows.append(dict(case=f"one sparse cell (~{Y[:, cells:cells + 11].nnz / 11:.0f} nnz), all proteins, cold "
                          f"(median of {len(secs)} cells)", lazyact_s=dt,
                     gflops=2.0 * P * Y.nnz / Y.shape[1] * (N_RAND + 1) / dt / 1e9, roofline=float(np.median(rel))))
    # one protein over a default column chunk, per 100k cells
    chunk = Y[:, :protein_cells]
    model.compute_sparse(np.array([3]), chunk, r, mu[:protein_cells], sigma[:protein_cells])  # its permuted values
    _, secs, roof, _ = _timed(lambda: model.compute_sparse(np.array([3]), chunk, r, mu[:protein_cells],
                                                           sigma[:protein_cells]), gemm, rounds)
    gflops = 2.0 * chunk.nnz * (N_RAND + 1) / secs / 1e9
    rows.append(dict(case=f"one protein over 100k sparse cells, from {protein_cells}-cell chunks "
                          f"(x{100_000 / protein_cells:.0f}, kernel only)",
                     lazyact_s=float(np.median(secs)) * 100_000 / protein_cells, gflops=float(np.median(gflops)),
                     roofline=float(np.median(gflops / roof))))
    return rows


def groups(args, secactpy, roof) -> dict:
    """Benchmark group of this file for ``benchmarks/run.py`` (``--only kernel``)."""
    quick = bool(getattr(args, "quick", False))
    return {"kernel": lambda: bench_kernel(cells=32 if quick else 64, rounds=3 if quick else 5)}


def main(argv=None) -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    for row in bench_kernel(args.cells, args.rounds):
        print(f"{row['case']}: {row['lazyact_s']:.3f} s, {row['gflops']:.1f} GFLOP/s, "
              f"{100 * row['roofline']:.0f} % of roofline" + (f", max |dz| {row['max_dz']:.1e}" if "max_dz" in row
                                                              else ""))


if __name__ == "__main__":
    main()
