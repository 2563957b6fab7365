"""The ``lazyact`` command line.

::

    lazyact run INPUT -s SIGNATURE -o OUT.h5 [options]   compute activity, write a results file
    lazyact run INPUT -o OUT.zarr [--workers N | --scheduler ADDRESS]
                                                         ... a zarr store, written by a dask cluster
    lazyact info OUT.h5                                  shape, parameters, completeness
    lazyact demo [--out FILE]                            CytoSig on the bundled bulk example
    lazyact view INPUT|OUT.h5 [--png FILE]               interactive viewer / a PNG of it

``python -m lazyact ...`` does the same. ``-v`` (before or after the command) prints the
decisions made (input and matrix used, gene overlap, preprocessing, cells without counts,
disk tier) from the ``lazyact`` logger; ``-vv`` adds details. Exit status: 0 success, 1
error (one line on stderr: a full disk, another process writing the same OUT, bad
input...), 2 bad arguments, 3 ``info`` on an unfinished (``.partial``) file, 130
interrupted (Ctrl-C).

``run`` is crash-safe: it writes ``OUT.partial`` next to a journal of the finished
blocks (each block takes a few seconds), under a lock that refuses a second writer of
the same OUT. After an interruption (Ctrl-C, a kill, a full disk, a power cut) the same
command resumes ("resuming OUT: 12 of 40 blocks already saved"); OUT appears only when
complete.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import demo, viz
from ._version import __version__
from .array.distributed import local_cluster
from .pipeline import PREPROCESS_MODES, activity
from .results import ActivityIO, NotResultsFileError, file_info, format_info, open_results
from .ridge import STATISTICS
from .sources.safety import printable
from .sources import is_visium_folder
from .viz.viewer import RendererFallbackWarning, RendererUnavailable

__all__ = ["main", "build_parser"]

_VIEWS = (*STATISTICS, "-log10p")


def _input_options(p: argparse.ArgumentParser, signature_required: bool) -> None:
    g = p.add_argument_group("input and method")
    g.add_argument("-s", "--signature", required=signature_required, default="SecAct",
                   help='"SecAct", "CytoSig" or a genes x proteins table (default SecAct)')
    g.add_argument("--preprocess", choices=PREPROCESS_MODES, default="none",
                   help="none: INPUT is already differential; center: subtract gene means; "
                        "scrnaseq/spatial/pseudobulk: counts (see the user guide). Default none")
    g.add_argument("--n-rand", type=int, default=1000, help="permutations (default 1000; 0 = t-test)")
    g.add_argument("--seed", type=int, default=0, help="permutation seed (default 0)")
    g.add_argument("--rng", choices=("srand", "gsl", "numpy"), default="srand",
                   help="permutation generator (default srand, as R SecAct / SecActPy)")
    g.add_argument("--lambda", dest="lambda_", type=float, default=5e5, help="ridge penalty (default 5e5)")
    g.add_argument("--backend", choices=("auto", "numpy", "cupy"), default="auto", help="compute backend")
    g.add_argument("--compute-dtype", choices=("float64", "float32"), default="float64",
                   help="precision of the dense permutation kernel (default float64, exact; float32 is ~2x "
                        "faster and not exact, see the user guide)")
    g.add_argument("--group", action=argparse.BooleanOptionalAction, default=None,
                   help="signature grouping (default: SecActPy's, on except for CytoSig)")
    g.add_argument("--group-threshold", type=float, default=None, help="grouping correlation threshold (0.9)")
    g.add_argument("--gene-order", choices=("expression", "signature", "sorted"), default="expression")
    g.add_argument("--layer", default=None, help=".h5ad / AnnData matrix: X, raw or a layers key")
    g.add_argument("--gene-column", default=None,
                   help=".h5ad var column with gene names, 'auto' (a symbol column for Ensembl IDs) or 'var_names'")
    g.add_argument("--groupby", default=None, metavar="COLUMN",
                   help="pseudobulk: obs column to sum cells by; spatial: cell-type level (mean of the spots' log "
                        "values per group)")
    o = p.add_argument_group("SecActPy options (see the user guide's table of modes)")
    o.add_argument("--control", default=None, metavar="PATH",
                   help="control profile: with --preprocess none a genes x samples table (INPUT minus the control's "
                        "row means, collapsed to one column 'Change'); with --preprocess spatial control counts "
                        "(Visium folder, .h5ad)")
    o.add_argument("--paired", action="store_true",
                   help="with --control: subtract the control sample of the same name")
    o.add_argument("--single-sample", action="store_true",
                   help="with --control: one result per sample instead of the collapsed 'Change'")
    o.add_argument("--sig-filter", action="store_true",
                   help="keep only the proteins whose name is one of the expression's genes")
    o.add_argument("--scale-factor", type=float, default=None, metavar="S",
                   help="scrnaseq/spatial: library size of log2(x / total * S + 1) (default 1e5)")
    o.add_argument("--min-genes", type=int, default=0, metavar="N",
                   help="count modes: drop cells/spots with fewer than N detected genes first (default 0)")
    g.add_argument("--threads", type=int, default=None, help="worker threads (default: all CPUs)")
    g.add_argument("--no-check-input", dest="check_input", action="store_false",
                   help="do not refuse values that contradict --preprocess (raw counts with none/center, "
                        "log-normalised values with scrnaseq/spatial; judged from the first 1000 genes x 100 samples)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of :func:`main`."""
    ap = argparse.ArgumentParser(prog="lazyact", description="Secreted-protein activity (SecAct / CytoSig), lazily.")
    ap.add_argument("--version", action="version", version=f"lazyact {__version__}")
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="print the decisions made (input, matrix, gene overlap, preprocessing); -vv for more")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="compute activity and write a results file",
                         description="Compute activity of INPUT and write it block by block to OUT "
                                     "(resumable: rerun the same command after an interruption).")
    run.add_argument("input", metavar="INPUT", help="expression: .h5ad, an AnnData .zarr store, .h5 (10x), .npy, "
                                                   "a text table (genes x samples) or a Space Ranger (Visium) folder")
    _verbose_option(run)
    run.add_argument("-o", "--out", required=True, help="results file (.h5, .h5ad with --h5ad) or zarr store (.zarr)")
    _input_options(run, signature_required=True)
    w = run.add_argument_group("output")
    w.add_argument("--h5ad", "--anndata", dest="h5ad", action="store_true",
                   help="AnnData's layout: an .h5ad (also chosen by an .h5ad OUT), or an AnnData zarr store "
                        "with a .zarr OUT")
    w.add_argument("--block", type=int, default=None,
                   help="samples per write block (resume granularity; default: a few seconds of work each for "
                        ".h5/.h5ad, about 64 MiB for .zarr)")
    w.add_argument("--arrays", nargs="+", choices=STATISTICS, default=list(STATISTICS), help="statistics to store")
    w.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="stored dtype")
    w.add_argument("--compression", default=None,
                   help="gzip (default for .h5), lzf, zstd (default for .zarr), blosc or none")
    w.add_argument("--summary", action="store_true", help="also store per-protein mean/std/min/max")
    w.add_argument("--shards", action="store_true",
                   help="zarr: one object per block and statistic (zarr's sharding codec), far fewer files")
    w.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    w.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an interrupted OUT.partial")
    w.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d = run.add_argument_group("cluster (zarr output)").add_mutually_exclusive_group()
    d.add_argument("--workers", type=int, default=None, metavar="N",
                   help="compute and write the blocks on a local dask cluster of N worker processes (loopback), "
                        "the machine's cores shared out between them")
    d.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="join an existing dask.distributed cluster, e.g. tcp://10.0.0.1:8786 (its workers must see "
                        "INPUT and OUT at the same paths)")

    info = sub.add_parser("info", help="describe a results file", description="Shape, parameters and "
                          "completeness of a results file (or of its unfinished .partial).")
    info.add_argument("path", metavar="FILE")
    _verbose_option(info)

    demo = sub.add_parser("demo", help="run CytoSig on the bundled real bulk example",
                          description="CytoSig activity of the bundled Ly86-Fc vs vehicle log fold changes: "
                                      "prints the top proteins per sample and writes a small results file.")
    _verbose_option(demo)
    demo.add_argument("--out", default="lazyact-demo.h5", help="results file (default ./lazyact-demo.h5)")
    demo.add_argument("--n-rand", type=int, default=1000, help="permutations (default 1000)")
    demo.add_argument("--top", type=int, default=5, help="proteins listed per sample (default 5)")

    view = sub.add_parser("view", help="interactive viewer, or a PNG of it", conflict_handler="resolve",
                          description="Show INPUT (expression, computed lazily) or a results file: a heatmap of "
                                      "proteins x a window of cells, its colour bar, the selected protein's trace "
                                      "and, with coordinates, its spatial map. --png draws it offscreen (with "
                                      "matplotlib where wgpu finds no usable GPU adapter).")
    view.add_argument("input", metavar="INPUT", help="expression data or a results file")
    _verbose_option(view)
    _input_options(view, signature_required=False)
    vg = view.add_argument_group("viewer")
    vg.add_argument("--png", default=None, help="render offscreen to this PNG instead of opening a window")
    vg.add_argument("--protein", default=None,
                    help="protein to select (default: the most active one in the first window)")
    vg.add_argument("--start", default="0", help="first cell shown (position, in group order with --groupby, "
                                                 "or name)")
    vg.add_argument("--array", default="zscore", metavar="VIEW",
                    help=f"{', '.join(_VIEWS)} (default zscore; aliases z, p, logp)")
    vg.add_argument("--groupby", default=None, metavar="COLUMN",
                    help="order the cells by this obs column and show it as a coloured track with a legend "
                         "(with --preprocess pseudobulk: the column the cells are summed over; for spatial cell-type "
                         "level, 'lazyact run --groupby' and view its results file)")
    vg.add_argument("--size", default="1200x700", help="picture size WIDTHxHEIGHT in pixels (default 1200x700)")
    vg.add_argument("--renderer", choices=("auto", "fastplotlib", "matplotlib"), default="auto",
                    help="what draws --png (default auto: fastplotlib, else matplotlib)")
    return ap


