"""``LazyActivity``: SecAct activity as four lazy proteins x samples arrays.

This module composes the method (:mod:`lazyact.ridge`) with the generic lazy
array (:mod:`lazyact.array`): a block function computes ``beta, se, zscore,
pvalue`` for any (proteins, samples) block from the projection's rows and the
expression source's columns, and a :class:`~lazyact.array.BlockStore` caches
and schedules those blocks.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ._version import __version__
from .array import BlockStore
from .preprocess import as_expression
from .ridge import STATISTICS, AnalyticModel, Projection, RidgeModel, make_model
from .results.fingerprint import check_input_stamps, input_stamps
from .results.io import ActivityIO
from .results.stored import open_results
from .results.tier import FileTier, scratch_tier
from .views import ActivityArray, ActivityViews

log = logging.getLogger(__name__)

__all__ = ["ActivityArray", "ActivityBlocks", "LazyActivity"]


class ActivityBlocks:
    """Block function: the four statistics for (protein rows, sample columns).

    Parameters
    ----------
    model : RidgeModel
        Projection, permutation table and backend.
    expression : Expression
        An :class:`~lazyact.preprocess.expression.Expression`: ``shape == (n_genes,
        n_samples)`` and ``block(cols) -> (n_genes, len(cols)) float64`` giving the
        (normalised) expression columns aligned to the model's genes.
    row_map : int array, optional
        Output row -> model row (signature groups expanded back to their
        member proteins); identity by default.

    Notes
    -----
    The file behind the expression (if any) is recorded when the blocks are built
    (:func:`~lazyact.results.fingerprint.input_stamps`); a pickled copy (what a dask
    worker gets) checks it before its first block and refuses a replaced or edited file
    (:class:`~lazyact.results.fingerprint.InputChangedError`), whose global statistics
    would no longer match.

    Samples that the expression marks invalid (its ``valid`` mask, e.g. cells with no
    counts) are not computed: their four statistics are NaN. The other columns of a
    block are computed exactly as without them (a column depends only on itself).
    """

    names = STATISTICS
    _inputs_checked = True

    def __init__(self, model: RidgeModel, expression: Any, row_map: np.ndarray | None = None,
                 kernel: str = "auto"):
        if kernel not in ("auto", "dense", "sparse"):
            raise ValueError(f"kernel must be 'auto', 'dense' or 'sparse', got {kernel!r}")
        self.kernel = kernel
        self.model = model
        self.expression = expression
        n_model_rows = model.shape[0]
        if row_map is None:
            row_map = np.arange(n_model_rows, dtype=np.intp)
        self.row_map = np.asarray(row_map, dtype=np.intp)
        if self.row_map.size and (self.row_map.min() < 0 or self.row_map.max() >= n_model_rows):
            raise ValueError("row_map points outside the projection's rows")
        n_genes, n_samples = expression.shape
        if n_genes != model.shape[1]:
            raise ValueError(
                f"expression has {n_genes} genes but the signature projection has {model.shape[1]}; "
                "align both on their shared genes first (lazyact.activity does this)"
            )
        self.shape = (int(self.row_map.size), int(n_samples))
        self.shape_genes = int(n_genes)
        self.dtype = np.dtype(np.float64)
        self.inputs = input_stamps(expression)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._inputs_checked = False  # a copy in another process: check its input file before reading it

    def _use_sparse(self) -> bool:
        """Sparse in-flight kernel: sparse expression with a permutation test (kernel='auto'/'sparse')."""
        if self.kernel == "dense" or not getattr(self.expression, "is_sparse", False):
            return False
        if not hasattr(self.expression, "sparse_block") or self.model.n_rand == 0:
            return False
        return hasattr(self.model, "compute_sparse")

    @property
    def valid(self) -> np.ndarray | None:
        """The expression's per-sample ``valid`` mask (None: every sample has an answer)."""
        return getattr(self.expression, "valid", None)

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> Mapping[str, np.ndarray]:
        if not self._inputs_checked:
            check_input_stamps(getattr(self, "inputs", ()))
            self._inputs_checked = True
        valid = self.valid
        if valid is not None:
            ok = valid[cols]
            if not ok.all():  # samples without an answer: NaN, not computed
                out = {k: np.full((len(rows), len(cols)), np.nan, dtype=self.dtype) for k in self.names}
                if ok.any():
                    for k, v in self._compute(rows, cols[ok]).items():
                        out[k][:, ok] = v
                return out
        return self._compute(rows, cols)

    def _compute(self, rows: np.ndarray, cols: np.ndarray) -> Mapping[str, np.ndarray]:
        model_rows, back = np.unique(self.row_map[rows], return_inverse=True)
        if self._use_sparse():
            L, mu, sigma = self.expression.sparse_block(cols)
            out = self.model.compute_sparse(model_rows, L, self.expression.row_offsets, mu, sigma)
            bad = ~(sigma > 0)
            if bad.any():  # a constant column: SecActPy's z-scoring gives zeros (0/0 -> 0)
                dense = self.model.compute(model_rows, np.zeros((self.shape_genes, int(bad.sum()))))
                for k in out:
                    out[k][:, bad] = dense[k]
        else:
            out = self.model.compute(model_rows, self.expression.block(cols))
        if model_rows.size == len(rows) and (back == np.arange(len(rows))).all():
            return out
        return {k: v[back] for k, v in out.items()}


