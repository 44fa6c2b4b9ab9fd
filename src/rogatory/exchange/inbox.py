"""The inbox: every incoming message is checked, processed once, and answered
with a signed receipt.

Checks, in order (each refusal names its check and stores nothing): the TLS
client is a usable peer and the message's own sender (``tls-peer``), size,
decryption, format, sender (known, not revoked, card not expired, a key it
held when it signed), signature, recipient, expiry, creation time, and replay —
a message id already processed from that sender is not processed again; the
receipt given the first time is returned again (HTTP 409), so a sender whose
receipt was lost still gets it, and nothing happens twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.errors import MessageRefusedError
from rogatory.exchange.envelope import (
    MessageType,
    Opened,
    digest,
    make_receipt,
    open_envelope,
    refuse,
)
from rogatory.exchange.node import FederationNode
from rogatory.exchange.trust import message_key
from rogatory.store.schema import InboxRow

RECEIVED_EVENTS: dict[MessageType, tuple[EventType, SubjectKind]] = {
    MessageType.REQUEST: (EventType.REQUEST_RECEIVED, SubjectKind.REQUEST),
    MessageType.HIT_QUERY: (EventType.QUERY, SubjectKind.HIT_QUERY),
}
"""Message types whose receipt is a custody event."""
MAX_BATCH = 100
"""Most messages accepted in one batch delivery."""

Handler = Callable[[Session, Opened], None]
"""Extra processing of a message type inside the inbox transaction (e.g. a package offer)."""


@dataclass(frozen=True)
class Received:
    """The inbox's answer to one delivery.

    Attributes:
        receipt: the signed receipt (JWS compact).
        duplicate: True if the message had been processed before (replay or resend).
        message_id, sender, type: the message.
    """

    receipt: str
    duplicate: bool
    message_id: str
    sender: str
    type: str


def receive(
    node: FederationNode,
    envelope: bytes,
    *,
    tls_peer: str | None,
    handlers: dict[MessageType, Handler] | None = None,
    now: dt.datetime | None = None,
) -> Received:
    """Check and store one incoming message; return the signed receipt.

    Args:
        node: this node.
        envelope: the age ciphertext as received.
        tls_peer: node id of the peer whose certificate the TLS client presented
            (``None`` if the certificate is no usable peer's).
        handlers: processing per message type, run in the same transaction.
        now: the current time (UTC).

    Raises:
        MessageRefusedError: a check failed (its name is in ``.check``).
    """
    result = receive_many(node, [envelope], tls_peer=tls_peer, handlers=handlers, now=now)[0]
    if isinstance(result, MessageRefusedError):
        raise result
    return result


def _store(
    node: FederationNode,
    fresh: list[tuple[int, Opened]],
    receipts: dict[int, str],
    handlers: dict[MessageType, Handler] | None,
    now: dt.datetime,
) -> None:
    with node.db.session(write=True) as s:
        events: list[CustodyEvent] = []
        rows: list[dict[str, Any]] = []
        for i, o in fresh:
            m = o.message
            rows.append(
                {
                    "sender": m.sender,
                    "message_id": m.message_id,
                    "type": m.type.value,
                    "handling": m.handling.value,
                    "created_at": m.created_at,
                    "expires_at": m.expiry,
                    "received_at": now,
                    "signed": o.signed,
                    "receipt": receipts[i],
                }
            )
            if m.type in RECEIVED_EVENTS:
                event_type, kind = RECEIVED_EVENTS[m.type]
                events.append(
                    CustodyEvent(
                        event_type=event_type,
                        subject_kind=kind,
                        subject_id=m.message_id,
                        node=node.node_id,
                        actor=Actor("rogatory", "system"),
                        time=now,
                        purpose=f"{m.type.value} received from {m.sender}",
                        details={
                            "sender": m.sender,
                            "message_sha256": digest(o.signed),
                            "handling": m.handling.value,
                        },
                    )
                )
        s.execute(insert(InboxRow), rows)  # one multi-row statement (bulk insert)
        if events:
            node.log.append_in(s, events)
        for _i, o in fresh:
            handler = (handlers or {}).get(o.message.type)
            if handler is not None:
                handler(s, o)


def receive_many(
    node: FederationNode,
    envelopes: list[bytes],
    *,
    tls_peer: str | None,
    handlers: dict[MessageType, Handler] | None = None,
    now: dt.datetime | None = None,
) -> list[Received | MessageRefusedError]:
    """Check and store a batch of messages in one transaction (one durable commit).

    Each message is checked on its own; the result list holds, in order, its
    :class:`Received` (with the signed receipt) or the :class:`MessageRefusedError`
    that refused it. Messages accepted in the batch are committed together before
    any receipt is returned.

    Raises:
        MessageRefusedError: check ``size`` — more than :data:`MAX_BATCH` messages.
    """
    now = now or dt.datetime.now(dt.UTC)
    if len(envelopes) > MAX_BATCH:
        raise refuse("size", f"{len(envelopes)} messages in one batch, more than {MAX_BATCH}")
    results: list[Received | MessageRefusedError | None] = [None] * len(envelopes)
    opened_all: list[tuple[int, Opened]] = []
    seen: set[tuple[str, str]] = set()
    keys: dict[tuple[str, str, dt.datetime], Any] = {}

    def sender_key(sender: str, kid: str, created: dt.datetime) -> Any:
        # messages queued together share sender, key and creation time: one lookup
        if (sender, kid, created) not in keys:
            keys[(sender, kid, created)] = message_key(node.db, sender, kid, created, now)
        return keys[(sender, kid, created)]

    for i, envelope in enumerate(envelopes):
        try:
            if tls_peer is None:
                raise refuse("tls-peer", "the TLS client certificate is not a trusted peer's")
            opened = open_envelope(envelope, node.age_identity, sender_key, node.node_id, now=now)
            m = opened.message
            if m.sender != tls_peer:
                raise refuse(
                    "tls-peer",
                    f"a message from {m.sender} arrived over the TLS connection of {tls_peer}",
                    "each node delivers its own messages",
                )
            if (m.sender, m.message_id) in seen:
                raise refuse("replay", f"message id {m.message_id} appears twice in one batch")
            seen.add((m.sender, m.message_id))
            opened_all.append((i, opened))
        except MessageRefusedError as exc:
            results[i] = exc
    fresh: list[tuple[int, Opened]] = []
    if opened_all:
        with node.db.session() as s:
            earlier = {
                r.message_id: r
                for r in s.scalars(
                    select(InboxRow).where(
                        InboxRow.sender == tls_peer,
                        InboxRow.message_id.in_([o.message.message_id for _, o in opened_all]),
                    )
                )
            }
            for r in earlier.values():
                s.expunge(r)
        for i, opened in opened_all:
            previous = earlier.get(opened.message.message_id)
            if previous is None:
                fresh.append((i, opened))
                continue
            try:
                results[i] = _duplicate(previous, opened)
            except MessageRefusedError as exc:
                results[i] = exc
    if fresh:
        key, kid = node.message_signer()
        receipts = {i: make_receipt(o, key, kid, now) for i, o in fresh}
        try:
            _store(node, fresh, receipts, handlers, now)
        except (DBIntegrityError, MessageRefusedError):
            if len(fresh) == 1:
                i, o = fresh[0]
                previous = _processed(node, o.message.sender, o.message.message_id)
                if previous is None:
                    raise
                results[i] = _duplicate(previous, o)
                return [r for r in results if r is not None]
            # a message raced in on another connection, or a handler refused one:
            # judge each one alone, in its own transaction
            for i, _o in fresh:
                try:
                    results[i] = receive(
                        node, envelopes[i], tls_peer=tls_peer, handlers=handlers, now=now
                    )
                except MessageRefusedError as exc:
                    results[i] = exc
            return [r for r in results if r is not None]
        for i, o in fresh:
            m = o.message
            results[i] = Received(receipts[i], False, m.message_id, m.sender, m.type.value)
    return [r for r in results if r is not None]


def _processed(node: FederationNode, sender: str, message_id: str) -> InboxRow | None:
    with node.db.session() as s:
        row = s.scalar(
            select(InboxRow).where(InboxRow.sender == sender, InboxRow.message_id == message_id)
        )
        if row is not None:
            s.expunge(row)
        return row


def _duplicate(previous: InboxRow, opened: Opened) -> Received:
    if previous.signed != opened.signed:
        raise refuse(
            "replay",
            f"message id {opened.message.message_id} from {opened.message.sender} was already used for another message",
        )
    return Received(previous.receipt, True, previous.message_id, previous.sender, previous.type)


def inbox(node: FederationNode, sender: str | None = None) -> list[InboxRow]:
    """Received messages, newest first, optionally from one sender."""
    with node.db.session() as s:
        q = select(InboxRow)
        if sender:
            q = q.where(InboxRow.sender == sender)
        rows = list(s.scalars(q.order_by(InboxRow.received_at.desc(), InboxRow.id.desc())))
        for r in rows:
            s.expunge(r)
        return rows
