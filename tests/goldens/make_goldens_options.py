"""Golden fixtures for the *options* of SecActPy 0.3.1's three entry points (issue 15).

Run with the SecActPy virtualenv (NOT the lazyact environment)::

    /work/secactpy-venv/bin/python tests/goldens/make_goldens_options.py [--only data,bulk,sc,st,visium,checks]

Parts:

- ``data``:   writes the synthetic inputs: ``tests/data/synth_options.h5ad`` (spots/cells with
              protein-named genes, low-count spots, five case-mixed cell types) and the Space
              Ranger folder ``tests/data/visium_synth/`` (10x HDF5 matrix, the MTX folder SecActPy
              reads, ``spatial/tissue_positions_list.csv``, ``spatial/tissue_positions.csv``,
              ``spatial/scalefactors_json.json``).  Seeded and byte-for-byte deterministic.
- ``bulk``:   ``secact_activity_inference`` with ``input_profile_control`` (unpaired / paired,
              collapsed / ``is_single_sample_level``), ``sig_filter`` -> ``bulk_*.npz``,
              ``cytosig_ly86_sigfilter_n100.npz``, ``secact_ly86_sigfilter_n100.npz``.
- ``sc``:     ``secact_activity_inference_scrnaseq(sig_filter=True)`` and the single-cell
              ``scale_factor`` reference -> ``sc_opt_*.npz``.
- ``st``:     ``secact_activity_inference_st`` with ``input_control``, ``cell_type_col`` +
              ``is_spot_level=False``, ``scale_factor``, ``min_genes``, ``sig_filter`` -> ``st_opt_*.npz``.
- ``visium``: ``secact_activity_inference_st("tests/data/visium_synth")`` -> ``visium_*.npz``.
- ``checks``: what SecActPy does on wrong or edge-case use (printed; quoted in NOTES.md 12-16).

It shares the helpers (``save``, the recording shims, ...) of ``make_goldens_sc.py`` and only
*calls* SecActPy; no SecActPy code is copied here.  See README.md and NOTES.md in this folder.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens_sc as base  # noqa: E402  (shared helpers: save, _u, _outputs, _first_cols, _Capture)

import secactpy.inference as sp_inf  # noqa: E402
from secactpy.signature import load_signature  # noqa: E402

save, _u, _outputs, _first_cols = base.save, base._u, base._outputs, base._first_cols
REPO, OUT = base.REPO, base.OUT
DATA = REPO / "tests" / "data"
SC_H5AD = base.H5AD                                   # 400 x 3000, see make_goldens_sc.py
OPT_H5AD = DATA / "synth_options.h5ad"
VISIUM = DATA / "visium_synth"
LY86 = DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"
N_STORE = 40          # result columns stored for spot/cell-level fixtures (size budget)
N_YFIRST = 3          # columns of intermediate matrices stored

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message=".*is_categorical_dtype.*")


def _rel(p: Path) -> str:
    return str(Path(p).resolve().relative_to(REPO))


# --------------------------------------------------------------------------------------
# (a) synthetic inputs
# --------------------------------------------------------------------------------------

def _programme_counts(gen, sig, genes, labels, programmes, lib_log):
    """Gamma-Poisson counts (genes x samples) whose log-rate carries CytoSig programmes per label."""
    S = sig.reindex(genes).fillna(0.0).to_numpy()
    col = {p: i for i, p in enumerate(sig.columns)}
    logr = gen.normal(-2.6, 1.4, size=len(genes))[:, None] + lib_log[None, :]
    for j, lab in enumerate(labels):
        for p in programmes.get(lab, ()):
            logr[:, j] += gen.uniform(0.8, 2.0) * np.clip(S[:, col[p]], -3, 3)
    mean = np.exp(logr)
    return gen.poisson(gen.gamma(2.0, mean / 2.0)).astype(np.float64)


OPT_TYPES = {"Tumor": 90, "stroma": 60, "Immune": 50, "Endothelial": 37, "Rare": 3}
OPT_PROGRAMMES = {"Tumor": ["TGFB1", "IL6"], "stroma": ["TGFB3", "WNT3A"], "Immune": ["IFNG", "IL2"],
                  "Endothelial": ["VEGFA", "TNFA"], "Rare": ["IL4"]}
# genes named after CytoSig proteins (for sig_filter), with SecActPy's name rules in play:
# upper-cased and cut at "." by sc/ST (so "Tgfb1", "IFNG.1", "osm" match), kept as-is by bulk;
# "LIF" has no counts (kept by scRNA, dropped by ST before sig_filter sees the genes)
OPT_PROTEIN_GENES = ["IL6", "Tgfb1", "IFNG.1", "LIF", "osm", "BMP2", "il1b", "TNFA"]


def make_options_h5ad() -> None:
    import anndata as ad

    gen = np.random.default_rng(20240715)
    sig = load_signature("cytosig")
    upper = [g for g in sig.index if g == g.upper()]
    chosen = list(gen.choice(upper, 1500, replace=False))
    genes = chosen + OPT_PROTEIN_GENES + [f"GENEY{i}" for i in range(1, 93)]
    order = gen.permutation(len(genes))
    genes = [genes[i] for i in order]
    labels = np.repeat(np.array(list(OPT_TYPES), dtype=object), list(OPT_TYPES.values()))
    gen.shuffle(labels)
    n = labels.size
    lib_log = gen.normal(0.0, 0.4, size=n)
    low = gen.choice(n, 24, replace=False)           # low-count spots (min_genes removes them)
    lib_log[low] -= gen.uniform(2.2, 3.5, size=low.size)
    rare = np.flatnonzero(labels == "Rare")
    lib_log[rare[0]] -= 3.0                          # one of the three "Rare" spots is a low one
    counts = _programme_counts(gen, sig, [g.upper().split(".")[0] for g in genes], labels, OPT_PROGRAMMES, lib_log)
    counts[genes.index("LIF"), :] = 0.0
    counts[genes.index(chosen[0]), :] = 0.0          # an all-zero signature gene too
    for g in ("IL6", "Tgfb1", "IFNG.1", "osm", "TNFA"):   # make the protein-named genes expressed
        counts[genes.index(g), :] += gen.poisson(3.0, size=n)
    assert (counts.sum(axis=0) > 0).all()
    X = sps.csr_matrix(counts.T.astype(np.float32))
    X.sort_indices()
    side = int(np.ceil(np.sqrt(n)))
    grid = np.stack([np.arange(n) % side, np.arange(n) // side], axis=1).astype(np.float64) * 100.0
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels),
                        "region": pd.Categorical(np.where(grid[:, 0] < 800, "left", "right"))},
                       index=[f"spot{j:03d}" for j in range(n)])
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=pd.Index(genes)))
    adata.obsm["spatial"] = grid
    adata.uns["generator"] = "tests/goldens/make_goldens_options.py (seed 20240715)"
    adata.uns["protein_named_genes"] = np.array(OPT_PROTEIN_GENES)
    adata.uns["all_zero_genes"] = np.array(["LIF", chosen[0]])
    adata.uns["low_count_spots"] = np.array(sorted(obs.index[low]))
    adata.write_h5ad(OPT_H5AD, compression="gzip")
    det = np.asarray((X > 0).sum(axis=1)).ravel()
    print(f"  wrote {OPT_H5AD.name}: {X.shape}, density {X.nnz / np.prod(X.shape):.3f}, detected genes "
          f"{det.min()}-{det.max()} (5% {np.percentile(det, 5):.0f}), {OPT_H5AD.stat().st_size / 1024:.1f} KiB",
          flush=True)


# Visium: a 16 x 32 patch of the hexagonal array (array_row + array_col even), a disc in tissue
VIS_ROWS, VIS_COLS = 16, 32
VIS_PROTEIN_GENES = ["IL6", "TGFB1", "IFNG", "LIF", "OSM"]
VIS_SCALEFACTORS = {"spot_diameter_fullres": 89.43, "tissue_hires_scalef": 0.17011142,
                    "fiducial_diameter_fullres": 144.47, "tissue_lowres_scalef": 0.051033426}


def _gz_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as f:   # deterministic header
        f.write(data)
    return buf.getvalue()


def _write_10x_h5(path: Path, counts_csc: sps.csc_matrix, barcodes, ids, names, feature_types, genome) -> None:
    """Cell Ranger >= 3 / Space Ranger feature-barcode matrix HDF5 (matrix/{data,indices,indptr,shape,...})."""
    import h5py

    def s(values):
        values = [str(v).encode() for v in values]
        return np.array(values, dtype=f"S{max(len(v) for v in values)}")

    with h5py.File(path, "w", libver="earliest", track_order=False) as f:
        f.attrs["filetype"] = np.bytes_("matrix")
        f.attrs["version"] = np.int64(2)
        f.attrs["software_version"] = np.bytes_("spaceranger-synthetic (lazyact test fixture)")
        f.attrs["chemistry_description"] = np.bytes_("Visium Spatial Gene Expression")
        f.attrs["library_ids"] = s(["synthetic"])
        f.attrs["original_gem_groups"] = np.array([1], dtype=np.int64)
        m = f.create_group("matrix")
        kw = dict(compression="gzip", compression_opts=4, shuffle=True, track_times=False)
        m.create_dataset("barcodes", data=s(barcodes), **kw)
        m.create_dataset("data", data=counts_csc.data.astype(np.int32), **kw)
        m.create_dataset("indices", data=counts_csc.indices.astype(np.int64), **kw)
        m.create_dataset("indptr", data=counts_csc.indptr.astype(np.int64), **kw)
        m.create_dataset("shape", data=np.array(counts_csc.shape, dtype=np.int32), track_times=False)
        feat = m.create_group("features")
        feat.create_dataset("_all_tag_keys", data=s(["genome"]), track_times=False)
        feat.create_dataset("feature_type", data=s(feature_types), **kw)
        feat.create_dataset("genome", data=s([genome] * len(ids)), **kw)
        feat.create_dataset("id", data=s(ids), **kw)
        feat.create_dataset("name", data=s(names), **kw)


def _png_gray(path: Path, img: np.ndarray) -> None:
    """A minimal 8-bit greyscale PNG (deterministic; no imaging library in the SecActPy venv)."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    h, w = img.shape
    raw = b"".join(b"\x00" + img[i].astype(np.uint8).tobytes() for i in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _tissue_image(pxl_row, pxl_col, in_tissue, scalef: float) -> np.ndarray:
    """A pale background with a darker disc where the in-tissue spots are (image pixels = fullres * scalef)."""
    size = int(np.ceil(max(pxl_row.max(), pxl_col.max()) * scalef * 1.15))
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = pxl_row[in_tissue == 1].mean() * scalef, pxl_col[in_tissue == 1].mean() * scalef
    r = np.hypot(pxl_row[in_tissue == 1] - pxl_row[in_tissue == 1].mean(),
                 pxl_col[in_tissue == 1] - pxl_col[in_tissue == 1].mean()).max() * scalef * 1.05
    d = np.hypot(yy - cy, xx - cx)
    return np.where(d < r, 150 + 40 * np.cos(d / max(r, 1) * 6.0), 235).astype(np.uint8)


def make_visium() -> None:
    gen = np.random.default_rng(20240716)
    sig = load_signature("cytosig")
    upper = [g for g in sig.index if g == g.upper() and g not in VIS_PROTEIN_GENES]
    chosen = list(gen.choice(upper, 880, replace=False))
    names = chosen + VIS_PROTEIN_GENES + [f"GENEZ{i}" for i in range(1, 112)]
    names = [names[i] for i in gen.permutation(len(names))]
    # 10x data carries duplicated symbols under different Ensembl ids: duplicate one gene
    dup_src = chosen[3]
    names.insert(names.index(dup_src) + 7, dup_src)
    ids = [f"ENSG{100000 + 17 * i:011d}" for i in range(len(names))]

    # positions: every array spot of the patch, in Space Ranger's (whitelist) order, shuffled here
    spots = [(r, c) for r in range(VIS_ROWS) for c in range(VIS_COLS) if (r + c) % 2 == 0]
    alphabet = np.array(list("ACGT"))
    barcodes_all: list[str] = []
    while len(barcodes_all) < len(spots):        # a list, not a set: the order must not depend on hashing
        bc = "".join(gen.choice(alphabet, 16)) + "-1"
        if bc not in barcodes_all:
            barcodes_all.append(bc)
    gen.shuffle(barcodes_all)
    rc = np.array(spots, dtype=np.int64)
    centre = np.array([(VIS_ROWS - 1) / 2, (VIS_COLS - 1) / 2])
    dist = np.hypot((rc[:, 0] - centre[0]) * 1.7, rc[:, 1] - centre[1])
    in_tissue = (dist < 14.5).astype(np.int64)
    pxl_row = np.round(1200 + rc[:, 0] * 138.2 + gen.normal(0, 0.8, len(spots))).astype(np.int64)
    pxl_col = np.round(900 + rc[:, 1] * 79.8 + gen.normal(0, 0.8, len(spots))).astype(np.int64)
    pos = pd.DataFrame({"barcode": barcodes_all, "in_tissue": in_tissue, "array_row": rc[:, 0],
                        "array_col": rc[:, 1], "pxl_row_in_fullres": pxl_row, "pxl_col_in_fullres": pxl_col})
    # the filtered matrix: in-tissue barcodes plus three off-tissue ones (SecActPy drops those), sorted
    off = pos.index[pos.in_tissue == 0][:3]
    mat_idx = sorted(list(pos.index[pos.in_tissue == 1]) + list(off), key=lambda i: pos.barcode[i])
    mbar = [pos.barcode[i] for i in mat_idx]
    n = len(mbar)
    region = np.where(rc[mat_idx, 1] < VIS_COLS / 3, "A", np.where(rc[mat_idx, 1] < 2 * VIS_COLS / 3, "B", "C"))
    lib_log = gen.normal(0.3, 0.35, size=n)
    low = gen.choice(n, 12, replace=False)
    lib_log[low] -= gen.uniform(2.0, 3.2, size=low.size)
    counts = _programme_counts(gen, sig, names, region, {"A": ["IL6", "IFNG"], "B": ["TGFB1", "WNT3A"],
                                                          "C": ["TNFA", "VEGFA"]}, lib_log)
    for g in ("GENEZ1", "GENEZ2", chosen[10]):       # all-zero features, as in every real matrix
        counts[names.index(g), :] = 0.0
    counts[names.index("IL6"), :] += gen.poisson(2.0, size=n)
    assert (counts.sum(axis=0) > 0).all()
    C = sps.csc_matrix(counts.astype(np.int64))
    C.sort_indices()

    if VISIUM.exists():
        shutil.rmtree(VISIUM)
    (VISIUM / "filtered_feature_bc_matrix").mkdir(parents=True)
    (VISIUM / "spatial").mkdir()
    ftype = ["Gene Expression"] * len(names)
    _write_10x_h5(VISIUM / "filtered_feature_bc_matrix.h5", C, mbar, ids, names, ftype, "GRCh38")
    mtx = io.BytesIO()
    scipy.io.mmwrite(mtx, sps.coo_matrix(C), field="integer",
                     comment='metadata_json: {"software_version": "spaceranger-synthetic", "format_version": 2}')
    mdir = VISIUM / "filtered_feature_bc_matrix"
    (mdir / "matrix.mtx.gz").write_bytes(_gz_bytes(mtx.getvalue()))
    (mdir / "features.tsv.gz").write_bytes(_gz_bytes("".join(
        f"{i}\t{nm}\tGene Expression\n" for i, nm in zip(ids, names)).encode()))
    (mdir / "barcodes.tsv.gz").write_bytes(_gz_bytes("".join(f"{b}\n" for b in mbar).encode()))
    body = pos.to_csv(index=False, header=False, lineterminator="\n")
    (VISIUM / "spatial" / "tissue_positions_list.csv").write_text(body)               # Space Ranger 1.x
    (VISIUM / "spatial" / "tissue_positions.csv").write_text(pos.to_csv(index=False, lineterminator="\n"))  # 2.x
    (VISIUM / "spatial" / "scalefactors_json.json").write_text(json.dumps(VIS_SCALEFACTORS, indent=4) + "\n")
    for res, key in (("hires", "tissue_hires_scalef"), ("lowres", "tissue_lowres_scalef")):
        _png_gray(VISIUM / "spatial" / f"tissue_{res}_image.png",
                  _tissue_image(pxl_row, pxl_col, in_tissue, VIS_SCALEFACTORS[key]))
    (VISIUM / "PROVENANCE.md").write_text(VISIUM_PROVENANCE.format(
        n_genes=len(names), n_bc=n, n_pos=len(pos), n_in=int(in_tissue.sum()), dup=dup_src,
        zeros=", ".join(("GENEZ1", "GENEZ2", chosen[10])), nnz=C.nnz))
    size = sum(p.stat().st_size for p in VISIUM.rglob("*") if p.is_file())
    det = np.asarray((C > 0).sum(axis=0)).ravel()
    print(f"  wrote {VISIUM.name}/: {len(names)} features x {n} barcodes ({int(in_tissue.sum())} in tissue of "
          f"{len(pos)}), detected genes {det.min()}-{det.max()}, {size / 1024:.1f} KiB", flush=True)


VISIUM_PROVENANCE = """\
# `tests/data/visium_synth/` (synthetic Space Ranger output)

Written by `tests/goldens/make_goldens_options.py --only data` (seed 20240716); no real sample.
It has the layout and file formats of a Space Ranger `outs/` folder, small enough to commit:

- `filtered_feature_bc_matrix.h5`: the 10x feature-barcode HDF5 format of Cell Ranger >= 3 /
  Space Ranger (`matrix/data` int32, `matrix/indices` and `matrix/indptr` int64, CSC with one
  column per barcode, `matrix/shape` = [features, barcodes] int32, `matrix/barcodes`,
  `matrix/features/{{id,name,feature_type,genome,_all_tag_keys}}` as fixed-length byte strings,
  root attributes `filetype="matrix"`, `version=2`); {n_genes} features x {n_bc} barcodes, {nnz} non-zeros.
- `filtered_feature_bc_matrix/{{matrix.mtx.gz,features.tsv.gz,barcodes.tsv.gz}}`: the same matrix
  in the MTX layout (features.tsv: id, name, "Gene Expression"). SecActPy 0.3.1 reads only this one.
- `spatial/tissue_positions_list.csv` (Space Ranger 1.x, no header) and `spatial/tissue_positions.csv`
  (Space Ranger >= 2.0, header `barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,pxl_col_in_fullres`):
  the same {n_pos} array spots of a 16 x 32 patch of the hexagonal grid (array_row + array_col even), in a
  shuffled order; {n_in} are in tissue. A real folder has one of the two files; both are here so each
  reader can be tested. SecActPy reads `tissue_positions_list.csv` first.
- `spatial/scalefactors_json.json`: the four Space Ranger keys (values typical of a real slide).
- `spatial/tissue_{{hires,lowres}}_image.png`: small greyscale stand-ins (a disc over the in-tissue spots)
  sized as `fullres pixels x tissue_{{hires,lowres}}_scalef`, so readers that expect the images (scanpy's
  `read_visium`) work. SecActPy reads neither the images nor the scale factors for inference.

Deliberate features: the matrix holds the in-tissue barcodes **and three off-tissue ones** (SecActPy keeps
only `in_tissue == 1`); barcodes sorted as Space Ranger writes them; one symbol under two Ensembl ids
(`{dup}`); all-zero features ({zeros}); 12 low-count spots (for `min_genes`); genes named after CytoSig
proteins (IL6, TGFB1, IFNG, LIF, OSM; for `sig_filter`); CytoSig programmes planted in three column bands.
"""


def make_data() -> None:
    print("(a) synthetic inputs", flush=True)
    make_options_h5ad()
    make_visium()


# --------------------------------------------------------------------------------------
# capture of the differential matrix handed to the bulk function by the sc/ST functions
# --------------------------------------------------------------------------------------

class _CaptureDiff(base._Capture):
    """base._Capture plus the DataFrame that *_st / *_scrnaseq hand to secact_activity_inference."""

    def __enter__(self):
        super().__enter__()
        self.diff = []
        self._o_bulk = sp_inf.secact_activity_inference

        def bulk_w(*a, **kw):
            prof = kw.get("input_profile", a[0] if a else None)
            self.diff.append(prof.copy())
            return self._o_bulk(*a, **kw)

        sp_inf.secact_activity_inference = bulk_w
        return self

    def __exit__(self, *exc):
        sp_inf.secact_activity_inference = self._o_bulk
        super().__exit__(*exc)


COMMON = dict(lambda_=5e5, seed=0, rng_method="srand", backend="numpy", verbose=False)


def _params(function, n_rand, signature="CytoSig", **flags):
    d = dict(function=np.array(function), signature=np.array(signature), lambda_=np.float64(5e5),
             n_rand=np.int64(n_rand), seed=np.int64(0), rng=np.array("srand"), backend=np.array("numpy"))
    for k, v in flags.items():
        d[k] = np.asarray(v)
    return d


def _run(fn, *a, **kw):
    with _CaptureDiff() as cap:
        res = fn(*a, **COMMON, **kw)
    return res, cap


# --------------------------------------------------------------------------------------
# (b) bulk: input_profile_control, is_paired, is_single_sample_level, sig_filter
# --------------------------------------------------------------------------------------

BULK_INPUTS = "bulk_ctrl_inputs.npz"


def _bulk_inputs():
    """Treatment T (genes x S1..S6), control C (same genes and order; S3, S1, S5, N1), a control
    C_diff with a different gene set in another order, and a random 12-protein signature."""
    gen = np.random.default_rng(20240717)
    sig = load_signature("cytosig")
    cyto = [g for g in sig.index]
    chosen = list(gen.choice(cyto, 780, replace=False))
    prot = ["IL6", "TGFB1", "IFNG", "IL1B", "OSM", "LIF", "BMP2", "IL4", "IL10", "Activin A"]
    genes = chosen + prot[:8] + [f"BGX{i}" for i in range(1, 113)]
    genes = [genes[i] for i in gen.permutation(len(genes))]
    dy = lambda a: np.round(a * 1024.0) / 1024.0       # noqa: E731  (exact float64 values)
    base_lvl = gen.normal(5.0, 2.0, size=(len(genes), 1))
    S = sig.reindex(genes).fillna(0.0).to_numpy()
    col = {p: i for i, p in enumerate(sig.columns)}
    effect = 0.4 * np.clip(S[:, col["IL6"]], -3, 3) + 0.3 * np.clip(S[:, col["TGFB1"]], -3, 3)
    T = dy(base_lvl + effect[:, None] + gen.normal(0, 0.5, size=(len(genes), 6)))
    C = dy(base_lvl + gen.normal(0, 0.5, size=(len(genes), 4)))
    T_df = pd.DataFrame(T, index=genes, columns=[f"S{i}" for i in range(1, 7)])
    C_df = pd.DataFrame(C, index=genes, columns=["S3", "S1", "S5", "N1"])
    # control with another gene set, in a shuffled order: 60 treatment genes missing (20 of them CytoSig
    # genes), 30 extra genes (10 CytoSig genes absent from T; "Activin A" and "IL10", named after CytoSig
    # proteins: with sig_filter they count as expression genes, see NOTES.md section 12)
    shared_sig = [g for g in genes if g in set(cyto)]
    drop = list(gen.choice(shared_sig, 20, replace=False)) + list(
        gen.choice([g for g in genes if g not in set(cyto)], 40, replace=False))
    extra_sig = list(gen.choice([g for g in cyto if g not in set(genes)], 10, replace=False))
    extra = extra_sig + ["Activin A", "IL10"] + [f"CGX{i}" for i in range(1, 19)]
    keep = [g for g in genes if g not in set(drop)]
    cd_genes = keep + extra
    cd_genes = [cd_genes[i] for i in gen.permutation(len(cd_genes))]
    Cd = dy(np.vstack([C_df.loc[keep].to_numpy(), gen.normal(5.0, 2.0, size=(len(extra), 4))]))
    Cd_df = pd.DataFrame(Cd, index=keep + extra, columns=C_df.columns).loc[cd_genes]
    # random signature: 400 genes x 12 proteins; P3 and P7 nearly equal (grouped at 0.9); P9..P12 named
    # after genes of the random expression (sig_filter)
    rgenes = [f"RG{i:03d}" for i in range(500)]
    rgen = np.random.default_rng(7)
    R = rgen.standard_normal((400, 12))
    R[:, 6] = R[:, 2] + 0.2 * rgen.standard_normal(400)
    R = dy(R)
    rprot = [f"P{i}" for i in range(1, 9)] + ["RG450", "RG010", "RG499", "RG777"]
    R_df = pd.DataFrame(R, index=rgenes[:400], columns=rprot)
    RT = dy(rgen.normal(3.0, 1.0, size=(500, 3)) + 0.5 * np.r_[R[:, 0], np.zeros(100)][:, None])
    RC = dy(rgen.normal(3.0, 1.0, size=(500, 2)))
    RT_df = pd.DataFrame(RT, index=rgenes[::-1], columns=["A", "B", "C"])      # reversed gene order
    RC_df = pd.DataFrame(RC, index=rgenes[::-1], columns=["B", "Z"])
    return dict(T=T_df, C=C_df, Cd=Cd_df, R=R_df, RT=RT_df, RC=RC_df)


def _df_arrays(prefix, df):
    return {prefix: df.to_numpy(), f"{prefix}_genes": _u(df.index), f"{prefix}_samples": _u(df.columns)}


def _bulk_case(name, Y, C, n_rand, sig="cytosig", inputs_ref=None, **kw):
    t0 = time.time()
    with base._Capture() as cap:
        res = sp_inf.secact_activity_inference(Y, C, sig_matrix=sig, n_rand=n_rand, **COMMON, **kw)
    out, proteins, samples = _outputs(res)
    call = cap.ridge[0]
    # the differential matrix, recomputed with pandas exactly as described in NOTES.md section 12
    if C is None:
        D = Y.subtract(Y.mean(axis=1), axis=0) if Y.shape[1] > 1 else Y.set_axis(["Change"], axis=1)
    elif kw.get("is_paired"):
        common = Y.columns.intersection(C.columns)
        D = Y[common] - C[common]
    else:
        D = Y.subtract(C.mean(axis=1), axis=0)
    if C is not None and not kw.get("is_single_sample_level"):
        D = pd.DataFrame({"Change": D.mean(axis=1)})
    Xs = sig if isinstance(sig, pd.DataFrame) else load_signature(sig)
    if kw.get("sig_filter"):
        Xs = Xs.loc[:, Xs.columns.isin(set(D.index))]
    grouped = kw.get("is_group_sig", not (isinstance(sig, str) and sig == "cytosig"))
    if grouped:
        Xs = sp_inf.group_signatures(Xs, cor_threshold=0.9)
    genes = D.index.intersection(Xs.index)
    Da = D.loc[genes]
    Yz = ((Da - Da.mean()) / Da.std(ddof=1)).fillna(0).to_numpy()
    np.testing.assert_allclose(Yz, call["Y"], rtol=0, atol=1e-13)   # Y_in stored is SecActPy's own
    Xa = Xs.loc[genes].astype(np.float64)
    np.testing.assert_array_equal(((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy(), call["X"])
    extra = {"inputs_ref": np.array(inputs_ref)} if inputs_ref else {}
    save(f"{name}.npz", **_params("secact_activity_inference", n_rand,
                                  signature=sig if isinstance(sig, str) else "random (see inputs)",
                                  is_differential=False, is_paired=bool(kw.get("is_paired", False)),
                                  is_single_sample_level=bool(kw.get("is_single_sample_level", False)),
                                  sig_filter=bool(kw.get("sig_filter", False)), is_group_sig=bool(grouped)),
         **extra, genes=_u(genes), Y_diff=Da.to_numpy(), Y_in=call["Y"], groups=_u(Xs.columns),
         proteins=proteins, samples=samples, **out)
    print(f"    {time.time() - t0:.1f}s", flush=True)
    return res


def make_bulk() -> None:
    print("(b) bulk options", flush=True)
    d = _bulk_inputs()
    T, C, Cd, R, RT, RC = d["T"], d["C"], d["Cd"], d["R"], d["RT"], d["RC"]
    save(BULK_INPUTS, **_df_arrays("T", T), **_df_arrays("C", C), **_df_arrays("Cd", Cd),
         **_df_arrays("R", R), **_df_arrays("RT", RT), **_df_arrays("RC", RC))
    ref = BULK_INPUTS
    _bulk_case("bulk_ctrl_unpaired_n100", T, C, 100, inputs_ref=ref)
    _bulk_case("bulk_ctrl_unpaired_n1000", T, C, 1000, inputs_ref=ref)
    _bulk_case("bulk_ctrl_unpaired_single_n100", T, C, 100, inputs_ref=ref, is_single_sample_level=True)
    _bulk_case("bulk_ctrl_unpaired_diffgenes_n100", T, Cd, 100, inputs_ref=ref)
    _bulk_case("bulk_ctrl_unpaired_diffgenes_single_sigfilter_n100", T, Cd, 100, inputs_ref=ref,
               is_single_sample_level=True, sig_filter=True)
    _bulk_case("bulk_ctrl_paired_n100", T, C, 100, inputs_ref=ref, is_paired=True)
    _bulk_case("bulk_ctrl_paired_single_n100", T, C, 100, inputs_ref=ref, is_paired=True,
               is_single_sample_level=True)
    _bulk_case("bulk_ctrl_paired_diffgenes_single_n1000", T, Cd, 1000, inputs_ref=ref, is_paired=True,
               is_single_sample_level=True)
    _bulk_case("bulk_ctrl_onesample_single_n100", T[["S2"]], C, 100, inputs_ref=ref, is_single_sample_level=True)
    # random signature (custom DataFrame -> grouping on by default), reversed gene order, one paired sample
    _bulk_case("bulk_ctrl_randsig_unpaired_n100", RT, RC, 100, sig=R, inputs_ref=ref)
    _bulk_case("bulk_ctrl_randsig_paired_single_sigfilter_n100", RT, RC, 100, sig=R, inputs_ref=ref,
               is_paired=True, is_single_sample_level=True, sig_filter=True)
    _bulk_case("bulk_sigfilter_randsig_center_n100", RT, None, 100, sig=R, inputs_ref=ref, sig_filter=True)
    make_bulk_files(T, C)
    make_bulk_sigfilter_ly86()


def make_bulk_files(T, C) -> None:
    """File inputs: duplicated gene names (first occurrence kept by SecActPy's file loader)."""
    t0 = time.time()
    Tf, Cf = T.iloc[:300].copy(), C.iloc[:300].copy()
    # duplicate rows: a later copy of gene 5 in the treatment, an earlier copy of gene 7 in the control
    t_rows = list(range(300)) + [5]
    c_rows = [7] + list(range(300))
    Tv, Cv = Tf.to_numpy()[t_rows], Cf.to_numpy()[c_rows]
    Tv[-1] += 1.0
    Cv[0] -= 1.0
    tname = [Tf.index[i] for i in t_rows]
    cname = [Cf.index[i] for i in c_rows]

    def text(names, cols, vals):
        lines = ["\t".join(["gene"] + list(cols))]
        lines += ["\t".join([n] + [repr(float(v)) for v in row]) for n, row in zip(names, vals)]
        return "\n".join(lines) + "\n"

    t_txt, c_txt = text(tname, Tf.columns, Tv), text(cname, Cf.columns, Cv)
    with tempfile.TemporaryDirectory() as tmp:
        tp, cpth = Path(tmp) / "treatment.tsv", Path(tmp) / "control.tsv"
        tp.write_text(t_txt)
        cpth.write_text(c_txt)
        with base._Capture() as cap:
            res = sp_inf.secact_activity_inference(str(tp), str(cpth), sig_matrix="cytosig", n_rand=100, **COMMON)
        T_loaded = sp_inf.load_expression_data(str(tp))
        C_loaded = sp_inf.load_expression_data(str(cpth))
    assert not T_loaded.index.has_duplicates and not C_loaded.index.has_duplicates
    np.testing.assert_array_equal(T_loaded.loc[Tf.index[5]].to_numpy(), Tf.iloc[5].to_numpy())   # first kept
    np.testing.assert_array_equal(C_loaded.loc[Cf.index[7]].to_numpy(), Cv[0])                   # first kept
    out, proteins, samples = _outputs(res)
    save("bulk_ctrl_files_n100.npz",
         **_params("secact_activity_inference", 100, is_differential=False, is_paired=False,
                   is_single_sample_level=False, sig_filter=False, is_group_sig=False),
         treatment_tsv=np.array(t_txt), control_tsv=np.array(c_txt),
         input_note=np.array("write treatment_tsv / control_tsv to 'treatment.tsv' / 'control.tsv' and pass the paths"),
         genes=_u(_overlap_after_files(T_loaded, C_loaded)),
         Y_in=cap.ridge[0]["Y"], proteins=proteins, samples=samples, **out)
    print(f"    {time.time() - t0:.1f}s", flush=True)


def _overlap_after_files(T_loaded, C_loaded):
    D = T_loaded.subtract(C_loaded.mean(axis=1), axis=0)
    return D.index.intersection(load_signature("cytosig").index)


def make_bulk_sigfilter_ly86() -> None:
    for sig, label, grouped in (("cytosig", "cytosig", False), ("secact", "secact", True)):
        t0 = time.time()
        with base._Capture() as cap:
            res = sp_inf.secact_activity_inference(str(LY86), is_differential=True, sig_matrix=sig, n_rand=100,
                                                   sig_filter=True, **COMMON)
        out, proteins, samples = _outputs(res)
        Xs = load_signature(sig)
        expr = sp_inf.load_expression_data(str(LY86))
        Xs = Xs.loc[:, Xs.columns.isin(set(expr.index))]
        kept = _u(Xs.columns)
        if grouped:
            Xs = sp_inf.group_signatures(Xs, cor_threshold=0.9)
        genes = expr.index.intersection(Xs.index)
        Xa = Xs.loc[genes].astype(np.float64)
        np.testing.assert_array_equal(((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy(), cap.ridge[0]["X"])
        save(f"{label}_ly86_sigfilter_n100.npz",
             **_params("secact_activity_inference", 100, signature="CytoSig" if sig == "cytosig" else "SecAct",
                       is_differential=True, sig_filter=True, is_group_sig=grouped),
             input_file=np.array(_rel(LY86)), kept_proteins=kept, groups=_u(Xs.columns), genes=_u(genes),
             proteins=proteins, samples=samples, **out)
        print(f"    {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------------------
# shared: an independent recomputation of SecActPy's sc/ST log matrix (for intermediates)
# --------------------------------------------------------------------------------------

def _clean(names):
    return [str(n).upper().split(".")[0] for n in names]


def _log_matrix(C, names, *, drop_zero, score="sum", scale=1e5):
    """genes x samples counts -> (kept cleaned names, log2(C/libsize*scale+1)) as SecActPy's ST/sc front end."""
    C = np.asarray(C, dtype=np.float64)
    names = list(names)
    if drop_zero:
        keep = C.sum(axis=1) > 0
        C, names = C[keep], [n for n, k in zip(names, keep) if k]
    names = _clean(names)
    s = C.sum(axis=1) if score == "sum" else C.mean(axis=1)
    best = {}
    for i, n in enumerate(names):
        if n not in best or s[i] > s[best[n]]:
            best[n] = i
    keep = sorted(best.values())
    C, names = C[keep], [names[i] for i in keep]
    return names, np.log2(C / C.sum(axis=0) * scale + 1)


def _h5ad_counts(path, *, min_genes=0):
    import anndata as ad
    a = ad.read_h5ad(path)
    if min_genes:
        a = a[np.asarray((a.X > 0).sum(axis=1)).ravel() >= min_genes].copy()
    return a, a.X.T.toarray().astype(np.float64), list(a.var_names)


def _x_stats(genes):
    Xa = load_signature("cytosig").loc[list(genes)].astype(np.float64)
    return {"X_sig_colmean": Xa.mean().to_numpy(), "X_sig_colsd": Xa.std(ddof=1).to_numpy()}


def _st_save(name, res, cap, *, function, n_rand, genes_order, Ylog, offset, flags, extra=None, store=N_STORE):
    """Save an sc/ST fixture; checks the captured differential matrix against Ylog - offset."""
    out, proteins, samples = _outputs(res)
    extras = dict(extra or {})
    if cap.diff:
        D = cap.diff[0]
        genes = D.index.intersection(load_signature("cytosig").index)
        assert list(genes) == list(genes_order), "gene order"
        Dg = D.loc[genes].to_numpy()[:, :N_YFIRST]
        if Ylog is not None:
            np.testing.assert_allclose(Ylog - offset[:, None], Dg, rtol=0, atol=1e-12)
        extras["Y_diff_first"] = Dg
        if offset is not None:
            extras["offset"] = offset
        Xa = load_signature("cytosig").loc[list(genes), list(proteins)].astype(np.float64)   # CytoSig: ungrouped
        np.testing.assert_array_equal(((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy(), cap.ridge[0]["X"])
    else:
        genes = genes_order
    if len(samples) > store:
        out, samples, more = _first_cols(out, samples, store)
        extras.update(more)
    save(f"{name}.npz", **_params(function, n_rand, **flags), genes=_u(genes), proteins=proteins,
         samples=samples, **extras, **out)


# --------------------------------------------------------------------------------------
# (c) scRNA-seq: sig_filter; the single-cell scale_factor reference
# --------------------------------------------------------------------------------------

def make_sc() -> None:
    import anndata as ad
    print("(c) scRNA-seq options", flush=True)
    sig = load_signature("cytosig")
    a = ad.read_h5ad(OPT_H5AD)
    Cfull = a.X.T.toarray().astype(np.float64)
    names, L = _log_matrix(Cfull, a.var_names, drop_zero=False, score="mean")
    pos = {n: i for i, n in enumerate(names)}
    kept_prot = [p for p in sig.columns if p in pos]
    assert kept_prot, kept_prot

    t0 = time.time()
    res, cap = _run(sp_inf.secact_activity_inference_scrnaseq, str(OPT_H5AD), "cell_type", sig_matrix="cytosig",
                    is_single_cell_level=True, n_rand=100, sig_filter=True)
    genes = [g for g in names if g in set(sig.index)]
    r = L[[pos[g] for g in genes]].mean(axis=1)
    _st_save("sc_opt_sigfilter_cell_dense_n100", res, cap, function="secact_activity_inference_scrnaseq",
             n_rand=100, genes_order=genes, Ylog=L[[pos[g] for g in genes]][:, :N_YFIRST], offset=r,
             flags=dict(input_file=_rel(OPT_H5AD), is_single_cell_level=True, sparse_mode=False, sig_filter=True,
                        cell_type_col="cell_type"),
             extra=dict(kept_proteins=_u(kept_prot)))
    assert list(res["beta"].index) == kept_prot
    print(f"    {time.time() - t0:.1f}s  kept proteins {kept_prot}", flush=True)

    t0 = time.time()
    res, cap = _run(sp_inf.secact_activity_inference_scrnaseq, str(OPT_H5AD), "cell_type", sig_matrix="cytosig",
                    is_single_cell_level=True, n_rand=100, sig_filter=True, sparse_mode=True)
    st = cap.stats[0]
    genes_sig = [g for g in sig.loc[:, kept_prot].index if g in pos]
    _st_save("sc_opt_sigfilter_cell_sparse_n100", res, cap, function="secact_activity_inference_scrnaseq",
             n_rand=100, genes_order=genes_sig, Ylog=None, offset=None,
             flags=dict(input_file=_rel(OPT_H5AD), is_single_cell_level=True, sparse_mode=True, sig_filter=True,
                        cell_type_col="cell_type", batch_size=5000),
             extra=dict(kept_proteins=_u(kept_prot), row_means=st.row_means, mu=st.mu, sigma=st.sigma))
    print(f"    {time.time() - t0:.1f}s", flush=True)

    t0 = time.time()
    res, cap = _run(sp_inf.secact_activity_inference_scrnaseq, str(OPT_H5AD), "cell_type", sig_matrix="cytosig",
                    is_single_cell_level=False, n_rand=100, sig_filter=True)
    assert list(res["beta"].columns) == sorted(OPT_TYPES, key=str.lower)
    D = cap.diff[0]
    genes = D.index.intersection(sig.index)
    _st_save("sc_opt_sigfilter_pseudobulk_n100", res, cap, function="secact_activity_inference_scrnaseq",
             n_rand=100, genes_order=list(genes), Ylog=None, offset=None,
             flags=dict(input_file=_rel(OPT_H5AD), is_single_cell_level=False, sig_filter=True,
                        cell_type_col="cell_type"),
             extra=dict(kept_proteins=_u(kept_prot), Y_in=cap.ridge[0]["Y"]))
    print(f"    {time.time() - t0:.1f}s", flush=True)

    # scale_factor at single-cell level: SecActPy's scRNA-seq function has none (1e5 fixed). Its ST function
    # at spot level is the same computation when no gene is all-zero (ST drops those first) and X holds the
    # counts (no .raw): checked here at 1e5 (beta/se/z to 1e-12, p identical), then the reference for
    # scale_factor=1e4 is the ST function on that input.
    nz = np.asarray(a.X.sum(axis=0)).ravel() > 0
    b = a[:, nz].copy()
    r_sc = sp_inf.secact_activity_inference_scrnaseq(b.copy(), "cell_type", sig_matrix="cytosig",
                                                     is_single_cell_level=True, n_rand=100, **COMMON)
    r_st = sp_inf.secact_activity_inference_st(b.copy(), sig_matrix="cytosig", n_rand=100, **COMMON)
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(r_sc[k].to_numpy(), r_st[k].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r_sc["pvalue"].to_numpy(), r_st["pvalue"].to_numpy())
    t0 = time.time()
    for scale in (1e4,):
        res, cap = _run(sp_inf.secact_activity_inference_st, b.copy(), sig_matrix="cytosig", n_rand=100,
                        scale_factor=scale)
        names_b, Lb = _log_matrix(b.X.T.toarray(), b.var_names, drop_zero=True, scale=scale)
        posb = {n: i for i, n in enumerate(names_b)}
        genes = [g for g in names_b if g in set(sig.index)]
        Lg = Lb[[posb[g] for g in genes]]
        _st_save(f"sc_opt_scale{scale:.0e}_cell_dense_n100".replace("+0", ""), res, cap,
                 function="secact_activity_inference_st (as scRNA-seq single-cell reference)", n_rand=100,
                 genes_order=genes, Ylog=Lg[:, :N_YFIRST], offset=Lg.mean(axis=1),
                 flags=dict(input_file=_rel(OPT_H5AD), scale_factor=scale, is_single_cell_level=True,
                            input_note="synth_options.h5ad without its all-zero genes: adata[:, X.sum(0) > 0]"),
                 extra=dict(removed_genes=_u(a.var_names[~nz])))
    print(f"    {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------------------
# (d) spatial: input_control, cell_type_col, scale_factor, min_genes, sig_filter
# --------------------------------------------------------------------------------------

ST_CTRL = "st_opt_control_counts.npz"


def _st_control():
    """A control counts table (genes x 50 spots) for the sc_synth_cytosig.h5ad genes: other gene order,
    lower-case / version-suffixed names, a duplicated name (the LAST copy is used), 150 genes missing,
    20 extra genes, one all-zero gene."""
    import anndata as ad
    gen = np.random.default_rng(20240718)
    a = ad.read_h5ad(SC_H5AD)
    names = list(a.var_names)
    C = a.X.T.toarray().astype(np.float64)
    lam = C.mean(axis=1) * 1.3 + 0.02
    ctrl = gen.poisson(lam[:, None] * gen.uniform(0.6, 1.6, size=(1, 50)))
    keep = np.sort(gen.choice(len(names), len(names) - 150, replace=False))
    cn = [names[i] for i in keep]
    cv = ctrl[keep].astype(np.float64)
    cn[3] = cn[3].lower()
    cn[4] = cn[4] + ".7"
    extra_names = [f"CTRLX{i}" for i in range(20)]
    cn += extra_names
    cv = np.vstack([cv, gen.poisson(0.5, size=(20, 50))])
    dup = cn[8]
    cn.append(dup.lower())                       # a second copy of gene 8: cleans to the same name, used
    cv = np.vstack([cv, gen.poisson(lam[keep[8]] * 4, size=(1, 50))])
    cv[12] = 0.0
    order = gen.permutation(len(cn))
    return pd.DataFrame(cv[order], index=[cn[i] for i in order], columns=[f"ctrl{j:02d}" for j in range(50)])


def _ctrl_mean(ctrl_df, scale=1e5):
    """SecActPy's control profile: names cleaned (no dedup, last copy wins), log per spot over all genes."""
    names = _clean(ctrl_df.index)
    Cv = ctrl_df.to_numpy(np.float64)
    L = np.log2(Cv / Cv.sum(axis=0) * scale + 1)
    last = {n: i for i, n in enumerate(names)}
    return {n: L[i].mean() for n, i in last.items()}


def make_st() -> None:
    print("(d) spatial options", flush=True)
    sig = load_signature("cytosig")
    sigset = set(sig.index)
    ctrl = _st_control()
    assert np.array_equal(ctrl.to_numpy(), np.round(ctrl.to_numpy()))
    save(ST_CTRL, counts=ctrl.to_numpy().astype(np.int32), genes=_u(ctrl.index), samples=_u(ctrl.columns),
         note=np.array("control counts, genes x spots (int32); SecActPy was given "
                       "pd.DataFrame(counts.astype(float64), index=genes, columns=samples)"))

    # --- control, spot level (A) and cell-type level (A)
    a, CA, namesA = _h5ad_counts(SC_H5AD)
    cm = _ctrl_mean(ctrl)
    nA, LA = _log_matrix(CA, namesA, drop_zero=True)
    shared = [g for g in nA if g in cm]
    for n_rand, level in ((100, "spot"), (100, "celltype")):
        t0 = time.time()
        kw = dict(cell_type_col="cell_type", is_spot_level=False) if level == "celltype" else {}
        res, cap = _run(sp_inf.secact_activity_inference_st, str(SC_H5AD), input_control=ctrl, sig_matrix="cytosig",
                        n_rand=n_rand, **kw)
        genes = [g for g in shared if g in sigset]
        idx = [nA.index(g) for g in genes]
        Lg = LA[idx]
        if level == "celltype":
            types = sorted(set(a.obs["cell_type"].values))
            Lg = np.stack([Lg[:, a.obs["cell_type"].values == t].mean(axis=1) for t in types], axis=1)
        off = np.array([cm[g] for g in genes])
        extra = {"control_ref": np.array(ST_CTRL), "control_genes_used": _u(shared)}
        if level == "celltype":
            extra["Y_in"] = cap.ridge[0]["Y"]
        _st_save(f"st_opt_control_{level}_n{n_rand}", res, cap, function="secact_activity_inference_st",
                 n_rand=n_rand, genes_order=genes, Ylog=Lg[:, :N_YFIRST], offset=off,
                 flags=dict(input_file=_rel(SC_H5AD), input_control="DataFrame (control_ref)", scale_factor=1e5,
                            is_spot_level=level == "spot", cell_type_col="cell_type" if level == "celltype" else ""),
                 extra=extra)
        print(f"    {time.time() - t0:.1f}s", flush=True)

    # --- control = a Visium folder (a path), input B, n_rand 1000
    t0 = time.time()
    b, CB, namesB = _h5ad_counts(OPT_H5AD)
    res, cap = _run(sp_inf.secact_activity_inference_st, str(OPT_H5AD), input_control=str(VISIUM),
                    sig_matrix="cytosig", n_rand=1000)
    vis = sp_inf.load_visium_10x(str(VISIUM))
    vdf = pd.DataFrame(vis["counts"].toarray(), index=vis["gene_names"])
    cmv = _ctrl_mean(vdf)
    nB, LB = _log_matrix(CB, namesB, drop_zero=True)
    genes = [g for g in nB if g in cmv and g in sigset]
    idx = [nB.index(g) for g in genes]
    _st_save("st_opt_control_visium_spot_n1000", res, cap, function="secact_activity_inference_st", n_rand=1000,
             genes_order=genes, Ylog=LB[idx][:, :N_YFIRST], offset=np.array([cmv[g] for g in genes]),
             flags=dict(input_file=_rel(OPT_H5AD), input_control=_rel(VISIUM), scale_factor=1e5, is_spot_level=True))
    print(f"    {time.time() - t0:.1f}s", flush=True)

    # --- cell-type level without control, input B (case-sensitive order, a 3-spot type), n_rand 1000
    t0 = time.time()
    res, cap = _run(sp_inf.secact_activity_inference_st, str(OPT_H5AD), cell_type_col="cell_type",
                    is_spot_level=False, sig_matrix="cytosig", n_rand=1000)
    types = sorted(set(b.obs["cell_type"].values))
    assert list(res["beta"].columns) == types == ["Endothelial", "Immune", "Rare", "Tumor", "stroma"], types
    genes = [g for g in nB if g in sigset]
    Lg = LB[[nB.index(g) for g in genes]]
    G = np.stack([Lg[:, b.obs["cell_type"].values == t].mean(axis=1) for t in types], axis=1)
    _st_save("st_opt_celltype_n1000", res, cap, function="secact_activity_inference_st", n_rand=1000,
             genes_order=genes, Ylog=G[:, :N_YFIRST], offset=G.mean(axis=1),
             flags=dict(input_file=_rel(OPT_H5AD), cell_type_col="cell_type", is_spot_level=False, scale_factor=1e5),
             extra=dict(Y_in=cap.ridge[0]["Y"], group_means=G,
                        group_sizes=np.array([(b.obs["cell_type"].values == t).sum() for t in types])))
    print(f"    {time.time() - t0:.1f}s", flush=True)

    # --- scale_factor: dense spot (A), sparse spot (A), cell type (B)
    for scale, sparse_mode, inp, level in ((1e4, False, SC_H5AD, "spot"), (1e6, True, SC_H5AD, "spot"),
                                           (1e4, False, OPT_H5AD, "celltype")):
        t0 = time.time()
        kw = dict(cell_type_col="cell_type", is_spot_level=False) if level == "celltype" else {}
        res, cap = _run(sp_inf.secact_activity_inference_st, str(inp), sig_matrix="cytosig", n_rand=100,
                        scale_factor=scale, sparse_mode=sparse_mode, **kw)
        aa, CC, nn = _h5ad_counts(inp)
        n2, L2 = _log_matrix(CC, nn, drop_zero=True, scale=scale)
        tag = f"{scale:.0e}".replace("+0", "")
        name = f"st_opt_scale{tag}_{level}_{'sparse' if sparse_mode else 'dense'}_n100"
        flags = dict(input_file=_rel(inp), scale_factor=scale, sparse_mode=sparse_mode, is_spot_level=level == "spot",
                     cell_type_col="cell_type" if level == "celltype" else "")
        if sparse_mode:
            st = cap.stats[0]
            genes = [g for g in sig.index if g in set(n2)]
            _st_save(name, res, cap, function="secact_activity_inference_st", n_rand=100, genes_order=genes,
                     Ylog=None, offset=None, flags={**flags, "batch_size": 5000},
                     extra=dict(row_means=st.row_means, mu=st.mu, sigma=st.sigma))
        else:
            genes = [g for g in n2 if g in sigset]
            Lg = L2[[n2.index(g) for g in genes]]
            if level == "celltype":
                types = sorted(set(aa.obs["cell_type"].values))
                Lg = np.stack([Lg[:, aa.obs["cell_type"].values == t].mean(axis=1) for t in types], axis=1)
            _st_save(name, res, cap, function="secact_activity_inference_st", n_rand=100, genes_order=genes,
                     Ylog=Lg[:, :N_YFIRST], offset=Lg.mean(axis=1), flags=flags)
        print(f"    {time.time() - t0:.1f}s", flush=True)

    # --- min_genes: spot level (A, 150), cell type (B, 60: removes one of the three "Rare" spots)
    for inp, mg, level in ((SC_H5AD, 150, "spot"), (OPT_H5AD, 60, "celltype")):
        t0 = time.time()
        kw = dict(cell_type_col="cell_type", is_spot_level=False) if level == "celltype" else {}
        res, cap = _run(sp_inf.secact_activity_inference_st, str(inp), sig_matrix="cytosig", n_rand=100,
                        min_genes=mg, **kw)
        full, _, _ = _h5ad_counts(inp)
        det = np.asarray((full.X > 0).sum(axis=1)).ravel()
        aa, CC, nn = _h5ad_counts(inp, min_genes=mg)
        n2, L2 = _log_matrix(CC, nn, drop_zero=True)
        genes = [g for g in n2 if g in sigset]
        Lg = L2[[n2.index(g) for g in genes]]
        extra = dict(n_genes_detected=det, dropped_samples=_u(full.obs_names[det < mg]))
        if level == "celltype":
            types = sorted(set(aa.obs["cell_type"].values))
            Lg = np.stack([Lg[:, aa.obs["cell_type"].values == t].mean(axis=1) for t in types], axis=1)
            extra["Y_in"] = cap.ridge[0]["Y"]
            extra["group_sizes"] = np.array([(aa.obs["cell_type"].values == t).sum() for t in types])
        _st_save(f"st_opt_mingenes{mg}_{level}_n100", res, cap, function="secact_activity_inference_st",
                 n_rand=100, genes_order=genes, Ylog=Lg[:, :N_YFIRST], offset=Lg.mean(axis=1),
                 flags=dict(input_file=_rel(inp), min_genes=mg, scale_factor=1e5, is_spot_level=level == "spot",
                            cell_type_col="cell_type" if level == "celltype" else ""),
                 extra=extra)
        print(f"    {time.time() - t0:.1f}s  dropped {int((det < mg).sum())} of {det.size}", flush=True)

    # --- sig_filter at spot level, input B: dense and sparse
    for sparse_mode in (False, True):
        t0 = time.time()
        res, cap = _run(sp_inf.secact_activity_inference_st, str(OPT_H5AD), sig_matrix="cytosig", n_rand=100,
                        sig_filter=True, sparse_mode=sparse_mode)
        kept = [p for p in sig.columns if p in set(nB)]
        assert list(res["beta"].index) == kept and "LIF" not in kept, kept
        flags = dict(input_file=_rel(OPT_H5AD), sig_filter=True, sparse_mode=sparse_mode, scale_factor=1e5)
        name = f"st_opt_sigfilter_spot_{'sparse' if sparse_mode else 'dense'}_n100"
        if sparse_mode:
            st = cap.stats[0]
            genes = [g for g in sig.index if g in set(nB)]
            _st_save(name, res, cap, function="secact_activity_inference_st", n_rand=100, genes_order=genes,
                     Ylog=None, offset=None, flags={**flags, "batch_size": 5000},
                     extra=dict(kept_proteins=_u(kept), row_means=st.row_means, mu=st.mu, sigma=st.sigma))
        else:
            genes = [g for g in nB if g in sigset]
            Lg = LB[[nB.index(g) for g in genes]]
            _st_save(name, res, cap, function="secact_activity_inference_st", n_rand=100, genes_order=genes,
                     Ylog=Lg[:, :N_YFIRST], offset=Lg.mean(axis=1), flags=flags, extra=dict(kept_proteins=_u(kept)))
        print(f"    {time.time() - t0:.1f}s  kept {kept}", flush=True)


# --------------------------------------------------------------------------------------
# (e) Visium folder input
# --------------------------------------------------------------------------------------

def _visium_frame():
    """The folder read independently of SecActPy: counts (features x barcodes) from the 10x HDF5, positions."""
    import h5py
    with h5py.File(VISIUM / "filtered_feature_bc_matrix.h5", "r") as f:
        m = f["matrix"]
        shape = tuple(m["shape"][()])
        C = sps.csc_matrix((m["data"][()], m["indices"][()], m["indptr"][()]), shape=shape)
        bcs = [b.decode() for b in m["barcodes"][()]]
        names = [b.decode() for b in m["features"]["name"][()]]
    pos = pd.read_csv(VISIUM / "spatial" / "tissue_positions.csv").set_index("barcode")
    return C, bcs, names, pos


def make_visium_fixtures() -> None:
    print("(e) Visium folder", flush=True)
    sig = load_signature("cytosig")
    sigset = set(sig.index)
    C, bcs, names, pos = _visium_frame()
    vis = sp_inf.load_visium_10x(str(VISIUM))
    # the MTX folder SecActPy reads and the HDF5 file hold the same matrix
    in_t = [b for b in bcs if pos.loc[b, "in_tissue"] == 1]
    cols = [bcs.index(b) for b in in_t]
    assert vis["gene_names"] == names and vis["barcodes"] == in_t
    assert (vis["counts"] != C[:, cols]).nnz == 0
    det_all = np.asarray((C[:, cols] > 0).sum(axis=0)).ravel()
    cases = (("visium_spot_n100", 100, {}), ("visium_spot_mingenes100_n1000", 1000, {"min_genes": 100}),
             ("visium_spot_scale1e4_sparse_n100", 100, {"scale_factor": 1e4, "sparse_mode": True}),
             ("visium_spot_sigfilter_n100", 100, {"sig_filter": True}))
    for name, n_rand, kw in cases:
        t0 = time.time()
        res, cap = _run(sp_inf.secact_activity_inference_st, str(VISIUM), sig_matrix="cytosig", n_rand=n_rand, **kw)
        keep = det_all >= kw.get("min_genes", 0)
        kb = [b for b, k in zip(in_t, keep) if k]
        kc = [bcs.index(b) for b in kb]
        scale = kw.get("scale_factor", 1e5)
        n2, L2 = _log_matrix(C[:, kc].toarray(), names, drop_zero=True, scale=scale)
        spot_names = [f"{pos.loc[b, 'array_row']}x{pos.loc[b, 'array_col']}" for b in kb]
        _, _, samples = _outputs(res)
        assert list(samples) == spot_names
        extra = dict(barcodes=_u(kb[:N_STORE]), array_row=pos.loc[kb, "array_row"].to_numpy()[:N_STORE],
                     array_col=pos.loc[kb, "array_col"].to_numpy()[:N_STORE],
                     pxl_row_in_fullres=pos.loc[kb, "pxl_row_in_fullres"].to_numpy()[:N_STORE],
                     pxl_col_in_fullres=pos.loc[kb, "pxl_col_in_fullres"].to_numpy()[:N_STORE],
                     n_genes_detected=det_all, in_tissue_barcodes=_u(in_t))
        flags = dict(input_dir=_rel(VISIUM), scale_factor=scale, min_genes=kw.get("min_genes", 0),
                     sparse_mode=kw.get("sparse_mode", False), sig_filter=kw.get("sig_filter", False),
                     is_spot_level=True)
        if kw.get("sparse_mode"):
            st = cap.stats[0]
            genes = [g for g in sig.index if g in set(n2)]
            extra.update(row_means=st.row_means, mu=st.mu, sigma=st.sigma)
            _st_save(name, res, cap, function="secact_activity_inference_st", n_rand=n_rand, genes_order=genes,
                     Ylog=None, offset=None, flags={**flags, "batch_size": 5000}, extra=extra)
        else:
            genes = [g for g in n2 if g in sigset]
            Lg = L2[[n2.index(g) for g in genes]]
            if kw.get("sig_filter"):
                prot = [p for p in sig.columns if p in set(n2)]
                extra["kept_proteins"] = _u(prot)
                assert list(res["beta"].index) == prot
            _st_save(name, res, cap, function="secact_activity_inference_st", n_rand=n_rand, genes_order=genes,
                     Ylog=Lg[:, :N_YFIRST], offset=Lg.mean(axis=1), flags=flags, extra=extra)
        print(f"    {time.time() - t0:.1f}s  {len(kb)} spots", flush=True)


# --------------------------------------------------------------------------------------
# (f) wrong use and edge cases (printed)
# --------------------------------------------------------------------------------------

def _try(tag, f):
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            r = f()
    except Exception as e:  # noqa: BLE001  (we report whatever SecActPy raises)
        print(f"  {tag}: RAISES {type(e).__name__}: {str(e)[:160]}", flush=True)
        return None
    if isinstance(r, dict) and "beta" in r:
        b = r["beta"].to_numpy()
        print(f"  {tag}: returns {b.shape}, columns {list(r['beta'].columns)[:5]}, all beta == 0: "
              f"{bool(b.size and (b == 0).all())}, p all 1: {bool(b.size and (r['pvalue'].to_numpy() == 1).all())}",
              flush=True)
    else:
        print(f"  {tag}: returns {type(r).__name__}", flush=True)
    return r


def make_checks() -> None:
    import anndata as ad
    print("(f) wrong use / edge cases", flush=True)
    d = _bulk_inputs()
    T, C = d["T"], d["C"]
    kw = dict(sig_matrix="cytosig", n_rand=10, **COMMON)
    bulk = sp_inf.secact_activity_inference
    print(" bulk:")
    _try("paired, no shared sample names", lambda: bulk(T, C.set_axis(["X1", "X2", "X3", "X4"], axis=1),
                                                        is_paired=True, **kw))
    _try("paired, no shared sample names, single_sample", lambda: bulk(T, C.set_axis(["X1", "X2", "X3", "X4"], axis=1),
                                                                       is_paired=True, is_single_sample_level=True, **kw))
    _try("control with no shared gene", lambda: bulk(T, C.set_axis([f"Q{i}" for i in range(len(C))], axis=0), **kw))
    r1 = _try("is_differential=True with a control", lambda: bulk(T, C, is_differential=True, **kw))
    r2 = bulk(T, is_differential=True, **kw)
    print("    ... equals the run without the control:", bool(np.array_equal(r1["beta"], r2["beta"])))
    r3 = _try("is_single_sample_level=True without control", lambda: bulk(T, is_single_sample_level=True, **kw))
    print("    ... equals centring:", bool(np.array_equal(r3["beta"], bulk(T, **kw)["beta"])))
    _try("is_paired=True without control", lambda: bulk(T, is_paired=True, **kw))
    Cdup = C.copy()
    Cdup.index = list(C.index[:-1]) + [C.index[0]]
    _try("control DataFrame with a duplicated gene", lambda: bulk(T, Cdup, **kw))
    _try("sig_filter keeping no protein (CytoSig, no protein-named gene)",
         lambda: bulk(T.loc[[g for g in T.index if g not in ("IL6", "TGFB1", "IFNG", "IL1B", "OSM", "LIF", "BMP2", "IL4")]],
                      sig_filter=True, **kw))
    _try("one-column treatment + control, single_sample", lambda: bulk(T[["S4"]], C, is_single_sample_level=True, **kw))
    # gene order after the control: sorted whenever the two gene indexes differ (even only in order)
    Crev = C.iloc[::-1]
    D1 = T.subtract(C.mean(axis=1), axis=0)
    D2 = T.subtract(Crev.mean(axis=1), axis=0)
    print("  row order with an identical control index is the treatment's:", list(D1.index) == list(T.index),
          "; with the same genes reversed it is sorted:", list(D2.index) == sorted(T.index), flush=True)
    ra, rb = bulk(T, C, **kw), bulk(T, Crev, **kw)
    print("  same control, rows reversed: max |dz| =",
          f"{np.abs(ra['zscore'].to_numpy() - rb['zscore'].to_numpy()).max():.3g}",
          "(beta equal to", f"{np.abs(ra['beta'].to_numpy() - rb['beta'].to_numpy()).max():.1e})", flush=True)

    print(" spatial:")
    st = sp_inf.secact_activity_inference_st
    kws = dict(sig_matrix="cytosig", n_rand=10, **COMMON)
    a = ad.read_h5ad(OPT_H5AD)
    _try("input_control = AnnData", lambda: st(str(OPT_H5AD), input_control=a, **kws))
    _try("input_control = .h5ad path", lambda: st(str(OPT_H5AD), input_control=str(OPT_H5AD), **kws))
    ctrl = pd.DataFrame(np.ones((3, 4)), index=["QQ1", "QQ2", "QQ3"])
    _try("input_control with no shared gene", lambda: st(str(OPT_H5AD), input_control=ctrl, **kws))
    _try("cell_type_col naming a missing column", lambda: st(str(OPT_H5AD), cell_type_col="nope",
                                                              is_spot_level=False, **kws))
    r = _try("cell_type_col with is_spot_level=True (ignored?)", lambda: st(str(OPT_H5AD), cell_type_col="cell_type", **kws))
    print("    ... equals spot level:", bool(np.array_equal(r["beta"], st(str(OPT_H5AD), **kws)["beta"])))
    _try("cell_type_col + is_spot_level=False on a Visium folder", lambda: st(str(VISIUM), cell_type_col="x",
                                                                              is_spot_level=False, **kws))
    r = _try("min_genes=60 on an AnnData object (not a path)", lambda: st(a.copy(), min_genes=60, **kws))
    print("    ... columns kept:", r["beta"].shape[1], "of", a.n_obs)
    _try("min_genes removing every spot", lambda: st(str(OPT_H5AD), min_genes=10**6, **kws))
    _try("scale_factor=0", lambda: st(str(OPT_H5AD), scale_factor=0.0, **kws))
    _try("scale_factor=-1", lambda: st(str(OPT_H5AD), scale_factor=-1.0, **kws))
    b = a.copy()
    b.obs["ct_nan"] = b.obs["cell_type"].astype(object)
    b.obs.loc[b.obs_names[:3], "ct_nan"] = np.nan
    _try("cell types with a missing label (NaN)", lambda: st(b, cell_type_col="ct_nan", is_spot_level=False, **kws))
    b.obs["ct_int"] = np.arange(b.n_obs) % 3
    _try("integer cell-type labels", lambda: st(b, cell_type_col="ct_int", is_spot_level=False, **kws))
    _try("streaming=True with input_control", lambda: st(str(OPT_H5AD), input_control=ctrl, streaming=True, **kws))
    print(" Visium folder:")
    with tempfile.TemporaryDirectory() as tmp:
        v2 = Path(tmp) / "sr2"
        shutil.copytree(VISIUM, v2)
        (v2 / "spatial" / "tissue_positions_list.csv").unlink()
        _try("Space Ranger 2.x folder (tissue_positions.csv with header only)", lambda: st(str(v2), **kws))
        v3 = Path(tmp) / "h5only"
        shutil.copytree(VISIUM, v3)
        shutil.rmtree(v3 / "filtered_feature_bc_matrix")
        _try("folder with filtered_feature_bc_matrix.h5 but no MTX folder", lambda: st(str(v3), **kws))
        v4 = Path(tmp) / "nomatrix"
        shutil.copytree(VISIUM, v4)
        shutil.rmtree(v4 / "filtered_feature_bc_matrix")
        (v4 / "filtered_feature_bc_matrix.h5").unlink()
        _try("folder without any matrix", lambda: st(str(v4), **kws))
        v5 = Path(tmp) / "nopos"
        shutil.copytree(VISIUM, v5)
        for p in (v5 / "spatial").glob("tissue_positions*"):
            p.unlink()
        _try("folder without tissue positions", lambda: st(str(v5), **kws))
        _try("a path that does not exist", lambda: st(str(Path(tmp) / "missing"), **kws))
    print(" scRNA-seq:")
    sc = sp_inf.secact_activity_inference_scrnaseq
    _try("scale_factor= passed to the scRNA-seq function", lambda: sc(str(OPT_H5AD), "cell_type", scale_factor=1e4, **kws))
    _try("sig_filter keeping no protein (sc_synth_cytosig.h5ad)", lambda: sc(str(SC_H5AD), "cell_type", sig_filter=True,
                                                                              is_single_cell_level=True, **kws))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="data,bulk,sc,st,visium")
    args = ap.parse_args(argv)
    assert base.VERSION == "0.3.1", base.VERSION
    parts = args.only.split(",")
    if "data" in parts:
        make_data()
    if "bulk" in parts:
        make_bulk()
    if "sc" in parts:
        make_sc()
    if "st" in parts:
        make_st()
    if "visium" in parts:
        make_visium_fixtures()
    if "checks" in parts:
        make_checks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
