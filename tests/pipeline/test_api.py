"""lazyact.activity collects every keyword into ActivityOptions and dispatches; nothing is swallowed."""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest

import lazyact
from lazyact.pipeline import ActivityOptions, api, bulk, singlecell


def test_options_are_exactly_the_keywords():
    params = list(inspect.signature(lazyact.activity).parameters)
    assert params[0] == "expression"
    fields = [f.name for f in dataclasses.fields(ActivityOptions)]
    assert params[1:] == fields
    defaults = {n: p.default for n, p in inspect.signature(lazyact.activity).parameters.items()}
    assert {f.name: f.default for f in dataclasses.fields(ActivityOptions)} == {n: defaults[n] for n in fields}


def test_unknown_keyword_is_an_error():
    with pytest.raises(TypeError, match="n_rnd"):
        lazyact.activity(np.zeros((3, 2)), "CytoSig", n_rnd=10)


# each mode with every keyword it accepts (the others are refused, see tests/pipeline/test_option_errors.py)
MODE_OPTIONS = {
    "none": dict(control="c.tsv", paired=True, single_sample=True),
    "center": {},
    "scrnaseq": dict(scale_factor=1e4, min_genes=3),
    "spatial": dict(groupby="ct", control="visium/", scale_factor=1e4, min_genes=3),
    "pseudobulk": dict(groupby="ct", min_genes=3),
}


@pytest.mark.parametrize("preprocess,runner", [("none", "bulk_activity"), ("center", "bulk_activity"),
                                               ("scrnaseq", "single_cell_activity"),
                                               ("spatial", "single_cell_activity"),
                                               ("pseudobulk", "single_cell_activity")])
def test_dispatch_passes_every_option(monkeypatch, preprocess, runner):
    seen = {}

    def fake(expression, options):
        seen["options"] = options
        return "act"

    monkeypatch.setattr(api, runner, fake)
    kwargs = dict(lambda_=3.0, n_rand=7, seed=2, rng="gsl", preprocess=preprocess, group=0.8, gene_order="sorted",
                  backend="numpy", layer="X", gene_column="auto", chunks=(4, 4), cache_bytes=10, sig_filter=True,
                  threads=1, kernel="dense", sparse_mode=True, null="permutation", dtype="float64",
                  **MODE_OPTIONS[preprocess])
    assert lazyact.activity("x.h5ad", "CytoSig", **kwargs) == "act"
    opts = seen["options"]
    assert opts.signature == "CytoSig"
    assert {k: getattr(opts, k) for k in kwargs} == kwargs


def test_bad_preprocess_is_refused_before_reading():
    with pytest.raises(ValueError, match="preprocess must be one of"):
        lazyact.activity("does-not-exist.h5ad", "CytoSig", preprocess="log")


def test_pseudobulk_runs_the_bulk_runner(monkeypatch):
    calls = []
    real = singlecell.run_bulk

    def spy(src, sig, sig_name, options, params=None, **kwargs):
        calls.append((options.preprocess, dict(params)))
        return real(src, sig, sig_name, options, params, **kwargs)

    monkeypatch.setattr(singlecell, "run_bulk", spy)
    rng = np.random.default_rng(0)
    sig = lazyact.load_signature("CytoSig")
    counts = pd.DataFrame(rng.integers(0, 5, size=(sig.shape[0], 6)).astype(float), index=sig.index)
    act = lazyact.activity(counts, "CytoSig", preprocess="pseudobulk", groupby=list("aabbcc"), n_rand=10)
    assert calls == [("none", {"preprocess": "pseudobulk", "sig_filter": False, "min_genes": 0, "groupby": "labels"})]
    assert act.params["preprocess"] == "pseudobulk" and list(act.samples) == ["a", "b", "c"]
    assert bulk.run_bulk is real  # the single-cell module calls the bulk runner, not activity()
