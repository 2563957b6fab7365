"""Chunk geometry: chunk shapes and index sets split by chunk."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyact.array.grid import (
    ChunkGroup,
    auto_chunks,
    chunk_groups,
    compact,
    full_groups,
    grid_shape,
    normalise_chunks,
)


@settings(max_examples=80, deadline=None)
@given(st.sets(st.integers(0, 60), max_size=40), st.integers(1, 13))
def test_chunk_groups_partition_the_selection(values, chunk):
    idx = np.array(sorted(values), dtype=np.intp)
    groups = chunk_groups(idx, chunk)
    assert all(isinstance(g, ChunkGroup) for g in groups)
    assert [g.chunk for g in groups] == sorted({int(i) // chunk for i in idx})
    pos = 0
    for g in groups:
        assert g.positions == slice(pos, pos + g.index.size)
        pos += g.index.size
        np.testing.assert_array_equal(g.index, idx[g.positions])
        assert (g.index // chunk == g.chunk).all()
        local = np.arange(chunk)[g.local]  # the local index selects the same cells
        np.testing.assert_array_equal(local + g.chunk * chunk, g.index)
    assert pos == idx.size


@pytest.mark.parametrize("n,chunk", [(0, 3), (1, 3), (7, 3), (9, 3), (5, 10)])
def test_full_groups_cover_the_axis(n, chunk):
    groups = full_groups(n, chunk)
    assert len(groups) == grid_shape((n, 1), (chunk, 1))[0]
    covered = np.concatenate([g.index for g in groups]) if groups else np.empty(0, np.intp)
    np.testing.assert_array_equal(covered, np.arange(n))
    for g in groups:
        assert g.positions == slice(int(g.index[0]), int(g.index[-1]) + 1)
        assert g.local == slice(0, g.index.size)


def test_compact():
    assert compact(np.array([3])) == slice(3, 4)
    assert compact(np.array([0, 3, 6, 9])) == slice(0, 10, 3)
    np.testing.assert_array_equal(compact(np.array([0, 1, 3])), [0, 1, 3])
    assert compact(np.empty(0, np.intp)).size == 0


def test_normalise_chunks():
    assert normalise_chunks((-1, 100), (10, 20)) == (10, 20)
    assert normalise_chunks((None, 4), (10, 20)) == (10, 4)
    assert normalise_chunks(3, (10, 20)) == (3, 3)
    assert normalise_chunks((5, 5), (0, 4)) == (1, 4)
    with pytest.raises(ValueError, match="positive"):
        normalise_chunks((0, 3), (10, 20))
    with pytest.raises(ValueError, match="two entries"):
        normalise_chunks((1, 2, 3), (10, 20))


def test_auto_chunks_fit_the_target():
    rc, cc = auto_chunks((1170, 2_000_000), 8, 4, target_bytes=16 * 2**20)
    assert rc * cc * 33 <= 16 * 2**20 and rc <= 1170
    assert auto_chunks((3, 4), 8, 4) == (3, 4)
    assert grid_shape((1170, 2_000_000), (rc, cc)) == (-(-1170 // rc), -(-2_000_000 // cc))
