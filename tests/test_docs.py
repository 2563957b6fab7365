"""docs/api.md stays in sync with the code: every documented name imports, every public name is documented."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import lazyact

DOCS = Path(__file__).resolve().parent.parent / "docs"
NAME = re.compile(r"`(lazyact(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


def documented_names(path: Path = DOCS / "api.md") -> list[str]:
    """Backticked ``lazyact.xxx`` names of a page (up to the first non-identifier character)."""
    return sorted(set(NAME.findall(path.read_text(encoding="utf-8"))) - {"lazyact"})


def resolve(dotted: str):
    """Import the longest module prefix of ``dotted`` and getattr the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_the_page_documents_something():
    names = documented_names()
    assert len(names) > 50
    assert {"lazyact.open", "lazyact.LazyActivity.to_hdf5", "lazyact.results.write_hdf5"} <= set(names)


@pytest.mark.parametrize("name", documented_names())
def test_documented_name_exists(name):
    resolve(name)  # raises ImportError / AttributeError when the name is gone


def test_every_public_name_is_documented():
    documented = set(documented_names())
    missing = [n for n in lazyact.__all__ if f"lazyact.{n}" not in documented]
    assert not missing, f"add these to docs/api.md: {missing}"


def test_user_guide_names_exist():
    for name in documented_names(DOCS / "user-guide.md"):
        resolve(name)
