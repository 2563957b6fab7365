"""Generate the single-cell / spatial golden fixtures from SecActPy 0.3.1.

Run with the SecActPy virtualenv (NOT the lazyact environment)::

    /work/secactpy-venv/bin/python tests/goldens/make_goldens_sc.py [--only data,sc,st,checks]

Parts:

- ``data``:   writes the synthetic input ``tests/data/sc_synth_cytosig.h5ad`` (seeded, deterministic).
- ``sc``:     ``secact_activity_inference_scrnaseq`` fixtures (single-cell dense, single-cell
              ``sparse_mode=True``, pseudo-bulk) -> ``tests/data/goldens/sc_*.npz``.
- ``st``:     ``secact_activity_inference_st`` fixtures (spot level dense / sparse_mode,
              cell-type pseudo-bulk) -> ``tests/data/goldens/st_*.npz``.
- ``checks``: consistency checks between the paths (printed only; the numbers are quoted in
              NOTES.md).

This script only *calls* SecActPy; no SecActPy code is copied here.  It wraps a few SecActPy
internals (``secactpy.inference.ridge``, ``secactpy.batch.ridge_batch``,
``secactpy.batch._compute_population_stats``) with recording shims to capture what the
pipelines feed to the regression.  See README.md and NOTES.md in this folder.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sps

import secactpy
import secactpy.batch as sp_batch
import secactpy.inference as sp_inf
from secactpy.signature import load_signature

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "tests" / "data" / "goldens"
H5AD = REPO / "tests" / "data" / "sc_synth_cytosig.h5ad"
H5AD_REL = "tests/data/sc_synth_cytosig.h5ad"
VERSION = secactpy.__version__
N_FIRST = 20  # Y_in is stored for the first N_FIRST cells only


def _glibc() -> str:
    try:
        return subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:  # pragma: no cover
        return "unknown"


META = {
    "secactpy_version": np.array(VERSION),
    "numpy_version": np.array(np.__version__),
    "platform": np.array(f"{platform.platform()}; {_glibc()}; python {platform.python_version()}"),
}


def save(name: str, **arrays) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = dict(META)
    for k, v in arrays.items():
        payload[k] = np.asarray(v)
    np.savez_compressed(OUT / name, **payload)
    print(f"  wrote {name} ({(OUT / name).stat().st_size / 1024:.1f} KiB)", flush=True)


def _u(names) -> np.ndarray:
    return np.array([str(n) for n in names], dtype=np.str_)


# --------------------------------------------------------------------------------------
# (a) synthetic input
# --------------------------------------------------------------------------------------

N_CELLS = 400
N_SIG_GENES = 2500          # CytoSig genes used (before the name tweaks below)
N_FAKE = 499                # GENEX1..GENEX499 (not in any signature)
CELL_TYPES = ["B_cell", "Macrophage", "NK", "T_cell", "fibroblast"]   # note lower-case 'fibroblast'
PROGRAMMES = {              # planted CytoSig responses per cell type (signature-driven log-rates)
    "B_cell": ["IL4", "IL21"],
    "Macrophage": ["IFNG", "TNFA"],
    "NK": ["IL12", "IFN1"],
    "T_cell": ["IL2", "IL15"],
    "fibroblast": ["TGFB1", "WNT3A"],
}


def make_data() -> None:
    import anndata as ad

    print("(a) synthetic h5ad", flush=True)
    gen = np.random.default_rng(20240601)
    sig = load_signature("cytosig")
    sig_genes = list(sig.index)
    orf = [g for g in sig_genes if g != g.upper()]          # 31 mixed-case "CxorfY" genes
    upper = [g for g in sig_genes if g == g.upper()]
    chosen = list(gen.choice(upper, N_SIG_GENES - 6, replace=False)) + list(gen.choice(orf, 6, replace=False))
    gen.shuffle(chosen)
    genes = chosen + [f"GENEX{i}" for i in range(1, N_FAKE + 1)]
    n_genes = len(genes) + 1                                # + one duplicate (below)

    # cell types (unequal sizes) and spatial layout
    sizes = [70, 95, 55, 110, 70]
    ctypes = np.repeat(np.array(CELL_TYPES, dtype=object), sizes)
    gen.shuffle(ctypes)

    # log-rate = gene base + cell library effect + planted programmes (signature-driven)
    base = gen.normal(-3.3, 1.4, size=len(genes))
    lib = gen.normal(0.0, 0.35, size=N_CELLS)
    S = sig.reindex(genes).fillna(0.0).to_numpy()           # genes x 43 (0 for non-signature genes)
    col = {p: i for i, p in enumerate(sig.columns)}
    logr = base[:, None] + lib[None, :]
    for j in range(N_CELLS):
        for p in PROGRAMMES[ctypes[j]]:
            a = gen.uniform(0.8, 2.0)
            logr[:, j] += a * np.clip(S[:, col[p]], -3, 3)
    mean = np.exp(logr)
    theta = 2.0
    counts = gen.poisson(gen.gamma(theta, mean / theta)).astype(np.float64)   # genes x cells

    # edge cases
    zero_genes = [g for g in chosen[:200] if g == g.upper()][:4]
    for g in zero_genes:                                     # all-zero signature genes
        counts[genes.index(g), :] = 0.0
    i_low, i_ver, i_dup = 10, 11, 12                         # lower-cased / version suffix / duplicated
    names = list(genes)
    dup_src = names[i_dup]
    names[i_low] = names[i_low].lower()
    names[i_ver] = names[i_ver] + ".2"
    dup_name = dup_src.lower() + ".1"                        # cleans up to the same symbol as dup_src
    dup_counts = gen.poisson(gen.gamma(theta, mean[i_dup] * 3.0 / theta)).astype(np.float64)
    # insert the duplicate at position 5 (before its twin, with a HIGHER mean: it wins the dedup)
    names.insert(5, dup_name)
    counts = np.insert(counts, 5, dup_counts, axis=0)
    assert counts.shape[0] == n_genes
    assert (counts.sum(axis=0) > 0).all()

    X = sps.csr_matrix(counts.T.astype(np.float32))
    X.sort_indices()
    cell_names = [f"cell{j:03d}" for j in range(N_CELLS)]
    obs = pd.DataFrame({"cell_type": pd.Categorical(ctypes, categories=sorted(CELL_TYPES))}, index=cell_names)
    var = pd.DataFrame(index=pd.Index(names, name=None))
    centres = {ct: np.array([(i % 3) * 40.0, (i // 3) * 40.0]) for i, ct in enumerate(CELL_TYPES)}
    spatial = np.stack([centres[c] for c in ctypes]) + gen.normal(0, 8.0, size=(N_CELLS, 2))
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.obsm["spatial"] = np.round(spatial, 3)
    adata.uns["generator"] = "tests/goldens/make_goldens_sc.py (seed 20240601)"
    adata.uns["planted_programmes"] = {k: np.array(v) for k, v in PROGRAMMES.items()}
    adata.uns["edge_cases"] = {
        "all_zero_genes": np.array(zero_genes),
        "lowercased_gene": np.array(names[i_low + 1]),
        "version_suffix_gene": np.array(names[i_ver + 1]),
        "duplicate_pair": np.array([dup_name, dup_src]),
        "mixed_case_orf_genes": np.array([g for g in names if g in orf]),
    }
    H5AD.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(H5AD, compression="gzip")
    dens = X.nnz / (X.shape[0] * X.shape[1])
    print(f"  wrote {H5AD.name}: {X.shape} density {dens:.3f}, {H5AD.stat().st_size / 1024:.1f} KiB", flush=True)


# --------------------------------------------------------------------------------------
# capture helpers
# --------------------------------------------------------------------------------------

class _Capture:
    """Record the X/Y fed to secactpy.inference.ridge / secactpy.batch.ridge_batch and the
    population statistics computed by secactpy.batch._compute_population_stats."""

    def __init__(self):
        self.ridge = []
        self.batch = []
        self.stats = []

    def __enter__(self):
        self._o_ridge = sp_inf.ridge
        self._o_batch = sp_batch.ridge_batch
        self._o_stats = sp_batch._compute_population_stats

        def ridge_w(*a, **kw):
            self.ridge.append({"X": np.array(kw["X"], copy=True), "Y": np.array(kw["Y"], copy=True),
                               "kw": {k: v for k, v in kw.items() if k not in ("X", "Y")}})
            return self._o_ridge(*a, **kw)

        def batch_w(*a, **kw):
            Y = kw["Y"]
            self.batch.append({"X": np.array(kw["X"], copy=True),
                               "Y": Y.copy() if sps.issparse(Y) else np.array(Y, copy=True),
                               "kw": {k: v for k, v in kw.items() if k not in ("X", "Y")}})
            return self._o_batch(*a, **kw)

        def stats_w(*a, **kw):
            st = self._o_stats(*a, **kw)
            self.stats.append(st)
            return st

        sp_inf.ridge = ridge_w
        sp_batch.ridge_batch = batch_w
        sp_batch._compute_population_stats = stats_w
        return self

    def __exit__(self, *exc):
        sp_inf.ridge = self._o_ridge
        sp_batch.ridge_batch = self._o_batch
        sp_batch._compute_population_stats = self._o_stats


def _outputs(res):
    beta = res["beta"]
    out = {k: res[k].to_numpy(dtype=np.float64) for k in ("beta", "se", "zscore", "pvalue")}
    for k in ("se", "zscore", "pvalue"):
        assert list(res[k].index) == list(beta.index) and list(res[k].columns) == list(beta.columns)
    return out, _u(beta.index), _u(beta.columns)


def _first_cols(out, samples, n):
    """Keep only the first n sample columns (size budget); records the full count."""
    total = len(samples)
    out = {k: v[:, :n] for k, v in out.items()}
    return out, samples[:n], {"n_samples_total": np.int64(total), "n_samples_stored": np.int64(min(n, total))}


COMMON = dict(sig_matrix="cytosig", lambda_=5e5, seed=0, rng_method="srand", backend="numpy", verbose=False)


def run_sc(**kw):
    with _Capture() as cap:
        res = sp_inf.secact_activity_inference_scrnaseq(str(H5AD), cell_type_col="cell_type", **COMMON, **kw)
    return res, cap


def run_st(**kw):
    with _Capture() as cap:
        res = sp_inf.secact_activity_inference_st(str(H5AD), **COMMON, **kw)
    return res, cap


def _params(n_rand, **flags):
    d = dict(input_file=np.array(H5AD_REL), signature=np.array("CytoSig"), is_group_sig=np.bool_(False),
             lambda_=np.float64(5e5), n_rand=np.int64(n_rand), seed=np.int64(0), rng=np.array("srand"),
             backend=np.array("numpy"))
    for k, v in flags.items():
        d[k] = np.asarray(v)
    return d


def _x_stats(genes):
    """Column mean / sd (ddof=1) of the raw CytoSig rows that were z-scored into X_in."""
    Xa = load_signature("cytosig").loc[list(genes)].astype(np.float64)
    return {"X_sig_colmean": Xa.mean().to_numpy(), "X_sig_colsd": Xa.std(ddof=1).to_numpy()}


def _recompute_dense(genes_in_order, *, drop_zero_genes: bool, scale=1e5):
    """Independent re-derivation of the dense path's per-gene / per-cell statistics."""
    import anndata as ad
    a = ad.read_h5ad(H5AD)
    C = a.X.T.tocsr().astype(np.float64).toarray()          # genes x cells
    names = list(a.var_names)
    if drop_zero_genes:
        keep = C.sum(axis=1) > 0
        C = C[keep]
        names = [n for n, k in zip(names, keep) if k]
    names = [n.upper() for n in names]
    names = [n.split(".")[0] for n in names]
    best = {}
    m = C.mean(axis=1)
    for i, n in enumerate(names):
        if n not in best or m[i] > m[best[n]]:
            best[n] = i
    keep = sorted(best.values())
    C = C[keep]
    names = [names[i] for i in keep]
    L = np.log2(C / C.sum(axis=0) * scale + 1)
    r = L.mean(axis=1)
    pos = {n: i for i, n in enumerate(names)}
    idx = [pos[g] for g in genes_in_order]
    Yc = L[idx] - r[idx, None]
    mu = Yc.mean(axis=0)
    sd = Yc.std(axis=0, ddof=1)
    return {"row_means": r[idx], "mu": mu, "sigma": sd, "Yz": (Yc - mu) / sd, "Ylog": L[idx]}


