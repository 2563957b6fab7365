"""The SecAct method: ridge projection, permutation tables and block statistics.

Nothing here knows about indexing or laziness: a block is (protein rows,
expression columns) in, four statistics out.
"""
from .analytic import NULLS, AnalyticModel, make_model
from .model import RidgeModel
from .permutations import forward_table, invert_table, permutation_table
from .projection import DEFAULT_LAMBDA, Projection, projection
from .statistics import STATISTICS

__all__ = ["AnalyticModel", "NULLS", "make_model", "DEFAULT_LAMBDA", "Projection", "RidgeModel", "STATISTICS",
           "forward_table", "invert_table", "permutation_table", "projection"]
