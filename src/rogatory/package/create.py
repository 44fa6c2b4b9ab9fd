"""Building an evidence package (see :mod:`rogatory.package.layout` for the file format).

The manifest lists each item (sizes, SHA-256/SHA-1/MD5, acquisition record,
file list) with its custody events (statements, salts and c2sp.org/tlog-proof@v1
proofs against a cosigned checkpoint) and the sender's tlog-policy with its key
history. It names the recipient, is signed over the plaintext by the sender's
message key (a C2SP signed note), and is then encrypted with age. Each payload
is streamed from the evidence store through age into the archive, re-hashed on
the way (a corrupted blob is never exported), in constant memory.
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
from typing import Any, BinaryIO

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
from rogatory.evidence.hashing import BLOCK_SIZE, new_hasher
from rogatory.evidence.intake import item_label, parse_item_id
from rogatory.evidence.records import content_path
from rogatory.node.home import NodeHome
from rogatory.package import layout
from rogatory.package.card import message_key_name
from rogatory.store.database import Database
from rogatory.store.schema import CaseRow, EvidenceItemRow


@dataclass(frozen=True)
class Recipient:
    """Who a package is encrypted to: an age X25519 recipient and a label for people."""

    age: str
    label: str

    def key(self) -> pyrage.x25519.Recipient:
        return pyrage.x25519.Recipient.from_str(self.age)


def parse_recipient(text: str) -> Recipient:
    """An ``age1…`` recipient, or a file holding one: a node card, an age
    recipients file, or an age identity file (its public half is used).

    Raises:
        UsageError: nothing usable found.
    """
    import json

    candidate = text.strip()
    if candidate.startswith("age1"):
        label = candidate
    else:
        path = Path(candidate)
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"--to {text!r} is neither an age recipient (age1…) nor a readable file ({exc.strerror})",
                "give an age recipient, a node card, or an age key file",
            ) from None
        if content.lstrip().startswith("{"):
            try:
                card = json.loads(content)
                candidate, label = card["keys"]["age"], f"{card['agency']} ({card['node_id']})"
            except (ValueError, KeyError, TypeError):
                raise UsageError(
                    f"{path} is not a node card",
                    "give the recipient's card from 'rogatory node card'",
                ) from None
        else:
            lines = [
                ln.strip() for ln in content.splitlines() if ln.strip() and not ln.startswith("#")
            ]
            if not lines:
                raise UsageError(f"{path} holds no age key", "")
            if lines[0].startswith("AGE-SECRET-KEY-1"):
                candidate = str(pyrage.x25519.Identity.from_str(lines[0]).to_public())
            else:
                candidate = lines[0]
            label = f"{candidate} (from {path.name})"
    try:
        pyrage.x25519.Recipient.from_str(candidate)
    except pyrage.RecipientError:
        raise UsageError(
            f"{candidate!r} is not an age X25519 recipient", "it starts with age1"
        ) from None
    return Recipient(candidate, label)


class _HashingReader:
    """Reads a file and hashes what passes through (SHA-256, SHA-1, MD5)."""

    def __init__(
        self, f: BinaryIO, algorithms: list[str], progress: Callable[[int], object] | None
    ) -> None:
        self.f = f
        self.hashers = {a: new_hasher(a) for a in algorithms}
        self.progress = progress
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(BLOCK_SIZE if size is None or size < 0 else size)
        for h in self.hashers.values():
            h.update(data)
        self.n += len(data)
        if self.progress is not None and data:
            self.progress(len(data))
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def digests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self.hashers.items()}


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

    Writes an ``export`` custody event per item first, checkpoints the log and
    asks the witnesses to cosign, so the package carries the export too.

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
        log.append_in(
            s,
            [
                CustodyEvent(
                    event_type=EventType.EXPORT,
                    subject_kind=SubjectKind.EVIDENCE,
                    subject_id=r.sha256,
                    node=ident.node_id,
                    actor=actor,
                    time=now,
                    case=case.reference,
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
    warnings: list[str] = []
    cp, _ = log.publish_checkpoint()
    for result in collect_cosignatures(log, cp, only_missing=True):
        if not result.ok:
            warnings.append(f"witness {result.witness}: {result.outcome}")

    total = sum(f.size for r in rows for f in r.files if f.kind == "file")
    if planned is not None:
        planned(total)
    tmp = out_path.with_name(out_path.name + ".part")
    key = recipient.key()
    manifest_items: list[dict[str, Any]] = []
    custody_files: dict[str, bytes] = {POLICY_FILE: node_policy(log, home.config.quorum).encode()}
    sums: list[str] = []
    n_events = 0
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
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
                        algorithms = [a for a in ("sha256", "sha1", "md5") if getattr(f, a)]
                        src = content_path(r, f, store)
                        with open(src, "rb") as fh, zf.open(name, "w", force_zip64=True) as w:
                            reader = _HashingReader(fh, algorithms, progress)
                            pyrage.encrypt_io(reader, w, [key])
                        got = reader.digests()
                        for a in algorithms:
                            if got[a] != getattr(f, a):
                                raise IntegrityError(
                                    f"{item_label(r.id)} {f.relpath}: the stored bytes no longer match their "
                                    f"recorded {a} (recorded {getattr(f, a)}, now {got[a]})",
                                    "run rogatory evidence verify; export only intact evidence",
                                )
                        entry["payload"] = name
                        sums.append(f"{f.sha256}  {name.removesuffix('.age')}")
                    files_out.append(entry)
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
            zf.writestr(layout.ENVELOPE, pyrage.encrypt(note, [key]))
            zf.writestr(layout.SUMS, pyrage.encrypt(("\n".join(sums) + "\n").encode(), [key]))
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, data in sorted(custody_files.items()):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mtime = int(now.timestamp())
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
            zf.writestr(layout.CUSTODY, pyrage.encrypt(buf.getvalue(), [key]))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    h = hashlib.sha256()
    with open(out_path, "rb") as fh:
        while block := fh.read(BLOCK_SIZE):
            h.update(block)
    return PackageSummary(
        out_path,
        package_id,
        h.hexdigest(),
        out_path.stat().st_size,
        [item_label(r.id) for r in rows],
        recipient.label,
        n_events,
        warnings,
    )
