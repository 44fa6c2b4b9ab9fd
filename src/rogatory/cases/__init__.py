"""Cases: reference, title, Budapest offence categories, TLP handling code, status."""

from rogatory.cases.model import CaseStatus, HandlingCode, offence_categories
from rogatory.cases.service import CaseView, list_cases, open_case, show_case

__all__ = [
    "CaseStatus",
    "CaseView",
    "HandlingCode",
    "list_cases",
    "offence_categories",
    "open_case",
    "show_case",
]
