"""scverse tools: activity results in the user's AnnData, as decoupler does it.

* :func:`activity` -- compute activity of an AnnData and write it into ``obsm``
  (``obsm["cytosig_zscore"]``, ``["cytosig_pvalue"]``, ``["cytosig_padj"]``: cells x proteins
  DataFrames; ``padj`` is Benjamini-Hochberg across the proteins of each cell, as
  decoupler's ``padj_<method>``) and ``uns["cytosig"]`` (parameters, signature, version,
  protein names). Results larger than the memory bound go into ``obsm`` as lazy dask
  arrays, computed on access and streamed when the AnnData is written.
* :func:`get_obsm` -- one of those as a cells x proteins AnnData (obs, obsm and uns
  carried over), for ``sc.pl.umap(g, color="IL6")``, ``sc.pl.violin(g, "IL6",
  groupby="cell_type")`` or ``sc.tl.rank_genes_groups(g, "cell_type")``; like decoupler's
  ``dc.pp.get_obsm``.
* :func:`summarise` -- per group of cells (an obs column) and protein: mean and standard
  deviation of the z-score and the fraction of cells where the protein is active, in one
  streaming pass (a cell-type table, a dot plot).

See ``docs/scanpy.md`` for the workflow.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ._optional import require
from ._version import __version__
from .array import Accumulator, LazyArray, config, format_bytes
from .array.reduce import sum_dtype_for
from .array.sinks import read_all
from .fdr import adjust
from .pipeline import activity as _activity
from .ranking import stream_columns
from .ridge import STATISTICS
from .sources import is_anndata

__all__ = ["STATS", "PadjByCell", "activity", "bh_per_cell", "default_key", "get_obsm", "lazy_obsm", "summarise",
           "write_obsm"]

log = logging.getLogger(__name__)

#: What :func:`activity` can write into ``obsm``: the four statistics and ``padj``.
STATS: tuple[str, ...] = (*STATISTICS, "padj")


# --------------------------------------------------------------------------- helpers
def default_key(signature: Any) -> str:
    """The ``key_added`` default: the signature's name in lower case.

    Examples
    --------
    >>> default_key("CytoSig"), default_key("/data/MySig.tsv.gz"), default_key(pd.DataFrame())
    ('cytosig', 'mysig', 'signature')
    """
    if not isinstance(signature, str):
        name = getattr(signature, "name", None) if not isinstance(signature, pd.DataFrame) else None
        return str(name).lower() if name else "signature"
    base = signature.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".gz", ".tsv", ".txt", ".csv"):
        base = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    return base.lower() or "signature"


def _check_stats(stats: str | Sequence[str]) -> tuple[str, ...]:
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise ValueError(f"stats must be among {', '.join(STATS)}; got {list(stats)}")
    return tuple(dict.fromkeys(stats))


def bh_per_cell(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg over the proteins (axis 0) of each cell; NaN p-values stay NaN.

    Examples
    --------
    >>> bh_per_cell(np.array([[0.01, np.nan], [0.04, np.nan]]))
    array([[0.02,  nan],
           [0.04,  nan]])
    """
    p = np.asarray(p, dtype=np.float64)
    nan = np.isnan(p)
    if not nan.any():
        return adjust(p, "bh", axis=0)
    out = np.full_like(p, np.nan)
    clean = ~nan.any(axis=0)
    if p.ndim == 1:
        return out if nan.all() else _bh_finite(p)
    out[:, clean] = adjust(p[:, clean], "bh", axis=0)
    for j in np.flatnonzero(~clean & ~nan.all(axis=0)).tolist():
        out[:, j] = _bh_finite(p[:, j])
    return out


def _bh_finite(col: np.ndarray) -> np.ndarray:
    out = np.full_like(col, np.nan)
    ok = ~np.isnan(col)
    out[ok] = adjust(col[ok], "bh")
    return out


