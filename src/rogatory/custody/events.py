"""Custody events: signed statements of who did what to which subject, when and why.

Pure domain: building, serialising, committing and checking events; no I/O.

A custody event is serialised canonically (below) and signed as a C2SP signed
note by the node's custody-log key, so the statement is verifiable by anyone
holding the log's vkey. The log itself holds only a salted commitment to the
signed statement, never case data:

    statement  = signed note: text = canonical JSON + "\\n", then "— <key name> <sig>"
    salt       = 32 random bytes, one per event
    commitment = SHA-256("rogatory/custody-commitment/v1" || 0x00 || salt || statement)
    leaf input = commitment (32 bytes); leaf hash = SHA-256(0x00 || commitment)  (RFC 9162 §2.1.1)

Canonical JSON: UTF-8, object keys sorted by code point, no insignificant
whitespace, ``ensure_ascii`` off, only strings, integers, booleans, null,
arrays and objects (no floats) — the RFC 8785 (JCS) form for these value types.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rogatory.errors import CustodyError

EVENT_VERSION = 1
COMMITMENT_DOMAIN = b"rogatory/custody-commitment/v1\x00"
SALT_SIZE = 32


class EventType(StrEnum):
    """What happened (ISO/IEC 27037 and RFC 3227 §4.1 custody steps, plus legal-assistance steps)."""

    ACQUISITION = "acquisition"
    ACCESS = "access"
    ANALYSIS = "analysis"
    VERIFICATION = "verification"
    COPY = "copy"
    EXPORT = "export"
    DISCLOSURE = "disclosure"
    TRANSFER_OUT = "transfer-out"
    RECEIPT = "receipt"
    SEAL = "seal"
    UNSEAL = "unseal"
    DISPOSAL = "disposal"
    REQUEST_SENT = "request-sent"
    REQUEST_RECEIVED = "request-received"
    QUERY = "query"
    ERASURE = "erasure"


class SubjectKind(StrEnum):
    """What an event is about. Evidence is named by its SHA-256 (hex)."""

    EVIDENCE = "evidence"
    REQUEST = "request"
    MESSAGE = "message"
    PACKAGE = "package"
    HIT_QUERY = "hit-query"


_SUBJECT_ID = re.compile(r"^[A-Za-z0-9._:/+-]{1,200}$")


_JSON_SCALARS = frozenset({str, int, bool, type(None)})
"""Exact types of the JSON values that need no check (the common case, tested first)."""

_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The canonical form's encoder, made once (``json.dumps`` with these options builds a
new one per call). Encoding is stateless, so it may be shared between threads."""


def _check_json_value(value: Any) -> None:
    """Raise :class:`CustodyError` for the first value, depth first, that canonical
    JSON may not hold: a float, a non-string key, or a non-JSON type."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return
    if isinstance(value, float):
        raise CustodyError(
            "custody events may not hold floating-point numbers", "use integers or strings"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CustodyError("custody event keys must be strings", "")
            if type(item) not in _JSON_SCALARS:
                _check_json_value(item)
    elif isinstance(value, list):
        for item in value:
            if type(item) not in _JSON_SCALARS:
                _check_json_value(item)
    elif not isinstance(value, str | int | bool):
        raise CustodyError(f"custody events may not hold {type(value).__name__}", "")


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON bytes (sorted keys, no whitespace, no floats).

    Byte for byte ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode("utf-8")`` (the form documented in docs/CUSTODY.md),
    after checking that ``value`` holds only strings, integers, booleans, null, arrays
    and objects with string keys.

    Raises:
        CustodyError: a float (or another non-JSON value) was given.
    """
    _check_json_value(value)
    return _CANONICAL_ENCODER.encode(value).encode("utf-8")


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (or service) and their role."""

    user: str
    role: str = ""


@dataclass(frozen=True)
class CustodyEvent:
    """One custody event (the statement before signing).

    Attributes:
        event_type: what happened.
        subject_kind: what kind of thing it happened to.
        subject_id: the subject's identifier (evidence: SHA-256 hex, 64 chars).
        node: node id of the node writing the event.
        actor: who did it.
        time: when, UTC, whole seconds or finer.
        case: case reference, or "".
        purpose: purpose or legal basis (27037; NIST SP 800-72 "purpose of each transfer").
        note: free text.
        previous: leaf index of the previous event for the same subject on this log, or None.
        details: further facts (JSON values, no floats), e.g. the item id and digests.
        event_id: a UUID4 string, unique per event.
    """

    event_type: EventType
    subject_kind: SubjectKind
    subject_id: str
    node: str
    actor: Actor
    time: dt.datetime
    case: str = ""
    purpose: str = ""
    note: str = ""
    previous: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if not _SUBJECT_ID.match(self.subject_id):
            raise CustodyError(f"invalid custody subject id {self.subject_id!r}", "")
        if self.time.tzinfo is None:
            raise CustodyError("custody event time has no time zone", "use UTC")

    def to_json(self) -> dict[str, Any]:
        """The JSON object that is serialised canonically."""
        return {
            "v": EVENT_VERSION,
            "id": self.event_id,
            "type": self.event_type.value,
            "subject": {"kind": self.subject_kind.value, "id": self.subject_id},
            "node": self.node,
            "actor": {"user": self.actor.user, "role": self.actor.role},
            "time": self.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "case": self.case,
            "purpose": self.purpose,
            "note": self.note,
            "previous": self.previous,
            "details": self.details,
        }

    def canonical_text(self) -> str:
        """The note text that is signed: canonical JSON and one newline."""
        return canonical_json(self.to_json()).decode("utf-8") + "\n"

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CustodyEvent:
        """Rebuild an event from its JSON object.

        Raises:
            CustodyError: a field is missing or of the wrong type, or the version is unknown.
        """
        try:
            if doc["v"] != EVENT_VERSION:
                raise CustodyError(
                    f"custody event version {doc['v']} is not supported", "upgrade Rogatory"
                )
            return cls(
                event_type=EventType(doc["type"]),
                subject_kind=SubjectKind(doc["subject"]["kind"]),
                subject_id=str(doc["subject"]["id"]),
                node=str(doc["node"]),
                actor=Actor(str(doc["actor"]["user"]), str(doc["actor"]["role"])),
                time=dt.datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00")),
                case=str(doc["case"]),
                purpose=str(doc["purpose"]),
                note=str(doc["note"]),
                previous=doc["previous"],
                details=dict(doc["details"]),
                event_id=str(doc["id"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(
                f"malformed custody event: {exc}",
                "the event file was altered or is not a Rogatory event",
            ) from exc


def commitment(salt: bytes, statement: bytes) -> bytes:
    """The 32-byte salted commitment to a signed statement (the log's leaf input).

    Args:
        salt: 32 random bytes.
        statement: the signed note bytes (text and signature lines).
    """
    if len(salt) != SALT_SIZE:
        raise CustodyError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}", "")
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + statement).digest()


@dataclass(frozen=True)
class EventProof:
    """One disclosed custody event: its exact bytes and its tlog-proof."""

    index: int
    statement: bytes
    salt: bytes
    leaf: bytes
    tlog_proof: bytes

    def files(self) -> dict[str, bytes]:
        """File name -> bytes, as ``rogatory log prove`` writes them."""
        stem = f"event-{self.index}"
        return {
            f"{stem}.statement": self.statement,
            f"{stem}.salt": (self.salt.hex() + "\n").encode(),
            f"{stem}.leaf": self.leaf,
            f"{stem}.tlog-proof": self.tlog_proof,
        }
