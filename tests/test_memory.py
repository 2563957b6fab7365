"""Peak memory of building a LazyActivity from an .h5ad and reading slices is set by the
chunk size, not by the number of cells (tracemalloc; numpy reports its buffers to it)."""
import tracemalloc

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lazyact


def make_h5ad(path, n_cells, genes, density=0.04, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_cells, len(genes), density=density, format="csr", random_state=seed, dtype=np.float32)
    X.data = np.ceil(X.data * 20).astype(np.float32)
    obs = pd.DataFrame({"cell_type": rng.choice(["T", "B", "NK"], n_cells)}, index=[f"c{i}" for i in range(n_cells)])
    ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(path)
    return path


def peak(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = fn()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mem")
    genes = list(lazyact.load_signature("CytoSig").index[:1500]) + [f"X{i}" for i in range(300)]
    return {n: make_h5ad(d / f"cells{n}.h5ad", n, genes) for n in (20_000, 60_000)}


def test_build_and_slice_memory_bounded_by_chunk(files):
    peaks = {}
    # one-time costs (numba loading its compiled kernels, the signature cache) outside the measurement
    warm = lazyact.activity(str(files[20_000]), "CytoSig", preprocess="scrnaseq", n_rand=20, chunks=(43, 64))
    warm.zscore[:, 0], warm.zscore[3, :100]
    for n, path in files.items():

        def build():
            return lazyact.activity(str(path), "CytoSig", preprocess="scrnaseq", n_rand=20, chunks=(43, 64),
                                    cache_bytes=2 * 2**20)

        p_build, act = peak(build)
        p_col, _ = peak(lambda: act.zscore[:, n // 2])
        p_row, _ = peak(lambda: act.zscore[3, : 4000])
        peaks[n] = (p_build, p_col, p_row)
        assert p_col < 4 * 2**20  # one cell: T, the table and one chunk, whatever the file size
    small, large = peaks[20_000], peaks[60_000]
    # 3x the cells: the per-cell vectors (8 bytes a cell) grow, the chunk-bound part does not
    for a, b in zip(small, large):
        assert b < a * 1.5 + 60_000 * 8 * 3, (small, large)


def test_report_peaks(files, capsys):
    """Not a bound: prints the measured peaks for the closing note / benchmarks."""
    act = lazyact.activity(str(files[60_000]), "CytoSig", preprocess="scrnaseq", n_rand=20, chunks=(43, 64))
    act.zscore[:, 0]
    p_build, act = peak(lambda: lazyact.activity(str(files[60_000]), "CytoSig", preprocess="scrnaseq", n_rand=20,
                                                 chunks=(43, 64)))
    p_col, _ = peak(lambda: act.zscore[:, 123])
    with capsys.disabled():
        print(f"\n60k cells: build peak {p_build / 1e6:.1f} MB, one cell {p_col / 1e6:.2f} MB, "
              f"file {files[60_000].stat().st_size / 1e6:.1f} MB")
    assert p_build > 0


@pytest.mark.parametrize("mode", ["groupby", "control"])
def test_spatial_option_passes_bounded(files, mode, capsys):
    """Cell-type means and a spatial control stream the spots: the build peak grows with the per-spot
    vectors (8 bytes a spot), not with the matrix (3x the spots)."""
    genes = list(lazyact.load_signature("CytoSig").index[:1500])
    rng = np.random.default_rng(1)
    ctrl = pd.DataFrame(rng.poisson(1.0, size=(len(genes), 30)).astype(float), index=genes)
    kw = dict(groupby="cell_type") if mode == "groupby" else dict(control=ctrl)

    def build(path):
        return lazyact.activity(str(path), "CytoSig", preprocess="spatial", n_rand=20, chunks=(43, 64),
                                cache_bytes=2 * 2**20, **kw)

    peaks = {n: peak(lambda: build(path))[0] for n, path in files.items()}
    with capsys.disabled():
        print(f"\nspatial {mode} build peak: 20k spots {peaks[20_000] / 1e6:.1f} MB, 60k {peaks[60_000] / 1e6:.1f} MB")
    assert peaks[60_000] < peaks[20_000] * 1.5 + 60_000 * 8 * 3, peaks
