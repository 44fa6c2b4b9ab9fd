"""Message envelopes: sign, then encrypt (no I/O).

A message is a JSON object signed as a **JWS** (RFC 7515, compact
serialisation) with the algorithm name ``Ed25519`` (RFC 8037 key type OKP, the
fully-specified name of RFC 9864), by the sender's message key; the JWS text is
then encrypted with **age** (C2SP age-encryption.org/v1, X25519) to the
recipient's age key. Sender and recipient are named *inside* the signed
payload, so a recipient can show a third party exactly what the sender signed
(the decrypted JWS) and to whom — and a message cannot be re-addressed.

Signed payload (UTF-8 JSON, keys sorted)::

    {"v": 1, "id": "<uuid4>", "type": "request", "sender": "nl.police-cybercrime",
     "recipient": "jp.central-authority", "handling": "H2",
     "created_at": "2026-11-30T08:00:00Z", "expires_at": "2026-12-07T08:00:00Z",
     "reply_to": null, "body": {...}}

JWS protected header: ``{"alg": "Ed25519", "kid": "<C2SP vkey of the key>",
"typ": "rogatory-message+jws"}``.

A **receipt** is a JWS (not encrypted) signed by the recipient over
``{"v": 1, "type": "receipt", "receipt_for": id, "sender": <receiving node>,
"recipient": <original sender>, "message_sha256": hex SHA-256 of the JWS
received, "status": "accepted", "received_at": time}`` — modelled on the
ETSI REM / AS4 receipt that binds the exact content received.

Handling codes follow SIENA's H0–H3 vocabulary (Europol).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.util import urlsafe_b64decode

from rogatory.custody.events import canonical_json
from rogatory.errors import MessageRefusedError, UsageError
from rogatory.exchange.codes import HandlingCode as HandlingCode  # re-exported
from rogatory.exchange.codes import MessageType as MessageType  # re-exported
from rogatory.package import agefile

JWS_ALG = "Ed25519"
JWS_TYP = "rogatory-message+jws"
RECEIPT_TYP = "rogatory-receipt+jws"
MAX_ENVELOPE_BYTES = 1 << 20
"""Largest encrypted message accepted (bytes); evidence travels as packages, not messages."""
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
"""A message may claim a creation time this far in the future (clock differences)."""
DEFAULT_TTL = dt.timedelta(days=7)
"""A message's lifetime unless the sender sets one (Directive 2023/977's longest reply time)."""
_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def utc_text(value: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a time")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{name} has no time zone")
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True)
class Message:
    """One message between two nodes (the signed payload).

    Attributes:
        message_id: unique per sender (a UUID4 unless given), 8–64 of ``A-Za-z0-9._:-``.
        type: what the message is.
        sender, recipient: node ids.
        handling: SIENA handling code.
        created_at, expires_at: UTC; a message is refused after ``expires_at``.
        body: the content (JSON object, no floats).
        reply_to: the message id this answers, if any.
    """

    type: MessageType
    sender: str
    recipient: str
    body: dict[str, Any]
    handling: HandlingCode = HandlingCode.H2
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    expires_at: dt.datetime | None = None
    reply_to: str | None = None

    @property
    def expiry(self) -> dt.datetime:
        """``expires_at``, or ``created_at`` + :data:`DEFAULT_TTL`."""
        return self.expires_at or self.created_at + DEFAULT_TTL

    def payload(self) -> dict[str, Any]:
        """The signed JSON object."""
        return {
            "v": 1,
            "id": self.message_id,
            "type": self.type.value,
            "sender": self.sender,
            "recipient": self.recipient,
            "handling": self.handling.value,
            "created_at": utc_text(self.created_at),
            "expires_at": utc_text(self.expiry),
            "reply_to": self.reply_to,
            "body": self.body,
        }

    @classmethod
    def from_payload(cls, data: Any) -> Message:
        """Parse a signed payload.

        Raises:
            ValueError: a field is missing or malformed (the message names it).
        """
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("not a version-1 Rogatory message")
        for name in ("id", "sender", "recipient"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ValueError(f"{name} is missing")
        if not _ID.match(data["id"]):
            raise ValueError("the message id is malformed")
        if not isinstance(data.get("body"), dict):
            raise ValueError("body is not a JSON object")
        reply_to = data.get("reply_to")
        if reply_to is not None and not isinstance(reply_to, str):
            raise ValueError("reply_to is not text")
        return cls(
            type=MessageType(str(data.get("type"))),
            sender=data["sender"],
            recipient=data["recipient"],
            body=data["body"],
            handling=HandlingCode(str(data.get("handling"))),
            message_id=data["id"],
            created_at=_parse_time(data.get("created_at"), "created_at"),
            expires_at=_parse_time(data.get("expires_at"), "expires_at"),
            reply_to=reply_to,
        )


_OKP_CACHE: dict[bytes, OKPKey] = {}


def _okp(key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey) -> OKPKey:
    """The joserfc key for ``key``, converted once per key (a batch signs or checks
    hundreds of messages with the same few keys)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        ident = b"private:" + key.public_key().public_bytes_raw()
    else:
        ident = b"public:" + key.public_bytes_raw()
    found = _OKP_CACHE.get(ident)
    if found is None:
        if len(_OKP_CACHE) > 256:
            _OKP_CACHE.clear()
        found = _OKP_CACHE[ident] = OKPKey.import_key(key)
    return found


