"""Further benchmark groups for ``benchmarks/run.py``: stored results (HDF5 layout and writing).

``groups(args, secactpy, roof)`` returns ``{name: callable -> list of row dicts}``; run.py
prints them in its table (``lazyact s``; ``SecActPy s`` where a SecActPy counterpart
exists; ``ratio`` = SecActPy / lazyact).

* ``chunks``: reading one protein row, one block of 1,000 samples and one sample from a
  stored ``zscore`` dataset, with lazyact's chunk shape
  (:func:`lazyact.array.sinks.chunk_shape`) vs SecActPy's streaming writer's
  ``(n_proteins, min(1000, n_samples))``; both gzip, cold HDF5 chunk cache, same data.
* ``write``: ``act.to_hdf5`` of CytoSig activity on a generated sparse ``.h5ad`` of
  200,000 cells (``--quick``: 20,000) in a separate process: seconds, MB/s of results
  written (4 statistics x float64), samples/s and the process's peak RSS. n_rand=100:
  the dense-per-block path makes n_rand=1000 take ten times longer.

Run only these: ``python benchmarks/run.py --only chunks write``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _secactpy_chunks(p: int, m: int) -> tuple[int, int]:
    return (p, min(1000, m))  # secactpy/batch.py StreamingResultWriter


def _write_dataset(path: Path, data_fn, shape, chunks) -> float:
    t = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("zscore", shape=shape, dtype="f8", chunks=chunks, compression="gzip")
        step = chunks[1] * max(1, 4096 // chunks[1])
        for lo in range(0, shape[1], step):
            hi = min(shape[1], lo + step)
            ds[:, lo:hi] = data_fn(lo, hi)
    return time.perf_counter() - t


def _read_times(path: Path, p: int, m: int) -> dict:
    rng = np.random.default_rng(1)
    out = {}
    rows = rng.integers(0, p, 3)
    starts = rng.integers(0, max(1, m - 1000), 3)
    cols = rng.integers(0, m, 3)

    def best(fn):
        times = []
        for i in range(3):
            with h5py.File(path, "r", rdcc_nbytes=0) as f:  # cold chunk cache each time
                ds = f["zscore"]
                t = time.perf_counter()
                fn(ds, i)
                times.append(time.perf_counter() - t)
        return min(times)

    out["row"] = best(lambda ds, i: ds[int(rows[i]), :])
    out["block"] = best(lambda ds, i: ds[:, int(starts[i]):int(starts[i]) + 1000])
    out["col"] = best(lambda ds, i: ds[:, int(cols[i])])
    return out


def bench_chunks(quick: bool) -> list[dict]:
    from lazyact.array.sinks import chunk_shape

    rows = []
    shapes = [(43, 200_000), (1170, 20_000 if quick else 50_000)]
    for p, m in shapes:
        rng = np.random.default_rng(0)
        base = rng.standard_normal((p, 1)) * 3

        def data(lo, hi, base=base, p=p):
            r = np.random.default_rng(lo)
            return np.round(base + r.standard_normal((p, hi - lo)), 6)  # z-score-like, 6 decimals

        ours = chunk_shape((p, m), 8)
        theirs = _secactpy_chunks(p, m)
        with tempfile.TemporaryDirectory() as d:
            res = {}
            for tag, ch in (("lazyact", ours), ("secactpy", theirs)):
                path = Path(d) / f"{tag}.h5"
                wt = _write_dataset(path, data, (p, m), ch)
                res[tag] = _read_times(path, p, m)
                res[tag]["write"] = wt
                res[tag]["size"] = path.stat().st_size
        for what, label in (("row", "one protein row"), ("block", "1,000-sample block"), ("col", "one sample")):
            rows.append(dict(case=f"read {label} of {p}x{m:,} zscore, chunks {ours} vs SecActPy {theirs}",
                             lazyact_s=res["lazyact"][what], secactpy_s=res["secactpy"][what]))
        rows.append(dict(case=f"gzip-write {p}x{m:,} zscore ({res['lazyact']['size'] / 2**20:.0f} vs "
                              f"{res['secactpy']['size'] / 2**20:.0f} MiB)",
                         lazyact_s=res["lazyact"]["write"], secactpy_s=res["secactpy"]["write"]))
    return rows


def make_sparse_h5ad(path: Path, n_cells: int, genes: list[str], nnz_per_cell: int = 300, seed: int = 0) -> Path:
    """A cells x genes CSR .h5ad of Poisson-ish counts, written chunk-wise with h5py."""
    rng = np.random.default_rng(seed)
    n_genes = len(genes)
    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
        g = f.create_group("X")
        g.attrs["encoding-type"], g.attrs["encoding-version"] = "csr_matrix", "0.1.0"
        g.attrs["shape"] = np.array([n_cells, n_genes])
        nnz_total = n_cells * nnz_per_cell
        data = g.create_dataset("data", shape=(nnz_total,), dtype="f4", chunks=(1 << 18,))
        ind = g.create_dataset("indices", shape=(nnz_total,), dtype="i4", chunks=(1 << 18,))
        g.create_dataset("indptr", data=np.arange(n_cells + 1, dtype=np.int64) * nnz_per_cell)
        popular = rng.permutation(n_genes)
        weights = 1.0 / np.arange(1, n_genes + 1) ** 0.8
        weights /= weights.sum()
        step = 10_000
        for lo in range(0, n_cells, step):
            hi = min(n_cells, lo + step)
            k = hi - lo
            picks = rng.choice(n_genes, size=(k, nnz_per_cell * 2), p=weights)
            cols = np.empty((k, nnz_per_cell), dtype=np.int32)
            for i in range(k):
                u = np.unique(popular[picks[i]])
                if u.size < nnz_per_cell:
                    u = np.unique(np.concatenate([u, rng.choice(n_genes, nnz_per_cell * 2)]))
                cols[i] = np.sort(rng.choice(u, nnz_per_cell, replace=False))
            ind[lo * nnz_per_cell:hi * nnz_per_cell] = cols.ravel()
            data[lo * nnz_per_cell:hi * nnz_per_cell] = (rng.poisson(1.5, k * nnz_per_cell) + 1).astype("f4")
        for key, names in (("obs", [f"cell{i}" for i in range(n_cells)]), ("var", genes)):
            grp = f.create_group(key)
            grp.attrs["encoding-type"], grp.attrs["encoding-version"] = "dataframe", "0.2.0"
            grp.attrs["_index"] = "_index"
            grp.attrs["column-order"] = np.array([], dtype="f8")
            ds = grp.create_dataset("_index", data=np.array(names, dtype=object), dtype=str_dt)
            ds.attrs["encoding-type"], ds.attrs["encoding-version"] = "string-array", "0.2.0"
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            grp = f.create_group(key)
            grp.attrs["encoding-type"], grp.attrs["encoding-version"] = "dict", "0.1.0"
    return path


WRITE_SCRIPT = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[4])
import lazyact
from lazyact.results import ActivityIO
inp, out, n_rand = sys.argv[1], sys.argv[2], int(sys.argv[3])
pre = "scrnaseq"
try:
    act = lazyact.activity(inp, "CytoSig", n_rand=n_rand, preprocess=pre)
except (ImportError, ModuleNotFoundError):
    pre = "none"  # single-cell preprocessing not available in this checkout
    act = lazyact.activity(inp, "CytoSig", n_rand=n_rand, preprocess=pre)
act.zscore[:, :1]  # tables built, kernels compiled
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
compute_s = None
if os.environ.get("LAZYACT_BENCH_COMPUTE_ONLY") == "1":  # the same sweep without writing
    t = time.perf_counter()
    act.summary(progress=False)
    compute_s = time.perf_counter() - t
t = time.perf_counter()
ActivityIO.to_hdf5(act, out, progress=False, overwrite=True)
dt = time.perf_counter() - t
p, m = act.shape
print(json.dumps({"seconds": dt, "p": p, "m": m, "preprocess": pre, "n_genes": act.params.get("n_genes"),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_before_mb": rss_before,
                  "compute_only_s": compute_s,
                  "file_mb": os.path.getsize(out) / 2**20, "threads": len(os.sched_getaffinity(0))}))
"""