# --------------------------------------------------------------------------------------
# (b) scRNA-seq
# --------------------------------------------------------------------------------------

def make_sc() -> None:
    print("(b) scRNA-seq", flush=True)
    sig = load_signature("cytosig")

    # --- single-cell level, default (dense) path
    ref_n100 = "sc_cell_dense_n100.npz"
    for n_rand in (100, 1000):
        t0 = time.time()
        res, cap = run_sc(is_single_cell_level=True, n_rand=n_rand)
        assert len(cap.ridge) == 1 and not cap.batch
        call = cap.ridge[0]
        out, proteins, samples = _outputs(res)
        assert list(proteins) == list(sig.columns)
        # gene order = expression order (Y.index.intersection(X.index)); recover from the h5ad
        rec_genes = _dense_gene_order(drop_zero_genes=False)
        rec = _recompute_dense(rec_genes, drop_zero_genes=False)
        np.testing.assert_allclose(rec["Yz"], call["Y"], rtol=0, atol=1e-12)
        Xa = sig.loc[rec_genes].astype(np.float64)
        np.testing.assert_array_equal(((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy(), call["X"])
        extra = {}
        if n_rand == 100:
            extra.update(Y_in=call["Y"][:, :N_FIRST], row_means=rec["row_means"], mu=rec["mu"], sigma=rec["sigma"],
                         Ylog_first=rec["Ylog"][:, :N_FIRST], **_x_stats(rec_genes))
            fname = ref_n100
        else:
            extra["Y_in_ref"] = np.array(ref_n100)
            out, samples, more = _first_cols(out, samples, 100)
            extra.update(more)
            fname = "sc_cell_dense_n1000.npz"
        save(fname, **_params(n_rand, function="secact_activity_inference_scrnaseq", is_single_cell_level=True,
                               sparse_mode=False, cell_type_col="cell_type", scale_factor=1e5,
                               preprocess="per-cell x/libsize*1e5 -> log2(x+1) -> row-centre (all cells) -> "
                                          "overlap (expression order) -> column z-score ddof=1"),
             genes=_u(rec_genes), proteins=proteins, samples=samples, **extra, **out)
        print(f"    {time.time() - t0:.1f}s", flush=True)

    # --- single-cell level, sparse_mode=True (ridge_batch with row_center=True)
    t0 = time.time()
    res, cap = run_sc(is_single_cell_level=True, n_rand=100, sparse_mode=True)
    assert not cap.ridge and len(cap.batch) == 1 and len(cap.stats) == 1
    call, st = cap.batch[0], cap.stats[0]
    out, proteins, samples = _outputs(res)
    expr_genes = set(_clean_gene_names(drop_zero_genes=False))
    genes_sig = [g for g in sig.index if g in expr_genes]
    Xa = sig.loc[genes_sig].astype(np.float64)
    np.testing.assert_array_equal(((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy(), call["X"])
    assert call["kw"]["row_center"] is True and call["kw"]["sparse_mode"] is False
    Ylog = call["Y"].toarray()
    save("sc_cell_sparse_n100.npz",
         **_params(100, function="secact_activity_inference_scrnaseq", is_single_cell_level=True,
                   sparse_mode=True, cell_type_col="cell_type", scale_factor=1e5, batch_size=5000,
                   preprocess="per-cell x*(1e5/libsize, float32 if X is float32) -> log2(x+1) (sparse) -> "
                              "overlap (SIGNATURE order) -> in-flight row-centre + column z-score in ridge_batch"),
         genes=_u(genes_sig), proteins=proteins, samples=samples,
         Ylog_first=Ylog[:, :N_FIRST], row_means=st.row_means, mu=st.mu, sigma=st.sigma,
         **_x_stats(genes_sig), **out)
    print(f"    {time.time() - t0:.1f}s", flush=True)

    # --- pseudo-bulk by cell type
    for n_rand in (100, 1000):
        t0 = time.time()
        res, cap = run_sc(is_single_cell_level=False, n_rand=n_rand)
        call = cap.ridge[0]
        out, proteins, samples = _outputs(res)
        assert list(samples) == sorted(CELL_TYPES, key=str.lower), samples
        rec_genes = _dense_gene_order(drop_zero_genes=False)
        if n_rand == 100:
            yin = {"Y_in": call["Y"]}
        else:
            np.testing.assert_array_equal(np.load(OUT / "sc_pseudobulk_n100.npz")["Y_in"], call["Y"])
            yin = {"Y_in_ref": np.array("sc_pseudobulk_n100.npz")}
        save(f"sc_pseudobulk_n{n_rand}.npz",
             **_params(n_rand, function="secact_activity_inference_scrnaseq", is_single_cell_level=False,
                       sparse_mode=False, cell_type_col="cell_type",
                       preprocess="sum counts per cell type -> /colsum*1e6 -> log2(x+1) -> row-centre across "
                                  "types -> overlap (expression order) -> column z-score ddof=1"),
             genes=_u(rec_genes), proteins=proteins, samples=samples, **yin, **out)
        print(f"    {time.time() - t0:.1f}s", flush=True)


def _clean_gene_names(*, drop_zero_genes: bool):
    import anndata as ad
    a = ad.read_h5ad(H5AD)
    names = list(a.var_names)
    if drop_zero_genes:
        keep = np.asarray(a.X.sum(axis=0)).ravel() > 0
        names = [n for n, k in zip(names, keep) if k]
    names = [n.upper().split(".")[0] for n in names]
    seen, outl = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            outl.append(n)
    return outl   # order of first occurrence (the dedup keeps the kept copy's position; see NOTES)


def _dense_gene_order(*, drop_zero_genes: bool):
    """Overlap in expression order, with the de-duplicated expression gene positions."""
    import anndata as ad
    a = ad.read_h5ad(H5AD)
    C = a.X.T.tocsr()
    names = list(a.var_names)
    if drop_zero_genes:
        keep = np.asarray(C.sum(axis=1)).ravel() > 0
        names = [n for n, k in zip(names, keep) if k]
        C = C[np.where(keep)[0]]
    names = [n.upper().split(".")[0] for n in names]
    m = np.asarray(C.mean(axis=1)).ravel()
    best = {}
    for i, n in enumerate(names):
        if n not in best or m[i] > m[best[n]]:
            best[n] = i
    kept = [names[i] for i in sorted(best.values())]
    sig_set = set(load_signature("cytosig").index)
    return [g for g in kept if g in sig_set]


# --------------------------------------------------------------------------------------
# (c) spatial
# --------------------------------------------------------------------------------------

def make_st() -> None:
    print("(c) spatial", flush=True)
    sig = load_signature("cytosig")

    t0 = time.time()
    res, cap = run_st(n_rand=100)
    call = cap.ridge[0]
    out, proteins, samples = _outputs(res)
    rec_genes = _dense_gene_order(drop_zero_genes=True)
    rec = _recompute_dense(rec_genes, drop_zero_genes=True)
    np.testing.assert_allclose(rec["Yz"], call["Y"], rtol=0, atol=1e-12)
    out, samples, more = _first_cols(out, samples, 100)
    save("st_spot_dense_n100.npz", **more,
         **_params(100, function="secact_activity_inference_st", is_spot_level=True, sparse_mode=False,
                   scale_factor=1e5, min_genes=0,
                   preprocess="drop all-zero genes -> per-spot x/libsize*1e5 -> log2(x+1) -> row-centre -> "
                              "overlap (expression order) -> column z-score ddof=1"),
         genes=_u(rec_genes), proteins=proteins, samples=samples,
         Y_in=call["Y"][:, :5], row_means=rec["row_means"], mu=rec["mu"], sigma=rec["sigma"],
         **_x_stats(rec_genes), **out)
    print(f"    {time.time() - t0:.1f}s", flush=True)

    t0 = time.time()
    res, cap = run_st(n_rand=100, sparse_mode=True)
    call, st = cap.batch[0], cap.stats[0]
    out, proteins, samples = _outputs(res)
    expr_genes = set(_clean_gene_names(drop_zero_genes=True))
    genes_sig = [g for g in sig.index if g in expr_genes]
    Xa = sig.loc[genes_sig].astype(np.float64)
    np.testing.assert_array_equal(((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy(), call["X"])
    out, samples, more = _first_cols(out, samples, 100)
    save("st_spot_sparse_n100.npz", **more,
         **_params(100, function="secact_activity_inference_st", is_spot_level=True, sparse_mode=True,
                   scale_factor=1e5, min_genes=0, batch_size=5000,
                   preprocess="drop all-zero genes -> per-spot x*(scale_factor/libsize) -> log2(x+1) (sparse) -> "
                              "overlap (SIGNATURE order) -> in-flight row-centre + column z-score"),
         genes=_u(genes_sig), proteins=proteins, samples=samples,
         Ylog_first=call["Y"].toarray()[:, :5], row_means=st.row_means, mu=st.mu, sigma=st.sigma,
         **_x_stats(genes_sig), **out)
    print(f"    {time.time() - t0:.1f}s", flush=True)

    t0 = time.time()
    res, cap = run_st(n_rand=100, cell_type_col="cell_type", is_spot_level=False)
    call = cap.ridge[0]
    out, proteins, samples = _outputs(res)
    assert list(samples) == sorted(CELL_TYPES), samples
    save("st_celltype_n100.npz",
         **_params(100, function="secact_activity_inference_st", is_spot_level=False, cell_type_col="cell_type",
                   sparse_mode=False, scale_factor=1e5, min_genes=0,
                   preprocess="drop all-zero genes -> per-spot x/libsize*1e5 -> log2(x+1) -> MEAN per cell type "
                              "(case-sensitive sorted) -> row-centre across types -> overlap -> z-score"),
         genes=_u(rec_genes), proteins=proteins, samples=samples, Y_in=call["Y"], **out)
    print(f"    {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------------------
# (d) cross-path checks (printed)
# --------------------------------------------------------------------------------------

def _cmp(tag, a, b):
    ra, ca = a["beta"].index, a["beta"].columns
    d = {k: float(np.max(np.abs(a[k].loc[ra, ca].to_numpy() - b[k].loc[ra, ca].to_numpy())))
         for k in ("beta", "se", "zscore", "pvalue")}
    print(f"  {tag}: " + ", ".join(f"{k} {v:.2e}" for k, v in d.items()), flush=True)
    return d


def make_checks() -> None:
    import anndata as ad
    print("(d) checks", flush=True)
    dense, _ = run_sc(is_single_cell_level=True, n_rand=100)
    sparse, _ = run_sc(is_single_cell_level=True, n_rand=100, sparse_mode=True)
    _cmp("sc dense vs sparse (default gene orders)", dense, sparse)
    dense_s, _ = run_sc(is_single_cell_level=True, n_rand=100, sort_genes=True)
    sparse_s, _ = run_sc(is_single_cell_level=True, n_rand=100, sparse_mode=True, sort_genes=True)
    _cmp("sc dense vs sparse (sort_genes=True)", dense_s, sparse_s)
    dense_b, _ = run_sc(is_single_cell_level=True, n_rand=100, batch_size=128)
    _cmp("sc dense vs dense batch_size=128", dense, dense_b)
    sparse_b, _ = run_sc(is_single_cell_level=True, n_rand=100, sparse_mode=True, batch_size=128)
    _cmp("sc sparse vs sparse batch_size=128", sparse, sparse_b)
    # float32 vs float64 counts in the sparse path (scale factors computed in X's dtype)
    a = ad.read_h5ad(H5AD)
    a.X = a.X.astype(np.float64)
    with _Capture():
        sparse64 = sp_inf.secact_activity_inference_scrnaseq(a, cell_type_col="cell_type", is_single_cell_level=True,
                                                             n_rand=100, sparse_mode=True, sort_genes=True, **COMMON)
    _cmp("sc sparse float32 X vs float64 X (sort_genes)", sparse_s, sparse64)
    _cmp("sc dense vs sparse float64 X (sort_genes)", dense_s, sparse64)
    st_d, _ = run_st(n_rand=100)
    _cmp("sc dense vs st dense (st drops all-zero genes)", dense, st_d)
    st_s, _ = run_st(n_rand=100, sparse_mode=True)
    _cmp("sc sparse vs st sparse", sparse, st_s)
    # an all-zero cell
    a = ad.read_h5ad(H5AD)
    X = a.X.tolil()
    X[3, :] = 0
    a.X = X.tocsr()
    r0 = sp_inf.secact_activity_inference_scrnaseq(a.copy(), cell_type_col="cell_type", is_single_cell_level=True,
                                                   n_rand=10, **COMMON)
    print("  dense path with one all-zero cell: all beta == 0 ->", bool((r0["beta"].to_numpy() == 0).all()),
          "; any NaN ->", bool(np.isnan(r0["beta"].to_numpy()).any()))
    r1 = sp_inf.secact_activity_inference_scrnaseq(a.copy(), cell_type_col="cell_type", is_single_cell_level=True,
                                                   n_rand=10, sparse_mode=True, **COMMON)
    b1 = r1["beta"].to_numpy()
    print("  sparse path with one all-zero cell: NaN columns ->", np.where(np.isnan(b1).any(axis=0))[0][:5],
          "; all-zero-cell beta finite ->", bool(np.isfinite(b1[:, 3]).all()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="data,sc,st")
    args = ap.parse_args(argv)
    assert VERSION == "0.3.1", VERSION
    parts = args.only.split(",")
    if "data" in parts:
        make_data()
    if "sc" in parts:
        make_sc()
    if "st" in parts:
        make_st()
    if "checks" in parts:
        make_checks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