class PadjByCell:
    """Benjamini-Hochberg q-values across the proteins of each cell, as a lazy cells x proteins array.

    Indexing reads the p-values of all proteins of the cells asked for (through the
    activity's cache and disk tier), adjusts them (:func:`bh_per_cell`) and returns the
    proteins asked for. Pickles with the activity's view; :meth:`to_dask` makes the
    ``obsm`` entry.

    Parameters
    ----------
    pvalue : LazyArray
        The activity's p-values (proteins x samples).
    """

    ndim = 2

    def __init__(self, pvalue: LazyArray):
        self.pvalue = pvalue
        self.shape = (int(pvalue.shape[1]), int(pvalue.shape[0]))
        self.dtype = np.dtype(np.float64)

    def __getitem__(self, key: Any) -> Any:
        key = key if isinstance(key, tuple) else (key,)
        key = tuple(slice(None) if k is Ellipsis else k for k in key)
        if len(key) > 2:
            raise IndexError(f"too many indices for a 2-D array: {len(key)}")
        cells, proteins = key + (slice(None),) * (2 - len(key))
        out = bh_per_cell(self.pvalue.oindex[:, cells])[proteins]  # all proteins of the cells, adjusted, selected
        return out.T if np.ndim(out) == 2 else out

    def __dask_tokenize__(self) -> tuple:
        return ("lazyact.tl.PadjByCell", self.pvalue.store.token, self.pvalue.name)

    def to_dask(self, chunks: tuple[int, int]) -> Any:
        da = require("dask.array", "lazy obsm arrays (results beyond the memory bound, or lazy=True)")
        return da.from_array(self, chunks=chunks, asarray=False, meta=np.empty((0, 0), dtype=self.dtype),
                             name=f"lazyact-padj-{self.pvalue.store.token}")


