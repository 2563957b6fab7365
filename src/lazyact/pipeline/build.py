"""The signature side of every pipeline, and the options of :func:`lazyact.activity`.

* :class:`ActivityOptions` -- every option of :func:`lazyact.activity` (all but the
  expression), one field each: runners receive this object, never ``**kwargs``;
* :func:`resolve_signature`, :func:`default_group` -- the signature and SecActPy's
  default grouping;
* :func:`build_model` -- group the signature (before the overlap, as SecActPy), align
  the genes, z-score X, project, and make the permutation (or analytic) model.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..activity import LazyActivity
from ..preprocess import GeneOverlap, expand_groups, group_signature, overlap_genes, scale_signature
from ..ridge import DEFAULT_LAMBDA, Projection, make_model, projection
from ..signatures import load_signature

__all__ = ["PREPROCESS_MODES", "SINGLE_CELL_MODES", "ActivityOptions", "ModelBuild", "build_model",
           "default_group", "resolve_signature", "source_obs"]

log = logging.getLogger(__name__)

#: Values of ``preprocess=``.
PREPROCESS_MODES = ("none", "center", "scrnaseq", "spatial", "pseudobulk")
#: The modes whose input is counts (the single-cell pipelines).
SINGLE_CELL_MODES = ("scrnaseq", "spatial", "pseudobulk")


@dataclass(frozen=True)
class ActivityOptions:
    """The options of :func:`lazyact.activity`, one field per keyword (see its docstring).

    ``tests/pipeline/test_api.py`` checks that the fields are exactly the keywords of
    :func:`lazyact.activity`, so that a new keyword cannot be dropped on the way.

    Examples
    --------
    >>> opts = ActivityOptions(signature="CytoSig", n_rand=100)
    >>> opts.n_rand, opts.preprocess, opts.array_options()
    (100, 'none', {'chunks': None, 'cache_bytes': None, 'threads': None, 'kernel': 'auto'})
    >>> ActivityOptions(preprocess="log")
    Traceback (most recent call last):
    ...
    ValueError: preprocess must be one of 'none', 'center', 'scrnaseq', 'spatial', 'pseudobulk', got 'log'
    """

    signature: Any = "SecAct"
    lambda_: float = DEFAULT_LAMBDA
    n_rand: int = 1000
    seed: int = 0
    rng: str = "srand"
    preprocess: str = "none"
    group: bool | float | None = None
    gene_order: str = "expression"
    groupby: Any = None
    backend: str = "auto"
    genes: Sequence[Any] | None = None
    samples: Sequence[Any] | None = None
    layer: str | None = None
    gene_column: str | None = None
    table: Any = None
    chunks: Any = None
    cache_bytes: int | None = None
    threads: int | None = None
    kernel: str = "auto"
    sparse_mode: bool = False
    null: str = "permutation"
    dtype: Any = None

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESS_MODES:
            raise ValueError(f"preprocess must be one of {', '.join(map(repr, PREPROCESS_MODES))}, "
                             f"got {self.preprocess!r}")

    def replace(self, **changes: Any) -> "ActivityOptions":
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)

    def array_options(self) -> dict[str, Any]:
        """The options of the lazy array (:class:`~lazyact.LazyActivity` keywords)."""
        return {"chunks": self.chunks, "cache_bytes": self.cache_bytes, "threads": self.threads,
                "kernel": self.kernel}


def resolve_signature(signature: Any) -> tuple[pd.DataFrame, str]:
    """The signature as a float64 genes x proteins DataFrame, and the name recorded in ``params``."""
    if isinstance(signature, pd.DataFrame):
        sig = signature.astype(np.float64)
        return sig, "DataFrame"
    return load_signature(signature), str(signature)


def default_group(signature: Any) -> bool:
    """SecActPy's default of signature grouping: on, except for the string ``"cytosig"``."""
    return not (isinstance(signature, str) and signature.lower() == "cytosig")


def source_obs(src: Any) -> Any:
    """A reader of the input's ``obs`` table (cell type, sample...) as a DataFrame, or None.

    Sources with ``obs_keys()``/``obs_column()`` (AnnData, ``.h5ad``) have one; it reads
    when called (:attr:`lazyact.LazyActivity.obs` calls it when first asked).
    """
    if hasattr(src, "obs_keys") and hasattr(src, "obs_column"):
        return partial(_read_obs, src)
    return None


def _read_obs(src: Any) -> pd.DataFrame:
    columns = {k: pd.Series(src.obs_column(k)).array for k in src.obs_keys()}
    return pd.DataFrame(columns, index=pd.Index(src.samples))


class ModelBuild:
    """Signature side of a pipeline: grouping, overlap, scaled X, projection, model."""

    def __init__(self, proj: Projection, model: Any, proteins: pd.Index, row_map: np.ndarray | None,
                 overlap: GeneOverlap, params: Mapping[str, Any]):
        self.projection, self.model, self.proteins = proj, model, proteins
        self.row_map, self.overlap, self.params = row_map, overlap, params

    def activity(self, expr: Any, sample_names: pd.Index, extra_params: Mapping[str, Any], *, source: Any = None,
                 spatial: Any = None, **kwargs: Any) -> LazyActivity:
        """The :class:`~lazyact.LazyActivity` of ``expr`` (aligned to :attr:`overlap`) with this model."""
        obs = source_obs(source) if source is not None and len(sample_names) == source.shape[1] else None
        act = LazyActivity(self.projection, self.model, expr, proteins=self.proteins, samples=sample_names,
                           row_map=self.row_map, params={**self.params, **extra_params}, spatial=spatial,
                           obs=obs, **kwargs)
        act.genes = self.overlap.genes
        act.source = source
        return act


def build_model(sig: pd.DataFrame, sig_name: str, expression_genes: Sequence[Any],
                options: ActivityOptions) -> ModelBuild:
    """Group the signature (before the overlap, as SecActPy), align genes, z-score X, project."""
    group = default_group(options.signature) if options.group is None else options.group
    do_group = bool(group) if isinstance(group, bool) else True
    threshold = float(group) if not isinstance(group, bool) else 0.9
    if do_group:
        grouped, members = group_signature(sig, threshold)
        proteins, row_map = expand_groups(members, sort=True)
    else:
        grouped, members = sig, [[str(c)] for c in sig.columns]
        proteins, row_map = pd.Index([str(c) for c in sig.columns], dtype=object), None
    overlap = overlap_genes(expression_genes, grouped.index, options.gene_order)
    log.info("%d of the signature's %d genes are in the expression (gene_order=%r); %d proteins%s",
             len(overlap.genes), grouped.shape[0], options.gene_order, len(proteins),
             f" in {len(members)} groups (group={threshold})" if do_group else "")
    X = scale_signature(grouped, overlap.signature_rows)
    proj = projection(X, options.lambda_)
    table = options.table
    model = make_model(proj, options.null, n_rand=None if table is not None else options.n_rand, seed=options.seed,
                       rng=options.rng, table=table, backend=options.backend, dtype=options.dtype)
    params = {
        "signature": sig_name,
        "group": threshold if do_group else False,
        "gene_order": options.gene_order,
        "n_genes": int(len(overlap.genes)),
        "n_groups": len(members),
    }
    return ModelBuild(proj, model, proteins, row_map, overlap, params)
