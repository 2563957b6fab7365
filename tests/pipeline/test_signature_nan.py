"""NaN entries in a signature: SecActPy's NaN-skipping scaling, with one warning (issue 12, finding 5).

Fixtures ``signan_*`` (``tests/goldens/make_goldens_inputs.py``): SecActPy 0.3.1 on the random
signature ``R`` of ``bulk_ctrl_inputs.npz`` with NaN at four entries (P3, P5 twice, P8).
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import lazyact
from conftest import load_golden
from lazyact.preprocess import SignatureNaNWarning

STATS = ("beta", "se", "zscore", "pvalue")


@pytest.fixture(scope="module")
def inputs():
    gi = load_golden("bulk_ctrl_inputs")
    R = pd.DataFrame(gi["R"], index=gi["R_genes"], columns=gi["R_samples"])
    RT = pd.DataFrame(gi["RT"], index=gi["RT_genes"], columns=gi["RT_samples"])
    g = load_golden("signan_bulk_dataframe_n100")
    for gene, protein in zip(g["sig_nan_genes"], g["sig_nan_proteins"]):
        R.loc[gene, protein] = np.nan
    assert R.shape == (400, 12) and int(R.isna().sum().sum()) == 4
    return R, RT


def run_warned(expression, signature, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        act = lazyact.activity(expression, signature, n_rand=100, preprocess="center", **kwargs)
    hits = [w for w in rec if issubclass(w.category, SignatureNaNWarning)]
    assert len(hits) == 1, [str(w.message) for w in rec]
    assert hits[0].filename == __file__
    return act, str(hits[0].message)


def assert_golden(act, g):
    assert list(act.proteins) == list(g["proteins"])
    assert list(act.samples) == list(g["samples"])
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(act[k][:, :], g[k], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(act.pvalue[:, :], g["pvalue"])


def test_dataframe_signature_with_nan_grouped(inputs):
    R, RT = inputs
    g = load_golden("signan_bulk_dataframe_n100")
    act, msg = run_warned(RT, R)  # grouping on by default for a DataFrame, as SecActPy
    assert msg.startswith("signature DataFrame has 4 NaN values in 3 proteins ('P3', 'P5', 'P8')")
    assert_golden(act, g)
    # P3 and P7 group without the NaN (bulk_ctrl_randsig_*); a NaN correlation separates them, as SecActPy
    assert act.params["n_groups"] == len(g["groups"]) == 12
    for p in ("P3", "P5", "P8"):  # kept, not zeroed (the bug: z = 0, p = 1 in every sample)
        assert np.abs(act.zscore.loc[p, :]).max() > 0.1


def test_signature_file_with_nan(inputs, tmp_path):
    g = load_golden("signan_bulk_file_n100")
    path = tmp_path / "sig_nan.tsv"
    path.write_text(str(g["signature_tsv"]))
    _, RT = inputs
    act, msg = run_warned(RT, str(path), group=False)
    assert msg.startswith(f"signature {path} has 4 NaN values in 3 proteins")
    assert_golden(act, g)
    # the loader keeps a file's NaN by default (SecActPy reads files as they are) and fills on request
    assert int(lazyact.load_signature(path).isna().sum().sum()) == 4
    with pytest.warns(RuntimeWarning, match="filling with 0"):
        assert int(lazyact.load_signature(path, fill_nan=True).isna().sum().sum()) == 0


def test_the_advice_in_the_warning_runs(inputs):
    """The warning's advice (fill first) runs and then no longer warns."""
    R, RT = inputs
    with warnings.catch_warnings():
        warnings.simplefilter("error", SignatureNaNWarning)
        act = lazyact.activity(RT, R.fillna(0), n_rand=20, preprocess="center")
    assert np.isfinite(act.zscore[:, :]).all()


def test_scaling_equals_pandas_with_nan():
    """scale_signature = SecActPy's ((X - X.mean()) / X.std(ddof=1)).fillna(0), with NaN anywhere."""
    from lazyact.preprocess import scale_signature

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.standard_normal((50, 6)))
    X[X > 1.2] = np.nan
    X[4] = np.nan          # an all-NaN protein: zeros, as SecActPy
    X.iloc[1:, 5] = np.nan  # a single value: std NaN -> zeros
    rows = rng.permutation(50)[:40]
    Xa = X.iloc[rows]
    ref = ((Xa - Xa.mean()) / Xa.std(ddof=1)).fillna(0).to_numpy()
    np.testing.assert_allclose(scale_signature(X, rows), ref, rtol=0, atol=1e-14)
    without = X.fillna(1.0)  # no NaN: the same bits as the plain z-score
    np.testing.assert_array_equal(scale_signature(without, rows),
                                  lazyact.preprocess.zscore_columns(without.to_numpy()[rows]))
