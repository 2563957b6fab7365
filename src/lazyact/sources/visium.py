"""Space Ranger (10x Visium) output folders: the in-tissue spots of the filtered matrix, with positions.

A folder (Space Ranger's ``outs/``, or the folder that holds it) is read as:

* counts: ``filtered_feature_bc_matrix.h5`` (10x HDF5, read chunk-wise by
  :class:`~lazyact.sources.h5ad.TenxH5Source`), else the MTX folder
  ``filtered_feature_bc_matrix/`` (``matrix.mtx[.gz]``, ``features.tsv[.gz]`` or
  ``genes.tsv``, ``barcodes.tsv[.gz]``; loaded into memory, sparse). All features are
  used, whatever their ``feature_type``; gene names are the symbols (``gene_column="id"``:
  the Ensembl ids);
* spots: ``spatial/tissue_positions_list.csv`` (Space Ranger 1.x, no header), else
  ``spatial/tissue_positions.csv`` (>= 2.0, with a header line); either is recognised by
  its first field. The barcodes of the matrix listed with ``in_tissue == 1``, in matrix
  order, are the samples (named by barcode);
* coordinates: ``(pxl_col_in_fullres, pxl_row_in_fullres)`` per spot, as scanpy's
  ``read_visium`` puts them in ``obsm["spatial"]`` (full-resolution image pixels: x to
  the right, y down); ``spatial/scalefactors_json.json`` is kept in :attr:`VisiumSource.scalefactors`.

SecActPy 0.3.1's ``load_visium_10x`` reads the MTX folder only and the positions with no
header (so a Space Ranger >= 2.0 folder gives it no spot); both hold the same matrix, and
lazyact reads either (facts: ``tests/goldens/NOTES.md`` section 15).
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from .base import ExpressionSource
from .h5ad import TenxH5Source
from .sparse import SparseSource
from .subset import ColumnSubset

__all__ = ["POSITION_COLUMNS", "VisiumSource", "find_visium_folder", "is_visium_folder", "read_positions"]

MATRIX_H5 = "filtered_feature_bc_matrix.h5"
MATRIX_DIR = "filtered_feature_bc_matrix"
POSITION_FILES = ("tissue_positions_list.csv", "tissue_positions.csv")
#: Columns of Space Ranger's tissue positions file.
POSITION_COLUMNS = ("barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres")


def _has_outputs(folder: Path) -> bool:
    return (folder / MATRIX_H5).is_file() or (folder / MATRIX_DIR).is_dir() or (folder / "spatial").is_dir()


def is_visium_folder(path: Any) -> bool:
    """True when ``path`` is a directory that looks like Space Ranger output (or holds ``outs/``)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = Path(path)
    return p.is_dir() and (_has_outputs(p) or _has_outputs(p / "outs"))


