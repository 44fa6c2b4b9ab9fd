"""C2SP signed notes: text signed by one or more keys (https://c2sp.org/signed-note).

A signed note is UTF-8 text ending in a newline, one blank line, then one or more
signature lines ``— <key name> <base64(4-byte key ID || signature)>\\n`` (U+2014 em
dash). The signed *text* includes its final newline but not the blank separator.

What this module implements:

* key IDs, verifier keys (``vkey``: ``name+hex8(key ID)+base64(type || public key)``)
  and Go x/mod private keys (``PRIVATE+KEY+name+hex8+base64(0x01 || seed)``, test keys);
* verification for signature types 0x01 (Ed25519 over the text), 0x02 (ECDSA over
  SHA-256 of the text, transparency-dev/witness), 0x04 (timestamped Ed25519
  cosignature/v1, c2sp.org/tlog-cosignature), 0x05 (RFC 6962 TreeHeadSignature,
  c2sp.org/static-ct-api) and 0x06 (timestamped ML-DSA-44 subtree/v1 cosignature,
  c2sp.org/tlog-cosignature); signing for 0x01 and 0x04 (Ed25519 only);
* :func:`open_note` with the behaviour of golang.org/x/mod/sumdb/note ``Open``:
  unknown (name, key ID) pairs are ignored, a known key's signature must verify,
  at least one known signature must verify, at most 100 signatures per note.

All cryptography is done by the ``cryptography`` package. Errors are
:class:`SignedNoteError` (a :class:`~rogatory.errors.NoteError`) whose ``kind`` is one
of ``malformed``, ``no_verifiable_signature``, ``invalid_signature``, ``ambiguous_key``.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from rogatory.errors import NoteError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ECDSA",
    "ALG_ED25519",
    "ALG_MLDSA44_COSIGNATURE",
    "ALG_RFC6962_STH",
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "SIGNATURE_PREFIX",
    "CosignatureSigner",
    "NoteErrorKind",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "Signature",
    "SignedNoteError",
    "Signer",
    "add_signatures",
    "b64decode",
    "b64encode",
    "cosignature_v1_message",
    "format_skey",
    "format_vkey",
    "is_valid_key_name",
    "key_id",
    "open_note",
    "parse_skey",
    "parse_vkey",
    "sign_note",
    "split_note",
    "subtree_v1_message",
    "vkey_for",
]

ALG_ED25519 = 0x01
"""Ed25519 signature over the note text (signed-note §Ed25519 signatures)."""
ALG_ECDSA = 0x02
"""ECDSA (P-256/384/521) over SHA-256 of the note text; key ID = SHA-256(DER SPKI)[:4]."""
ALG_COSIGNATURE_V1 = 0x04
"""Timestamped Ed25519 cosignature/v1 (c2sp.org/tlog-cosignature)."""
ALG_RFC6962_STH = 0x05
"""RFC 6962 TreeHeadSignature (c2sp.org/static-ct-api); vkey carries the DER SPKI."""
ALG_MLDSA44_COSIGNATURE = 0x06
"""Timestamped ML-DSA-44 subtree/v1 cosignature (c2sp.org/tlog-cosignature)."""

_SUPPORTED_ALGS = frozenset(
    {ALG_ED25519, ALG_ECDSA, ALG_COSIGNATURE_V1, ALG_RFC6962_STH, ALG_MLDSA44_COSIGNATURE}
)

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (Go x/mod's limit; C2SP requires >= 16)."""
MAX_TIMESTAMP = 2**63 - 1
"""Largest cosignature timestamp allowed (tlog-cosignature: MUST NOT exceed 2^63 - 1)."""
SIGNATURE_PREFIX = "\u2014 "
"""Every signature line starts with an em dash (U+2014) and a space."""

_MLDSA44_PUBLIC_KEY_SIZE = 1312
_MLDSA44_SIGNATURE_SIZE = 2420
_ED25519_SIGNATURE_SIZE = 64
_TIMESTAMP_SIZE = 8
_SUBTREE_LABEL = b"subtree/v1\n\x00"
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_UINT = re.compile(r"0|[1-9][0-9]*")
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)

NoteErrorKind = Literal[
    "malformed", "no_verifiable_signature", "invalid_signature", "ambiguous_key"
]


