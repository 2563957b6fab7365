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
import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..activity import LazyActivity
from ..preprocess import (
    GeneOverlap,
    SignatureNaNWarning,
    expand_groups,
    filter_signature,
    group_signature,
    overlap_genes,
    scale_signature,
    warn_user,
)
from ..preprocess.report import preview_names
from ..preprocess.signature import count_nan
from ..ridge import DEFAULT_LAMBDA, Projection, make_model, projection
from ..signatures import load_signature

__all__ = ["DEFAULT_SCALE", "PREPROCESS_MODES", "SINGLE_CELL_MODES", "ActivityOptions", "ModelBuild", "build_model",
           "default_group", "describe_input", "resolve_signature", "source_obs"]

log = logging.getLogger(__name__)

#: Values of ``preprocess=``.
PREPROCESS_MODES = ("none", "center", "scrnaseq", "spatial", "pseudobulk")
#: The modes whose input is counts (the single-cell pipelines).
SINGLE_CELL_MODES = ("scrnaseq", "spatial", "pseudobulk")
#: Library-size scale of the single-cell and spatial log normalisation (SecActPy's ``scale_factor``).
DEFAULT_SCALE = 1e5


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
    control: Any = None
    paired: bool = False
    single_sample: bool = False
    sig_filter: bool = False
    scale_factor: float | None = None
    min_genes: int = 0
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
    check_input: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.check_input, (bool, np.bool_)):
            raise TypeError(f"check_input must be True or False, got {self.check_input!r}")
        if self.preprocess not in PREPROCESS_MODES:
            raise ValueError(f"preprocess must be one of {', '.join(map(repr, PREPROCESS_MODES))}, "
                             f"got {self.preprocess!r}")
        _check_options(self)

    @property
    def scale(self) -> float:
        """The library-size scale of the single-cell log normalisation (``scale_factor`` or 1e5)."""
        return DEFAULT_SCALE if self.scale_factor is None else float(self.scale_factor)

    def option_params(self) -> dict[str, Any]:
        """The SecActPy options used, as recorded in :attr:`~lazyact.LazyActivity.params` (and files)."""
        out: dict[str, Any] = {"sig_filter": bool(self.sig_filter)}
        if self.control is not None:
            out.update(control=describe_input(self.control), paired=bool(self.paired),
                       single_sample=bool(self.single_sample))
        if self.preprocess in ("scrnaseq", "spatial"):
            out["scale_factor"] = self.scale
        if self.preprocess in SINGLE_CELL_MODES:
            out["min_genes"] = int(self.min_genes)
        if self.groupby is not None and self.preprocess in ("spatial", "pseudobulk"):
            out["groupby"] = self.groupby if isinstance(self.groupby, str) else "labels"
        return out

    def as_bulk(self) -> "ActivityOptions":
        """The options of the bulk pipeline run on a profile a single-cell mode made (``preprocess="none"``).

        The input-side options (names, matrix, cell grouping, control, scaling, cell filter, the
        input check) were used up making the profile; the method's options and ``sig_filter`` carry over.
        """
        return self.replace(preprocess="none", genes=None, samples=None, layer=None, gene_column=None, groupby=None,
                            control=None, paired=False, single_sample=False, scale_factor=None, min_genes=0,
                            check_input=False)

    def replace(self, **changes: Any) -> "ActivityOptions":
        """A copy with some options changed."""
        return dataclasses.replace(self, **changes)

    def array_options(self) -> dict[str, Any]:
        """The options of the lazy array (:class:`~lazyact.LazyActivity` keywords)."""
        return {"chunks": self.chunks, "cache_bytes": self.cache_bytes, "threads": self.threads,
                "kernel": self.kernel}


def describe_input(obj: Any) -> str:
    """A short description of an input for :attr:`params`: its path, or its kind and shape.

    >>> describe_input(pd.DataFrame(np.zeros((3, 2))))
    'DataFrame (3 x 2)'
    """
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    shape = getattr(obj, "shape", None)
    kind = type(obj).__name__
    return f"{kind} ({shape[0]} x {shape[1]})" if shape is not None and len(shape) == 2 else kind


