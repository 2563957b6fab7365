"""The writers of an activity (computed or stored): ``to_hdf5``, ``to_h5ad``, ``to_zarr``, ``to_anndata``,
``to_xarray``.

:class:`ActivityIO` is a mixin of :class:`~lazyact.LazyActivity` and
:class:`~lazyact.StoredActivity`; the file formats are :mod:`lazyact.results.hdf5`,
:mod:`lazyact.results.h5ad` and :mod:`lazyact.results.zarr`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .._optional import require
from .._version import __version__
from ..array import BlockStore
from ..array.sinks import read_all
from ..ridge import STATISTICS
from .fingerprint import digest, dumps, fingerprint, fingerprint_parts
from .h5ad import write_h5ad
from .hdf5 import write_hdf5
from .zarr import write_zarr

__all__ = ["FORMAT", "ActivityIO", "check_statistics", "file_attrs"]

#: ``lazyact_format`` attribute of files written by lazyact.
FORMAT = "lazyact-activity/1"


def file_attrs(act: Any) -> dict:
    """Root attributes of a results file: every parameter, the format, the version, the parameters as JSON."""
    params = dict(act.params)
    attrs: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("lazyact_") or key in ("feature_names", "sample_names"):
            continue
        attrs[key] = value
    attrs["lazyact_format"] = FORMAT
    attrs["lazyact_version"] = __version__
    attrs["lazyact_params"] = dumps(params, sort_keys=False)
    return attrs


def check_statistics(names: Any, available: Sequence[str]) -> tuple[str, ...]:
    """``names`` (one or several) as a tuple of statistics among ``available``."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    bad = [n for n in names if n not in available]
    if bad or not names:
        raise ValueError(f"arrays must be among {list(available)}, got {list(names)}")
    return names


