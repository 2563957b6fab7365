"""Whether an interrupted output can be continued: written for the same inputs and with the same layout.

Every resumable writer (:mod:`~lazyact.results.hdf5`, :mod:`~lazyact.results.zarr`) stores
the fingerprint of its inputs (with its parts) and a description of its layout in the
unfinished output, and compares them with the new run's before continuing it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..array.sinks import Target, WritePlan
from .files import ResumeMismatchError
from .fingerprint import dumps

__all__ = ["check_resume", "layout_info"]


def layout_info(kind: str, targets: Sequence[Target], plan: WritePlan, compression: str | None,
                chunks: Sequence[int] | None) -> dict:
    """What a resumed output must have been started with (stored as ``lazyact_layout``)."""
    return {
        "format": kind,
        "arrays": list(plan.names),
        "datasets": [t.key for t in targets],
        "shape": list(plan.shape),
        "dtype": plan.dtype.str,
        "compression": compression,
        "block": plan.width,
        "chunks": None if chunks is None else [int(c) for c in chunks],
        "summary": plan.summary,
    }


def check_resume(partial: Path, attrs: Mapping[str, Any], keys: Sequence[str], fingerprint: str,
                 fingerprint_parts: Mapping[str, Any], layout: Mapping[str, Any]) -> None:
    """Refuse to continue ``partial`` (root attributes ``attrs``, top-level ``keys``) for other inputs or options.

    Raises
    ------
    ResumeMismatchError
        Not written by lazyact's resumable writer, written for other inputs (the message
        names the parts of the fingerprint that differ), or with other output options.
    """
    old, old_layout = attrs.get("lazyact_fingerprint"), attrs.get("lazyact_layout")
    if old is None or old_layout is None:
        raise ResumeMismatchError(
            f"'{partial}' was not written by lazyact's resumable writer (top-level keys: {sorted(keys)}); "
            "delete it or pass resume=False to overwrite it")
    if str(old) != fingerprint:
        try:
            parts = json.loads(attrs.get("lazyact_fingerprint_parts", "{}"))
        except ValueError:
            parts = {}
        differ = sorted(k for k in set(parts) | set(fingerprint_parts)
                        if dumps(parts.get(k)) != dumps(fingerprint_parts.get(k)))
        what = f" (differences: {', '.join(differ)})" if differ else ""
        raise ResumeMismatchError(
            f"'{partial}' is an interrupted run on different inputs{what}: refusing to resume. "
            "Delete the .partial file or pass resume=False (CLI: --no-resume) to start over.")
    old_layout = json.loads(old_layout)
    new_layout = json.loads(dumps(layout))
    if old_layout != new_layout:
        differ = sorted(k for k in new_layout if old_layout.get(k) != new_layout[k])
        raise ResumeMismatchError(
            f"'{partial}' was started with other output options ({', '.join(differ)}: "
            f"{ {k: old_layout.get(k) for k in differ} }); run again with the same options, or delete "
            "it / pass resume=False to start over.")
