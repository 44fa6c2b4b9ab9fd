"""Witnessing over HTTP (C2SP tlog-witness): this node as a witness for partners'
logs, and as a log collecting cosignatures from its own witnesses.

The protocol decisions are pure (:mod:`rogatory.custody.witness_protocol`);
this module keeps the witness state in the node's database, atomically with the
old-size check (one lock per process plus a row lock), records forks as
evidence of misbehaviour, and talks HTTP to witnesses with httpx.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

from rogatory.custody.checkpoint import Checkpoint, verify_cosignature
from rogatory.custody.log import CustodyLog, SignedCheckpoint
from rogatory.custody.merkle import EMPTY_ROOT
from rogatory.custody.note import CosignatureSigner, parse_vkey, split_note
from rogatory.custody.witness_protocol import (
    Decision,
    decide,
    format_add_checkpoint,
    parse_cosignature_response,
)
from rogatory.errors import NoteError, RogatoryError, UsageError, WitnessError
from rogatory.store.database import Database
from rogatory.store.schema import LogCosignatureRow, WitnessedLogRow, WitnessForkRow, WitnessRow

HTTP_TIMEOUT = 10.0


def witness_name(node_id: str) -> str:
    """The key name under which a node cosigns: ``rogatory/<node id>/witness``."""
    return f"rogatory/{node_id}/witness"


class WitnessService:
    """This node acting as a witness for partner logs it trusts."""

    _lock = threading.Lock()

    def __init__(self, db: Database, node_id: str, key: ed25519.Ed25519PrivateKey) -> None:
        self.db = db
        self.signer = CosignatureSigner(witness_name(node_id), key)

    @property
    def vkey(self) -> str:
        """The witness's cosigner vkey (C2SP signed-note, type 0x04)."""
        return self.signer.vkey

    def add_checkpoint(self, body: bytes, now: int | None = None) -> Decision:
        """Handle one add-checkpoint request; persist the new state or the fork evidence."""
        with self._lock, self.db.session(write=True) as s:
            rows = {r.origin: r for r in s.scalars(select(WitnessedLogRow).with_for_update())}
            known = {o: [parse_vkey(v) for v in r.vkeys] for o, r in rows.items()}
            latest = {
                o: (r.size, r.root or EMPTY_ROOT) for o, r in rows.items() if r.root is not None
            }
            decision = decide(
                body, known, latest, cosigners=[self.signer], timestamp=now or int(time.time())
            )
            if decision.ok and decision.checkpoint is not None:
                row = rows[decision.checkpoint.origin]
                row.size = decision.checkpoint.size
                row.root = decision.checkpoint.root_hash
                note = body.split(b"\n\n", 1)[1]
                row.checkpoint = note + decision.body
                row.updated_at = dt.datetime.now(dt.UTC)
            if decision.fork_evidence is not None:
                f = decision.fork_evidence
                known_row = rows.get(f.origin)
                s.add(
                    WitnessForkRow(
                        origin=f.origin,
                        known_checkpoint=known_row.checkpoint if known_row else None,
                        presented=f.submitted_note,
                        detail=f"{f.reason}: cosigned size {f.previous.size}, presented size {f.submitted.size}",
                        detected_at=dt.datetime.now(dt.UTC),
                    )
                )
                logging.getLogger("rogatory.witness").error(
                    "FORK of %s refused and kept as evidence: %s (cosigned size %d, presented size %d); "
                    "see 'rogatory peer list' and tell the partner's administrators",
                    f.origin,
                    f.reason,
                    f.previous.size,
                    f.submitted.size,
                )
            return decision

    def latest(self, origin_hash: str) -> bytes | None:
        """The latest cosigned checkpoint for the origin whose SHA-256 hex is ``origin_hash``."""
        import hashlib

        with self.db.session() as s:
            for r in s.scalars(select(WitnessedLogRow)):
                if hashlib.sha256(r.origin.encode()).hexdigest() == origin_hash:
                    return r.checkpoint
        return None


def trust_log(db: Database, origin: str, vkeys: list[str]) -> None:
    """Witness the log ``origin`` signed by any of ``vkeys`` (adds keys to an existing entry).

    Raises:
        UsageError: a vkey is malformed or names another origin.
    """
    for v in vkeys:
        try:
            verifier = parse_vkey(v)
        except NoteError as exc:
            raise UsageError(
                f"malformed log vkey: {exc.message}",
                "copy it from the partner's 'rogatory node show'",
            ) from None
        if verifier.name != origin:
            raise UsageError(
                f"the vkey is for {verifier.name!r}, not {origin!r}",
                "the log key name must be the origin",
            )
    with db.session(write=True) as s:
        row = s.get(WitnessedLogRow, origin)
        if row is None:
            s.add(
                WitnessedLogRow(
                    origin=origin,
                    vkeys=list(vkeys),
                    size=0,
                    root=None,
                    checkpoint=None,
                    updated_at=dt.datetime.now(dt.UTC),
                )
            )
        else:
            row.vkeys = list(dict.fromkeys([*row.vkeys, *vkeys]))


def add_witness(db: Database, name: str, vkey: str, url: str) -> None:
    """Ask the witness ``name`` at ``url`` (its submission prefix) to cosign this log.

    Raises:
        UsageError: malformed vkey, a key that is not a cosigner key, or a bad URL.
    """
    try:
        verifier = parse_vkey(vkey)
    except NoteError as exc:
        raise UsageError(
            f"malformed witness vkey: {exc.message}",
            "copy it from the partner's 'rogatory node show'",
        ) from None
    if not verifier.is_cosigner:
        raise UsageError(
            "that vkey is not a cosignature (type 0x04) key", "use the partner's witness vkey"
        )
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"witness URL {url!r} is not http(s)", "e.g. https://partner.example:8470/witness"
        )
    if not name or any(c.isspace() for c in name):
        raise UsageError("a witness name must be non-empty without spaces", "")
    with db.session(write=True) as s:
        row = s.get(WitnessRow, name)
        if row is None:
            s.add(
                WitnessRow(
                    name=name, vkey=vkey, url=url.rstrip("/"), added_at=dt.datetime.now(dt.UTC)
                )
            )
        else:
            row.vkey, row.url = vkey, url.rstrip("/")


@dataclass
class WitnessResult:
    """What one witness said about one checkpoint."""

    witness: str
    ok: bool
    outcome: str


def _store_cosignatures(log: CustodyLog, w: WitnessRow, cp: SignedCheckpoint, body: bytes) -> int:
    verifier = parse_vkey(w.vkey)
    text = cp.checkpoint.to_text()
    stored = 0
    for sig in parse_cosignature_response(body):
        if sig.name != verifier.name or sig.key_id != verifier.key_id:
            continue
        ts = verify_cosignature(verifier, text, sig.sig)
        with log.db.session(write=True) as s:
            exists = s.scalar(
                select(LogCosignatureRow.id).where(
                    LogCosignatureRow.size == cp.checkpoint.size,
                    LogCosignatureRow.witness == w.name,
                )
            )
            if exists is None:
                s.add(
                    LogCosignatureRow(
                        size=cp.checkpoint.size,
                        witness=w.name,
                        timestamp=ts,
                        line=sig.line.rstrip("\n"),
                        received_at=dt.datetime.now(dt.UTC),
                    )
                )
                stored += 1
    return stored


def _ask(client: Any, log: CustodyLog, w: WitnessRow, cp: SignedCheckpoint, old: int) -> Any:
    proof = log.consistency_proof(old, cp.checkpoint.size) if 0 < old < cp.checkpoint.size else []
    return client.post(
        f"{w.url}/add-checkpoint",
        content=format_add_checkpoint(old, proof, cp.note),
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )


def collect_cosignatures(
    log: CustodyLog,
    cp: SignedCheckpoint,
    client: Any = None,
    *,
    only_missing: bool = False,
    client_for: Callable[[str], Any] | None = None,
) -> list[WitnessResult]:
    """Ask every configured witness to cosign ``cp``; keep the verified cosignatures.

    ``client_for(witness name)`` (default: ``log.witness_clients``) may return an
    httpx client for that witness — the federation's mutual-TLS client, pinned to
    the peer's certificate — or None to use ``client``.

    With ``only_missing`` (the checkpoint clock), witnesses that already cosigned
    ``cp`` are not asked again, so an idle log does not flood them.

    A witness that already cosigned a larger tree of this log than the database
    holds reveals a restore from an old backup: the log is frozen (appends refused).
    """
    import httpx  # imported here: only checkpointing talks HTTP

    client_for = client_for or log.witness_clients
    own_client = client is None
    http = client or httpx.Client(timeout=HTTP_TIMEOUT, verify=False)  # noqa: S501 - plain witnesses; peers use the pinned mutual-TLS client (client_for)
    results: list[WitnessResult] = []
    try:
        with log.db.session() as s:
            witnesses = list(s.scalars(select(WitnessRow).order_by(WitnessRow.name)))
            done = dict(
                s.execute(
                    select(LogCosignatureRow.witness, func.max(LogCosignatureRow.size)).group_by(
                        LogCosignatureRow.witness
                    )
                ).all()
            )
        for w in witnesses:
            old = int(done.get(w.name) or 0)
            if only_missing and old == cp.checkpoint.size and old > 0:
                results.append(WitnessResult(w.name, True, f"already cosigned size {old}"))
                continue
            try:
                own = client_for(w.name) if client_for is not None else None
                if own is not None:
                    with own:
                        resp = _ask_twice(own, log, w, cp, old)
                else:
                    resp = _ask_twice(http, log, w, cp, old)
                if isinstance(resp, str):
                    results.append(WitnessResult(w.name, False, resp))
                    continue
                if resp.status_code != 200:
                    results.append(
                        WitnessResult(
                            w.name,
                            False,
                            f"refused ({resp.status_code}): {resp.text.strip()[:300]}",
                        )
                    )
                    continue
                n = _store_cosignatures(log, w, cp, resp.content)
                results.append(
                    WitnessResult(
                        w.name,
                        n > 0 or old == cp.checkpoint.size,
                        f"cosigned size {cp.checkpoint.size}",
                    )
                )
            except httpx.HTTPError as exc:
                results.append(WitnessResult(w.name, False, f"unreachable at {w.url}: {exc}"))
            except (RogatoryError, ValueError) as exc:
                msg = exc.message if isinstance(exc, RogatoryError) else str(exc)
                results.append(WitnessResult(w.name, False, f"answered garbage: {msg}"))
    finally:
        if own_client:
            http.close()
    return results


def _ask_twice(http: Any, log: CustodyLog, w: WitnessRow, cp: SignedCheckpoint, old: int) -> Any:
    """Ask once; on 409 (the witness holds another size) ask again from its size.
    Returns the response, or a reason string when the log had to be frozen."""
    resp = _ask(http, log, w, cp, old)
    if resp.status_code == 409:
        theirs = int(resp.text.strip())
        if theirs > cp.checkpoint.size:
            reason = (
                f"witness {w.name} has cosigned size {theirs} of this log, but the database "
                f"holds only {cp.checkpoint.size} entries — restored from an older backup"
            )
            log.freeze(reason)
            return reason
        resp = _ask(http, log, w, cp, theirs)
    return resp


def forks(db: Database) -> list[WitnessForkRow]:
    """Fork evidence recorded by this node's witness, newest first."""
    with db.session() as s:
        return list(s.scalars(select(WitnessForkRow).order_by(WitnessForkRow.id.desc())))


def parse_checkpoint_text(note: bytes) -> Checkpoint:
    """The checkpoint body of a note (no signature check)."""
    try:
        text, _ = split_note(note)
    except NoteError as exc:
        raise WitnessError(f"malformed checkpoint note: {exc.message}", "") from None
    return Checkpoint.parse(text)
