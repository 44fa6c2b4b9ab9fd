"""The trust list: partner nodes, anchored by card fingerprints confirmed out of band.

A peer is added from its signed node card only when the fingerprint the
administrator confirmed (by phone, or from an official gazette) matches the
card. A later card of the same node is accepted without a new confirmation when
it is signed by a message key still in force for that node (key rotation: the
old key signs the new card). Every message key a peer ever used is kept, with
the time it was retired, so old signatures stay verifiable while signatures
made with a retired key after its retirement are refused.

Adding a peer also sets up cross-witnessing: the peer becomes a witness of
this node's log (its witness key, at ``<url>/witness``), and this node
witnesses the peer's log (its log keys).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import delete, select

from rogatory.custody.note import parse_vkey
from rogatory.custody.witnessing import add_witness, trust_log
from rogatory.errors import MessageRefusedError, NotFoundError, UsageError
from rogatory.exchange.envelope import read_signed, refuse, signed_kid, utc_text
from rogatory.exchange.tls import certificate_sha256
from rogatory.package.card import (
    TrustedSender,
    check_card,
    fingerprint,
    parse_utc,
    same_fingerprint,
    signed_by,
    trusted_sender,
)
from rogatory.store.database import Database
from rogatory.store.schema import PeerKeyRow, PeerRow, WitnessRow

ACTIVE = "active"
REVOKED = "revoked"


@dataclass(frozen=True)
class PeerChange:
    """What :func:`add_peer` did.

    Attributes:
        node_id: the peer.
        action: ``added``, ``updated`` (a newer card, same key or a rotation
            signed by a trusted key) or ``unchanged``.
        fingerprint: the card's fingerprint.
        witness: whether the peer was set up as a witness of this log (it has a URL).
    """

    node_id: str
    action: str
    fingerprint: str
    witness: bool


def add_peer(
    db: Database,
    card: dict[str, Any],
    confirmed_fingerprint: str | None,
    *,
    own_node_id: str,
    now: dt.datetime | None = None,
) -> PeerChange:
    """Add a peer to the trust list, or update it from a newer card.

    Args:
        db: this node's database.
        card: the peer's node card (parsed JSON).
        confirmed_fingerprint: the fingerprint confirmed out of band; may be
            ``None`` only for a newer card of a peer already trusted, signed by a
            message key in force for it.
        own_node_id: this node's id (a node cannot add itself).
        now: the current time (UTC).

    Raises:
        UsageError: malformed, unsigned or expired card; fingerprint missing or
            different; the card is this node's own; the peer was revoked (remove it
            first); the card is older than the one trusted; its TLS certificate
            does not match its stated fingerprint.
    """
    now = now or dt.datetime.now(dt.UTC)
    check_card(card, now=now)
    node_id = card["node_id"]
    fp = fingerprint(card)
    if node_id == own_node_id:
        raise UsageError("that is this node's own card", "add the partner's card, not ours")
    if (
        certificate_sha256(card["keys"]["tls_certificate"])
        != str(card["keys"]["tls_sha256"]).lower()
    ):
        raise UsageError(
            f"{node_id}'s card names a TLS certificate that does not match its fingerprint",
            "the card was altered; obtain it again",
        )
    with db.session(write=True) as s:
        row = s.get(PeerRow, node_id)
        if row is not None and row.status == REVOKED:
            raise UsageError(
                f"{node_id} was revoked on {utc_text(row.revoked_at or now)} ({row.revocation_reason})",
                f"if trust is restored, run 'rogatory peer remove {node_id}' and add it again with its fingerprint",
            )
        keys = list(s.scalars(select(PeerKeyRow).where(PeerKeyRow.node_id == node_id)))
        if confirmed_fingerprint is not None:
            if not same_fingerprint(confirmed_fingerprint, fp):
                raise UsageError(
                    "the card's fingerprint differs from the one you confirmed",
                    "the card was altered or is another node's: obtain it again and confirm the fingerprint by phone",
                )
        elif row is None:
            raise UsageError(
                f"the fingerprint of {node_id}'s card was not confirmed",
                f"its fingerprint is {fp}: compare it with the one {card['agency']} reads to you by phone "
                "(or publishes officially), then pass it with --fingerprint",
            )
        elif not any(k.retired_at is None and signed_by(card, k.vkey) for k in keys):
            raise UsageError(
                f"the new card of {node_id} is not signed by a key this node trusts for it",
                "confirm its fingerprint out of band and pass it with --fingerprint",
            )
        if row is not None and parse_utc(card["issued_at"]) < parse_utc(row.card["issued_at"]):
            raise UsageError(
                f"this card of {node_id} is older than the one already trusted",
                "ask the partner for its current card",
            )
        action = "added" if row is None else ("unchanged" if row.card == card else "updated")
        fields = {
            "agency": card["agency"],
            "country": card["country"],
            "url": (card.get("url") or None),
            "fingerprint": fp.replace(" ", ""),
            "message_vkey": card["keys"]["message"],
            "tls_sha256": str(card["keys"]["tls_sha256"]).lower(),
            "card": card,
            "valid_until": parse_utc(card["valid_until"]),
            "status": ACTIVE,
            "updated_at": now,
        }
        if row is None:
            row = PeerRow(
                node_id=node_id, added_at=now, revoked_at=None, revocation_reason=None, **fields
            )
            s.add(row)
            s.flush()
        else:
            for k, v in fields.items():
                setattr(row, k, v)
        known = {k.vkey: k for k in keys}
        history = [
            (h["vkey"], parse_utc(h["retired_at"])) for h in card["keys"].get("message_history", [])
        ]
        listed = {v for v, _ in history} | {card["keys"]["message"]}
        issued = parse_utc(card["issued_at"])
        for vkey, retired in [*history, (card["keys"]["message"], None)]:
            if vkey in known:
                if retired is not None and known[vkey].retired_at is None:
                    known[vkey].retired_at = retired
            else:
                s.add(PeerKeyRow(node_id=node_id, vkey=vkey, retired_at=retired, first_seen=now))
        for vkey, held in known.items():  # a key the new card does not list is no longer in force
            if vkey not in listed and held.retired_at is None:
                held.retired_at = issued
    url = card.get("url")
    if url:
        add_witness(db, node_id, card["keys"]["witness"], url.rstrip("/") + "/witness")
    trust_log(db, card["log_origin"], list(card["keys"]["log"]))
    return PeerChange(node_id, action, fp, bool(url))


def list_peers(db: Database) -> list[PeerRow]:
    """Every peer on the trust list (active and revoked), by node id."""
    with db.session() as s:
        rows = list(s.scalars(select(PeerRow).order_by(PeerRow.node_id)))
        for r in rows:
            s.expunge(r)
        return rows


def get_peer(db: Database, node_id: str) -> PeerRow:
    """One peer.

    Raises:
        NotFoundError: not on the trust list.
    """
    with db.session() as s:
        row = s.get(PeerRow, node_id)
        if row is not None:
            s.expunge(row)
    if row is None:
        raise NotFoundError(
            f"{node_id} is not on this node's trust list",
            "see 'rogatory peer list'; add it with 'rogatory peer add CARD --fingerprint FP'",
        )
    return row


def peer_problem(row: PeerRow, now: dt.datetime | None = None) -> str:
    """Why a peer may not be used now (``""`` if it may)."""
    now = now or dt.datetime.now(dt.UTC)
    if row.status == REVOKED:
        return f"revoked on {utc_text(row.revoked_at or now)} ({row.revocation_reason})"
    if now > row.valid_until:
        return f"its card expired on {utc_text(row.valid_until)}"
    return ""


def usable_peer(db: Database, node_id: str, now: dt.datetime | None = None) -> PeerRow:
    """A peer that may send and receive now.

    Raises:
        NotFoundError: unknown peer.
        UsageError: revoked, or its card expired (ask for a current card).
    """
    row = get_peer(db, node_id)
    problem = peer_problem(row, now)
    if problem:
        raise UsageError(f"{node_id}: {problem}", "ask the partner for a current card and add it")
    return row


def remove_peer(db: Database, node_id: str) -> None:
    """Take a peer off the trust list, with its key history and its witness entry.

    Messages and receipts already received stay (they keep their signatures).

    Raises:
        NotFoundError: not on the trust list.
    """
    get_peer(db, node_id)
    with db.session(write=True) as s:
        s.execute(delete(PeerKeyRow).where(PeerKeyRow.node_id == node_id))
        s.execute(delete(PeerRow).where(PeerRow.node_id == node_id))
        s.execute(delete(WitnessRow).where(WitnessRow.name == node_id))


def revoke_peer(db: Database, node_id: str, reason: str, now: dt.datetime | None = None) -> None:
    """Mark a peer revoked: its messages, transfers and cosignature requests are refused.

    Raises:
        NotFoundError: not on the trust list.
        UsageError: no reason given.
    """
    if not reason.strip():
        raise UsageError("a revocation needs a reason", "e.g. --reason 'key compromised'")
    get_peer(db, node_id)
    with db.session(write=True) as s:
        row = s.get(PeerRow, node_id)
        assert row is not None
        row.status = REVOKED
        row.revoked_at = now or dt.datetime.now(dt.UTC)
        row.revocation_reason = reason
        s.execute(delete(WitnessRow).where(WitnessRow.name == node_id))


def message_key(
    db: Database, sender: str, kid: str, created_at: dt.datetime, now: dt.datetime | None = None
) -> ed25519.Ed25519PublicKey:
    """The public key with which ``sender`` signed a message created at ``created_at``.

    Raises:
        MessageRefusedError: check ``sender``: unknown, revoked or expired peer, a
            key never trusted for it, or a retired key used after its retirement.
    """
    with db.session() as s:
        row = s.get(PeerRow, sender)
        key = s.scalar(
            select(PeerKeyRow).where(PeerKeyRow.node_id == sender, PeerKeyRow.vkey == kid)
        )
        if row is not None:
            s.expunge(row)
        if key is not None:
            s.expunge(key)
    if row is None:
        raise refuse("sender", f"{sender} is not on this node's trust list")
    problem = peer_problem(row, now)
    if problem:
        raise refuse("sender", f"{sender}: {problem}")
    if key is None:
        raise refuse("sender", f"{sender} signed with a key this node does not trust for it")
    if key.retired_at is not None and created_at > key.retired_at:
        raise refuse(
            "sender", f"{sender} signed with a key it retired on {utc_text(key.retired_at)}"
        )
    return ed25519.Ed25519PublicKey.from_public_bytes(parse_vkey(kid).public)


def peer_signature(
    db: Database, node_id: str, signed: str, time_field: str, check: str
) -> tuple[ed25519.Ed25519PublicKey, dict[str, Any]]:
    """Verify a JWS signed by a peer (a receipt) with the key named in its ``kid``,
    which must be one of the peer's message keys, current or retired — a receipt
    signed before a rotation stays valid; one dated (``time_field``) after its
    key's retirement is refused.

    Returns:
        ``(public key, payload)``.

    Raises:
        MessageRefusedError: check ``check``: malformed, a key not trusted for the
            peer, a bad signature, or a key used after its retirement.
    """
    kid = signed_kid(signed)
    if kid is None:
        raise refuse(check, f"the answer of {node_id} is not a signed receipt")
    with db.session() as s:
        key = s.scalar(
            select(PeerKeyRow).where(PeerKeyRow.node_id == node_id, PeerKeyRow.vkey == kid)
        )
        if key is not None:
            s.expunge(key)
    if key is None:
        raise refuse(check, f"{node_id} signed with a key this node does not trust for it")
    public = ed25519.Ed25519PublicKey.from_public_bytes(parse_vkey(kid).public)
    try:
        data = read_signed(signed, public)
    except MessageRefusedError as exc:
        raise refuse(check, f"the signature of {node_id} does not verify ({exc.message})") from None
    if key.retired_at is not None:
        try:
            when: dt.datetime | None = parse_utc(str(data.get(time_field)))
        except ValueError:
            when = None
        if when is None or when > key.retired_at:
            raise refuse(
                check, f"{node_id} signed with a key it retired on {utc_text(key.retired_at)}"
            )
    return public, data


def peer_trust(row: PeerRow) -> TrustedSender:
    """The peer as a package sender (its card, confirmed when it was added)."""
    return trusted_sender(
        row.card,
        f"node card of {row.node_id} ({row.agency}, {row.country}) on this node's trust list, "
        f"fingerprint {row.fingerprint} confirmed out of band when it was added",
    )


def peer_by_tls(db: Database, tls_sha256: str, now: dt.datetime | None = None) -> PeerRow | None:
    """The usable peer whose TLS certificate has this SHA-256 fingerprint (hex), if any."""
    with db.session() as s:
        row = s.scalar(select(PeerRow).where(PeerRow.tls_sha256 == tls_sha256.lower()))
        if row is not None:
            s.expunge(row)
    if row is None or peer_problem(row, now):
        return None
    return row
