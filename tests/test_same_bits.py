"""Same bits, however asked (DESIGN section 3): a (protein, sample) value is bit-identical whatever
the key, the chunks, the threads (lazyact's and BLAS's), the process or the file it went through."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import lazyact
from lazyact.ridge import projection

N_GENES = 300  # > 256: BLAS cuts the genes into blocks, and its threaded driver cuts them differently
CASES = {
    # name: (proteins, LazyActivity keyword arguments)
    "yrow": (130, dict(permutations=24)),  # >= 128 proteins: summed over the genes of T
    "tcol": (12, dict(permutations=24)),  # fewer: summed over the genes of Y
    "float32": (130, dict(permutations=24, dtype="float32")),
    "ttest": (12, dict(permutations=0)),
    "analytic": (12, dict(null="analytic")),
    # a grouped signature: 14 output rows from 10 projection rows (SecAct's "A|B" groups expanded)
    "grouped": (14, dict(permutations=24, row_map=np.array([0, 1, 1, 2, 3, 4, 4, 4, 5, 6, 7, 8, 9, 9]))),
}
MODEL_ROWS = {"grouped": 10}
STATS = ("beta", "se", "zscore", "pvalue")


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64)).view(np.int64)


def assert_same_bits(got, want, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    differ = bits(got) != bits(want)
    assert not differ.any(), (f"{what}: {int(differ.sum())} of {differ.size} values differ, "
                              f"max {np.abs(got - want).max():.2e}")


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(12)
    out = {}
    for name, (p, _) in CASES.items():
        X = rng.standard_normal((N_GENES, MODEL_ROWS.get(name, p)))
        Y = rng.standard_normal((N_GENES, 21))
        out[name] = (projection(X, 50.0), Y)
    return out


def make(inputs, name, **kw):
    P, Y = inputs[name]
    kwargs = dict(CASES[name][1])
    return lazyact.LazyActivity(P, kwargs.pop("permutations", 24), Y, **kwargs, **kw)


@pytest.fixture(scope="module")
def reference(inputs):
    """Each case computed once, whole, with the defaults."""
    return {name: {s: getattr(make(inputs, name), s)[:, :] for s in STATS} for name in CASES}


def _axis_key(n):
    ints = st.integers(-n, n - 1)
    return st.one_of(
        ints,
        st.builds(slice, st.none() | st.integers(-n, n), st.none() | st.integers(-n, n),
                  st.none() | st.integers(-3, 3).filter(bool)),
        st.lists(ints, min_size=1, max_size=6).map(np.array),
        st.lists(st.booleans(), min_size=n, max_size=n).map(np.array),
    )


@st.composite
def requests(draw):
    p_name = draw(st.sampled_from(sorted(CASES)))
    p = CASES[p_name][0]
    rows, cols = draw(_axis_key(p)), draw(_axis_key(21))
    orthogonal = draw(st.booleans())
    if not orthogonal:  # NumPy semantics: two integer arrays broadcast (points)
        if isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray) and rows.dtype != bool \
                and cols.dtype != bool:
            k = min(rows.size, cols.size)
            rows, cols = rows[:k], cols[:k]
        elif isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray):
            orthogonal = True
    return dict(case=p_name, key=(rows, cols), orthogonal=orthogonal,
                chunks=(draw(st.integers(1, p)), draw(st.integers(1, 21))),
                threads=draw(st.sampled_from([1, 2])), blas=draw(st.sampled_from([1, 2])),
                stat=draw(st.sampled_from(STATS)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=requests())
def test_any_key_chunks_and_threads_give_the_same_bits(inputs, reference, req):
    """ints, slices, fancy, masks and .oindex, over any chunking, lazyact and BLAS threads."""
    full = reference[req["case"]][req["stat"]]
    with threadpool_limits(limits=req["blas"], user_api="blas"):
        act = make(inputs, req["case"], chunks=req["chunks"], threads=req["threads"])
        view = getattr(act, req["stat"])
        rows, cols = req["key"]
        if req["orthogonal"]:
            got, want = view.oindex[rows, cols], np.asarray(full[rows, :])[..., cols]
        else:
            got, want = view[rows, cols], full[rows, cols]
    assert_same_bits(got, want, f"{req}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_rows_alone_columns_alone_and_points(inputs, reference, name):
    """The classic ways of asking for a protein, a sample and one value, on fresh objects."""
    full = reference[name]
    for s in STATS:
        assert_same_bits(getattr(make(inputs, name), s)[:, 7], full[s][:, 7], f"{name} {s}[:, 7]")
        assert_same_bits(getattr(make(inputs, name), s)[3], full[s][3], f"{name} {s}[3]")
        assert_same_bits(getattr(make(inputs, name), s)[3, 7], full[s][3, 7], f"{name} {s}[3, 7]")
        assert_same_bits(getattr(make(inputs, name), s)[[4, 1], [2, 2]], full[s][[4, 1], [2, 2]], f"{name} {s}")


@pytest.mark.parametrize("name", ["yrow", "tcol", "float32"])
def test_to_hdf5_blocks_equal_the_default_chunks(inputs, reference, name, tmp_path):
    make(inputs, name).to_hdf5(tmp_path / "a.h5", block=5, progress=False)
    stored = lazyact.open(tmp_path / "a.h5")
    for s in STATS:
        assert_same_bits(getattr(stored, s)[:, :], reference[name][s], f"{name} {s} via to_hdf5(block=5)")


_CHILD = ("import pickle, sys\n"
          "acts = pickle.loads(sys.stdin.buffer.read())\n"
          "out = {name: {s: getattr(act, s)[:, ::2] for s in %r} for name, act in acts.items()}\n"
          "sys.stdout.buffer.write(pickle.dumps(out))\n" % (STATS,))


def test_another_process_with_one_blas_thread(inputs, reference):
    """Pickled activities computed in a fresh process whose BLAS has one thread (as a dask worker's)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", LAZYACT_THREADS="1")
    acts = {name: make(inputs, name) for name in ("yrow", "tcol", "float32")}
    out = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps(acts), env=env,
                         capture_output=True, check=True).stdout
    for name, stats in pickle.loads(out).items():
        for s, got in stats.items():
            assert_same_bits(got, reference[name][s][:, ::2], f"{name} {s} in a subprocess")