def sign(payload: dict[str, Any], key: ed25519.Ed25519PrivateKey, kid: str, typ: str) -> str:
    """A JWS compact serialisation of ``payload`` (canonical JSON) signed with ``key``.

    Raises:
        UsageError: the payload holds a float or another non-JSON value.
    """
    try:
        body = canonical_json(payload)
    except Exception as exc:
        raise UsageError(
            f"the message cannot be encoded: {exc}", "use text, integers, lists and objects"
        ) from None
    header = {"alg": JWS_ALG, "kid": kid, "typ": typ}
    return jws.serialize_compact(header, body, _okp(key), algorithms=[JWS_ALG])


def seal(
    message: Message, key: ed25519.Ed25519PrivateKey, kid: str, recipient_age: str
) -> tuple[str, bytes]:
    """Sign ``message`` then encrypt it to the recipient.

    Args:
        message: the message.
        key: the sender's message key.
        kid: the sender's message vkey (C2SP form), put in the JWS header.
        recipient_age: the recipient's ``age1…`` recipient.

    Returns:
        ``(jws, envelope)``: the signed text, and its age ciphertext (binary age format).

    Raises:
        UsageError: the body cannot be encoded, or the envelope would exceed
            :data:`MAX_ENVELOPE_BYTES`.
    """
    signed = sign(message.payload(), key, kid, JWS_TYP)
    envelope = pyrage.encrypt(
        signed.encode("ascii"), [pyrage.x25519.Recipient.from_str(recipient_age)]
    )
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise UsageError(
            f"the message is {len(envelope)} bytes; at most {MAX_ENVELOPE_BYTES} are allowed",
            "send large content as an evidence package (rogatory package send)",
        )
    return signed, envelope


