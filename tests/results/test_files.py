"""Files of results: the .partial name and the checks of the destination before any work."""
from __future__ import annotations

import pytest

from lazyact.results import partial_path, write_hdf5
from lazyact.results.files import check_target

from .helpers import toy_store


def test_partial_path():
    assert partial_path("/d/x.h5").as_posix() == "/d/x.h5.partial"


def test_unwritable_destinations(tmp_path):
    store, toy = toy_store()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_hdf5(store, tmp_path / "missing" / "x.h5", progress=False)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        write_hdf5(store, tmp_path / "afile" / "x.h5", progress=False)
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError):
        write_hdf5(store, tmp_path / "adir", progress=False)
    assert toy.ncells == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def test_existing_target_needs_overwrite(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        check_target(tmp_path / "x.h5", overwrite=False)
    check_target(tmp_path / "x.h5", overwrite=True)
    check_target(tmp_path / "new.h5", overwrite=False)
