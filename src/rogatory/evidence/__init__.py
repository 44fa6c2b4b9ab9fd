"""Evidence intake: streaming multi-hash, content-addressed blob store, EWF, verification.

The names below are loaded on first use (PEP 562), so that importing
:mod:`rogatory.evidence.prehash` at start-up stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rogatory.evidence.acquisition import METHODS, Acquisition
    from rogatory.evidence.intake import IntakeOptions, ItemOutcome, take_in

_WHERE = {
    "METHODS": "rogatory.evidence.acquisition",
    "Acquisition": "rogatory.evidence.acquisition",
    "IntakeOptions": "rogatory.evidence.intake",
    "ItemOutcome": "rogatory.evidence.intake",
    "take_in": "rogatory.evidence.intake",
}

__all__ = ["METHODS", "Acquisition", "IntakeOptions", "ItemOutcome", "take_in"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rogatory.evidence' has no attribute {name!r}")