def find_visium_folder(path: str | os.PathLike) -> Path:
    """The folder holding the Space Ranger outputs: ``path`` itself or its ``outs/``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: '{p}' (a Visium input is Space Ranger's output folder, "
                                "the one with filtered_feature_bc_matrix.h5 and spatial/)")
    if not p.is_dir():
        raise NotADirectoryError(f"'{p}' is not a folder; a Visium input is Space Ranger's output folder")
    if not _has_outputs(p) and _has_outputs(p / "outs"):
        return p / "outs"
    return p


def _first(folder: Path, *names: str) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _read_mtx_folder(folder: Path, gene_column: str, **checks: Any) -> SparseSource:
    matrix = _first(folder, "matrix.mtx.gz", "matrix.mtx")
    features = _first(folder, "features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")
    barcodes = _first(folder, "barcodes.tsv.gz", "barcodes.tsv")
    missing = [n for n, p in (("matrix.mtx.gz", matrix), ("features.tsv.gz", features),
                              ("barcodes.tsv.gz", barcodes)) if p is None]
    if missing:
        raise FileNotFoundError(f"'{folder}' lacks {', '.join(missing)} of a 10x MTX matrix")
    opener = gzip.open if matrix.suffix == ".gz" else open
    with opener(matrix, "rb") as fh:
        counts = sp.csc_matrix(scipy.io.mmread(fh))
    feat = pd.read_csv(features, sep="\t", header=None, dtype=str, keep_default_na=False)
    col = 1 if gene_column == "name" and feat.shape[1] > 1 else 0
    bcs = pd.read_csv(barcodes, sep="\t", header=None, dtype=str, keep_default_na=False)[0]
    if counts.shape != (len(feat), len(bcs)):
        raise ValueError(f"'{matrix}' is {counts.shape[0]} x {counts.shape[1]} but the folder lists "
                         f"{len(feat)} features and {len(bcs)} barcodes")
    return SparseSource(counts, pd.Index(feat[col].to_numpy(), dtype=object),
                        pd.Index(bcs.to_numpy(), dtype=object), **checks)


def read_positions(spatial: str | os.PathLike) -> pd.DataFrame:
    """Space Ranger's tissue positions as a DataFrame indexed by barcode (columns :data:`POSITION_COLUMNS`).

    ``tissue_positions_list.csv`` is read first, then ``tissue_positions.csv``; a header
    line is recognised by its first field ``barcode``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "tissue_positions.csv").write_text(
    ...     "barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,pxl_col_in_fullres\\nAC-1,1,0,2,10,20\\n")
    >>> read_positions(d).loc["AC-1", ["array_row", "pxl_col_in_fullres"]].tolist()
    [0, 20]
    """
    folder = Path(spatial)
    path = _first(folder, *POSITION_FILES)
    if path is None:
        extra = (" (found tissue_positions.parquet, a Visium HD layout, which lazyact does not read yet)"
                 if (folder / "tissue_positions.parquet").exists() else "")
        raise FileNotFoundError(f"no spot positions in '{folder}': looked for {' and '.join(POSITION_FILES)}"
                                f"{extra}; pass Space Ranger's output folder with its spatial/ subfolder")
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().split(",", 1)[0].strip().strip('"') == "barcode"
    pos = pd.read_csv(path, header=0 if header else None, dtype={0: str})
    if not header:
        if pos.shape[1] != len(POSITION_COLUMNS):
            raise ValueError(f"'{path}' has {pos.shape[1]} columns; expected {len(POSITION_COLUMNS)}: "
                             f"{', '.join(POSITION_COLUMNS)}")
        pos.columns = list(POSITION_COLUMNS)
    missing = [c for c in POSITION_COLUMNS if c not in pos.columns]
    if missing:
        raise ValueError(f"'{path}' lacks the column(s) {missing}; columns: {list(pos.columns)}")
    pos["barcode"] = pos["barcode"].astype(str)
    return pos.set_index("barcode")[list(POSITION_COLUMNS[1:])]


class VisiumSource(ColumnSubset):
    """A Space Ranger output folder as a source: the in-tissue spots of the filtered matrix.

    Parameters
    ----------
    path : str or PathLike
        Space Ranger's ``outs/`` folder, or the folder that holds it.
    gene_column : {"name", "id"}
        Gene symbols (default) or Ensembl ids.
    check_finite, check_counts : bool

    Attributes
    ----------
    folder : pathlib.Path
        The folder read.
    path : str
        The count matrix read (``.h5``, or the ``.mtx`` file).
    positions : pandas.DataFrame
        Tissue positions of the kept spots, indexed by barcode.
    scalefactors : dict
        ``spatial/scalefactors_json.json`` (empty when absent).

    Examples
    --------
    >>> # src = VisiumSource("sample/outs"); src.spatial[:2]   # (pxl_col, pxl_row) per spot
    """

    def __init__(self, path: str | os.PathLike, *, gene_column: str | None = "name", check_finite: bool = True,
                 check_counts: bool = False) -> None:
        gene_column = "name" if gene_column is None else gene_column
        if gene_column not in ("name", "id"):
            raise ValueError(f"gene_column for a Visium folder must be 'name' or 'id', got {gene_column!r}")
        folder = find_visium_folder(path)
        checks = dict(check_finite=check_finite, check_counts=check_counts)
        if (folder / MATRIX_H5).is_file():
            matrix: ExpressionSource = TenxH5Source(folder / MATRIX_H5, gene_column=gene_column, **checks)
            matrix_path = folder / MATRIX_H5
        elif (folder / MATRIX_DIR).is_dir():
            matrix = _read_mtx_folder(folder / MATRIX_DIR, gene_column, **checks)
            matrix_path = _first(folder / MATRIX_DIR, "matrix.mtx.gz", "matrix.mtx")
        else:
            raise FileNotFoundError(
                f"no count matrix in Visium folder '{folder}': looked for {MATRIX_H5} and {MATRIX_DIR}/ "
                f"(matrix.mtx.gz, features.tsv.gz, barcodes.tsv.gz); pass Space Ranger's output folder")
        pos = read_positions(folder / "spatial")
        barcodes = pd.Index(matrix.samples).astype(str)
        listed = pos.reindex(barcodes)
        keep = np.flatnonzero(listed["in_tissue"].to_numpy() == 1)
        if keep.size == 0:
            raise ValueError(f"no in-tissue spot in '{folder}': none of the {len(barcodes)} barcodes of the matrix "
                             f"is listed with in_tissue == 1 in the tissue positions")
        super().__init__(matrix, keep)
        self.folder = folder
        self.path = os.fspath(matrix_path)
        self.gene_column = gene_column
        self.positions = listed.iloc[keep].astype({c: np.int64 for c in POSITION_COLUMNS[1:]})
        sf = folder / "spatial" / "scalefactors_json.json"
        self.scalefactors: dict = json.loads(sf.read_text()) if sf.is_file() else {}

    def describe(self) -> str:
        return f"VisiumSource('{self.folder}')"

    @property
    def spatial(self) -> np.ndarray:
        """``(pxl_col_in_fullres, pxl_row_in_fullres)`` per spot (scanpy's ``obsm["spatial"]``)."""
        return self.positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)

    def obs_keys(self) -> list[str]:
        return list(self.positions.columns)

    def obs_column(self, name: str) -> pd.Series:
        """A column of the tissue positions (``array_row``, ``pxl_col_in_fullres``, ...), indexed by barcode."""
        if name not in self.positions.columns:
            raise KeyError(f"a Visium folder has no obs column {name!r}; available: {list(self.positions.columns)}")
        return self.positions[name].rename(name)
