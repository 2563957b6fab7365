"""The lazy properties hold in every option mode: statistics passes stream the input in bounded blocks, once;
results are computed on demand; files and pickles carry the options."""
import contextlib
import pickle

import numpy as np
import pandas as pd
import pytest

import lazyact
from conftest import DATA, load_golden, one_blas_thread
from lazyact.preprocess import passes
from lazyact.sources import ColumnSubset, as_source

OPT = str(DATA / "synth_options.h5ad")
VISIUM = DATA / "visium_synth"


class Counting(ColumnSubset):
    """All columns of a source, recording how many columns each read asks for."""

    def __init__(self, source, checked=True):
        super().__init__(source, np.arange(source.n_samples))
        self.reads = []
        self.checked = checked  # lazyact.activity reads the input check's bounded sample from it

    def _read(self, cols):
        self.reads.append(len(cols))
        return super()._read(cols)

    def passes(self):
        """Full passes read, not counting the input check's bounded sample of the first 100 samples."""
        return (sum(self.reads) - self.checked * min(100, self.n_samples)) / self.n_samples


@pytest.fixture
def small_blocks(monkeypatch):
    """Statistics passes read 16 spots of synth_options.h5ad at a time."""
    src = as_source(OPT, layer="X")
    monkeypatch.setattr(passes, "PASS_BYTES", int(16.5 * src._bytes_per_column()))
    assert src.default_block(passes.PASS_BYTES) == 16
    return 16


@pytest.fixture(scope="module")
def bulk():
    z = load_golden("bulk_ctrl_inputs")
    return {n: pd.DataFrame(z[n], index=z[f"{n}_genes"], columns=z[f"{n}_samples"]) for n in ("T", "C", "Cd")}


def test_group_level_streams_the_spots_in_blocks(small_blocks):
    src = Counting(as_source(OPT, layer="X", gene_column="auto", check_counts=True))
    act = lazyact.activity(src, "CytoSig", preprocess="spatial", groupby=np.asarray(
        as_source(OPT).obs_column("cell_type"), dtype=object), n_rand=10)
    assert max(src.reads) <= small_blocks
    # the zero-gene sums and the group means: one pass each, nothing else reads the spots
    assert src.passes() == 2
    assert act.shape == (43, 5)
    act.zscore[:, :]
    assert src.passes() == 2  # the small genes x groups profile is all the activity reads


def test_spatial_control_streams_both_inputs(small_blocks):
    ctrl = Counting(as_source(VISIUM), checked=False)
    src = Counting(as_source(OPT, layer="X", gene_column="auto", check_counts=True))
    act = lazyact.activity(src, "CytoSig", preprocess="spatial", control=ctrl, n_rand=10)
    assert max(ctrl.reads) < ctrl.n_samples and ctrl.passes() == 1  # the control's means: one pass
    assert max(src.reads) <= small_blocks and src.passes() == 2  # zero genes; library sizes
    assert act.store.cached_fraction() == 0
    act.zscore[:, 3]
    assert src.reads[-1] == 1  # the column asked for, when it is asked for


@pytest.mark.parametrize("paired", [False, True])
def test_bulk_control_passes(bulk, paired, small_blocks):
    T, C = Counting(as_source(bulk["T"])), Counting(as_source(bulk["C"]), checked=False)
    act = lazyact.activity(T, "CytoSig", control=C, paired=paired, n_rand=10)
    assert T.passes() == (0.5 if paired else 1) and C.passes() == (0.75 if paired else 1)  # the shared samples
    assert list(act.samples) == ["Change"]
    single = lazyact.activity(T, "CytoSig", control=C, paired=paired, single_sample=True, n_rand=10)
    assert list(single.samples) == (["S1", "S3", "S5"] if paired else list(bulk["T"].columns))
    before = len(T.reads)
    single.zscore[:, 1]
    assert T.reads[before:] == [1]  # one sample's column (and its paired control column)


@pytest.mark.parametrize("case", ["control", "paired_single", "groupby", "visium"])
def test_options_are_stored_and_read_back(tmp_path, bulk, case):
    kwargs = {
        "control": (bulk["T"], dict(control=bulk["Cd"])),
        "paired_single": (bulk["T"], dict(control=bulk["C"], paired=True, single_sample=True, sig_filter=True)),
        "groupby": (OPT, dict(preprocess="spatial", groupby="cell_type", scale_factor=1e4, min_genes=60)),
        "visium": (str(VISIUM), dict(preprocess="spatial", min_genes=100, sig_filter=True)),
    }[case]
    with pytest.warns(RuntimeWarning) if case == "control" else contextlib.nullcontext():
        act = lazyact.activity(kwargs[0], "CytoSig", n_rand=10, **kwargs[1])
    with one_blas_thread():
        path = act.to_hdf5(tmp_path / "a.h5", progress=False)
        z = np.asarray(act.zscore)
    back = lazyact.open(path)
    for key, value in kwargs[1].items():
        if key == "control":
            value = act.params["control"]
            assert value.startswith("DataFrame (")
        if key == "preprocess":
            continue
        assert back.params[key] == value, key
    assert back.params["sig_filter"] == act.params["sig_filter"]
    np.testing.assert_array_equal(np.asarray(back.zscore), z)
    if case == "visium":
        np.testing.assert_array_equal(back.spatial, act.spatial)


def test_pickled_activities_compute_the_same(bulk):
    """Dask workers get pickled activities: the derived expressions pickle (sources by reference)."""
    for act in (lazyact.activity(bulk["T"], "CytoSig", control=bulk["C"], paired=True, single_sample=True,
                                 n_rand=10),
                lazyact.activity(str(VISIUM), "CytoSig", preprocess="spatial", min_genes=100, n_rand=10)):
        twin = pickle.loads(pickle.dumps(act))
        np.testing.assert_array_equal(twin.zscore[:, 1:3], act.zscore[:, 1:3])
