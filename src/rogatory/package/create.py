"""Building an evidence package (see :mod:`rogatory.package.layout` for the file format).

The manifest lists each item (sizes, SHA-256/SHA-1/MD5, acquisition record,
file list) with its custody events (statements, salts and c2sp.org/tlog-proof@v1
proofs against a cosigned checkpoint) and the sender's tlog-policy with its key
history. It names the recipient, is signed over the plaintext by the sender's
message key (a C2SP signed note), and is then encrypted with age.

Each payload is encrypted with age (:mod:`rogatory.package.agefile`) and
streamed into the archive in constant memory; the bytes encrypted are hashed
once more with SHA-256 on a worker thread and checked against the record (a
corrupted blob is never exported), and the package's SHA-256 is computed as
the archive is written: the plaintext is read once and the package not at all.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import hashlib
import io
import os
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyrage
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select

from rogatory import __version__
from rogatory.custody.disclosure import POLICY_FILE, event_proofs, node_policy
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind, canonical_json
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import NoteSigner, sign_note
from rogatory.custody.witnessing import collect_cosignatures
from rogatory.errors import IntegrityError, UsageError
from rogatory.evidence.blobstore import BlobStore
from rogatory.evidence.hashing import BLOCK_SIZE, DigestWorkers
from rogatory.evidence.intake import item_label, parse_item_id
from rogatory.evidence.records import content_path
from rogatory.node.home import NodeHome
from rogatory.package import agefile, layout
from rogatory.package.card import message_key_name
from rogatory.package.writebehind import WriteBehindFile, publish_package, temporary_path
from rogatory.store.database import Database
from rogatory.store.schema import CaseRow, EvidenceItemRow


@dataclass(frozen=True)
class Recipient:
    """Who a package is encrypted to: an age X25519 recipient and a label for people."""

    age: str
    label: str
    card_fingerprint: str | None = None
    """The fingerprint of the node card the key came from, if it came from one."""
    confirmed: bool = True
    """False for a card not confirmed with an expected fingerprint."""


def parse_recipient(text: str, expected_fingerprint: str | None = None) -> Recipient:
    """An ``age1…`` recipient, or a file holding one: a node card, an age
    recipients file, or an age identity file (its public half is used).

    Error messages name the file, never its content (a mistaken ``--to`` may
    point at a file holding a secret). A node card must carry a valid
    self-signature; with ``expected_fingerprint`` (confirmed out of band) it
    must also have that fingerprint.

    Raises:
        UsageError: nothing usable found; an unsigned or altered card; a card
            whose fingerprint differs; ``expected_fingerprint`` without a card.
    """
    import json

    hint = (
        "give a peer's node id (see rogatory peer list), an age recipient (age1…), "
        "a node card (rogatory node card), or an age key file"
    )
    candidate = text.strip()
    if candidate.startswith("age1"):
        label = candidate
        source = f"--to {candidate[:12]}…"
    else:
        path = Path(candidate)
        source = str(path)
        try:
            content = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise UsageError(
                f"--to {text!r} is not a peer in the trust list, an age recipient (age1…) "
                f"or a readable file ({exc.strerror})",
                hint,
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                f"{path} is not a node card or an age key file (it is binary)", hint
            ) from None
        if content.lstrip().startswith("{"):
            from rogatory.package.card import fingerprint, read_card, same_fingerprint

            try:
                json.loads(content)
            except ValueError:
                raise UsageError(
                    f"{path} is not a node card",
                    "give the recipient's card from 'rogatory node card'",
                ) from None
            card = read_card(path)
            fp = fingerprint(card)
            if expected_fingerprint is not None and not same_fingerprint(expected_fingerprint, fp):
                raise UsageError(
                    f"the fingerprint of {path} differs from the one you confirmed",
                    "the card was altered or is another node's; obtain it again by a trusted route",
                )
            return Recipient(
                card["keys"]["age"],
                f"{card['agency']} ({card['node_id']})",
                fp,
                expected_fingerprint is not None,
            )
        else:
            lines = [
                ln.strip() for ln in content.splitlines() if ln.strip() and not ln.startswith("#")
            ]
            if not lines:
                raise UsageError(f"{path} holds no age key", hint)
            if lines[0].startswith("AGE-SECRET-KEY-1"):
                try:
                    candidate = str(pyrage.x25519.Identity.from_str(lines[0]).to_public())
                except pyrage.IdentityError:
                    raise UsageError(f"{path} holds no valid age identity", hint) from None
            else:
                candidate = lines[0]
            label = f"{candidate} (from {path.name})"
    if expected_fingerprint is not None:
        raise UsageError(
            "--fingerprint confirms a node card, but --to is not one",
            "drop --fingerprint, or give the recipient's node card with --to",
        )
    try:
        agefile.recipient_key(candidate)
    except agefile.AgeError:
        raise UsageError(
            f"{source} does not hold a valid age X25519 recipient "
            "(one starts with age1 and has a Bech32 checksum)",
            hint,
        ) from None
    return Recipient(candidate, label)


@dataclass
class PackageSummary:
    """What ``package create`` made."""

    path: Path
    package_id: str
    sha256: str
    size: int
    items: list[str]
    recipient: str
    events: int
    warnings: list[str] = field(default_factory=list)


class _PackageWriter:
    """The package file as :class:`zipfile.ZipFile` sees it: written once, front to back.

    It has no ``seek``, so ``zipfile`` writes each member's sizes and CRC-32 in
    a data descriptor after its bytes instead of going back to its header; every
    byte therefore reaches the file in its final order and is hashed with
    SHA-256 as it is written (no second read of the package). Writing and
    hashing run on two worker threads, so the thread filling the archive only
    queues blocks (at most ``QUEUE_DEPTH`` MiB each); the file is a
    :class:`WriteBehindFile`, so the package does not fill the page cache.
    """

    def __init__(self, path: Path) -> None:
        """Create (or truncate) ``path``.

        Raises:
            OSError: it cannot be created.
        """
        self.file = WriteBehindFile(path)
        self.workers = DigestWorkers(["sha256"], [self.file.write])
        self.size = 0

    def write(self, data: bytes) -> int:
        """Queue ``data`` for writing and hashing; returns its length.

        Raises:
            OSError: an earlier write failed (e.g. the disk is full).
        """
        self.workers.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        """Nothing to do: :meth:`finish` waits for every queued block."""

    def finish(self) -> tuple[str, int]:
        """Wait for the queued blocks, fsync and close the file.

        Returns:
            (SHA-256 hex of the whole file, its size in bytes)

        Raises:
            OSError: a write, fsync or close failed.
        """
        sha256 = self.workers.hexdigests()["sha256"]
        self.file.fsync()
        self.file.close()
        return sha256, self.size

    def close(self) -> None:
        """Stop the workers and close the file without keeping anything (the caller
        deletes it); ``zipfile`` never closes a file object it was given."""
        self.workers.close()
        self.file.close()


class SourceReadError(OSError):
    """Reading the plaintext being encrypted failed (as opposed to writing the package)."""


def _read_failed(exc: OSError) -> SourceReadError:
    return SourceReadError(exc.errno, exc.strerror, exc.filename)


IN_MEMORY_PAYLOAD = 8 << 20
"""Files up to this many bytes are read, hashed and encrypted in one piece in
memory; larger ones stream in :data:`BLOCK_SIZE` blocks with the SHA-256 on a
worker thread (starting a thread would dominate an item of many small files)."""


def encrypt_into(
    src: Path,
    recipient: Recipient,
    out: IO[bytes],
    size: int,
    progress: Callable[[int], object] | None = None,
) -> str:
    """Encrypt the file ``src`` to ``recipient`` with age, writing the age file to ``out``.

    Streams in constant memory (1 MiB blocks): :class:`agefile.Encryptor`
    seals 64 KiB chunks with OpenSSL's ChaCha20-Poly1305 (GIL released) while
    a worker thread computes the SHA-256 of exactly the bytes read.

    Args:
        size: the plaintext size in bytes (as recorded); ``progress`` is called
            with plaintext byte counts that sum to at most ``size``.

    Returns:
        The SHA-256 (64 hex) of exactly the bytes encrypted.

    Raises:
        agefile.AgeError: ``recipient`` is not an age X25519 recipient.
        OSError: reading ``src`` or writing ``out`` failed.
    """
    enc = agefile.Encryptor([recipient.age])
    out.write(enc.start())
    try:
        fh = open(src, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _read_failed(exc) from None
    with fh:
        if size <= IN_MEMORY_PAYLOAD:
            return _encrypt_whole(fh, enc, out, size, progress)
        return _encrypt_blocks(fh, enc, out, size, progress)


def _read(fh: IO[bytes], n: int) -> bytes:
    try:
        return fh.read(n) or b""
    except OSError as exc:
        raise _read_failed(exc) from None


def _encrypt_whole(
    fh: IO[bytes],
    enc: agefile.Encryptor,
    out: IO[bytes],
    size: int,
    progress: Callable[[int], object] | None,
) -> str:
    data = _read(fh, IN_MEMORY_PAYLOAD + 1)  # a buffered read: all of it, or up to EOF
    out.write(enc.update(data))
    out.write(enc.finish())
    if progress is not None and data:
        progress(min(size, len(data)))
    return hashlib.sha256(data).hexdigest()


def _encrypt_blocks(
    fh: IO[bytes],
    enc: agefile.Encryptor,
    out: IO[bytes],
    size: int,
    progress: Callable[[int], object] | None,
) -> str:
    done = 0
    with DigestWorkers(["sha256"]) as check:
        while block := _read(fh, BLOCK_SIZE):
            check.update(block)
            out.write(enc.update(block))
            if progress is not None:
                step = min(size, done + len(block)) - done
                if step > 0:
                    progress(step)
                done += step
        out.write(enc.finish())
        return check.hexdigests()["sha256"]


def encrypt_checked(
    src: Path,
    sha256: str,
    size: int,
    recipient: Recipient,
    out: IO[bytes],
    progress: Callable[[int], object] | None = None,
    label: str = "",
) -> None:
    """:func:`encrypt_into`, checking ``src`` against its recorded ``sha256`` (64 hex).

    The bytes encrypted are the bytes hashed (one read). An ``--in-place``
    source that changes while it is read is also caught by its size and
    modification time, before and after.

    Args:
        size: the recorded size in bytes.
        label: names the file in errors, e.g. ``EV-000001 disk.raw``.

    Raises:
        IntegrityError: ``src`` does not match its record, changed meanwhile, or
            could not be read or encrypted; ``out`` then holds an incomplete or
            wrong payload and must be discarded.
        OSError: writing ``out`` failed.
    """
    hint = "run rogatory evidence verify; export only intact evidence"
    try:
        before = os.stat(src)
    except OSError as exc:
        raise IntegrityError(f"{label}: cannot read the evidence ({exc.strerror})", hint) from None
    try:
        got = encrypt_into(src, recipient, out, size, progress)
        after = os.stat(src)
    except SourceReadError as exc:
        raise IntegrityError(f"{label}: cannot read the evidence ({exc.strerror})", hint) from None
    except agefile.AgeError as exc:
        raise IntegrityError(f"{label}: could not be encrypted ({exc.message})", hint) from None
    if got != sha256:
        raise IntegrityError(
            f"{label}: the stored bytes no longer match their recorded sha256 "
            f"(recorded {sha256}, now {got})",
            hint,
        )
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise IntegrityError(
            f"{label}: the file changed while it was being packaged",
            "package it again when nothing writes to it",
        )


def _readme(package_id: str, recipient: Recipient) -> str:
    return f"""Rogatory evidence package {package_id}