class SignedNoteError(NoteError):
    """A signed note (or key, or signature line) is malformed or does not verify.

    Attributes:
        kind: ``malformed`` (bad syntax, bad key, too many signatures),
            ``no_verifiable_signature`` (no signature from a known key verified),
            ``invalid_signature`` (a known key's signature failed; the whole note is
            rejected) or ``ambiguous_key`` (two configured verifiers share a name and key ID).
        unverified: for ``no_verifiable_signature``, the signatures from unknown keys.
    """

    def __init__(
        self,
        kind: NoteErrorKind,
        message: str,
        hint: str = "",
        unverified: Sequence[Signature] = (),
    ) -> None:
        super().__init__(message, hint)
        self.kind: NoteErrorKind = kind
        self.unverified: tuple[Signature, ...] = tuple(unverified)


def _malformed(message: str, hint: str = "") -> SignedNoteError:
    return SignedNoteError(
        "malformed",
        message,
        hint or "the note must be UTF-8 text, a blank line, then '— <name> <base64>' lines",
    )


def b64encode(data: bytes) -> str:
    """Standard base64 (RFC 4648 §4) with padding, as text."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64decode(text: str, *, canonical: bool = False) -> bytes | None:
    """Decode standard padded base64 (RFC 4648 §4); ``None`` when it is not valid.

    No whitespace or other characters are tolerated. With ``canonical`` the
    encoding must also be the unique one for its bytes (zero padding bits).
    """
    try:
        raw = binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if canonical and b64encode(raw) != text:
        return None
    return raw


_BAD_NAME = re.compile(r"[\s\x00-\x1f\x7f]")


def is_valid_key_name(name: str) -> bool:
    """True if ``name`` can name a note key: non-empty, no Unicode space, no ``+``.

    Control characters are rejected too, since a note can never contain them.
    """
    return bool(name) and "+" not in name and _BAD_NAME.search(name) is None


def key_id(name: str, alg: int, public: bytes) -> bytes:
    """The 4-byte key ID of a note key (signed-note §Signatures).

    ``SHA-256(name || 0x0A || alg || public)[:4]`` for every type except two
    historical ones: 0x02 (ECDSA) uses ``SHA-256(DER SPKI)[:4]`` and 0x05 (RFC 6962)
    uses ``SHA-256(name || 0x0A || 0x05 || SHA-256(DER SPKI))[:4]``.

    Args:
        name: the key name (text).
        alg: the signature-type byte.
        public: the public-key encoding carried in the vkey after the type byte.
    """
    if alg == ALG_ECDSA:
        return hashlib.sha256(public).digest()[:4]
    material = hashlib.sha256(public).digest() if alg == ALG_RFC6962_STH else public
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + material).digest()[:4]


def cosignature_v1_message(text: str | bytes, timestamp: int) -> bytes:
    """The message an Ed25519 cosignature/v1 (type 0x04) signs (tlog-cosignature).

    ``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole checkpoint text
    (all lines including extension lines and the final newline, no signature lines).

    Raises:
        NoteError: the timestamp is negative or above 2^63 - 1.
    """
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(
            f"cosignature timestamp {timestamp} is outside 0..2^63-1",
            "use POSIX seconds",
        )
    body = text.encode("utf-8") if isinstance(text, str) else text
    return b"cosignature/v1\ntime %d\n" % timestamp + body


def subtree_v1_message(
    cosigner_name: str,
    timestamp: int,
    origin: str,
    start: int,
    end: int,
    root_hash: bytes,
) -> bytes:
    """The TLS-encoded ``cosigned_message`` an ML-DSA-44 (type 0x06) cosignature signs.

    ``"subtree/v1\\n\\0" || u8 len || cosigner name || u64 timestamp || u8 len ||
    origin || u64 start || u64 end || 32-byte hash`` (tlog-cosignature §ML-DSA-44
    signed message). A checkpoint is signed with ``start = 0, end = size``.

    Raises:
        NoteError: a field is out of range (names of 1..255 bytes, u64 values,
            32-byte hash, non-zero start with a non-zero timestamp).
    """
    name_b = cosigner_name.encode("utf-8")
    origin_b = origin.encode("utf-8")
    if not (1 <= len(name_b) <= 255 and 1 <= len(origin_b) <= 255):
        raise NoteError(
            "subtree/v1 message: cosigner name and origin must be 1..255 bytes",
            "shorten the key name or origin",
        )
    if len(root_hash) != 32:
        raise NoteError(
            f"subtree/v1 message: hash is {len(root_hash)} bytes, expected 32",
            "pass a SHA-256 root hash",
        )
    if not all(0 <= v < 2**64 for v in (timestamp, start, end)) or timestamp > MAX_TIMESTAMP:
        raise NoteError("subtree/v1 message: timestamp, start or end out of range", "")
    if start != 0 and timestamp != 0:
        raise NoteError("subtree/v1 message: a non-zero start requires timestamp 0", "")
    return (
        _SUBTREE_LABEL
        + bytes([len(name_b)])
        + name_b
        + struct.pack(">Q", timestamp)
        + bytes([len(origin_b)])
        + origin_b
        + struct.pack(">QQ", start, end)
        + root_hash
    )


def _checkpoint_fields(text: bytes) -> tuple[list[str], int, bytes] | None:
    """(lines, size, root) of a checkpoint text with a 32-byte root, else None."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded.endswith("\n"):
        return None
    lines = decoded[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or not _UINT.fullmatch(lines[1]):
        return None
    size = int(lines[1])
    root = b64decode(lines[2])
    if size >= 2**64 or root is None or len(root) != 32:
        return None
    return lines, size, root


def _load_ec_key(der: bytes) -> ec.EllipticCurvePublicKey | None:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _EC_CURVES):
        return None
    return key


