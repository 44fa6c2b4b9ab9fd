"""The C2SP witness protocol without HTTP (https://c2sp.org/tlog-witness).

A witness keeps, per log origin, the latest checkpoint it cosigned. A log (here:
a partner node's custody log) submits ``POST <prefix>/add-checkpoint`` with::

    old <size>
    <base64 consistency-proof hash>      (0..63 lines)

    <signed checkpoint note>

and the witness answers with its cosignature lines, or with an error status.
This module holds the pure parts: request/response encoding and the decision
function :func:`decide`, which maps (request, trusted log keys, stored state)
to an HTTP status, body and the new state. The caller persists ``new_latest``
atomically with the old-size check, and records ``fork_evidence`` when present.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.merkle import EMPTY_ROOT, verify_consistency
from rogatory.custody.note import (
    CosignatureSigner,
    NoteVerifier,
    Signature,
    SignedNoteError,
    b64decode,
    b64encode,
    open_note,
    split_note,
)
from rogatory.errors import NoteError, ProofError, UsageError, WitnessError

__all__ = [
    "CONTENT_TYPE_COSIGNATURES",
    "CONTENT_TYPE_SIZE",
    "MAX_PROOF_LINES",
    "AddCheckpointRequest",
    "Decision",
    "ForkEvidence",
    "SignSubtreeRequest",
    "WitnessProtocolError",
    "decide",
    "format_add_checkpoint",
    "format_cosignature_response",
    "format_sign_subtree",
    "monitoring_path",
    "parse_add_checkpoint",
    "parse_cosignature_response",
    "parse_sign_subtree",
]

MAX_PROOF_LINES = 63
"""A client MUST NOT send more than 63 consistency-proof lines."""
CONTENT_TYPE_SIZE = "text/x.tlog.size"
"""Content type of a 409 response: the witness's size and a newline."""
CONTENT_TYPE_COSIGNATURES = "text/plain; charset=utf-8"
"""Content type used for 200 responses and error messages."""

_UINT = re.compile(r"0|[1-9][0-9]*")
_OLD = re.compile(r"old (0|[1-9][0-9]*)")
_SUBTREE = re.compile(r"subtree (0|[1-9][0-9]*) (0|[1-9][0-9]*)")
_HINT = "an add-checkpoint body is 'old <size>', proof lines, an empty line, the checkpoint"


class WitnessProtocolError(WitnessError):
    """A request or response body does not follow tlog-witness.

    Attributes:
        status: the HTTP status a witness answers with (400 for malformed requests).
    """

    def __init__(self, message: str, hint: str = _HINT, status: int = 400) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class AddCheckpointRequest:
    """An add-checkpoint request body (tlog-witness §add-checkpoint).

    Attributes:
        old_size: the tree size of the client's previous checkpoint for this origin.
        consistency_proof: RFC 6962 §2.1.2 consistency-proof hashes (raw, 32 bytes).
        checkpoint_note: the signed checkpoint note (bytes, verbatim).
    """

    old_size: int
    consistency_proof: tuple[bytes, ...]
    checkpoint_note: bytes


def _read_lines(body: bytes, what: str) -> tuple[list[str], bytes]:
    """Lines up to the first empty line (exclusive) and the bytes after it."""
    lines: list[str] = []
    pos = 0
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            raise WitnessProtocolError(f"{what} has no empty line before the checkpoint")
        raw = body[pos:end]
        pos = end + 1
        if not raw:
            return lines, body[pos:]
        if len(lines) > MAX_PROOF_LINES + 1:
            raise WitnessProtocolError(f"{what} has more than {MAX_PROOF_LINES} proof lines")
        try:
            lines.append(raw.decode("ascii"))
        except UnicodeDecodeError:
            raise WitnessProtocolError(f"{what} line {len(lines) + 1} is not ASCII") from None


