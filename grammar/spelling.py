""" "Did you mean": the closest of the names a place allows to a name written there."""

from __future__ import annotations

import difflib
from collections.abc import Collection

__all__ = ["suggest"]


def suggest(name: str, candidates: Collection[str]) -> str | None:
    """The closest of *candidates* to *name* (a "did you mean"), or None. Case and ``-``
    for ``_`` do not count (``PER_CHANNEL``, ``per-channel`` -> ``per_channel``)."""
    by_key = {c.lower().replace("-", "_"): c for c in candidates}
    key = name.lower().replace("-", "_")
    if key in by_key:
        return by_key[key]
    match = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
    return by_key[match[0]] if match else None
