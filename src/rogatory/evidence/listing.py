"""The file list that identifies a multi-file item (a folder, a split EWF image): pure, no I/O.

Documented in docs/EVIDENCE.md so that anyone can recompute it; used at
intake and by offline package verification (which must not need a database).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any


def listing_line(kind: str, relpath: str, value: str, size: int) -> str:
    """One line of the listing: ``<kind> NUL <relpath> NUL <value> NUL <size> LF``."""
    return f"{kind}\0{relpath}\0{value}\0{size}\n"


def listing_digest(entries: Sequence[Any]) -> str:
    """SHA-256 (hex) identifying a multi-file item by its file list.

    Over the entries sorted by ``relpath``, the UTF-8 bytes of one line each:
    ``<kind> NUL <relpath> NUL <sha256 hex | link target | ""> NUL <size> LF``.
    Each entry needs ``kind``, ``relpath``, ``size``, ``link_target`` and either
    ``sha256`` or a ``digests`` mapping.
    """
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda x: x.relpath):
        third = e.sha256 if hasattr(e, "sha256") else e.digests.get("sha256")
        value = third or e.link_target or ""
        h.update(listing_line(e.kind, e.relpath, value, e.size).encode())
    return h.hexdigest()
