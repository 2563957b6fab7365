"""Crafted files: readers of results and expression files stay inside the file, allocate only what
the file can hold, validate attributes and escape the names they print (issue 12, finding 7)."""
from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

import lazyact
from conftest import write_counts_h5ad
from lazyact.cli import main
from lazyact.results import NotResultsFileError, file_info, format_info, is_results_file
from lazyact.sources import H5ADSource, UnsafeFileError, as_source

STR = h5py.string_dtype("utf-8")
STATS = ("beta", "se", "zscore", "pvalue")
SECRET = "TOPSECRET-0123456789-abcdefghijklmnopqrstuvwxyz-TOPSECRET\n"
HUGE = 3_000_000_000


def results_file(path, proteins=("IL6", "TNF", "IFNG"), samples=("s0", "s1", "s2", "s3"), **attrs):
    """A small valid results file in lazyact's HDF5 layout."""
    with h5py.File(path, "w") as f:
        for n in STATS:
            f.create_dataset(n, data=np.arange(len(proteins) * len(samples), dtype="f8").reshape(len(proteins), -1))
        f.create_dataset("feature_names", data=np.array(proteins, dtype=object), dtype=STR)
        f.create_dataset("sample_names", data=np.array(samples, dtype=object), dtype=STR)
        f.attrs["lazyact_format"] = "hdf5"
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def other(tmp_path):
    """Another local file, which crafted links and virtual datasets point to."""
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.full((3, 4), 42.0)
        f["names"] = np.array([f"x{i}" for i in range(30)], dtype=object).astype(STR)
    return path


def refused(path, match, capsys=None):
    """lazyact.open, file_info and `lazyact info` all refuse ``path`` with ``match``; nothing secret leaks."""
    with pytest.raises(UnsafeFileError, match=match) as err:
        lazyact.open(path)
    assert "TOPSECRET" not in str(err.value)
    with pytest.raises(UnsafeFileError, match=match):
        file_info(path)
    assert not is_results_file(path)
    if capsys is not None:
        capsys.readouterr()
        assert main(["info", str(path)]) == 1
        out = capsys.readouterr()
        assert "TOPSECRET" not in out.out + out.err and "Traceback" not in out.err
        assert out.err.count("\n") == 1 and "error:" in out.err


# ----------------------------------------------------------------------------- outside the file
def test_external_raw_storage_is_not_read(tmp_path, secret, capsys):
    path = tmp_path / "ext_raw.h5"
    results_file(path)
    with h5py.File(path, "a") as f:  # the protein names' bytes live in another local file
        del f["feature_names"]
        f.create_dataset("feature_names", shape=(3,), dtype="S8", external=[(str(secret), 0, 24)])
    refused(path, r"/feature_names in .* keeps its raw data in external files", capsys)
    with h5py.File(path, "a") as f:  # ... or a statistic's
        del f["feature_names"]
        f.create_dataset("feature_names", data=np.array(["IL6", "TNF", "IFNG"], dtype=object), dtype=STR)
        del f["beta"]
        f.create_dataset("beta", shape=(3, 4), dtype="u1", external=[(str(secret), 0, 12)])
    refused(path, r"/beta in .* keeps its raw data in external files")


def test_external_and_soft_links_are_not_followed(tmp_path, capsys, other):
    ext = results_file(tmp_path / "ext_link.h5")
    with h5py.File(ext, "a") as f:
        del f["beta"]
        f["beta"] = h5py.ExternalLink(str(other), "/data")
    refused(ext, r"/beta in .* is an external link to '/data' in '.*other\.h5'", capsys)
    soft = results_file(tmp_path / "soft.h5")
    with h5py.File(soft, "a") as f:  # a link out of the group to another object of the file
        f.create_group("hidden").create_dataset("x", data=np.full((3, 4), 7.0))
        del f["zscore"]
        f["zscore"] = h5py.SoftLink("/hidden/x")
    refused(soft, r"/zscore in .* is a soft link to '/hidden/x'")
    unrelated = results_file(tmp_path / "anywhere.h5")
    with h5py.File(unrelated, "a") as f:  # wherever it is in the file
        f.create_group("uns").create_group("deep")["link"] = h5py.ExternalLink(str(other), "/data")
    refused(unrelated, r"/uns/deep/link in .* is an external link")


def test_virtual_datasets_are_not_read(tmp_path, capsys, other):
    path = results_file(tmp_path / "vds.h5")
    with h5py.File(path, "a") as f:
        del f["se"]
        layout = h5py.VirtualLayout(shape=(3, 4), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(3, 4))
        f.create_virtual_dataset("se", layout, fillvalue=0)
    refused(path, r"/se in .* is a virtual dataset", capsys)


