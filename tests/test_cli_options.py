"""The SecActPy options as flags of ``lazyact run`` / ``lazyact view`` (issue 15): same results as the API,
stored in the file's parameters, wrong use an error on stderr."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lazyact
from conftest import load_golden, one_blas_thread
from lazyact.cli import main

DATA = Path(__file__).parent / "data"
OPT = DATA / "synth_options.h5ad"
VISIUM = DATA / "visium_synth"


def run(tmp_path, *args):
    out = tmp_path / "out.h5"
    with one_blas_thread():
        code = main(["run", *map(str, args), "-o", str(out), "-q"])
    return code, out


def test_bulk_control_flags_equal_the_golden(tmp_path):
    g = load_golden("bulk_ctrl_files_n100")
    t, c = tmp_path / "treatment.tsv", tmp_path / "control.tsv"
    t.write_text(g["treatment_tsv"])
    c.write_text(g["control_tsv"])
    code, out = run(tmp_path, t, "-s", "CytoSig", "--control", c, "--n-rand", "100")
    assert code == 0
    res = lazyact.open(out)
    assert list(res.samples) == ["Change"]
    np.testing.assert_allclose(np.asarray(res.zscore), g["zscore"], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(np.asarray(res.pvalue), g["pvalue"])
    assert res.params["control"] == str(c) and res.params["paired"] is False


def test_paired_single_sample_sig_filter_flags(tmp_path):
    z = load_golden("bulk_ctrl_inputs")
    g = load_golden("bulk_ctrl_paired_single_n100")
    import pandas as pd
    t, c = tmp_path / "t.csv", tmp_path / "c.csv"
    pd.DataFrame(z["T"], index=z["T_genes"], columns=z["T_samples"]).to_csv(t)
    pd.DataFrame(z["C"], index=z["C_genes"], columns=z["C_samples"]).to_csv(c)
    code, out = run(tmp_path, t, "-s", "CytoSig", "--control", c, "--paired", "--single-sample", "--n-rand", "100")
    assert code == 0
    res = lazyact.open(out)
    assert list(res.samples) == list(g["samples"])
    np.testing.assert_allclose(np.asarray(res.zscore), g["zscore"], rtol=0, atol=1e-10)
    assert (res.params["paired"], res.params["single_sample"], res.params["sig_filter"]) == (True, True, False)


def test_visium_folder_with_spatial_flags(tmp_path):
    g = load_golden("visium_spot_mingenes100_n1000")
    code, out = run(tmp_path, VISIUM, "-s", "CytoSig", "--preprocess", "spatial", "--min-genes", "100",
                    "--n-rand", "1000", "--scale-factor", "1e5", "--sig-filter")
    assert code == 0
    res = lazyact.open(out)
    assert res.params["min_genes"] == 100 and res.params["scale_factor"] == 1e5 and res.params["sig_filter"] is True
    assert res.shape[1] == (g["n_genes_detected"] >= 100).sum()
    assert list(res.samples[:40]) == list(g["barcodes"])
    assert res.spatial.shape == (res.shape[1], 2)
    rows = [list(res.proteins).index(p) for p in g["proteins"] if p in set(res.proteins)]
    assert rows  # sig_filter keeps the proteins named like a gene of the folder
    assert set(res.proteins) <= set(g["proteins"])


def test_spatial_groupby_and_control_flags(tmp_path):
    g = load_golden("st_opt_control_visium_spot_n1000")
    code, out = run(tmp_path, OPT, "-s", "CytoSig", "--preprocess", "spatial", "--control", VISIUM,
                    "--n-rand", "1000")
    assert code == 0
    res = lazyact.open(out)
    np.testing.assert_allclose(res.zscore[:, :40], g["zscore"], rtol=0, atol=1e-8)
    assert res.params["control"] == str(VISIUM)
    g = load_golden("st_opt_celltype_n1000")
    code, out = run(tmp_path, OPT, "-s", "CytoSig", "--preprocess", "spatial", "--groupby", "cell_type",
                    "--n-rand", "1000", "--overwrite")
    assert code == 0
    res = lazyact.open(out)
    assert list(res.samples) == list(g["samples"]) and res.params["groupby"] == "cell_type"
    np.testing.assert_allclose(np.asarray(res.zscore), g["zscore"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("args,message", [
    (["--paired"], "paired=True compares samples with a control profile: pass control="),
    (["--preprocess", "spatial", "--scale-factor", "0"], "scale_factor must be a finite number > 0"),
    (["--preprocess", "spatial", "--groupby", "nope"], "obs has no column 'nope'"),
    (["--preprocess", "spatial", "--min-genes", "100000"], "min_genes=100000 removes every one"),
    (["--sig-filter", "--preprocess", "scrnaseq", "--control", "x.tsv"], "control= is not available"),
])
def test_wrong_use_is_an_error_on_stderr(tmp_path, capsys, args, message):
    code, out = run(tmp_path, OPT, "-s", "CytoSig", "--n-rand", "10", *args)
    assert code == 1 and not out.exists()
    assert message in capsys.readouterr().err


def test_visium_folder_without_matrix_is_an_error(tmp_path, capsys):
    (tmp_path / "empty" / "spatial").mkdir(parents=True)
    code, _ = run(tmp_path, tmp_path / "empty", "-s", "CytoSig", "--preprocess", "spatial")
    assert code == 1 and "no count matrix in Visium folder" in capsys.readouterr().err


def test_view_takes_the_option_flags(tmp_path, monkeypatch):
    import lazyact.viz

    seen = {}

    def fake_render(obj, path, **kw):
        seen.update(obj=obj, **kw)
        Path(path).write_bytes(b"\x89PNG")

    monkeypatch.setattr(lazyact.viz, "render_png", fake_render, raising=False)
    assert main(["view", str(VISIUM), "-s", "CytoSig", "--preprocess", "spatial", "--min-genes", "100",
                 "--sig-filter", "--n-rand", "10", "--png", str(tmp_path / "v.png")]) == 0
    act = seen["obj"]
    assert act.params["min_genes"] == 100 and act.params["sig_filter"] is True
    assert act.spatial.shape == (act.shape[1], 2)
