"""Resumable package transfer between nodes.

The sender offers the package in a signed ``package-offer`` message (its
SHA-256, size and file name), then uploads the file's bytes — the ciphertext
package as it is, never re-encrypted — from the offset the recipient reports,
so an interrupted transfer resumes where it stopped. The recipient stages the
bytes in ``<home>/transfers/``, checks size and SHA-256 when the sender says
it is complete, imports the package (verified, all or nothing) and answers
with a signed receipt; asking again returns the same receipt, so nothing is
imported twice. The sender records ``transfer-out`` in its custody log when it
holds the receipt; the recipient's import records ``receipt`` events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.errors import (
    ConflictError,
    ExchangeError,
    IntegrityError,
    PeerUnreachableError,
    UsageError,
)
from rogatory.exchange.client import PeerClient
from rogatory.exchange.envelope import MessageType, Opened, digest, refuse, sign, utc_text
from rogatory.exchange.node import FederationNode
from rogatory.exchange.outbox import DELIVERED, deliver_one, enqueue
from rogatory.exchange.trust import peer_signature, peer_trust, usable_peer
from rogatory.store.schema import OutboxRow, PeerRow, TransferRow

CHUNK = 1 << 20
"""Bytes read from the package file per upload chunk."""
TRANSFER_RECEIPT_TYP = "rogatory-transfer-receipt+jws"
SENDING, RECEIVING, DONE, FAILED = "sending", "receiving", "done", "failed"
MAX_PACKAGE_BYTES = 1 << 40
"""Largest package offered (bytes, 1 TiB)."""
MAX_CONFLICTS = 5
"""Offset conflicts tolerated in one run before giving up."""


def offer_id(sha256: str) -> str:
    """The message id of the offer for a package: ``offer-`` + 56 hex digits of its SHA-256."""
    return f"offer-{sha256[:56]}"


def file_sha256(path: Path, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """SHA-256 (hex) and size (bytes) of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(CHUNK * 4):
            h.update(block)
            size += len(block)
            if progress:
                progress(len(block))
    return h.hexdigest(), size


# ------------------------------------------------------------------ recipient side


def staging_path(node: FederationNode, sender: str, sha256: str) -> Path:
    """Where the bytes of an incoming transfer are staged."""
    return node.home.path / "transfers" / f"{sender}--{sha256}.part"


def received_path(node: FederationNode, row: TransferRow) -> Path:
    """Where a package received over the federation is kept after import:
    ``<home>/received/<sender>/<sha256 prefix>-<file name>`` (the original, byte for byte)."""
    return node.home.path / "received" / row.peer / f"{row.sha256[:16]}-{row.file_name}"


def offer_handler(node: FederationNode) -> Callable[[Session, Opened], None]:
    """The inbox handler for ``package-offer``: registers the incoming transfer.

    Raises (refusing the message):
        MessageRefusedError: check ``offer`` — malformed body.
    """

    def handle(s: Session, opened: Opened) -> None:
        body = opened.message.body
        sha = body.get("sha256")
        size = body.get("size")
        name = body.get("file_name")
        if (
            not isinstance(sha, str)
            or len(sha) != 64
            or any(c not in "0123456789abcdef" for c in sha)
            or not isinstance(size, int)
            or not 0 < size <= MAX_PACKAGE_BYTES
            or not isinstance(name, str)
        ):
            raise refuse("offer", "the package offer lacks a valid sha256, size or file_name")
        sender = opened.message.sender
        row = s.scalar(
            select(TransferRow).where(
                TransferRow.direction == "in",
                TransferRow.peer == sender,
                TransferRow.sha256 == sha,
            )
        )
        if row is None:
            now = dt.datetime.now(dt.UTC)
            safe = Path(name).name[:200] or "package.rogpkg"
            s.add(
                TransferRow(
                    transfer_id=sha,
                    direction="in",
                    peer=sender,
                    sha256=sha,
                    size=size,
                    file_name=safe,
                    status=RECEIVING,
                    created_at=now,
                    updated_at=now,
                    receipt=None,
                    detail=None,
                )
            )

    return handle


def incoming(node: FederationNode, sender: str, sha256: str) -> TransferRow | None:
    """The incoming transfer of ``sha256`` from ``sender``, if offered."""
    with node.db.session() as s:
        row = s.scalar(
            select(TransferRow).where(
                TransferRow.direction == "in",
                TransferRow.peer == sender,
                TransferRow.sha256 == sha256,
            )
        )
        if row is not None:
            s.expunge(row)
        return row


def received_bytes(node: FederationNode, row: TransferRow) -> int:
    """How many bytes of ``row`` are staged (the offset to resume from)."""
    if row.status == DONE:
        return row.size
    try:
        return staging_path(node, row.peer, row.sha256).stat().st_size
    except FileNotFoundError:
        return 0


