"""This node's custody log, stored in the node's database.

Appends are batched and atomic: every event of a batch is signed, committed,
given a contiguous leaf index and written together with the new Merkle hashes
in one transaction (RFC 9162 §2.1; hashes stored as complete subtrees so any
proof needs O(log n) reads). Checkpoints (C2SP tlog-checkpoint in a signed
note, Ed25519 key named after the origin) are published on demand or on a
clock, never per event.

A node restored from an old backup must not fork its own history: the latest
checkpoint is also written to ``<home>/custody-head`` (outside the database),
and witnesses report the size they cosigned; if either is ahead of the
database, appends are refused until the missing entries are restored.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rogatory.custody import merkle
from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind, commitment
from rogatory.custody.note import NoteSigner, sign_note, vkey_for
from rogatory.errors import CustodyError, NotFoundError
from rogatory.store.database import Database
from rogatory.store.schema import (
    LogCheckpointRow,
    LogEntryRow,
    LogHashRow,
    LogKeyRow,
    LogStateRow,
)

HEAD_FILE = "custody-head"

LOG_ENTRIES = cast(Table, LogEntryRow.__table__)
LOG_HASHES = cast(Table, LogHashRow.__table__)

_PARAM_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
"""Positional placeholder of each DB-API paramstyle in use (sqlite3: qmark; psycopg: pyformat)."""

_LATEST_BY_SUBJECT = (
    "SELECT s.column1, (SELECT max(e.idx) FROM log_entries e WHERE e.subject = s.column1) "
    "FROM (VALUES {rows}) AS s"
)
"""The latest leaf index per subject: one seek of ``ix_log_entries_subject_idx`` each
(``VALUES`` names its column ``column1`` on both SQLite and PostgreSQL)."""

_SUBJECTS_PER_QUERY = 500


def origin_for(node_id: str) -> str:
    """The log origin (and log key name) of a node: ``rogatory/<node id>/custody``."""
    return f"rogatory/{node_id}/custody"


class StoredHashes:
    """:class:`merkle.HashReader` over the ``log_hashes`` table in one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        if not indexes:
            return []
        wanted = sorted(set(indexes))
        found: dict[int, bytes] = {}
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            for i_, h_ in self.session.execute(
                select(LogHashRow.idx, LogHashRow.hash).where(LogHashRow.idx.in_(chunk))
            ):
                found[int(i_)] = bytes(h_)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise CustodyError(
                f"the custody log's stored hash {missing[0]} is missing",
                "the database was altered or truncated; run 'rogatory log verify'",
            )
        return [found[i] for i in indexes]


def latest_by_subject(s: Session, subjects: Collection[str]) -> dict[str, int]:
    """The leaf index of the latest event of each subject (``<kind>:<id>``) that has one.

    This is the ``previous`` link of the next event about the subject. The lookup is
    one query per 500 subjects on the session's DB-API cursor, each subject an index
    seek on ``(subject, idx)``: O(log n), however many events the subject already has.
    A batch of 1,000 events otherwise pays for hundreds of ORM statements.
    """
    if not subjects:
        return {}
    conn = s.connection()
    mark = _PARAM_MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - only sqlite3 and psycopg are supported
        raise CustodyError(f"unsupported DB-API paramstyle {conn.dialect.paramstyle!r}", "")
    wanted = sorted(subjects)
    found: dict[str, int] = {}
    cursor = conn.connection.cursor()
    try:
        for i in range(0, len(wanted), _SUBJECTS_PER_QUERY):
            chunk = wanted[i : i + _SUBJECTS_PER_QUERY]
            rows = ",".join([f"({mark})"] * len(chunk))
            cursor.execute(_LATEST_BY_SUBJECT.format(rows=rows), chunk)
            for subject, idx in cursor.fetchall():
                if idx is not None:
                    found[str(subject)] = int(idx)
    finally:
        cursor.close()
    return found


