"""Case records in the store: open, list, show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rogatory.cases.model import CaseStatus, HandlingCode, check_reference, parse_offence
from rogatory.errors import ConflictError, NotFoundError, UsageError
from rogatory.store.schema import CaseRow, EvidenceItemRow


@dataclass(frozen=True)
class CaseView:
    """A case as shown to users and in ``--json`` output (times are UTC ISO 8601)."""

    reference: str
    title: str
    offences: list[str]
    handling_code: str
    status: str
    created_at: str
    updated_at: str
    evidence_items: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _view(row: CaseRow, items: int) -> CaseView:
    return CaseView(
        row.reference,
        row.title,
        list(row.offences),
        row.handling_code,
        row.status,
        row.created_at.isoformat(),
        row.updated_at.isoformat(),
        items,
    )


def open_case(
    session: Session,
    reference: str,
    title: str,
    offences: list[str],
    handling_code: str,
) -> CaseView:
    """Open a new case.

    Raises:
        UsageError: invalid reference, empty title, unknown offence or handling code.
        ConflictError: a case with this reference exists.
    """
    ref = check_reference(reference)
    if not title.strip():
        raise UsageError("case title is empty", "give --title 'what the case is about'")
    codes = sorted({parse_offence(o) for o in offences}, key=lambda c: int(c[3:]))
    tlp = HandlingCode.parse(handling_code)
    if session.scalar(select(CaseRow.id).where(CaseRow.reference == ref)) is not None:
        raise ConflictError(f"case {ref} already exists", f"see it with: rogatory case show {ref}")
    now = dt.datetime.now(dt.UTC)
    row = CaseRow(
        reference=ref,
        title=title.strip(),
        offences=codes,
        handling_code=tlp.value,
        status=CaseStatus.OPEN.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return _view(row, 0)


def get_case_row(session: Session, reference: str) -> CaseRow:
    """The case row for ``reference``.

    Raises:
        NotFoundError: no such case.
    """
    row = session.scalar(select(CaseRow).where(CaseRow.reference == reference))
    if row is None:
        raise NotFoundError(f"no case {reference!r}", "list cases with: rogatory case list")
    return row


def show_case(session: Session, reference: str) -> CaseView:
    """One case. Raises :class:`NotFoundError` if absent."""
    row = get_case_row(session, reference)
    n = session.scalar(select(func.count()).where(EvidenceItemRow.case_id == row.id)) or 0
    return _view(row, n)


def list_cases(session: Session) -> list[CaseView]:
    """All cases, newest first."""
    counts: dict[int, int] = {
        case_id: n
        for case_id, n in session.execute(
            select(EvidenceItemRow.case_id, func.count()).group_by(EvidenceItemRow.case_id)
        )
    }
    rows = session.scalars(select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id.desc()))
    return [_view(r, counts.get(r.id, 0)) for r in rows]
