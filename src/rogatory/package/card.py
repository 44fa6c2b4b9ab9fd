"""Node cards: the signed public identity of a node, exported for partners, courts and defence.

A card lists the node's identity (node id, country, agency, roles), its URL,
every public key by purpose (the message key that signs messages, manifests and
the card itself, with the history of earlier message keys; the custody-log
keys with their history; the witness key; the age recipient; the TLS
certificate and its SHA-256 fingerprint), the node's tlog-policy and the card's
validity period.

The card is **signed** by the node's current message key (Ed25519 over the
card's canonical JSON without its ``signatures`` member). After a key rotation
it is signed by the previous message key too, so a partner that trusted the old
key can accept the new card without another phone call.

Its **fingerprint** is SHA-256 over the node id and the current message public
key, shown as 10 groups of 4 hex digits: short enough to read over the phone or
publish in an official gazette, and stable while the message key is — a card
re-exported with a new URL or validity keeps the fingerprint. That out-of-band
confirmation anchors trust; the signature then binds every other field.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from rogatory.custody.events import canonical_json
from rogatory.custody.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteVerifier,
    format_vkey,
    parse_vkey,
)
from rogatory.custody.policy import Policy
from rogatory.errors import NoteError, UsageError

if TYPE_CHECKING:  # building a card needs the node; verifying with one must not (no database)
    from rogatory.custody.log import CustodyLog
    from rogatory.node.home import NodeHome

CARD_FORMAT = "rogatory-node-card/v1"
DEFAULT_VALIDITY_DAYS = 365
"""How long an exported card is valid unless ``--valid-days`` says otherwise (days)."""
_FINGERPRINT_DOMAIN = b"rogatory node fingerprint v1\n"


def message_key_name(node_id: str) -> str:
    """The key name of a node's message-signing key: ``rogatory/<node id>/message``."""
    return f"rogatory/{node_id}/message"


