"""A small end-to-end example on bundled data (``lazyact demo``).

The bundled input is the real bulk profile ``Ly86-Fc_vs_Vehicle_logFC.txt`` of the R
package SecAct (14,405 mouse genes x 5 log fold-change columns, see
``lazyact/data/PROVENANCE.md``); the signature is the bundled CytoSig (43 cytokines).
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
import sys
from typing import Any, TextIO

import numpy as np
import pandas as pd

from ._optional import require
from .pipeline import activity
from .results import ActivityIO, open_results
from .signatures import load_signature

__all__ = ["EXAMPLE", "PROGRAMMES", "example_path", "single_cell", "top_proteins", "run"]

#: Cell types of :func:`single_cell` and the CytoSig responses planted in each.
PROGRAMMES = {
    "B_cell": ("IL4", "IL21"),
    "Macrophage": ("IFNG", "TNFA"),
    "NK": ("IL12", "IFN1"),
    "T_cell": ("IL2", "IL15"),
    "fibroblast": ("TGFB1", "WNT3A"),
}

#: File name of the bundled bulk example.
EXAMPLE = "Ly86-Fc_vs_Vehicle_logFC.txt"


def example_path() -> Path:
    """Path of the bundled real bulk example (genes x 5 samples, log fold changes).

    Examples
    --------
    >>> from lazyact.demo import example_path
    >>> example_path().name
    'Ly86-Fc_vs_Vehicle_logFC.txt'
    """
    path = resources.files("lazyact") / "data" / EXAMPLE
    return Path(os.fspath(path))


def single_cell(n_cells: int = 400, seed: int = 0) -> Any:
    """A small synthetic single-cell AnnData with known signalling programmes (needs anndata).

    Counts (CSR float32, cells x the 4,881 CytoSig genes) are negative-binomial around a
    per-gene base rate, a per-cell library size and, per cell type (``obs["cell_type"]``,
    five types), the CytoSig responses of two proteins (:data:`PROGRAMMES`: e.g.
    macrophages respond to IFNG and TNFA): the log rate moves by a random amount times
    the protein's signature column. ``obsm["spatial"]`` places each type in its own patch.
    Made in well under a second; for examples and tests, not biology.

    Examples
    --------
    >>> a = single_cell(200)
    >>> a.shape, a.obs["cell_type"].cat.categories.tolist()[:2]
    ((200, 4881), ['B_cell', 'Macrophage'])
    """
    import scipy.sparse as sp

    anndata = require("anndata", "lazyact.demo.single_cell")

    gen = np.random.default_rng(seed)
    sig = load_signature("CytoSig")
    types = np.array(sorted(PROGRAMMES), dtype=object)
    ctype = types[gen.integers(0, len(types), n_cells)]
    S = np.clip(sig.to_numpy(), -3, 3)
    col = {p: i for i, p in enumerate(sig.columns)}
    logr = gen.normal(-2.5, 1.2, size=(sig.shape[0], 1)) + gen.normal(0.0, 0.3, size=(1, n_cells))
    for t, proteins in PROGRAMMES.items():
        cells = np.flatnonzero(ctype == t)
        for p in proteins:
            logr[:, cells] += S[:, [col[p]]] * gen.uniform(0.8, 1.6, size=cells.size)
    mean = np.exp(logr)
    counts = gen.poisson(gen.gamma(2.0, mean / 2.0)).astype(np.float32).T
    centre = {t: np.array([(i % 3) * 40.0, (i // 3) * 40.0]) for i, t in enumerate(types)}
    spatial = np.stack([centre[t] for t in ctype]) + gen.normal(0.0, 8.0, size=(n_cells, 2))
    obs = pd.DataFrame({"cell_type": pd.Categorical(ctype, categories=types)},
                       index=pd.Index([f"cell{j:04d}" for j in range(n_cells)], dtype=object))
    var = pd.DataFrame(index=pd.Index([str(g) for g in sig.index], dtype=object))
    return anndata.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var, obsm={"spatial": spatial})


def top_proteins(act: Any, k: int = 5) -> pd.DataFrame:
    """The ``k`` most active proteins (highest z-score) of every sample.

    Returns
    -------
    pandas.DataFrame
        One row per (sample, rank): ``sample``, ``rank``, ``protein``, ``zscore``,
        ``pvalue``. Reads all proteins of one sample at a time.

    Examples
    --------
    >>> import lazyact
    >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
    >>> top_proteins(act, 2).shape
    (10, 5)
    """
    rows = []
    for j, sample in enumerate(act.samples):
        z = np.asarray(act.zscore[:, j])
        p = np.asarray(act.pvalue[:, j])
        order = np.argsort(-z, kind="stable")[:k]
        for rank, i in enumerate(order, 1):
            rows.append((str(sample), rank, str(act.proteins[i]), float(z[i]), float(p[i])))
    return pd.DataFrame(rows, columns=["sample", "rank", "protein", "zscore", "pvalue"])


def run(out: str | os.PathLike = "lazyact-demo.h5", n_rand: int = 1000, top: int = 5, progress: bool = False,
        stream: TextIO | None = None) -> Any:
    """CytoSig activity of the bundled Ly86 example: print the top proteins, write a results file.

    Parameters
    ----------
    out : str or path
        Results file to write (replaced if it exists).
    n_rand : int
        Permutations.
    top : int
        Proteins listed per sample.
    progress : bool
        Progress bar while writing.
    stream : file, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    StoredActivity
        The written file, opened lazily.
    """
    stream = sys.stdout if stream is None else stream
    path = example_path()
    act = activity(path, "CytoSig", n_rand=n_rand)
    print(f"input      {path.name} (bundled; real bulk log fold changes)", file=stream)
    print("signature  CytoSig (bundled)", file=stream)
    print(f"activity   {act!r}", file=stream)
    table = top_proteins(act, top)
    print(f"\nTop {top} active proteins per sample (z-score, permutation p):", file=stream)
    for sample, grp in table.groupby("sample", sort=False):
        items = ", ".join(f"{r.protein} {r.zscore:+.2f} (p={r.pvalue:.3g})" for r in grp.itertuples())
        print(f"  {sample}: {items}", file=stream)
    written = ActivityIO.to_hdf5(act, out, progress=progress, overwrite=True)
    res = open_results(written)
    print(f"\nwrote {written} ({os.path.getsize(written) / 1024:.0f} KiB): {res!r}", file=stream)
    print(f"read it back with lazyact.open({str(written)!r}); `lazyact info {written}` describes it", file=stream)
    return res
