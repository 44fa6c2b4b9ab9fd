"""The durable outbox: messages are stored signed and encrypted before any
delivery attempt, delivered with retries and exponential back-off while a peer
is down, and marked delivered only with the recipient's verified, signed receipt.

Delivery states: ``pending`` (waiting for the next attempt), ``delivered``
(receipt kept), ``refused`` (the recipient's inbox refused it, naming the
check: permanent, not retried) and ``expired`` (its expiry passed before
delivery). Messages to one peer travel in batches of up to :data:`BATCH` (one
commit on each side), two batches in flight.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.errors import ExchangeError, MessageRefusedError, NotFoundError, UsageError
from rogatory.exchange.client import PeerClient
from rogatory.exchange.envelope import (
    HandlingCode,
    Message,
    MessageType,
    check_receipt,
    digest,
    seal,
)
from rogatory.exchange.node import FederationNode
from rogatory.exchange.trust import get_peer, peer_problem, peer_signature, usable_peer
from rogatory.store.schema import OutboxRow

PENDING = "pending"
DELIVERED = "delivered"
REFUSED = "refused"
EXPIRED = "expired"
BACKOFF_FIRST = 2.0
"""Seconds before the first retry; doubled after each failure."""
BACKOFF_MAX = 600.0
"""Longest wait between two attempts (seconds)."""
BATCH = 100
"""Most messages sent to one peer in one request (the peer commits them together)."""
IN_FLIGHT = 2
"""Batches sent to one peer at the same time."""

SENT_EVENTS: dict[MessageType, tuple[EventType, SubjectKind]] = {
    MessageType.REQUEST: (EventType.REQUEST_SENT, SubjectKind.REQUEST),
    MessageType.HIT_QUERY: (EventType.QUERY, SubjectKind.HIT_QUERY),
}
"""Message types whose sending is a custody event (a package's transfer-out is
logged when its receipt arrives, see :mod:`~rogatory.exchange.transfer`)."""


def backoff(attempts: int, *, jitter: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 2, 4, 8 … up to 600, ±10 % jitter."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))
    return float(base * (0.9 + 0.2 * jitter()))


@dataclass(frozen=True)
class Draft:
    """A message to queue: recipient, type, body and options (see :func:`enqueue`)."""

    recipient: str
    type: MessageType
    body: dict[str, Any]
    handling: HandlingCode = HandlingCode.H2
    ttl: dt.timedelta | None = None
    reply_to: str | None = None
    case: str = ""
    message_id: str | None = None


def enqueue(
    node: FederationNode,
    recipient: str,
    type_: MessageType,
    body: dict[str, Any],
    *,
    handling: HandlingCode = HandlingCode.H2,
    ttl: dt.timedelta | None = None,
    reply_to: str | None = None,
    actor: Actor | None = None,
    case: str = "",
    message_id: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxRow:
    """Sign, encrypt and store a message for ``recipient`` (nothing is sent yet).

    Sending a request or hit query also appends a custody event in the same
    transaction.

    Raises:
        NotFoundError / UsageError: the recipient is not a usable peer.
        UsageError: the body cannot be encoded or is too large.
    """
    draft = Draft(recipient, type_, body, handling, ttl, reply_to, case, message_id)
    return enqueue_many(node, [draft], actor=actor, now=now)[0]


def enqueue_many(
    node: FederationNode,
    drafts: list[Draft],
    *,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> list[OutboxRow]:
    """Sign, encrypt and store several messages in one transaction (one durable commit).

    Raises:
        NotFoundError / UsageError: a recipient is not a usable peer (nothing is stored).
        UsageError: a body cannot be encoded or is too large (nothing is stored).
    """
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    key, kid = node.message_signer()
    peers = {r: usable_peer(node.db, r, now) for r in {d.recipient for d in drafts}}
    rows: list[OutboxRow] = []
    events: list[CustodyEvent] = []
    for d in drafts:
        message = Message(
            type=d.type,
            sender=node.node_id,
            recipient=d.recipient,
            body=d.body,
            handling=d.handling,
            created_at=now,
            expires_at=now + d.ttl if d.ttl else None,
            reply_to=d.reply_to,
            **({"message_id": d.message_id} if d.message_id else {}),
        )
        if message.expiry <= now:
            raise UsageError(
                "the message would expire before it is sent", "give a positive lifetime"
            )
        signed, envelope = seal(message, key, kid, peers[d.recipient].card["keys"]["age"])
        rows.append(
            OutboxRow(
                message_id=message.message_id,
                recipient=d.recipient,
                type=d.type.value,
                handling=d.handling.value,
                created_at=now,
                expires_at=message.expiry,
                signed=signed,
                envelope=envelope,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                last_error=None,
                delivered_at=None,
                receipt=None,
            )
        )
        if d.type in SENT_EVENTS:
            event_type, kind = SENT_EVENTS[d.type]
            events.append(
                CustodyEvent(
                    event_type=event_type,
                    subject_kind=kind,
                    subject_id=message.message_id,
                    node=node.node_id,
                    actor=actor or Actor("rogatory", "system"),
                    time=now,
                    case=d.case,
                    purpose=f"{d.type.value} sent to {d.recipient}",
                    details={
                        "recipient": d.recipient,
                        "message_sha256": digest(signed),
                        "handling": d.handling.value,
                    },
                )
            )
    columns = [c.key for c in OutboxRow.__table__.columns]
    with node.db.session(write=True) as s:
        # one multi-row statement; the returned rows stay plain (transient) objects
        s.execute(insert(OutboxRow), [{c: getattr(r, c) for c in columns} for r in rows])
        if events:
            node.log.append_in(s, events)
    return rows


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one delivery attempt.

    Attributes:
        message_id, recipient: the message.
        status: the row's status afterwards (``pending``, ``delivered``, ``refused``, ``expired``).
        detail: what happened, one line.
        retry_in: seconds until the next attempt when still pending, else None.
    """

    message_id: str
    recipient: str
    status: str
    detail: str
    retry_in: float | None = None


