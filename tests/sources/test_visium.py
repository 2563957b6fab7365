"""Space Ranger (Visium) folders and column subsets as sources."""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lazyact.sources import ColumnSubset, VisiumSource, as_source, is_visium_folder
from lazyact.sources.visium import read_positions

VISIUM = Path(__file__).parent.parent / "data" / "visium_synth"


@pytest.fixture(scope="module")
def reference():
    """The folder read directly: the 10x HDF5 matrix and the headered positions."""
    with h5py.File(VISIUM / "filtered_feature_bc_matrix.h5", "r") as f:
        m = f["matrix"]
        counts = sp.csc_matrix((m["data"][()], m["indices"][()], m["indptr"][()]), shape=tuple(m["shape"][()]))
        barcodes = [b.decode() for b in m["barcodes"][()]]
        names = [b.decode() for b in m["features"]["name"][()]]
        ids = [b.decode() for b in m["features"]["id"][()]]
    pos = pd.read_csv(VISIUM / "spatial" / "tissue_positions.csv").set_index("barcode")
    keep = [i for i, b in enumerate(barcodes) if pos.loc[b, "in_tissue"] == 1]
    return counts, barcodes, names, ids, pos, keep


@pytest.fixture
def mtx_only(tmp_path):
    d = tmp_path / "mtx"
    shutil.copytree(VISIUM, d)
    (d / "filtered_feature_bc_matrix.h5").unlink()
    return d


@pytest.mark.parametrize("layout", ["h5", "mtx"])
def test_in_tissue_spots_of_the_matrix(reference, layout, mtx_only):
    counts, barcodes, names, _, pos, keep = reference
    src = VisiumSource(VISIUM if layout == "h5" else mtx_only)
    assert src.shape == (len(names), len(keep)) == (997, 188)
    assert list(src.samples) == [barcodes[i] for i in keep]  # matrix order, off-tissue barcodes dropped
    assert list(src.genes) == names and src.is_sparse
    cols = np.array([0, 5, 187])
    np.testing.assert_array_equal(src.columns(cols).toarray(), counts[:, [keep[c] for c in cols]].toarray())
    np.testing.assert_array_equal(src.spatial, pos.loc[list(src.samples), ["pxl_col_in_fullres",
                                                                          "pxl_row_in_fullres"]].to_numpy())
    np.testing.assert_array_equal(src.obs_column("array_row").to_numpy(), pos.loc[list(src.samples), "array_row"])
    assert src.scalefactors["tissue_hires_scalef"] == pytest.approx(0.17011142)
    assert src.path.endswith("filtered_feature_bc_matrix.h5" if layout == "h5" else "matrix.mtx.gz")


@pytest.mark.parametrize("layout", ["h5", "mtx"])
def test_ensembl_ids(reference, layout, mtx_only):
    assert list(VisiumSource(VISIUM if layout == "h5" else mtx_only, gene_column="id").genes) == reference[3]


def test_positions_with_or_without_header(reference):
    a = read_positions(VISIUM / "spatial")  # tissue_positions_list.csv (no header) first
    b = pd.read_csv(VISIUM / "spatial" / "tissue_positions.csv").set_index("barcode")
    pd.testing.assert_frame_equal(a, b)


def test_as_source_and_pickle(reference):
    assert is_visium_folder(VISIUM) and is_visium_folder(str(VISIUM) + "/")
    assert not is_visium_folder(VISIUM / "spatial" / "tissue_positions.csv")
    src = as_source(VISIUM, check_counts=True)
    assert isinstance(src, VisiumSource) and src.check_counts
    twin = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(twin.columns([3]).toarray(), src.columns([3]).toarray())
    np.testing.assert_array_equal(twin.spatial, src.spatial)
    with pytest.raises(ValueError, match="no layer 'raw'"):
        as_source(VISIUM, layer="raw")


def test_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        as_source(tmp_path / "nowhere")


def test_column_subset_reads_through():
    rng = np.random.default_rng(0)
    m = sp.random(6, 20, density=0.4, format="csc", random_state=rng)
    inner = as_source(m, genes=list("ABCDEF"), samples=[f"c{i}" for i in range(20)])
    keep = np.array([1, 4, 5, 11, 19])
    sub = ColumnSubset(inner, keep)
    assert sub.shape == (6, 5) and list(sub.samples) == ["c1", "c4", "c5", "c11", "c19"]
    np.testing.assert_array_equal(sub.columns([4, 0], rows=[5, 0]).toarray(), m[[5, 0]][:, [19, 1]].toarray())
    blocks = [blk.toarray() for _, blk in sub.iter_columns(2)]
    np.testing.assert_array_equal(np.hstack(blocks), m[:, keep].toarray())
    np.testing.assert_array_equal(sub.column_totals(), np.asarray(m[:, keep].sum(axis=0)).ravel())
    mask = np.zeros(20, bool)
    mask[keep] = True
    assert list(ColumnSubset(inner, mask).samples) == list(sub.samples)
    with pytest.raises(ValueError, match="sorted unique"):
        ColumnSubset(inner, [4, 1])
    with pytest.raises(KeyError, match="no spatial"):
        sub.spatial
