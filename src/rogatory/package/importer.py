"""Importing a verified package into this node's evidence store.

Nothing enters the store unless every check of :func:`verify_package` passed:
payloads are decrypted into a staging directory inside the blob store's temp
area, verified, fsynced, then moved into the content-addressed store (as
durably as an intake: see :meth:`BlobStore.adopt`); the items, their
file lists, the foreign custody events with their proofs and the sender's
policy, and one ``receipt`` custody event per item in this node's log are
written in one transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyrage
from sqlalchemy import insert, select

from rogatory.cases.service import open_case
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.custody.log import CustodyLog
from rogatory.errors import ConflictError, IntegrityError
from rogatory.evidence.blobstore import BlobStore
from rogatory.evidence.intake import item_label
from rogatory.node.home import NodeHome
from rogatory.package.card import TrustedSender
from rogatory.package.report_model import PackageReport
from rogatory.package.verify import verify_package
from rogatory.store.database import Database
from rogatory.store.schema import (
    CaseRow,
    EvidenceFileRow,
    EvidenceItemRow,
    ForeignEventRow,
    ReceivedPackageRow,
)


@dataclass
class ImportResult:
    """What ``package import`` did."""

    report: PackageReport
    case: str
    items: dict[str, str]  # sender's item id -> local item id


def import_package(
    home: NodeHome,
    db: Database,
    log: CustodyLog,
    path: Path,
    identity: pyrage.x25519.Identity,
    trust: TrustedSender,
    case_reference: str | None = None,
    progress: Callable[[int], object] | None = None,
    planned: Callable[[int], object] | None = None,
) -> ImportResult:
    """Verify ``path`` and bring its items into the store with their foreign custody history.

    Raises:
        IntegrityError: any check failed (nothing was stored; the message names it).
        ConflictError: the package was imported before.
        UsageError / IntegrityError from :func:`verify_package`.
    """
    store = BlobStore(home.blob_dir)
    verified = verify_package(
        path,
        identity,
        trust,
        staging_parent=store.tmp_dir,
        keep_staging=True,
        progress=progress,
        planned=planned,
    )
    report, manifest = verified.report, verified.manifest
    try:
        if not report.ok:
            failed = report.failed_checks()
            first = failed[0] if failed else None
            raise IntegrityError(
                "the package failed verification, nothing was imported"
                + (f": {first.name}: {first.detail}" if first else ""),
                "give the sender's current node card with --trust (see the check above)"
                if first is not None and first.name == "manifest signature"
                else "run rogatory verify with --report for the details; ask the sender for a new package",
            )
        # the slow part of making the plaintexts durable, before the database is locked
        for staged_file in verified.staged.values():
            fd = os.open(staged_file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        with db.session(write=True) as s:
            if s.get(ReceivedPackageRow, report.package_id) is not None:
                raise ConflictError(
                    f"package {report.package_id} was imported before", "see rogatory evidence list"
                )
            ref = case_reference or manifest["case"]["reference"]
            case = s.scalar(select(CaseRow).where(CaseRow.reference == ref))
            if case is None:
                open_case(
                    s,
                    ref,
                    f"Received from {manifest['sender']['agency']}: {manifest['case']['title']}",
                    list(manifest["case"]["offences"]),
                    manifest["case"]["handling_code"],
                )
                case = s.scalar(select(CaseRow).where(CaseRow.reference == ref))
            assert case is not None
            now = dt.datetime.now(dt.UTC)
            s.add(
                ReceivedPackageRow(
                    package_id=report.package_id,
                    sender_node=manifest["sender"]["node_id"],
                    sender_agency=manifest["sender"]["agency"],
                    file_name=path.name,
                    file_sha256=report.package_sha256,
                    received_at=now,
                    report=report.as_dict(),
                )
            )
            s.flush()
            mapping: dict[str, str] = {}
            events: list[CustodyEvent] = []
            for it in manifest["items"]:
                acquisition = dict(it["acquisition"])
                acquisition["received"] = {
                    "package_id": report.package_id,
                    "from_node": manifest["sender"]["node_id"],
                    "from_agency": manifest["sender"]["agency"],
                    "sender_item": it["item_id"],
                    "received_at": now.isoformat(),
                }
                row = EvidenceItemRow(
                    case_id=case.id,
                    kind=it["kind"],
                    label=it["label"],
                    source_path=f"package:{report.package_id}/{it['item_id']}",
                    in_place=False,
                    size=int(it["size"]),
                    file_count=len(it["files"]),
                    sha256=it["sha256"],
                    sha1=it.get("sha1"),
                    md5=it.get("md5"),
                    blake3=None,
                    acquisition=acquisition,
                    ewf=it.get("ewf"),
                    recorded_at=now,
                )
                s.add(row)
                s.flush()
                mapping[it["item_id"]] = item_label(row.id)
                s.execute(
                    insert(EvidenceFileRow),
                    [
                        {
                            "item_id": row.id,
                            "relpath": f["path"],
                            "kind": f["kind"],
                            "size": int(f["size"]),
                            "mode": int(f["mode"]),
                            "mtime_ns": int(f["mtime_ns"]),
                            "link_target": f.get("link_target"),
                            "sha256": f.get("sha256"),
                            "sha1": f.get("sha1"),
                            "md5": f.get("md5"),
                            "blake3": None,
                        }
                        for f in it["files"]
                    ],
                )
                for ev in it["custody"]["events"]:
                    s.add(
                        ForeignEventRow(
                            item_id=row.id,
                            package_id=report.package_id,
                            origin=it["custody"]["origin"],
                            idx=int(ev["index"]),
                            statement=base64.b64decode(ev["statement"]),
                            salt=bytes.fromhex(ev["salt"]),
                            tlog_proof=base64.b64decode(ev["tlog_proof"]),
                            policy=trust.policy.to_text(),
                        )
                    )
                events.append(
                    CustodyEvent(
                        event_type=EventType.RECEIPT,
                        subject_kind=SubjectKind.EVIDENCE,
                        subject_id=it["sha256"],
                        node=home.config.identity.node_id,
                        actor=Actor(getpass.getuser(), "operator"),
                        time=now,
                        case=ref,
                        purpose=f"evidence package {report.package_id} from {manifest['sender']['agency']}",
                        details={
                            "item": item_label(row.id),
                            "package": report.package_id,
                            "package_sha256": report.package_sha256,
                            "from_node": manifest["sender"]["node_id"],
                            "sender_item": it["item_id"],
                            "foreign_events": [
                                f"{it['custody']['origin']}#{ev['index']}"
                                for ev in it["custody"]["events"]
                            ],
                        },
                    )
                )
            # move the verified plaintexts into the content-addressed store, then commit
            for it in manifest["items"]:
                for f in it["files"]:
                    if f["payload"] is None:
                        continue
                    staged = verified.staged[f["payload"]]
                    if staged.exists():  # a file listed twice in the manifest is staged once
                        store.adopt(staged, f["sha256"])
            log.append_in(s, events)
    finally:
        if verified.staging is not None:
            shutil.rmtree(verified.staging, ignore_errors=True)
    return ImportResult(report, ref, mapping)


def foreign_history(db: Database, item_id: int) -> list[dict[str, object]]:
    """The custody events that came with an imported item, each re-checked offline
    against the policy trusted at import (oldest first)."""
    from rogatory.custody.disclosure import check_event
    from rogatory.errors import RogatoryError

    with db.session() as s:
        rows = list(
            s.scalars(
                select(ForeignEventRow)
                .where(ForeignEventRow.item_id == item_id)
                .order_by(ForeignEventRow.idx)
            )
        )
    out: list[dict[str, object]] = []
    for r in rows:
        entry: dict[str, object] = {"origin": r.origin, "index": r.idx, "package": r.package_id}
        try:
            checked = check_event(r.tlog_proof, r.statement, r.salt, r.policy)
            entry.update(
                event=checked.event, ok=True, provably_logged_by=checked.logged_by, problem=None
            )
        except RogatoryError as exc:
            entry.update(event=None, ok=False, provably_logged_by=None, problem=exc.message)
        out.append(entry)
    return out
