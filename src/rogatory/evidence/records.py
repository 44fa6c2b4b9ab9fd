"""Reading recorded evidence back: item views, re-verification, checksum manifests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from rogatory.cases.service import get_case_row
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import split_note
from rogatory.errors import NotFoundError, RogatoryError, UsageError
from rogatory.evidence import ewf
from rogatory.evidence.blobstore import BlobStore
from rogatory.evidence.hashing import digest_stream
from rogatory.evidence.intake import item_label, parse_item_id
from rogatory.evidence.listing import listing_digest
from rogatory.store.schema import EvidenceFileRow, EvidenceItemRow

DIGESTS = ("sha256", "sha1", "md5", "blake3")


def item_summary(row: EvidenceItemRow) -> dict[str, Any]:
    """One line of ``evidence list``: id, kind, label, size (bytes), file count, digests."""
    return {
        "item": item_label(row.id),
        "case": row.case.reference,
        "kind": row.kind,
        "label": row.label,
        "size": row.size,
        "files": row.file_count,
        "in_place": row.in_place,
        "sha256": row.sha256,
        "sha1": row.sha1,
        "md5": row.md5,
        "recorded_at": row.recorded_at.isoformat(),
        "media_verified": (row.ewf or {}).get("media_verified") if row.ewf else None,
    }


def item_detail(row: EvidenceItemRow, max_files: int | None = None) -> dict[str, Any]:
    """Everything about an item: summary, acquisition record, EWF data, file list."""
    d = item_summary(row)
    d["source_path"] = row.source_path
    if row.blake3:
        d["blake3"] = row.blake3
    d["acquisition"] = row.acquisition
    d["ewf"] = row.ewf
    d["last_verified_at"] = row.last_verified_at.isoformat() if row.last_verified_at else None
    d["last_verified_ok"] = row.last_verified_ok
    files = row.files if max_files is None else row.files[:max_files]
    d["file_list"] = [
        {
            "path": f.relpath,
            "kind": f.kind,
            "size": f.size,
            "mode": f"{f.mode:04o}",
            "mtime": dt.datetime.fromtimestamp(f.mtime_ns / 1e9, dt.UTC).isoformat(),
            "mtime_ns": f.mtime_ns,
            **({"link_target": f.link_target} if f.link_target is not None else {}),
            **{k: getattr(f, k) for k in DIGESTS if getattr(f, k)},
        }
        for f in files
    ]
    d["file_list_truncated"] = max_files is not None and len(row.files) > max_files
    return d


def get_item(session: Session, item: str) -> EvidenceItemRow:
    """The item ``EV-…``. Raises :class:`NotFoundError` if absent."""
    row = session.get(
        EvidenceItemRow, parse_item_id(item), options=[selectinload(EvidenceItemRow.files)]
    )
    if row is None:
        raise NotFoundError(
            f"no evidence item {item}", "list items with: rogatory evidence list CASE"
        )
    return row


def list_items(session: Session, case_reference: str) -> list[EvidenceItemRow]:
    """Items of a case in intake order. Raises :class:`NotFoundError` for an unknown case."""
    case = get_case_row(session, case_reference)
    return list(
        session.scalars(
            select(EvidenceItemRow)
            .where(EvidenceItemRow.case_id == case.id)
            .order_by(EvidenceItemRow.id)
        )
    )


def select_items(session: Session, target: str | None) -> list[EvidenceItemRow]:
    """Items named by ``target``: an item id, a case reference, or every item when ``None``."""
    if target is None:
        return list(
            session.scalars(
                select(EvidenceItemRow)
                .options(selectinload(EvidenceItemRow.files))
                .order_by(EvidenceItemRow.id)
            )
        )
    t = target.strip()
    if t.upper().startswith("EV-"):
        return [get_item(session, t)]
    try:
        items = list_items(session, t)
    except NotFoundError:
        if t.isdigit():
            return [get_item(session, t)]
        raise NotFoundError(
            f"no case or evidence item {target!r}",
            "give a case reference or an item id like EV-000042",
        ) from None
    for it in items:
        _ = it.files
    return items


def source_file_path(row: EvidenceItemRow, f: EvidenceFileRow) -> Path:
    """The path file entry ``f`` was acquired from."""
    if row.kind == "directory":
        return Path(row.source_path) / f.relpath
    if row.kind == "ewf":
        return Path(row.source_path).parent / f.relpath
    return Path(row.source_path)


def content_path(row: EvidenceItemRow, f: EvidenceFileRow, store: BlobStore) -> Path:
    """Where the bytes of file entry ``f`` are kept: the blob, or the source for --in-place."""
    if row.in_place:
        return source_file_path(row, f)
    assert f.sha256 is not None
    return store.path_for(f.sha256)


@dataclass
class Finding:
    """One check of ``evidence verify`` that did not pass.

    Attributes:
        item: ``EV-…``.
        path: the file-list entry (relative path).
        problem: ``missing``, ``unreadable``, ``mismatch`` or ``listing``.
        detail: a sentence naming the algorithm, expected and actual values, or the OS error.
    """

    item: str
    path: str
    problem: str
    detail: str


@dataclass
class VerifyReport:
    """Result of re-reading stored evidence."""

    items: int = 0
    files: int = 0
    bytes: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problem_files(self) -> int:
        """Distinct (item, file) pairs with at least one finding."""
        return len({(f.item, f.path) for f in self.findings})

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "items": self.items,
            "files": self.files,
            "bytes": self.bytes,
            "problem_files": self.problem_files,
            "findings": [f.__dict__ for f in self.findings],
        }


def verify_items(
    session: Session,
    rows: list[EvidenceItemRow],
    store: BlobStore,
    progress: Callable[[int], object] | None = None,
) -> VerifyReport:
    """Re-read every stored byte of ``rows`` and compare every recorded digest.

    Records the time and outcome on each item (``last_verified_at/ok``). Never
    raises for a mismatch: every problem becomes a :class:`Finding`.
    """
    report = VerifyReport()
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        report.items += 1
        label = item_label(row.id)
        before = len(report.findings)
        for f in row.files:
            if f.kind != "file" and row.kind not in ("device", "fifo"):
                continue
            expected = {k: getattr(f, k) for k in DIGESTS if getattr(f, k)}
            if not expected:
                continue
            path = content_path(row, f, store)
            report.files += 1
            try:
                if not row.in_place and path.is_symlink():
                    raise OSError(f"{path} is a symbolic link, not a stored blob (store altered)")
                with open(path, "rb", buffering=0) as fh:
                    got, n = digest_stream(fh, expected.keys(), progress=progress, size_hint=f.size)
            except FileNotFoundError:
                where = "the original (taken in --in-place)" if row.in_place else "the stored copy"
                report.findings.append(
                    Finding(label, f.relpath, "missing", f"{where} {path} is missing")
                )
                continue
            except (OSError, RogatoryError) as exc:
                report.findings.append(Finding(label, f.relpath, "unreadable", f"{path}: {exc}"))
                continue
            report.bytes += n
            for alg, want in expected.items():
                if got[alg] != want:
                    report.findings.append(
                        Finding(
                            label,
                            f.relpath,
                            "mismatch",
                            f"{alg} is now {got[alg]}, recorded {want} ({path})",
                        )
                    )
        if row.kind == "ewf" and row.ewf and len(report.findings) == before:
            _verify_ewf_media(row, store, label, report, progress)
        if (row.kind == "directory" or (row.kind == "ewf" and row.file_count > 1)) and row.files:
            again = listing_digest(row.files)
            if again != row.sha256:
                report.findings.append(
                    Finding(
                        label, "", "listing", f"file list digest is {again}, recorded {row.sha256}"
                    )
                )
        row.last_verified_at = now
        row.last_verified_ok = len(report.findings) == before
    return report


def _verify_ewf_media(
    row: EvidenceItemRow,
    store: BlobStore,
    label: str,
    report: VerifyReport,
    progress: Callable[[int], object] | None,
) -> None:
    """Re-read an EWF item's media through libewf and compare with the hashes stored in it."""
    assert row.ewf is not None
    segments = [content_path(row, f, store) for f in row.files if f.kind == "file"]
    info = ewf.EwfInfo(
        list(row.ewf["segments"]), int(row.ewf["media_size"]), dict(row.ewf["stored_hashes"]), {}
    )
    try:
        ewf.verify_media(segments, info, progress)
    except RogatoryError as exc:
        report.findings.append(Finding(label, "(media)", "unreadable", exc.message))
        return
    for alg, want in info.stored_hashes.items():
        got = info.computed_hashes.get(alg)
        if got is not None and got != want:
            report.findings.append(
                Finding(
                    label,
                    "(media)",
                    "media",
                    f"media {alg} is {got}, the image stores {want}: the image is damaged",
                )
            )


