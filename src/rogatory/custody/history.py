"""The custody chain of one subject, each event checked, with the time it was provably logged."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from rogatory.custody import merkle
from rogatory.custody.audit import key_verifiers
from rogatory.custody.checkpoint import verify_cosignature
from rogatory.custody.events import commitment
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import NoteVerifier, open_note, parse_vkey
from rogatory.errors import RogatoryError
from rogatory.store.schema import LogCheckpointRow, LogCosignatureRow, LogEntryRow, WitnessRow


def required_cosignatures(quorum: str, witnesses: int) -> int:
    """Cosignatures a checkpoint needs under the node's quorum setting (``all``, ``none``, or k)."""
    if quorum == "none" or witnesses == 0:
        return 0
    if quorum == "all":
        return witnesses
    return min(int(quorum), witnesses)


@dataclass
class CosignedCheckpoint:
    """One of this log's checkpoints with its verified cosignatures."""

    size: int
    root: bytes
    note: bytes
    created_at: dt.datetime
    cosignatures: dict[str, int] = field(default_factory=dict)  # witness name -> timestamp (s)
    lines: list[str] = field(default_factory=list)

    def full_note(self) -> bytes:
        """The checkpoint note with every cosignature line appended."""
        return self.note + "".join(f"{line}\n" for line in self.lines).encode()

    def logged_by(self, needed: int) -> dt.datetime | None:
        """When ``needed`` witnesses had attested this checkpoint (the needed-th timestamp), or None."""
        if needed == 0:
            return self.created_at
        stamps = sorted(self.cosignatures.values())
        if len(stamps) < needed:
            return None
        return dt.datetime.fromtimestamp(stamps[needed - 1], dt.UTC)


def cosigned_checkpoints(
    log: CustodyLog,
) -> tuple[list[CosignedCheckpoint], dict[str, NoteVerifier]]:
    """Every checkpoint with its cosignatures that verify under the configured witness keys."""
    with log.db.session() as s:
        witnesses = {w.name: parse_vkey(w.vkey) for w in s.scalars(select(WitnessRow))}
        cps = {
            c.size: CosignedCheckpoint(c.size, c.root, c.note, c.created_at)
            for c in s.scalars(select(LogCheckpointRow).order_by(LogCheckpointRow.size))
        }
        for row in s.scalars(select(LogCosignatureRow)):
            cp = cps.get(row.size)
            verifier = witnesses.get(row.witness)
            if cp is None or verifier is None:
                continue
            text = cp.note.decode().split("\n\n")[0] + "\n"
            try:
                blob = base64.b64decode(row.line.rsplit(" ", 1)[1])[4:]
                cp.cosignatures[row.witness] = verify_cosignature(verifier, text, blob)
                cp.lines.append(row.line)
            except (RogatoryError, ValueError, IndexError):
                continue
    return list(cps.values()), witnesses


@dataclass
class EventCheck:
    """One custody event of a chain and the result of checking it."""

    index: int
    event: dict[str, Any] | None
    erased: bool
    checks: dict[str, bool]
    logged_by: str | None
    checkpoint_size: int | None

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event": self.event,
            "erased": self.erased,
            "checks": self.checks,
            "ok": self.ok,
            "provably_logged_by": self.logged_by,
            "checkpoint_size": self.checkpoint_size,
        }


def check_entry(
    log: CustodyLog,
    entry: LogEntryRow,
    verifiers: list[NoteVerifier],
    checkpoints: list[CosignedCheckpoint],
    needed: int,
) -> EventCheck:
    """Check one entry: commitment, statement signature, inclusion in the newest
    checkpoint, and the first checkpoint that carries the witness quorum."""
    checks: dict[str, bool] = {}
    event: dict[str, Any] | None = None
    erased = entry.statement is None or entry.salt is None
    if not erased:
        assert entry.statement is not None and entry.salt is not None
        checks["commitment"] = commitment(entry.salt, entry.statement) == entry.commitment
        try:
            event = json.loads(open_note(entry.statement, verifiers).text)
            checks["signature"] = True
        except (RogatoryError, ValueError):
            checks["signature"] = False
    covering = [c for c in checkpoints if c.size > entry.idx]
    newest = covering[-1] if covering else None
    if newest is not None:
        try:
            proof = log.inclusion_proof(entry.idx, newest.size)
            merkle.verify_inclusion(
                merkle.leaf_hash(entry.commitment), entry.idx, newest.size, proof, newest.root
            )
            checks["inclusion"] = True
        except RogatoryError:
            checks["inclusion"] = False
    first = next((c for c in covering if c.logged_by(needed) is not None), None)
    when = first.logged_by(needed) if first else None
    return EventCheck(
        entry.idx,
        event,
        erased,
        checks,
        when.isoformat() if when else None,
        first.size if first else (newest.size if newest else None),
    )


def subject_history(log: CustodyLog, subject: str, quorum: str) -> list[EventCheck]:
    """The checked custody chain of ``subject`` (``<kind>:<id>``), oldest first."""
    verifiers = key_verifiers(log)
    checkpoints, witnesses = cosigned_checkpoints(log)
    needed = required_cosignatures(quorum, len(witnesses))
    return [
        check_entry(log, e, verifiers, checkpoints, needed)
        for e in log.entries_for_subject(subject)
    ]


@dataclass(frozen=True)
class LoggedBy:
    """When one event was provably logged."""

    index: int
    event_type: str
    subject: str
    time: str
    provably_logged_by: str | None
    checkpoint_size: int | None


def logged_by_times(log: CustodyLog, quorum: str) -> list[LoggedBy]:
    """For every event, the time its first quorum-cosigned checkpoint was attested
    (``None`` while no such checkpoint covers it), in index order."""
    checkpoints, witnesses = cosigned_checkpoints(log)
    needed = required_cosignatures(quorum, len(witnesses))
    attested = [(c.size, c.logged_by(needed)) for c in checkpoints]
    attested = [(size, t) for size, t in attested if t is not None]
    out: list[LoggedBy] = []
    k = 0
    for e in log.iter_entries():
        while k < len(attested) and attested[k][0] <= e.idx:
            k += 1
        when = attested[k][1] if k < len(attested) else None
        out.append(
            LoggedBy(
                e.idx,
                e.event_type,
                e.subject,
                e.time.isoformat(),
                when.isoformat() if when else None,
                attested[k][0] if k < len(attested) else None,
            )
        )
    return out