def bench_write(quick: bool, n_cells: int | None = None, n_rand: int = 100, keep: str | None = None) -> list[dict]:
    import lazyact

    n_cells = n_cells or (20_000 if quick else 200_000)
    sig = lazyact.load_signature("CytoSig")
    genes = list(sig.index) + [f"GENE{i}" for i in range(1000)]
    with tempfile.TemporaryDirectory() as d:
        src = Path(keep) if keep else Path(d) / "cells.h5ad"
        if not src.exists():
            t = time.perf_counter()
            make_sparse_h5ad(src, n_cells, genes)
            print(f"# generated {src} ({src.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
        out = Path(d) / "activity.h5"
        proc = subprocess.run([sys.executable, "-c", WRITE_SCRIPT, str(src), str(out), str(n_rand), str(SRC)],
                              capture_output=True, text=True, env=dict(os.environ, LAZYACT_PROGRESS="0"))
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return []
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    raw_mb = 4 * r["p"] * r["m"] * 8 / 2**20
    row = dict(case=(f"to_hdf5 CytoSig x {r['m']:,} sparse cells (preprocess={r['preprocess']}, n_rand={n_rand}, "
                     f"{r['n_genes']} genes): {raw_mb / r['seconds']:.1f} MB/s of results, "
                     f"{r['m'] / r['seconds']:,.0f} cells/s, file {r['file_mb']:.0f} MiB"),
               lazyact_s=r["seconds"], rss_mb=r["rss_mb"])
    print(json.dumps(r), file=sys.stderr)
    return [row]


def groups(args, secactpy, roof) -> dict:
    """Benchmark groups of this file, keyed by name (see ``run.py --only``)."""
    quick = bool(getattr(args, "quick", False))
    return {"chunks": lambda: bench_chunks(quick), "write": lambda: bench_write(quick)}


if __name__ == "__main__":  # python benchmarks/cases.py write [n_cells] [n_rand] [keep.h5ad]
    sys.path.insert(0, str(SRC))
    which = sys.argv[1] if len(sys.argv) > 1 else "write"
    if which == "write":
        n = int(sys.argv[2]) if len(sys.argv) > 2 else None
        nr = int(sys.argv[3]) if len(sys.argv) > 3 else 100
        print(bench_write(False, n, nr, sys.argv[4] if len(sys.argv) > 4 else None))
    else:
        for r in bench_chunks(False):
            print(r)
