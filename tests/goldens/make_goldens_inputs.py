"""Golden fixtures for inputs where SecActPy has no valid answer, or a NaN-handling rule (issue 12).

Run with the SecActPy virtualenv (NOT the lazyact environment)::

    /work/secactpy-venv/bin/python tests/goldens/make_goldens_inputs.py [--only empty,signan,checks]

Parts:

- ``empty``: cells with no counts. The input is ``tests/data/sc_synth_cytosig.h5ad`` with cells
  ``ZERO_CELLS`` set to zero and cell ``DUP_CELL`` holding one count only in ``PRKACA`` (the
  duplicate that de-duplication drops, so its library size over the kept genes is 0 too).
  lazyact gives these cells NaN statistics and leaves them out of the gene means, so every other
  cell must equal SecActPy run **without** them: each fixture is SecActPy on the input with the
  empty cells removed (``empty_sc_*``, ``empty_st_*``). The pseudo-bulk fixtures use labels where
  ``ZERO_CELLS`` form their own group ``zz_empty`` (a group with no counts; it vanishes when the
  empty cells are removed).
- ``signan``: NaN entries in a signature (the random 12-protein signature ``R`` of
  ``bulk_ctrl_inputs.npz`` with NaN at ``SIG_NAN``), given as a DataFrame (grouping on) and as a
  tab-separated file (grouping off). SecActPy keeps the NaN: its column scaling skips it (pandas
  mean / std), then NaN -> 0; grouping distances involving a NaN column are NaN -> 1.
- ``checks``: what SecActPy 0.3.1 does WITH the empty cells (printed; quoted in NOTES.md).

Only *calls* SecActPy (no SecActPy code copied); the recording shims come from
``make_goldens_sc.py`` and ``make_goldens_options.py``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens_sc as base  # noqa: E402
from make_goldens_options import _CaptureDiff  # noqa: E402

import secactpy.inference as sp_inf  # noqa: E402

OUT, H5AD, save, _u, _outputs = base.OUT, base.H5AD, base.save, base._u, base._outputs
COMMON = dict(sig_matrix="cytosig", lambda_=5e5, seed=0, rng_method="srand", backend="numpy", verbose=False)

ZERO_CELLS = [3, 17, 30]       # all counts set to 0
DUP_CELL = 26                  # zero except one count in the dropped duplicate PRKACA
DUP_GENE = "PRKACA"
N_STORE = 40                   # result columns kept (the first cells left after removal)
SIG_NAN = [("RG010", "P3"), ("RG020", "P5"), ("RG021", "P5"), ("RG399", "P8")]  # (gene, protein)


def empty_input():
    """The input with empty cells (AnnData), the empty-cell mask and the pseudo-bulk labels."""
    import anndata as ad

    a = ad.read_h5ad(H5AD)
    X = a.X.tolil(copy=True)
    for c in ZERO_CELLS + [DUP_CELL]:
        X[c, :] = 0
    X[DUP_CELL, list(a.var_names).index(DUP_GENE)] = 1
    X = sps.csr_matrix(X, dtype=np.float32)
    X.eliminate_zeros()
    a.X = X
    empty = np.zeros(a.n_obs, bool)
    empty[ZERO_CELLS + [DUP_CELL]] = True
    labels = a.obs["cell_type"].astype(str).to_numpy(dtype=object)
    labels[ZERO_CELLS] = "zz_empty"
    return a, empty, labels


def _store(name, res, cap, *, function, flags, empty_names, extra=None):
    out, proteins, samples = _outputs(res)
    total = len(samples)
    out = {k: v[:, :N_STORE] for k, v in out.items()}
    save(f"{name}.npz", **base._params(100, **flags), function=np.array(function), **(extra or {}),
         zero_cells=np.array(ZERO_CELLS), dup_cell=np.int64(DUP_CELL), dup_gene=np.array(DUP_GENE),
         empty_names=_u(empty_names), n_samples_total=np.int64(total),
         n_samples_stored=np.int64(min(N_STORE, total)), genes=_u(_shared(cap.genes)),
         proteins=proteins, samples=samples[:N_STORE], **out)


def _shared(profile_genes):
    """The genes fed to ridge by the dense paths: the profile's genes shared with CytoSig, in profile order."""
    sig = set(base.load_signature("cytosig").index)
    return [g for g in profile_genes if g in sig]


def make_empty() -> None:
    print("(a) empty cells: SecActPy on the input without them", flush=True)
    a, empty, labels = empty_input()
    kept = a[~empty].copy()
    kept_labels = labels[~empty]
    assert "zz_empty" not in set(kept_labels)
    cases = [
        ("empty_sc_cell_dense_n100", sp_inf.secact_activity_inference_scrnaseq,
         dict(cell_type_col="cell_type", is_single_cell_level=True)),
        ("empty_sc_cell_sparse_n100", sp_inf.secact_activity_inference_scrnaseq,
         dict(cell_type_col="cell_type", is_single_cell_level=True, sparse_mode=True)),
        ("empty_sc_pseudobulk_n100", sp_inf.secact_activity_inference_scrnaseq,
         dict(cell_type_col="cell_type", is_single_cell_level=False)),
        ("empty_st_spot_dense_n100", sp_inf.secact_activity_inference_st, dict()),
        ("empty_st_spot_sparse_n100", sp_inf.secact_activity_inference_st, dict(sparse_mode=True)),
        ("empty_st_celltype_n100", sp_inf.secact_activity_inference_st,
         dict(cell_type_col="cell_type", is_spot_level=False)),
    ]
    for name, fn, kw in cases:
        t0 = time.time()
        inp = kept.copy()
        inp.obs["cell_type"] = pd.Categorical(kept_labels)
        with _CaptureDiff() as cap:
            res = fn(inp, n_rand=100, **COMMON, **kw)
        cap.genes = [str(g) for g in cap.diff[0].index] if cap.diff else []
        # genes = the profile's rows handed to the bulk function (dense paths); empty for sparse_mode
        _store(name, res, cap, function=fn.__name__, flags=kw, empty_names=a.obs_names[empty],
               extra={"labels": _u(labels)} if "cell_type_col" in kw else None)
        print(f"    {time.time() - t0:.1f}s", flush=True)


