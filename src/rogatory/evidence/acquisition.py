"""Acquisition records: who took the evidence, when, where, from what, how, with what.

Fields follow RFC 3227 §4.1 (chain of custody), NIST SP 800-86 §3.1.2 and the
ISO/IEC 27037 minimum list as summarised in ``shared/research/evidence.md`` §2:
acquirer, UTC time, location, source device and its identifiers, method, tool
and version, notes, exhibit number and legal authority. Pure domain, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from rogatory.errors import UsageError

METHODS: tuple[str, ...] = (
    "physical",
    "logical",
    "selective",
    "live",
    "remote",
    "provider-disclosure",
    "copy",
)
"""Acquisition methods (ISO/IEC 27037 static vs. live acquisition; physical,
logical and selective images; data disclosed by a service provider; a copy of
evidence already acquired)."""

CLOCK_SKEW = dt.timedelta(minutes=5)
_TOOL = re.compile(r"\S+.*\s\S*\d")


def parse_utc(text: str) -> dt.datetime:
    """Parse an ISO 8601 time with an explicit offset (``Z`` allowed) into UTC.

    Raises:
        UsageError: unparseable, or without a UTC offset (a local time is ambiguous
            across borders, RFC 3227 §2).
    """
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise UsageError(
            f"cannot read the time {text!r}",
            "use ISO 8601 with an offset, e.g. 2026-11-30T09:15:00Z",
        ) from None
    if value.tzinfo is None:
        raise UsageError(
            f"the time {text!r} has no UTC offset",
            "add Z for UTC or the local offset, e.g. 2026-11-30T10:15:00+01:00",
        )
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        raise UsageError(
            f"the time {text!r} is out of range", "give a real acquisition time"
        ) from None
    if utc.year < 1970:
        raise UsageError(
            f"the time {text!r} is before 1970",
            "give the real acquisition time, with its UTC offset",
        )
    return utc


@dataclass(frozen=True)
class Acquisition:
    """The acquisition record of one intake (applies to every item of the run).

    Attributes:
        acquired_by: the person who acquired the evidence (name, role, organisation).
        acquired_at: when, UTC.
        location: where (address, premises, or system for a remote acquisition).
        source_device: the source device or medium (make, model, serial, capacity,
            host name, account…).
        method: one of :data:`METHODS`.
        tool: tool name and version, e.g. ``ewfacquire 20140813``.
        notes: the acquirer's contemporaneous notes (may be empty).
        source_ids: further identifiers of the source (serial numbers, IMEI, MAC…).
        exhibit_number: exhibit / evidence number given by the seizing organisation.
        authority: legal authority (warrant, order or request number).
    """

    acquired_by: str
    acquired_at: dt.datetime
    location: str
    source_device: str
    method: str
    tool: str
    notes: str = ""
    source_ids: list[str] = field(default_factory=list)
    exhibit_number: str = ""
    authority: str = ""

    @classmethod
    def create(
        cls,
        *,
        acquired_by: str | None,
        acquired_at: str | None,
        location: str | None,
        source_device: str | None,
        method: str | None,
        tool: str | None,
        notes: str = "",
        source_ids: list[str] | None = None,
        exhibit_number: str = "",
        authority: str = "",
        now: dt.datetime | None = None,
    ) -> Acquisition:
        """Check every field and build the record.

        ``acquired_at`` defaults to ``now`` (UTC).

        Raises:
            UsageError: a required field is missing (all missing ones are named),
                the method is unknown, the tool lacks a version, or the time is
                unreadable, offset-less or in the future.
        """
        now = now or dt.datetime.now(dt.UTC)
        required = {
            "--acquired-by": acquired_by,
            "--location": location,
            "--source-device": source_device,
            "--method": method,
            "--tool": tool,
        }
        missing = [opt for opt, v in required.items() if not (v and v.strip())]
        if missing:
            raise UsageError(
                "the acquisition record lacks " + ", ".join(missing),
                "ISO/IEC 27037 and RFC 3227 need who, where, from what, how and with what: "
                "give " + " ".join(f"{m} …" for m in missing),
            )
        assert method and tool and acquired_by and location and source_device
        if method not in METHODS:
            raise UsageError(
                f"unknown acquisition method {method!r}", f"use one of: {', '.join(METHODS)}"
            )
        if not _TOOL.match(tool.strip()):
            raise UsageError(
                f"--tool {tool!r} does not give a version",
                "name the tool and its version, e.g. --tool 'FTK Imager 4.7.1'",
            )
        when = parse_utc(acquired_at) if acquired_at else now
        if when > now + CLOCK_SKEW:
            raise UsageError(
                f"--acquired-at {when.isoformat()} is in the future",
                "check the time and its UTC offset",
            )
        return cls(
            acquired_by=acquired_by.strip(),
            acquired_at=when.replace(microsecond=0) if not acquired_at else when,
            location=location.strip(),
            source_device=source_device.strip(),
            method=method,
            tool=tool.strip(),
            notes=notes.strip(),
            source_ids=[s.strip() for s in (source_ids or []) if s.strip()],
            exhibit_number=exhibit_number.strip(),
            authority=authority.strip(),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``acquired_at`` as ISO 8601 UTC."""
        d = asdict(self)
        d["acquired_at"] = self.acquired_at.isoformat()
        return d
