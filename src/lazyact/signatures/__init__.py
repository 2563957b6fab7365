"""Signature matrices (genes x signalling proteins): bundled CytoSig, located SecAct.

``CytoSig`` (4,881 genes x 43 proteins, 1.9 MB) ships with lazyact.  ``SecAct``
(7,919 genes x 1,170 proteins, 80 MB) does not; :func:`load_signature` finds
it, in this order, from

1. the ``LAZYACT_SECACT_PATH`` environment variable (the file or its folder);
2. an installed ``secactpy`` package's ``data/`` folder, located with
   ``importlib.util.find_spec`` (secactpy is *not* imported);
3. ``~/.cache/lazyact/SecAct.tsv.gz``.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["load_signature", "signature_path", "fetch_secact", "BUNDLED", "KNOWN"]

_DATA = Path(__file__).with_name("data")
BUNDLED = {"cytosig": _DATA / "CytoSig.tsv.gz"}
KNOWN = {"cytosig": "CytoSig.tsv.gz", "secact": "SecAct.tsv.gz"}
ENV_VAR = "LAZYACT_SECACT_PATH"

_HOW_TO_GET = (
    "The SecAct signature (SecAct.tsv.gz, 80 MB) is not bundled with lazyact. Fetch it once with\n"
    "    python -c \"import lazyact.signatures; lazyact.signatures.fetch_secact()\"\n"
    "(lazyact.signatures.fetch_secact() downloads the secactpy 0.3.1 wheel with pip, installs nothing, and "
    "keeps SecAct.tsv.gz in ~/.cache/lazyact, where it is found from then on; installing secactpy itself "
    "would downgrade numpy to 1.x). Offline: fetch_secact(wheel='secactpy-0.3.1-py3-none-any.whl') with a "
    f"wheel downloaded elsewhere, set {ENV_VAR}=/path/to/SecAct.tsv.gz, or pass the file as signature=..."
)


def _candidates(filename: str) -> list[Path]:
    out = []
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        out.append(p / filename if p.is_dir() else p)
    spec = importlib.util.find_spec("secactpy")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            out.append(Path(loc) / "data" / filename)
    out.append(Path.home() / ".cache" / "lazyact" / filename)
    return out


def signature_path(name_or_path: str | os.PathLike) -> Path:
    """Resolve a signature name (``"CytoSig"``, ``"SecAct"``, any case) or a path to a file.

    >>> signature_path("CytoSig").name
    'CytoSig.tsv.gz'
    """
    key = str(name_or_path).lower()
    if key in BUNDLED:
        return BUNDLED[key]
    if key in KNOWN:
        tried = _candidates(KNOWN[key])
        for p in tried:
            if p.is_file():
                return p
        raise FileNotFoundError(
            f"signature {name_or_path!r} not found; looked in:\n  "
            + "\n  ".join(str(p) for p in tried) + "\n" + _HOW_TO_GET
        )
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    raise FileNotFoundError(
        f"signature {name_or_path!r} is neither a known name ({', '.join(['CytoSig', 'SecAct'])}) "
        "nor an existing file"
    )


def fetch_secact(dest: str | os.PathLike | None = None, version: str = "0.3.1",
                 wheel: str | os.PathLike | None = None) -> Path:
    """Download the SecAct signature from the secactpy wheel on PyPI (needs network and pip).

    The wheel is fetched with ``pip download --no-deps`` (nothing is
    installed) and only ``secactpy/data/SecAct.tsv.gz`` is kept, by default at
    ``~/.cache/lazyact/SecAct.tsv.gz`` where :func:`load_signature` finds it.

    Parameters
    ----------
    dest : str or path, optional
        Where to keep the file (default ``~/.cache/lazyact/SecAct.tsv.gz``).
    version : str
        secactpy version of the wheel.
    wheel : str or path, optional
        A secactpy wheel already on disk (downloaded elsewhere): nothing is downloaded.

    Returns
    -------
    pathlib.Path
        The signature file.
    """
    dest = Path(dest) if dest else Path.home() / ".cache" / "lazyact" / "SecAct.tsv.gz"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                            "-d", tmp, f"secactpy=={version}"], check=True, capture_output=True, timeout=600)
            wheel = next(Path(tmp).glob("secactpy-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            partial = dest.with_suffix(".partial")
            with zf.open("secactpy/data/SecAct.tsv.gz") as src, open(partial, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.replace(partial, dest)
    return dest


@lru_cache(maxsize=4)
def _read(path: Path, mtime: float, fill_nan: bool) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", index_col=0)
    df.index = df.index.astype(str)
    df.index.name = "gene"
    try:
        df = df.astype(np.float64)
    except ValueError as exc:
        raise ValueError(f"signature file {path} has non-numeric values: {exc}") from None
    n_nan = int(df.isna().to_numpy().sum())
    if n_nan and fill_nan:
        warnings.warn(f"signature {path.name} contains {n_nan} NaN values; filling with 0 (as SecActPy)",
                      RuntimeWarning, stacklevel=3)
        df = df.fillna(0.0)
    return df


def load_signature(name_or_path: str | os.PathLike = "SecAct", fill_nan: bool | None = None) -> pd.DataFrame:
    """Load a signature as a genes x proteins float64 DataFrame.

    Parameters
    ----------
    name_or_path : str or path-like, default "SecAct"
        ``"CytoSig"`` (bundled), ``"SecAct"`` (located, see the module doc) or
        the path of a tab-separated file with genes in the first column
        (optionally gzip-compressed).
    fill_nan : bool, optional
        Fill NaN entries with 0 (with a warning). Default: as SecActPy, which fills
        them in its own signatures (``"CytoSig"``, ``"SecAct"``) but keeps them in a
        file it is given (:func:`lazyact.activity` then skips them when it scales
        the signature, as SecActPy does).

    Returns
    -------
    pandas.DataFrame
        A fresh copy (genes x proteins).

    Examples
    --------
    >>> sig = load_signature("CytoSig")
    >>> sig.shape
    (4881, 43)
    >>> sig.columns[:3].tolist()
    ['Activin A', 'BDNF', 'BMP2']
    """
    path = signature_path(name_or_path)
    if fill_nan is None:
        fill_nan = str(name_or_path).lower() in BUNDLED or str(name_or_path).lower() in KNOWN
    return _read(path, path.stat().st_mtime, bool(fill_nan)).copy()