Format: {layout.FORMAT}. Addressed to the age key {recipient.age}.

Everything in this package except this file is encrypted to that key with age
(https://age-encryption.org). To check it with Rogatory, offline:

    rogatory verify PACKAGE --identity KEY --trust SENDER-NODE-CARD --report DIR

To check it with standard tools only:

    unzip PACKAGE -d pkg && cd pkg
    age -d -i KEY -o SHA256SUMS SHA256SUMS.age
    for f in payload/*.age; do age -d -i KEY -o "${{f%.age}}" "$f"; done
    sha256sum -c SHA256SUMS
    age -d -i KEY custody.tar.age | tar x   # per custody event: .statement, .salt,
                                            # .leaf (the exact leaf input), .tlog-proof,
                                            # and policy.tlog-policy for any C2SP tlog-proof verifier
    age -d -i KEY -o manifest.note envelope.age   # the sender-signed manifest (JSON)
"""


def _record_export(
    db: Database,
    log: CustodyLog,
    rows: list[EvidenceItemRow],
    node_id: str,
    actor: Actor,
    case_reference: str,
    package_id: str,
    recipient: Recipient,
) -> None:
    """Append one ``export`` custody event per item (ISO/IEC 27037 §5.4.5 transport).

    Raises:
        CustodyError: the log refuses appends.
    """
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        log.append_in(
            s,
            [
                CustodyEvent(
                    event_type=EventType.EXPORT,
                    subject_kind=SubjectKind.EVIDENCE,
                    subject_id=r.sha256,
                    node=node_id,
                    actor=actor,
                    time=now,
                    case=case_reference,
                    purpose=f"evidence package {package_id} for {recipient.label}",
                    details={
                        "item": item_label(r.id),
                        "package": package_id,
                        "recipient": recipient.age,
                    },
                )
                for r in rows
            ],
        )


def create_package(
    home: NodeHome,
    db: Database,
    log: CustodyLog,
    message_key: ed25519.Ed25519PrivateKey,
    case_reference: str,
    items: list[str],
    recipient: Recipient,
    out_path: Path,
    progress: Callable[[int], object] | None = None,
    planned: Callable[[int], object] | None = None,
) -> PackageSummary:
    """Build a package of ``items`` of a case for ``recipient`` at ``out_path``.

    Streams every payload into ``OUT.part`` first; only then writes an
    ``export`` custody event per item, checkpoints the log and asks the
    witnesses to cosign, so the package carries the export too, and an
    interrupted or failed create (Ctrl-C, a corrupted blob, a full disk while
    the payloads are written) leaves neither a file nor an export event. The
    manifest and custody members written after the event are small; should
    that last step fail, the event names a package that was never completed.

    Raises:
        UsageError: no items, an item of another case, or ``out_path`` exists.
        NotFoundError: unknown case or item.
        IntegrityError: a stored blob no longer matches its recorded hash (nothing written).
        CustodyError: the log refuses appends, or an event was erased.
    """
    if not items:
        raise UsageError("no items given", "name items with --item EV-000001 (repeatable)")
    if out_path.exists():
        raise UsageError(
            f"{out_path} already exists", "choose a new file name; packages are never overwritten"
        )
    ident = home.config.identity
    store = BlobStore(home.blob_dir)
    package_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        case = s.scalar(select(CaseRow).where(CaseRow.reference == case_reference))
        if case is None:
            from rogatory.errors import NotFoundError

            raise NotFoundError(
                f"no case {case_reference!r}", "list cases with: rogatory case list"
            )
        rows: list[EvidenceItemRow] = []
        for label in dict.fromkeys(items):
            row = s.get(EvidenceItemRow, parse_item_id(label))
            if row is None or row.case_id != case.id:
                raise UsageError(
                    f"{label} is not an evidence item of case {case_reference}",
                    "see rogatory evidence list",
                )
            _ = row.files
            rows.append(row)
        case_info = {
            "reference": case.reference,
            "title": case.title,
            "handling_code": case.handling_code,
            "offences": list(case.offences),
        }
        actor = Actor(getpass.getuser(), "operator")
    warnings: list[str] = []

    total = sum(f.size for r in rows for f in r.files if f.kind == "file")
    if planned is not None:
        planned(total)
    tmp = temporary_path(out_path)
    manifest_items: list[dict[str, Any]] = []
    custody_files: dict[str, bytes] = {}
    files_of: dict[int, list[dict[str, Any]]] = {}
    sums: list[str] = []
    n_events = 0
    sink = _PackageWriter(tmp)
    try:
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(layout.README, _readme(package_id, recipient))
            payload_no = 0
            for r in rows:
                files_out: list[dict[str, Any]] = []
                for f in r.files:
                    entry: dict[str, Any] = {
                        "path": f.relpath,
                        "kind": f.kind,
                        "size": f.size,
                        "mode": f.mode,
                        "mtime_ns": f.mtime_ns,
                        "link_target": f.link_target,
                        "sha256": f.sha256,
                        "sha1": f.sha1,
                        "md5": f.md5,
                        "payload": None,
                    }
                    if f.kind == "file" and f.sha256:
                        name = layout.payload_name(payload_no)
                        payload_no += 1
                        with zf.open(name, "w", force_zip64=True) as w:
                            encrypt_checked(
                                content_path(r, f, store),
                                f.sha256,
                                f.size,
                                recipient,
                                w,
                                progress,
                                f"{item_label(r.id)} {f.relpath}",
                            )
                        entry["payload"] = name
                        sums.append(f"{f.sha256}  {name.removesuffix('.age')}")
                    files_out.append(entry)
                files_of[r.id] = files_out
            # Every payload is in the file: only now is the export recorded (an
            # interrupted or failed create leaves no export event behind).
            _record_export(
                db, log, rows, ident.node_id, actor, case_reference, package_id, recipient
            )
            cp, _ = log.publish_checkpoint()
            for result in collect_cosignatures(log, cp, only_missing=True):
                if not result.ok:
                    warnings.append(f"witness {result.witness}: {result.outcome}")
            custody_files[POLICY_FILE] = node_policy(log, home.config.quorum).encode()
            for r in rows:
                files_out = files_of[r.id]
                proofs = event_proofs(
                    log,
                    [e.idx for e in log.entries_for_subject(f"evidence:{r.sha256}")],
                    home.config.quorum,
                )
                for p in proofs:
                    custody_files.update(p.files())
                n_events += len(proofs)
                manifest_items.append(
                    {
                        "item_id": item_label(r.id),
                        "kind": r.kind,
                        "label": r.label,
                        "size": r.size,
                        "sha256": r.sha256,
                        "sha1": r.sha1,
                        "md5": r.md5,
                        "acquisition": r.acquisition,
                        "ewf": r.ewf,
                        "files": files_out,
                        "custody": {
                            "origin": log.origin,
                            "events": [
                                {
                                    "index": p.index,
                                    "statement": base64.b64encode(p.statement).decode(),
                                    "salt": p.salt.hex(),
                                    "tlog_proof": base64.b64encode(p.tlog_proof).decode(),
                                }
                                for p in proofs
                            ],
                        },
                    }
                )
            manifest = {
                "format": layout.FORMAT,
                "package_id": package_id,
                "created_at": now.isoformat(timespec="seconds"),
                "created_by": f"rogatory {__version__}",
                "sender": {
                    "node_id": ident.node_id,
                    "agency": ident.agency,
                    "country": ident.country,
                    "log_origin": log.origin,
                },
                "recipient": {"age": recipient.age, "label": recipient.label},
                "case": case_info,
                "items": manifest_items,
                "policy": node_policy(log, home.config.quorum),
            }
            signer = NoteSigner.ed25519(message_key_name(ident.node_id), message_key)
            note = sign_note(canonical_json(manifest).decode("utf-8") + "\n", [signer])
            zf.writestr(layout.ENVELOPE, agefile.encrypt_bytes(note, [recipient.age]))
            zf.writestr(
                layout.SUMS,
                agefile.encrypt_bytes(("\n".join(sums) + "\n").encode(), [recipient.age]),
            )
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, data in sorted(custody_files.items()):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mtime = int(now.timestamp())
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
            zf.writestr(layout.CUSTODY, agefile.encrypt_bytes(buf.getvalue(), [recipient.age]))
        sha256, size = sink.finish()
        publish_package(tmp, out_path)
    except BaseException:
        sink.close()
        tmp.unlink(missing_ok=True)
        raise
    return PackageSummary(
        out_path,
        package_id,
        sha256,
        size,
        [item_label(r.id) for r in rows],
        recipient.label,
        n_events,
        warnings,
    )
