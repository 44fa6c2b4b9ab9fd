"""Database tables (SQLAlchemy 2 declarative). Changed only through Alembic migrations.

Times are stored as UTC and always come back timezone-aware (UTC).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A ``DateTime`` that accepts only aware datetimes and returns UTC-aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CaseRow(Base):
    """A case: one investigation or one request file."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(Text)
    offences: Mapped[list[str]] = mapped_column(JSON, default=list)
    handling_code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    items: Mapped[list[EvidenceItemRow]] = relationship(back_populates="case")


class EvidenceItemRow(Base):
    """One evidence item: a file, a directory tree or an EWF segment set.

    Only complete intakes are ever stored here: the row and its file list are
    written in one transaction after every byte was hashed (and copied).
    """

    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text)
    in_place: Mapped[bool] = mapped_column(Boolean)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40))
    md5: Mapped[str | None] = mapped_column(String(32))
    blake3: Mapped[str | None] = mapped_column(String(64))
    acquisition: Mapped[dict[str, Any]] = mapped_column(JSON)
    ewf: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_verified_ok: Mapped[bool | None] = mapped_column(Boolean)

    case: Mapped[CaseRow] = relationship(back_populates="items")
    files: Mapped[list[EvidenceFileRow]] = relationship(
        back_populates="item", order_by="EvidenceFileRow.id"
    )


class EvidenceFileRow(Base):
    """One entry of an item's file list (a file, a directory, a symlink, a special file)."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("item_id", "relpath"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: UNIQUE(item_id, relpath) serves lookups by item.
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    relpath: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    link_target: Mapped[str | None] = mapped_column(Text)
    # Not indexed: nothing looks files up by digest, and a random-key index
    # costs a third of the time of recording a large tree (migration 0004).
    sha256: Mapped[str | None] = mapped_column(String(64))
    sha1: Mapped[str | None] = mapped_column(String(40))
    md5: Mapped[str | None] = mapped_column(String(32))
    blake3: Mapped[str | None] = mapped_column(String(64))

    item: Mapped[EvidenceItemRow] = relationship(back_populates="files")


class IntakeRunRow(Base):
    """A journal of intake runs, so an interrupted one is seen and finished later."""

    __tablename__ = "intake_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    paths: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------- custody log


LOG_INDEX = BigInteger().with_variant(Integer(), "sqlite")
"""A leaf or stored-hash index: ``BIGINT`` on PostgreSQL, ``INTEGER`` on SQLite.

On SQLite only a column declared exactly ``INTEGER PRIMARY KEY`` is the table's
rowid; a ``BIGINT`` key gets a second B-tree beside the table, which every append
then writes and every lookup searches first (migration 0008). SQLite's INTEGER
holds 64 bits, so nothing is lost.
"""


class LogStateRow(Base):
    """The log's head (one row): its size, and why appends are frozen if they are."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    frozen_reason: Mapped[str | None] = mapped_column(Text)


class LogEntryRow(Base):
    """One custody event: its leaf (the commitment) and, until erased, its statement and salt."""

    __tablename__ = "log_entries"
    # the latest event of a subject is one probe of this index (max idx within the subject)
    __table_args__ = (Index("ix_log_entries_subject_idx", "subject", "idx"),)

    idx: Mapped[int] = mapped_column(LOG_INDEX, primary_key=True, autoincrement=False)
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    # UUID4, unique by construction; not indexed: a random-key index slows appends to a large log
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(220))
    case_ref: Mapped[str] = mapped_column(String(128))
    time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    previous: Mapped[int | None] = mapped_column(BigInteger)
    statement: Mapped[bytes | None] = mapped_column(LargeBinary)
    salt: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LogHashRow(Base):
    """Stored Merkle hashes (leaf hashes and complete subtrees) by storage index."""

    __tablename__ = "log_hashes"

    idx: Mapped[int] = mapped_column(LOG_INDEX, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpointRow(Base):
    """A signed checkpoint of this node's log (C2SP tlog-checkpoint in a signed note)."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[bytes] = mapped_column(LargeBinary)
    vkey: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LogCosignatureRow(Base):
    """A witness cosignature (C2SP tlog-cosignature) on one of this node's checkpoints."""

    __tablename__ = "log_cosignatures"
    __table_args__ = (UniqueConstraint("size", "witness"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(ForeignKey("log_checkpoints.size"), index=True)
    witness: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LogKeyRow(Base):
    """The log's signing keys over time (key rotation keeps old checkpoints verifiable)."""

    __tablename__ = "log_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vkey: Mapped[str] = mapped_column(Text, unique=True)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WitnessRow(Base):
    """A witness that cosigns this node's checkpoints (a partner node)."""

    __tablename__ = "witnesses"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    vkey: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WitnessedLogRow(Base):
    """A partner's log this node witnesses: trusted keys and the latest cosigned state."""

    __tablename__ = "witnessed_logs"

    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    vkeys: Mapped[list[str]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WitnessForkRow(Base):
    """Evidence of misbehaviour: a validly signed checkpoint inconsistent with one cosigned earlier."""

    __tablename__ = "witness_forks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(255), index=True)
    known_checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary)
    presented: Mapped[bytes] = mapped_column(LargeBinary)
    detail: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- packages


class ReceivedPackageRow(Base):
    """An evidence package imported into this node."""

    __tablename__ = "received_packages"

    package_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender_node: Mapped[str] = mapped_column(String(128))
    sender_agency: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class ForeignEventRow(Base):
    """A custody event of another node's log that came with an imported item, with its proof."""

    __tablename__ = "foreign_events"
    __table_args__ = (UniqueConstraint("item_id", "origin", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("received_packages.package_id"))
    origin: Mapped[str] = mapped_column(String(255))
    idx: Mapped[int] = mapped_column(BigInteger)
    statement: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    tlog_proof: Mapped[bytes] = mapped_column(LargeBinary)
    policy: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- federation


class PeerRow(Base):
    """A partner node on this node's trust list, from its signed node card."""

    __tablename__ = "peers"

    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agency: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(String(2))
    url: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    message_vkey: Mapped[str] = mapped_column(Text)
    tls_sha256: Mapped[str] = mapped_column(String(64))
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # active | revoked
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(Text)


class PeerKeyRow(Base):
    """Every message key a peer has used (its key history), so old signatures stay verifiable."""

    __tablename__ = "peer_keys"
    __table_args__ = (UniqueConstraint("node_id", "vkey"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("peers.node_id"), index=True)
    vkey: Mapped[str] = mapped_column(Text)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A signed, encrypted message waiting for (or done with) delivery to a peer."""

    __tablename__ = "outbox"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(32))
    handling: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    signed: Mapped[str] = mapped_column(Text)  # JWS compact (the plaintext we signed)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)  # age ciphertext
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[str | None] = mapped_column(Text)  # the recipient's signed receipt (JWS)


class InboxRow(Base):
    """A message received from a peer, processed once, with the receipt we returned."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("sender", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    handling: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    signed: Mapped[str] = mapped_column(Text)  # JWS compact as signed by the sender
    receipt: Mapped[str] = mapped_column(Text)


class TransferRow(Base):
    """A package transfer, outgoing or incoming, resumable from the bytes the recipient holds."""

    __tablename__ = "transfers"
    __table_args__ = (UniqueConstraint("direction", "peer", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transfer_id: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(4))  # out | in
    peer: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # sending | receiving | done | failed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    receipt: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
