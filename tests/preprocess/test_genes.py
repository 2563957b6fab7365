"""SecActPy's gene rules: name clean-up, de-duplication, orientation check, overlap, gene selection."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lazyact.preprocess import (
    check_orientation,
    clean_gene_name,
    dedup_rows,
    overlap_genes,
    row_sums,
    single_cell_genes,
)
from lazyact.sources import as_source

N_GENES, N_SAMPLES = 25, 37
GENES = [f"G{i}" for i in range(N_GENES)]
SAMPLES = [f"c{j}" for j in range(N_SAMPLES)]


@pytest.fixture
def y():
    rng = np.random.default_rng(0)
    return rng.integers(0, 50, size=(N_GENES, N_SAMPLES)).astype(np.float64)


def test_gene_name_cleanup():
    assert clean_gene_name("il6.2") == "IL6"
    assert clean_gene_name("ENSG00000136244.12") == "ENSG00000136244"


def test_overlap_orders():
    expr, sig = ["C", "A", "X", "B", "A"], ["B", "A", "C", "D"]
    assert list(overlap_genes(expr, sig).genes) == ["C", "A", "B"]
    assert list(overlap_genes(expr, sig, "signature").genes) == ["B", "A", "C"]
    assert list(overlap_genes(expr, sig, "sorted").genes) == ["A", "B", "C"]
    ov = overlap_genes(expr, sig, "signature")
    assert ov.expression_rows.tolist() == [3, 1, 0] and ov.signature_rows.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="gene_order"):
        overlap_genes(expr, sig, "random")
    with pytest.raises(ValueError, match="only 1 shared gene.*Ensembl"):
        overlap_genes(["ENSG1", "B"], ["B", "C"])


def test_single_cell_genes_dedup_by_mean_or_sum():
    # rows: IL6 (twice, cleaned), TNF, an all-zero duplicate of TNF, CXCL8
    names = ["IL6", "il6.1", "TNF", "tnf.2", "CXCL8"]
    counts = np.array([[1, 1, 1], [5, 0, 0], [0, 2, 0], [0, 0, 0], [3, 3, 3]], dtype=np.float64)
    src = as_source(pd.DataFrame(counts, index=names))
    rows, kept = single_cell_genes(src, drop_empty=False)
    assert rows.tolist() == [1, 2, 4] and list(kept) == ["IL6", "TNF", "CXCL8"]  # highest mean wins
    rows, kept = single_cell_genes(src, drop_empty=True)  # the spatial path drops empty genes first
    assert rows.tolist() == [1, 2, 4]
    np.testing.assert_array_equal(row_sums(src), counts.sum(axis=1))
    unique = as_source(pd.DataFrame(counts[[0, 2, 4]], index=["A", "B.1", "c"]))
    rows, kept = single_cell_genes(unique, drop_empty=False)
    assert rows.tolist() == [0, 1, 2] and list(kept) == ["A", "B", "C"]


# ----------------------------------------------------------------------------- orientation
def test_check_orientation(y):
    sig = GENES[:10] + ["UNRELATED"]
    good = as_source(pd.DataFrame(y, index=GENES, columns=SAMPLES))
    rep = check_orientation(good, sig)
    assert (rep.gene_overlap, rep.sample_overlap) == (10, 0)
    # a cells x genes table passed as genes x samples: names say so
    flipped = as_source(pd.DataFrame(y.T, index=SAMPLES, columns=[g.lower() for g in GENES]))
    with pytest.raises(ValueError, match="looks transposed"):
        check_orientation(flipped, sig)
    # stated orientation fixes it
    ok = as_source(pd.DataFrame(y.T, index=SAMPLES, columns=GENES), orientation="samples x genes")
    assert check_orientation(ok, sig).gene_overlap == 10
    # never guessed from the shape: a wide genes x samples matrix is fine
    wide = as_source(np.zeros((3, 500)), genes=GENES[:3])
    assert check_orientation(wide, sig).gene_overlap == 3
    # a few sample names that happen to be genes (stimulation experiments) are fine
    stim = as_source(pd.DataFrame(y[:, :3], index=GENES, columns=["G1", "G2", "ctrl"]))
    assert check_orientation(stim, sig).sample_overlap == 2


def test_check_orientation_transposed_numpy(y):
    src = as_source(y.T, genes=SAMPLES, samples=GENES)  # user mixed up the names/orientation
    with pytest.raises(ValueError, match="looks transposed"):
        check_orientation(src, GENES)


# ----------------------------------------------------------------------------- duplicates
def test_dedup_rows_secactpy_rules():
    names = ["IL6", "TNF", "il6", "IL6.2", "CXCL8", "TNF"]
    assert dedup_rows(names).tolist() == [0, 1, 2, 3, 4]
    norm = lambda g: g.upper().split(".")[0]  # SecActPy's symbol clean-up
    assert dedup_rows(names, normalise=norm).tolist() == [0, 1, 4]
    score = np.array([1.0, 5.0, 7.0, 7.0, 0.0, 9.0])
    # highest score wins, ties keep the first, result in original order
    assert dedup_rows(names, keep="max", score=score, normalise=norm).tolist() == [2, 4, 5]
    assert dedup_rows(["A", "A"], keep="max", score=[np.nan, 0.0]).tolist() == [1]
    with pytest.raises(ValueError, match="score"):
        dedup_rows(names, keep="max")
    with pytest.raises(ValueError, match="keep"):
        dedup_rows(names, keep="last")


def test_dedup_rows_matches_secactpy_loop():
    """Same choice as SecActPy's gene_to_best_idx loop (inference.py:1613-1618)."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        names = [f"G{k}" for k in rng.integers(0, 8, size=30)]
        means = rng.integers(0, 4, size=30).astype(float)  # many ties
        best = {}
        for idx, g in enumerate(names):
            if g not in best or means[idx] > means[best[g]]:
                best[g] = idx
        assert dedup_rows(names, keep="max", score=means).tolist() == sorted(best.values())
