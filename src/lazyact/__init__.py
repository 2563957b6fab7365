"""lazyact: lazy, NumPy-like arrays of secreted-protein activity.

``lazyact.activity("atlas.h5ad", signature="SecAct", preprocess="scrnaseq")`` computes
nothing until a slice is asked for; on the bundled bulk example:

>>> import lazyact
>>> from lazyact.demo import example_path
>>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
>>> act.zscore.loc["IL6", :].shape  # one protein over all samples: only that row is computed
(5,)
"""
from . import demo, fdr, ranking, ridge, tl
from ._version import __version__
from .activity import ActivityArray, LazyActivity
from .fdr import qvalue
from .pipeline import activity
from .ranking import active, top
from .ridge import permutation_table, projection
from .signatures import load_signature
from .results import StoredActivity, open


def view(obj, array=None, **kwargs):
    """Open the fastplotlib viewer (see :func:`lazyact.viz.view`); imports fastplotlib lazily."""
    from .viz import view as _view

    return _view(obj, array=array, **kwargs)


__all__ = [
    "ActivityArray",
    "LazyActivity",
    "StoredActivity",
    "activity",
    "active",
    "demo",
    "fdr",
    "qvalue",
    "ranking",
    "top",
    "__version__",
    "load_signature",
    "open",
    "permutation_table",
    "projection",
    "ridge",
    "tl",
    "view",
]