def digest(signed: str) -> str:
    """SHA-256 (hex) of a JWS text as received: what a receipt binds."""
    return hashlib.sha256(signed.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A received message after every check passed.

    Attributes:
        message: the parsed payload.
        signed: the JWS text as signed by the sender (keep it: it proves what was sent).
        kid: the vkey that verified the signature.
    """

    message: Message
    signed: str
    kid: str


def refuse(check: str, message: str, hint: str = "") -> MessageRefusedError:
    """A :class:`MessageRefusedError` naming ``check``."""
    return MessageRefusedError(f"message refused ({check}): {message}", hint, check=check)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"the {what} is not a JSON object")
    return value


def open_envelope(
    envelope: bytes,
    identity: pyrage.x25519.Identity,
    verifier_for: Callable[[str, str, dt.datetime], ed25519.Ed25519PublicKey],
    own_node_id: str,
    *,
    now: dt.datetime | None = None,
) -> Opened:
    """Decrypt and check one message. Every failure names the check.

    Args:
        envelope: the age ciphertext as received (bytes).
        identity: this node's age identity.
        verifier_for: ``(sender, kid, created_at) -> public key``; raises
            :class:`MessageRefusedError` for an unknown, revoked or expired sender
            or a key the sender did not hold at ``created_at``.
        own_node_id: this node's id (the only acceptable recipient).
        now: the current time (UTC).

    Raises:
        MessageRefusedError: check ``size``, ``decryption``, ``format``,
            ``sender`` (from ``verifier_for``), ``signature``, ``recipient``,
            ``expiry`` or ``created-in-future``.
    """
    now = now or dt.datetime.now(dt.UTC)
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise refuse("size", f"{len(envelope)} bytes, more than {MAX_ENVELOPE_BYTES}")
    try:
        # our streaming age code: linear in the header (pyrage's parser is quadratic
        # in a long header line and holds the GIL meanwhile)
        plain = agefile.decrypt_bytes(envelope, [identity])
    except agefile.AgeError:
        raise refuse(
            "decryption",
            "not an age message encrypted to this node's key",
            "the sender used a wrong or old card of ours",
        ) from None
    try:
        signed = plain.decode("ascii")
        header_b64, payload_b64, _sig = signed.split(".")
        header = _json_object(urlsafe_b64decode(header_b64.encode()), "JWS header")
        data = _json_object(urlsafe_b64decode(payload_b64.encode()), "payload")
        if header.get("alg") != JWS_ALG or header.get("typ") != JWS_TYP:
            raise ValueError(f"unexpected JWS header {header}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise ValueError("the JWS header has no kid")
        message = Message.from_payload(data)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise refuse("format", f"malformed message ({str(exc)[:200]})") from None
    public = verifier_for(message.sender, kid, message.created_at)
    try:
        jws.deserialize_compact(signed, _okp(public), algorithms=[JWS_ALG])
    except JoseError:
        raise refuse("signature", f"the signature of {message.sender} does not verify") from None
    if message.recipient != own_node_id:
        raise refuse(
            "recipient", f"the message is for {message.recipient}, not this node ({own_node_id})"
        )
    if now > message.expiry:
        raise refuse("expiry", f"the message expired at {utc_text(message.expiry)}")
    if message.created_at > now + MAX_CLOCK_SKEW:
        raise refuse(
            "created-in-future",
            f"created at {utc_text(message.created_at)}, in the future",
            "check the clocks",
        )
    return Opened(message, signed, kid)


def make_receipt(
    opened: Opened, key: ed25519.Ed25519PrivateKey, kid: str, received_at: dt.datetime
) -> str:
    """The signed receipt (JWS compact) for ``opened``, signed by the receiving node."""
    m = opened.message
    return sign(
        {
            "v": 1,
            "type": "receipt",
            "receipt_for": m.message_id,
            "sender": m.recipient,
            "recipient": m.sender,
            "message_sha256": digest(opened.signed),
            "status": "accepted",
            "received_at": utc_text(received_at),
        },
        key,
        kid,
        RECEIPT_TYP,
    )


def check_receipt(
    receipt: str, public: ed25519.Ed25519PublicKey, *, message_id: str, signed: str, peer: str
) -> dict[str, Any]:
    """Verify a receipt returned for the message ``signed``.

    Returns:
        The receipt payload.

    Raises:
        MessageRefusedError: check ``receipt``: bad signature, or it names another
            message, digest or node.
    """
    try:
        obj = jws.deserialize_compact(receipt, _okp(public), algorithms=[JWS_ALG])
        data = _json_object(obj.payload, "receipt")
    except (JoseError, ValueError, TypeError) as exc:
        raise refuse("receipt", f"the receipt from {peer} does not verify ({exc})") from None
    expected = {"receipt_for": message_id, "message_sha256": digest(signed), "sender": peer}
    for k, v in expected.items():
        if data.get(k) != v:
            raise refuse(
                "receipt", f"the receipt from {peer} has {k}={data.get(k)!r}, expected {v!r}"
            )
    return data


def read_signed(signed: str, public: ed25519.Ed25519PublicKey) -> dict[str, Any]:
    """Verify any Rogatory JWS (message or receipt) and return its payload.

    Raises:
        MessageRefusedError: check ``signature``.
    """
    try:
        obj = jws.deserialize_compact(signed, _okp(public), algorithms=[JWS_ALG])
        return _json_object(obj.payload, "payload")
    except (JoseError, ValueError, TypeError) as exc:
        raise refuse("signature", f"the signature does not verify ({exc})") from None


def signed_kid(signed: str) -> str | None:
    """The ``kid`` in a JWS's protected header (unverified), or None."""
    try:
        header = _json_object(urlsafe_b64decode(signed.split(".", 1)[0].encode()), "header")
    except (ValueError, TypeError, RecursionError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None
