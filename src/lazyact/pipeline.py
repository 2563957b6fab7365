"""``lazyact.activity``: SecActPy's activity-inference pipelines, lazily.

Reproduces ``secact_activity_inference`` (bulk: ``preprocess="none"`` /
``"center"``) and the single-cell / spatial pipelines (``"scrnaseq"``,
``"spatial"``, ``"pseudobulk"``), returning a :class:`~lazyact.LazyActivity`
instead of four dense result matrices.  Nothing proportional to the number
of samples is held in memory except small per-sample vectors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .activity import LazyActivity
from .preprocess import PreparedExpression, expand_groups, group_signature, overlap_genes, row_sums, zscore_columns
from .ridge import make_model, projection
from .ridge.projection import DEFAULT_LAMBDA
from .signatures import load_signature
from .sources import ExpressionSource, as_source, check_orientation

__all__ = ["activity", "PREPROCESS_MODES", "read_expression_table"]

PREPROCESS_MODES = ("none", "center", "scrnaseq", "spatial", "pseudobulk")
_TEXT_SUFFIXES = (".txt", ".tsv", ".csv", ".tab", ".gz")


def read_expression_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a genes x samples text table the way SecActPy's ``load_expression_data`` does.

    The separator is ``,`` for ``.csv``, tab for ``.tsv``/``.tab``, else guessed
    from the first lines (tabs, then commas, else whitespace); gene names come
    from the first column; duplicated genes keep their first occurrence.

    >>> import io, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.txt")
    >>> _ = open(p, "w").write("s1 s2\\nA 1 2\\nB 3 4\\nA 5 6\\n")
    >>> read_expression_table(p)
        s1  s2
    A  1.0 2.0
    B  3.0 4.0
    """
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        sep = ","
    elif name.endswith((".tsv", ".tab")):
        sep = "\t"
    else:
        import gzip

        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt") as fh:
            head = "".join(fh.readline() for _ in range(3))
        sep = "\t" if head.count("\t") > head.count(",") else ("," if "," in head else r"\s+")
    df = pd.read_csv(path, sep=sep, index_col=0, engine="python" if sep == r"\s+" else "c")
    df.index = df.index.astype(str)
    df = df.apply(pd.to_numeric, errors="coerce")
    df = df[~df.index.duplicated(keep="first")]
    return df.astype(np.float64)


def _signature(signature) -> tuple[pd.DataFrame, str]:
    if isinstance(signature, pd.DataFrame):
        sig = signature.astype(np.float64)
        return sig, "DataFrame"
    return load_signature(signature), str(signature)


def _default_group(signature) -> bool:
    # SecActPy: grouping defaults to on, except for the string "cytosig"
    return not (isinstance(signature, str) and signature.lower() == "cytosig")


def _as_source(expression, genes, samples, layer, gene_column) -> ExpressionSource:
    """Source for any input; text tables are read into a DataFrame (bulk data is small)."""
    if isinstance(expression, (str, os.PathLike)) and str(expression).lower().endswith(_TEXT_SUFFIXES):
        expression = read_expression_table(expression)
    if isinstance(expression, pd.DataFrame):
        expression = expression[~expression.index.astype(str).duplicated(keep="first")]
    return as_source(expression, genes=genes, samples=samples, layer=layer, gene_column=gene_column)