def _labels(values, n: int, what: str, prefix: str) -> pd.Index:
    if values is None:
        return pd.Index([f"{prefix}{i}" for i in range(n)], dtype=object)
    idx = pd.Index(values)
    if len(idx) != n:
        raise ValueError(f"{what} has {len(idx)} names for {n} {what}")
    return idx


class LazyActivity(ActivityViews, ActivityIO):
    """Secreted-protein activity, computed only where it is looked at.

    ``beta``, ``se``, ``zscore`` and ``pvalue`` are :class:`ActivityArray`
    views (proteins x samples).  Computing a block fills all four, and a
    byte-bounded LRU cache makes re-reading a region or switching views free.

    Parameters
    ----------
    T : Projection or array_like
        The ridge projection ``(X'X + lambda I)^-1 X'`` (proteins x genes), or a
        :class:`~lazyact.ridge.Projection` (needed for ``n_rand = 0``).
    permutations : int, array_like or RidgeModel, default 1000
        ``n_rand`` (tables from ``seed`` and ``rng``), an explicit inverse
        permutation table ``(n_rand, n_genes)``, or a ready model
        (:class:`~lazyact.ridge.RidgeModel` or
        :class:`~lazyact.ridge.analytic.AnalyticModel`).
    Y : array_like or expression
        Expression, genes x samples, aligned to T's genes (dense NumPy here;
        :func:`lazyact.activity` handles sparse, HDF5, .h5ad and AnnData).
    proteins, samples : sequence, optional
        Names of T's rows and Y's columns.
    seed, rng, backend, dtype : see :class:`~lazyact.ridge.RidgeModel` (``dtype="float32"``:
        the optional single-precision dense kernel, not exact; default float64).
    chunks : (int, int), optional
        Block shape of the cache and of streaming work.
    cache_bytes : int, optional
        Cache bound (default ``lazyact.array.config.cache_bytes``).
    row_map : int array, optional
        Output row -> projection row (for grouped signatures).
    params : dict, optional
        Extra parameters recorded in :attr:`params` (preprocessing, ...).
    obs : pandas.DataFrame or callable, optional
        Annotations of the samples (the input's ``obs``: cell type, batch...), indexed
        like ``samples``, or a function returning them when first asked (:attr:`obs`);
        written with the results.
    null : {"permutation", "analytic"}, default "permutation"
        ``"analytic"``: the exact mean and variance of the permutation null
        over all permutations (:class:`~lazyact.ridge.analytic.AnalyticModel`:
        one GEMM per block, normal p-values); ``permutations``, ``seed`` and
        ``rng`` are then unused.  See ``docs/nulls.md``.
    kernel : {"auto", "dense", "sparse"}
        For sparse expression, ``"auto"``/``"sparse"`` keep it sparse (in-flight
        normalisation, numba kernel); ``"dense"`` densifies one block at a time.

    Examples
    --------
    >>> import numpy as np, lazyact
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((100, 4)), rng.standard_normal((100, 30))
    >>> T = lazyact.ridge.projection(X, lambda_=10.0)
    >>> act = lazyact.LazyActivity(T, 100, Y, proteins=list("ABCD"))
    >>> act
    LazyActivity: 4 proteins x 30 samples (n_rand=100, rng='srand', seed=0), 0% computed
    >>> act.zscore.loc["B", :].shape
    (30,)
    """

    def __init__(self, T, permutations=1000, Y=None, *, proteins=None, samples=None, seed: int = 0,
                 rng: str = "srand", backend: str = "numpy", chunks=None, cache_bytes: int | None = None,
                 threads: int | None = None, row_map=None, params: Mapping[str, Any] | None = None,
                 spatial=None, obs=None, kernel: str = "auto", null: str = "permutation", dtype=None):
        if Y is None:
            raise ValueError("LazyActivity needs expression Y (genes x samples)")
        if null not in ("permutation", "analytic"):
            raise ValueError(f"null must be 'permutation' or 'analytic', got {null!r}")
        if isinstance(permutations, (RidgeModel, AnalyticModel)):
            model = permutations
            if dtype is not None and np.dtype(dtype) != getattr(model, "dtype", np.dtype(np.float64)):
                raise ValueError("dtype conflicts with the given model's dtype: set it on the model")
        else:
            proj = T if isinstance(T, Projection) else _projection_from_T(T)
            table = None if isinstance(permutations, (int, np.integer)) else permutations
            n_rand = int(permutations) if table is None else None
            model = make_model(proj, null, n_rand=n_rand, seed=seed, rng=rng, table=table, backend=backend,
                               dtype=dtype)
        if model.n_rand == 0 and model.projection.X is None:
            raise ValueError("n_rand=0 (t-test) needs the signature X: pass a lazyact.ridge.Projection, "
                             "not a bare T matrix")
        expression = as_expression(Y)
        self.blocks = ActivityBlocks(model, expression, row_map, kernel=kernel)
        p, m = self.blocks.shape
        if proteins is None and getattr(T, "proteins", None) is not None:
            proteins = T.proteins
        self.proteins = _labels(proteins, p, "proteins", "protein")
        if samples is None:
            samples = getattr(expression, "samples", None)
        self.samples = _labels(samples, m, "samples", "sample")
        kwargs = {} if cache_bytes is None else {"cache_bytes": int(cache_bytes)}
        self.store = BlockStore(self.blocks, chunks=chunks or self._default_chunks(p, m),
                                threads=threads, **kwargs)
        self.params = {
            "lambda_": model.projection.lambda_,
            "n_rand": model.n_rand,
            "seed": model.seed,
            "rng": "explicit" if model.explicit_table else model.rng,
            "backend": model.backend,
            "null": getattr(model, "null", "permutation"),
            **({"dtype": "float32"} if getattr(model, "dtype", None) == np.float32 else {}),
            "lazyact_version": __version__,
            **dict(params or {}),
        }
        self.spatial = None if spatial is None else np.asarray(spatial)
        self._obs: pd.DataFrame | Callable[[], Any] | None = obs
        self.summary_stats = None
        self.persisted: Path | None = None
        self.store.tier = scratch_tier(self.store)
        self._views: dict[str, ActivityArray] = {}

    @staticmethod
    def _default_chunks(p: int, m: int) -> tuple[int, int]:
        # all proteins in one row chunk (a column's setup is shared by every
        # protein); columns in blocks of ~256 samples
        return (max(1, min(p, 2048)), max(1, min(m, 256)))

    @property
    def model(self) -> RidgeModel:
        return self.blocks.model

    @property
    def obs(self) -> pd.DataFrame | None:
        """Annotations of the samples from the input (its ``obs``: cell type, sample...), or None.

        Read from the input when first asked; written into results files
        (``to_hdf5``/``to_h5ad``/``persist``) and read back by :func:`lazyact.open`.
        """
        if callable(self._obs):
            obs = self._obs()
            self._obs = None if obs is None else _check_obs(obs, self.samples)
        elif self._obs is not None and not isinstance(self._obs, pd.DataFrame):
            self._obs = _check_obs(self._obs, self.samples)
        return self._obs

    def persist(self, path: str | os.PathLike, *, compression: str | None = "gzip", block: int | None = None,
                progress: bool | None = True, overwrite: bool = False, summary: bool = False) -> Path:
        """Compute everything once into a results file; this object then reads the file.

        Writes :meth:`to_hdf5` (:meth:`to_h5ad` for a ``.h5ad`` path, :meth:`to_zarr` for a
        ``.zarr`` store, on the active dask cluster if any) in one pass, then
        every later slice, reduction, :meth:`top`, :meth:`qvalue` or write of this activity
        reads the file instead of computing (``store.stats.calls`` stays 0). Values are
        the same bits as computed ones (float64). If ``path`` already holds these results
        (same inputs and parameters, e.g. from an earlier session), nothing is computed:
        the file is attached. An interrupted write resumes when called again.

        Parameters
        ----------
        path : str or path
            ``.h5`` (default layout), ``.h5ad`` or ``.zarr``.
        compression, block, progress, summary
            As in :meth:`to_hdf5` (``summary`` for ``.h5`` and ``.zarr`` only).
        overwrite : bool
            Replace a file at ``path`` that holds other results.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileExistsError
            ``path`` holds other results and ``overwrite`` is False.

        Examples
        --------
        >>> import lazyact, tempfile, os
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> _ = act.persist(os.path.join(tempfile.mkdtemp(), "ly86.h5"), progress=False)
        >>> act.store.stats.reset(); _ = act.zscore.max(axis=1); act.store.stats.calls
        0
        >>> act  # doctest: +ELLIPSIS
        LazyActivity: 43 proteins x 5 samples (n_rand=20, rng='srand', seed=0), 100% computed, persisted to '...ly86.h5'
        """
        path = Path(os.fspath(path))
        stored = None
        if path.exists() and not overwrite:
            stored = open_results(path)
            why = self._persisted_mismatch(stored)
            if why:
                stored.close()
                raise FileExistsError(f"'{path}' exists and holds other results ({why}); pass overwrite=True to "
                                      "replace it, or persist to another path")
            log.info("'%s' already holds these results: reading it, nothing to compute", path)
        else:
            if path.suffix.lower() == ".h5ad":
                self.to_h5ad(path, compression=compression, block=block, progress=progress, overwrite=overwrite)
            elif path.suffix.lower() == ".zarr":
                self.to_zarr(path, compression=compression, block=block, progress=progress, overwrite=overwrite,
                             summary=summary)
            else:
                self.to_hdf5(path, compression=compression, block=block, progress=progress, overwrite=overwrite,
                             summary=summary)
            stored = open_results(path)
        old = self.store.tier
        self.store.tier = FileTier(stored.blocks, self.shape[1], str(path))
        if old is not None and hasattr(old, "close"):
            old.close()
        if stored.summary_stats is not None:
            self.summary_stats = stored.summary_stats
        self.persisted = path
        return path

    def _persisted_mismatch(self, stored: Any) -> str:
        """Why a stored file does not hold this activity's results ('' when it does)."""
        if tuple(stored.shape) != tuple(self.shape):
            return f"shape {stored.shape}, not {self.shape}"
        missing = [n for n in self.store.names if n not in stored.arrays]
        if missing:
            return f"no {', '.join(missing)}"
        if stored.attrs.get("lazyact_fingerprint") != self.fingerprint():
            return "written from other inputs or parameters"
        return ""

    @property
    def valid(self) -> np.ndarray:
        """One bool per sample: False where there is no valid answer (NaN statistics).

        Cells or spots with no counts (library size 0) in the single-cell modes, and
        pseudo-bulk groups none of whose cells has counts, are False; everything else
        is True.

        Examples
        --------
        >>> import numpy as np, lazyact
        >>> rng = np.random.default_rng(0)
        >>> act = lazyact.LazyActivity(rng.standard_normal((2, 30)), 10, rng.standard_normal((30, 4)))
        >>> act.valid.tolist()
        [True, True, True, True]
        """
        valid = self.blocks.valid
        out = np.ones(self.shape[1], dtype=bool) if valid is None else np.array(valid, dtype=bool)
        out.flags.writeable = False
        return out

    def __repr__(self) -> str:
        p, m = self.shape
        done = self.store.computed_fraction()
        pct = f"{100 * done:.0f}%" if done == 0 or done >= 0.01 else "<1%"
        if self.params.get("null") == "analytic":
            how = "null='analytic'"
        else:
            how = f"n_rand={self.params['n_rand']}, rng={self.params['rng']!r}, seed={self.params['seed']}"
        where = f", persisted to '{self.persisted}'" if self.persisted is not None else ""
        return f"LazyActivity: {p:,} proteins x {m:,} samples ({how}), {pct} computed{where}"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_views"] = {}
        if not isinstance(state.get("_obs"), pd.DataFrame):  # a reader of the input: not for other processes
            state["_obs"] = None
        return state


def _check_obs(obs: Any, samples: pd.Index) -> pd.DataFrame:
    """``obs`` as a DataFrame indexed by ``samples`` (same length; its own index is replaced)."""
    frame = obs if isinstance(obs, pd.DataFrame) else pd.DataFrame(obs)
    if len(frame) != len(samples):
        raise ValueError(f"obs has {len(frame)} rows for {len(samples)} samples")
    frame = frame.copy(deep=False)
    frame.index = pd.Index(samples)
    return frame


def _projection_from_T(T) -> Projection:
    T = np.ascontiguousarray(np.asarray(T, dtype=np.float64))
    if T.ndim != 2:
        raise ValueError(f"T must be 2-D (proteins x genes), got shape {T.shape}")
    if not np.isfinite(T).all():
        raise ValueError("T has non-finite values")
    return Projection(T=T, X=None, xtx_inv_diag=None, lambda_=float("nan"))

