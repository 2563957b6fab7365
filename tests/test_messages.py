"""Advice that runs: every hint in an error message is followed here, and must work."""
from __future__ import annotations

import gzip
import importlib.metadata
import io
import logging
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import lazyact
import lazyact.signatures as signatures
from lazyact.cli import main
from lazyact.demo import example_path

README = Path(__file__).resolve().parent.parent / "README.md"
N_RAND = 10


def _message(exc: pytest.ExceptionInfo) -> str:
    return str(exc.value.args[0]) if exc.value.args else str(exc.value)


@pytest.fixture(scope="module")
def bulk() -> pd.DataFrame:
    """A genes x samples bulk table (the bundled example, 3 samples)."""
    return lazyact.pipeline.read_expression_table(example_path()).iloc[:, :3]


# --------------------------------------------------------------------------- transposed input
def test_transposed_dataframe_and_anndata_advice_runs(bulk, tmp_path):
    with pytest.raises(ValueError, match="looks transposed") as exc:
        lazyact.activity(bulk.T, "CytoSig", n_rand=N_RAND)
    msg = _message(exc)
    assert "orientation=" not in msg and "lazyact.activity(data.T, ...)" in msg
    assert lazyact.activity(bulk.T.T, "CytoSig", n_rand=N_RAND).shape == (43, 3)  # data.T of what was passed

    counts = lazyact.demo.single_cell(60)
    wrong = counts.T.copy()  # genes as obs: transposed
    with pytest.raises(ValueError, match="looks transposed") as exc:
        lazyact.activity(wrong, "CytoSig", preprocess="scrnaseq", n_rand=N_RAND)
    assert "lazyact.activity(adata.T, ...)" in _message(exc)
    assert lazyact.activity(wrong.T, "CytoSig", preprocess="scrnaseq", n_rand=N_RAND).shape == (43, 60)

    path = tmp_path / "wrong.h5ad"
    wrong.write_h5ad(path)
    with pytest.raises(ValueError, match="looks transposed") as exc:
        lazyact.activity(path, "CytoSig", preprocess="scrnaseq", n_rand=N_RAND)
    assert "anndata.read_h5ad(path).T" in _message(exc)
    fixed = anndata.read_h5ad(path).T
    assert lazyact.activity(fixed, "CytoSig", preprocess="scrnaseq", n_rand=N_RAND).shape == (43, 60)


