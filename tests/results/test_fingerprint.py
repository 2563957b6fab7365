"""Fingerprints of the inputs, and the resume they guard."""
from __future__ import annotations

import os

import numpy as np
import pytest

import lazyact
from conftest import write_counts_h5ad
from lazyact.results import IncompleteFileError, ResumeMismatchError, file_info, partial_path
from lazyact.results.fingerprint import fingerprint, fingerprint_parts


def test_fingerprint_tracks_inputs(tmp_path):
    rng = np.random.default_rng(3)
    T, Y = rng.standard_normal((4, 60)), rng.standard_normal((60, 9))
    base = fingerprint(lazyact.LazyActivity(T, 20, Y))
    assert fingerprint(lazyact.LazyActivity(T.copy(), 20, Y.copy())) == base
    for col in range(9):  # every column counts (not a sample of them)
        Y2 = Y.copy()
        Y2[7, col] += 1e-12
        assert fingerprint(lazyact.LazyActivity(T, 20, Y2)) != base, col
    assert fingerprint(lazyact.LazyActivity(T, 20, Y, seed=1)) != base
    assert fingerprint(lazyact.LazyActivity(T, 20, Y, rng="gsl")) != base
    assert fingerprint(lazyact.LazyActivity(T, 20, Y, samples=list("abcdefghi"))) != base
    T2 = T.copy()
    T2[1, 1] += 1e-9
    assert fingerprint(lazyact.LazyActivity(T2, 20, Y)) != base


def _sparse_h5ad(path, n_cells=120, seed=0):
    return write_counts_h5ad(path, n_cells, 1500, 50, density=0.05, mean=3, seed=seed, cell_prefix="cell",
                             other_prefix="EXTRA")


def test_resume_refused_when_the_input_file_changes(tmp_path):
    src = _sparse_h5ad(tmp_path / "cells.h5ad")
    act = lazyact.activity(src, "CytoSig", n_rand=10, chunks=(43, 16), check_input=False)  # counts as they are
    parts = fingerprint_parts(act)
    assert parts["expression"]["file"]["path"] == str(src.resolve())  # by reference, no data hash
    # interrupt after 2 blocks: a block function that fails on the third call
    calls = {"n": 0}
    real = act.blocks.__call__

    class Failing:
        names, shape, dtype = act.blocks.names, act.blocks.shape, act.blocks.dtype

        def __call__(self, rows, cols):
            calls["n"] += 1
            if calls["n"] > 2:
                raise KeyboardInterrupt
            return real(rows, cols)

    store = act.store
    store.function, orig = Failing(), store.function
    with pytest.raises(KeyboardInterrupt):
        act.to_hdf5(tmp_path / "out.h5", block=16, progress=False)
    store.function = orig
    assert file_info(tmp_path / "out.h5")["blocks_done"] == 2
    with pytest.raises(IncompleteFileError, match=r"only .*out.h5.partial.*2 of 8 column blocks.*resumes"):
        lazyact.open(tmp_path / "out.h5")
    with pytest.raises(IncompleteFileError, match="unfinished"):
        lazyact.open(partial_path(tmp_path / "out.h5"))
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "edited" input
    act2 = lazyact.activity(src, "CytoSig", n_rand=10, chunks=(43, 16), check_input=False)
    with pytest.raises(ResumeMismatchError, match=r"differences: expression.*resume=False"):
        act2.to_hdf5(tmp_path / "out.h5", block=16, progress=False)
    out = act2.to_hdf5(tmp_path / "out.h5", block=16, progress=False, resume=False)
    assert np.array_equal(lazyact.open(out).zscore[:, :], act2.zscore[:, :])


def test_fingerprint_covers_in_memory_counts_and_their_statistics(tmp_path):
    import anndata
    import scipy.sparse as sp

    src = _sparse_h5ad(tmp_path / "cells.h5ad", n_cells=60)
    adata = anndata.read_h5ad(src)
    parts = fingerprint_parts(lazyact.activity(adata, "CytoSig", n_rand=10, preprocess="scrnaseq"))
    assert "data" in parts["expression"] and "file" not in parts["expression"]  # in memory: hashed in full
    X = sp.csr_matrix(adata.X, copy=True)
    X.data[X.indptr[31]] += 1  # one count of one cell in the middle
    changed = anndata.AnnData(X, obs=adata.obs, var=adata.var)
    parts2 = fingerprint_parts(lazyact.activity(changed, "CytoSig", n_rand=10, preprocess="scrnaseq"))
    assert parts2["expression"]["data"] != parts["expression"]["data"]
    assert parts2["expression"]["state"] != parts["expression"]["state"]  # and the library sizes changed


def test_fingerprint_of_a_file_input_has_its_identity_and_global_statistics(tmp_path):
    src = _sparse_h5ad(tmp_path / "cells.h5ad", n_cells=40)
    parts = fingerprint_parts(lazyact.activity(src, "CytoSig", n_rand=10, preprocess="scrnaseq"))
    ident = parts["expression"]["file"]
    assert {"path", "size", "mtime_ns", "inode", "sample"} <= set(ident)
    state = parts["expression"]["state"]
    assert "totals" in state and "row_offsets" in state  # hashes of the preprocessing's statistics