def complete_incoming(
    node: FederationNode, sender: PeerRow, row: TransferRow, known_sha256: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Finish an incoming transfer: check the bytes, import, sign the receipt.

    Args:
        known_sha256: the staged file's SHA-256 if the server hashed it while
            receiving (skips re-reading it).

    Returns:
        ``(http status, JSON answer)``: 200 with ``receipt`` when imported (or
        imported before); 409 with ``offset`` if bytes are missing; 422 with
        ``error`` (naming the failed check) if the package is refused — the
        transfer then stays failed.
    """
    if row.status == DONE and row.receipt:
        return 200, {"receipt": row.receipt, "duplicate": True}
    if row.status == FAILED:
        return 422, {"error": f"import: {row.detail}", "final": True}
    path = staging_path(node, row.peer, row.sha256)
    have = received_bytes(node, row)
    if have < row.size:
        return 409, {"offset": have, "error": f"only {have} of {row.size} bytes received"}
    sha = known_sha256 or file_sha256(path)[0]
    if have > row.size or sha != row.sha256:
        path.unlink(missing_ok=True)
        return 422, {
            "error": f"size-or-digest: the staged bytes do not match the offer (sha256 {sha}); send again"
        }
    from rogatory.package.importer import import_package

    work = path.with_name(f"{row.peer}--{row.sha256[:16]}.import")
    work.mkdir(exist_ok=True)
    final = work / row.file_name
    try:
        os.replace(path, final)
        result = import_package(
            node.home, node.db, node.log, final, node.age_identity, peer_trust(sender)
        )
    except (IntegrityError, ConflictError, UsageError) as exc:
        final.unlink(missing_ok=True)
        _set(node, row, FAILED, detail=exc.message)
        return 422, {"error": f"import: {exc.message}", "final": True}
    now = dt.datetime.now(dt.UTC)
    key, kid = node.message_signer()
    receipt = sign(
        {
            "v": 1,
            "type": "transfer-receipt",
            "transfer_id": row.transfer_id,
            "sha256": row.sha256,
            "size": row.size,
            "sender": node.node_id,
            "recipient": row.peer,
            "package_id": result.report.package_id,
            "case": result.case,
            "items": result.items,
            "status": "imported",
            "received_at": utc_text(now),
        },
        key,
        kid,
        TRANSFER_RECEIPT_TYP,
    )
    with node.db.session(write=True) as s:
        live = s.get(TransferRow, row.id)
        assert live is not None
        live.status, live.receipt, live.updated_at, live.detail = DONE, receipt, now, None
        node.log.append_in(
            s,
            [
                CustodyEvent(
                    event_type=EventType.RECEIPT,
                    subject_kind=SubjectKind.PACKAGE,
                    subject_id=row.sha256,
                    node=node.node_id,
                    actor=Actor("rogatory", "system"),
                    time=now,
                    case=result.case,
                    purpose=f"package received from {row.peer} over the federation",
                    details={
                        "sender": row.peer,
                        "size": row.size,
                        "package_id": result.report.package_id,
                        "receipt_sha256": digest(receipt),
                    },
                )
            ],
        )
    kept = received_path(node, row)
    kept.parent.mkdir(parents=True, exist_ok=True)
    os.replace(final, kept)
    work.rmdir()
    return 200, {"receipt": receipt, "duplicate": False}


def _set(node: FederationNode, row: TransferRow, status: str, *, detail: str | None) -> None:
    with node.db.session(write=True) as s:
        live = s.get(TransferRow, row.id)
        assert live is not None
        live.status, live.updated_at, live.detail = status, dt.datetime.now(dt.UTC), detail


# ------------------------------------------------------------------ sender side


@dataclass(frozen=True)
class SendResult:
    """What ``package send`` achieved.

    Attributes:
        status: ``done`` (receipt held), ``paused`` (``max_bytes`` reached; run again).
        sent: bytes uploaded in this run.
        offset: bytes the recipient holds now.
        size: package size in bytes.
        resumed_from: the offset this run started from (0 for a fresh transfer).
        receipt: the recipient's signed receipt payload when done.
        duplicate: the package had been delivered before (the receipt kept then).
        seconds: wall time from the first question to the peer to its receipt
            (includes the recipient's verification and import), seconds.
        upload_seconds: wall time of the byte uploads alone (PUT requests), seconds.
    """

    status: str
    sent: int
    offset: int
    size: int
    resumed_from: int
    receipt: dict[str, Any] | None
    duplicate: bool
    seconds: float
    upload_seconds: float = 0.0


def _chunks(
    path: Path, start: int, limit: int, progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = limit
        while left > 0:
            block = f.read(min(CHUNK, left))
            if not block:
                return
            left -= len(block)
            if progress:
                progress(len(block))
            yield block


def _check_addressed_to(path: Path, peer: PeerRow) -> None:
    """Refuse, before any byte is sent, a package whose README names another age key.

    The README is unauthenticated, so this is a courtesy check only: the
    recipient still refuses a package it cannot decrypt.

    Raises:
        UsageError: the package is addressed to another key than ``peer``'s card holds,
            or the file is not a readable package.
    """
    from rogatory.package import layout

    try:
        with layout.open_package(path) as zf:
            addressed = layout.readme_recipient(zf)
    except IntegrityError as exc:
        raise UsageError(exc.message, exc.hint) from None
    theirs = peer.card["keys"]["age"]
    if addressed is not None and addressed != theirs:
        raise UsageError(
            f"{path.name} is encrypted to the age key {addressed}, not to {peer.node_id} ({theirs})",
            f"only its addressee can open it: make a package for this peer with "
            f"'rogatory package create CASE --item ITEM --to {peer.node_id} --out FILE'",
        )


def send_package(
    node: FederationNode,
    path: Path,
    peer_id: str,
    *,
    max_bytes: int | None = None,
    retry_for: float = 60.0,
    progress: Callable[[int], None] | None = None,
    planned: Callable[[int, int], None] | None = None,
    actor: Actor | None = None,
) -> SendResult:
    """Send a package file to a peer, resuming any earlier, interrupted attempt.

    Args:
        node: this node.
        path: the package (as made by ``package create`` for that peer).
        peer_id: the recipient on the trust list.
        max_bytes: stop after uploading this many bytes in this run (``paused``).
        retry_for: keep retrying an unreachable peer this many seconds (back-off 1, 2, 4 … s).
        progress: called with each uploaded block's size (bytes).
        planned: called once with ``(offset already held, total size)``.
        actor: who sends (for the custody event).

    Raises:
        UsageError: unreadable file; peer unknown, revoked or expired.
        PeerUnreachableError: the peer stayed unreachable for ``retry_for`` seconds
            (run the command again: it resumes).
        ExchangeError: the peer refused the package (the check is named), or its
            receipt does not verify.
    """
    peer = usable_peer(node.db, peer_id)
    _check_addressed_to(path, peer)
    try:
        sha, size = file_sha256(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "check the path") from None
    now = dt.datetime.now(dt.UTC)
    with node.db.session(write=True) as s:
        row = s.scalar(
            select(TransferRow).where(
                TransferRow.direction == "out",
                TransferRow.peer == peer_id,
                TransferRow.sha256 == sha,
            )
        )
        if row is None:
            row = TransferRow(
                transfer_id=sha,
                direction="out",
                peer=peer_id,
                sha256=sha,
                size=size,
                file_name=path.name,
                status=SENDING,
                created_at=now,
                updated_at=now,
                receipt=None,
                detail=None,
            )
            s.add(row)
            s.flush()
        s.expunge(row)
    if row.status == DONE and row.receipt:
        _key, data = peer_signature(node.db, peer_id, row.receipt, "received_at", "receipt")
        return SendResult(DONE, 0, size, size, size, data, True, 0.0)
    _ensure_offer(node, peer_id, sha, size, path.name)
    deadline = time.monotonic() + retry_for
    wait = 1.0
    conflicts = 0
    sent = 0
    resumed_from: int | None = None
    uploading = 0.0
    started = time.monotonic()
    with PeerClient(
        node.home, node.passphrase, peer, read_timeout=max(60.0, size / 50e6)
    ) as client:
        while True:
            try:
                offset = _offset(client, sha)
                if resumed_from is None:
                    resumed_from = offset
                    if planned:
                        planned(offset, size)
                budget = (
                    size - offset if max_bytes is None else min(size - offset, max_bytes - sent)
                )
                if budget > 0:
                    put_started = time.monotonic()
                    resp = client.request(
                        "PUT",
                        f"/federation/transfers/{sha}",
                        params={"offset": offset},
                        content=_chunks(path, offset, budget, progress),
                        headers={"Content-Type": "application/octet-stream"},
                    )
                    uploading += time.monotonic() - put_started
                    if resp.status_code == 409:  # the recipient holds another offset: ask again
                        conflicts += 1
                        if conflicts > MAX_CONFLICTS:
                            _raise_for(resp, peer_id)
                        continue
                    _raise_for(resp, peer_id)
                    now_held = int(_answer(resp, peer_id, "offset"))
                    sent += now_held - offset
                    offset = now_held
                if offset < size:
                    return SendResult(
                        "paused",
                        sent,
                        offset,
                        size,
                        resumed_from,
                        None,
                        False,
                        time.monotonic() - started,
                        uploading,
                    )
                resp = client.request("POST", f"/federation/transfers/{sha}/complete")
                if resp.status_code == 409:
                    conflicts += 1
                    if conflicts > MAX_CONFLICTS:
                        _raise_for(resp, peer_id)
                    continue
                _raise_for(resp, peer_id)
                answer = {
                    "receipt": _answer(resp, peer_id, "receipt"),
                    "duplicate": _answer(resp, peer_id, "duplicate"),
                }
                break
            except PeerUnreachableError:
                if time.monotonic() + wait > deadline:
                    raise
                time.sleep(wait)
                wait = min(wait * 2, 30.0)
    seconds = time.monotonic() - started
    receipt = answer.get("receipt")
    if not isinstance(receipt, str):
        raise ExchangeError(
            f"{peer_id} answered without a receipt", "report this to the partner", check="receipt"
        )
    _key, data = peer_signature(node.db, peer_id, receipt, "received_at", "receipt")
    if (
        data.get("sha256") != sha
        or data.get("recipient") != node.node_id
        or data.get("sender") != peer_id
    ):
        raise ExchangeError(
            f"the receipt from {peer_id} names another package or node",
            "report this to the partner",
            check="receipt",
        )
    _record_transfer_out(node, peer_id, sha, size, receipt, data, actor)
    return SendResult(
        DONE,
        sent,
        size,
        size,
        resumed_from or 0,
        data,
        bool(answer.get("duplicate")),
        seconds,
        uploading,
    )


def _ensure_offer(node: FederationNode, peer_id: str, sha: str, size: int, name: str) -> None:
    mid = offer_id(sha)
    with node.db.session() as s:
        existing = s.get(OutboxRow, mid)
        status = existing.status if existing is not None else None
    if status == DELIVERED:
        return
    if existing is None:
        enqueue(
            node,
            peer_id,
            MessageType.PACKAGE_OFFER,
            {"sha256": sha, "size": size, "file_name": name},
            message_id=mid,
        )
    result = deliver_one(node, mid)
    if result.status != DELIVERED:
        if result.status == "pending":
            raise PeerUnreachableError(
                f"could not offer the package to {peer_id}: {result.detail}",
                "run the same command again later: it resumes",
            )
        raise ExchangeError(
            f"{peer_id} refused the package offer: {result.detail}", "", check="offer"
        )


def _answer(resp: Any, peer_id: str, field: str) -> Any:
    try:
        data = resp.json()
        return data[field]
    except (ValueError, KeyError, TypeError):
        raise ExchangeError(
            f"{peer_id} answered garbage during the transfer: {resp.text.strip()[:200]!r}",
            "run the same command again; if it persists, tell the partner",
            check="transfer",
        ) from None


def _offset(client: PeerClient, sha: str) -> int:
    resp = client.request("GET", f"/federation/transfers/{sha}")
    _raise_for(resp, client.peer.node_id)
    return int(_answer(resp, client.peer.node_id, "offset"))


def _raise_for(resp: Any, peer_id: str) -> None:
    if resp.status_code == 200:
        return
    if resp.status_code >= 500 or resp.status_code in (408, 429):
        raise PeerUnreachableError(f"{peer_id} answered {resp.status_code}", "it retries")
    try:
        detail = resp.json().get("error") or resp.text
    except (ValueError, AttributeError):
        detail = resp.text
    raise ExchangeError(
        f"{peer_id} refused the transfer ({resp.status_code}): {str(detail)[:300]}",
        "see the partner's message; make the package again with 'rogatory package create --to' the partner",
        check="transfer",
    )


def _record_transfer_out(
    node: FederationNode,
    peer_id: str,
    sha: str,
    size: int,
    receipt: str,
    data: dict[str, Any],
    actor: Actor | None,
) -> None:
    with node.db.session(write=True) as s:
        row = s.scalar(
            select(TransferRow).where(
                TransferRow.direction == "out",
                TransferRow.peer == peer_id,
                TransferRow.sha256 == sha,
            )
        )
        assert row is not None
        if row.status == DONE:
            return
        row.status, row.receipt, row.updated_at = DONE, receipt, dt.datetime.now(dt.UTC)
        node.log.append_in(
            s,
            [
                CustodyEvent(
                    event_type=EventType.TRANSFER_OUT,
                    subject_kind=SubjectKind.PACKAGE,
                    subject_id=sha,
                    node=node.node_id,
                    actor=actor or Actor("rogatory", "system"),
                    time=dt.datetime.now(dt.UTC),
                    case=str(data.get("case", "")),
                    purpose=f"package sent to {peer_id} over the federation; signed receipt held",
                    details={
                        "recipient": peer_id,
                        "size": size,
                        "package_id": data.get("package_id"),
                        "receipt_sha256": digest(receipt),
                    },
                )
            ],
        )


def transfers(node: FederationNode) -> list[TransferRow]:
    """Every transfer, newest first."""
    with node.db.session() as s:
        rows = list(s.scalars(select(TransferRow).order_by(TransferRow.updated_at.desc())))
        for r in rows:
            s.expunge(r)
        return rows
