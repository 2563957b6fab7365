"""The architecture holds: import-linter's contracts (pyproject.toml) are kept.

Layers ``cli > pipeline, tl, viz > activity > results > views > ranking > fdr >
preprocess > array | ridge | sources | signatures``, no import circle at any depth,
no file format in ``lazyact.array``, nothing importing the public ``lazyact/__init__``.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports() -> str:
    """The ``lint-imports`` of this interpreter's environment (import-linter is in the test extra)."""
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.exists():
        return str(exe)
    found = shutil.which("lint-imports")
    assert found, "lint-imports not found: install the test extra (pip install '.[test]' installs import-linter)"
    return found


def test_import_contracts_are_kept():
    # run from src/ so that the source tree (not an installed copy) is analysed
    res = subprocess.run([lint_imports(), str(ROOT / "pyproject.toml"), "--no-cache"],
                         cwd=ROOT / "src", capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout
