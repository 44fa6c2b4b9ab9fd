"""Offline proofs for courts: the node's tlog-policy, per-event proof files, and their check.

``rogatory log prove`` writes, per custody event ``N``::

    event-N.statement     the signed statement (canonical JSON + note signature), exact bytes
    event-N.salt          the event's salt, 64 hex digits
    event-N.leaf          the exact leaf input: the 32-byte salted commitment
    event-N.tlog-proof    c2sp.org/tlog-proof@v1: index, inclusion path, cosigned checkpoint

plus ``policy.tlog-policy`` (c2sp.org/tlog-policy: the log's key history, its
witnesses and the quorum). With the ``.leaf`` file, any C2SP tlog-proof
verifier checks inclusion; with the statement and salt, ``rogatory log check``
also shows what the event says and that the log key signed it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rogatory.custody.events import EventProof as EventProof  # re-exported
from rogatory.custody.events import commitment
from rogatory.custody.history import cosigned_checkpoints, required_cosignatures
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import open_note
from rogatory.custody.policy import POLICY_FILE as POLICY_FILE  # re-exported
from rogatory.custody.policy import Policy
from rogatory.custody.tlogproof import CheckedProof, TlogProof, check_proof
from rogatory.errors import CustodyError, NoteError
from rogatory.store.schema import LogKeyRow, WitnessRow


def node_policy(log: CustodyLog, quorum: str) -> str:
    """This log's tlog-policy text: every log key it has used (key history), its
    witnesses, and the quorum (``all``, ``none`` or k of the witnesses)."""
    with log.db.session() as s:
        keys = list(s.scalars(select(LogKeyRow).order_by(LogKeyRow.id)))
        witnesses = list(s.scalars(select(WitnessRow).order_by(WitnessRow.name)))
    if not keys:
        raise CustodyError(
            "the custody-log key is not in the key history yet",
            "run 'rogatory log checkpoint' once",
        )
    lines = [f"# tlog-policy for {log.origin}"]
    for k in keys:
        until = k.valid_until.isoformat(timespec="seconds") if k.valid_until else "now"
        lines.append(f"# log key valid {k.valid_from.isoformat(timespec='seconds')} .. {until}")
        lines.append(f"log {k.vkey}")
    for w in witnesses:
        lines.append(f"witness {w.name} {w.vkey} {w.url}".rstrip())
    needed = required_cosignatures(quorum, len(witnesses))
    if needed == 0:
        lines.append("quorum none")
    else:
        lines.append(f"group partners {needed} {' '.join(w.name for w in witnesses)}")
        lines.append("quorum partners")
    text = "\n".join(lines) + "\n"
    Policy.parse(text)  # never hand out a policy we cannot read back
    return text


def event_proofs(log: CustodyLog, indexes: list[int], quorum: str) -> list[EventProof]:
    """Proofs for the events ``indexes``.

    Each proof uses the first checkpoint covering the event that meets the quorum
    (so it also shows the time by which the event was provably logged), else the newest.

    Raises:
        CustodyError: no checkpoint covers an event yet, or an event was erased.
    """
    checkpoints, witnesses = cosigned_checkpoints(log)
    needed = required_cosignatures(quorum, len(witnesses))
    proofs: list[EventProof] = []
    for idx in indexes:
        entry = log.entry(idx)
        if entry.statement is None or entry.salt is None:
            raise CustodyError(f"custody event #{idx} was erased; only its commitment remains", "")
        covering = [c for c in checkpoints if c.size > idx]
        if not covering:
            raise CustodyError(
                f"no checkpoint covers custody event #{idx} yet", "run: rogatory log checkpoint"
            )
        chosen = next((c for c in covering if c.logged_by(needed) is not None), covering[-1])
        proof = TlogProof(idx, log.inclusion_proof(idx, chosen.size), chosen.full_note())
        proofs.append(
            EventProof(idx, entry.statement, entry.salt, entry.commitment, proof.marshal())
        )
    return proofs


def write_proofs(log: CustodyLog, indexes: list[int], out_dir: Path, quorum: str) -> list[Path]:
    """Write proof files for the events ``indexes`` and the policy into ``out_dir``.

    Raises:
        CustodyError: as :func:`event_proofs`.
    """
    proofs = event_proofs(log, indexes, quorum)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / POLICY_FILE]
    written[0].write_text(node_policy(log, quorum))
    for p in proofs:
        for name, data in p.files().items():
            (out_dir / name).write_bytes(data)
            written.append(out_dir / name)
    return written


@dataclass
class CheckedEvent:
    """An event proven offline: what it says and what the proof establishes."""

    event: dict[str, Any]
    proof: CheckedProof
    logged_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "index": self.proof.index,
            "origin": self.proof.checkpoint.origin,
            "checkpoint_size": self.proof.checkpoint.size,
            "log_key": self.proof.log_key_name,
            "cosigned_by": self.proof.witness_timestamps,
            "provably_logged_by": self.logged_by,
        }


def check_event(
    proof_bytes: bytes, statement: bytes, salt: bytes, policy_text: str
) -> CheckedEvent:
    """Check a disclosed custody event offline with public keys only.

    Steps: the commitment to (salt, statement) is the leaf input; then the four
    tlog-proof steps (leaf hash, log signature, witness quorum, inclusion); then
    the statement's own signature under the policy's log keys.

    Raises:
        NoteError, ProofError: naming the step that failed.
    """
    policy = Policy.parse(policy_text)
    proof = TlogProof.unmarshal(proof_bytes)
    checked = check_proof(proof, commitment(salt, statement), policy)
    try:
        opened = open_note(statement, policy.log_verifiers_for(checked.checkpoint.origin))
    except NoteError as exc:
        raise NoteError(
            f"the event statement is not signed by the log's key: {exc.message}",
            "the statement was altered",
        ) from None
    event = json.loads(opened.text)
    stamps = sorted(checked.witness_timestamps.values())
    when = dt.datetime.fromtimestamp(stamps[-1], dt.UTC).isoformat() if stamps else None
    return CheckedEvent(event, checked, when)
