"""C2SP checkpoints and cosignatures (https://c2sp.org/tlog-checkpoint,
https://c2sp.org/tlog-cosignature).

A checkpoint is the text of a signed note with at least three lines: the log
**origin**, the **tree size** (ASCII decimal, no leading zeros) and the base64
RFC 6962 **root hash**, then optional non-empty **extension lines**. The log signs
it; witnesses add timestamped cosignatures over the same text.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from rogatory.custody.note import (
    ALG_COSIGNATURE_V1,
    ALG_MLDSA44_COSIGNATURE,
    MAX_TIMESTAMP,
    NoteVerifier,
    OpenedNote,
    SignedNoteError,
    b64decode,
    b64encode,
    cosignature_v1_message,
    open_note,
)
from rogatory.errors import NoteError

__all__ = [
    "HASH_SIZE",
    "Checkpoint",
    "CosignatureInfo",
    "SignedCheckpoint",
    "cosignature_message",
    "open_checkpoint",
    "parse_cosignature",
    "verify_cosignature",
]

HASH_SIZE = 32
"""A SHA-256 root hash is 32 bytes."""

_MAX_SIZE = 2**64 - 1
_STRICT_SIZE = re.compile(r"0|[1-9][0-9]*")
_LOOSE_SIZE = re.compile(r"[0-9]+")
_HINT = "a checkpoint is '<origin>\\n<size>\\n<base64 root hash>\\n' plus optional extension lines"


@dataclass(frozen=True)
class Checkpoint:
    """The body of a checkpoint (tlog-checkpoint §Note text).

    Attributes:
        origin: the log identity (first line, text, non-empty, no newline).
        size: the tree size in leaves (0 <= size < 2^64).
        root_hash: the RFC 6962 Merkle tree hash at that size (raw bytes; 32 bytes
            for every checkpoint :meth:`parse` accepts in strict mode).
        extensions: extension lines, without their newlines.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line", _HINT)
        if not 0 <= self.size <= _MAX_SIZE:
            raise NoteError(f"checkpoint size {self.size} is outside 0..2^64-1", _HINT)
        if any("\n" in line for line in self.extensions):
            raise NoteError("checkpoint extension lines may not contain newlines", _HINT)

    def to_text(self) -> str:
        """The note text: origin, size, base64 root hash and extension lines, each
        ending in a newline (the inverse of a strict :meth:`parse`)."""
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @property
    def rest(self) -> str:
        """The extension lines as text (each followed by a newline), '' if none."""
        return "".join(line + "\n" for line in self.extensions)

    @classmethod
    def parse(cls, text: str, strict: bool = True, origin: str | None = None) -> Checkpoint:
        """Parse a checkpoint body (the signed text of the note).

        Strict (C2SP tlog-checkpoint): the text ends in a newline; the origin is
        non-empty; the size has no leading zeros and is below 2^64; the root hash
        is the canonical base64 of exactly 32 bytes; extension lines are non-empty.
        A strictly parsed checkpoint satisfies ``cp.to_text() == text``.

        Not strict (transparency-dev/formats compatible): the first three lines
        must end in newlines, the size may have leading zeros, the root hash may
        have any length, and whatever follows is kept as extension lines (empty
        ones too; a final line without newline is kept as a line).

        Args:
            text: the checkpoint text.
            strict: apply the C2SP rules above.
            origin: if given, the origin line must equal it.

        Raises:
            NoteError: naming the line that is wrong.
        """
        parts = text.split("\n", 3)
        if len(parts) < 4:
            raise NoteError(
                f"checkpoint has {text.count(chr(10))} complete lines, needs at least 3", _HINT
            )
        first, size_line, root_line, rest = parts
        if not first:
            raise NoteError("checkpoint origin (line 1) is empty", _HINT)
        if origin is not None and first != origin:
            raise NoteError(
                f"checkpoint origin {first!r} is not the expected {origin!r}",
                "the checkpoint belongs to another log",
            )
        size_re = _STRICT_SIZE if strict else _LOOSE_SIZE
        if not size_re.fullmatch(size_line) or int(size_line) > _MAX_SIZE:
            raise NoteError(
                f"checkpoint tree size (line 2) {size_line[:40]!r} is not a decimal below 2^64"
                + (" without leading zeros" if strict else ""),
                _HINT,
            )
        root = b64decode(root_line, canonical=strict)
        if root is None:
            raise NoteError(
                f"checkpoint root hash (line 3) {root_line[:60]!r} is not valid base64", _HINT
            )
        if strict and len(root) != HASH_SIZE:
            raise NoteError(
                f"checkpoint root hash (line 3) is {len(root)} bytes, expected {HASH_SIZE}",
                "the log must use SHA-256 (RFC 6962)",
            )
        if rest.endswith("\n"):
            extensions = rest[:-1].split("\n") if rest else []
        elif strict and rest:
            raise NoteError("checkpoint text does not end with a newline", _HINT)
        else:
            extensions = rest.split("\n") if rest else []
        if strict:
            for n, line in enumerate(extensions, start=4):
                if not line:
                    raise NoteError(
                        f"checkpoint extension line {n} is empty",
                        "extension lines must be non-empty (tlog-checkpoint)",
                    )
        return cls(first, int(size_line), root, tuple(extensions))


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature/v1 signs: ``cosignature/v1\\ntime <t>\\n`` followed
    by the checkpoint text (tlog-cosignature §Ed25519 signed message).

    Raises:
        NoteError: the timestamp is outside 0..2^63-1.
    """
    return cosignature_v1_message(checkpoint_text, timestamp)


@dataclass(frozen=True)
class CosignatureInfo:
    """The parts of a cosignature (tlog-cosignature §Format).

    Attributes:
        key_id: 4-byte key ID (raw).
        timestamp: POSIX seconds (0..2^63-1).
        signature: the Ed25519 (64 bytes) or ML-DSA-44 (2420 bytes) signature (raw).
    """

    key_id: bytes
    timestamp: int
    signature: bytes


def _signature_size(alg: int) -> int:
    if alg == ALG_COSIGNATURE_V1:
        return 64
    if alg == ALG_MLDSA44_COSIGNATURE:
        return 2420
    raise NoteError(
        f"signature type 0x{alg:02x} is not a cosignature type",
        "cosignatures are type 0x04 (Ed25519) or 0x06 (ML-DSA-44)",
    )


def parse_cosignature(sig_b64: str, alg: int = ALG_COSIGNATURE_V1) -> CosignatureInfo:
    """Split the base64 of a cosignature line (``key ID || u64 timestamp || signature``).

    Args:
        sig_b64: the base64 text after the key name on the signature line.
        alg: 0x04 (76 bytes decoded) or 0x06 (2432 bytes decoded).

    Raises:
        NoteError: not base64, wrong length for the type, or a timestamp above 2^63-1.
    """
    raw = b64decode(sig_b64)
    expected = 4 + 8 + _signature_size(alg)
    if raw is None:
        raise NoteError("cosignature is not valid base64", "copy the whole signature line")
    if len(raw) != expected:
        raise NoteError(
            f"cosignature of type 0x{alg:02x} is {len(raw)} bytes, expected {expected}",
            "a 68-byte signature is a plain Ed25519 (0x01) note signature, not a cosignature",
        )
    (timestamp,) = struct.unpack(">Q", raw[4:12])
    if timestamp > MAX_TIMESTAMP:
        raise NoteError(
            f"cosignature timestamp {timestamp} exceeds 2^63-1",
            "tlog-cosignature forbids timestamps above 2^63-1",
        )
    return CosignatureInfo(raw[:4], int(timestamp), raw[12:])


def verify_cosignature(verifier: NoteVerifier, checkpoint_text: str, sig_blob: bytes) -> int:
    """Verify one cosignature over a checkpoint text and return its timestamp.

    Args:
        verifier: a cosigner key (type 0x04 or 0x06).
        checkpoint_text: the checkpoint text (with extension lines, final newline).
        sig_blob: the signature bytes after the key ID: ``u64 timestamp || signature``.

    Returns:
        The cosignature's timestamp in POSIX seconds.

    Raises:
        NoteError: the verifier is not a cosigner key, the blob has the wrong
            length or timestamp, or the signature does not verify.
    """
    size = 8 + _signature_size(verifier.alg)
    if len(sig_blob) != size:
        raise NoteError(
            f"cosignature by {verifier.name!r} is {len(sig_blob)} bytes, expected {size}",
            "pass the signature bytes after the 4-byte key ID",
        )
    (timestamp,) = struct.unpack(">Q", sig_blob[:8])
    if timestamp > MAX_TIMESTAMP:
        raise NoteError(f"cosignature by {verifier.name!r} has timestamp above 2^63-1", "")
    if not verifier.verify(checkpoint_text.encode("utf-8"), sig_blob):
        raise NoteError(
            f"cosignature by {verifier.name!r} (key ID {verifier.key_id.hex()}) does not verify",
            "the checkpoint or the timestamp was altered, or another key signed",
        )
    return int(timestamp)


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint note that verified under a log key.

    Attributes:
        checkpoint: the parsed body.
        note: the opened note (text, verified and unverified signatures).
        log_verifier: the log key whose signature verified.
    """

    checkpoint: Checkpoint
    note: OpenedNote
    log_verifier: NoteVerifier