def signature_with_nan() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The random signature R with NaN at SIG_NAN, and the expression RT (bulk_ctrl_inputs.npz)."""
    with np.load(OUT / "bulk_ctrl_inputs.npz") as z:
        R = pd.DataFrame(z["R"], index=z["R_genes"], columns=z["R_samples"])
        RT = pd.DataFrame(z["RT"], index=z["RT_genes"], columns=z["RT_samples"])
    R = R.copy()
    for g, p in SIG_NAN:
        assert g in R.index and p in R.columns
        R.loc[g, p] = np.nan
    return R, RT


def make_signan() -> None:
    print("(b) NaN in a signature", flush=True)
    R, RT = signature_with_nan()
    import tempfile

    def params(grouped):
        return {**base._params(100), "input_file": np.array("bulk_ctrl_inputs.npz: RT (expression), R (signature)"),
                "signature": np.array("R with NaN at sig_nan_genes x sig_nan_proteins"),
                "is_group_sig": np.bool_(grouped)}

    nan_at = {"sig_nan_genes": _u([g for g, _ in SIG_NAN]), "sig_nan_proteins": _u([p for _, p in SIG_NAN])}
    res = sp_inf.secact_activity_inference(RT, sig_matrix=R, n_rand=100, is_group_sig=True,
                                           **{k: v for k, v in COMMON.items() if k != "sig_matrix"})
    out, proteins, samples = _outputs(res)
    grouped = sp_inf.group_signatures(R, cor_threshold=0.9)
    save("signan_bulk_dataframe_n100.npz", **params(True), function=np.array("secact_activity_inference"),
         inputs_ref=np.array("bulk_ctrl_inputs.npz"), preprocess=np.array("center"),
         groups=_u(grouped.columns), proteins=proteins, samples=samples, **nan_at, **out)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sig_nan.tsv"
        R.to_csv(path, sep="\t", na_rep="NaN")
        text = path.read_text()
        res = sp_inf.secact_activity_inference(RT, sig_matrix=str(path), n_rand=100, is_group_sig=False,
                                               **{k: v for k, v in COMMON.items() if k != "sig_matrix"})
    out, proteins, samples = _outputs(res)
    save("signan_bulk_file_n100.npz", **params(False), function=np.array("secact_activity_inference"),
         inputs_ref=np.array("bulk_ctrl_inputs.npz"), preprocess=np.array("center"),
         signature_tsv=np.array(text), proteins=proteins, samples=samples, **nan_at, **out)


def make_checks() -> None:
    print("(c) SecActPy with the empty cells in", flush=True)
    a, empty, labels = empty_input()
    for tag, fn, kw in [
        ("sc dense", sp_inf.secact_activity_inference_scrnaseq, dict(cell_type_col="cell_type",
                                                                      is_single_cell_level=True)),
        ("sc sparse_mode", sp_inf.secact_activity_inference_scrnaseq, dict(cell_type_col="cell_type",
                                                                            is_single_cell_level=True,
                                                                            sparse_mode=True)),
        ("st dense", sp_inf.secact_activity_inference_st, dict()),
    ]:
        res = fn(a, n_rand=100, **COMMON, **kw)
        z = res["zscore"].to_numpy()
        p = res["pvalue"].to_numpy()
        print(f"  {tag}: all zero: {bool((z == 0).all())}; empty cells max|z| {np.abs(z[:, empty]).max():.3g}, "
              f"min p {p[:, empty].min():.3g}; others max|z| {np.abs(z[:, ~empty]).max():.3g}")
    a.obs["cell_type"] = pd.Categorical(labels)
    res = sp_inf.secact_activity_inference_scrnaseq(a, cell_type_col="cell_type", is_single_cell_level=False,
                                                    n_rand=100, **COMMON)
    z = res["zscore"]
    print(f"  pseudo-bulk with a group of empty cells: groups {list(z.columns)}; all zero: "
          f"{bool((z.to_numpy() == 0).all())}; zz_empty max|z| {np.abs(z['zz_empty'].to_numpy()).max():.3g}")
    R, RT = signature_with_nan()
    R0 = R.fillna(0.0)
    res = sp_inf.secact_activity_inference(RT, sig_matrix=R, n_rand=100, is_group_sig=False,
                                           **{k: v for k, v in COMMON.items() if k != "sig_matrix"})
    res0 = sp_inf.secact_activity_inference(RT, sig_matrix=R0, n_rand=100, is_group_sig=False,
                                            **{k: v for k, v in COMMON.items() if k != "sig_matrix"})
    dz = np.abs(res["zscore"].to_numpy() - res0["zscore"].to_numpy()).max()
    print(f"  signature NaN kept vs NaN filled with 0 before scaling: max|dz| {dz:.3g}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="empty,signan")
    args = ap.parse_args(argv)
    parts = set(args.only.split(","))
    if "empty" in parts:
        make_empty()
    if "signan" in parts:
        make_signan()
    if "checks" in parts:
        make_checks()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