def _check_options(o: ActivityOptions) -> None:
    """Refuse wrong combinations of options with a message that says what to do (SecActPy ignores them)."""
    for name in ("paired", "single_sample", "sig_filter"):
        if not isinstance(getattr(o, name), (bool, np.bool_)):
            raise TypeError(f"{name}= must be True or False, got {getattr(o, name)!r}")
    mode = o.preprocess
    if o.control is None:
        for name in ("paired", "single_sample"):
            if getattr(o, name):
                raise ValueError(f"{name}=True compares samples with a control profile: pass control= (genes x "
                                 f"samples, e.g. a path or a DataFrame), or leave {name} off")
    else:
        if mode == "center":
            raise ValueError("control= replaces the centring: use preprocess='none' with control= (SecActPy's "
                             "is_differential=False with a control), or drop control= to centre on the samples")
        if mode in ("scrnaseq", "pseudobulk"):
            raise ValueError(f"control= is not available with preprocess={mode!r} (SecActPy has no single-cell "
                             "control); use preprocess='spatial' for a spatial control, or preprocess='none' with "
                             "differential profiles")
        if mode == "spatial" and (o.paired or o.single_sample):
            raise ValueError("paired=/single_sample= apply to bulk controls (preprocess='none'); a spatial control's "
                             "means are subtracted from every spot or group, without collapsing")
    if o.groupby is not None and mode not in ("spatial", "pseudobulk"):
        raise ValueError(f"groupby= groups cells for preprocess='pseudobulk' or 'spatial' (cell-type level), not "
                         f"preprocess={mode!r}; drop groupby= or choose one of those modes")
    if o.scale_factor is not None:
        if mode not in ("scrnaseq", "spatial"):
            raise ValueError(f"scale_factor= sets the library size of preprocess='scrnaseq' / 'spatial', not "
                             f"preprocess={mode!r}; drop scale_factor=")
        if isinstance(o.scale_factor, (bool, np.bool_)) or not isinstance(o.scale_factor, (int, float, np.number)) \
                or not np.isfinite(o.scale_factor) or o.scale_factor <= 0:
            raise ValueError(f"scale_factor must be a finite number > 0 (SecActPy's default is 1e5), "
                             f"got {o.scale_factor!r}")
    if isinstance(o.min_genes, (bool, np.bool_)) or not isinstance(o.min_genes, (int, np.integer)) or o.min_genes < 0:
        raise ValueError(f"min_genes must be an integer >= 0 (0 keeps every sample), got {o.min_genes!r}")
    if o.min_genes and mode not in SINGLE_CELL_MODES:
        raise ValueError(f"min_genes= drops cells/spots with few detected genes in count data (preprocess="
                         f"'scrnaseq', 'spatial' or 'pseudobulk'), not preprocess={mode!r}; drop min_genes=")


def resolve_signature(signature: Any) -> tuple[pd.DataFrame, str]:
    """The signature as a float64 genes x proteins DataFrame, and the name recorded in ``params``.

    NaN entries are kept (SecActPy keeps those of a DataFrame or a file: its scaling skips
    them, :func:`~lazyact.preprocess.signature.scale_signature`), with one
    :class:`~lazyact.preprocess.SignatureNaNWarning` saying how many and where.
    """
    if isinstance(signature, pd.DataFrame):
        sig, name = signature.astype(np.float64), "DataFrame"
    else:
        sig, name = load_signature(signature), str(signature)
    n_nan, proteins = count_nan(sig)
    if n_nan:
        warn_user(
            f"signature {name} has {n_nan} NaN value{'s' if n_nan > 1 else ''} in {len(proteins)} "
            f"protein{'s' if len(proteins) > 1 else ''} ({preview_names(proteins)}); handled as SecActPy does: "
            "each protein's mean and sd over the shared genes skip them, they are 0 after scaling, and a "
            "protein with a NaN is grouped with no other. To decide otherwise, fill or drop them first, e.g. "
            "signature.fillna(0) or lazyact.load_signature(path).fillna(0).",
            SignatureNaNWarning,
        )
    return sig, name


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
    """Filter (``sig_filter``) and group the signature (before the overlap, as SecActPy), align genes,
    z-score X, project.

    ``expression_genes`` are the expression's gene names as SecActPy has them at this step
    (after a control's alignment, the single-cell clean-up, ...): ``sig_filter`` keeps the
    proteins named like one of them.
    """
    if options.sig_filter:
        sig = filter_signature(sig, expression_genes)
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
        **({"n_proteins_kept": int(sig.shape[1])} if options.sig_filter else {}),
    }
    return ModelBuild(proj, model, proteins, row_map, overlap, params)