def _mldsa44_key_loads(public: bytes) -> bool:
    """False only if ML-DSA-44 is available and ``public`` is not a valid key."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:  # cryptography without ML-DSA: such keys parse but never verify
        return True
    try:
        mldsa.MLDSA44PublicKey.from_public_bytes(public)
    except (ValueError, TypeError):
        return False
    return True


def _mldsa44_verify(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:
        return False
    try:
        key = mldsa.MLDSA44PublicKey.from_public_bytes(public)
        key.verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class NoteVerifier:
    """A configured public key that verifies note signatures.

    Attributes:
        name: the key name (text), as it appears in signature lines.
        key_id: the 4-byte key ID (raw bytes).
        alg: the signature-type byte (0x01, 0x02, 0x04, 0x05 or 0x06 when made by
            :func:`parse_vkey`; any other value never verifies).
        public: the public-key encoding (raw bytes): 32 bytes for Ed25519 types,
            DER SPKI for 0x02/0x05, 1312 bytes for ML-DSA-44.
    """

    name: str
    key_id: bytes
    alg: int
    public: bytes

    @classmethod
    def for_key(cls, name: str, alg: int, public: bytes) -> NoteVerifier:
        """A verifier with its key ID computed by :func:`key_id`."""
        return cls(name, key_id(name, alg, public), alg, public)

    @property
    def vkey(self) -> str:
        """This key as a vkey string."""
        return f"{self.name}+{self.key_id.hex()}+{b64encode(bytes([self.alg]) + self.public)}"

    @property
    def is_cosigner(self) -> bool:
        """True for the timestamped cosignature types (0x04, 0x06)."""
        return self.alg in (ALG_COSIGNATURE_V1, ALG_MLDSA44_COSIGNATURE)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True iff ``sig`` (signature bytes, without the 4-byte key ID) is valid over ``msg``.

        ``msg`` is the note text as UTF-8 bytes. For 0x04 the signature is
        ``u64 timestamp || 64-byte Ed25519 signature`` over
        :func:`cosignature_v1_message`; for 0x06 it is ``u64 timestamp || 2420-byte
        ML-DSA-44 signature`` over :func:`subtree_v1_message` of the checkpoint in
        ``msg``; for 0x05 the text must be exactly a checkpoint whose origin is this
        key's name. Never raises: anything malformed simply does not verify.
        """
        try:
            if self.alg == ALG_ED25519:
                return self._verify_ed25519(msg, sig)
            if self.alg == ALG_COSIGNATURE_V1:
                if len(sig) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
                    return False
                (ts,) = struct.unpack(">Q", sig[:_TIMESTAMP_SIZE])
                if ts > MAX_TIMESTAMP:
                    return False
                return self._verify_ed25519(cosignature_v1_message(msg, ts), sig[_TIMESTAMP_SIZE:])
            if self.alg == ALG_ECDSA:
                return self._verify_ecdsa(msg, sig)
            if self.alg == ALG_RFC6962_STH:
                return self._verify_rfc6962(msg, sig)
            if self.alg == ALG_MLDSA44_COSIGNATURE:
                return self._verify_mldsa44(msg, sig)
        except (NoteError, ValueError, TypeError):
            return False
        return False

    def _verify_ed25519(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != _ED25519_SIGNATURE_SIZE or len(self.public) != 32:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def _verify_ecdsa(self, msg: bytes, sig: bytes) -> bool:
        key = _load_ec_key(self.public)
        if key is None:
            return False
        try:
            key.verify(sig, hashlib.sha256(msg).digest(), ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            return False
        return True

    def _verify_rfc6962(self, msg: bytes, sig: bytes) -> bool:
        # static-ct-api: sig = u64 timestamp (ms) || TLS DigitallySigned
        # (u8 hash=4 SHA-256, u8 sig=3 ECDSA, u16 length, DER signature) over the
        # RFC 6962 §3.5 TreeHeadSignature. The origin line is not signed, so it
        # must equal the key name, and extension lines are not allowed.
        fields = _checkpoint_fields(msg)
        key = _load_ec_key(self.public)
        if fields is None or key is None or len(sig) < 12:
            return False
        lines, size, root = fields
        if len(lines) != 3 or lines[0] != self.name:
            return False
        ts, hash_alg, sig_alg, length = struct.unpack(">QBBH", sig[:12])
        der = sig[12:]
        if hash_alg != 4 or sig_alg != 3 or length != len(der):
            return False
        signed = struct.pack(">BBQQ", 0, 1, ts, size) + root
        try:
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def _verify_mldsa44(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != _TIMESTAMP_SIZE + _MLDSA44_SIGNATURE_SIZE:
            return False
        fields = _checkpoint_fields(msg)
        if fields is None:
            return False
        lines, size, root = fields
        (ts,) = struct.unpack(">Q", sig[:_TIMESTAMP_SIZE])
        signed = subtree_v1_message(self.name, ts, lines[0], 0, size, root)
        return _mldsa44_verify(self.public, sig[_TIMESTAMP_SIZE:], signed)


def _check_public_key(name: str, alg: int, public: bytes, where: str) -> None:
    """Raise a malformed SignedNoteError unless ``public`` suits ``alg``."""
    if alg in (ALG_ED25519, ALG_COSIGNATURE_V1):
        if len(public) != 32:
            raise _malformed(
                f"{where}: Ed25519 key {name!r} is {len(public)} bytes, expected 32",
                "check the vkey was copied completely",
            )
    elif alg in (ALG_ECDSA, ALG_RFC6962_STH):
        if _load_ec_key(public) is None:
            raise _malformed(
                f"{where}: key {name!r} of type 0x{alg:02x} is not a DER SPKI ECDSA "
                "P-256/P-384/P-521 public key",
                "check the vkey was copied completely",
            )
    elif alg == ALG_MLDSA44_COSIGNATURE:
        if len(public) != _MLDSA44_PUBLIC_KEY_SIZE or not _mldsa44_key_loads(public):
            raise _malformed(
                f"{where}: ML-DSA-44 key {name!r} is not a valid 1312-byte public key "
                f"({len(public)} bytes)",
                "check the vkey was copied completely",
            )
    else:
        raise _malformed(
            f"{where}: key {name!r} has unknown or reserved signature type 0x{alg:02x}",
            "supported types: 0x01 Ed25519, 0x02 ECDSA, 0x04 Ed25519 cosignature, "
            "0x05 RFC 6962, 0x06 ML-DSA-44 cosignature",
        )


def parse_vkey(text: str) -> NoteVerifier:
    """Parse a verifier key ``name+hex8(key ID)+base64(type || public key)``.

    The text is split on its first two ``+`` only (the base64 may contain ``+``).
    The key ID is recomputed with :func:`key_id` and must match; the type must be
    one of 0x01, 0x02, 0x04, 0x05, 0x06 and the key must have that type's shape.

    Raises:
        SignedNoteError: (kind ``malformed``) naming what is wrong with the vkey.
    """
    hint = "a vkey looks like example.com/log+1a2b3c4d+AbCd…"
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise _malformed(
            f"vkey {text[:60]!r} has {len(parts)} '+'-separated parts, expected 3", hint
        )
    name, hex_id, b64 = parts
    if not is_valid_key_name(name):
        raise _malformed(f"vkey {text[:60]!r}: invalid key name {name!r}", hint)
    if not _HEX8.fullmatch(hex_id):
        raise _malformed(f"vkey {name!r}: key ID {hex_id!r} is not 8 hex digits", hint)
    raw = b64decode(b64)
    if not raw:
        raise _malformed(f"vkey {name!r}: key {b64[:60]!r} is not valid base64", hint)
    alg, public = raw[0], raw[1:]
    declared = bytes.fromhex(hex_id)
    if key_id(name, alg, public) != declared:
        raise _malformed(
            f"vkey {name!r}: key ID {hex_id} does not match the key "
            f"(computed {key_id(name, alg, public).hex()})",
            "the vkey was altered or built with another key-ID rule",
        )
    _check_public_key(name, alg, public, f"vkey {name!r}")
    return NoteVerifier(name=name, key_id=declared, alg=alg, public=public)


def format_vkey(name: str, alg: int, public: bytes) -> str:
    """The vkey text for a public key (the inverse of :func:`parse_vkey`).

    Raises:
        SignedNoteError: the name or key is not acceptable.
    """
    if not is_valid_key_name(name):
        raise _malformed(f"invalid key name {name!r}", "no spaces, no '+', not empty")
    _check_public_key(name, alg, public, "format_vkey")
    return NoteVerifier.for_key(name, alg, public).vkey


def _raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def vkey_for(private_key: Ed25519PrivateKey, name: str, alg: int = ALG_ED25519) -> str:
    """The vkey of an Ed25519 private key as a note signer (0x01) or cosigner (0x04).

    Raises:
        SignedNoteError: bad name, or ``alg`` is not 0x01 or 0x04.
    """
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise _malformed(f"vkey_for: Ed25519 keys are type 0x01 or 0x04, not 0x{alg:02x}", "")
    return format_vkey(name, alg, _raw_public(private_key))


# --------------------------------------------------------------------------- signers


class Signer(Protocol):
    """Anything that can add a signature line to a note."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, msg: bytes) -> bytes:
        """Signature bytes (without the key ID) over the note text ``msg``."""
        ...


class _Ed25519Key:
    """An Ed25519 key under a note key name, for one signature type (``alg``).

    Holds what both signer kinds share: the name, the raw public key, the key ID
    derived for ``alg`` (signed-note §Key IDs), and the matching verifier and vkey.
    """

    alg: int

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not is_valid_key_name(name):
            raise _malformed(f"invalid key name {name!r}", "no spaces, no '+'")
        self._name = name
        self._key = private_key
        self._public = _raw_public(private_key)
        self._key_id = key_id(name, self.alg, self._public)

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID (raw), derived for this signature type."""
        return self._key_id

    @property
    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return NoteVerifier(self._name, self._key_id, self.alg, self._public)

    @property
    def vkey(self) -> str:
        """The matching vkey text."""
        return self.verifier.vkey


class NoteSigner(_Ed25519Key):
    """An Ed25519 (type 0x01) note signer (signed-note §Ed25519 signatures)."""

    alg = ALG_ED25519

    @classmethod
    def ed25519(cls, name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
        """A type-0x01 signer named ``name``."""
        return cls(name, private_key)

    def sign(self, msg: bytes) -> bytes:
        """64-byte Ed25519 signature over ``msg`` (deterministic, RFC 8032)."""
        return self._key.sign(msg)


class CosignatureSigner(_Ed25519Key):
    """An Ed25519 cosigner producing tlog-cosignature/v1 signatures (type 0x04).

    Args:
        name: the cosigner (witness) key name.
        private_key: its Ed25519 key; it must not also be used as a 0x01 key.
        clock: POSIX-seconds clock used by :meth:`sign` (default ``time.time``).
    """

    alg = ALG_COSIGNATURE_V1

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, private_key)
        self._clock = clock

    def cosign(self, checkpoint_text: str | bytes, timestamp: int) -> bytes:
        """``u64 big-endian timestamp || Ed25519 signature`` (72 bytes) over
        :func:`cosignature_v1_message` of the checkpoint text.

        Raises:
            NoteError: the timestamp is outside 0..2^63-1.
        """
        msg = cosignature_v1_message(checkpoint_text, timestamp)
        return struct.pack(">Q", timestamp) + self._key.sign(msg)

    def cosignature(self, checkpoint_text: str | bytes, timestamp: int) -> Signature:
        """The cosignature as a :class:`Signature` (ready to add to the note)."""
        return Signature(self._name, self._key_id, self.cosign(checkpoint_text, timestamp))

    def sign(self, msg: bytes) -> bytes:
        """Cosign ``msg`` (a checkpoint text) at the clock's current time."""
        return self.cosign(msg, int(self._clock()))


def format_skey(name: str, private_key: Ed25519PrivateKey) -> str:
    """A Go x/mod private key ``PRIVATE+KEY+name+hex8+base64(0x01 || seed)`` (test keys)."""
    seed = private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    kid = key_id(name, ALG_ED25519, _raw_public(private_key))
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{b64encode(bytes([ALG_ED25519]) + seed)}"


def parse_skey(text: str) -> NoteSigner:
    """Parse a Go x/mod Ed25519 private key (not part of C2SP; used for test keys).

    Raises:
        SignedNoteError: (``malformed``) wrong shape, unknown type, or the key ID
            does not match the public key derived from the seed.
    """
    hint = "expected PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>"
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise _malformed("skey does not start with PRIVATE+KEY+ or has too few parts", hint)
    name, hex_id, b64 = parts[2], parts[3], parts[4]
    raw = b64decode(b64)
    if not is_valid_key_name(name) or not _HEX8.fullmatch(hex_id) or not raw:
        raise _malformed(f"skey for {name!r} has a bad name, key ID or base64", hint)
    if raw[0] != ALG_ED25519 or len(raw) != 33:
        raise _malformed(f"skey for {name!r} is not a 32-byte Ed25519 seed of type 0x01", hint)
    key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    signer = NoteSigner(name, key)
    if signer.key_id != bytes.fromhex(hex_id):
        raise _malformed(f"skey for {name!r}: key ID {hex_id} does not match the key", hint)
    return signer


# --------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class Signature:
    """One signature line of a note.

    Attributes:
        name: key name (text).
        key_id: 4-byte key ID (raw).
        sig: signature bytes after the key ID (raw; for cosignatures this starts
            with the 8-byte timestamp).
    """

    name: str
    key_id: bytes
    sig: bytes

    @property
    def base64(self) -> str:
        """base64(key_id || sig), as written on the line."""
        return b64encode(self.key_id + self.sig)

    @property
    def line(self) -> str:
        """The full line ``— <name> <base64>\\n``."""
        return f"{SIGNATURE_PREFIX}{self.name} {self.base64}\n"

    @classmethod
    def from_base64(cls, name: str, b64: str, key_id: bytes | None = None) -> Signature:
        """A signature from its name and base64 text, optionally checking its key ID.

        Raises:
            SignedNoteError: (``malformed``) bad name, bad base64, fewer than 5
                bytes, or a key ID different from ``key_id``.
        """
        raw = b64decode(b64)
        if not is_valid_key_name(name):
            raise _malformed(f"signature key name {name!r} is not valid", "no spaces, no '+'")
        if raw is None or len(raw) < 5:
            raise _malformed(f"signature by {name!r} is not base64 of at least 5 bytes", "")
        if key_id is not None and raw[:4] != key_id:
            raise _malformed(
                f"signature by {name!r} carries key ID {raw[:4].hex()}, declared {key_id.hex()}",
                "",
            )
        return cls(name, raw[:4], raw[4:])


@dataclass
class OpenedNote:
    """A note whose signatures were checked by :func:`open_note`.

    Attributes:
        text: the signed text (ends with a newline).
        verified: signatures from known keys, each verified (one per name and key ID,
            in note order).
        unverified: signatures from unknown keys (identical lines listed once).
    """

    text: str
    verified: list[Signature] = field(default_factory=list)
    unverified: list[Signature] = field(default_factory=list)

    def verified_by(self, verifier: NoteVerifier) -> Signature | None:
        """The verified signature from ``verifier``'s name and key ID, if any."""
        for sig in self.verified:
            if sig.name == verifier.name and sig.key_id == verifier.key_id:
                return sig
        return None


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


def _decode_note(note: bytes) -> str:
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"signed note is not valid UTF-8 (byte {exc.start})") from None
    bad = _CONTROL.search(text)
    if bad is not None:
        lineno = text.count("\n", 0, bad.start()) + 1
        raise _malformed(
            f"signed note line {lineno} contains control character U+{ord(bad.group()):04X}",
            "notes may contain no ASCII control characters except newline",
        )
    return text


def split_note(note: bytes) -> tuple[str, list[Signature]]:
    """Split a note into its text and signature lines, verifying nothing.

    Returns:
        (text, signatures): the text including its final newline, and every
        signature line in order (duplicates kept).

    Raises:
        SignedNoteError: (``malformed``) naming the first problem: invalid UTF-8,
            a control character, no blank line, no signatures, a missing final
            newline, a line not of the form ``— <name> <base64>``, or more than
            :data:`MAX_SIGNATURES` signature lines.
    """
    decoded = _decode_note(note)
    split = decoded.rfind("\n\n")
    if split < 0:
        raise _malformed("signed note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block:
        raise _malformed("signed note has no signature lines after the blank line")
    if not block.endswith("\n"):
        raise _malformed("signed note does not end with a newline")
    first_line = text.count("\n") + 2
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(
            f"signed note has {len(lines)} signature lines; at most {MAX_SIGNATURES} are accepted",
            "remove duplicate or unneeded signatures",
        )
    signatures: list[Signature] = []
    for offset, line in enumerate(lines):
        where = f"signed note line {first_line + offset}"
        if not line.startswith(SIGNATURE_PREFIX):
            raise _malformed(f"{where} is not a signature line ('— <name> <base64>')")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        raw = b64decode(b64)
        if not is_valid_key_name(name):
            raise _malformed(f"{where}: invalid key name {name!r}")
        if raw is None or not b64:
            raise _malformed(f"{where}: signature by {name!r} is not valid base64")
        if len(raw) < 5:
            raise _malformed(f"{where}: signature by {name!r} is shorter than 5 bytes")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    return text, signatures


def open_note(note: bytes, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Parse a note and verify its signatures against the configured keys.

    Behaviour (signed-note §Signatures, as golang.org/x/mod/sumdb/note ``Open``):
    a line whose (name, key ID) matches no verifier is ignored (listed in
    ``unverified``, identical lines once); a line matching a verifier must verify,
    else the whole note is rejected; at least one known signature must verify.
    Several lines from one known key are each verified (Go skips the repeats) and
    listed once in ``verified``, the first one.

    Args:
        note: the note bytes (UTF-8 text).
        verifiers: the trusted keys.

    Raises:
        SignedNoteError: ``malformed`` (see :func:`split_note`), ``ambiguous_key``
            (two verifiers with the signature's name and key ID),
            ``invalid_signature`` (a known key's signature does not verify) or
            ``no_verifiable_signature`` (no known key signed; ``.unverified`` lists
            the ignored signatures).
    """
    text, signatures = split_note(note)
    by_id: dict[tuple[str, bytes], list[NoteVerifier]] = {}
    for v in verifiers:
        by_id.setdefault((v.name, v.key_id), []).append(v)
    msg = text.encode("utf-8")
    opened = OpenedNote(text=text)
    seen_verified: set[tuple[str, bytes]] = set()
    seen_unverified: set[tuple[str, bytes, bytes]] = set()
    for sig in signatures:
        ident = (sig.name, sig.key_id)
        candidates = by_id.get(ident, [])
        if not candidates:
            if (sig.name, sig.key_id, sig.sig) not in seen_unverified:
                seen_unverified.add((sig.name, sig.key_id, sig.sig))
                opened.unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise SignedNoteError(
                "ambiguous_key",
                f"{len(candidates)} configured keys share name {sig.name!r} and key ID "
                f"{sig.key_id.hex()}",
                "remove the duplicate key from the trusted keys",
            )
        if not candidates[0].verify(msg, sig.sig):
            raise SignedNoteError(
                "invalid_signature",
                f"signature by {sig.name!r} (key ID {sig.key_id.hex()}) does not verify",
                "the note was altered after signing, or the key is not the one that signed",
            )
        if ident not in seen_verified:
            seen_verified.add(ident)
            opened.verified.append(sig)
    if not opened.verified:
        names = ", ".join(sorted({s.name for s in opened.unverified})) or "none"
        raise SignedNoteError(
            "no_verifiable_signature",
            f"signed note has no signature from a trusted key (signed by: {names})",
            "add the signer's vkey to the trusted keys if it should be trusted",
            opened.unverified,
        )
    return opened


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _malformed("note text does not end with a newline", "append '\\n' to the text")
    _decode_note(text.encode("utf-8"))


def sign_note(
    text: str,
    signers: Sequence[Signer],
    existing: Sequence[Signature] = (),
) -> bytes:
    """Sign ``text`` and return the note bytes (as x/mod/sumdb/note ``Sign``).

    Existing signatures come first, except those by a (name, key ID) that one of
    ``signers`` also has, which are replaced; the new signatures follow in order.

    Args:
        text: the note text; must end with a newline and contain no control
            characters other than newline.
        signers: e.g. :class:`NoteSigner` or :class:`CosignatureSigner`.
        existing: signatures already on the note (not verified here).

    Raises:
        SignedNoteError: (``malformed``) bad text, bad names, or more than
            :data:`MAX_SIGNATURES` signatures.
    """
    _check_text(text)
    msg = text.encode("utf-8")
    new: list[Signature] = []
    for signer in signers:
        if not is_valid_key_name(signer.name) or len(signer.key_id) != 4:
            raise _malformed(f"signer {signer.name!r} has an invalid name or key ID")
        new.append(Signature(signer.name, signer.key_id, signer.sign(msg)))
    replaced = {(s.name, s.key_id) for s in new}
    kept = [sig for sig in existing if (sig.name, sig.key_id) not in replaced]
    return _assemble(text, kept + new)


def _assemble(text: str, signatures: Sequence[Signature]) -> bytes:
    if not signatures:
        raise _malformed("a signed note needs at least one signature")
    for sig in signatures:
        if not is_valid_key_name(sig.name) or len(sig.key_id) != 4:
            raise _malformed(f"signature {sig.name!r} has an invalid key name or key ID")
    if len(signatures) > MAX_SIGNATURES:
        raise _malformed(
            f"note would have {len(signatures)} signatures; at most {MAX_SIGNATURES} allowed"
        )
    return (text + "\n" + "".join(s.line for s in signatures)).encode("utf-8")


def add_signatures(note: bytes, extra_lines: Iterable[str | bytes | Signature]) -> bytes:
    """Append signature lines to a note without verifying anything.

    Used to attach witness cosignatures (tlog-witness: "the client MAY concatenate
    [the response] to the checkpoint"). A new line from the same (name, key ID) as
    an existing one replaces it; identical lines are not repeated.

    Args:
        note: a well-formed signed note (bytes).
        extra_lines: signature lines (``— name base64``, with or without the
            trailing newline) or :class:`Signature` objects.

    Raises:
        SignedNoteError: (``malformed``) the note or a line is malformed, or the
            result would exceed :data:`MAX_SIGNATURES` signatures.
    """
    text, existing = split_note(note)
    new: list[Signature] = []
    for item in extra_lines:
        if isinstance(item, Signature):
            new.append(item)
            continue
        raw = item.encode("utf-8") if isinstance(item, str) else item
        raw = raw.removesuffix(b"\n")
        if b"\n" in raw:
            raise _malformed("a signature line to add contains a newline inside it")
        _, sigs = split_note(b"x\n\n" + raw + b"\n")
        new.extend(sigs)
    replaced = {(s.name, s.key_id) for s in new}
    result = [s for s in existing if (s.name, s.key_id) not in replaced]
    for sig in new:
        if sig not in result:
            result.append(sig)
    return _assemble(text, result)
