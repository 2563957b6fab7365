"""The bulk pipeline: SecActPy's ``secact_activity_inference`` (``preprocess="none"`` / ``"center"``), lazily.

In this order: the input as an expression source (text tables read as SecActPy's
``load_expression_data`` does, duplicated genes keep their first row), the orientation
check, the model (:func:`~lazyact.pipeline.build.build_model`), then the expression on
the shared genes: each gene's mean over samples subtracted for ``"center"`` (from one
streaming pass; not for a single sample), column z-score block by block. A single
sample is named ``"Change"``, as SecActPy names it.
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..activity import LazyActivity
from ..preprocess import PreparedExpression, check_orientation, check_values, pass_block, row_sums
from ..sources import ExpressionSource, as_source
from .build import ActivityOptions, build_model, resolve_signature
from .control import bulk_control_activity

__all__ = ["bulk_activity", "bulk_source", "read_expression_table", "run_bulk"]

log = logging.getLogger(__name__)

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
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt") as fh:
            head = "".join(fh.readline() for _ in range(3))
        sep = "\t" if head.count("\t") > head.count(",") else ("," if "," in head else r"\s+")
    df = pd.read_csv(path, sep=sep, index_col=0, engine="python" if sep == r"\s+" else "c")
    df.index = df.index.astype(str)
    df = df.apply(pd.to_numeric, errors="coerce")
    df = df[~df.index.duplicated(keep="first")]
    return df.astype(np.float64)


def bulk_source(expression: Any, options: ActivityOptions) -> ExpressionSource:
    """Source for any input; text tables are read into a DataFrame (bulk data is small)."""
    if isinstance(expression, (str, os.PathLike)) and str(expression).lower().endswith(_TEXT_SUFFIXES):
        expression = read_expression_table(expression)
    if isinstance(expression, pd.DataFrame):
        expression = expression[~expression.index.astype(str).duplicated(keep="first")]
    return as_source(expression, genes=options.genes, samples=options.samples, layer=options.layer,
                     gene_column=options.gene_column)


def run_bulk(src: ExpressionSource, sig: pd.DataFrame, sig_name: str, options: ActivityOptions,
             params: Mapping[str, Any] | None = None, valid: np.ndarray | None = None) -> LazyActivity:
    """The bulk pipeline on a source and a resolved signature (also the end of pseudo-bulk).

    ``params`` are recorded in the activity's parameters after the model's (default:
    ``{"preprocess": options.preprocess}``). ``valid`` (one bool per sample) marks the
    samples without an answer (NaN statistics; e.g. pseudo-bulk groups without counts),
    which must then be left out of the source's row means by the caller.
    """
    check_orientation(src, sig.index)
    build = build_model(sig, sig_name, src.genes, options)
    rows = build.overlap.expression_rows
    if options.check_input:  # raw counts are not differential profiles (judged on the shared genes)
        check_values(src, options.preprocess, rows, block=pass_block(src))
    sample_names = pd.Index(src.samples)
    offsets = None
    if options.preprocess == "center" and src.shape[1] >= 2:
        offsets = row_sums(src, rows) / src.shape[1]
    if src.shape[1] == 1:
        sample_names = pd.Index(["Change"], dtype=object)
    expr = PreparedExpression(src, rows, row_offsets=offsets, valid=valid)
    log.info("input: %s, %d genes x %d samples; preprocess=%r: %s, then each sample z-scored over the shared genes",
             src.describe(), src.shape[0], src.shape[1], options.preprocess,
             "gene means over samples subtracted" if offsets is not None else "used as given (differential)")
    extra = {"preprocess": options.preprocess, **options.option_params()} if params is None else dict(params)
    return build.activity(expr, sample_names, extra, source=src, **options.array_options())


def bulk_activity(expression: Any, options: ActivityOptions) -> LazyActivity:
    """:func:`lazyact.activity` for ``preprocess="none"`` and ``"center"`` (with ``control=``:
    :func:`~lazyact.pipeline.control.bulk_control_activity`)."""
    src = bulk_source(expression, options)
    sig, sig_name = resolve_signature(options.signature)
    if options.control is not None:
        unnamed = isinstance(options.control, np.ndarray) or sp.issparse(options.control)  # same genes= then
        control = bulk_source(options.control, options.replace(genes=options.genes if unnamed else None, samples=None))
        if options.check_input:  # raw counts are not log expression either
            check_values(src, options.preprocess, control=True, block=pass_block(src))
        return bulk_control_activity(src, control, sig, sig_name, options)
    return run_bulk(src, sig, sig_name, options)