def test_expression_files_are_checked_too(tmp_path, secret, other):
    good = write_counts_h5ad(tmp_path / "x.h5ad", 30, 20, 5, density=0.3, mean=3, seed=0, cell_prefix="c",
                             other_prefix="g")
    assert H5ADSource(good).shape == (25, 30)

    def crafted(name, edit):
        path = tmp_path / name
        path.write_bytes(good.read_bytes())
        with h5py.File(path, "a") as f:
            edit(f)
        return path

    def ext_link(f):
        del f["obs/_index"]
        f["obs/_index"] = h5py.ExternalLink(str(other), "/names")

    def ext_storage(f):
        n = f["X/data"].shape[0]
        del f["X/data"]
        f["X"].create_dataset("data", shape=(n,), dtype="u1", external=[(str(secret), 0, n)])

    def vds(f):
        idx = f["var/_index"]
        n = idx.shape[0]
        lay = h5py.VirtualLayout(shape=(n,), dtype=STR)
        lay[:] = h5py.VirtualSource(str(other), "names", shape=(30,))[:n]
        del f["var/_index"]
        f["var"].create_virtual_dataset("_index", lay)

    for name, edit, match in (("link.h5ad", ext_link, "external link"), ("raw.h5ad", ext_storage, "external files"),
                              ("vds.h5ad", vds, "virtual dataset")):  # fmt: skip
        path = crafted(name, edit)
        with pytest.raises(UnsafeFileError, match=match):
            src = as_source(path)
            src.genes, src.samples, src.columns(np.arange(3))
        with pytest.raises(UnsafeFileError, match=match):
            lazyact.activity(path, "CytoSig", n_rand=10, preprocess="scrnaseq")


# ----------------------------------------------------------------------------- declared sizes
def _peak(fn):
    """(exception raised, peak bytes allocated through Python/NumPy while running fn)."""
    tracemalloc.start()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        raised = exc
    else:
        raised = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak


def test_a_tiny_file_declaring_3e9_names_allocates_nothing(tmp_path, capsys):
    """A 7 KiB file whose statistics and names declare 3e9 samples (chunks never written)."""
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        for n in STATS:
            f.create_dataset(n, shape=(3, HUGE), dtype="f8", chunks=(3, 1 << 16), compression="gzip")
        f.create_dataset("feature_names", data=np.array(["a", "b", "c"], dtype=object), dtype=STR)
        f.create_dataset("sample_names", shape=(HUGE,), dtype=STR, chunks=(1 << 16,), compression="gzip")
        f.attrs["lazyact_format"] = "hdf5"
    assert path.stat().st_size < 16_384
    for call in (lambda: lazyact.open(path), lambda: file_info(path)):
        exc, peak = _peak(call)
        assert isinstance(exc, UnsafeFileError) and "declares 9,000,000,000 entries" in str(exc), exc
        assert peak < 2**20, peak  # (before: 22-30 GiB)
    # statistics of the right size, but names that are not: refused before reading them
    names = results_file(tmp_path / "names.h5")
    with h5py.File(names, "a") as f:
        del f["sample_names"]
        f.create_dataset("sample_names", shape=(HUGE,), dtype=STR, chunks=(1 << 16,), compression="gzip")
    exc, peak = _peak(lambda: lazyact.open(names))
    assert isinstance(exc, NotResultsFileError) and "expected (4,) names" in str(exc) and peak < 2**20
    # no names at all: positions are never made for 3e9 samples either (the statistics are checked first)
    bare = tmp_path / "bare.h5"
    with h5py.File(bare, "w") as f:
        for n in STATS:
            f.create_dataset(n, shape=(3, HUGE), dtype="f8", chunks=(3, 1 << 16))
    exc, peak = _peak(lambda: lazyact.open(bare))
    assert isinstance(exc, UnsafeFileError) and peak < 2**20


def test_an_unfinished_file_declaring_a_huge_bitmap(tmp_path):
    path = tmp_path / "r.h5.partial"
    with h5py.File(path, "w") as f:
        f.attrs["lazyact_complete"] = False
        f.attrs["lazyact_layout"] = '{"format": "hdf5", "shape": [3, 3000000000], "arrays": ["beta"], "block": 1}'
        f.create_dataset("_lazyact_done", shape=(HUGE,), dtype="u1", chunks=(1 << 20,), compression="gzip")
    exc, peak = _peak(lambda: file_info(tmp_path / "r.h5"))
    assert isinstance(exc, UnsafeFileError) and "done-block bitmap" in str(exc) and peak < 2**20


