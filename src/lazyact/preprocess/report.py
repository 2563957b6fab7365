"""Warnings that report what preprocessing did to the input, raised at the user's own call.

Where SecActPy has no valid answer, or changes the input on the way, lazyact says so once:

* :class:`EmptySamplesWarning` -- cells or spots with no counts (library size 0) got NaN
  statistics and were left out of the gene means (:func:`warn_empty`);
* :class:`SignatureNaNWarning` -- NaN entries of a signature were handled as SecActPy's
  NaN-skipping column scaling does (:func:`lazyact.preprocess.signature.scale_signature`).

Both are ``UserWarning`` subclasses, so ``warnings.simplefilter("ignore", EmptySamplesWarning)``
silences one kind without hiding others. :func:`warn_user` points the warning at the first
frame outside lazyact (the user's ``lazyact.activity(...)`` line), however deep it was raised.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["EmptySamplesWarning", "SignatureNaNWarning", "check_valid", "preview_names", "warn_empty", "warn_user"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


class EmptySamplesWarning(UserWarning):
    """Some samples have no counts: their statistics are NaN (see :func:`warn_empty`)."""


class SignatureNaNWarning(UserWarning):
    """A signature has NaN entries, handled as SecActPy's NaN-skipping scaling does."""


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside the lazyact package.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_user("look", EmptySamplesWarning)
    >>> w[0].category.__name__, str(w[0].message)
    ('EmptySamplesWarning', 'look')
    """
    level, frame = 2, sys._getframe(1)  # stacklevel 2 = our caller
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def preview_names(names: Sequence, k: int = 5) -> str:
    """The first ``k`` names, quoted and comma-separated, with ``", ..."`` when there are more.

    >>> preview_names(["a", "b", "c"], 2)
    "'a', 'b', ..."
    """
    items = [repr(str(x)) for x in list(names[:k])]
    return ", ".join(items) + (", ..." if len(names) > k else "")


def warn_empty(valid: np.ndarray, names: Sequence, what: str = "cells",
               why: str = "no counts over the kept genes (library size 0)") -> None:
    """One :class:`EmptySamplesWarning` naming the samples that ``valid`` marks False (none: no warning).

    Parameters
    ----------
    valid : numpy.ndarray of bool
        One flag per sample; False = no valid answer (NaN statistics).
    names : sequence
        The sample names (the first few invalid ones are quoted).
    what : str
        What the samples are, plural ("cells", "spots", "groups").
    why : str
        Why they have no answer.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_empty(np.array([True, False, False]), ["c0", "c1", "c2"])
    >>> print(w[0].message)  # doctest: +NORMALIZE_WHITESPACE
    2 of 3 cells have no counts over the kept genes (library size 0) ('c1', 'c2'): their statistics
    are NaN and they are left out of the gene means (act.valid is False for them). SecActPy has no
    valid answer for them; to silence this, leave them out beforehand (e.g. adata[act.valid]).
    """
    valid = np.asarray(valid, dtype=bool)
    bad = np.flatnonzero(~valid)
    if bad.size == 0:
        return
    names = list(names)
    shown = preview_names([names[i] for i in bad[:6]])
    warn_user(
        f"{bad.size} of {valid.size} {what} have {why} ({shown}): their statistics are NaN and they are "
        f"left out of the gene means (act.valid is False for them). SecActPy has no valid answer for them; "
        f"to silence this, leave them out beforehand (e.g. adata[act.valid]).",
        EmptySamplesWarning,
    )


def check_valid(valid: np.ndarray, names: Sequence, what: str = "cells",
                why: str = "no counts over the kept genes (library size 0)") -> np.ndarray:
    """The valid mask, after one :func:`warn_empty` about the others; no valid sample at all is an error.

    >>> check_valid(np.array([False, False]), ["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: all 2 cells have no counts over the kept genes (library size 0): there is nothing to compute. Check that the input holds counts (genes x cells) and the right layer.
    """
    valid = np.asarray(valid, dtype=bool)
    if valid.size and not valid.any():
        raise ValueError(f"all {valid.size} {what} have {why}: there is nothing to compute. "
                         "Check that the input holds counts (genes x cells) and the right layer.")
    warn_empty(valid, names, what, why)
    return valid
