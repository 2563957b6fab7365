import numpy as np
import pytest

from lazyact.signatures import load_signature, signature_path


def test_cytosig_bundled():
    sig = load_signature("CytoSig")
    assert sig.shape == (4881, 43)
    assert sig.dtypes.unique().tolist() == [np.float64]
    assert "IL6" in sig.columns and "IFNG" in sig.columns
    assert load_signature("cytosig").equals(sig)
    sig.iloc[0, 0] = 99.0  # a copy: the cache is not modified
    assert load_signature("CytoSig").iloc[0, 0] != 99.0


def test_path_and_nan_fill(tmp_path):
    f = tmp_path / "sig.tsv"
    f.write_text("A\tB\ng1\t1.0\t\ng2\t2.5\t3.0\n")
    sig = load_signature(f)  # a file keeps its NaN, as SecActPy reads it (activity() then skips them)
    assert np.isnan(sig.loc["g1", "B"]) and sig.shape == (2, 2)
    with pytest.warns(RuntimeWarning, match="NaN"):
        sig = load_signature(f, fill_nan=True)
    assert sig.loc["g1", "B"] == 0.0 and sig.shape == (2, 2)


def test_secact_missing_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LAZYACT_SECACT_PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"lazyact\.signatures\.fetch_secact\(\)"):
        signature_path("SecAct")


def test_secact_from_env(monkeypatch, tmp_path):
    f = tmp_path / "SecAct.tsv.gz"
    import gzip

    with gzip.open(f, "wt") as fh:
        fh.write("P1\tP2\nG1\t1\t2\nG2\t3\t4\n")
    monkeypatch.setenv("LAZYACT_SECACT_PATH", str(tmp_path))
    assert signature_path("secact") == f
    assert load_signature("SecAct").shape == (2, 2)


def test_unknown_name():
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        load_signature("NoSuchSignature")