def _hashes(lines: Sequence[str], first_lineno: int, what: str) -> tuple[bytes, ...]:
    if len(lines) > MAX_PROOF_LINES:
        raise WitnessProtocolError(
            f"{what} has {len(lines)} proof lines; at most {MAX_PROOF_LINES} are allowed"
        )
    out: list[bytes] = []
    for n, line in enumerate(lines, start=first_lineno):
        h = b64decode(line)
        if h is None or len(h) != 32:
            raise WitnessProtocolError(f"{what} line {n} is not the base64 of a 32-byte hash")
        out.append(h)
    return tuple(out)


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body. The checkpoint note is not verified.

    Raises:
        WitnessProtocolError: (status 400) the old-size line is not ``old <decimal>``
            without leading zeros, a proof line is not base64 of 32 bytes, there are
            more than 63 proof lines, the empty line is missing, or no checkpoint follows.
    """
    lines, note = _read_lines(body, "add-checkpoint body")
    if not lines:
        raise WitnessProtocolError("add-checkpoint body does not start with 'old <size>'")
    m = _OLD.fullmatch(lines[0])
    if m is None or int(m.group(1)) >= 2**64:
        raise WitnessProtocolError(
            f"add-checkpoint line 1 {lines[0][:40]!r} is not 'old <size>' "
            "(decimal, no leading zeros)"
        )
    proof = _hashes(lines[1:], 2, "add-checkpoint body")
    if not note:
        raise WitnessProtocolError("add-checkpoint body has no checkpoint after the empty line")
    return AddCheckpointRequest(int(m.group(1)), proof, note)


def format_add_checkpoint(
    old_size: int, consistency_proof: Sequence[bytes], checkpoint_note: bytes
) -> bytes:
    """The add-checkpoint request body (inverse of :func:`parse_add_checkpoint`).

    Raises:
        UsageError: negative size, more than 63 hashes, or a hash not 32 bytes.
    """
    if old_size < 0 or len(consistency_proof) > MAX_PROOF_LINES:
        raise UsageError("add-checkpoint: old size must be >= 0 and the proof <= 63 hashes", "")
    if any(len(h) != 32 for h in consistency_proof):
        raise UsageError("add-checkpoint: every proof hash must be 32 bytes", "")
    head = [f"old {old_size}", *(b64encode(h) for h in consistency_proof)]
    return ("\n".join(head) + "\n\n").encode("ascii") + checkpoint_note


@dataclass(frozen=True)
class SignSubtreeRequest:
    """A sign-subtree request body (tlog-witness §sign-subtree, optional API).

    Attributes:
        start: first leaf index of the subtree.
        end: exclusive end index.
        subtree_hash: the subtree's hash (raw, 32 bytes).
        proof: subtree-consistency-proof hashes (raw, 32 bytes each).
        checkpoint_note: the reference checkpoint (bytes, verbatim).
    """

    start: int
    end: int
    subtree_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint_note: bytes


def parse_sign_subtree(body: bytes) -> SignSubtreeRequest:
    """Parse a sign-subtree request body (``subtree <start> <end>``, hash, proof
    lines, empty line, reference checkpoint). Nothing is verified.

    Raises:
        WitnessProtocolError: (status 400) a malformed line, start >= end, or no
            checkpoint.
    """
    lines, note = _read_lines(body, "sign-subtree body")
    m = _SUBTREE.fullmatch(lines[0]) if lines else None
    if m is None:
        raise WitnessProtocolError("sign-subtree body does not start with 'subtree <start> <end>'")
    start, end = int(m.group(1)), int(m.group(2))
    if not start < end < 2**64:
        raise WitnessProtocolError(f"sign-subtree range [{start}, {end}) is empty or too large")
    if len(lines) < 2:
        raise WitnessProtocolError("sign-subtree body has no subtree hash line")
    (subtree_hash,) = _hashes(lines[1:2], 2, "sign-subtree body")
    proof = _hashes(lines[2:], 3, "sign-subtree body")
    if not note:
        raise WitnessProtocolError("sign-subtree body has no checkpoint after the empty line")
    return SignSubtreeRequest(start, end, subtree_hash, proof, note)


def format_sign_subtree(
    start: int, end: int, subtree_hash: bytes, proof: Sequence[bytes], checkpoint_note: bytes
) -> bytes:
    """The sign-subtree request body (inverse of :func:`parse_sign_subtree`)."""
    if not 0 <= start < end or len(subtree_hash) != 32 or any(len(h) != 32 for h in proof):
        raise UsageError("sign-subtree: need start < end and 32-byte hashes", "")
    head = [f"subtree {start} {end}", b64encode(subtree_hash), *(b64encode(h) for h in proof)]
    return ("\n".join(head) + "\n\n").encode("ascii") + checkpoint_note


def format_cosignature_response(signatures: Sequence[Signature]) -> bytes:
    """A 200 add-checkpoint response body: one ``— <name> <base64>`` line each.

    Raises:
        UsageError: no signatures.
    """
    if not signatures:
        raise UsageError("a cosignature response needs at least one signature", "")
    return "".join(s.line for s in signatures).encode("utf-8")


def parse_cosignature_response(body: bytes) -> list[Signature]:
    """Parse a 200 add-checkpoint response into signatures (nothing verified).

    To check them, add them to the checkpoint note (``note.add_signatures``) and
    open it with the witness keys; lines from unknown keys must be ignored.

    Raises:
        WitnessProtocolError: (status 502: the witness answered badly) the body is
            empty or not a sequence of signature lines.
    """
    try:
        _, sigs = split_note(b"x\n\n" + body)
    except SignedNoteError as exc:
        raise WitnessProtocolError(
            f"witness response is not signature lines: {exc.message}",
            "the witness did not answer with cosignature lines",
            status=502,
        ) from None
    return sigs


def monitoring_path(origin: str) -> str:
    """The path below a witness's monitoring prefix where it serves its latest
    cosigned checkpoint for ``origin``: ``<lowercase hex SHA-256(origin)>/checkpoint``."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest() + "/checkpoint"


