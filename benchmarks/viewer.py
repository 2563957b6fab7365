#!/usr/bin/env python
"""Viewer latency benchmark: ``lazyact view`` on a generated single-cell .h5ad (issue #7).

Usage::

    python benchmarks/viewer.py [--cells 200000] [--repeat 3] [--data FILE.h5ad] [--markdown FILE]

Generates (once; kept under ``$TMPDIR/lazyact-bench/``, or at ``--data``) a cells x genes
CSR .h5ad of integer counts: ``--cells`` cells (default 200,000), the 4,881 genes of the
bundled CytoSig signature plus 1,000 others, 300 nonzeros per cell, seed 0
(:func:`cases.make_sparse_h5ad`, the data of ``benchmarks/cases.py write``). Then every
measurement runs in a fresh process (cold imports, cold numba caches loaded from disk,
empty block cache), ``--repeat`` times, and the median (and range) is printed as a
markdown table:

* import time of ``lazyact`` and of ``fastplotlib`` (offscreen), each in its own process;
* the build pass ``lazyact.activity(path, "CytoSig", preprocess="scrnaseq")`` (one
  streaming pass over the counts for cell totals and gene means; n_rand 1000);
* ``lazyact.view(act)`` to the first rendered frame, offscreen
  (``np.asarray(fig.canvas.draw())``), fastplotlib not imported before: the first frame
  drawn, and the first frame showing the computed window (``viewer.wait()`` then draw);
* a cached redraw (nothing computing meanwhile); a scroll to the next window once it was prefetched (``viewer.scroll(1)``
  until drawn, and the viewer's own ``last_latency``: request to graphics updated); a
  cold window far away (``viewer.goto(n // 2)``, ``viewer.wait()``, draw);
* the whole-process wall time and peak RSS of
  ``lazyact view FILE -s CytoSig --preprocess scrnaseq --png out.png``.

Frames are rendered offscreen (``RENDERCANVAS_FORCE_OFFSCREEN=1``): lavapipe on a CPU-only
machine, so draw times are CPU rendering times. Nothing here asserts a time; it is a
benchmark, not a test. ``--cells 20000`` gives a quick run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(SRC))

ENV = dict(os.environ, RENDERCANVAS_FORCE_OFFSCREEN="1", LAZYACT_PROGRESS="0",
           XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", tempfile.gettempdir()),
           PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))

IMPORT_SCRIPT = r"""
import json, sys, time
t = time.perf_counter()
__import__(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

SESSION_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
T = time.perf_counter
path = sys.argv[1]
out = {}
t = T()
import lazyact
out["import_lazyact"] = T() - t
t = T()
act = lazyact.activity(path, "CytoSig", preprocess="scrnaseq")
out["build"] = T() - t
out["fastplotlib_preloaded"] = "fastplotlib" in sys.modules

def draw(fig):
    return np.asarray(fig.canvas.draw())

t = T()
fig = lazyact.view(act, offscreen=True, imgui=False)
v = fig.viewer
out["view_call"] = T() - t
draw(fig)
out["first_frame"] = T() - t
out["first_frame_loading"] = loading = bool(v.loading)
if loading:  # that frame said "loading": the window is shown by the next one after it arrives
    v.wait()
    draw(fig)
out["first_data_frame"] = T() - t
out["window"] = v.window
v.wait(prefetch=True)  # nothing computing in the background while redrawing
redraws = []
for _ in range(5):
    t = T()
    draw(fig)
    redraws.append(T() - t)
out["redraw"] = float(np.median(redraws))

v.wait(prefetch=True)  # the neighbour windows are in the cache
t = T()
v.scroll(1)
ready = not v.loading
draw(fig)
out["scroll_prefetched"] = T() - t
out["scroll_prefetched_ready"] = ready
out["scroll_prefetched_apply"] = v.last_latency

v.wait(prefetch=True)
m = act.shape[1]
t = T()
v.goto(m // 2)
out["goto_far_call"] = T() - t
v.wait()
draw(fig)
out["goto_far"] = T() - t
v.close()
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["shape"] = list(act.shape)
print(json.dumps(out))
"""


def data_file(n_cells: int, path: str | None) -> Path:
    """The benchmark .h5ad, generated when missing."""
    import lazyact
    from cases import make_sparse_h5ad

    p = Path(path) if path else Path(tempfile.gettempdir()) / "lazyact-bench" / f"cells{n_cells}.h5ad"
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        sig = lazyact.load_signature("CytoSig")
        genes = list(sig.index) + [f"GENE{i}" for i in range(1000)]
        t = time.perf_counter()
        tmp = p.with_suffix(".partial")
        make_sparse_h5ad(tmp, n_cells, genes, nnz_per_cell=300, seed=0)
        tmp.rename(p)
        print(f"# generated {p} ({p.stat().st_size / 2**20:.0f} MiB, {n_cells:,} cells x {len(genes):,} genes) "
              f"in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return p


def run_json(args: list[str]) -> dict:
    """Run a Python child; its last stdout line is JSON. Adds wall seconds and peak RSS (MiB)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1]) if lines else {}
    out["wall"] = wall
    return out