def test_an_expression_file_declaring_3e9_cells(tmp_path):
    def h5ad(path, dense):
        with h5py.File(path, "w") as f:
            f.attrs["encoding-type"] = "anndata"
            if dense:
                f.create_dataset("X", shape=(HUGE, 3), dtype="f4", chunks=(1 << 16, 3), compression="gzip")
            else:
                x = f.create_group("X")
                x.attrs["encoding-type"] = "csr_matrix"
                x.attrs["shape"] = np.array([HUGE, 3])
                x.create_dataset("data", shape=(0,), dtype="f4")
                x.create_dataset("indices", shape=(0,), dtype="i4")
                x.create_dataset("indptr", shape=(HUGE + 1,), dtype="i8", chunks=(1 << 16,), compression="gzip")
            obs = f.create_group("obs")
            obs.attrs["_index"] = "_index"
            obs.create_dataset("_index", shape=(HUGE,), dtype=STR, chunks=(1 << 16,), compression="gzip")
            var = f.create_group("var")
            var.attrs["_index"] = "_index"
            var.create_dataset("_index", data=np.array(["IL6", "TNF", "IFNG"], dtype=object), dtype=STR)
        return path

    csr = h5ad(tmp_path / "csr.h5ad", dense=False)
    exc, peak = _peak(lambda: H5ADSource(csr).column_totals())
    assert isinstance(exc, UnsafeFileError) and "sparse indptr" in str(exc) and peak < 2**20, exc
    assert "declares 3,000,000,001 entries" in str(exc)
    dense = h5ad(tmp_path / "dense.h5ad", dense=True)
    exc, peak = _peak(lambda: H5ADSource(dense).samples)
    assert isinstance(exc, UnsafeFileError) and "index /obs/_index" in str(exc) and peak < 2**20, exc
    exc, peak = _peak(lambda: lazyact.activity(dense, "CytoSig", n_rand=10))
    assert isinstance(exc, UnsafeFileError) and peak < 2**20, exc


# ----------------------------------------------------------------------------- attributes
@pytest.mark.parametrize("attrs, match", [
    ({"lazyact_params": "{not json"}, r"attribute 'lazyact_params' of / in '.*bad\.h5' should be JSON text"),
    ({"lazyact_params": "[1, 2]"}, r"attribute 'lazyact_params' .* should be a JSON object"),
    ({"lazyact_params": np.arange(3)}, r"attribute 'lazyact_params' .* should be a string"),
    ({"lazyact_complete": "yes"}, r"attribute 'lazyact_complete' .* should be a boolean"),
])  # fmt: skip
def test_bad_attributes_give_one_clear_error(tmp_path, capsys, attrs, match):
    path = results_file(tmp_path / "bad.h5", **attrs)
    with pytest.raises(UnsafeFileError, match=match):
        lazyact.open(path)
    capsys.readouterr()
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "attribute 'lazy" in err


def test_bad_layout_of_an_unfinished_file(tmp_path, capsys):
    for layout, match in (("[1,2", "should be JSON text"), ('{"format": "hdf5", "shape": "big", "arrays": []}',
                                                              "'shape' is two non-negative integers")):
        path = tmp_path / "r.h5.partial"
        with h5py.File(path, "w") as f:
            f.attrs["lazyact_complete"] = False
            f.attrs["lazyact_layout"] = layout
        with pytest.raises(UnsafeFileError, match=rf"attribute 'lazyact_layout' .* {match}"):
            file_info(tmp_path / "r.h5")
        capsys.readouterr()
        assert main(["info", str(tmp_path / "r.h5")]) == 1 and "Traceback" not in capsys.readouterr().err


def test_bad_anndata_attributes(tmp_path):
    good = write_counts_h5ad(tmp_path / "x.h5ad", 10, 20, 5, density=0.3, mean=3, seed=0, cell_prefix="c",
                             other_prefix="g")
    for where, key, value, match in (("X", "shape", np.array([b"a", b"b"]), "should be 2 non-negative integers"),
                                     ("X", "encoding-type", np.arange(2), "should be a string"),
                                     ("var", "column-order", np.arange(3), "should be a 1-D array of strings")):
        path = tmp_path / f"bad_{key}.h5ad"
        path.write_bytes(good.read_bytes())
        with h5py.File(path, "a") as f:
            f[where].attrs[key] = value
        with pytest.raises(UnsafeFileError, match=rf"attribute '{key}' of /{where} in '.*' {match}"):
            src = H5ADSource(path, gene_column="auto")
            src.genes


# ----------------------------------------------------------------------------- printed names
def test_control_characters_in_names_are_escaped(tmp_path, capsys):
    path = results_file(tmp_path / "ansi.h5", proteins=("IL6\x1b[31mRED\x1b[0m", "TNF\x07", "X\rY"),
                        samples=("s\x1b]0;pwned\x07", "b", "c", "d"), lazyact_version="1.0\x1b[2J")
    res = lazyact.open(path)
    assert res.proteins[0] == "IL6\x1b[31mRED\x1b[0m"  # the data keeps the names as stored
    text = format_info(file_info(path))
    assert main(["info", str(path)]) == 0
    printed = capsys.readouterr().out
    for shown in (text, printed):
        assert not any(c in shown for c in "\x1b\x07\r"), shown
        assert r"IL6\x1b[31mRED\x1b[0m, TNF\x07, X\rY" in shown and r"s\x1b]0;pwned\x07" in shown
        assert r"written by lazyact 1.0\x1b[2J" in shown
    # names in error messages are escaped too
    bad = results_file(tmp_path / "link.h5")
    with h5py.File(bad, "a") as f:
        f["\x1b[2Jlink"] = h5py.SoftLink("/beta")
    with pytest.raises(UnsafeFileError) as err:
        lazyact.open(bad)
    assert "\x1b" not in str(err.value) and r"/\x1b[2Jlink" in str(err.value)
