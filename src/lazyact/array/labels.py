"""Messages for unknown labels: ``unknown protein 'TNF'; did you mean 'TNFA'?``.

Shared by ``.loc`` of every lazy array (:mod:`lazyact.array.lazyarray`) and the viewer.
"""
from __future__ import annotations

import difflib
from typing import Any, Sequence

__all__ = ["close_labels", "unknown_label_message"]


def close_labels(key: Any, labels: Sequence[Any], n: int = 3) -> list[str]:
    """Up to ``n`` labels close to ``key``: the same in another case, names it starts or is part of,
    then similar spellings.

    Examples
    --------
    >>> close_labels("TNF", ["IL6", "TNFA", "TGFB1"])
    ['TNFA']
    >>> close_labels("il6", ["IL6", "IL1A"])
    ['IL6']
    >>> close_labels("Sample1", ["LY86_Sample1", "LY86_Sample2"])
    ['LY86_Sample1', 'LY86_Sample2']
    """
    names = [str(p) for p in labels]
    text = str(key).upper()
    upper = {name.upper(): name for name in names}
    close = [upper[text]] if text in upper else []
    close += [name for name in names if name.upper().startswith(text) and name not in close][:n]
    close += [name for name in names if text in name.upper() and name not in close][:n]
    close += [upper[u] for u in difflib.get_close_matches(text, list(upper), n=n, cutoff=0.6) if upper[u] not in close]
    return close[:n]


def unknown_label_message(key: Any, labels: Sequence[Any], what: str = "label") -> str:
    """``unknown <what> 'key'; did you mean ...?`` (close labels), else the first few labels.

    Examples
    --------
    >>> unknown_label_message("TNF", ["IL6", "TNFA", "TGFB1"], "protein")
    "unknown protein 'TNF'; did you mean 'TNFA'?"
    >>> unknown_label_message("XYZ", ["A", "B"], "sample")
    "unknown sample 'XYZ' (2 samples: A, B)"
    """
    key = key.item() if hasattr(key, "item") and not isinstance(key, (str, bytes)) else key
    close = close_labels(key, labels)
    if close:
        return f"unknown {what} {key!r}; did you mean {' or '.join(repr(c) for c in close)}?"
    names = [str(p) for p in labels]
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return f"unknown {what} {key!r} ({len(names)} {what}s: {shown})"