def _escape(path: str) -> tuple[str, str]:
    """GNU coreutils checksum-line escaping: backslash, newline and CR in names."""
    if "\\" in path or "\n" in path or "\r" in path:
        return "\\", path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "", path


def checksum_manifest(
    rows: list[EvidenceItemRow], store: BlobStore, algorithm: str = "sha256", paths: str = "source"
) -> str:
    """A manifest that ``sha256sum -c`` (``sha1sum -c``, ``md5sum -c``) accepts.

    Args:
        rows: items to list (each regular file of each item, one line each).
        store: the blob store (for ``paths="store"``).
        algorithm: ``sha256``, ``sha1`` or ``md5``.
        paths: ``source`` — the paths the files were acquired from (absolute);
            ``store`` — the blob files in the evidence store.

    Raises:
        UsageError: unknown algorithm or paths mode.
    """
    if algorithm not in ("sha256", "sha1", "md5"):
        raise UsageError(f"no manifest for {algorithm!r}", "use sha256, sha1 or md5")
    if paths not in ("source", "store"):
        raise UsageError(f"unknown --paths {paths!r}", "use source or store")
    lines: list[str] = []
    for row in rows:
        for f in row.files:
            digest = getattr(f, algorithm)
            if f.kind != "file" or not digest:
                continue
            p = content_path(row, f, store) if paths == "store" else source_file_path(row, f)
            prefix, name = _escape(str(p))
            lines.append(f"{prefix}{digest}  {name}\n")
    return "".join(lines)


def cross_check_custody(rows: list[EvidenceItemRow], log: CustodyLog, report: VerifyReport) -> None:
    """Check each item's database record against its signed custody events.

    The database can be edited; the custody log cannot without it showing. An
    item must have a signed acquisition (or, when imported, receipt) event for
    its SHA-256 that names the item and the same digests; otherwise a
    ``record`` finding is added.
    """
    for row in rows:
        label = item_label(row.id)
        backed = False
        for entry in log.entries_for_subject(f"evidence:{row.sha256}"):
            if entry.event_type not in ("acquisition", "receipt") or entry.statement is None:
                continue
            try:
                details = json.loads(split_note(entry.statement)[0]).get("details", {})
            except (RogatoryError, ValueError):
                continue
            if details.get("item") != label:
                continue
            digests = details.get("digests") or {}
            if all(digests.get(a) in (None, getattr(row, a)) for a in ("sha256", "sha1", "md5")):
                backed = True
                break
        if not backed:
            report.findings.append(
                Finding(
                    label,
                    "",
                    "record",
                    "no signed acquisition or receipt event in the custody log matches this item's "
                    "record (item id and digests): the database record was altered",
                )
            )