def _utc(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_utc(text: str) -> dt.datetime:
    """An ISO 8601 UTC time (``…Z`` or ``+00:00``) as an aware datetime.

    Raises:
        ValueError: not an ISO 8601 time with a zone.
    """
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(dt.UTC)


def _vkey_of(node_id: str, key: ed25519.Ed25519PublicKey) -> str:
    return format_vkey(message_key_name(node_id), ALG_ED25519, key.public_bytes_raw())


def card_body(card: dict[str, Any]) -> bytes:
    """The signed bytes of a card: canonical JSON of the card without ``signatures``."""
    return canonical_json({k: v for k, v in card.items() if k != "signatures"})


def build_card(
    home: NodeHome,
    log: CustodyLog,
    message_key: ed25519.Ed25519PrivateKey,
    *,
    passphrase: bytes | None = None,
    valid_days: int = DEFAULT_VALIDITY_DAYS,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The node's signed card as a JSON object (no secrets).

    Args:
        home: the node home (identity, URL, key files).
        log: the node's custody log (log-key history, origin, policy).
        message_key: the unlocked current message key; it signs the card.
        passphrase: unlocks retired message keys: the newest one cosigns the card
            after a rotation.
        valid_days: validity from ``now``, days (1–3650).
        now: issue time (UTC); defaults to the current time.

    Raises:
        UsageError: ``valid_days`` out of range.
        KeyMaterialError: a retired key cannot be unlocked.
    """
    from rogatory.custody.disclosure import node_policy
    from rogatory.custody.witnessing import witness_name
    from rogatory.node.keys import TLS_CERT, KeyPurpose, public_keys, retired_signing_keys

    if not 1 <= valid_days <= 3650:
        raise UsageError("a card is valid for 1 to 3650 days", "pass --valid-days 365, say")
    ident = home.config.identity
    pubs = {k.purpose: k for k in public_keys(home.keys_dir)}
    issued = now or dt.datetime.now(dt.UTC)
    retired = retired_signing_keys(home.keys_dir, KeyPurpose.MESSAGE, passphrase)
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "node_id": ident.node_id,
        "country": ident.country,
        "agency": ident.agency,
        "roles": ident.roles,
        "url": home.config.url or None,
        "issued_at": _utc(issued),
        "valid_until": _utc(issued + dt.timedelta(days=valid_days)),
        "keys": {
            "message": _vkey_of(ident.node_id, message_key.public_key()),
            "message_history": [
                {"vkey": _vkey_of(ident.node_id, k.public_key()), "retired_at": _utc(when)}
                for when, k in retired
            ],
            "log": [k.vkey for k in log.key_history()],
            "witness": format_vkey(
                witness_name(ident.node_id),
                ALG_COSIGNATURE_V1,
                base64.b64decode(pubs[KeyPurpose.WITNESS].public),
            ),
            "age": pubs[KeyPurpose.AGE].public,
            "tls_sha256": pubs[KeyPurpose.TLS].fingerprint,
            "tls_certificate": (home.keys_dir / TLS_CERT).read_text(encoding="ascii"),
        },
        "log_origin": log.origin,
        "policy": node_policy(log, home.config.quorum),
    }
    body = card_body(card)
    signers = [message_key] + ([retired[-1][1]] if retired else [])
    card["signatures"] = [
        {
            "vkey": _vkey_of(ident.node_id, k.public_key()),
            "signature": base64.b64encode(k.sign(body)).decode("ascii"),
        }
        for k in signers
    ]
    return card


def fingerprint(card: dict[str, Any]) -> str:
    """The card's fingerprint, e.g. ``0F15 46DA … 9C2E`` (10 groups of 4 hex digits).

    SHA-256 over a domain string, the node id and the raw current message public
    key (32 bytes); the first 20 bytes are shown. Stable across card re-exports
    while the message key stays the same.

    Raises:
        UsageError: the card lacks a node id or a well-formed message key.
    """
    try:
        verifier = parse_vkey(card["keys"]["message"])
        node_id = str(card["node_id"])
    except (KeyError, TypeError, NoteError) as exc:
        raise UsageError(
            f"not a node card: {exc}", "obtain it again with 'rogatory node card'"
        ) from None
    digest = hashlib.sha256(_FINGERPRINT_DOMAIN + node_id.encode() + b"\n" + verifier.public)
    text = digest.hexdigest()[:40].upper()
    return " ".join(text[i : i + 4] for i in range(0, 40, 4))


def same_fingerprint(a: str, b: str) -> bool:
    """Whether two fingerprints are equal, ignoring spaces and case."""
    return a.replace(" ", "").upper() == b.replace(" ", "").upper()


def signed_by(card: dict[str, Any], vkey: str) -> bool:
    """Whether ``card`` carries a valid signature by the message key ``vkey``."""
    try:
        verifier = parse_vkey(vkey)
        public = ed25519.Ed25519PublicKey.from_public_bytes(verifier.public)
    except (NoteError, ValueError):
        return False
    body = card_body(card)
    for entry in card.get("signatures") or []:
        if not isinstance(entry, dict) or entry.get("vkey") != vkey:
            continue
        try:
            public.verify(base64.b64decode(entry["signature"], validate=True), body)
        except Exception:  # noqa: S112 - any failure means "not this signature"
            continue
        return True
    return False


def check_card(
    card: Any, *, now: dt.datetime | None = None, source: str = "the card", validity: bool = True
) -> None:
    """Check a card's structure, self-signature and (with ``validity``) its validity period.

    Raises:
        UsageError: not a Rogatory node card, not signed by its own message key
            (altered or damaged), or outside its validity period (``now``, UTC).
    """
    hint = "obtain the card again with 'rogatory node card' on the partner's node"
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        fmt = card.get("format") if isinstance(card, dict) else type(card).__name__
        raise UsageError(f"{source} is not a Rogatory node card (format {fmt!r})", hint)
    try:
        keys = card["keys"]
        parse_vkey(keys["message"])
        for h in keys.get("message_history", []):
            parse_vkey(h["vkey"])
            parse_utc(h["retired_at"])
        valid_until = parse_utc(card["valid_until"])
        issued_at = parse_utc(card["issued_at"])
        for name in ("node_id", "country", "agency", "log_origin"):
            if not isinstance(card[name], str):
                raise TypeError(f"{name} is not text")
        if not isinstance(keys["tls_certificate"], str) or not isinstance(keys["age"], str):
            raise TypeError("the TLS certificate or age key is not text")
    except (KeyError, TypeError, ValueError, NoteError) as exc:
        raise UsageError(f"{source} is malformed ({exc})", hint) from None
    if not signed_by(card, keys["message"]):
        raise UsageError(
            f"{source} is not signed by its own message key: it was altered or damaged", hint
        )
    if not validity:
        return
    when = now or dt.datetime.now(dt.UTC)
    if when > valid_until:
        raise UsageError(
            f"{source} of {card['node_id']} expired on {_utc(valid_until)}",
            "ask the partner for a current card ('rogatory node card')",
        )
    if issued_at > when + dt.timedelta(minutes=10):
        raise UsageError(
            f"{source} was issued in the future ({_utc(issued_at)})",
            "check this machine's clock and the partner's",
        )


def message_verifiers(card: dict[str, Any]) -> list[NoteVerifier]:
    """Verifiers for the card's current and retired message keys (newest first)."""
    keys = card["keys"]
    return [parse_vkey(keys["message"])] + [
        parse_vkey(h["vkey"]) for h in reversed(keys.get("message_history", []))
    ]


@dataclass(frozen=True)
class TrustedSender:
    """What a verifier trusts about a sender, from a card obtained out of band.

    Attributes:
        node_id, agency, country: the sender.
        message_verifier: the current message key (verifies manifest signatures).
        policy: the sender's tlog-policy (log keys with history, witnesses, quorum).
        basis: a sentence for the report saying how trust was established.
        message_verifiers: the current and every retired message key, newest
            first: a package signed before a rotation still verifies.
    """

    node_id: str
    agency: str
    country: str
    message_verifier: NoteVerifier
    policy: Policy
    basis: str
    message_verifiers: tuple[NoteVerifier, ...] = ()


def read_card(path: Path) -> dict[str, Any]:
    """Read and check a card file (see :func:`check_card`; expiry is not checked
    here: an old package is verified with the card that was valid when it was made).

    Raises:
        UsageError: unreadable, not JSON, malformed or not validly self-signed.
    """
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a readable node card ({exc})",
            "obtain the card with 'rogatory node card' on the partner's node",
        ) from None
    check_card(card, source=str(path), validity=False)
    return card  # type: ignore[no-any-return]


def trusted_sender(card: dict[str, Any], basis: str) -> TrustedSender:
    """A :class:`TrustedSender` from a checked card.

    Raises:
        UsageError: the card's policy is malformed.
    """
    try:
        policy = Policy.parse(card["policy"])
    except (KeyError, TypeError, ValueError, NoteError) as exc:
        raise UsageError(f"the node card's policy is malformed ({exc})", "") from None
    verifiers = tuple(message_verifiers(card))
    return TrustedSender(
        card["node_id"], card["agency"], card["country"], verifiers[0], policy, basis, verifiers
    )


def load_trust(path: Path, expected_fingerprint: str | None = None) -> TrustedSender:
    """Read a node card as a trust anchor.

    Raises:
        UsageError: unreadable, malformed or unsigned card, or its fingerprint
            differs from ``expected_fingerprint`` (spaces and case are ignored).
    """
    card = read_card(path)
    fp = fingerprint(card)
    if expected_fingerprint is not None:
        if not same_fingerprint(expected_fingerprint, fp):
            raise UsageError(
                "the node card's fingerprint differs from the one you confirmed",
                "the card was altered or is another node's; obtain it again by a trusted route",
            )
        basis = (
            f"node card of {card['node_id']} ({card['agency']}, {card['country']}) whose fingerprint {fp} "
            "was confirmed out of band"
        )
    else:
        basis = (
            f"node card of {card['node_id']} ({card['agency']}, {card['country']}) read from {path.name}, "
            f"fingerprint {fp} (not confirmed on the command line: compare it with the one published by the sender)"
        )
    return trusted_sender(card, basis)
