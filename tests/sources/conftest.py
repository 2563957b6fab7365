"""Fixtures: the same small genes x samples matrix behind every backend."""
from __future__ import annotations

import os
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lazyact.sources import DenseSource, as_source

N_GENES, N_SAMPLES = 25, 37


def make_matrix(n_genes: int = N_GENES, n_samples: int = N_SAMPLES, density: float = 0.3,
                seed: int = 0) -> np.ndarray:
    """Integer counts as float32-exact float64 values, genes x samples; one empty sample."""
    rng = np.random.default_rng(seed)
    y = rng.integers(1, 50, size=(n_genes, n_samples)).astype(np.float64)
    y[rng.random((n_genes, n_samples)) > density] = 0.0
    y[:, 5] = 0.0  # an empty cell
    return y


GENES = [f"G{i}" for i in range(N_GENES)]
SAMPLES = [f"c{j}" for j in range(N_SAMPLES)]


def write_h5ad(path, x_cells_by_genes, *, genes=GENES, samples=SAMPLES, raw=None, layers=None,
               var_extra=None, obsm=None, obs_extra=None, zarr_format=None):
    """An AnnData file: ``.h5ad``, or a zarr store of ``zarr_format`` (2 or 3) when given."""
    import anndata as ad

    var = pd.DataFrame(index=pd.Index(genes, name=None))
    if var_extra:
        for k, v in var_extra.items():
            var[k] = v
    obs = pd.DataFrame(index=pd.Index(samples))
    if obs_extra:
        for k, v in obs_extra.items():
            obs[k] = v
    a = ad.AnnData(X=x_cells_by_genes, obs=obs, var=var)
    if raw is not None:
        a.raw = ad.AnnData(X=raw, obs=obs, var=var)
    for k, v in (layers or {}).items():
        a.layers[k] = v
    for k, v in (obsm or {}).items():
        a.obsm[k] = v
    return write_anndata(a, path, zarr_format)


def write_anndata(a, path, zarr_format=None):
    """Write an AnnData as ``.h5ad``, or as a zarr store of ``zarr_format`` (2 or 3)."""
    import anndata as ad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if zarr_format is None:
            a.write_h5ad(path)
        else:
            with ad.settings.override(zarr_write_format=zarr_format):
                a.write_zarr(path)
    return os.fspath(path)


def write_10x(path, y_genes_by_cells, genes=GENES, samples=SAMPLES):
    m = sp.csc_matrix(y_genes_by_cells.astype(np.int32))
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"] = m.data
        g["indices"] = m.indices.astype(np.int64)
        g["indptr"] = m.indptr.astype(np.int64)
        g["shape"] = np.array(m.shape, dtype=np.int32)
        g["barcodes"] = np.array(samples, dtype="S")
        feat = g.create_group("features")
        feat["name"] = np.array(genes, dtype="S")
        feat["id"] = np.array([f"ENSG{i:05d}" for i in range(len(genes))], dtype="S")
        feat["feature_type"] = np.array(["Gene Expression"] * len(genes), dtype="S")
    return os.fspath(path)


BACKENDS = [
    "ndarray", "ndarray_F", "ndarray_T", "ndarray_f32", "memmap", "memmap_T", "npy", "dataframe",
    "csc", "csr", "csr_scan", "csr_T", "csc_array", "coo",
    "h5py", "h5py_T_chunked",
    "h5ad_csr", "h5ad_csc", "h5ad_csc_tiny_scan", "h5ad_dense", "h5ad_raw", "h5ad_layer",
    "zarr2_csr", "zarr3_csc", "zarr3_dense",
    "anndata_csr", "anndata_csc", "anndata_dense", "anndata_raw", "anndata_backed", "tenx",
]


