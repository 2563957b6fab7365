"""Generate small results files written by SecActPy 0.3.1's own writers (for ``lazyact.open`` tests).

Run with the SecActPy virtualenv (NOT the lazyact environment)::

    /work/secactpy-venv/bin/python tests/goldens/make_stored.py

It runs ``secact_activity_inference`` on the bundled bulk example
(``tests/data/Ly86-Fc_vs_Vehicle_logFC.txt``, already differential) with the CytoSig
signature, ``n_rand=100``, ``seed=0``, ``rng_method="srand"`` -- the same call as the
``cytosig_ly86_none_n100`` golden -- and writes the result with three SecActPy writers:

* ``tests/data/stored/secactpy_stream_cytosig_ly86.h5``: ``secactpy.batch.StreamingResultWriter``
  (the writer behind ``ridge_batch(output_path=...)``), fed in two column batches;
* ``tests/data/stored/secactpy_saved_cytosig_ly86.h5``: ``secactpy.io.save_results``
  (names as root attributes, where ``load_results`` reads them);
* ``tests/data/stored/secactpy_cytosig_ly86.h5ad``: ``secactpy.io.save_results_to_h5ad``.

Only SecActPy functions are called; no SecActPy code is copied here. The reference
arrays are saved next to them (``secactpy_cytosig_ly86_ref.npz``) so the lazyact tests
can compare without SecActPy.
"""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

import secactpy
import secactpy.inference as sp_inf
from secactpy.batch import StreamingResultWriter
from secactpy.io import save_results, save_results_to_h5ad

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LY86 = REPO / "tests" / "data" / "Ly86-Fc_vs_Vehicle_logFC.txt"
OUT = REPO / "tests" / "data" / "stored"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    res = sp_inf.secact_activity_inference(
        str(LY86), is_differential=True, sig_matrix="cytosig", lambda_=5e5, n_rand=100, seed=0,
        rng_method="srand", backend="numpy", verbose=False)
    beta = res["beta"]
    proteins = [str(p) for p in beta.index]
    samples = [str(s) for s in beta.columns]
    arrays = {k: np.ascontiguousarray(res[k].to_numpy(np.float64)) for k in ("beta", "se", "zscore", "pvalue")}

    # 1. the streaming writer, two batches of columns
    path = OUT / "secactpy_stream_cytosig_ly86.h5"
    path.unlink(missing_ok=True)
    w = StreamingResultWriter(str(path), n_features=len(proteins), n_samples=len(samples),
                              feature_names=proteins, sample_names=samples, compression="gzip")
    for lo, hi in ((0, 3), (3, len(samples))):
        w.write_batch({k: v[:, lo:hi] for k, v in arrays.items()}, start_col=lo)
    w.close()

    # 2. save_results (HDF5, names as attributes)
    path = OUT / "secactpy_saved_cytosig_ly86.h5"
    path.unlink(missing_ok=True)
    save_results(dict(arrays), str(path), feature_names=proteins, sample_names=samples)

    # 3. save_results_to_h5ad
    save_results_to_h5ad(dict(arrays), OUT / "secactpy_cytosig_ly86.h5ad", feature_names=proteins,
                         sample_names=samples)

    np.savez_compressed(OUT / "secactpy_cytosig_ly86_ref.npz", proteins=np.array(proteins),
                        samples=np.array(samples), secactpy_version=np.array(secactpy.__version__),
                        platform=np.array(platform.platform()), **arrays)
    for p in sorted(OUT.iterdir()):
        print(f"wrote {p.relative_to(REPO)} ({p.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