def _refusal(resp: Any) -> str | None:
    """The refusal of a peer's inbox (``{"check": …, "error": …}``) as one line, else None."""
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        data = resp.json()
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("check"), str):
        return None
    return f"check {data['check']}: {str(data.get('error', ''))[:300]}"


def deliver_one(
    node: FederationNode,
    message_id: str,
    *,
    client: PeerClient | None = None,
    now: dt.datetime | None = None,
) -> DeliveryResult:
    """Try to deliver one outbox message now (over ``client`` if given, which
    must be the recipient's; else a new connection).

    Raises:
        NotFoundError: no such message in the outbox.
    """
    now = now or dt.datetime.now(dt.UTC)
    rows = _rows(node, [message_id])
    if not rows:
        raise NotFoundError(f"no message {message_id} in the outbox", "see rogatory message list")
    row = rows[0]
    if row.status != PENDING:
        return DeliveryResult(
            row.message_id, row.recipient, row.status, row.last_error or row.status
        )
    if now > row.expires_at:
        return _settle(node, [(row, EXPIRED, "expired before delivery")], now)[0]
    try:
        peer = get_peer(node.db, row.recipient)
        problem = peer_problem(peer, now)
        if problem:  # revoked or expired after the message was queued: it waits
            raise ExchangeError(f"{peer.node_id}: {problem}")
        own = client is None
        http = client or PeerClient(node.home, node.passphrase, peer)
        try:
            resp = http.request(
                "POST",
                "/federation/messages",
                content=row.envelope,
                headers={"Content-Type": "application/octet-stream"},
            )
        finally:
            if own:
                http.close()
        if resp.status_code in (200, 409) and resp.headers.get("content-type", "").startswith(
            "application/jose"
        ):
            receipt = resp.text
            key, _ = peer_signature(node.db, peer.node_id, receipt, "received_at", "receipt")
            check_receipt(
                receipt, key, message_id=row.message_id, signed=row.signed, peer=peer.node_id
            )
            return _settle(node, [(row, DELIVERED, receipt)], now)[0]
        refusal = _refusal(resp)
        if refusal is not None and 400 <= resp.status_code < 500:
            return _settle(node, [(row, REFUSED, f"refused by {peer.node_id}: {refusal}")], now)[0]
        # anything else (a proxy's error page, a wrong server, garbage) is not an
        # answer of the peer's inbox: keep the message and retry
        raise ExchangeError(
            f"{peer.node_id} answered {resp.status_code} "
            f"{resp.headers.get('content-type', 'without a content type')}, not a receipt "
            f"or a refusal: {resp.text.strip()[:200]!r}"
        )
    except (ExchangeError, UsageError, NotFoundError) as exc:
        return _settle(node, [(row, None, exc.message)], now)[0]