def _activity(args: argparse.Namespace) -> Any:
    group: Any = args.group
    if args.group_threshold is not None and group is not False:
        group = float(args.group_threshold)
    kwargs: dict[str, Any] = dict(
        lambda_=args.lambda_, n_rand=args.n_rand, seed=args.seed, rng=args.rng, preprocess=args.preprocess,
        group=group, gene_order=args.gene_order, backend=args.backend, layer=args.layer,
        gene_column=args.gene_column, threads=args.threads, dtype=args.compute_dtype, control=args.control,
        paired=args.paired, single_sample=args.single_sample, sig_filter=args.sig_filter,
        scale_factor=args.scale_factor, min_genes=args.min_genes, check_input=args.check_input,
    )
    if args.groupby is not None:
        kwargs["groupby"] = args.groupby
    return activity(args.input, args.signature, **kwargs)


def _cluster(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """A dask client for ``--workers N`` (a local cluster of processes on loopback) or ``--scheduler``."""
    if args.workers is None and args.scheduler is None:
        return contextlib.nullcontext()
    try:
        import distributed  # optional dependency (lazyact[dask]): imported only for a cluster
    except ImportError as exc:
        raise ValueError(f"--workers/--scheduler need dask.distributed: pip install 'lazyact[dask]' ({exc})") from None
    stack = contextlib.ExitStack()
    if args.scheduler is not None:
        stack.enter_context(distributed.Client(args.scheduler))
        return stack
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    cluster = stack.enter_context(local_cluster(args.workers, silence_logs=logging.ERROR))
    stack.enter_context(distributed.Client(cluster))
    return stack


def _plain_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    print(f"lazyact run: warning: {message}", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    is_zarr = out.suffix.lower() == ".zarr"
    if not is_zarr and (args.workers is not None or args.scheduler is not None):
        raise ValueError("--workers/--scheduler write a zarr store in parallel: give OUT a .zarr name (an HDF5 file "
                         "is written by one process)")
    t0 = time.perf_counter()
    with _cluster(args):
        act = _activity(args)
        act.store.tier = None  # the file written is the only pass: no scratch copy of it
        print(f"{act!r}", file=sys.stderr)
        compression = args.compression if args.compression is not None else ("zstd" if is_zarr else "gzip")
        compression = None if compression.lower() == "none" else compression
        opts = dict(dtype=np.dtype(args.dtype), compression=compression, block=args.block, progress=not args.quiet,
                    resume=args.resume, overwrite=args.overwrite)
        with warnings.catch_warnings():  # the writer's notes ("... Starting over.") as one plain line each
            warnings.showwarning = _plain_warning
            if is_zarr:
                fmt = "anndata" if args.h5ad else "lazyact"
                if args.h5ad and list(args.arrays) != list(STATISTICS):
                    print("lazyact: note: --arrays is ignored with --h5ad (X = beta, obsm = se/zscore/pvalue)",
                          file=sys.stderr)
                path = ActivityIO.to_zarr(act, out, arrays=tuple(args.arrays), format=fmt, summary=args.summary,
                                          shards=args.shards, **opts)
            elif args.shards:
                raise ValueError("--shards applies to zarr stores (a .zarr OUT)")
            elif args.h5ad or out.suffix.lower() == ".h5ad":
                if list(args.arrays) != list(STATISTICS):
                    print("lazyact: note: --arrays is ignored with --h5ad (X = beta, obsm = se/zscore/pvalue)",
                          file=sys.stderr)
                if args.summary:
                    print("lazyact: note: --summary applies to .h5 output only", file=sys.stderr)
                path = ActivityIO.to_h5ad(act, out, **opts)
            else:
                path = ActivityIO.to_hdf5(act, out, arrays=tuple(args.arrays), summary=args.summary, **opts)
    dt = time.perf_counter() - t0
    m = act.shape[1]
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else os.path.getsize(path)
    print(f"wrote {path} ({size / 2**20:.1f} MiB, {m:,} samples in {dt:.1f} s)", file=sys.stderr)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    info = file_info(args.path)
    print(format_info(info))
    return 0 if info["complete"] else 3


def _cmd_demo(args: argparse.Namespace) -> int:
    demo.run(out=args.out, n_rand=args.n_rand, top=args.top)
    return 0


_VIZ_HINT = "Install the viewer with:  pip install 'lazyact[viz]'   (fastplotlib, matplotlib, imageio)"


def _view_argv(argv: Sequence[str]) -> list[str]:
    """``--array -log10p`` as ``--array=-log10p``: argparse takes a value starting with '-' for an option."""
    out = list(argv)
    for i in range(len(out) - 1):
        if out[i] == "--array" and out[i + 1].startswith("-") and out[i + 1] not in ("-h", "--help"):
            out[i : i + 2] = [f"--array={out[i + 1]}"]
            break
    return out


def _cmd_view(args: argparse.Namespace) -> int:
    pseudobulk = args.preprocess == "pseudobulk"
    groupby = None if pseudobulk else args.groupby  # pseudobulk: the samples already are the groups
    try:
        if is_visium_folder(args.input):  # a Space Ranger folder is expression data
            raise NotResultsFileError(args.input)
        obj = open_results(args.input)  # a results file (an unfinished one is an error) ...
    except NotResultsFileError:
        build = argparse.Namespace(**vars(args))
        if not pseudobulk:
            build.groupby = None
        obj = _activity(build)  # ... else expression data, computed lazily
    start: Any = int(args.start) if str(args.start).lstrip("-").isdigit() else args.start
    try:
        width, height = (int(t) for t in str(args.size).lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT, e.g. 1200x700; got {args.size!r}") from None
    opts = dict(protein=args.protein, start=start, array=args.array, groupby=groupby, size=(width, height))
    try:
        if args.png:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RendererFallbackWarning)
                viz.render_png(obj, args.png, renderer=args.renderer, **opts)
            for w in caught:
                if issubclass(w.category, RendererFallbackWarning):
                    print(f"lazyact view: note: {w.message}", file=sys.stderr)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)
            print(f"wrote {args.png}", file=sys.stderr)
            return 0
        viz.view(obj, **opts)
        import fastplotlib  # the optional GUI dependency (lazyact[viz]): imported only to show a window

        fastplotlib.loop.run()
    except RendererUnavailable as exc:
        print(f"lazyact view: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"lazyact view: the viewer's dependencies are missing ({exc}). {_VIZ_HINT}", file=sys.stderr)
        return 1
    return 0


_COMMANDS = {"run": _cmd_run, "info": _cmd_info, "demo": _cmd_demo, "view": _cmd_view}


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    """``-v`` also after the command (``lazyact run -v ...``)."""
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="print the decisions made (input, matrix, gene overlap, preprocessing); -vv for more")


def _log_to_stderr(verbose: int) -> logging.Handler | None:
    """Show the ``lazyact`` logger's records on stderr (INFO with -v, DEBUG with -vv)."""
    if not verbose:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lazyact: %(message)s"))
    logger = logging.getLogger("lazyact")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lazyact`` command line; returns the exit status.

    Examples
    --------
    >>> from lazyact.cli import main
    >>> main(["info", "no-such-results.h5"])  # the error goes to stderr
    1
    """
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_view_argv(argv))
    handler = _log_to_stderr(getattr(args, "verbose", 0))
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        saved = [n[len("lazyact: "):] for n in getattr(exc, "__notes__", ()) if n.startswith("lazyact: ")]
        where = f": {saved[0].replace('the same call', 'the same command')}" if saved else \
            " (an unfinished run resumes when started again)"
        print(f"lazyact {args.command}: interrupted{where}", file=sys.stderr)
        return 130
    except (OSError, ValueError, KeyError, TypeError, MemoryError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.strerror and exc.filename is None and len(exc.args) == 2:
            msg = exc.strerror
        print(f"lazyact {args.command}: error: {printable(msg)}", file=sys.stderr)
        return 1
    finally:
        if handler is not None:
            logger = logging.getLogger("lazyact")
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