def open_checkpoint(
    note: bytes,
    origin: str,
    log_verifiers: Sequence[NoteVerifier],
    other_verifiers: Sequence[NoteVerifier] = (),
    strict: bool = True,
) -> SignedCheckpoint:
    """Open a checkpoint note: a log key must have signed it and its origin must match.

    Every configured key (log and other) is checked as :func:`open_note` does; at
    least one of ``log_verifiers`` must have a verified signature.

    Args:
        note: the checkpoint note bytes.
        origin: the expected origin line.
        log_verifiers: the log's keys (several during a key rotation).
        other_verifiers: further keys to verify if present (e.g. witnesses).
        strict: parse the body with C2SP rules (see :meth:`Checkpoint.parse`).

    Raises:
        SignedNoteError: the note is malformed or a known signature is invalid.
        NoteError: no log key signed, or the body does not parse or has another origin.
    """
    try:
        opened = open_note(note, [*log_verifiers, *other_verifiers])
    except SignedNoteError as exc:
        if exc.kind != "no_verifiable_signature":
            raise
        raise SignedNoteError(
            "no_verifiable_signature",
            f"checkpoint for {origin!r} is not signed by any trusted log key",
            "check the log's vkey",
            exc.unverified,
        ) from None
    log_verifier = next((v for v in log_verifiers if opened.verified_by(v)), None)
    if log_verifier is None:
        raise SignedNoteError(
            "no_verifiable_signature",
            f"checkpoint for {origin!r} is not signed by any trusted log key "
            f"(verified only: {', '.join(s.name for s in opened.verified)})",
            "a cosigned checkpoint still needs the log's own signature",
            opened.unverified,
        )
    checkpoint = Checkpoint.parse(opened.text, strict=strict, origin=origin)
    return SignedCheckpoint(checkpoint, opened, log_verifier)