def run_cli(path: Path, png: Path) -> dict:
    """Wall time and peak RSS of ``lazyact view PATH ... --png``, in its own process."""
    cmd = [sys.executable, "-m", "lazyact", "view", str(path), "-s", "CytoSig", "--preprocess", "scrnaseq",
           "--png", str(png)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0 or not png.exists():
        raise RuntimeError(f"lazyact view --png failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024}


def fmt(values: list[float], unit: str = "s") -> tuple[str, str]:
    med = statistics.median(values)
    if unit == "MiB":
        return f"{med:,.0f} MiB", f"{min(values):,.0f}-{max(values):,.0f}"
    if med < 0.1:
        return f"{med * 1e3:.1f} ms", f"{min(values) * 1e3:.1f}-{max(values) * 1e3:.1f}"
    return f"{med:.2f} s", f"{min(values):.2f}-{max(values):.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=200_000, help="cells of the generated .h5ad (default 200,000)")
    ap.add_argument("--data", default=None, help="the .h5ad to use (generated there when missing)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per measurement (median reported)")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    ap.add_argument("--json", default=None, help="write the raw measurements to this file")
    args = ap.parse_args(argv)

    path = data_file(args.cells, args.data)
    raw: dict[str, list] = {"imports": [], "sessions": [], "cli": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeat):
            print(f"# round {i + 1}/{args.repeat}", file=sys.stderr)
            raw["imports"].append({mod: run_json(["-c", IMPORT_SCRIPT, mod])["seconds"]
                                   for mod in ("lazyact", "fastplotlib")})
            raw["sessions"].append(run_json(["-c", SESSION_SCRIPT, str(path)]))
            png = Path(d) / f"view{i}.png"
            raw["cli"].append(run_cli(path, png))
    s = raw["sessions"]
    m = s[0]["shape"][1]
    w = s[0]["window"]

    def col(key):
        return [r[key] for r in s]

    rows = [
        ("import lazyact (own process)", fmt([r["lazyact"] for r in raw["imports"]])),
        ("import fastplotlib, offscreen (own process)", fmt([r["fastplotlib"] for r in raw["imports"]])),
        ('build pass: `lazyact.activity(path, "CytoSig", preprocess="scrnaseq")`', fmt(col("build"))),
        ("`lazyact.view(act)` call returns", fmt(col("view_call"))),
        ("`lazyact.view(act)` to first frame drawn, cold"
         + (" (window still loading)" if all(col("first_frame_loading")) else ""), fmt(col("first_frame"))),
        (f"`lazyact.view(act)` to first frame showing the window (43 x {w} computed), cold",
         fmt(col("first_data_frame"))),
        ("cached redraw", fmt(col("redraw"))),
        ("scroll to the prefetched next window: graphics updated (`last_latency`)",
         fmt(col("scroll_prefetched_apply"))),
        ("scroll to the prefetched next window, until drawn", fmt(col("scroll_prefetched"))),
        ("cold window far away (`goto(n // 2)`): call returns", fmt(col("goto_far_call"))),
        ("cold window far away: computed and drawn", fmt(col("goto_far"))),
        ("peak RSS of that session", fmt(col("rss_mb"), "MiB")),
        ("`lazyact view FILE -s CytoSig --preprocess scrnaseq --png out.png`: whole process",
         fmt([r["wall"] for r in raw["cli"]])),
        ("peak RSS of `lazyact view --png`", fmt([r["rss_mb"] for r in raw["cli"]], "MiB")),
    ]
    if not all(col("scroll_prefetched_ready")):
        rows.append(("(note: a prefetched window was not ready when scrolled to)", ("", "")))
    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    head = (f"**Viewer latency**: {m:,} cells ({path.name}), CytoSig (43 proteins), n_rand 1000, window {w}, "
            f"offscreen rendering; {os.cpu_count()} CPUs, {platform.machine()}, Python "
            f"{platform.python_version()}; median of {args.repeat} fresh processes (range); load average {load}.")
    table = [head, "", "| measurement | median | range |", "| --- | ---: | ---: |"]
    table += [f"| {name} | {med} | {rng} |" for name, (med, rng) in rows]
    text = "\n".join(table)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