class ActivityIO:
    """Writers shared by :class:`~lazyact.LazyActivity` and :class:`~lazyact.StoredActivity`.

    Needs ``store`` (a :class:`~lazyact.array.BlockStore` with statistics as outputs),
    ``proteins``, ``samples``, ``params`` and optionally ``spatial``.
    """

    store: BlockStore
    proteins: pd.Index
    samples: pd.Index
    params: dict

    def fingerprint(self) -> str:
        """Hex digest of the inputs (see :func:`lazyact.results.fingerprint.fingerprint`)."""
        return fingerprint(self)

    def to_hdf5(
        self,
        path: str | os.PathLike,
        arrays: Sequence[str] = STATISTICS,
        dtype: Any = None,
        compression: str | None = "gzip",
        block: int | None = None,
        progress: bool | None = True,
        resume: bool = True,
        overwrite: bool = False,
        summary: bool = False,
    ) -> Path:
        """Write the statistics to an HDF5 file, block by block, resumably.

        The layout is SecActPy's streaming writer's (datasets ``beta``, ``se``,
        ``zscore``, ``pvalue`` as proteins x samples, ``feature_names``,
        ``sample_names``) with UTF-8 names, every parameter as a root attribute, the
        lazyact version and a fingerprint of the inputs, and the input's sample annotations
        (``obs``: cell type, sample...) as an AnnData dataframe at ``/obs`` (read back as
        ``lazyact.open(path).obs``). Chunks are chosen so that one
        protein row and one block of samples are both cheap to read
        (:func:`lazyact.array.sinks.chunk_shape`).

        Each column block is computed once for all requested arrays (all proteins,
        bounded memory), written, and recorded in the file. The file is written as
        ``path + ".partial"`` and renamed to ``path`` only when complete; running the
        same call again after an interruption (even ``kill -9``) resumes where it
        stopped and gives the same file as an uninterrupted run.

        Parameters
        ----------
        path : str or path
            Output file (``.h5``).
        arrays : sequence of str
            Statistics to store (default all four).
        dtype : dtype, optional
            Stored dtype (default float64; ``np.float32`` halves the file).
        compression : str or None
            ``"gzip"`` (default), ``"lzf"`` or None.
        block : int, optional
            Samples per write block (the resume granularity); default about 64 MiB of
            results per block.
        progress : bool
            tqdm progress bar with ETA.
        resume : bool
            Continue a matching ``.partial`` file (``False``: start over).
        overwrite : bool
            Replace an existing ``path`` (once the new file is complete).
        summary : bool
            Also store per-protein mean/std/min/max of each array under ``/summary``,
            streamed in the same pass (read back as ``lazyact.open(path).summary_stats``).

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        ResumeMismatchError
            The ``.partial`` file belongs to other inputs or options.
        OSError
            Writing failed (e.g. disk full); the ``.partial`` file keeps the finished
            blocks for a later resume.

        Examples
        --------
        >>> import lazyact, tempfile, os
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> out = act.to_hdf5(os.path.join(tempfile.mkdtemp(), "ly86.h5"), progress=False)
        >>> lazyact.open(out).zscore.loc["IL6"].shape
        (5,)
        """
        names = check_statistics(arrays, self.store.names)
        spatial = getattr(self, "spatial", None)
        extra = None if spatial is None else {"spatial": np.asarray(spatial, dtype=np.float64)}
        parts = fingerprint_parts(self)
        return write_hdf5(
            self.store, path, names, row_labels=self.proteins, col_labels=self.samples, dtype=dtype,
            compression=compression, block=block, progress=progress, resume=resume, overwrite=overwrite,
            summary=summary, attrs=file_attrs(self), extra=extra, fingerprint=digest(parts),
            fingerprint_parts=parts, obs=getattr(self, "obs", None),
        )

    def to_h5ad(
        self,
        path: str | os.PathLike,
        dtype: Any = None,
        compression: str | None = "gzip",
        block: int | None = None,
        progress: bool | None = True,
        resume: bool = True,
        overwrite: bool = False,
    ) -> Path:
        """Write an AnnData ``.h5ad`` file (samples x proteins), block by block, resumably.

        Layout of SecActPy's ``save_results_to_h5ad``: ``X`` = beta, ``obsm["se"]``,
        ``obsm["zscore"]``, ``obsm["pvalue"]`` (dense arrays, samples x proteins),
        ``obs_names`` = samples, ``var_names`` = proteins, ``uns["source"]``,
        ``uns["feature_names"]``, and ``uns["lazyact"]`` (version, parameters as
        JSON), plus ``obsm["spatial"]`` when the activity has coordinates; ``obs`` is the
        input's ``obs`` (cell type, sample...). Written with
        h5py chunk by chunk (never materialised); ``anndata.read_h5ad`` opens it and
        :func:`lazyact.open` reads it back lazily. Options as in :meth:`to_hdf5`.

        Examples
        --------
        >>> import lazyact, anndata, tempfile, os
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> out = act.to_h5ad(os.path.join(tempfile.mkdtemp(), "ly86.h5ad"), progress=False)
        >>> anndata.read_h5ad(out).obsm["zscore"].shape
        (5, 43)
        """
        names = self.store.names
        x = "beta" if "beta" in names else names[0]
        obsm = [n for n in names if n != x]
        spatial = getattr(self, "spatial", None)
        extra = None if spatial is None else {"spatial": np.asarray(spatial, dtype=np.float64)}
        parts = fingerprint_parts(self)
        uns = {"source": "lazyact", "feature_names": [str(p) for p in self.proteins],
               "lazyact": {"version": __version__, "params": dumps(self.params, sort_keys=False), "X": x}}
        return write_h5ad(
            self.store, path, x, obsm, obs_names=self.samples, var_names=self.proteins, uns=uns,
            obsm_extra=extra, dtype=dtype, compression=compression, block=block, progress=progress,
            resume=resume, overwrite=overwrite, attrs=file_attrs(self), fingerprint=digest(parts),
            fingerprint_parts=parts, obs=getattr(self, "obs", None),
        )

    def to_zarr(
        self,
        path: str | os.PathLike,
        arrays: Sequence[str] = STATISTICS,
        chunks: tuple[int, int] | None = None,
        progress: bool | None = True,
        resume: bool = True,
        client: Any = None,
        *,
        format: str = "lazyact",
        dtype: Any = None,
        compression: str | None = "zstd",
        block: int | None = None,
        shards: bool = False,
        overwrite: bool = False,
        summary: bool = False,
    ) -> Path:
        """Write the statistics to a zarr store (zarr-python 3), in parallel on a dask cluster when one is active.

        The layout and attributes are those of :meth:`to_hdf5` (arrays ``beta``, ``se``,
        ``zscore``, ``pvalue`` as proteins x samples, ``feature_names``, ``sample_names``,
        every parameter, the version, the fingerprint of the inputs) in a directory store;
        ``format="anndata"`` writes AnnData's layout instead (as :meth:`to_h5ad`: ``X`` =
        beta, ``obsm`` se/zscore/pvalue, samples x proteins), which ``anndata.read_zarr``
        opens. :func:`lazyact.open` and ``lazyact info`` read both.

        Each column block of samples is computed once for all the statistics and written as
        whole chunks; a block is recorded as done only after its chunks are stored. The
        store is written as ``path + ".partial"`` and renamed when complete: after a kill at
        any moment, the same call computes only the missing blocks and gives the same store
        as an uninterrupted run. While a run writes, the store is locked: a second run on it
        is refused.

        With a ``dask.distributed`` client (``client=``, or the active default client), the
        workers compute and write the blocks (the input is read by each worker from its
        path, and checked to be the file the activity was built from); the result equals a
        local run bit for bit. The bar counts saved blocks.

        Parameters
        ----------
        path : str or path
            The store (a directory, e.g. ``activity.zarr``).
        arrays : sequence of str
            Statistics to store (lazyact's layout; AnnData's always stores all four).
        chunks : (int, int), optional
            Storage chunks (proteins x samples); default: one protein row and one block of
            samples both cheap to read (:func:`lazyact.array.sinks.chunk_shape`).
        progress : bool
            Progress bar.
        resume : bool
            Continue a matching ``.partial`` store (``False``: start over).
        client : distributed.Client, optional
            The cluster (default: the active client, if any; ``False``: compute here).
        format : {"lazyact", "anndata"}
        dtype : dtype, optional
            Stored dtype (default float64).
        compression : str or None
            ``"zstd"`` (default), ``"gzip"``, ``"blosc"`` or None.
        block : int, optional
            Samples per block (one task on a cluster; the resume granularity): default a
            multiple of the chunk width, about 64 MiB of results.
        shards : bool
            Store each block of a statistic as ONE object (zarr's sharding codec) instead
            of one per chunk: far fewer files at atlas scale.
        overwrite : bool
            Replace an existing store (once the new one is complete).
        summary : bool
            Also store per-protein mean/std/min/max (lazyact's layout).

        Returns
        -------
        pathlib.Path

        Examples
        --------
        >>> import lazyact, tempfile, os
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> res = lazyact.open(act.to_zarr(os.path.join(tempfile.mkdtemp(), "ly86.zarr"), progress=False))
        >>> res.zscore.loc["IL6"].shape, bool((res.pvalue[:, :] == act.pvalue[:, :]).all())
        ((5,), True)
        """
        if format not in ("lazyact", "anndata"):
            raise ValueError(f"format must be 'lazyact' or 'anndata', got {format!r}")
        anndata = format == "anndata"
        spatial = getattr(self, "spatial", None)
        extra = None if spatial is None else {"spatial": np.asarray(spatial, dtype=np.float64)}
        parts = fingerprint_parts(self)
        uns = None
        if anndata:
            names = self.store.names
            x = "beta" if "beta" in names else names[0]
            arrays = (x, *[n for n in names if n != x])
            uns = {"source": "lazyact", "feature_names": np.array([str(p) for p in self.proteins], dtype=object),
                   "lazyact": {"version": __version__, "params": dumps(self.params, sort_keys=False), "X": x}}
        names = check_statistics(arrays, self.store.names)
        return write_zarr(
            self.store, path, names, row_labels=self.proteins, col_labels=self.samples, anndata=anndata,
            chunks=chunks, shards=shards, dtype=dtype, compression=compression, block=block, progress=progress,
            resume=resume,
            overwrite=overwrite, summary=summary, attrs=file_attrs(self), extra=extra, uns=uns,
            fingerprint=digest(parts), fingerprint_parts=parts, client=client, obs=getattr(self, "obs", None),
        )

    def to_anndata(self, max_bytes: int | None = None, force: bool = False, progress: bool | None = None) -> Any:
        """An in-memory ``anndata.AnnData`` (samples x proteins) for small results.

        ``X`` = beta, ``obsm`` se/zscore/pvalue (arrays), as :meth:`to_h5ad` writes.
        All four statistics are computed in one pass. Refuses results above
        ``max_bytes`` (default :data:`lazyact.array.config.max_materialise_bytes`)
        unless ``force=True``: write them with :meth:`to_h5ad` instead.

        Examples
        --------
        >>> import lazyact
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> act.to_anndata().obsm["pvalue"].shape
        (5, 43)
        """
        anndata = require("anndata", "to_anndata()")

        arrays = read_all(self.store, max_bytes=max_bytes, force=force, progress=progress)
        names = self.store.names
        x = "beta" if "beta" in names else names[0]
        context = getattr(self, "obs", None)
        obs = pd.DataFrame(index=pd.Index([str(s) for s in self.samples], dtype=object))
        if context is not None:
            obs = pd.DataFrame({c: context[c].array for c in context.columns}, index=obs.index)
        var = pd.DataFrame(index=pd.Index([str(p) for p in self.proteins], dtype=object))
        adata = anndata.AnnData(X=np.ascontiguousarray(arrays[x].T), obs=obs, var=var)
        for n in names:
            if n != x:
                adata.obsm[n] = np.ascontiguousarray(arrays[n].T)
        spatial = getattr(self, "spatial", None)
        if spatial is not None:
            adata.obsm["spatial"] = np.asarray(spatial, dtype=np.float64)
        adata.uns["source"] = "lazyact"
        adata.uns["lazyact"] = {"version": __version__, "params": dumps(self.params, sort_keys=False), "X": x}
        return adata

    def to_xarray(self, chunks: Any = None) -> Any:
        """An ``xarray.Dataset`` of the statistics as lazy dask arrays.

        Variables ``beta``, ``se``, ``zscore``, ``pvalue`` over dims
        ``("protein", "sample")`` with the names as coordinates and the parameters as
        attributes. Each variable is ``view.to_dask(chunks)``: nothing is computed until
        asked, and the graph runs on a ``dask.distributed`` cluster (the activity
        pickles with its sources by reference).

        Examples
        --------
        >>> import lazyact
        >>> from lazyact.demo import example_path
        >>> act = lazyact.activity(example_path(), "CytoSig", n_rand=20)
        >>> ds = act.to_xarray()
        >>> float(ds.zscore.sel(protein="IL6").max()) == float(act.zscore.loc["IL6"].max())
        True
        """
        xr = require("xarray", "to_xarray()")

        data = {n: (("protein", "sample"), self[n].to_dask(chunks)) for n in self.store.names}  # type: ignore[index]
        coords = {"protein": np.asarray(self.proteins, dtype=object), "sample": np.asarray(self.samples, dtype=object)}
        attrs = {k: (v if isinstance(v, (str, int, float, bool, np.generic)) else dumps(v))
                 for k, v in self.params.items()}
        return xr.Dataset(data, coords=coords, attrs=attrs)
