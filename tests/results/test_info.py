"""lazyact info: what a complete or unfinished results file holds, without reading the data."""
from __future__ import annotations

import numpy as np
import pytest
from array_toys import RefusedError

from lazyact.results import file_info, format_info, partial_path, write_hdf5

from .helpers import toy_store


def test_info_of_a_complete_file(tmp_path, ly86):
    out = ly86.to_hdf5(tmp_path / "c.h5", arrays=("zscore", "pvalue"), summary=True, progress=False)
    info = file_info(out)
    assert info["complete"] and info["shape"] == (43, 5) and set(info["arrays"]) == {"zscore", "pvalue"}
    assert info["proteins"] == list(ly86.proteins[:5]) and info["summary"] and info["format"] == "lazyact hdf5"
    text = format_info(info)
    assert "43 proteins x 5 samples" in text and "complete   yes" in text and "n_rand = 100" in text


def test_info_of_an_unfinished_file(tmp_path):
    allowed = np.zeros((7, 23), dtype=bool)
    allowed[:, :10] = True
    store, _ = toy_store(allowed=allowed, threads=1)
    with pytest.raises(RefusedError):
        write_hdf5(store, tmp_path / "u.h5", block=5, progress=False)
    info = file_info(tmp_path / "u.h5")  # finds the .partial
    assert info["path"] == str(partial_path(tmp_path / "u.h5"))
    assert not info["complete"] and (info["blocks_done"], info["n_blocks"]) == (2, 5)
    assert info["format"] == "lazyact hdf5 (unfinished)" and info["block"] == 5
    assert "2 of 5 column blocks written, 40%" in format_info(info)
    with pytest.raises(FileNotFoundError):
        file_info(tmp_path / "none.h5")