def activity(expression, signature: Any = "SecAct", *, lambda_: float = DEFAULT_LAMBDA, n_rand: int = 1000,
             seed: int = 0, rng: str = "srand", preprocess: str = "none", group: bool | float | None = None,
             gene_order: str = "expression", groupby=None, backend: str = "auto", genes=None, samples=None,
             layer: str | None = None, gene_column: str | None = None, table=None, chunks=None,
             cache_bytes: int | None = None, threads: int | None = None, kernel: str = "auto",
             sparse_mode: bool = False, null: str = "permutation", dtype=None) -> LazyActivity:
    """Secreted-protein activity of an expression profile, computed lazily.

    Parameters
    ----------
    expression
        genes x samples data: NumPy array (with ``genes=``), pandas DataFrame,
        scipy sparse matrix, ``h5py.Dataset``, a text table path, an ``.h5ad``
        path or an AnnData (cells x genes, handled explicitly).
    signature : str, path or DataFrame, default "SecAct"
        ``"SecAct"``, ``"CytoSig"``, a file path or a genes x proteins DataFrame.
    lambda_, n_rand, seed, rng
        Ridge penalty and permutation test (SecActPy defaults).
    preprocess : {"none", "center", "scrnaseq", "spatial", "pseudobulk"}
        ``"none"``: the input is already differential.  ``"center"``: subtract
        each gene's mean over samples (not for a single sample).  The
        single-cell modes are described in the user guide.
    group : bool, float or None
        Signature grouping: ``None`` = SecActPy's default (on, except for
        CytoSig), ``False`` = off, a float = correlation threshold (0.9 when
        True).
    gene_order : {"expression", "signature", "sorted"}
        Order of the shared genes (affects only rounding).
    backend : {"auto", "numpy", "cupy"}
    genes, samples : names for inputs that carry none.
    layer, gene_column : which matrix / gene-name column of an AnnData or .h5ad.
    table : an explicit inverse permutation table (overrides seed/rng).
    chunks, cache_bytes, threads : block shape, cache bound and threads.
    null : {"permutation", "analytic"}, default "permutation"
        ``"analytic"``: the exact all-permutation null moments, one GEMM per
        block and normal p-values (``n_rand``, ``seed``, ``rng`` unused,
        ``table`` must be None); see ``docs/nulls.md``.
    kernel : {"auto", "dense", "sparse"}
        Sparse expression stays sparse (``"auto"``); ``"dense"`` densifies one
        block of columns at a time (exact to the dense path's rounding).
    sparse_mode : bool, default False
        Single-cell modes: reproduce the arithmetic of SecActPy's
        ``sparse_mode=True`` (shared genes in signature order; for float32
        counts the per-cell scale factors rounded to float32, which moves z by
        ~1e-8) instead of its dense path (the default, exact in float64).
    dtype : {None, "float64", "float32"}
        Precision of the dense permutation kernel (default float64, exact).
        ``"float32"`` is about twice as fast and *not* exact (see the user
        guide, "Single precision"); the sparse kernel always uses float64.

    Returns
    -------
    LazyActivity

    Examples
    --------
    >>> import numpy as np, pandas as pd, lazyact
    >>> sig = lazyact.load_signature("CytoSig")
    >>> rng = np.random.default_rng(0)
    >>> expr = pd.DataFrame(rng.standard_normal((sig.shape[0], 3)), index=sig.index)
    >>> act = lazyact.activity(expr, "CytoSig", n_rand=50)
    >>> act.zscore.loc["IL6", :].shape
    (3,)
    """
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"preprocess must be one of {', '.join(map(repr, PREPROCESS_MODES))}, got {preprocess!r}")
    if preprocess in ("scrnaseq", "spatial", "pseudobulk"):
        from .singlecell import single_cell_activity

        return single_cell_activity(**locals())

    src = _as_source(expression, genes, samples, layer, gene_column)
    sig, sig_name = _signature(signature)
    check_orientation(src, sig.index)
    build = build_model(sig, sig_name, _default_group(signature) if group is None else group, src.genes,
                        gene_order, lambda_, n_rand, seed, rng, table, backend, null=null, dtype=dtype)
    rows = build.overlap.expression_rows
    sample_names = pd.Index(src.samples)
    offsets = None
    if preprocess == "center" and src.shape[1] >= 2:
        offsets = row_sums(src, rows) / src.shape[1]
    if src.shape[1] == 1:
        sample_names = pd.Index(["Change"], dtype=object)
    expr = PreparedExpression(src, rows, row_offsets=offsets)
    return build.activity(expr, sample_names, {"preprocess": preprocess}, chunks=chunks, cache_bytes=cache_bytes,
                          threads=threads, kernel=kernel, source=src)


class ModelBuild:
    """Signature side of a pipeline: grouping, overlap, scaled X, projection, model."""

    def __init__(self, proj, model, proteins, row_map, overlap, params):
        self.projection, self.model, self.proteins = proj, model, proteins
        self.row_map, self.overlap, self.params = row_map, overlap, params

    def activity(self, expr, sample_names, extra_params, *, source=None, spatial=None, **kwargs) -> LazyActivity:
        act = LazyActivity(self.projection, self.model, expr, proteins=self.proteins, samples=sample_names,
                           row_map=self.row_map, params={**self.params, **extra_params}, spatial=spatial,
                           **kwargs)
        act.genes = self.overlap.genes
        act.source = source
        return act


def build_model(sig: pd.DataFrame, sig_name: str, group, expression_genes, gene_order: str, lambda_: float,
                n_rand: int, seed: int, rng: str, table, backend: str, null: str = "permutation",
                dtype=None) -> ModelBuild:
    """Group the signature (before the overlap, as SecActPy), align genes, z-score X, project."""
    do_group = bool(group) if isinstance(group, bool) else True
    threshold = float(group) if not isinstance(group, bool) else 0.9
    if do_group:
        grouped, members = group_signature(sig, threshold)
        proteins, row_map = expand_groups(members, sort=True)
    else:
        grouped, members = sig, [[str(c)] for c in sig.columns]
        proteins, row_map = pd.Index([str(c) for c in sig.columns], dtype=object), None
    overlap = overlap_genes(expression_genes, grouped.index, gene_order)
    X = zscore_columns(grouped.to_numpy(np.float64)[overlap.signature_rows])
    proj = projection(X, lambda_)
    model = make_model(proj, null, n_rand=None if table is not None else n_rand, seed=seed, rng=rng,
                       table=table, backend=backend, dtype=dtype)
    params = {
        "signature": sig_name,
        "group": threshold if do_group else False,
        "gene_order": gene_order,
        "n_genes": int(len(overlap.genes)),
        "n_groups": len(members),
    }
    return ModelBuild(proj, model, proteins, row_map, overlap, params)
