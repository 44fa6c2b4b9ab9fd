"""What an offline verification of an evidence package found, as data (rendered by ``report``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    """One check and its outcome.

    Attributes:
        name: short name of the check, e.g. ``manifest signature``.
        ok: whether it passed.
        detail: one sentence in plain words: what was compared with what, and the result.
    """

    name: str
    ok: bool
    detail: str


@dataclass
class CustodyStep:
    """One custody event of an item, as verified.

    Attributes:
        index: the event's index in the log of ``origin``.
        origin: the custody log it is in (``rogatory/<node id>/custody``).
        time: when the event happened, ISO 8601 UTC.
        event_type: acquisition, verification, export, transfer-out, receipt, …
        actor: who acted; role: in which role.
        node: the node that wrote the event.
        purpose: purpose or legal basis stated; note: free text.
        checks: signature, commitment, inclusion proof, checkpoint signature, witness quorum.
        provably_logged_by: ISO 8601 UTC time by which the witnesses attest it was in the log.
        cosigned_by: witness name -> cosignature time (ISO 8601 UTC).
    """

    index: int
    origin: str
    time: str
    event_type: str
    actor: str
    role: str
    node: str
    purpose: str
    note: str
    checks: list[CheckResult] = field(default_factory=list)
    provably_logged_by: str | None = None
    cosigned_by: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class ItemReport:
    """One evidence item of the package.

    Attributes:
        item_id: the sender's item id (e.g. ``EV-000001``); label: its name.
        kind: file, directory, ewf, device or fifo; size: bytes.
        sha256, sha1, md5: digests recorded at acquisition (hex; sha1/md5 may be empty).
        acquisition: the acquisition record (who, when, where, source, method, tool, notes …).
        ewf: for EWF images: media size, stored and re-read media hashes, header; else None.
        checks: per-item checks (payload decrypted, every byte re-hashed, …).
        custody: the item's custody chain, oldest first.
    """

    item_id: str
    label: str
    kind: str
    size: int
    sha256: str
    sha1: str
    md5: str
    acquisition: dict[str, Any]
    ewf: dict[str, Any] | None
    checks: list[CheckResult] = field(default_factory=list)
    custody: list[CustodyStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(s.ok for s in self.custody)


@dataclass
class PackageReport:
    """The whole verification.

    Attributes:
        package_file: file name of the package verified; package_sha256: its SHA-256 (hex).
        package_id: the package's UUID; created_at: when the sender made it (UTC).
        sender: ``{"node_id", "agency", "country"}``; recipient: who it is addressed to.
        case: the sender's case reference; handling_code: TLP label.
        trust_basis: how the sender's key was trusted (which trust file / fingerprint).
        verified_at: when this verification ran (UTC); verifier: tool and version.
        custody_only: payloads were not decrypted (``--custody-only``).
        checks: package-level checks (signature, recipient, structure …).
        items: per-item results.
    """

    package_file: str
    package_sha256: str
    package_id: str
    created_at: str
    sender: dict[str, str]
    recipient: str
    case: str
    handling_code: str
    trust_basis: str
    verified_at: str
    verifier: str
    custody_only: bool
    checks: list[CheckResult] = field(default_factory=list)
    items: list[ItemReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(i.ok for i in self.items)

    def failed_checks(self) -> list[CheckResult]:
        """Every failed check, package checks first, then per item and custody event."""
        failed = [c for c in self.checks if not c.ok]
        for i in self.items:
            failed += [c for c in i.checks if not c.ok]
            failed += [c for s in i.custody for c in s.checks if not c.ok]
        return failed

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d