def _rows(node: FederationNode, ids: list[str]) -> list[OutboxRow]:
    with node.db.session() as s:
        found = {
            r.message_id: r
            for r in s.scalars(select(OutboxRow).where(OutboxRow.message_id.in_(ids)))
        }
        for r in found.values():
            s.expunge(r)
    return [found[i] for i in ids if i in found]


def _deliver_batch(
    node: FederationNode, client: PeerClient, rows: list[OutboxRow], now: dt.datetime
) -> list[DeliveryResult]:
    """Deliver ``rows`` (all to ``client``'s peer) in one request; settle them in one transaction."""
    live = [r for r in rows if r.status == PENDING and now <= r.expires_at]
    expired: list[tuple[OutboxRow, str | None, str]] = [
        (r, EXPIRED, "expired before delivery")
        for r in rows
        if r.status == PENDING and now > r.expires_at
    ]
    peer = client.peer
    outcome: list[tuple[OutboxRow, str | None, str]] = []
    try:
        resp = client.request(
            "POST",
            "/federation/messages/batch",
            json={"envelopes": [base64.b64encode(r.envelope).decode("ascii") for r in live]},
        )
        if resp.status_code == 404 and _refusal(resp) is None:  # a peer without batches
            return [deliver_one(node, r.message_id, client=client, now=now) for r in rows]
        answers = resp.json().get("results") if resp.status_code == 200 else None
        if not isinstance(answers, list) or len(answers) != len(live):
            raise ExchangeError(
                f"{peer.node_id} answered {resp.status_code} to a batch, not one result per "
                f"message: {resp.text.strip()[:200]!r}"
            )
    except (ExchangeError, ValueError) as exc:
        detail = (
            exc.message
            if isinstance(exc, ExchangeError)
            else f"{peer.node_id} answered garbage: {exc}"
        )
        retry: list[tuple[OutboxRow, str | None, str]] = [(r, None, detail) for r in live]
        return _settle(node, retry + expired, now)
    known: tuple[Any, Any] | None = None  # (key, received_at) of a receipt fully checked
    for r, a in zip(live, answers, strict=True):
        receipt = a.get("receipt") if isinstance(a, dict) else None
        if isinstance(receipt, str) and a.get("status") in (200, 409):
            try:
                data = None
                if known is not None:  # receipts of one batch share key and time: skip the lookup
                    with contextlib.suppress(MessageRefusedError):
                        data = check_receipt(
                            receipt,
                            known[0],
                            message_id=r.message_id,
                            signed=r.signed,
                            peer=peer.node_id,
                        )
                    if data is not None and data.get("received_at") != known[1]:
                        data = None
                if data is None:
                    key, _ = peer_signature(
                        node.db, peer.node_id, receipt, "received_at", "receipt"
                    )
                    data = check_receipt(
                        receipt, key, message_id=r.message_id, signed=r.signed, peer=peer.node_id
                    )
                    known = (key, data.get("received_at"))
            except MessageRefusedError as exc:
                outcome.append((r, None, exc.message))
                continue
            outcome.append((r, DELIVERED, receipt))
        elif isinstance(a, dict) and isinstance(a.get("check"), str):
            outcome.append(
                (
                    r,
                    REFUSED,
                    f"refused by {peer.node_id}: check {a['check']}: {str(a.get('error', ''))[:300]}",
                )
            )
        else:
            outcome.append((r, None, f"{peer.node_id} gave no receipt for it: {str(a)[:200]}"))
    return _settle(node, outcome + expired, now)