def test_dask_worker_process_equals_local(inputs, reference):
    distributed = pytest.importorskip("distributed")
    environ = os.environ.copy()  # the nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 in os.environ
    try:
        with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=2, host="127.0.0.1",
                                      dashboard_address=None, silence_logs=40) as cluster:
            with distributed.Client(cluster) as client:
                z = make(inputs, "yrow", chunks=(130, 4)).zscore.to_dask()
                got = client.compute(z).result()
    finally:
        os.environ.clear()
        os.environ.update(environ)
    assert_same_bits(got, reference["yrow"]["zscore"], "zscore from a dask worker")


@pytest.mark.parametrize("signature", ["CytoSig", "random"])
def test_the_projection_does_not_depend_on_the_blas_threads(signature):
    """T is built where the activity is made (a client, a CLI process whose parent runs a dask
    cluster and so exports OPENBLAS_NUM_THREADS=1): its bits must not depend on that process's BLAS."""
    if signature == "CytoSig":
        X = lazyact.load_signature("CytoSig").to_numpy()
    else:
        X = np.random.default_rng(5).standard_normal((N_GENES, 130))
    with threadpool_limits(limits=1, user_api="blas"):
        one = projection(X)
    with threadpool_limits(limits=max(2, os.cpu_count() or 2), user_api="blas"):
        many = projection(X)
    for name in ("T", "xtx_inv_diag"):
        assert_same_bits(getattr(many, name), getattr(one, name), f"{signature} projection {name}")


def test_pipeline_centre_and_zscore_columns_same_bits():
    """lazyact.activity's column z-score gives one sample the same bits alone or with others."""
    sig = lazyact.load_signature("CytoSig")
    genes = sig.index[:400]
    rng = np.random.default_rng(5)
    Y = pd.DataFrame(rng.standard_normal((len(genes), 9)), index=genes)
    full = lazyact.activity(Y, "CytoSig", preprocess="center", n_rand=20).zscore[:, :]
    act = lazyact.activity(Y, "CytoSig", preprocess="center", n_rand=20, chunks=(5, 2))
    assert_same_bits(act.zscore[:, 4], full[:, 4], "zscore[:, 4]")
    assert_same_bits(act.zscore[:, :], full, "chunks (5, 2)")


def test_sparse_inflight_single_column_same_bits():
    anndata = pytest.importorskip("anndata")
    genes = lazyact.load_signature("CytoSig").index[:600]
    counts = sp.random(12, len(genes), density=0.2, random_state=3, format="csr") * 20
    counts.data = np.round(counts.data) + 1
    cells = anndata.AnnData(counts, obs=pd.DataFrame(index=[f"c{i}" for i in range(12)]),
                            var=pd.DataFrame(index=genes))
    full = lazyact.activity(cells, "CytoSig", preprocess="scrnaseq", n_rand=40)
    assert full.blocks._use_sparse()
    ref = full.se[:, :]
    one = lazyact.activity(cells, "CytoSig", preprocess="scrnaseq", n_rand=40).se[:, 5]
    assert_same_bits(one, ref[:, 5], "sparse se[:, 5]")
