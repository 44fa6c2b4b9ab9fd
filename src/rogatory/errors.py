"""The one exception hierarchy of Rogatory.

Every error a user can meet is a :class:`RogatoryError`. It carries a one-line
``message`` saying what went wrong and a ``hint`` saying what to do about it;
the CLI prints ``error: <message> — <hint>`` on stderr and exits with
``exit_code``. Nothing below the CLI prints or exits.

This module imports nothing from the package, so every part may raise these.
"""

from __future__ import annotations


class RogatoryError(Exception):
    """Base of every error Rogatory raises on purpose.

    Args:
        message: what went wrong, one line, naming the thing concerned.
        hint: what the user can do about it, one line (may be empty).
    """

    exit_code: int = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as one line, for stderr."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(RogatoryError):
    """A command was given an argument it cannot use (exit code 2)."""

    exit_code = 2


class NodeError(RogatoryError):
    """The node home is missing, incomplete or inconsistent."""


class KeyMaterialError(RogatoryError):
    """A key could not be created, read or unlocked (wrong passphrase, bad permissions)."""


class StoreError(RogatoryError):
    """The database could not be opened, migrated or written."""


class NotFoundError(RogatoryError):
    """A case, evidence item or other record does not exist."""


class ConflictError(RogatoryError):
    """A record already exists (for example a case reference)."""


class IntakeError(RogatoryError):
    """Evidence could not be taken in; nothing was recorded for the failing item."""


class SourceChangedError(IntakeError):
    """A file changed (size or modification time) while it was being hashed."""


class HashMismatchError(IntakeError):
    """The computed hash differs from the one the acquisition report states."""


class StorageFullError(IntakeError):
    """The blob store ran out of space; the partial copy was removed."""


class IntegrityError(RogatoryError):
    """Stored evidence no longer matches the hashes recorded at acquisition."""


class CustodyError(RogatoryError):
    """The custody log cannot be appended to, proven or verified."""


class ProofError(CustodyError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162 §2.1.3–2.1.4)."""


class NoteError(CustodyError):
    """A signed note, checkpoint, cosignature, vkey or policy is malformed or does not verify."""


class WitnessError(CustodyError):
    """A witness refused a checkpoint (unknown log, bad signature, conflict, fork)."""


__all__ = [
    "ConflictError",
    "CustodyError",
    "HashMismatchError",
    "IntakeError",
    "IntegrityError",
    "KeyMaterialError",
    "NodeError",
    "NotFoundError",
    "NoteError",
    "ProofError",
    "RogatoryError",
    "SourceChangedError",
    "StorageFullError",
    "StoreError",
    "UsageError",
    "WitnessError",
]


class ExchangeError(RogatoryError):
    """A federation exchange failed: a peer, a message, a transfer.

    Attributes:
        check: for a refused message, the name of the check that failed
            (e.g. ``signature``, ``recipient``, ``replay``); empty otherwise.
    """

    def __init__(self, message: str, hint: str = "", *, check: str = "") -> None:
        super().__init__(message, hint)
        self.check = check


class MessageRefusedError(ExchangeError):
    """An incoming message failed a check and was not stored (the check is named)."""


class PeerUnreachableError(ExchangeError):
    """A peer did not answer, or answered garbage; the outbox retries later."""