def build(name: str, y: np.ndarray, tmp) -> tuple:
    """Return (source, things_to_close) for a backend name."""
    yt = y.T  # cells x genes
    f32 = y.astype(np.float32)
    keep = []
    if name == "ndarray":
        s = DenseSource(y.copy(), GENES, SAMPLES)
    elif name == "ndarray_F":
        s = as_source(np.asfortranarray(y), genes=GENES, samples=SAMPLES)
    elif name == "ndarray_T":
        s = as_source(np.ascontiguousarray(yt), genes=GENES, samples=SAMPLES, orientation="cells x genes")
    elif name == "ndarray_f32":
        s = as_source(f32, genes=GENES, samples=SAMPLES)
    elif name in ("memmap", "memmap_T"):
        fn = os.path.join(tmp, f"{name}.dat")
        arr = np.ascontiguousarray(f32 if name == "memmap" else f32.T)
        mm = np.memmap(fn, dtype=np.float32, mode="w+", shape=arr.shape)
        mm[:] = arr
        mm.flush()
        del mm
        mm = np.memmap(fn, dtype=np.float32, mode="r", shape=arr.shape)
        s = as_source(mm, genes=GENES, samples=SAMPLES,
                      orientation="genes x samples" if name == "memmap" else "cells x genes")
    elif name == "npy":
        fn = os.path.join(tmp, "y.npy")
        np.save(fn, y)
        s = as_source(fn, genes=GENES, samples=SAMPLES)
    elif name == "dataframe":
        s = as_source(pd.DataFrame(y, index=GENES, columns=SAMPLES))
    elif name == "csc":
        s = as_source(sp.csc_matrix(f32), genes=GENES, samples=SAMPLES)
    elif name == "csr":
        s = as_source(sp.csr_matrix(y), genes=GENES, samples=SAMPLES)
    elif name == "csr_scan":
        s = as_source(sp.csr_matrix(y), genes=GENES, samples=SAMPLES, csr_strategy="scan")
    elif name == "csr_T":
        s = as_source(sp.csr_matrix(yt), genes=GENES, samples=SAMPLES, orientation="cells x genes")
    elif name == "csc_array":
        s = as_source(sp.csc_array(y), genes=GENES, samples=SAMPLES)
    elif name == "coo":
        s = as_source(sp.coo_matrix(y), genes=GENES, samples=SAMPLES)
    elif name in ("h5py", "h5py_T_chunked"):
        fn = os.path.join(tmp, f"{name}.h5")
        with h5py.File(fn, "w") as f:
            if name == "h5py":
                f["y"] = f32
            else:
                f.create_dataset("y", data=f32.T, chunks=(4, 7), compression="gzip")
        f = h5py.File(fn, "r")
        keep.append(f)
        s = as_source(f["y"], genes=GENES, samples=SAMPLES,
                      orientation="genes x samples" if name == "h5py" else "cells x genes")
    elif name.startswith("h5ad"):
        fn = os.path.join(tmp, f"{name}.h5ad")
        if name == "h5ad_csr" or name == "h5ad_raw":
            x = sp.csr_matrix(yt.astype(np.float32))
        elif name.startswith("h5ad_csc"):
            x = sp.csc_matrix(yt.astype(np.float32))
        elif name == "h5ad_dense":
            x = yt.astype(np.float32)
        else:
            x = sp.csr_matrix(np.ones_like(yt, dtype=np.float32))
        if name == "h5ad_raw":
            write_h5ad(fn, sp.csr_matrix(np.log1p(yt).astype(np.float32)), raw=x)
        elif name == "h5ad_layer":
            write_h5ad(fn, x, layers={"counts": sp.csr_matrix(yt.astype(np.float32))})
        else:
            write_h5ad(fn, x)
        kw = {}
        if name == "h5ad_csc_tiny_scan":
            kw = dict(scan_chunk=7, scan_bytes=2000)
        if name == "h5ad_layer":
            kw["layer"] = "counts"
        s = as_source(fn, **kw)
    elif name.startswith("zarr"):
        fmt = int(name[4])
        fn = os.path.join(tmp, f"{name}.zarr")
        x = yt.astype(np.float32)
        x = sp.csr_matrix(x) if "csr" in name else sp.csc_matrix(x) if "csc" in name else x
        write_h5ad(fn, x, zarr_format=fmt)
        s = as_source(fn)
    elif name.startswith("anndata"):
        import anndata as ad

        obs = pd.DataFrame(index=SAMPLES)
        var = pd.DataFrame(index=GENES)
        if name == "anndata_csr":
            a = ad.AnnData(sp.csr_matrix(yt), obs=obs, var=var)
        elif name == "anndata_csc":
            a = ad.AnnData(sp.csc_matrix(yt.astype(np.float32)), obs=obs, var=var)
        elif name == "anndata_dense":
            a = ad.AnnData(np.ascontiguousarray(yt), obs=obs, var=var)
        elif name == "anndata_raw":
            a = ad.AnnData(np.zeros_like(yt), obs=obs, var=var)
            a.raw = ad.AnnData(sp.csr_matrix(yt), obs=obs, var=var)
        else:
            fn = write_h5ad(os.path.join(tmp, "backed.h5ad"), sp.csr_matrix(yt.astype(np.float32)))
            a = ad.read_h5ad(fn, backed="r")
            keep.append(a.file)
        s = as_source(a)
    elif name == "tenx":
        s = as_source(write_10x(os.path.join(tmp, "tenx.h5"), y))
    else:  # pragma: no cover
        raise KeyError(name)
    return s, keep


@pytest.fixture(scope="session")
def ymat() -> np.ndarray:
    return make_matrix()


@pytest.fixture(scope="session")
def all_sources(ymat, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sources")
    out, handles = {}, []
    for name in BACKENDS:
        s, keep = build(name, ymat, os.fspath(tmp))
        out[name] = s
        handles.extend(keep)
    yield out
    for s in out.values():
        s.close()
    for h in handles:
        try:
            h.close()
        except Exception:
            pass


def dense(block) -> np.ndarray:
    return block.toarray() if sp.issparse(block) else np.asarray(block)
