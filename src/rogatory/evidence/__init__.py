"""Evidence intake: streaming multi-hash, content-addressed blob store, EWF, verification."""

from rogatory.evidence.acquisition import METHODS, Acquisition
from rogatory.evidence.intake import IntakeOptions, ItemOutcome, take_in

__all__ = ["METHODS", "Acquisition", "IntakeOptions", "ItemOutcome", "take_in"]
