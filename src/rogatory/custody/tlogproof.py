"""Offline proofs of logging in the C2SP tlog-proof@v1 format (https://c2sp.org/tlog-proof).

A ``.tlog-proof`` file is text::

    c2sp.org/tlog-proof@v1
    extra <base64>                 (optional, unauthenticated context)
    index <n>
    <base64 hash>                  (inclusion proof, leaf sibling first; zero or more)

    <checkpoint note, verbatim, with its cosignatures>

It lets anyone (a court, a defence expert) check offline, with only the trust
policy, that a record is in a witnessed log: (1) hash the record as an RFC 9162
leaf; (2) check the checkpoint's origin and log signature; (3) check the witness
cosignatures against the quorum; (4) check the inclusion proof against the
checkpoint's root hash.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.merkle import leaf_hash as rfc9162_leaf_hash
from rogatory.custody.merkle import verify_inclusion
from rogatory.custody.note import NoteVerifier, SignedNoteError, b64decode, b64encode
from rogatory.custody.policy import (
    Policy,
    VerifiedCheckpoint,
    check_quorum,
    verify_checkpoint_signatures,
)
from rogatory.errors import NoteError, ProofError

__all__ = [
    "HEADER",
    "MAX_LINE_LENGTH",
    "MAX_PROOF_HASHES",
    "CheckedProof",
    "TlogProof",
    "check_proof",
    "check_proof_for_leaf_hash",
]

HEADER = "c2sp.org/tlog-proof@v1"
"""The first line of every tlog-proof@v1 file."""
MAX_LINE_LENGTH = 64 * 1024
"""Longest line accepted before the checkpoint (Go bufio.Scanner's default limit)."""
MAX_PROOF_HASHES = 64
"""An inclusion proof in a tree below 2^64 leaves has at most 64 hashes."""

_INDEX = re.compile(r"index (0|[1-9][0-9]*)")
_HINT = "a tlog-proof is 'c2sp.org/tlog-proof@v1', [extra], 'index <n>', hashes, '', checkpoint"


def _error(message: str, hint: str = _HINT) -> NoteError:
    return NoteError(f"tlog-proof: {message}", hint)


@dataclass
class TlogProof:
    """A tlog-proof@v1 file (c2sp.org/tlog-proof §Format).

    Attributes:
        index: 0-based index of the entry in the log.
        proof: the inclusion proof, 32-byte hashes (raw), leaf sibling first.
        checkpoint_note: the checkpoint note bytes, verbatim (with cosignatures).
        extra: optional opaque extra data (raw bytes; not authenticated), or None.
    """

    index: int
    proof: list[bytes]
    checkpoint_note: bytes
    extra: bytes | None = None

    def marshal(self) -> bytes:
        """The file bytes: header, optional ``extra``, ``index``, base64 hashes, empty
        line, checkpoint note.

        Raises:
            NoteError: negative index, a hash not 32 bytes, or an empty checkpoint.
        """
        if self.index < 0 or self.index >= 2**64:
            raise _error(f"index {self.index} is outside 0..2^64-1")
        if len(self.proof) > MAX_PROOF_HASHES:
            raise _error(f"proof has {len(self.proof)} hashes; at most {MAX_PROOF_HASHES}")
        for i, h in enumerate(self.proof):
            if len(h) != 32:
                raise _error(f"proof hash {i} is {len(h)} bytes, expected 32")
        if not self.checkpoint_note:
            raise _error("the checkpoint note is empty")
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {b64encode(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(b64encode(h) for h in self.proof)
        return ("\n".join(lines) + "\n\n").encode("ascii") + self.checkpoint_note

    @classmethod
    def unmarshal(cls, data: bytes) -> TlogProof:
        """Parse tlog-proof@v1 bytes. The checkpoint note is kept verbatim and not
        checked here (see :func:`check_proof`).

        Raises:
            NoteError: naming the line: wrong header, bad ``extra`` base64, missing
                or malformed ``index`` (decimal, no leading zeros, below 2^64), a
                proof line that is not base64 of 32 bytes, more than 64 hashes, a
                line over 64 KiB, or no checkpoint after the empty line.
        """
        pos = 0
        lineno = 0

        def next_line() -> str:
            nonlocal pos, lineno
            lineno += 1
            end = data.find(b"\n", pos)
            if end < 0:
                raise _error(f"line {lineno} is missing or does not end with a newline")
            if end - pos > MAX_LINE_LENGTH:
                raise _error(f"line {lineno} is longer than {MAX_LINE_LENGTH} bytes")
            raw = data[pos:end]
            pos = end + 1
            try:
                return raw.decode("ascii")
            except UnicodeDecodeError:
                raise _error(f"line {lineno} is not ASCII") from None

        if next_line() != HEADER:
            raise _error(f"line 1 is not {HEADER!r}", "this is not a tlog-proof@v1 file")
        line = next_line()
        extra: bytes | None = None
        if line.startswith("extra "):
            extra = b64decode(line[len("extra ") :])
            if extra is None:
                raise _error(f"line {lineno}: extra data is not valid base64")
            line = next_line()
        m = _INDEX.fullmatch(line)
        if m is None or int(m.group(1)) >= 2**64:
            raise _error(
                f"line {lineno} is not 'index <n>' with a decimal n below 2^64 (got {line[:40]!r})"
            )
        index = int(m.group(1))
        proof: list[bytes] = []
        while (line := next_line()) != "":
            h = b64decode(line)
            if h is None:
                raise _error(f"line {lineno}: proof hash is not valid base64")
            if len(h) != 32:
                raise _error(f"line {lineno}: proof hash is {len(h)} bytes, expected 32")
            proof.append(h)
            if len(proof) > MAX_PROOF_HASHES:
                raise _error(f"more than {MAX_PROOF_HASHES} proof hashes")
        note = data[pos:]
        if not note:
            raise _error("no checkpoint after the empty line")
        return cls(index=index, proof=proof, checkpoint_note=note, extra=extra)


@dataclass
class CheckedProof:
    """The result of a successful :func:`check_proof`.

    Attributes:
        checkpoint: the verified checkpoint body (origin, size, root).
        index: the entry's index.
        leaf_hash: the RFC 9162 leaf hash (raw, 32 bytes) proven included.
        witness_timestamps: policy witness name -> cosignature time (POSIX seconds).
        log_key_name: name of the log key that signed.
        extra: the proof's unauthenticated extra data, if any.
    """

    checkpoint: Checkpoint
    index: int
    leaf_hash: bytes
    witness_timestamps: dict[str, int] = field(default_factory=dict)
    log_key_name: str = ""
    extra: bytes | None = None


def _step(number: int, title: str, exc: NoteError | ProofError) -> NoteError | ProofError:
    message = f"tlog-proof step {number} ({title}) failed: {exc.message}"
    if isinstance(exc, SignedNoteError):
        return SignedNoteError(exc.kind, message, exc.hint, exc.unverified)
    if isinstance(exc, ProofError):
        return ProofError(message, exc.hint)
    return NoteError(message, exc.hint)


def check_proof_for_leaf_hash(
    proof: TlogProof,
    leaf_hash: bytes,
    policy: Policy,
    origin: str | None = None,
    extra_log_verifiers: Sequence[NoteVerifier] = (),
) -> CheckedProof:
    """Steps 2-4 of tlog-proof verification for an already computed leaf hash.

    Args:
        proof: the parsed proof.
        leaf_hash: the RFC 9162 leaf hash (raw, 32 bytes).
        policy: the trust policy (logs, witnesses, quorum).
        origin: if given, the checkpoint must be for this log origin.
        extra_log_verifiers: log keys known from elsewhere.

    Raises:
        NoteError: step 2 (checkpoint, origin, log signature) or step 3 (witness quorum).
        ProofError: step 4 (the inclusion proof does not bind the leaf at the index
            to the checkpoint's root hash).
    """
    try:
        verified: VerifiedCheckpoint = verify_checkpoint_signatures(
            proof.checkpoint_note, policy, extra_log_verifiers
        )
        if origin is not None and verified.checkpoint.origin != origin:
            raise NoteError(
                f"checkpoint is for log {verified.checkpoint.origin!r}, expected {origin!r}",
                "the proof is from another log",
            )
    except NoteError as exc:
        raise _step(2, "checkpoint origin and log signature", exc) from None
    try:
        check_quorum(verified, policy)
    except NoteError as exc:
        raise _step(3, "witness cosignatures", exc) from None
    cp = verified.checkpoint
    try:
        verify_inclusion(leaf_hash, proof.index, cp.size, proof.proof, cp.root_hash)
    except ProofError as exc:
        raise _step(4, "inclusion proof", exc) from None
    return CheckedProof(
        checkpoint=cp,
        index=proof.index,
        leaf_hash=leaf_hash,
        witness_timestamps=verified.witness_timestamps,
        log_key_name=verified.log_verifier.name,
        extra=proof.extra,
    )


def check_proof(
    proof: TlogProof,
    leaf_data: bytes,
    policy: Policy,
    origin: str | None = None,
    extra_log_verifiers: Sequence[NoteVerifier] = (),
) -> CheckedProof:
    """Verify a tlog-proof offline (c2sp.org/tlog-proof), all four steps.

    1. leaf hash = SHA-256(0x00 || leaf_data) (RFC 9162 §2.1.1);
    2. the checkpoint is signed by a policy log key whose name is its origin
       (and, if ``origin`` is given, that origin is the expected one);
    3. the witness cosignatures that verify satisfy the policy's quorum;
    4. the inclusion proof leads from the leaf hash at ``proof.index`` to the
       checkpoint's root hash (RFC 9162 §2.1.3.2).

    Args:
        proof: the parsed proof (:meth:`TlogProof.unmarshal`).
        leaf_data: the record's bytes exactly as logged (raw).
        policy: the trust policy.
        origin: optional expected log origin.
        extra_log_verifiers: log keys known from elsewhere.

    Raises:
        NoteError: steps 2-3, with the step named in the message.
        ProofError: step 4, with the step named in the message.
    """
    return check_proof_for_leaf_hash(
        proof, rfc9162_leaf_hash(leaf_data), policy, origin, extra_log_verifiers
    )
