"""Re-issuing a received package to a court or the defence, without handing over any key.

The holder verifies the package with its own key, records a ``disclosure``
custody event per item in its own log, and re-encrypts every member to the new
recipient. The sender's signed manifest is carried unchanged, so the sender's
signatures stay verifiable; a signed reissue statement (``reissue.age``) by the
holder's message key names the original and the new recipient and carries the
disclosure events with their proofs and the holder's tlog-policy.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric import ed25519

from rogatory import __version__
from rogatory.custody.disclosure import EventProof, event_proofs, node_policy
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind, canonical_json
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import NoteSigner, sign_note
from rogatory.custody.witnessing import collect_cosignatures
from rogatory.errors import IntegrityError, UsageError
from rogatory.node.home import NodeHome
from rogatory.package import agefile, layout
from rogatory.package.card import TrustedSender, message_key_name
from rogatory.package.create import Recipient, _readme, encrypt_into
from rogatory.package.verify import verify_package
from rogatory.package.writebehind import publish_package, temporary_path
from rogatory.store.database import Database


def _event_entry(item: dict[str, Any], proof: EventProof) -> dict[str, Any]:
    """One of this node's custody events about a sender's item, with its proof, as
    the reissue statement carries it (base64 statement and proof, hex salt)."""
    return {
        "sender_item": item["item_id"],
        "sha256": item["sha256"],
        "index": proof.index,
        "statement": base64.b64encode(proof.statement).decode(),
        "salt": proof.salt.hex(),
        "tlog_proof": base64.b64encode(proof.tlog_proof).decode(),
    }


def reissue_package(
    home: NodeHome,
    db: Database,
    log: CustodyLog,
    message_key: ed25519.Ed25519PrivateKey,
    identity: pyrage.x25519.Identity,
    trust: TrustedSender,
    path: Path,
    recipient: Recipient,
    out_path: Path,
    progress: Callable[[int], object] | None = None,
    planned: Callable[[int], object] | None = None,
) -> tuple[str, list[str]]:
    """Re-encrypt ``path`` (addressed to this node) for ``recipient`` at ``out_path``.

    Returns:
        (package id, warnings)

    Raises:
        UsageError: ``out_path`` exists, or the package is a reissue already.
        IntegrityError: the package does not verify (nothing is reissued).
    """
    if out_path.exists():
        raise UsageError(f"{out_path} already exists", "choose a new file name")
    store_tmp = home.blob_dir / "tmp"
    store_tmp.mkdir(parents=True, exist_ok=True)
    verified = verify_package(
        path,
        identity,
        trust,
        staging_parent=store_tmp,
        keep_staging=True,
        progress=progress,
        planned=(lambda total: planned(2 * total)) if planned is not None else None,
    )
    try:
        if not verified.report.ok:
            raise IntegrityError(
                "the package does not verify, so it is not reissued",
                "run rogatory verify --report to see which check failed",
            )
        manifest = verified.manifest
        package_id = manifest["package_id"]
        now = dt.datetime.now(dt.UTC)
        actor = Actor(getpass.getuser(), "operator")
        logged = log.append(
            [
                CustodyEvent(
                    event_type=EventType.DISCLOSURE,
                    subject_kind=SubjectKind.EVIDENCE,
                    subject_id=it["sha256"],
                    node=home.config.identity.node_id,
                    actor=actor,
                    time=now,
                    case=manifest["case"]["reference"],
                    purpose=f"disclosure of package {package_id} to {recipient.label}",
                    details={
                        "package": package_id,
                        "sender_item": it["item_id"],
                        "recipient": recipient.age,
                    },
                )
                for it in manifest["items"]
            ]
        )
        warnings: list[str] = []
        cp, _ = log.publish_checkpoint()
        for r in collect_cosignatures(log, cp, only_missing=True):
            if not r.ok:
                warnings.append(f"witness {r.witness}: {r.outcome}")
        proofs = event_proofs(log, [le.index for le in logged], home.config.quorum)
        # This node's whole chain for each item (receipt, verification, …, this
        # disclosure), so the new recipient sees both agencies' custody, linked.
        chains = {
            it["item_id"]: event_proofs(
                log,
                [e.idx for e in log.entries_for_subject(f"evidence:{it['sha256']}")],
                home.config.quorum,
            )
            for it in manifest["items"]
        }
        statement = {
            "format": layout.REISSUE_FORMAT,
            "package_id": package_id,
            "original_recipient": manifest["recipient"]["age"],
            "new_recipient": {"age": recipient.age, "label": recipient.label},
            "reissued_at": now.isoformat(timespec="seconds"),
            "reissued_by": f"rogatory {__version__}",
            "reissuer": {
                "node_id": home.config.identity.node_id,
                "agency": home.config.identity.agency,
                "country": home.config.identity.country,
                "log_origin": log.origin,
            },
            "disclosure_events": [
                _event_entry(it, p) for it, p in zip(manifest["items"], proofs, strict=True)
            ],
            "reissuer_events": [
                _event_entry(it, p) for it in manifest["items"] for p in chains[it["item_id"]]
            ],
            "policy": node_policy(log, home.config.quorum),
        }
        signed = sign_note(
            canonical_json(statement).decode() + "\n",
            [NoteSigner.ed25519(message_key_name(home.config.identity.node_id), message_key)],
        )
        tmp = temporary_path(out_path)
        try:
            with (
                zipfile.ZipFile(path) as src,
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as dst,
            ):
                if layout.REISSUE in src.namelist():
                    raise UsageError(
                        "this package is already a reissue", "reissue the original package instead"
                    )
                dst.writestr(layout.README, _readme(package_id, recipient))
                for name in (layout.ENVELOPE, layout.SUMS, layout.CUSTODY):
                    if name in src.namelist():
                        dst.writestr(
                            name,
                            agefile.encrypt_bytes(
                                agefile.decrypt_bytes(src.read(name), [identity]), [recipient.age]
                            ),
                        )
                for name, staged in sorted(verified.staged.items()):
                    with dst.open(name, "w", force_zip64=True) as w:
                        encrypt_into(staged, recipient, w, staged.stat().st_size, progress)
                dst.writestr(layout.REISSUE, agefile.encrypt_bytes(signed, [recipient.age]))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            publish_package(tmp, out_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return package_id, warnings
    finally:
        if verified.staging is not None:
            shutil.rmtree(verified.staging, ignore_errors=True)
