#!/usr/bin/env python
"""Byte-for-byte check of the sparse in-flight kernel against another checkout.

Computes full blocks of all four statistics through ``RidgeModel.compute_sparse``
on a fixed SecAct-sized case (1,170 proteins x 7,919 genes, srand table,
n_rand 1000, 5 %-density cells with an empty and a constant cell) for every
kernel path: all proteins over a block of cells, one cell, a protein subset,
and a few proteins over a wide block (150 cells); then writes them (``--save``) or compares
them bit for bit with a saved file (``--compare``).

    PYTHONPATH=/path/to/main/src python benchmarks/sparse_bits.py --save main.npz
    python benchmarks/sparse_bits.py --compare main.npz
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.sparse as sp

P, N, M = 1170, 7919, 24


def outputs(n_rand: int = 1000) -> dict[str, np.ndarray]:
    import lazyact
    from lazyact.ridge import RidgeModel, projection

    print(f"lazyact from {lazyact.__file__}", file=sys.stderr)
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N, P))
    model = RidgeModel(projection(X), n_rand=n_rand)
    Y = sp.random(N, M, density=0.05, format="csc", random_state=rng)
    Y.data = np.log2(np.ceil(Y.data * 10) * 13.7 + 1)
    Y = sp.lil_matrix(Y)
    Y[:, 5] = 0.0  # an empty cell
    Y = sp.csc_matrix(Y)
    r = rng.random(N) * 0.1
    mu = rng.random(M)
    sigma = 1 + rng.random(M)
    sigma[7] = 0.0  # a constant cell
    out = {}
    cases = {"all": (np.arange(P), slice(None)), "one_cell": (np.arange(P), [9]),
             "subset": (np.arange(100, 140), slice(None)), "few": (np.array([3, 500, 1169]), slice(None)),
             "one_protein": (np.array([42]), slice(None))}
    wide = sp.random(N, 150, density=0.05, format="csc", random_state=rng)  # few proteins, many cells
    wide.data = np.log2(np.ceil(wide.data * 10) * 13.7 + 1)
    mu_w, sigma_w = rng.random(150), 1 + rng.random(150)
    for name, rows in (("few_wide", np.array([3, 500, 1169])), ("one_protein_wide", np.array([42]))):
        t = time.perf_counter()
        res = model.compute_sparse(rows, wide, r, mu_w, sigma_w)
        print(f"{name}: {time.perf_counter() - t:.2f} s", file=sys.stderr)
        for k, v in res.items():
            out[f"{name}/{k}"] = np.ascontiguousarray(v)
    for name, (rows, cols) in cases.items():
        t = time.perf_counter()
        res = model.compute_sparse(rows, Y[:, cols], r, mu[cols], sigma[cols])
        print(f"{name}: {time.perf_counter() - t:.2f} s", file=sys.stderr)
        for k, v in res.items():
            out[f"{name}/{k}"] = np.ascontiguousarray(v)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save")
    g.add_argument("--compare")
    args = ap.parse_args(argv)
    out = outputs()
    if args.save:
        np.savez(args.save, **out)
        return 0
    ref = np.load(args.compare)
    bad = [k for k in ref.files if ref[k].tobytes() != out[k].tobytes()]
    # within this run: a slice equals the same elements of the full block, bit for bit
    for name, rows, cols in (("one_cell", slice(None), [9]), ("subset", slice(100, 140), slice(None)),
                             ("few", [3, 500, 1169], slice(None)), ("one_protein", [42], slice(None))):
        for k in ("beta", "se", "zscore", "pvalue"):
            same = out[f"{name}/{k}"].tobytes() == np.ascontiguousarray(out[f"all/{k}"][rows][:, cols]).tobytes()
            if not same:
                bad.append(f"{name}/{k} vs all")
                print(f"{name}/{k} differs from the same elements of all/{k}")
    for k in ref.files:
        diff = np.abs(ref[k] - out[k])
        print(f"{k:24s} {'identical' if k not in bad else 'DIFFERS'} max |diff| {np.nanmax(diff):.3g}")
    print("all identical" if not bad else f"{len(bad)} arrays differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
