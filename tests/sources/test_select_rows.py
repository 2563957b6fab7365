"""select_rows: restrict / reorder the rows of a dense or CSC block, as NumPy indexing does."""
import numpy as np
import pytest
import scipy.sparse as sp

from lazyact.sources.base import select_rows


@pytest.fixture
def block():
    rng = np.random.default_rng(5)
    b = sp.random(40, 12, density=0.3, format="lil", random_state=rng)
    b[:, 3] = 0.0  # an empty column
    return sp.csc_matrix(b)


@pytest.mark.parametrize("rows", [
    np.arange(40),                           # all, in order
    np.array([1, 5, 6, 30, 39]),             # increasing
    np.array([39, 2, 17, 0]),                # a permutation of some rows
    np.array([], dtype=np.intp),             # none
    np.array([3, 3, 7]),                     # repeated rows
])
def test_matches_numpy_indexing(block, rows):
    want = block.toarray()[rows]
    out = select_rows(block, rows)
    assert out.format == "csc"
    assert out.shape == want.shape
    np.testing.assert_array_equal(out.toarray(), want)
    assert out.has_sorted_indices
    out.check_format(full_check=True)
    dense = select_rows(block.toarray(), rows)
    assert dense.flags.c_contiguous
    np.testing.assert_array_equal(dense, want)


def test_unsorted_input_indices_are_sorted_on_output(block):
    shuffled = block.copy()
    for j in range(shuffled.shape[1]):  # reverse each column's entries
        lo, hi = shuffled.indptr[j], shuffled.indptr[j + 1]
        shuffled.indices[lo:hi] = shuffled.indices[lo:hi][::-1].copy()
        shuffled.data[lo:hi] = shuffled.data[lo:hi][::-1].copy()
    shuffled.has_sorted_indices = False
    out = select_rows(shuffled, np.array([0, 4, 9, 20]))
    assert out.has_sorted_indices
    out.check_format(full_check=True)
    np.testing.assert_array_equal(out.toarray(), block.toarray()[[0, 4, 9, 20]])
    assert np.all(np.diff(out.indices[out.indptr[0]:out.indptr[1]]) > 0)
