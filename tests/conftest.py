"""Shared test configuration: quiet progress bars, golden fixture paths."""
import os
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

os.environ.setdefault("LAZYACT_PROGRESS", "0")

# --doctest-modules imports every module under tests/: the SecActPy golden generators run in their own
# virtualenv with SecActPy installed (tests/goldens/README.md), so they are not collected here.
collect_ignore_glob = ["goldens/make_*.py"]

DATA = Path(__file__).parent / "data"
GOLDENS = DATA / "goldens"


def one_blas_thread():
    """File writers and dask workers compute with one BLAS thread (GEMM rounding depends on it)."""
    return threadpool_limits(limits=1, user_api="blas")


def write_counts_h5ad(path, n_cells, n_genes, n_other, *, density, mean, seed, cell_prefix, other_prefix):
    """A sparse counts .h5ad (float32 CSR): the first CytoSig genes plus ``n_other`` unrelated ones."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    from lazyact import load_signature

    genes = list(load_signature("CytoSig").index[:n_genes]) + [f"{other_prefix}{i}" for i in range(n_other)]
    rng = np.random.default_rng(seed)
    X = sp.random(n_cells, len(genes), density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.poisson(mean, k) + 1.0)
    ad = anndata.AnnData(X=X.astype(np.float32), obs=pd.DataFrame(index=[f"{cell_prefix}{i}" for i in range(n_cells)]),
                         var=pd.DataFrame(index=genes))
    ad.write_h5ad(path)
    return path


def load_golden(name: str) -> dict:
    with np.load(GOLDENS / f"{name}.npz", allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


@pytest.fixture
def golden():
    return load_golden


@pytest.fixture(scope="session")
def secact_signature():
    """Path of the 80 MB SecAct signature: found locally, else fetched from PyPI, else skip."""
    from lazyact.signatures import fetch_secact, signature_path

    try:
        return signature_path("SecAct")
    except FileNotFoundError:
        pass
    try:
        return fetch_secact()
    except Exception as exc:  # offline machine
        pytest.skip(f"SecAct signature not available and could not be fetched: {exc}")
