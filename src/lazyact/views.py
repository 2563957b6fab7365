"""The statistic views shared by computed (:class:`~lazyact.LazyActivity`) and stored
(:class:`~lazyact.StoredActivity`) activity: ``beta``, ``se``, ``zscore``, ``pvalue``
as :class:`ActivityArray`, one-pass summaries, q-values and rankings.

A class using :class:`ActivityViews` provides ``store`` (a
:class:`~lazyact.array.BlockStore` whose names are statistics), ``proteins``,
``samples``, ``params`` and a ``_views`` dict.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import fdr, ranking
from .array import MOMENTS, LazyArray, reduce_many
from .array import summary as store_summary
from .ridge import STATISTICS

__all__ = ["ActivityArray", "ActivityViews"]


class ActivityArray(LazyArray):
    """One statistic of an activity (proteins x samples), read-only and lazy.

    Indexing follows NumPy exactly and computes (or reads) only the proteins
    and samples the key touches.  ``.loc[proteins, samples]`` selects by name,
    ``.oindex[...]`` orthogonally.

    Examples
    --------
    >>> import lazyact, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> act = lazyact.LazyActivity(rng.standard_normal((3, 40)), 20, rng.standard_normal((40, 6)))
    >>> act.zscore[0, :3].shape
    (3,)
    """

    axis_names = ("protein", "sample")

    @property
    def proteins(self) -> pd.Index:
        """Row names (signalling proteins)."""
        return self.row_labels

    @property
    def samples(self) -> pd.Index:
        """Column names (samples, cells or spots)."""
        return self.col_labels


class ActivityViews:
    """Mixin: the four statistic views and the analyses built on them."""

    def _missing(self, name: str) -> str:
        """Message of the KeyError for a statistic this object does not hold."""
        return f"{name!r} is not available here (available: {', '.join(self.store.names)})"

    def _view(self, name: str) -> ActivityArray:
        if name not in self.store.names:
            raise KeyError(self._missing(name))
        view = self._views.get(name)
        if view is None:
            view = ActivityArray(self.store, name, row_labels=self.proteins, col_labels=self.samples,
                                 attrs={"statistic": name, **self.params})
            self._views[name] = view
        return view

    @property
    def beta(self) -> ActivityArray:
        """Ridge coefficients ``T @ Y`` (proteins x samples)."""
        return self._view("beta")

    @property
    def se(self) -> ActivityArray:
        """Standard error: standard deviation of the null distribution of beta."""
        return self._view("se")

    @property
    def zscore(self) -> ActivityArray:
        """``(beta - mean of the null) / se``: the activity score."""
        return self._view("zscore")

    @property
    def pvalue(self) -> ActivityArray:
        """Two-sided p-value: permutation ``(count(|beta_perm| >= |beta|) + 1) / (n_rand + 1)``,
        or the normal approximation with ``null="analytic"``."""
        return self._view("pvalue")

    def __getitem__(self, name: str) -> ActivityArray:
        if name not in STATISTICS:
            raise KeyError(f"{name!r}: choose one of {', '.join(STATISTICS)}")
        return self._view(name)

    @property
    def shape(self) -> tuple[int, int]:
        """(proteins, samples)."""
        return tuple(self.store.shape)

    # -- one-pass summaries ----------------------------------------------------
    def _summary_frame(self, progress: bool | None = None) -> pd.DataFrame:
        names = [n for n in STATISTICS if n in self.store.names]
        # NaN marks samples without an answer (e.g. empty cells): the moments are over the others
        res = store_summary(self.store, names, axis=1, skipna=True, progress=progress)
        cols, data = [], []
        for name in names:
            for moment in MOMENTS:
                cols.append((name, moment))
                data.append(np.asarray(res[name][moment]))
        frame = pd.DataFrame(np.column_stack(data), index=self.proteins,
                             columns=pd.MultiIndex.from_tuples(cols, names=["statistic", "moment"]))
        self.summary_stats = frame
        return frame

    def summary(self, progress: bool | None = None) -> pd.DataFrame:
        """Per-protein mean, std, min and max of every statistic, in one pass.

        Samples without an answer (NaN statistics, e.g. empty cells) are left out,
        as ``np.nanmean`` etc. do.

        Returns
        -------
        pandas.DataFrame
            Index: proteins; columns: a (statistic, moment) MultiIndex.

        Examples
        --------
        >>> import numpy as np, lazyact
        >>> rng = np.random.default_rng(0)
        >>> act = lazyact.LazyActivity(rng.standard_normal((2, 30)), 10, rng.standard_normal((30, 5)))
        >>> act.summary().shape
        (2, 16)
        """
        return self._summary_frame(progress)

    def reduce(self, ops: dict, axis: int | None = 1, *, ddof: float = 0, progress: bool | None = None) -> Any:
        """Several reductions of several statistics in ONE pass over the blocks.

        Parameters
        ----------
        ops : dict
            ``{statistic: reduction or [reductions]}`` with reductions of the views
            (``"max"``, ``"mean"``, ``"std"``, ``"nanmax"``...).
        axis : {1, 0, None}
            ``1`` (default): one value per protein; ``0``: per sample; ``None``: one each.
        ddof : float
            Delta degrees of freedom of ``std``/``var``.
        progress : bool, optional
            Progress bar (None: automatic on long work).

        Returns
        -------
        pandas.DataFrame or pandas.Series
            Columns ``(statistic, reduction)``, indexed by protein (``axis=1``) or sample
            (``axis=0``); a Series for ``axis=None``. Each value equals the view's own
            reduction (``act.zscore.max(axis=1)``).

        Examples
        --------
        >>> import numpy as np, lazyact
        >>> rng = np.random.default_rng(0)
        >>> act = lazyact.LazyActivity(rng.standard_normal((2, 30)), 10, rng.standard_normal((30, 5)))
        >>> r = act.reduce({"zscore": ["max", "mean"], "pvalue": "min"})
        >>> r.columns.tolist()
        [('zscore', 'max'), ('zscore', 'mean'), ('pvalue', 'min')]
        >>> bool((r["zscore", "max"].to_numpy() == act.zscore.max(axis=1)).all())
        True
        """
        res = reduce_many(self.store, ops, axis, ddof=ddof, progress=progress)
        flat = {(name, op): value for name, by_op in res.items() for op, value in by_op.items()}
        keys = pd.MultiIndex.from_tuples(list(flat), names=["statistic", "reduction"])
        if axis is None:
            return pd.Series(list(flat.values()), index=keys)
        index = self.proteins if axis in (1, -1) else self.samples
        return pd.DataFrame(np.column_stack(list(flat.values())), index=index, columns=keys)

    # -- multiple testing and rankings (lazyact.fdr, lazyact.ranking) ---------
    def qvalue(self, method: str = "bh", axis: int = 0, **kwargs) -> LazyArray:
        """FDR-adjusted p-values as a lazy view: see :func:`lazyact.fdr.qvalue`."""
        return fdr.qvalue(self, method, axis, **kwargs)

    def top(self, k: int = 5, by="zscore", axis: int = 0, **kwargs) -> pd.DataFrame:
        """The ``k`` most active proteins per sample: see :func:`lazyact.ranking.top`."""
        return ranking.top(self, k, by, axis, **kwargs)

    def active(self, alpha: float = 0.05, by: str = "pvalue", **kwargs) -> pd.Series:
        """Per protein, the number of samples where it is significant: see :func:`lazyact.ranking.active`."""
        return ranking.active(self, alpha, by, **kwargs)