def lazy_obsm(act: Any, stat: str) -> Any:
    """Statistic ``stat`` of ``act`` (or ``"padj"``) as a lazy cells x proteins dask array.

    Chunks: the store's column chunk of cells (fewer if one chunk would exceed the memory
    bound) x all proteins; selecting proteins of a chunk computes only those (dask fuses
    the selection into the read).
    """
    p = act.shape[0]
    chunks = (max(1, min(act.store.chunks[1], config.max_materialise_bytes // (8 * max(1, p)))), p)
    if stat == "padj":
        return PadjByCell(act.pvalue).to_dask(chunks)
    return act[stat].T.to_dask(chunks=chunks, name=f"lazyact-{stat}-T-{act.store.token}")


def _uns_value(value: Any) -> Any:
    """A parameter as something every AnnData version writes (None dropped by the caller)."""
    if isinstance(value, (bool, int, float, str, np.generic)):
        return value.item() if isinstance(value, np.generic) else value
    return json.dumps(value, default=str)


# --------------------------------------------------------------------------- tl.activity
def activity(adata: Any, signature: Any = "SecAct", *, preprocess: str = "scrnaseq", key_added: str | None = None,
             layer: str | None = None, stats: str | Sequence[str] = ("zscore", "pvalue", "padj"),
             lazy: bool | None = None, copy: bool = False, **options: Any) -> Any:
    """Secreted-protein activity of the cells of an AnnData, written into the AnnData.

    Computes :func:`lazyact.activity` (``adata`` is cells x genes; counts in ``raw``,
    ``X`` or a layer) and writes, for each statistic ``s`` in ``stats``,
    ``adata.obsm[f"{key_added}_{s}"]``: a cells x proteins DataFrame (index
    ``obs_names``, columns the protein names), ``padj`` being Benjamini-Hochberg across
    the proteins of each cell (as decoupler's ``padj_<method>``); and
    ``adata.uns[key_added]``: signature, parameters, lazyact version, protein names, the
    obsm keys written and whether they are lazy.

    When the statistics together are larger than
    :data:`lazyact.array.config.max_materialise_bytes` (2 GiB), or with ``lazy=True``,
    ``obsm`` holds lazy dask arrays instead (cells x proteins, no column names: they are
    in ``uns[key_added]["proteins"]`` and :func:`get_obsm` uses them). Indexing one
    computes only what it touches (``g[:, "IL6"]`` one protein); ``adata.write_h5ad`` /
    ``write_zarr`` stream them to the file block by block (anndata >= 0.10 writes dask
    arrays chunk by chunk), and the file read back holds plain arrays.

    Parameters
    ----------
    adata : anndata.AnnData
        Cells x genes, in memory or backed.
    signature : str, path or DataFrame, default "SecAct"
        As in :func:`lazyact.activity`.
    preprocess : {"scrnaseq", "spatial", "none", "center"}, default "scrnaseq"
        As in :func:`lazyact.activity` (``"pseudobulk"`` gives one column per group,
        which does not fit ``obsm``: see :func:`summarise`).
    key_added : str, optional
        Prefix of the keys (default: the signature's name in lower case, e.g. ``"cytosig"``).
    layer : str, optional
        Matrix to use (None: ``raw`` when present, else ``X``, as SecActPy).
    stats : sequence of str, default ("zscore", "pvalue", "padj")
        Among ``"beta"``, ``"se"``, ``"zscore"``, ``"pvalue"``, ``"padj"``.
    lazy : bool, optional
        ``True``: dask arrays in ``obsm``; ``False``: DataFrames whatever the size;
        None (default): DataFrames within the memory bound, else dask arrays.
    copy : bool, default False
        Write into a copy of ``adata`` and return the copy (scanpy's convention).
    **options
        Further options of :func:`lazyact.activity` (``n_rand``, ``seed``, ``null``,
        ``gene_column``, ``threads``...).

    Returns
    -------
    LazyActivity or anndata.AnnData
        The activity (its ``beta``/``se``... views, ``persist``...), or the annotated
        copy with ``copy=True``.

    Examples
    --------
    >>> import lazyact
    >>> adata = lazyact.demo.single_cell()
    >>> act = lazyact.tl.activity(adata, "CytoSig", n_rand=20)
    >>> sorted(k for k in adata.obsm if k.startswith("cytosig"))
    ['cytosig_padj', 'cytosig_pvalue', 'cytosig_zscore']
    >>> adata.obsm["cytosig_zscore"].loc["cell0000", "IL6"] == act.zscore.loc["IL6", "cell0000"]
    np.True_
    """
    if not is_anndata(adata):
        raise TypeError(f"lazyact.tl.activity takes an AnnData (cells x genes), got {type(adata).__name__}; for a "
                        "file use anndata.read_h5ad(path) (or backed='r'), or lazyact.activity(path, ...) for "
                        "the results without an AnnData")
    if preprocess == "pseudobulk":
        raise ValueError("lazyact.tl.activity writes one row per cell into obsm, but preprocess='pseudobulk' gives "
                         "one column per group: use lazyact.activity(adata, signature, preprocess='pseudobulk', "
                         "groupby=...) for that, or lazyact.tl.summarise(act, groupby) for per-group summaries "
                         "of the cells' activity")
    stats = _check_stats(stats)
    key = key_added or default_key(signature)
    act = _activity(adata, signature, preprocess=preprocess, layer=layer, **options)
    if list(map(str, act.samples)) != list(map(str, adata.obs_names)):
        raise ValueError("the activity's samples are not the AnnData's cells (obs_names); "
                         f"{act.shape[1]} samples for {adata.n_obs} cells")
    target = adata.copy() if copy else adata
    write_obsm(target, act, key, stats, lazy)
    return target if copy else act


def write_obsm(adata: Any, act: Any, key: str, stats: Sequence[str] = ("zscore", "pvalue", "padj"),
               lazy: bool | None = None) -> None:
    """Write statistics of ``act`` (samples = ``adata``'s cells) into ``adata.obsm`` and ``adata.uns[key]``.

    The writing half of :func:`activity`, for an activity computed (or opened) elsewhere.
    """
    stats = _check_stats(stats)
    p, m = act.shape
    needed = tuple(dict.fromkeys("pvalue" if s == "padj" else s for s in stats))
    nbytes = p * m * 8 * len(set(needed) | set(stats))
    limit = config.max_materialise_bytes
    if lazy is None:
        lazy = nbytes > limit
        if lazy:
            log.info("activity results are %s, more than the memory bound (%s, "
                     "lazyact.array.config.max_materialise_bytes): obsm holds lazy dask arrays",
                     format_bytes(nbytes), format_bytes(limit))
    keys = [f"{key}_{s}" for s in stats]
    if lazy:
        for s, k in zip(stats, keys):
            adata.obsm[k] = lazy_obsm(act, s)
    else:
        arrays = read_all(act.store, needed, force=True)
        cells = pd.Index(adata.obs_names)
        proteins = pd.Index([str(x) for x in act.proteins], dtype=object)
        for s, k in zip(stats, keys):
            values = bh_per_cell(arrays["pvalue"]) if s == "padj" else arrays[s]
            adata.obsm[k] = pd.DataFrame(values.T, index=cells, columns=proteins)
    params = {k: _uns_value(v) for k, v in act.params.items() if v is not None}
    adata.uns[key] = {
        "signature": str(act.params.get("signature", key)),
        "version": __version__,
        "proteins": np.array([str(x) for x in act.proteins], dtype=object),
        "stats": np.array(stats, dtype=object),
        "obsm_keys": np.array(keys, dtype=object),
        "lazy": bool(lazy),
        "params": params,
    }
    log.info("wrote obsm %s (%s) and uns[%r]", ", ".join(keys), "lazy dask arrays" if lazy else "DataFrames", key)


# --------------------------------------------------------------------------- get_obsm
def _names_from_uns(adata: Any, key: str) -> list[str] | None:
    for entry in adata.uns.values():
        if isinstance(entry, Mapping) and "obsm_keys" in entry and "proteins" in entry:
            if key in [str(k) for k in np.atleast_1d(entry["obsm_keys"])]:
                return [str(x) for x in np.atleast_1d(entry["proteins"])]
    return None


def get_obsm(adata: Any, key: str) -> Any:
    """``adata.obsm[key]`` as a cells x proteins AnnData, for scanpy's plots and tools.

    ``X`` holds the values (a lazy dask array stays lazy), ``var_names`` the proteins
    (the DataFrame's columns, or ``uns[...]["proteins"]`` for a lazy array), and
    ``obs``, ``obsm`` (the UMAP, spatial coordinates...) and ``uns`` (colours...) are
    carried over from ``adata``. Like decoupler's ``dc.pp.get_obsm``.

    Examples
    --------
    >>> import lazyact
    >>> adata = lazyact.demo.single_cell()
    >>> _ = lazyact.tl.activity(adata, "CytoSig", n_rand=20)
    >>> g = lazyact.tl.get_obsm(adata, "cytosig_zscore")
    >>> g.shape, "IL6" in g.var_names, "cell_type" in g.obs
    ((400, 43), True, True)
    """
    anndata = require("anndata", "lazyact.tl.get_obsm")
    if key not in adata.obsm:
        keys = list(adata.obsm.keys())
        raise KeyError(f"adata.obsm has no {key!r}; obsm keys: {keys}. lazyact.tl.activity(adata, ...) writes "
                       "'<signature>_zscore', '_pvalue', '_padj'")
    value = adata.obsm[key]
    if isinstance(value, pd.DataFrame):
        X, names = value.to_numpy(), [str(c) for c in value.columns]
    else:
        X = value
        names = _names_from_uns(adata, key)
        if names is None or len(names) != X.shape[1]:
            names = [str(i) for i in range(X.shape[1])]
    var = pd.DataFrame(index=pd.Index(names, dtype=object))
    return anndata.AnnData(X=X, obs=adata.obs, var=var, obsm=dict(adata.obsm), uns=adata.uns)


# --------------------------------------------------------------------------- summarise
def _labels(groupby: Any, obs: pd.DataFrame | None, n: int) -> pd.Categorical:
    if isinstance(groupby, str):
        if obs is None:
            raise ValueError(f"groupby={groupby!r} names an obs column, but there is no obs here; pass one label "
                             "per cell instead")
        if groupby not in obs.columns:
            raise KeyError(f"obs has no column {groupby!r}; obs columns: {list(obs.columns)}")
        values = obs[groupby]
    else:
        values = groupby
    labels = values.array if isinstance(values, pd.Series) else values
    cat = labels if isinstance(labels, pd.Categorical) else pd.Categorical(np.asarray(labels, dtype=object))
    if len(cat) != n:
        raise ValueError(f"groupby has {len(cat)} labels for {n} cells")
    return cat


def _activity_blocks(act: Any, progress: bool | None) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """(cell slice, zscore cells x proteins, pvalue cells x proteins), one pass over the activity."""
    for csl, (z, p) in stream_columns([act.zscore, act.pvalue], None, progress, desc="summarise"):
        yield csl, z.T, p.T


def _obsm_blocks(adata: Any, key: str, step: int) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """The same from ``obsm[key_zscore]``/``[key_pvalue]`` (DataFrames, arrays or dask), block by block."""
    zk, pk = f"{key}_zscore", f"{key}_pvalue"
    for k in (zk, pk):
        if k not in adata.obsm:
            raise KeyError(f"adata.obsm has no {k!r} (summarise needs the z-scores and p-values: "
                           f"lazyact.tl.activity(adata, ..., stats=('zscore', 'pvalue', ...)))")
    z_all, p_all = adata.obsm[zk], adata.obsm[pk]
    n = adata.n_obs
    for lo in range(0, n, step):
        sl = slice(lo, min(n, lo + step))
        z = z_all.iloc[sl].to_numpy() if isinstance(z_all, pd.DataFrame) else np.asarray(z_all[sl])
        p = p_all.iloc[sl].to_numpy() if isinstance(p_all, pd.DataFrame) else np.asarray(p_all[sl])
        yield sl, z, p


def summarise(data: Any, groupby: Any, *, key: str | None = None, alpha: float = 0.05, direction: str = "up",
              ddof: int = 1, progress: bool | None = None) -> pd.DataFrame:
    """Per group of cells and protein: mean and std of the z-score, and the fraction of active cells.

    One streaming pass over the cells (bounded memory): over the activity's blocks for a
    :class:`~lazyact.LazyActivity` / stored activity, or over ``obsm`` for an AnnData
    annotated by :func:`activity` (lazy ``obsm`` arrays are computed block by block). A
    cell is *active* for a protein when its p-value is at most ``alpha`` and, with
    ``direction="up"`` (default), its z-score is positive (``"down"``: negative;
    ``None``: either sign). Cells with NaN statistics (no counts) are left out.

    Parameters
    ----------
    data : LazyActivity, StoredActivity or anndata.AnnData
    groupby : str or array_like
        An obs column (of the AnnData, or of the activity's input: ``act.obs``), or one
        label per cell.
    key : str, optional
        For an AnnData: the ``key_added`` of :func:`activity` (default: the only one in
        ``uns``).
    alpha : float, default 0.05
    direction : {"up", "down", None}, default "up"
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation (pandas' default).
    progress : bool, optional
        Progress bar (None: automatic on long work).

    Returns
    -------
    pandas.DataFrame
        One row per (group, protein): ``group``, ``protein``, ``n_cells``, ``mean``,
        ``std`` (of the z-score), ``fraction_active``. ``.pivot(index="group",
        columns="protein", values="mean")`` gives a cell-type x protein table.

    Examples
    --------
    >>> import lazyact
    >>> adata = lazyact.demo.single_cell()
    >>> act = lazyact.tl.activity(adata, "CytoSig", n_rand=20)
    >>> s = lazyact.tl.summarise(adata, "cell_type")
    >>> s.columns.tolist()
    ['group', 'protein', 'n_cells', 'mean', 'std', 'fraction_active']
    >>> t = s.pivot(index="group", columns="protein", values="mean")
    >>> bool(np.isclose(t.loc["T_cell", "IL6"], adata.obsm["cytosig_zscore"]["IL6"][adata.obs.cell_type == "T_cell"].mean()))
    True
    """
    if direction not in ("up", "down", None):
        raise ValueError(f"direction must be 'up', 'down' or None, got {direction!r}")
    if is_anndata(data):
        key = key or _only_key(data)
        proteins = _names_from_uns(data, f"{key}_zscore")
        if proteins is None:
            z = data.obsm.get(f"{key}_zscore")
            proteins = [str(c) for c in z.columns] if isinstance(z, pd.DataFrame) else None
        n_cells, obs = data.n_obs, data.obs
        blocks = _obsm_blocks(data, key, max(1, config.iter_bytes // (16 * max(1, len(proteins or [1])))))
    elif isinstance(getattr(data, "zscore", None), LazyArray):
        proteins = [str(x) for x in data.proteins]
        n_cells, obs = data.shape[1], getattr(data, "obs", None)
        blocks = _activity_blocks(data, progress)
    else:
        raise TypeError(f"summarise takes a LazyActivity, a stored activity or an AnnData annotated by "
                        f"lazyact.tl.activity, got {type(data).__name__}")
    if proteins is None:
        raise ValueError(f"no protein names for obsm[{key!r}_zscore]: write it with lazyact.tl.activity")
    cats = _labels(groupby, obs, n_cells)
    codes = np.asarray(cats.codes)
    n_groups, n_prot = len(cats.categories), len(proteins)
    sdt = sum_dtype_for(np.dtype(np.float64))
    accs = [Accumulator(n_prot, {"moments"}, True, np.dtype(np.float64), sdt) for _ in range(n_groups)]
    hits = np.zeros((n_groups, n_prot), dtype=np.int64)
    for sl, z, p in blocks:
        c = codes[sl]
        for g in np.unique(c[c >= 0]).tolist():
            rows = c == g
            zg, pg = z[rows], p[rows]
            accs[g].add(zg, axis=0, sl=slice(None))
            hit = pg <= alpha
            if direction == "up":
                hit &= zg > 0
            elif direction == "down":
                hit &= zg < 0
            hits[g] += hit.sum(axis=0)
    out = []
    with np.errstate(all="ignore"):
        for g, acc in enumerate(accs):
            n = acc.count
            out.append(pd.DataFrame({
                "group": cats.categories[g], "protein": proteins, "n_cells": n,
                "mean": np.where(n > 0, acc.mean, np.nan),
                "std": np.sqrt(np.where(n > ddof, acc.m2 / np.maximum(n - ddof, 1), np.nan)),
                "fraction_active": np.where(n > 0, hits[g] / np.maximum(n, 1), np.nan),
            }))
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["group", "protein", "n_cells", "mean", "std", "fraction_active"])
    frame["group"] = pd.Categorical(frame["group"], categories=cats.categories)
    return frame


def _only_key(adata: Any) -> str:
    keys = [k for k, v in adata.uns.items() if isinstance(v, Mapping) and "obsm_keys" in v and "proteins" in v]
    if len(keys) != 1:
        raise ValueError(f"pass key=: lazyact results in uns: {keys or 'none'} (lazyact.tl.activity writes them)")
    return keys[0]
