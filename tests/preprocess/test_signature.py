"""Signature grouping (SecActPy's group_signatures), expansion back to proteins, scaling."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lazyact.preprocess import expand_groups, group_signature, scale_signature, zscore_columns


def test_grouping_merges_correlated_columns_and_expands_sorted():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(50)
    sig = pd.DataFrame({"Zeta": base, "Alpha": base + 1e-3 * rng.standard_normal(50),
                        "Mid": rng.standard_normal(50)}, index=[f"g{i}" for i in range(50)])
    grouped, members = group_signature(sig, 0.9)
    assert members == [["Alpha", "Zeta"], ["Mid"]] or members == [["Mid"], ["Alpha", "Zeta"]]
    assert "Alpha|Zeta" in grouped.columns
    np.testing.assert_array_equal(grouped["Alpha|Zeta"], sig[["Alpha", "Zeta"]].mean(axis=1))
    proteins, rows = expand_groups(members)
    assert list(proteins) == ["Alpha", "Mid", "Zeta"]  # sorted, each pointing at its group's column
    assert [members[r] for r in rows] == [["Alpha", "Zeta"] if p != "Mid" else ["Mid"] for p in proteins]
    ungrouped, single = group_signature(sig, 1.0)
    assert len(single) == 3 and ungrouped.shape == sig.shape


def test_scale_signature_is_the_column_zscore_of_the_shared_rows():
    sig = pd.DataFrame(np.arange(12.0).reshape(4, 3) ** 1.5, index=list("abcd"))
    rows = np.array([3, 0, 2])
    np.testing.assert_array_equal(scale_signature(sig, rows), zscore_columns(sig.to_numpy()[rows]))