@dataclass(frozen=True)
class ForkEvidence:
    """A validly log-signed checkpoint that contradicts what the witness cosigned.

    Attributes:
        reason: ``same-size-different-root`` or ``inconsistent-proof``.
        origin: the log origin.
        previous: the checkpoint the witness had cosigned (origin, size, root).
        submitted: the submitted checkpoint body.
        submitted_note: the submitted note bytes, with the log's signature.
        consistency_proof: the proof that failed (raw hashes).
    """

    reason: str
    origin: str
    previous: Checkpoint
    submitted: Checkpoint
    submitted_note: bytes
    consistency_proof: tuple[bytes, ...]


@dataclass(frozen=True)
class Decision:
    """What a witness answers to one add-checkpoint request.

    Attributes:
        status: HTTP status (200, 400, 403, 404, 409, 422).
        body: response body (cosignature lines for 200, ``<size>\\n`` for 409,
            a one-line explanation otherwise).
        content_type: the response's Content-Type.
        new_latest: the witness state after the request (origin -> (size, root));
            equal to the input state unless status is 200.
        reason: one line saying why (for logs and error messages).
        checkpoint: the submitted checkpoint, when it could be parsed.
        fork_evidence: set when a validly signed checkpoint contradicts the stored one.
    """

    status: int
    body: bytes
    content_type: str
    new_latest: dict[str, tuple[int, bytes]]
    reason: str = ""
    checkpoint: Checkpoint | None = None
    fork_evidence: ForkEvidence | None = field(default=None)

    @property
    def ok(self) -> bool:
        """True for 200."""
        return self.status == 200


def _refuse(
    status: int,
    reason: str,
    latest: Mapping[str, tuple[int, bytes]],
    checkpoint: Checkpoint | None = None,
    fork: ForkEvidence | None = None,
) -> Decision:
    return Decision(
        status=status,
        body=(reason + "\n").encode("utf-8"),
        content_type=CONTENT_TYPE_COSIGNATURES,
        new_latest=dict(latest),
        reason=reason,
        checkpoint=checkpoint,
        fork_evidence=fork,
    )


