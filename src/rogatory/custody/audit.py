"""``rogatory log verify``: recompute the whole log from its stored entries and check everything.

Streams the entries in index order (memory O(log n)), and for each entry checks
its statement against its commitment, the statement's signature under the log's
key history, its previous-event link, and the Merkle hashes stored for it; at
every checkpoint size the recomputed root must equal the signed root; every
checkpoint signature and witness cosignature must verify. Each problem names
what and where (entry index, checkpoint size, witness).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from rogatory.custody import merkle
from rogatory.custody.checkpoint import Checkpoint, verify_cosignature
from rogatory.custody.events import CustodyEvent, commitment
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import NoteVerifier, open_note, parse_vkey
from rogatory.errors import RogatoryError
from rogatory.store.schema import LogCosignatureRow, LogHashRow, WitnessRow


@dataclass
class AuditReport:
    """Outcome of a full log verification."""

    entries: int = 0
    erased: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "erased": self.erased,
            "checkpoints": self.checkpoints,
            "cosignatures": self.cosignatures,
            "problems": self.problems,
        }


def _fold(stack: list[bytes]) -> bytes:
    if not stack:
        return merkle.EMPTY_ROOT
    h = stack[-1]
    for left in reversed(stack[:-1]):
        h = merkle.node_hash(left, h)
    return h


class _StoredHashStream:
    def __init__(self, log: CustodyLog) -> None:
        self.log = log
        self.next_idx = 0
        self.buffer: list[tuple[int, bytes]] = []

    def take(self) -> tuple[int, bytes] | None:
        if not self.buffer:
            with self.log.db.session() as s:
                self.buffer = [
                    (int(i), bytes(h))
                    for i, h in s.execute(
                        select(LogHashRow.idx, LogHashRow.hash)
                        .where(LogHashRow.idx >= self.next_idx)
                        .order_by(LogHashRow.idx)
                        .limit(20000)
                    )
                ]
            self.buffer.reverse()
            if not self.buffer:
                return None
        item = self.buffer.pop()
        self.next_idx = item[0] + 1
        return item


def key_verifiers(log: CustodyLog) -> list[NoteVerifier]:
    """Note verifiers for every key in the log's key history."""
    return [parse_vkey(k.vkey) for k in log.key_history()]


def verify_log(log: CustodyLog, max_problems: int = 100) -> AuditReport:
    """Check the whole log; never raises for a finding (each becomes a problem line)."""
    report = AuditReport()
    verifiers = key_verifiers(log)
    if not verifiers:
        verifiers = [parse_vkey(log.vkey)] if log.key is not None else []
    checkpoints = {c.size: c for c in log.checkpoints()}
    stack: list[bytes] = []
    stored = _StoredHashStream(log)
    expected = 0
    last_by_subject: dict[str, int] = {}
    tree_ok = True

    def problem(text: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(text)

    for entry in log.iter_entries():
        if entry.idx != expected:
            problem(f"entries {expected}–{entry.idx - 1} are missing from the log (deleted)")
            tree_ok = False
        expected = entry.idx + 1
        report.entries += 1
        if entry.statement is None or entry.salt is None:
            report.erased += 1
        else:
            if commitment(entry.salt, entry.statement) != entry.commitment:
                problem(
                    f"entry {entry.idx}: its statement does not match its commitment (statement edited)"
                )
            else:
                try:
                    opened = open_note(entry.statement, verifiers)
                    ev = CustodyEvent.from_json(json.loads(opened.text))
                    if (
                        ev.event_id != entry.event_id
                        or f"{ev.subject_kind.value}:{ev.subject_id}" != entry.subject
                    ):
                        problem(
                            f"entry {entry.idx}: its index columns disagree with its signed statement (row edited)"
                        )
                    if ev.previous != last_by_subject.get(entry.subject):
                        problem(
                            f"entry {entry.idx}: its statement names event {ev.previous} as the previous one for "
                            f"its subject, but the log has {last_by_subject.get(entry.subject)} "
                            "(entries reordered, removed or inserted)"
                        )
                except RogatoryError as exc:
                    problem(
                        f"entry {entry.idx}: statement signature does not verify under the log's keys ({exc.message})"
                    )
                except ValueError:
                    problem(f"entry {entry.idx}: statement is not a custody event")
        last_by_subject[entry.subject] = entry.idx
        if not tree_ok:
            continue
        produced = [merkle.leaf_hash(entry.commitment)]
        stack.append(produced[0])
        n = entry.idx
        while n & 1:
            right = stack.pop()
            left = stack.pop()
            merged = merkle.node_hash(left, right)
            stack.append(merged)
            produced.append(merged)
            n >>= 1
        for h in produced:
            got = stored.take()
            if got is None:
                problem(
                    f"entry {entry.idx}: the log's stored Merkle hashes end before it (hashes deleted)"
                )
                tree_ok = False
                break
            if got[1] != h:
                problem(
                    f"entry {entry.idx}: its commitment does not match the tree hash stored for it "
                    f"(stored hash {got[0]}; entries reordered, replaced or the tree edited)"
                )
                tree_ok = False
                break
        size = entry.idx + 1
        if tree_ok and size in checkpoints and checkpoints[size].root != _fold(stack):
            problem(
                f"checkpoint of size {size}: its signed root does not match the root recomputed from the entries"
            )

    size = log.size()
    if report.entries != size or expected != size:
        problem(
            f"the log's head says {size} entries, but {report.entries} are stored (truncated or rows deleted)"
        )
    witness_keys: dict[str, NoteVerifier] = {}
    with log.db.session() as s:
        for w in s.scalars(select(WitnessRow)):
            try:
                witness_keys[w.name] = parse_vkey(w.vkey)
            except RogatoryError:
                problem(f"witness {w.name}: its configured vkey is malformed")
        cosigs = list(s.scalars(select(LogCosignatureRow).order_by(LogCosignatureRow.size)))
    for cp in checkpoints.values():
        report.checkpoints += 1
        if cp.size > report.entries:
            problem(
                f"checkpoint of size {cp.size} was signed, but the log holds only {report.entries} entries (truncated)"
            )
        try:
            opened = open_note(cp.note, verifiers)
            parsed = Checkpoint.parse(opened.text)
            if parsed.size != cp.size or parsed.root_hash != cp.root or parsed.origin != log.origin:
                problem(
                    f"checkpoint of size {cp.size}: its stored columns disagree with its signed text"
                )
        except RogatoryError as exc:
            problem(
                f"checkpoint of size {cp.size}: log signature does not verify under the log's keys ({exc.message})"
            )
    for c in cosigs:
        report.cosignatures += 1
        verifier = witness_keys.get(c.witness)
        cp_row = checkpoints.get(c.size)
        if verifier is None or cp_row is None:
            problem(f"cosignature by {c.witness} on size {c.size}: unknown witness or checkpoint")
            continue
        text = cp_row.note.decode().split("\n\n")[0] + "\n"
        try:
            blob = base64.b64decode(c.line.rsplit(" ", 1)[1])[4:]
            verify_cosignature(verifier, text, blob)
        except (RogatoryError, ValueError, IndexError):
            problem(f"cosignature by {c.witness} on checkpoint of size {c.size} does not verify")
    return report
