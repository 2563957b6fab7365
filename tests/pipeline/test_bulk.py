"""lazyact.activity (bulk pipeline) against SecActPy's secact_activity_inference."""
import numpy as np
import pandas as pd
import pytest

import lazyact
from conftest import DATA, load_golden

LY86 = DATA / "Ly86-Fc_vs_Vehicle_logFC.txt"


def check(act, g, atol=1e-10):
    assert list(act.proteins) == list(g["proteins"])
    assert list(act.samples) == list(g["samples"])
    assert list(act.genes) == list(g["genes"])
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(np.asarray(act[k]), g[k], rtol=0, atol=atol, err_msg=k)
    np.testing.assert_array_equal(np.asarray(act.pvalue), g["pvalue"])


@pytest.mark.parametrize("case", ["cytosig_ly86_none_n1000", "cytosig_ly86_center_n1000",
                                  "cytosig_ly86_none_n100", "cytosig_ly86_center_n100"])
def test_cytosig_ly86(case):
    g = load_golden(case)
    act = lazyact.activity(LY86, "CytoSig", preprocess=g["preprocess"], n_rand=int(g["n_rand"]), backend="numpy")
    check(act, g)
    # the same through a DataFrame input, and slices computed independently
    df = pd.read_csv(LY86, sep=r"\s+", engine="python")
    act2 = lazyact.activity(df, "CytoSig", preprocess=g["preprocess"], n_rand=int(g["n_rand"]), chunks=(7, 2))
    np.testing.assert_allclose(act2.zscore[10:20, 3], g["zscore"][10:20, 3], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(act2.pvalue[[42, 0], ::2], g["pvalue"][[42, 0], ::2])


@pytest.mark.secact
@pytest.mark.parametrize("case", ["secact_ly86_none_n1000", "secact_ly86_center_n1000"])
def test_secact_ly86_grouped(case, secact_signature):
    g = load_golden(case)
    act = lazyact.activity(LY86, secact_signature, preprocess=g["preprocess"], n_rand=1000, backend="numpy")
    assert act.params["n_groups"] == len(g["groups"]) == 657
    check(act, g)


def test_signature_dataframe_and_explicit_group():
    sig = lazyact.load_signature("CytoSig")
    g = load_golden("cytosig_ly86_none_n100")
    act = lazyact.activity(LY86, sig, group=False, n_rand=100)
    check(act, g)
    grouped = lazyact.activity(LY86, sig, n_rand=10)  # DataFrame signature: grouping on by default
    assert grouped.params["group"] == 0.9
    assert list(grouped.proteins) == sorted(grouped.proteins)


def test_single_column_is_renamed_change_and_not_centred():
    df = pd.read_csv(LY86, sep=r"\s+", engine="python")[["LY86_Treated_SampleComb"]]
    a = lazyact.activity(df, "CytoSig", preprocess="center", n_rand=20)
    b = lazyact.activity(df, "CytoSig", preprocess="none", n_rand=20)
    assert list(a.samples) == ["Change"]
    np.testing.assert_array_equal(np.asarray(a.zscore), np.asarray(b.zscore))


def test_no_shared_genes_message():
    sig = lazyact.load_signature("CytoSig")
    expr = pd.DataFrame(np.ones((3, 2)), index=["ENSG00000000003", "ENSG00000000005", "ENSG00000000419"])
    with pytest.raises(ValueError, match=r"no shared genes.*ENSG00000000003.*A4GALT.*Ensembl"):
        lazyact.activity(expr, sig)


def test_one_shared_gene():
    expr = pd.DataFrame(np.ones((2, 2)), index=["A4GALT", "NOTAGENE"])
    with pytest.raises(ValueError, match="only 1 shared gene"):
        lazyact.activity(expr, "CytoSig")


def test_transposed_input_detected_from_names():
    sig = lazyact.load_signature("CytoSig")
    rng = np.random.default_rng(0)
    genes = list(sig.index[:300])
    expr = pd.DataFrame(rng.standard_normal((4, 300)), index=["s1", "s2", "s3", "s4"], columns=genes)
    with pytest.raises(ValueError, match="looks transposed"):
        lazyact.activity(expr, "CytoSig")


def test_nan_in_expression_is_an_error():
    df = pd.read_csv(LY86, sep=r"\s+", engine="python").iloc[:, :2].copy()
    df.iloc[5, 1] = np.nan
    act = lazyact.activity(df, "CytoSig", n_rand=5)
    act.zscore[:, 0]  # a clean sample computes
    with pytest.raises(ValueError, match="LY86_Treated_Sample2.*non-finite"):
        act.zscore[:, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(preprocess="log"), "preprocess must be one of"),
    (dict(gene_order="random"), "gene_order"),
    (dict(rng="mt"), "unknown rng"),
    (dict(lambda_=-5), "lambda_"),
    (dict(n_rand=-1), "n_rand"),
    (dict(group=1.5), "threshold"),
])
def test_bad_parameters(kwargs, match):
    df = pd.read_csv(LY86, sep=r"\s+", engine="python")
    with pytest.raises(ValueError, match=match):
        lazyact.activity(df, "CytoSig", **kwargs)


def test_duplicate_genes_keep_first():
    df = pd.read_csv(LY86, sep=r"\s+", engine="python")
    dup = pd.concat([df, df.iloc[:50] * 3.0])  # later duplicates are ignored (SecActPy: keep first)
    a = lazyact.activity(dup, "CytoSig", n_rand=10)
    b = lazyact.activity(df, "CytoSig", n_rand=10)
    np.testing.assert_array_equal(np.asarray(a.zscore), np.asarray(b.zscore))


@pytest.fixture(scope="module")
def sparse_ly86():
    df = pd.read_csv(LY86, sep=r"\s+", engine="python")
    D = df.to_numpy().copy()
    D[np.abs(D) < 0.3] = 0.0  # ~34% dense
    return df.index, df.columns, D


@pytest.mark.parametrize("fmt", ["csc", "csr"])
@pytest.mark.parametrize("preprocess", ["none", "center"])
def test_sparse_in_flight_equals_dense(sparse_ly86, fmt, preprocess):
    import scipy.sparse as sp

    genes, samples, D = sparse_ly86
    dense = lazyact.activity(pd.DataFrame(D, index=genes, columns=samples), "CytoSig", preprocess=preprocess,
                             n_rand=200)
    S = sp.csc_matrix(D) if fmt == "csc" else sp.csr_matrix(D)
    act = lazyact.activity(S, "CytoSig", genes=genes, samples=samples, preprocess=preprocess, n_rand=200,
                           chunks=(20, 2))
    assert act.blocks._use_sparse()
    for key in [(slice(None), slice(None)), (slice(3, 9), 4), ([0, 42], slice(None, None, 2))]:
        np.testing.assert_allclose(act.zscore[key], dense.zscore[key], rtol=0, atol=1e-8)
        np.testing.assert_allclose(act.beta[key], dense.beta[key], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(act.pvalue[key], dense.pvalue[key])


def test_sparse_constant_column_gives_zeros(sparse_ly86):
    import scipy.sparse as sp

    genes, samples, D = sparse_ly86
    D = D.copy()
    D[:, 2] = 0.0
    act = lazyact.activity(sp.csc_matrix(D), "CytoSig", genes=genes, samples=samples, n_rand=50)
    assert (act.zscore[:, 2] == 0).all() and (act.pvalue[:, 2] == 1).all() and (act.se[:, 2] == 0).all()
