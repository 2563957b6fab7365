"""Cell groups for the viewer and the static plots: an obs column, its colours and its order.

``groupby="cell_type"`` (CLI ``--groupby cell_type``) orders the samples by group and
annotates them with a coloured track and a legend. :class:`Groups` holds one label per
sample as integer codes, the categories, one colour per category and the stable
permutation that sorts the samples by group. The permutation is all the viewer keeps:
windows are read through it (``act.zscore[:, order[start:stop]]``), nothing is copied.

:func:`find_labels` finds the column: the obs of the input the activity reads (an
``.h5ad`` source), an ``obs`` table on the object, the obs of a results ``.h5ad``, or the
obs of the ``.h5ad`` a results file was computed from (recorded in its fingerprint).
Colours come from ``uns["<column>_colors"]`` of that ``.h5ad`` when it has them (as
scanpy stores them), else from scanpy's default palettes.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..sources.h5ad import read_h5_column, read_h5_index
from ..sources.hdf5 import open_h5
from ..sources.safety import read_strings

__all__ = ["Groups", "find_labels", "palette"]

# matplotlib's tab10 and tab20 (scanpy's default_10 / default_20 start the same way)
_TAB10 = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]
_TAB20_EXTRA = [
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]
MISSING = "(missing)"
_MISSING_RGBA = (0.55, 0.55, 0.55, 1.0)


def _hex_rgba(value: Any) -> tuple[float, float, float, float]:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        s = value.lstrip("#")
        if len(s) in (6, 8) and all(c in "0123456789abcdefABCDEF" for c in s):
            vals = [int(s[i : i + 2], 16) / 255.0 for i in range(0, len(s), 2)]
            return (vals[0], vals[1], vals[2], vals[3] if len(vals) == 4 else 1.0)
        try:  # a named colour
            from matplotlib.colors import to_rgba

            return tuple(float(c) for c in to_rgba(value))  # type: ignore[return-value]
        except (ImportError, ValueError):
            raise ValueError(f"not a colour: {value!r}") from None
    vals = [float(c) for c in value]
    return (vals[0], vals[1], vals[2], vals[3] if len(vals) == 4 else 1.0)


def palette(n: int) -> np.ndarray:
    """``(n, 4)`` RGBA colours in 0..1 for ``n`` groups (tab10, tab20, then spaced hues).

    Examples
    --------
    >>> palette(3).shape, [round(float(c), 3) for c in palette(3)[0]]
    ((3, 4), [0.122, 0.467, 0.706, 1.0])
    """
    if n <= 10:
        hexes = _TAB10[:n]
    elif n <= 20:
        hexes = [c for pair in zip(_TAB10, _TAB20_EXTRA) for c in pair][:n]
    else:  # golden-ratio hues at three lightness levels: neighbours differ
        import colorsys

        out = []
        for i in range(n):
            h = (i * 0.618033988749895) % 1.0
            light = (0.45, 0.62, 0.32)[i % 3]
            r, g, b = colorsys.hls_to_rgb(h, light, 0.75)
            out.append((r, g, b, 1.0))
        return np.asarray(out, dtype=np.float32)
    return np.asarray([_hex_rgba(c) for c in hexes], dtype=np.float32)


class Groups:
    """One group label per sample: codes, categories, colours and the group order.

    Parameters
    ----------
    labels : sequence, pandas.Series or pandas.Categorical
        One label per sample, in sample order. Missing labels (NaN/None) form a last
        group ``"(missing)"`` drawn in grey.
    name : str
        What the labels are (the obs column), shown as the legend's title.
    colors : sequence, optional
        One colour per category (hex strings or RGB(A) tuples), e.g. scanpy's
        ``uns["cell_type_colors"]``; default :func:`palette`.

    Attributes
    ----------
    categories : pandas.Index
        Group names in display order: the categorical's own order, else sorted.
    codes : numpy.ndarray
        ``int32`` code of each sample (position into ``categories``).
    colors : numpy.ndarray
        ``(n_categories, 4)`` float32 RGBA in 0..1.
    order : numpy.ndarray
        The stable permutation sorting the samples by group: display position ->
        sample position (within a group, samples keep their file order).
    counts : numpy.ndarray
        Samples per category.

    Examples
    --------
    >>> g = Groups(["b", "a", "b", "a", "c"], "cell_type")
    >>> list(g.categories), g.order.tolist(), g.counts.tolist()
    (['a', 'b', 'c'], [1, 3, 0, 2, 4], [2, 2, 1])
    >>> g.segments(g.codes[g.order][1:4])
    [(0, 0, 1), (1, 1, 3)]
    """

    def __init__(self, labels: Any, name: str = "group", colors: Sequence[Any] | None = None) -> None:
        if isinstance(labels, pd.Series):
            labels = labels.array
        if isinstance(labels, (pd.Categorical, pd.arrays.Categorical)) or isinstance(
            getattr(labels, "dtype", None), pd.CategoricalDtype
        ):
            cat = pd.Categorical(labels)
            cats = [str(c) for c in cat.categories]
            codes = np.asarray(cat.codes, dtype=np.int32)
        else:
            values = pd.Series(np.asarray(labels, dtype=object))
            missing = values.isna().to_numpy()
            strs = values.astype(str).to_numpy()
            strs[missing] = ""
            cats = sorted({s for s, m in zip(strs, missing) if not m}, key=_natural_key)
            lookup = {c: i for i, c in enumerate(cats)}
            codes = np.fromiter((lookup.get(s, -1) if not m else -1 for s, m in zip(strs, missing)),
                                dtype=np.int32, count=len(strs))
        if (codes < 0).any():
            cats = [*cats, MISSING]
            codes = np.where(codes < 0, len(cats) - 1, codes).astype(np.int32)
        self.name = str(name)
        self.categories = pd.Index(cats, dtype=object)
        self.codes = codes
        n = len(cats)
        if colors is not None and len(colors) >= n - (1 if MISSING in cats else 0):
            rgba = [_hex_rgba(c) for c in list(colors)[:n]]
            if len(rgba) < n:
                rgba.append(_MISSING_RGBA)
            self.colors = np.asarray(rgba, dtype=np.float32)
        else:
            self.colors = palette(n)
            if cats and cats[-1] == MISSING:
                self.colors[-1] = _MISSING_RGBA
        self.order = np.argsort(codes, kind="stable").astype(np.intp)
        self.counts = np.bincount(codes, minlength=n)

    def __len__(self) -> int:
        return len(self.categories)

    def __repr__(self) -> str:
        return f"<Groups {self.name!r}: {len(self.categories)} groups over {self.codes.size:,} samples>"

    def rgba(self, codes: np.ndarray) -> np.ndarray:
        """``(n, 4)`` float32 colours of ``codes``."""
        return self.colors[np.asarray(codes, dtype=np.intp)]

    @staticmethod
    def segments(codes: np.ndarray) -> list[tuple[int, int, int]]:
        """Runs of equal codes: ``(code, first, stop)`` positions within ``codes``."""
        codes = np.asarray(codes)
        if codes.size == 0:
            return []
        cuts = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [codes.size]])
        return [(int(codes[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def _natural_key(s: str) -> tuple:
    """Sort "cluster 2" before "cluster 10"."""
    import re

    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s))


# --------------------------------------------------------------------------- finding labels
def _h5ad_obs(path: str, name: str) -> tuple[Any, Any, list | None] | None:
    """(labels, obs index, uns colours) of one obs column of an .h5ad, or None if absent."""
    import h5py

    with open_h5(path) as f:
        obs = f.get("obs")
        if not isinstance(obs, h5py.Group) or name not in obs:
            return None
        labels = read_h5_column(obs, name)
        index = read_h5_index(obs)
        colors = None
        uns = f.get("uns")
        key = f"{name}_colors"
        if isinstance(uns, h5py.Group) and isinstance(uns.get(key), h5py.Dataset):
            colors = read_strings(uns[key], f"uns/{key}")
    return labels, index, colors


def _h5ad_obs_keys(path: str) -> list[str]:
    import h5py

    try:
        with open_h5(path) as f:
            obs = f.get("obs")
            if not isinstance(obs, h5py.Group):
                return []
            index = obs.attrs.get("_index", "_index")
            return [k for k in obs.keys() if k not in (index, "_index", "__categories")]
    except (OSError, KeyError):
        return []


def _recorded_input(obj: Any) -> str | None:
    """The expression file a results file was computed from (its fingerprint), if it exists."""
    attrs = getattr(obj, "attrs", None)
    if not isinstance(attrs, dict):
        return None
    raw = attrs.get("lazyact_fingerprint_parts")
    try:
        parts = json.loads(raw) if isinstance(raw, (str, bytes)) else None
        path = parts["expression"]["file"]["path"]
    except (TypeError, KeyError, ValueError):
        return None
    return path if isinstance(path, str) and path.endswith(".h5ad") and os.path.exists(path) else None


def _align(labels: Any, index: Any, samples: pd.Index, where: str) -> Any:
    """Labels in the order of ``samples`` (by name when the file's names differ in order)."""
    n = len(samples)
    if len(labels) == n and (index is None or len(index) != n or np.array_equal(np.asarray(index, dtype=object).astype(str),
                                                                             np.asarray(samples, dtype=object).astype(str))):
        return labels
    if index is None:
        raise ValueError(f"{where} has {len(labels)} labels for {n} samples")
    s = pd.Series(pd.Categorical(labels) if isinstance(labels, pd.Categorical) else np.asarray(labels, dtype=object),
                  index=pd.Index(np.asarray(index, dtype=object).astype(str)))
    missing = ~pd.Index(samples.astype(str)).isin(s.index)
    if missing.all():
        raise ValueError(f"{where}: none of the samples is in its obs")
    return s.reindex(samples.astype(str)).array


def find_labels(obj: Any, groupby: Any, samples: pd.Index, path: str | None = None) -> Groups | None:
    """:class:`Groups` for ``groupby``: an obs column name, or one label per sample.

    Parameters
    ----------
    obj : object
        What is shown: a :class:`~lazyact.LazyActivity` (its ``source`` reads the input's
        obs), a stored activity (its file, or the input recorded in it), anything with an
        ``obs`` DataFrame.
    groupby : None, str, sequence, pandas.Series or Categorical
        The column name, or the labels themselves (a Series indexed by sample name is
        aligned by name).
    samples : pandas.Index
        Sample names, in order.
    path : str, optional
        A file the samples come from (e.g. a results ``.h5ad``).

    Examples
    --------
    >>> import pandas as pd
    >>> find_labels(None, ["x", "y", "x"], pd.Index(["c0", "c1", "c2"])).order.tolist()
    [0, 2, 1]
    """
    if groupby is None or groupby is False:
        return None
    n = len(samples)
    if isinstance(groupby, Groups):
        if groupby.codes.size != n:
            raise ValueError(f"groupby has {groupby.codes.size} labels for {n} samples")
        return groupby
    if not isinstance(groupby, str):
        if isinstance(groupby, pd.Series):
            name = str(groupby.name) if groupby.name is not None else "group"
            if not groupby.index.equals(pd.RangeIndex(len(groupby))):
                labels = _align(groupby.array, groupby.index, samples, "groupby")
                return Groups(labels, name)
            return Groups(groupby.array, name) if len(groupby) == n else _bad_length(len(groupby), n)
        labels = groupby if isinstance(groupby, pd.Categorical) else np.asarray(groupby, dtype=object)
        if len(labels) != n:
            _bad_length(len(labels), n)
        return Groups(labels, "group")

    name = groupby
    looked: list[str] = []
    available: list[str] = []
    # 1. the input the activity reads (an .h5ad source knows its obs)
    src = getattr(obj, "source", None)
    getter = getattr(src, "obs_column", None)
    if callable(getter):
        keys = list(getattr(src, "obs_keys", lambda: [])())
        looked.append("the input's obs")
        available += keys
        if name in keys or not keys:
            try:
                col = getter(name)
            except (KeyError, ValueError):
                col = None
            if col is not None:
                colors = None
                spath = getattr(src, "path", None)
                if isinstance(spath, (str, os.PathLike)) and str(spath).endswith(".h5ad"):
                    found = _h5ad_obs(os.fspath(spath), name)
                    colors = found[2] if found else None
                return Groups(_align(col.array, col.index, samples, "the input's obs"), name, colors)
    # 2. an obs table on the object (AnnData-like)
    obs = getattr(obj, "obs", None)
    if isinstance(obs, pd.DataFrame):
        looked.append("obs")
        available += list(obs.columns)
        if name in obs.columns:
            return Groups(_align(obs[name].array, obs.index, samples, "obs"), name)
    # 3. the results .h5ad itself, then the .h5ad it was computed from
    for p, what in ((path, "the file's obs"), (_recorded_input(obj), "the obs of the input recorded in the file")):
        if p is None or not str(p).endswith(".h5ad") or not os.path.exists(p):
            continue
        looked.append(f"{what} ({os.path.basename(p)})")
        found = _h5ad_obs(os.fspath(p), name)
        if found is not None:
            labels, index, colors = found
            return Groups(_align(labels, index, samples, p), name, colors)
        available += _h5ad_obs_keys(os.fspath(p))
    where = ", ".join(looked) if looked else "nowhere: this input carries no obs"
    avail = sorted(set(available))
    hint = f"; available columns: {avail}" if avail else ""
    raise ValueError(
        f"groupby={name!r}: no such obs column (looked in {where}){hint}. "
        "Pass the labels themselves instead, e.g. groupby=adata.obs['cell_type']"
    )


def _bad_length(got: int, n: int) -> Any:
    raise ValueError(f"groupby has {got} labels for {n} samples")
