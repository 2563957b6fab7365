"""Hypothesis strategies for NumPy index expressions on 2-D arrays."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

_STEP = st.one_of(st.none(), st.integers(-4, 4).filter(bool))


def _bound(n):
    return st.one_of(st.none(), st.integers(-n - 3, n + 3))


def int_index(n):
    """Python ints, NumPy ints and 0-d int arrays, mostly in range."""
    i = st.integers(-n - 1, n) if n else st.integers(-2, 1)
    return st.one_of(i, i.map(np.intp), i.map(np.int32), i.map(lambda v: np.array(v, dtype=np.int16)))


def axis_index(n):
    """One-axis components: ints, slices, ranges, int lists/arrays (1-D and 2-D), masks."""
    elem = st.integers(-n - 1, n) if n else st.integers(-1, 1)
    in_range = st.integers(-n, n - 1) if n else st.nothing()
    int_lists = st.lists(st.one_of(in_range, elem) if n else elem, max_size=5)
    return st.one_of(
        int_index(n),
        st.builds(slice, _bound(n), _bound(n), _STEP),
        st.just(slice(None)),
        st.builds(range, st.integers(-n, n), st.integers(-n, n), st.integers(-3, 3).filter(bool)),
        int_lists,
        int_lists.map(lambda v: np.array(v, dtype=np.intp)),
        hnp.arrays(np.intp, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=3),
                   elements=st.one_of(in_range, elem) if n else elem),
        hnp.arrays(np.bool_, (n,)),
        st.lists(st.booleans(), min_size=n, max_size=n),
        hnp.arrays(np.bool_, (n + 1,)),  # wrong length -> IndexError
    )


_KINDS = st.sampled_from(["axis"] * 6 + ["none", "ellipsis", "boolscalar", "mask2d"])


@st.composite
def index_keys(draw, shape):
    """A NumPy index expression for an array of ``shape`` (2-D), valid or not."""
    ntok = draw(st.integers(0, 4))
    kinds = [draw(_KINDS) for _ in range(ntok)]
    n_axes = sum(2 if k == "mask2d" else 1 for k in kinds if k in ("axis", "mask2d"))
    if "ellipsis" in kinds:
        p = kinds.index("ellipsis")
        before = sum(2 if k == "mask2d" else 1 for k in kinds[:p] if k in ("axis", "mask2d"))
        pos_before, pos_after = 0, 2 - (n_axes - before)
    else:
        p, pos_before, pos_after = ntok, 0, 0
    a = pos_before
    comps = []
    for t, k in enumerate(kinds):
        if t == p:
            a = pos_after
        ax = min(max(a, 0), 1)
        if k == "axis":
            comps.append(draw(axis_index(shape[ax])))
            a += 1
        elif k == "mask2d":
            if draw(st.integers(0, 4)) == 0:  # sometimes a wrong shape
                comps.append(draw(hnp.arrays(np.bool_, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))))
            else:
                comps.append(draw(hnp.arrays(np.bool_, shape)))
            a += 2
        elif k == "none":
            comps.append(None)
        elif k == "ellipsis":
            comps.append(Ellipsis)
        else:
            comps.append(draw(st.sampled_from([True, False, np.True_, np.False_])))
    if ntok == 1 and draw(st.booleans()):
        return comps[0]  # a bare (non-tuple) key
    if "ellipsis" in kinds and draw(st.integers(0, 9)) == 0:
        comps.append(Ellipsis)  # two ellipses -> IndexError
    return tuple(comps)


@st.composite
def shapes(draw, max_side=7):
    return (draw(st.integers(0, max_side)), draw(st.integers(0, max_side)))


def oindex_axis(n):
    """Orthogonal per-axis keys (always valid except out-of-range ints/arrays)."""
    elem = st.integers(-n - 1, n) if n else st.integers(-1, 1)
    return st.one_of(
        int_index(n),
        st.builds(slice, _bound(n), _bound(n), _STEP),
        st.lists(elem, max_size=5),
        st.lists(elem, max_size=5).map(lambda v: np.array(v, dtype=np.intp)),
        st.builds(range, st.integers(-n, n), st.integers(-n, n), st.integers(-3, 3).filter(bool)),
        hnp.arrays(np.bool_, (n,)),
    )


def to_positions(k, n):
    """Reference: an orthogonal axis key as (index array, keeps axis)."""
    if isinstance(k, slice):
        return np.arange(n)[k], True
    if isinstance(k, (int, np.integer)) or (isinstance(k, np.ndarray) and k.ndim == 0):
        return np.array([int(k)]), False
    arr = np.asarray(k)
    if arr.dtype == np.bool_:
        return np.flatnonzero(arr), True
    return arr.astype(np.intp), True


def reference_oindex(mat, key):
    k0, k1 = key
    i0, keep0 = to_positions(k0, mat.shape[0])
    i1, keep1 = to_positions(k1, mat.shape[1])
    for idx, n in ((i0, mat.shape[0]), (i1, mat.shape[1])):
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError("out of bounds")
    out = mat[np.ix_(i0, i1)]
    if not keep1:
        out = out[:, 0]
    if not keep0:
        out = out[0]
    return out