def decide(
    request: AddCheckpointRequest | bytes,
    known_logs: Mapping[str, Sequence[NoteVerifier]],
    latest: Mapping[str, tuple[int, bytes]],
    *,
    cosigners: Sequence[CosignatureSigner],
    timestamp: int,
) -> Decision:
    """Decide an add-checkpoint request (tlog-witness §add-checkpoint), purely.

    Checks, in order: body well-formed (else 400); origin known (404); a trusted
    log key signed and no trusted-key signature fails (403); the body is a C2SP
    checkpoint (400); old size <= checkpoint size (400); old size equals the stored
    size, 0 if none (409, body ``<stored size>\\n``, ``text/x.tlog.size``); a size-0
    checkpoint has the empty-tree root (422); equal sizes have equal roots (422,
    fork evidence); old size 0 has an empty proof (422); the consistency proof from
    the stored root verifies (422, fork evidence). Then 200 with one cosignature
    line per cosigner at ``timestamp`` and ``new_latest[origin] = (size, root)``.

    Args:
        request: the parsed request, or the raw body.
        known_logs: origin -> the log's trusted keys (several during a rotation).
        latest: origin -> (size, root hash) of the latest checkpoint cosigned.
        cosigners: the witness's cosigning keys (at least one).
        timestamp: the witness clock, POSIX seconds, non-zero.

    Raises:
        UsageError: no cosigners or a zero/negative timestamp (a caller bug).
    """
    if not cosigners or not 0 < timestamp < 2**63:
        raise UsageError(
            "decide: a witness needs at least one cosigner and a non-zero timestamp", ""
        )
    if isinstance(request, bytes):
        try:
            request = parse_add_checkpoint(request)
        except WitnessProtocolError as exc:
            return _refuse(400, exc.message, latest)
    note = request.checkpoint_note
    try:
        text, _ = split_note(note)
    except SignedNoteError as exc:
        return _refuse(400, f"checkpoint note is malformed: {exc.message}", latest)
    origin = text.split("\n", 1)[0]
    trusted = known_logs.get(origin)
    if not trusted:
        return _refuse(404, f"unknown log origin {origin!r}", latest)
    try:
        open_note(note, trusted)
    except SignedNoteError as exc:
        return _refuse(403, f"checkpoint for {origin!r} rejected: {exc.message}", latest)
    try:
        checkpoint = Checkpoint.parse(text, strict=True)
    except NoteError as exc:
        return _refuse(400, exc.message, latest)
    old = request.old_size
    proof = request.consistency_proof
    if old > checkpoint.size:
        return _refuse(
            400,
            f"old size {old} is larger than the checkpoint size {checkpoint.size}",
            latest,
            checkpoint,
        )
    stored_size, stored_root = latest.get(origin, (0, EMPTY_ROOT))
    if old != stored_size:
        return Decision(
            status=409,
            body=f"{stored_size}\n".encode("ascii"),
            content_type=CONTENT_TYPE_SIZE,
            new_latest=dict(latest),
            reason=f"old size {old} is not the witness's size {stored_size} for {origin!r}",
            checkpoint=checkpoint,
        )
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        return _refuse(
            422, "a size-0 checkpoint must carry the empty-tree root", latest, checkpoint
        )
    previous = Checkpoint(origin, stored_size, stored_root)
    if old == checkpoint.size:
        if checkpoint.root_hash != stored_root:
            fork = ForkEvidence(
                "same-size-different-root", origin, previous, checkpoint, note, proof
            )
            return _refuse(
                422,
                f"checkpoint of size {old} for {origin!r} has a different root than the one "
                "cosigned (fork)",
                latest,
                checkpoint,
                fork,
            )
        if proof:
            return _refuse(422, "a proof between equal sizes must be empty", latest, checkpoint)
    elif old == 0:
        if proof:
            return _refuse(
                422, "the consistency proof must be empty when old size is 0", latest, checkpoint
            )
    else:
        try:
            verify_consistency(old, checkpoint.size, proof, stored_root, checkpoint.root_hash)
        except ProofError as exc:
            fork = ForkEvidence("inconsistent-proof", origin, previous, checkpoint, note, proof)
            return _refuse(
                422,
                f"consistency proof {old} -> {checkpoint.size} failed: {exc.message}",
                latest,
                checkpoint,
                fork,
            )
    cosigned = [c.cosignature(text, timestamp) for c in cosigners]
    new_latest = dict(latest)
    new_latest[origin] = (checkpoint.size, checkpoint.root_hash)
    return Decision(
        status=200,
        body=format_cosignature_response(cosigned),
        content_type=CONTENT_TYPE_COSIGNATURES,
        new_latest=new_latest,
        reason=f"cosigned {origin!r} at size {checkpoint.size}",
        checkpoint=checkpoint,
    )