def _settle(
    node: FederationNode, outcome: list[tuple[OutboxRow, str | None, str]], now: dt.datetime
) -> list[DeliveryResult]:
    """Record delivery outcomes in one transaction: ``(row, new status or None to retry,
    receipt when delivered / reason otherwise)``."""
    results: list[DeliveryResult] = []
    if not outcome:
        return results
    with node.db.session(write=True) as s:
        attempts: dict[str, int] = {
            str(m): int(n)
            for m, n in s.execute(
                select(OutboxRow.message_id, OutboxRow.attempts).where(
                    OutboxRow.message_id.in_([o[0].message_id for o in outcome])
                )
            )
        }
        changes: list[dict[str, Any]] = []
        for row, status, text in outcome:
            tried = attempts[row.message_id] + 1
            change: dict[str, Any] = {"message_id": row.message_id, "attempts": tried}
            if status == DELIVERED:
                change |= {"status": DELIVERED, "receipt": text, "delivered_at": now}
                change["last_error"] = None
                results.append(
                    DeliveryResult(row.message_id, row.recipient, DELIVERED, "delivered")
                )
            elif status is not None:
                change |= {"status": status, "last_error": text}
                results.append(DeliveryResult(row.message_id, row.recipient, status, text))
            else:
                wait = backoff(tried)
                change |= {"next_attempt_at": now + dt.timedelta(seconds=wait), "last_error": text}
                results.append(
                    DeliveryResult(row.message_id, row.recipient, PENDING, text, retry_in=wait)
                )
            changes.append(change)
        # ORM bulk UPDATE by primary key, grouped by the set of columns changed
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            by_shape.setdefault(tuple(sorted(change)), []).append(change)
        for group in by_shape.values():
            s.execute(update(OutboxRow), group)
    return results


def deliver_due(
    node: FederationNode,
    *,
    now: dt.datetime | None = None,
    include_waiting: bool = False,
    recipient: str | None = None,
) -> list[DeliveryResult]:
    """Attempt every pending message whose next attempt is due (all pending ones
    with ``include_waiting``), oldest first, in batches per peer. After a peer
    proves unreachable its other messages wait for their next attempt."""
    now = now or dt.datetime.now(dt.UTC)
    with node.db.session() as s:
        q = select(OutboxRow.message_id, OutboxRow.recipient).where(OutboxRow.status == PENDING)
        if not include_waiting:
            q = q.where(OutboxRow.next_attempt_at <= now)
        if recipient:
            q = q.where(OutboxRow.recipient == recipient)
        due = [
            (str(m), str(p))
            for m, p in s.execute(q.order_by(OutboxRow.created_at, OutboxRow.message_id))
        ]
    by_peer: dict[str, list[str]] = {}
    for message_id, peer_id in due:
        by_peer.setdefault(peer_id, []).append(message_id)
    results: list[DeliveryResult] = []
    for peer_id, ids in by_peer.items():
        try:
            peer = get_peer(node.db, peer_id)
            problem = peer_problem(peer, now)
            if problem:
                raise ExchangeError(f"{peer_id}: {problem}")
            client = PeerClient(node.home, node.passphrase, peer)
        except (ExchangeError, UsageError, NotFoundError) as exc:
            results += _settle(node, [(r, None, exc.message) for r in _rows(node, ids)], now)
            continue
        with client:

            def send(chunk: list[str], client: PeerClient = client) -> list[DeliveryResult]:
                if len(chunk) == 1:
                    return [deliver_one(node, chunk[0], client=client, now=now)]
                return _deliver_batch(node, client, _rows(node, chunk), now)

            chunks = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
            first = send(chunks[0])
            results += first
            if any(r.status == PENDING for r in first) and all(
                r.status != DELIVERED for r in first
            ):  # the peer is down: the rest waits for its next attempt
                rest = _rows(node, [i for c in chunks[1:] for i in c])
                results += _settle(node, [(r, None, first[0].detail) for r in rest], now)
                continue
            if len(chunks) > 1:
                # two batches in flight: the peer checks one while we settle the other
                with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
                    for got in pool.map(send, chunks[1:]):
                        results += got
    return results


def outbox(node: FederationNode, status: str | None = None) -> list[OutboxRow]:
    """Outbox messages, newest first, optionally of one status."""
    with node.db.session() as s:
        q = select(OutboxRow)
        if status:
            q = q.where(OutboxRow.status == status)
        rows = list(s.scalars(q.order_by(OutboxRow.created_at.desc(), OutboxRow.message_id)))
        for r in rows:
            s.expunge(r)
        return rows
