"""SecActPy's preprocessing rules, in one place.

* :mod:`~lazyact.preprocess.normalise` -- the log normalisation (written once, each
  SecActPy floating-point order an explicit option) and the column z-score;
* :mod:`~lazyact.preprocess.passes` -- streaming passes for the global statistics
  (row sums and means, library sizes, pseudo-bulk profiles);
* :mod:`~lazyact.preprocess.genes` -- gene rules: name clean-up, de-duplication,
  orientation check, overlap with a signature;
* :mod:`~lazyact.preprocess.signature` -- signature grouping, expansion, scaling and ``sig_filter``;
* :mod:`~lazyact.preprocess.control` -- control profiles (bulk differences, the spatial control);
* :mod:`~lazyact.preprocess.groups` -- cell-type groups of spatial data (means of log values);
* :mod:`~lazyact.preprocess.values` -- what the values look like (counts, log-normalised),
  from a bounded sample, and the check that refuses a contradicting ``preprocess``;
* :mod:`~lazyact.preprocess.report` -- the warnings that say what was done to the input
  (empty samples, signature NaN);
* :mod:`~lazyact.preprocess.expression` -- the expression protocol a
  :class:`~lazyact.LazyActivity` reads, for dense and prepared (normalised
  block by block) inputs.

The order in which each SecActPy pipeline applies these lives in :mod:`lazyact.pipeline`.
Facts are cited in ``tests/goldens/NOTES.md`` (file:line of the SecActPy 0.3.1 wheel).
"""
from .control import (
    ControlAxis,
    DifferenceExpression,
    control_gene_axis,
    control_log_means,
    control_row_means,
    masked_zscore,
    mean_difference,
    paired_samples,
)
from .expression import DenseExpression, Expression, PreparedExpression, as_expression
from .genes import (
    GENE_ORDERS,
    GeneOverlap,
    OrientationReport,
    check_orientation,
    clean_gene_name,
    dedup_rows,
    overlap_genes,
    single_cell_genes,
)
from .normalise import LOG_ORDERS, log_normalise, scale_factors, zscore_columns
from .groups import log_group_means, sorted_groups
from .passes import (PASS_BYTES, detected_genes, log_row_means, looks_normalised, pass_block, pseudobulk, row_sums,
                     valid_samples)
from .report import EmptySamplesWarning, SignatureNaNWarning, check_valid, warn_empty, warn_user
from .signature import expand_groups, filter_signature, group_signature, scale_signature
from .values import InputCheckError, ValueSample, check_values, sample_values

__all__ = [
    "ControlAxis",
    "DifferenceExpression",
    "control_gene_axis",
    "control_log_means",
    "control_row_means",
    "masked_zscore",
    "mean_difference",
    "paired_samples",
    "DenseExpression",
    "Expression",
    "PreparedExpression",
    "as_expression",
    "GENE_ORDERS",
    "GeneOverlap",
    "OrientationReport",
    "check_orientation",
    "clean_gene_name",
    "dedup_rows",
    "overlap_genes",
    "single_cell_genes",
    "LOG_ORDERS",
    "log_normalise",
    "scale_factors",
    "zscore_columns",
    "PASS_BYTES",
    "log_row_means",
    "looks_normalised",
    "pass_block",
    "pseudobulk",
    "row_sums",
    "valid_samples",
    "EmptySamplesWarning",
    "SignatureNaNWarning",
    "warn_empty",
    "check_valid",
    "warn_user",
    "InputCheckError",
    "ValueSample",
    "check_values",
    "sample_values",
    "detected_genes",
    "log_group_means",
    "sorted_groups",
    "filter_signature",
    "expand_groups",
    "group_signature",
    "scale_signature",
]