@dataclass(frozen=True)
class LoggedEvent:
    """An event as appended: its leaf index, id, commitment, statement and salt."""

    index: int
    event: CustodyEvent
    statement: bytes
    salt: bytes
    commitment: bytes


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint of this log with its note (log signature, plus cosignatures if any)."""

    checkpoint: Checkpoint
    note: bytes
    created_at: dt.datetime


class CustodyLog:
    """The node's custody log.

    Args:
        db: the node's database.
        node_id: the node id (the origin is derived from it).
        signing_key: the custody-log Ed25519 key; needed to append and to publish checkpoints.
        home: the node home (for the ``custody-head`` file); ``None`` disables that check.
    """

    def __init__(
        self,
        db: Database,
        node_id: str,
        signing_key: ed25519.Ed25519PrivateKey | None,
        home: Path | None = None,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.origin = origin_for(node_id)
        self.key = signing_key
        self.home = home
        self.witness_clients: Callable[[str], Any] | None = None
        """Pinned HTTP clients for witnesses that are federation peers (set at the edge)."""
        self._signer = NoteSigner.ed25519(self.origin, signing_key) if signing_key else None

    # ------------------------------------------------------------ state

    @property
    def vkey(self) -> str:
        """The C2SP vkey of the current log key (``<origin>+<key id hex>+<base64>``)."""
        if self.key is None:
            raise CustodyError("the custody-log key is not loaded", "unlock the node's keys")
        return vkey_for(self.key, self.origin)

    def _state(self, s: Session, lock: bool = False) -> LogStateRow:
        if lock:
            # A write first: it takes SQLite's write lock (another appender waits instead of
            # racing for the same index) and PostgreSQL's row lock.
            s.execute(update(LogStateRow).where(LogStateRow.id == 1).values(size=LogStateRow.size))
        q = select(LogStateRow).where(LogStateRow.id == 1)
        if lock:
            q = q.with_for_update()
        row = s.scalar(q)
        if row is None:
            row = LogStateRow(id=1, size=0, frozen_reason=None)
            s.add(row)
            s.flush()
        return row

    def ensure_key_registered(self) -> None:
        """Record the current log key in the key history (idempotent)."""
        vkey = self.vkey
        try:
            with self.db.session() as s:
                if s.scalar(select(LogKeyRow.id).where(LogKeyRow.vkey == vkey)) is None:
                    now = dt.datetime.now(dt.UTC)
                    for old in s.scalars(select(LogKeyRow).where(LogKeyRow.valid_until.is_(None))):
                        old.valid_until = now
                    s.add(LogKeyRow(vkey=vkey, valid_from=now, valid_until=None))
        except IntegrityError:
            pass  # another process registered it at the same moment

    def key_history(self) -> list[LogKeyRow]:
        """Every log key this log has used, oldest first."""
        with self.db.session() as s:
            return list(s.scalars(select(LogKeyRow).order_by(LogKeyRow.id)))

    def size(self) -> int:
        """Number of entries in the log."""
        with self.db.session() as s:
            return self._state(s).size

    def frozen_reason(self) -> str | None:
        with self.db.session() as s:
            return self._state(s).frozen_reason

    def freeze(self, reason: str) -> None:
        """Refuse further appends until :meth:`unfreeze` (e.g. after a restore from an old backup)."""
        with self.db.session() as s:
            self._state(s, lock=True).frozen_reason = reason

    def unfreeze(self) -> None:
        with self.db.session() as s:
            self._state(s, lock=True).frozen_reason = None

    # ------------------------------------------------------------ append

    def append(self, events: Sequence[CustodyEvent]) -> list[LoggedEvent]:
        """Sign, commit and append ``events`` atomically, in order.

        Each event's ``previous`` is set to the latest earlier event for the same
        subject on this log.

        Raises:
            CustodyError: no signing key, or appends are frozen (the message says why).
        """
        if self._signer is None:
            raise CustodyError("the custody-log key is not loaded", "unlock the node's keys")
        if not events:
            return []
        with self.db.session() as s:
            return self.append_in(s, events)

    def append_in(self, s: Session, events: Sequence[CustodyEvent]) -> list[LoggedEvent]:
        """As :meth:`append`, inside the caller's transaction (so an evidence item and
        its acquisition event are committed together or not at all)."""
        if self._signer is None:
            raise CustodyError("the custody-log key is not loaded", "unlock the node's keys")
        if not events:
            return []
        state = self._state(s, lock=True)
        self._check_head_file(state.size)
        if state.frozen_reason:
            raise CustodyError(
                f"the custody log refuses appends: {state.frozen_reason}",
                "restore the missing entries (rogatory restore a newer backup); see rogatory log status",
            )
        start = state.size
        last_by_subject = latest_by_subject(
            s, {f"{e.subject_kind.value}:{e.subject_id}" for e in events}
        )
        logged: list[LoggedEvent] = []
        for i, ev in enumerate(events):
            idx = start + i
            subj = f"{ev.subject_kind.value}:{ev.subject_id}"
            ev = dataclasses.replace(ev, previous=last_by_subject.get(subj))
            last_by_subject[subj] = idx
            statement = sign_note(ev.canonical_text(), [self._signer])
            salt = secrets.token_bytes(32)
            logged.append(LoggedEvent(idx, ev, statement, salt, commitment(salt, statement)))
        leaf_hashes = [merkle.leaf_hash(le.commitment) for le in logged]
        new_hashes = merkle.stored_hashes_for_leaves(start, leaf_hashes, StoredHashes(s))
        first_hash = merkle.stored_hash_count(start)
        # Core executemany on the tables: the ORM's bulk-insert bookkeeping is not needed
        # for rows nothing in this session holds.
        s.execute(
            insert(LOG_ENTRIES),
            [
                {
                    "idx": le.index,
                    "commitment": le.commitment,
                    "event_id": le.event.event_id,
                    "event_type": le.event.event_type.value,
                    "subject": f"{le.event.subject_kind.value}:{le.event.subject_id}",
                    "case_ref": le.event.case,
                    "time": le.event.time,
                    "previous": le.event.previous,
                    "statement": le.statement,
                    "salt": le.salt,
                    "erased_at": None,
                }
                for le in logged
            ],
        )
        s.execute(
            insert(LOG_HASHES),
            [{"idx": first_hash + j, "hash": h} for j, h in enumerate(new_hashes)],
        )
        state.size = start + len(logged)
        return logged

    def erase(self, index: int, actor: Actor, reason: str) -> LoggedEvent:
        """Erase an event's content under a retention rule, keeping its commitment.

        The statement and salt are deleted; the leaf (the commitment) stays, so
        every checkpoint and proof remains valid (EU Directive 2016/680 Art. 5,
        time limits for storage). The erasure is itself a custody event.

        Raises:
            NotFoundError: no such event.
            CustodyError: already erased, or appends are refused.
        """
        if not reason.strip():
            raise CustodyError(
                "an erasure needs a reason",
                "name the retention rule, e.g. 'Directive 2016/680 Art. 5'",
            )
        with self.db.session() as s:
            row = s.get(LogEntryRow, index)
            if row is None:
                raise NotFoundError(
                    f"no custody event #{index} in this log", "see rogatory log status"
                )
            if row.statement is None:
                raise CustodyError(f"custody event #{index} is already erased", "")
            kind, _, subject_id = row.subject.partition(":")
            row.statement = None
            row.salt = None
            row.erased_at = dt.datetime.now(dt.UTC)
            [logged] = self.append_in(
                s,
                [
                    CustodyEvent(
                        event_type=EventType.ERASURE,
                        subject_kind=SubjectKind(kind),
                        subject_id=subject_id,
                        node=self.node_id,
                        actor=actor,
                        time=row.erased_at,
                        case=row.case_ref,
                        purpose=reason.strip(),
                        details={"erased_event": index},
                    )
                ],
            )
            return logged

    # ------------------------------------------------------------ checkpoints

    def publish_checkpoint(self, now: dt.datetime | None = None) -> tuple[SignedCheckpoint, bool]:
        """Sign a checkpoint for the current size if the log grew since the last one.

        Returns:
            (the latest checkpoint, whether it was created now)

        Raises:
            CustodyError: no signing key.
        """
        if self._signer is None:
            raise CustodyError("the custody-log key is not loaded", "unlock the node's keys")
        self.ensure_key_registered()
        now = now or dt.datetime.now(dt.UTC)
        with self.db.session() as s:
            state = self._state(s, lock=True)
            latest = s.scalar(
                select(LogCheckpointRow).order_by(LogCheckpointRow.size.desc()).limit(1)
            )
            if latest is not None and latest.size == state.size:
                return self._signed(latest), False
            root = (
                merkle.tree_hash(state.size, StoredHashes(s)) if state.size else merkle.EMPTY_ROOT
            )
            cp = Checkpoint(self.origin, state.size, root)
            note = sign_note(cp.to_text(), [self._signer])
            row = LogCheckpointRow(
                size=state.size, root=root, note=note, vkey=self.vkey, created_at=now
            )
            s.add(row)
        self._write_head_file(cp)
        return SignedCheckpoint(cp, note, now), True

    @staticmethod
    def _signed(row: LogCheckpointRow) -> SignedCheckpoint:
        return SignedCheckpoint(
            Checkpoint.parse(row.note.decode().split("\n\n")[0] + "\n"), row.note, row.created_at
        )

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The newest checkpoint (log signature only; cosignatures are kept beside it)."""
        with self.db.session() as s:
            row = s.scalar(select(LogCheckpointRow).order_by(LogCheckpointRow.size.desc()).limit(1))
            return self._signed(row) if row else None

    def checkpoints(self) -> list[LogCheckpointRow]:
        with self.db.session() as s:
            return list(s.scalars(select(LogCheckpointRow).order_by(LogCheckpointRow.size)))

    def _write_head_file(self, cp: Checkpoint) -> None:
        if self.home is None:
            return
        path = self.home / HEAD_FILE
        current = read_head_file(self.home)
        if current is not None and current[0] >= cp.size:
            return
        tmp = path.with_name(HEAD_FILE + ".tmp")
        tmp.write_text(f"{cp.origin}\n{cp.size}\n{base64.b64encode(cp.root_hash).decode()}\n")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
        fd = os.open(self.home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _check_head_file(self, size: int) -> None:
        """Refuse to append if this node already published a larger checkpoint than
        its database holds (restored from an older backup)."""
        if self.home is None:
            return
        head = read_head_file(self.home)
        if head is not None and head[0] > size:
            raise CustodyError(
                f"the custody log refuses appends: this node published a checkpoint of size {head[0]}, "
                f"but its database holds only {size} entries — it was restored from an older backup",
                "restore a backup taken after that checkpoint; appending now would fork the log",
            )

    # ------------------------------------------------------------ proofs

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        with self.db.session() as s:
            return merkle.inclusion_proof(index, size, StoredHashes(s))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 consistency proof between two sizes of this log."""
        with self.db.session() as s:
            return merkle.consistency_proof(size1, size2, StoredHashes(s))

    def entry(self, index: int) -> LogEntryRow:
        """Entry ``index``. Raises :class:`NotFoundError`."""
        with self.db.session() as s:
            row = s.get(LogEntryRow, index)
            if row is None:
                raise NotFoundError(
                    f"no custody event #{index} in this log", "see rogatory log status"
                )
            return row

    def entries_for_subject(self, subject: str) -> list[LogEntryRow]:
        """Entries about ``subject`` (``<kind>:<id>``), oldest first."""
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(LogEntryRow)
                    .where(LogEntryRow.subject == subject)
                    .order_by(LogEntryRow.idx)
                )
            )

    def iter_entries(self, batch: int = 5000) -> Iterator[LogEntryRow]:
        """All entries in index order, read in batches."""
        start = 0
        while True:
            with self.db.session() as s:
                rows = list(
                    s.scalars(
                        select(LogEntryRow)
                        .where(LogEntryRow.idx >= start)
                        .order_by(LogEntryRow.idx)
                        .limit(batch)
                    )
                )
            if not rows:
                return
            yield from rows
            start = rows[-1].idx + 1


def read_head_file(home: Path) -> tuple[int, bytes] | None:
    """(size, root) from ``<home>/custody-head``, or ``None`` when absent."""
    path = home / HEAD_FILE
    try:
        lines = path.read_text().splitlines()
        return int(lines[1]), base64.b64decode(lines[2])
    except FileNotFoundError:
        return None
    except (IndexError, ValueError) as exc:
        raise CustodyError(
            f"{path} is damaged", "restore it from backup or remove it after checking"
        ) from exc