def test_transposed_table_on_the_command_line_advice_runs(bulk, tmp_path, capsys):
    path = tmp_path / "samples_by_genes.tsv"
    bulk.T.to_csv(path, sep="\t")
    assert main(["run", str(path), "-s", "CytoSig", "--n-rand", str(N_RAND), "-o", str(tmp_path / "x.h5"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "looks transposed" in err and "--orientation" not in err
    command = re.search(r"\((pandas\.read_csv\(path.*?\.to_csv\(new_path, sep='\\t'\))\)", err).group(1)
    new_path = tmp_path / "genes_by_samples.tsv"
    eval(command, {"pandas": pd, "path": path, "new_path": new_path})  # the command the message gives
    assert main(["run", str(new_path), "-s", "CytoSig", "--n-rand", str(N_RAND), "-o", str(tmp_path / "x.h5"),
                 "-q"]) == 0


# --------------------------------------------------------------------------- gene names
def _tenx_folder(tmp_path: Path, adata: anndata.AnnData) -> Path:
    """A Cell Ranger matrix folder (matrix.mtx.gz, features.tsv.gz, barcodes.tsv.gz) of ``adata``."""
    folder = tmp_path / "filtered_feature_bc_matrix"
    folder.mkdir()
    ids = [f"ENSG{i:011d}" for i in range(adata.n_vars)]
    buf = io.BytesIO()
    scipy.io.mmwrite(buf, sp.csr_matrix(adata.X).T.tocoo().astype(np.int64))
    (folder / "matrix.mtx.gz").write_bytes(gzip.compress(buf.getvalue()))
    features = "".join(f"{i}\t{g}\tGene Expression\n" for i, g in zip(ids, adata.var_names))
    (folder / "features.tsv.gz").write_bytes(gzip.compress(features.encode()))
    (folder / "barcodes.tsv.gz").write_bytes(gzip.compress("".join(f"{c}\n" for c in adata.obs_names).encode()))
    return folder


def test_gene_column_auto_finds_scanpy_gene_symbols_and_lists_var_columns(tmp_path, capsys):
    import scanpy as sc

    counts = lazyact.demo.single_cell(80)
    adata = sc.read_10x_mtx(_tenx_folder(tmp_path, counts), var_names="gene_ids")  # scanpy: var["gene_symbols"]
    assert "gene_symbols" in adata.var and adata.var_names[0].startswith("ENSG")
    path = tmp_path / "tenx.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "a.h5"
    opts = ["-s", "CytoSig", "--preprocess", "scrnaseq", "--n-rand", str(N_RAND), "-q", "-o"]
    assert main(["run", str(path), *opts, str(out), "--gene-column", "auto"]) == 0
    assert lazyact.open(out).shape == (43, 80)

    renamed = adata.copy()
    renamed.var = renamed.var.rename(columns={"gene_symbols": "symbols_v2"})
    other = tmp_path / "renamed.h5ad"
    renamed.write_h5ad(other)
    assert main(["run", str(other), *opts, str(tmp_path / "b.h5"), "--gene-column", "auto"]) == 1
    err = capsys.readouterr().err
    assert "var columns: ['symbols_v2', 'feature_types']" in err and "--gene-column COLUMN" in err
    assert main(["run", str(other), *opts, str(tmp_path / "b.h5"), "--gene-column", "symbols_v2"]) == 0  # advice
    # gene_column='var_names': the Ensembl IDs as they are, for a signature written in Ensembl IDs
    with pytest.raises(ValueError, match="gene_column='var_names'") as exc:
        lazyact.activity(renamed, "CytoSig", preprocess="scrnaseq", n_rand=N_RAND)
    sig = lazyact.load_signature("CytoSig")
    by_id = sig.rename(index=dict(zip(counts.var_names, renamed.var_names)))
    act = lazyact.activity(renamed, by_id, preprocess="scrnaseq", gene_column="var_names", n_rand=N_RAND)
    assert act.shape == (43, 80) and "--gene-column var_names" in _message(exc)


# --------------------------------------------------------------------------- proteins
def test_unknown_protein_suggests_close_names():
    act = lazyact.activity(example_path(), "CytoSig", n_rand=N_RAND)
    with pytest.raises(KeyError) as exc:
        act.zscore.loc["TNF"]
    suggestion = re.search(r"did you mean '([^']+)'", _message(exc)).group(1)
    assert suggestion == "TNFA"
    assert act.zscore.loc[suggestion].shape == (5,)  # the advice runs
    with pytest.raises(KeyError, match="did you mean 'IL6'"):
        act.pvalue.loc[["IL6", "il6"], :]
    from lazyact.viz._source import unknown_protein_message

    assert unknown_protein_message("TNF", act.proteins) == "unknown protein 'TNF'; did you mean 'TNFA'?"


# --------------------------------------------------------------------------- optional dependencies
@pytest.mark.parametrize("module,call", [
    ("dask", "act.zscore.to_dask()"),
    ("anndata", "act.to_anndata()"),
    ("xarray", "act.to_xarray()"),
])
def test_missing_optional_dependency_names_the_extra(module, call):
    script = textwrap.dedent(f"""
        import sys
        sys.modules[{module!r}] = None  # as if it were not installed
        import lazyact
        from lazyact.demo import example_path
        act = lazyact.activity(example_path(), "CytoSig", n_rand=5)
        try:
            {call}
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    extra = re.search(r"pip install 'lazyact\[(\w+)\]'", out.stdout).group(1)
    # the advice: that extra exists and installs the module
    assert extra in importlib.metadata.metadata("lazyact").get_all("Provides-Extra")
    reqs = [r for r in importlib.metadata.requires("lazyact") if f'extra == "{extra}"' in r]
    assert any(r.startswith(module) for r in reqs), reqs


# --------------------------------------------------------------------------- SecAct
def test_secact_hint_points_to_fetch_secact_and_it_works(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(signatures.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as exc:
        lazyact.load_signature("SecAct")
    msg = _message(exc)
    assert "lazyact.signatures.fetch_secact()" in msg and "pip install secactpy" not in msg
    # a wheel with the layout of secactpy's (made here: the test runs offline); fetch_secact(wheel=...) as advised
    small = lazyact.load_signature("CytoSig").iloc[:, :4]
    wheel = tmp_path / "secactpy-0.3.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("secactpy/data/SecAct.tsv.gz", gzip.compress(small.to_csv(sep="\t").encode()))
    got = signatures.fetch_secact(wheel=wheel)
    assert got == tmp_path / ".cache" / "lazyact" / "SecAct.tsv.gz"
    assert lazyact.load_signature("SecAct").shape == small.shape  # found from now on


# --------------------------------------------------------------------------- README tour and -v
def test_readme_tour_names_the_extras_it_needs():
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A tour"):text.index("## Exactness")]
    extras = re.search(r"pip install \"\.\[([\w,-]+)\]\"", tour).group(1).split(",")
    provided = importlib.metadata.metadata("lazyact").get_all("Provides-Extra")
    assert set(extras) <= set(provided)
    reqs = [r for r in importlib.metadata.requires("lazyact") if any(f'extra == "{e}"' in r for e in extras)]
    for module in ("fastplotlib", "dask", "scanpy", "anndata"):  # what the tour's lines import
        assert any(r.startswith(module) for r in reqs), module


def test_verbose_shows_the_decisions(tmp_path, capsys):
    from conftest import DATA

    out = tmp_path / "v.h5"
    assert main(["run", str(DATA / "sc_synth_cytosig.h5ad"), "-s", "CytoSig", "--preprocess", "scrnaseq",
                 "--n-rand", str(N_RAND), "-o", str(out), "-q", "-v"]) == 0
    err = capsys.readouterr().err
    assert "lazyact: input: H5ADSource" in err and "matrix 'X'" in err
    assert "of the signature's 4881 genes are in the expression" in err
    assert "preprocess='scrnaseq': per cell log2" in err
    assert main(["-v", "info", str(out)]) == 0
    assert logging.getLogger("lazyact").handlers == []  # removed after the command
    assert main(["run", str(DATA / "sc_synth_cytosig.h5ad"), "-s", "CytoSig", "--n-rand", str(N_RAND),
                 "--preprocess", "scrnaseq", "-o", str(tmp_path / "q.h5"), "-q"]) == 0
    assert "lazyact: input" not in capsys.readouterr().err  # quiet without -v
