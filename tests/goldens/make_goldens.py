"""Generate the golden fixtures in tests/data/goldens/ from SecActPy 0.3.1.

Run with the SecActPy virtualenv (NOT the lazyact environment)::

    /work/secactpy-venv/bin/python tests/goldens/make_goldens.py [--only ridge,cytosig,secact,perm]

This script only *calls* SecActPy (``secactpy.ridge.ridge``,
``secactpy.inference.secact_activity_inference``, ``secactpy.rng``); no SecActPy code
is copied here.  See README.md in this folder for the case list and NOTES.md for a
description of what SecActPy does.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import secactpy
import secactpy.inference as sp_inf
import secactpy.rng as sp_rng
from secactpy.ridge import ridge as sp_ridge

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "tests" / "data" / "goldens"
LY86 = REPO / "tests" / "data" / "Ly86-Fc_vs_Vehicle_logFC.txt"
VERSION = secactpy.__version__


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
    """Names as a unicode array."""
    return np.array([str(n) for n in names], dtype=np.str_)


def _dyadic_normal(gen: np.random.Generator, shape) -> np.ndarray:
    """Standard-normal-ish float64 values on a 2**-10 grid (exact in float64, compress well)."""
    return np.round(gen.standard_normal(shape) * 1024.0) / 1024.0


def _zscore_cols(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0, ddof=1)
    sd[sd == 0] = 1.0
    return (a - a.mean(axis=0)) / sd


# --------------------------------------------------------------------------------------
# (a) ridge_*.npz: straight calls to secactpy.ridge.ridge(..., backend="numpy")
# --------------------------------------------------------------------------------------

# name, genes, proteins, samples, lambda_, n_rand, seed, rng, y_kind
RIDGE_CASES = [
    # T-column branch (samples >= proteins)
    ("g50_p3_s7_l1_n100_srand_s0", 50, 3, 7, 1.0, 100, 0, "srand", "normal"),
    ("g50_p3_s7_l1_n1000_srand_s0", 50, 3, 7, 1.0, 1000, 0, "srand", "normal"),
    ("g50_p3_s7_l1_n100_srand_s1", 50, 3, 7, 1.0, 100, 1, "srand", "normal"),
    ("g200_p10_s10_l1e3_n100_srand_s0", 200, 10, 10, 1e3, 100, 0, "srand", "normal"),
    ("g1000_p40_s45_l5e5_n100_srand_s42", 1000, 40, 45, 5e5, 100, 42, "srand", "normal"),
    ("g200_p10_s12_l1_n100_gsl_s0", 200, 10, 12, 1.0, 100, 0, "gsl", "normal"),
    ("g200_p10_s12_l1_n100_numpy_s0", 200, 10, 12, 1.0, 100, 0, "numpy", "normal"),
    # Y-row branch (samples < proteins)
    ("g200_p10_s1_l5e5_n1000_srand_s0", 200, 10, 1, 5e5, 1000, 0, "srand", "normal"),
    ("g200_p10_s7_l1e3_n100_gsl_s1", 200, 10, 7, 1e3, 100, 1, "gsl", "normal"),
    ("g1000_p40_s7_l5e5_n100_numpy_s42", 1000, 40, 7, 5e5, 100, 42, "numpy", "normal"),
    ("g200_p10_s7_l5e5_n100_srand_s42", 200, 10, 7, 5e5, 100, 42, "srand", "normal"),
    # lambda = 0 (plain least squares through Cholesky)
    ("g200_p10_s7_l0_n100_srand_s0", 200, 10, 7, 0.0, 100, 0, "srand", "normal"),
    ("g200_p10_s12_l0_n100_srand_s0", 200, 10, 12, 0.0, 100, 0, "srand", "normal"),
    # n_rand 1 and 10
    ("g50_p3_s2_l1_n1_srand_s0", 50, 3, 2, 1.0, 1, 0, "srand", "normal"),
    ("g50_p3_s7_l1_n10_gsl_s42", 50, 3, 7, 1.0, 10, 42, "gsl", "normal"),
    ("g50_p10_s3_l1_n10_numpy_s1", 50, 10, 3, 1.0, 10, 1, "numpy", "normal"),
    # large seed 2**31-1, each rng
    ("g50_p3_s7_l1_n10_srand_s2147483647", 50, 3, 7, 1.0, 10, 2**31 - 1, "srand", "normal"),
    ("g50_p3_s7_l1_n10_gsl_s2147483647", 50, 3, 7, 1.0, 10, 2**31 - 1, "gsl", "normal"),
    ("g50_p3_s7_l1_n10_numpy_s2147483647", 50, 3, 7, 1.0, 10, 2**31 - 1, "numpy", "normal"),
    # an all-zero Y column (both branches)
    ("g200_p10_s7_l1e3_n100_srand_s0_zerocol", 200, 10, 7, 1e3, 100, 0, "srand", "zerocol"),
    ("g200_p10_s12_l1e3_n100_srand_s0_zerocol", 200, 10, 12, 1e3, 100, 0, "srand", "zerocol"),
    # integer-valued Y (ties among permuted |beta|)
    ("g200_p10_s12_l1_n1000_gsl_s0_intY", 200, 10, 12, 1.0, 1000, 0, "gsl", "int"),
    ("g50_p3_s2_l1_n100_srand_s0_intY", 50, 3, 2, 1.0, 100, 0, "srand", "int"),
    # n_rand = 0: t-test path
    ("g200_p10_s7_l1e3_n0", 200, 10, 7, 1e3, 0, 0, "srand", "normal"),
    ("g500_p40_s45_l5e5_n0", 500, 40, 45, 5e5, 0, 0, "srand", "normal"),
    ("g50_p3_s7_l0_n0", 50, 3, 7, 0.0, 0, 0, "srand", "normal"),
]


def make_ridge() -> None:
    print("(a) ridge cases", flush=True)
    for idx, (name, g, p, s, lam, n_rand, seed, rng, ykind) in enumerate(RIDGE_CASES):
        gen = np.random.default_rng(1000 + idx)
        X = _zscore_cols(_dyadic_normal(gen, (g, p)))
        X = np.round(X * 1024.0) / 1024.0
        if ykind == "int":
            Y = gen.integers(-3, 4, size=(g, s)).astype(np.float64)
        else:
            Y = _dyadic_normal(gen, (g, s))
            if ykind == "zerocol":
                Y[:, min(3, s - 1)] = 0.0
        t0 = time.time()
        res = sp_ridge(X, Y, lambda_=lam, n_rand=n_rand, seed=seed, backend="numpy",
                       rng_method=rng, use_cache=False, verbose=False)
        extra = {}
        if n_rand == 0:
            extra["df"] = np.float64(res["df"])
        save(f"ridge_{name}.npz",
             X=X, Y=Y,
             lambda_=np.float64(lam), n_rand=np.int64(n_rand), seed=np.int64(seed),
             rng=np.array(rng), backend=np.array("numpy"),
             branch=np.array("ttest" if n_rand == 0 else ("Y-row" if s < p else "T-column")),
             beta=np.asarray(res["beta"], np.float64), se=np.asarray(res["se"], np.float64),
             zscore=np.asarray(res["zscore"], np.float64), pvalue=np.asarray(res["pvalue"], np.float64),
             **extra)
        print(f"    {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------------------
# (b, c) bulk pipeline on the Ly86 input
# --------------------------------------------------------------------------------------

class _Capture:
    """Wrap secactpy.inference.ridge to record exactly what the pipeline feeds it."""

    def __init__(self):
        self.calls = []
        self._orig = sp_inf.ridge

    def __enter__(self):
        def wrapper(*args, **kwargs):
            self.calls.append({"X": np.array(kwargs["X"], copy=True), "Y": np.array(kwargs["Y"], copy=True),
                               "kwargs": {k: v for k, v in kwargs.items() if k not in ("X", "Y")}})
            return self._orig(*args, **kwargs)
        sp_inf.ridge = wrapper
        return self

    def __exit__(self, *exc):
        sp_inf.ridge = self._orig


def _run_pipeline(sig: str, is_differential: bool, n_rand: int):
    with _Capture() as cap:
        res = sp_inf.secact_activity_inference(
            str(LY86), is_differential=is_differential, sig_matrix=sig,
            lambda_=5e5, n_rand=n_rand, seed=0, rng_method="srand", backend="numpy",
            verbose=False)
    assert len(cap.calls) == 1
    return res, cap.calls[0]


def _aligned_genes(sig_name: str, is_differential: bool, grouped: bool):
    """The overlap, recomputed with pandas the way the pipeline does (checked against X_in)."""
    from secactpy.signature import load_signature
    expr = sp_inf.load_expression_data(str(LY86))
    Xs = load_signature(sig_name)
    if grouped:
        Xs = sp_inf.group_signatures(Xs, cor_threshold=0.9)
    common = expr.index.intersection(Xs.index)
    return expr, Xs, common


def _outputs(res):
    beta = res["beta"]
    out = {k: res[k].to_numpy(dtype=np.float64) for k in ("beta", "se", "zscore", "pvalue")}
    for k in ("se", "zscore", "pvalue"):
        assert list(res[k].index) == list(beta.index) and list(res[k].columns) == list(beta.columns)
    return out, _u(beta.index), _u(beta.columns)


def make_cytosig() -> None:
    print("(b) CytoSig / Ly86", flush=True)
    expr, Xs, common = _aligned_genes("cytosig", True, grouped=False)
    x_ref = "cytosig_ly86_none_n1000.npz"
    for variant, is_diff in (("none", True), ("center", False)):
        for n_rand in (1000, 100):
            t0 = time.time()
            res, call = _run_pipeline("cytosig", is_diff, n_rand)
            out, proteins, samples = _outputs(res)
            # consistency: the recomputed overlap reproduces X_in exactly
            Xa = Xs.loc[common].astype(np.float64)
            Xz = ((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy()
            assert np.array_equal(Xz, call["X"]), "gene overlap/order mismatch"
            assert list(proteins) == list(Xs.columns)
            fname = f"cytosig_ly86_{variant}_n{n_rand}.npz"
            # X_in is the same for every CytoSig case and Y_in the same for both n_rand of a
            # variant: store each once and point to it from the other files (size budget).
            extra = {}
            if fname == x_ref:
                extra["X_in"] = call["X"]
            else:
                extra["X_in_ref"] = np.array(x_ref)
                np.testing.assert_array_equal(np.load(OUT / x_ref)["X_in"], call["X"])
            if n_rand == 1000:
                extra["Y_in"] = call["Y"]
            else:
                y_ref = f"cytosig_ly86_{variant}_n1000.npz"
                extra["Y_in_ref"] = np.array(y_ref)
                np.testing.assert_array_equal(np.load(OUT / y_ref)["Y_in"], call["Y"])
            save(fname,
                 input_file=np.array("tests/data/Ly86-Fc_vs_Vehicle_logFC.txt"),
                 signature=np.array("CytoSig"), preprocess=np.array(variant),
                 is_differential=np.bool_(is_diff), is_group_sig=np.bool_(False),
                 lambda_=np.float64(5e5), n_rand=np.int64(n_rand), seed=np.int64(0), rng=np.array("srand"),
                 genes=_u(common), proteins=proteins, samples=samples,
                 **extra, **out)
            print(f"    {time.time() - t0:.1f}s", flush=True)


def make_secact() -> None:
    print("(c) SecAct / Ly86", flush=True)
    expr, Xg, common = _aligned_genes("secact", True, grouped=True)
    for variant, is_diff in (("none", True), ("center", False)):
        t0 = time.time()
        res, call = _run_pipeline("secact", is_diff, 1000)
        out, proteins, samples = _outputs(res)
        Xa = Xg.loc[common].astype(np.float64)
        Xz = ((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy()
        assert np.array_equal(Xz, call["X"]), "gene overlap/order mismatch"
        save(f"secact_ly86_{variant}_n1000.npz",
             input_file=np.array("tests/data/Ly86-Fc_vs_Vehicle_logFC.txt"),
             signature=np.array("SecAct"), preprocess=np.array(variant),
             is_differential=np.bool_(is_diff), is_group_sig=np.bool_(True), group_cor=np.float64(0.9),
             lambda_=np.float64(5e5), n_rand=np.int64(1000), seed=np.int64(0), rng=np.array("srand"),
             genes=_u(common), groups=_u(Xg.columns),
             proteins=proteins, samples=samples, **out)
        print(f"    {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------------------
# (d) permutation tables
# --------------------------------------------------------------------------------------

def make_perm() -> None:
    print("(d) permutation tables", flush=True)
    for rng_name, cls in (("srand", sp_rng.CStdlibRNG), ("gsl", sp_rng.GSLRNG)):
        t0 = time.time()
        arrays = {"rng": np.array(rng_name), "seed": np.int64(0)}
        arrays["n10_table"] = cls(0).inverse_permutation_table(10, 3).astype(np.int32)
        arrays["n10_forward"] = cls(0).permutation_table(10, 3).astype(np.int32)
        arrays["n10_seed1_table"] = cls(1).inverse_permutation_table(10, 3).astype(np.int32)
        t = cls(0).inverse_permutation_table(7720, 1000)
        arrays["n7720_rows"] = np.array([0, 1, 999], np.int64)
        arrays["n7720_table"] = t[[0, 1, 999]].astype(np.int32)
        t = cls(0).inverse_permutation_table(7919, 1000)
        arrays["n7919_rows"] = np.array([0, 999], np.int64)
        arrays["n7919_table"] = t[[0, 999]].astype(np.int32)
        save(f"permtable_{rng_name}.npz", **arrays)
        print(f"    {time.time() - t0:.1f}s", flush=True)
    arrays = {"rng": np.array("numpy"), "n": np.int64(50), "n_perm": np.int64(5)}
    for seed in (0, 7):
        arrays[f"seed{seed}_table"] = sp_rng.generate_inverse_permutation_table_fast(50, 5, seed).astype(np.int32)
    save("permtable_numpy.npz", **arrays)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="ridge,cytosig,perm,secact")
    args = ap.parse_args(argv)
    assert VERSION == "0.3.1", VERSION
    parts = args.only.split(",")
    if "ridge" in parts:
        make_ridge()
    if "cytosig" in parts:
        make_cytosig()
    if "perm" in parts:
        make_perm()
    if "secact" in parts:
        make_secact()
    return 0


if __name__ == "__main__":
    sys.exit(main())
