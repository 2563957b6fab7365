#!/usr/bin/env python
"""The analytic null vs the permutation test: agreement as n_rand grows, and a 1M-cell preview.

Usage::

    python benchmarks/analytic.py [--cells 1000000] [--density 0.03] [--slice 2000] [--n-rand 1000]
                                  [--quick] [--markdown FILE]

Part 1 -- agreement.  SecAct's permutation ``se`` and ``zscore`` (rng "srand",
seed 0) against the analytic limit (``null="analytic"``) for n_rand = 100,
400, 1600, 6400, on (a) a synthetic problem (2000 genes x 20 proteins x 100
samples) and (b) the real CytoSig signature on the Ly86 bulk example
(tests/data).  Reported: RMS relative se gap, RMS z gap, the standardised z gap
``u = dz * sqrt(n_rand / (1 + z^2 / 2))`` (Monte Carlo theory: RMS 1), the
largest z gap, the fraction of cells with the same p <= 0.05 decision, and the
log-log slopes of the se and z gaps against n_rand (theory: -0.5).

Part 2 -- preview.  A synthetic single-cell atlas: ``--cells`` cells x
(CytoSig's 4,881 genes + 1,000 others), Poisson-like counts at ``--density``,
sparse CSC, ``preprocess="scrnaseq"`` (library-size scaling, log2, row
centring; sparse stays sparse).  Times the set-up (streaming gene sums and row
means) and ONE streaming pass that computes all four statistics of every
cell with the analytic null and keeps the 3 most active proteins per cell
(``lazyact.top``, the cell-annotation table).  The permutation path
(``n_rand``, default 1000) is timed on the first ``--slice`` cells and
extrapolated linearly (its cost is ``p * nnz * n_rand``, linear in cells).

``groups(args, secactpy, roof)`` exposes part 2 as the ``analytic`` group of
``benchmarks/run.py`` (``python benchmarks/run.py --only analytic``) once
``"analytic"`` is in run.py's list of group modules.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import lazyact  # noqa: E402
from lazyact.ridge import RidgeModel, projection  # noqa: E402
from lazyact.ridge.analytic import AnalyticModel  # noqa: E402

LY86 = HERE.parent / "tests" / "data" / "Ly86-Fc_vs_Vehicle_logFC.txt"
N_RANDS = (100, 400, 1600, 6400)


def gaps(perm: dict, exact: dict, n_rand: int) -> dict:
    rel = (perm["se"] - exact["se"]) / exact["se"]
    dz = perm["zscore"] - exact["zscore"]
    u = dz * np.sqrt(n_rand / (1 + exact["zscore"] ** 2 / 2))
    return {
        "n_rand": n_rand,
        "se_rel_rms": float(np.sqrt(np.mean(rel ** 2))),
        "z_rms": float(np.sqrt(np.mean(dz ** 2))),
        "u_rms": float(np.sqrt(np.mean(u ** 2))),
        "z_max": float(np.abs(dz).max()),
        "same_p05": float(np.mean((perm["pvalue"] <= 0.05) == (exact["pvalue"] <= 0.05))),
    }


def slopes(rows: list[dict]) -> tuple[float, float]:
    n = np.log([r["n_rand"] for r in rows])
    return (float(np.polyfit(n, np.log([r["se_rel_rms"] for r in rows]), 1)[0]),
            float(np.polyfit(n, np.log([r["z_rms"] for r in rows]), 1)[0]))


def table(title: str, rows: list[dict], extra: str = "") -> str:
    s_se, s_z = slopes(rows)
    out = [f"**{title}**{extra}", "",
           "| n_rand | RMS rel. se gap | RMS z gap | RMS std. gap u | max abs z gap | same p<=0.05 decision |",
           "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['n_rand']} | {r['se_rel_rms']:.4f} | {r['z_rms']:.4f} | {r['u_rms']:.2f} | "
                   f"{r['z_max']:.3f} | {100 * r['same_p05']:.1f}% |")
    out += ["", f"log-log slope vs n_rand: se {s_se:.3f}, z {s_z:.3f} (theory -0.5)", ""]
    return "\n".join(out)


def agreement(n_rands=N_RANDS) -> str:
    parts = []
    rng = np.random.default_rng(42)
    X = rng.standard_normal((2000, 20))
    Y = rng.standard_normal((2000, 100))
    Y[:, :30] += 0.2 * X[:, :3] @ rng.standard_normal((3, 30))  # some true activity
    P = projection(X, 1e3)
    rows = np.arange(20)
    exact = AnalyticModel(P).compute(rows, Y)
    res = [gaps(RidgeModel(P, n_rand=n, rng="srand").compute(rows, Y), exact, n) for n in n_rands]
    parts.append(table("(a) synthetic", res, ": 2,000 genes x 20 proteins x 100 samples, lambda 1e3, rng srand"))

    act_a = lazyact.activity(str(LY86), "CytoSig", null="analytic")
    exact = {k: act_a[k][:, :] for k in ("se", "zscore", "pvalue")}
    res = []
    for n in n_rands:
        act = lazyact.activity(str(LY86), "CytoSig", n_rand=n)
        res.append(gaps({k: act[k][:, :] for k in ("se", "zscore", "pvalue")}, exact, n))
    parts.append(table("(b) real", res, f": CytoSig on Ly86 bulk (43 proteins x 5 samples, "
                                         f"{act_a.params['n_genes']} genes), rng srand"))
    return "\n".join(parts)


def atlas(n_cells: int, density: float, seed: int = 0):
    sig = lazyact.load_signature("CytoSig")
    genes = list(sig.index) + [f"OTHER{i}" for i in range(1000)]
    n_genes = len(genes)
    rng = np.random.default_rng(seed)
    nnz = rng.binomial(n_genes, density, n_cells)
    indptr = np.concatenate([[0], np.cumsum(nnz)]).astype(np.int64)
    indices = rng.integers(0, n_genes, int(indptr[-1]), dtype=np.int32)
    data = rng.geometric(0.4, indices.size).astype(np.float32)
    X = sp.csc_matrix((data, indices, indptr), shape=(n_genes, n_cells))
    X.sum_duplicates()
    return X, genes


def measure_preview(n_cells: int, density: float, slice_cells: int, n_rand: int) -> dict:
    """Time the analytic pass over all cells and the permutation path on a slice (see the module doc)."""
    t = time.perf_counter()
    X, genes = atlas(n_cells, density)
    r = {"n_cells": n_cells, "n_genes": len(genes), "nnz": int(X.nnz), "t_gen": time.perf_counter() - t,
         "slice": min(slice_cells, n_cells), "n_rand": n_rand}

    t = time.perf_counter()
    act = lazyact.activity(X, "CytoSig", genes=genes, preprocess="scrnaseq", null="analytic")
    r["t_setup"] = time.perf_counter() - t
    t = time.perf_counter()
    tops = lazyact.top(act, 3, progress=False)
    r["t_sweep"] = time.perf_counter() - t
    assert tops.shape == (n_cells, 6)

    t = time.perf_counter()
    perm = lazyact.activity(X, "CytoSig", genes=genes, preprocess="scrnaseq", n_rand=n_rand)
    r["t_psetup"] = time.perf_counter() - t
    t = time.perf_counter()
    perm.zscore[0, :1]  # the permutation table (cached per process) and JIT warm-up
    r["t_table"] = time.perf_counter() - t
    t = time.perf_counter()
    zp = perm.zscore[:, :r["slice"]]
    r["t_slice"] = time.perf_counter() - t
    za = act.zscore[:, :r["slice"]]
    dz = zp - za
    r["z_rms"] = float(np.sqrt(np.mean(dz ** 2)))
    r["u_rms"] = float(np.sqrt(np.mean((dz * np.sqrt(n_rand / (1 + za ** 2 / 2))) ** 2)))
    r["t_perm_all"] = r["t_slice"] * n_cells / r["slice"]
    return r


def preview(n_cells: int, density: float, slice_cells: int, n_rand: int) -> str:
    r = measure_preview(n_cells, density, slice_cells, n_rand)
    m, sl = r["n_cells"], r["slice"]
    out = [f"**Preview**: {m:,} cells x {r['n_genes']:,} genes (CytoSig's 4,881 + 1,000 others), "
           f"{r['nnz']:,} nonzeros ({100 * r['nnz'] / r['n_genes'] / m:.1f}%), CSC float32 counts, "
           f"preprocess='scrnaseq', CytoSig (43 proteins), {os.cpu_count()} CPU threads; "
           f"data generated in {r['t_gen']:.1f} s (not counted).", "",
           "| null | set-up | statistics for all cells | per 1,000 cells |", "|---|---:|---:|---:|",
           f"| analytic | {r['t_setup']:.1f} s | {r['t_sweep']:.1f} s (measured, one pass + top-3 table) | "
           f"{1e6 * r['t_sweep'] / m:.1f} ms |",
           f"| permutation, n_rand={n_rand} | {r['t_psetup']:.1f} s + {r['t_table']:.1f} s table | "
           f"{r['t_perm_all']:,.0f} s = {r['t_perm_all'] / 3600:.1f} h (extrapolated from {sl:,} cells "
           f"in {r['t_slice']:.1f} s) | {1e6 * r['t_slice'] / sl:.0f} ms |", "",
           f"Speed-up of the statistics: {r['t_perm_all'] / r['t_sweep']:,.0f}x.  On the {sl:,}-cell slice the "
           f"permutation z differs from the analytic z by RMS {r['z_rms']:.3f} (standardised RMS "
           f"{r['u_rms']:.2f}, Monte Carlo theory 1).", ""]
    return "\n".join(out)


def bench_preview(quick: bool) -> list[dict]:
    """Rows for ``benchmarks/run.py`` (``groups``): the analytic pass and the extrapolated permutation path."""
    r = measure_preview(100_000 if quick else 1_000_000, 0.03, 2000, 1000)
    what = f"CytoSig x {r['n_cells']:,} sparse cells (3%, scrnaseq)"
    return [dict(case=f"{what}: all statistics + top-3, null='analytic' (set-up {r['t_setup']:.1f} s extra)",
                 lazyact_s=r["t_sweep"]),
            dict(case=f"{what}: permutation n_rand={r['n_rand']}, extrapolated from {r['slice']:,} cells",
                 lazyact_s=r["t_perm_all"])]


def groups(args, secactpy, roof) -> dict:
    """Benchmark groups of this file for ``benchmarks/run.py`` (``--only analytic``)."""
    quick = bool(getattr(args, "quick", False))
    return {"analytic": lambda: bench_preview(quick)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--density", type=float, default=0.03)
    ap.add_argument("--slice", type=int, default=2000)
    ap.add_argument("--n-rand", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="100k cells, n_rand up to 1600")
    ap.add_argument("--markdown", type=Path, help="also write the report to this file")
    ap.add_argument("--skip-agreement", action="store_true")
    ap.add_argument("--skip-preview", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("LAZYACT_PROGRESS", "0")
    cells = 100_000 if args.quick else args.cells
    head = (f"lazyact {lazyact.__version__}, numpy {np.__version__}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs, {platform.python_version()}\n")
    print(head, flush=True)
    parts = [head]
    if not args.skip_agreement:
        parts.append(agreement(N_RANDS[:3] if args.quick else N_RANDS))
        print(parts[-1], flush=True)
    if not args.skip_preview:
        parts.append(preview(cells, args.density, args.slice, args.n_rand))
        print(parts[-1], flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(parts))


if __name__ == "__main__":
    main()
