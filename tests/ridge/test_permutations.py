import ctypes
import ctypes.util
import sys

import numpy as np
import pytest

from lazyact.ridge.permutations import (
    clear_table_cache,
    forward_table,
    index_dtype,
    invert_table,
    permutation_table,
)

# Reference values (issue 2 / R SecAct / SecActPy on glibc): forward tables, n=10, 3 permutations, seed 0
SRAND_N10 = [[8, 4, 0, 2, 9, 5, 7, 1, 3, 6], [5, 8, 1, 4, 0, 6, 2, 3, 7, 9], [8, 2, 1, 0, 4, 9, 5, 7, 3, 6]]
GSL_N10 = [[9, 2, 4, 0, 5, 7, 3, 6, 1, 8], [6, 9, 2, 7, 1, 4, 3, 5, 0, 8], [2, 6, 9, 4, 7, 8, 0, 1, 5, 3]]
SRAND_INV_7720_HEAD = [5009, 3424, 2632, 5975, 1050, 7175, 4028, 1385]


def test_srand_reference_forward():
    assert forward_table(10, 3, seed=0, rng="srand").tolist() == SRAND_N10


def test_gsl_reference_forward():
    assert forward_table(10, 3, seed=0, rng="gsl").tolist() == GSL_N10


def test_srand_inverse_7720_head():
    assert permutation_table(7720, 1, seed=0, rng="srand")[0, :8].tolist() == SRAND_INV_7720_HEAD


def test_tables_are_cumulative_prefixes():
    # the shuffle is cumulative: fewer permutations give a prefix of the table
    for rng in ("srand", "gsl", "numpy"):
        big = permutation_table(257, 9, seed=3, rng=rng)
        small = permutation_table(257, 4, seed=3, rng=rng)
        np.testing.assert_array_equal(big[:4], small)


def test_inverse_is_inverse():
    for rng in ("srand", "gsl", "numpy"):
        fwd = forward_table(300, 7, seed=5, rng=rng).astype(np.intp)
        inv = permutation_table(300, 7, seed=5, rng=rng).astype(np.intp)
        for f, i in zip(fwd, inv):
            np.testing.assert_array_equal(f[i], np.arange(300))
            np.testing.assert_array_equal(i[f], np.arange(300))


def test_numpy_mode_is_randomstate_permutations():
    rs = np.random.RandomState(7)
    expect = np.stack([rs.permutation(50) for _ in range(5)])
    np.testing.assert_array_equal(forward_table(50, 5, seed=7, rng="numpy"), expect)


def test_seed_zero_is_one_for_srand_and_4357_for_gsl():
    np.testing.assert_array_equal(forward_table(40, 3, 0, "srand"), forward_table(40, 3, 1, "srand"))
    np.testing.assert_array_equal(forward_table(40, 3, 0, "gsl"), forward_table(40, 3, 4357, "gsl"))


@pytest.mark.skipif(not sys.platform.startswith("linux") or "glibc" not in " ".join(__import__("platform").libc_ver()),
                    reason="cross-check against the platform's glibc rand()")
@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 - 1, 2**31, 2**31 + 12345, 2**32 - 1])
def test_srand_matches_glibc(seed):
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.rand.restype = ctypes.c_int
    libc.srand.argtypes = [ctypes.c_uint]
    n, n_perm = 97, 3
    libc.srand(seed)
    a = list(range(n))
    rows = []
    for _ in range(n_perm):
        for i in range(n - 1):
            j = i + libc.rand() // (2147483647 // (n - i) + 1)
            a[i], a[j] = a[j], a[i]
        rows.append(list(a))
    np.testing.assert_array_equal(forward_table(n, n_perm, seed, "srand"), rows)


def test_smallest_dtype():
    assert index_dtype(256) == np.uint8
    assert index_dtype(257) == np.uint16
    assert index_dtype(65536) == np.uint16
    assert index_dtype(65537) == np.uint32
    assert permutation_table(7919, 2).dtype == np.uint16
    assert permutation_table(100, 2).dtype == np.uint8


def test_tables_are_cached_and_read_only():
    clear_table_cache()
    a = permutation_table(500, 20, seed=2)
    b = permutation_table(500, 20, seed=2)
    assert a is b
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 1


def test_invert_table_roundtrip():
    t = forward_table(33, 4, seed=9, rng="gsl")
    np.testing.assert_array_equal(invert_table(invert_table(t)), t)


def test_zero_permutations_and_single_gene():
    assert permutation_table(10, 0).shape == (0, 10)
    np.testing.assert_array_equal(permutation_table(1, 3), np.zeros((3, 1)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_genes=10, n_rand=3, rng="mersenne"), "unknown rng"),
        (dict(n_genes=10, n_rand=-1), "n_rand must be >= 0"),
        (dict(n_genes=0, n_rand=3), "n_genes must be >= 1"),
        (dict(n_genes=10, n_rand=3, seed=-1), "seed must be >= 0"),
        (dict(n_genes=10, n_rand=3, seed=2**32), "32 bits"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        permutation_table(**kwargs)


def test_too_many_genes_for_any_dtype():
    with pytest.raises(ValueError, match="too large"):
        index_dtype(2**64 + 1)
