"""Entry points: the CLI (with and without Vulkan), a notebook canvas, the docs' examples, doctests."""
from __future__ import annotations

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lazyact
from lazyact.cli import build_parser, _view_argv

from .test_parts import H5AD

DOCS = Path(__file__).resolve().parents[2] / "docs"
NO_VULKAN = {"VK_ICD_FILENAMES": "/nonexistent.json", "VK_DRIVER_FILES": "/nonexistent.json"}


def test_array_option_takes_minus_log10p():
    args = build_parser().parse_args(_view_argv(["view", "x.h5", "--array", "-log10p", "--groupby", "cell_type"]))
    assert (args.array, args.groupby) == ("-log10p", "cell_type")
    assert build_parser().parse_args(["view", "x.h5", "--array=-log10p"]).array == "-log10p"


def _cli(tmp_path, *extra, env=None):
    png = tmp_path / "view.png"
    cmd = [sys.executable, "-m", "lazyact", "view", str(H5AD), "-s", "CytoSig", "--preprocess", "scrnaseq",
           "--n-rand", "20", "--groupby", "cell_type", "--array", "-log10p", "--size", "800x480", *extra]
    if "--png" not in extra and extra[:1] != ("--no-png",):
        cmd += ["--png", str(png)]
    cmd = [c for c in cmd if c != "--no-png"]
    full_env = dict(os.environ, LAZYACT_PROGRESS="0", **(env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=300)
    return proc, png


def test_cli_png_without_vulkan_falls_back_in_one_line(tmp_path):
    """No Vulkan driver: the same panels drawn by matplotlib, one line saying so, no traceback."""
    iio = pytest.importorskip("imageio.v3")
    proc, png = _cli(tmp_path, env=NO_VULKAN)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    notes = [ln for ln in lines if "matplotlib" in ln]
    assert len(lines) <= 2 and lines[-1] == f"wrote {png}"
    if notes:  # wgpu found no usable adapter (the usual case without Vulkan)
        assert "no usable GPU adapter" in notes[0] and "mesa-vulkan-drivers" in notes[0]
    img = iio.imread(png)
    assert img.shape[:2] == (480, 800)
    from .test_readable import find_colorbar

    assert find_colorbar(img, "magma") is not None  # the -log10 p colour bar


NO_VULKAN_SESSION = r"""
import os, tempfile, warnings
import numpy as np, lazyact
from lazyact.viz.viewer import Viewer
rng = np.random.default_rng(0)
T = lazyact.ridge.projection(rng.standard_normal((200, 6)), lambda_=100.0)
act = lazyact.LazyActivity(T, 20, rng.standard_normal((200, 300)))
warnings.simplefilter("ignore")
for _ in range(2):  # the second viewer of the process must not retry wgpu (pygfx keeps a broken device)
    v = Viewer(act, window=100, offscreen=True, prefetch=False)
    print(type(v.panels).__name__, v.frame().shape)
    v.close()
print(lazyact.viz.render_png(act, os.path.join(tempfile.mkdtemp(), "v.png")).shape)
try:
    Viewer(act, renderer="fastplotlib", offscreen=True)
except lazyact.viz.viewer.RendererUnavailable as exc:
    print("refused:", exc)
"""


def test_without_vulkan_every_viewer_of_a_process_falls_back(tmp_path):
    """Once wgpu found no adapter, later viewers of the same process fall back too (no AttributeError)."""
    env = dict(os.environ, LAZYACT_PROGRESS="0", RENDERCANVAS_FORCE_OFFSCREEN="1", **NO_VULKAN)
    proc = subprocess.run([sys.executable, "-c", NO_VULKAN_SESSION], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if lines[0].startswith("FastplotlibPanels"):
        pytest.skip("wgpu found a usable adapter without Vulkan here")
    assert lines[:3] == ["MatplotlibPanels (700, 1200, 4)"] * 2 + ["(700, 1200, 4)"], proc.stdout
    assert lines[3].startswith("refused: no usable GPU adapter") and "mesa-vulkan-drivers" in lines[3]


def test_cli_interactive_without_vulkan_says_what_to_install(tmp_path):
    proc, _ = _cli(tmp_path, "--no-png", env=dict(NO_VULKAN, RENDERCANVAS_FORCE_OFFSCREEN="1"))
    if proc.returncode == 0:
        pytest.skip("wgpu found a usable adapter without Vulkan here")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "mesa-vulkan-drivers" in lines[0] and "--png" in lines[0]


def test_cli_png_with_groupby(renderer, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    proc, png = _cli(tmp_path, "--renderer", renderer, "--protein", "IFNG")
    assert proc.returncode == 0, proc.stderr
    img = iio.imread(png)
    assert img.shape[:2] == (480, 800) and img[..., :3].std() > 20
    proc, _ = _cli(tmp_path, "--renderer", renderer, "--protein", "TNF")
    assert proc.returncode == 1 and "did you mean 'TNFA'" in proc.stderr


def test_notebook_canvas_headless(fpl):
    """In Jupyter the viewer draws into a jupyter_rfb widget; built here without a kernel."""
    pytest.importorskip("jupyter_rfb")
    from .helpers import make_activity

    fig = lazyact.view(make_activity(), canvas="jupyter", window=100, start=200, protein="P3", imgui=False,
                       prefetch=False, size=(640, 400))
    v = fig.viewer
    try:
        assert type(fig.canvas).__name__ == "JupyterRenderCanvas" and v.panels.in_notebook
        import ipywidgets

        assert isinstance(fig.canvas, ipywidgets.DOMWidget)  # what the notebook displays
        assert fig.viewer.panels.output is fig.canvas  # the cell shows this widget
        v.wait()  # the window is read and put on the widget's scene
        np.testing.assert_allclose(v.data, make_activity().zscore[:, 200:300], rtol=1e-6, atol=1e-6)
        assert v.titles()["trace"].startswith("P3 z-score")
    finally:
        v.close()


def _doc_blocks(name: str) -> list[str]:
    text = (DOCS / name).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_viewer_docs_examples_run(renderer, tmp_path, monkeypatch):
    """Every Python example of docs/viewer.md runs, on a real .h5ad with cell types and coordinates."""
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    act = lazyact.activity(str(H5AD), "CytoSig", preprocess="spatial", n_rand=20)
    act.to_hdf5("activity.h5", progress=False)
    real_view = lazyact.view

    def view(obj, *args, **kwargs):  # the docs open windows: offscreen here, closed at once
        kwargs.update(offscreen=True, renderer=renderer, prefetch=False, imgui=False)
        fig = real_view(obj, *args, **kwargs)
        fig.viewer.frame()
        return fig

    monkeypatch.setattr(lazyact, "view", view)
    blocks = _doc_blocks("viewer.md")
    assert len(blocks) >= 3
    ns = {"act": act, "lazyact": lazyact, "__name__": "docs"}
    for block in blocks:
        code = block.replace('"visium.h5ad"', repr(str(H5AD))).replace('"cells.h5ad"', repr(str(H5AD)))
        code = code.replace('signature="SecAct"', 'signature="CytoSig"').replace(
            'preprocess="scrnaseq")', 'preprocess="scrnaseq", n_rand=20)').replace(
            'preprocess="spatial")', 'preprocess="spatial", n_rand=20)')
        code = "\n".join(ln for ln in code.splitlines() if "loop.run()" not in ln)
        if "render_png" in code:
            code = code.replace('"view.png",', f'"view.png", renderer={renderer!r},')
        exec(compile(code, "docs/viewer.md", "exec"), ns)


@pytest.mark.parametrize("module", ["_source", "groups", "layout", "limits", "prefetch", "static", "viewer"])
def test_docstring_examples(module):
    pytest.importorskip("matplotlib").use("Agg")
    mod = importlib.import_module(f"lazyact.viz.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
