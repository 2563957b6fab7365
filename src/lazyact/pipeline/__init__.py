"""``lazyact.activity`` and the SecActPy pipelines behind it.

* :mod:`~lazyact.pipeline.api` -- :func:`activity`: validates its options and dispatches;
* :mod:`~lazyact.pipeline.build` -- :class:`ActivityOptions`, the signature and the model;
* :mod:`~lazyact.pipeline.bulk` -- ``preprocess="none"`` / ``"center"`` (and the end of
  pseudo-bulk);
* :mod:`~lazyact.pipeline.singlecell` -- ``"scrnaseq"``, ``"spatial"``, ``"pseudobulk"``.
"""
from .api import activity
from .build import PREPROCESS_MODES, SINGLE_CELL_MODES, ActivityOptions, build_model
from .bulk import read_expression_table

__all__ = ["activity", "ActivityOptions", "PREPROCESS_MODES", "SINGLE_CELL_MODES", "build_model",
           "read_expression_table"]
