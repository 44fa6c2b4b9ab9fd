"""Case rules: handling codes, offence categories, statuses. Pure domain, no I/O."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from rogatory.errors import UsageError


class HandlingCode(StrEnum):
    """Traffic Light Protocol 2.0 labels (FIRST TLP v2.0, August 2022)."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @classmethod
    def parse(cls, text: str) -> HandlingCode:
        """Accept ``amber+strict``, ``TLP:AMBER+STRICT``, ``TLP:RED`` … (case-insensitive).

        Raises:
            UsageError: not a TLP 2.0 label (``WHITE`` is TLP 1.0 and refused with a hint).
        """
        t = text.strip().upper().removeprefix("TLP:")
        if t == "WHITE":
            raise UsageError("TLP:WHITE is TLP 1.0", "TLP 2.0 calls it CLEAR")
        try:
            return cls(t)
        except ValueError:
            raise UsageError(
                f"{text!r} is not a TLP 2.0 handling code",
                "use CLEAR, GREEN, AMBER, AMBER+STRICT or RED",
            ) from None


class CaseStatus(StrEnum):
    """Where a case stands."""

    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"


@dataclass(frozen=True)
class OffenceCategory:
    """One Budapest Convention offence category (Arts. 2–11), from data/budapest_offences.toml."""

    code: str
    article: str
    title: str
    source: str
    as_of: str


@cache
def offence_categories() -> dict[str, OffenceCategory]:
    """The offence categories by code (``BC-2`` … ``BC-11``), read from the shipped data file."""
    text = resources.files("rogatory.data").joinpath("budapest_offences.toml").read_text("utf-8")
    doc = tomllib.loads(text)
    return {
        o["code"]: OffenceCategory(o["code"], o["article"], o["title"], o["source"], o["as_of"])
        for o in doc["offence"]
    }


_ART = re.compile(r"^(?:BC-?|ART\.?\s*)?(\d{1,2})$")


def parse_offence(text: str) -> str:
    """Normalise ``BC-8``, ``bc8``, ``Art. 8`` or ``8`` to the code ``BC-8``.

    Raises:
        UsageError: not one of Budapest Convention Arts. 2–11.
    """
    m = _ART.match(text.strip().upper())
    code = f"BC-{int(m.group(1))}" if m else text
    if code not in offence_categories():
        choices = ", ".join(f"{c.code} ({c.title})" for c in offence_categories().values())
        raise UsageError(f"unknown offence category {text!r}", f"use one of: {choices}")
    return code


_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$")


def check_reference(reference: str) -> str:
    """Validate a case reference number (letters, digits, ``. _ / : -``; ≤128 chars).

    Raises:
        UsageError: empty, too long or with other characters.
    """
    if not _REFERENCE.match(reference):
        raise UsageError(
            f"case reference {reference!r} is not usable",
            "use letters, digits and . _ / : - (at most 128), e.g. NL-2026-0042",
        )
    return reference
