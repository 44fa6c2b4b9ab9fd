"""Node identity: who an installation speaks for. Pure domain rules, no I/O.

A node id names one agency's installation, ``<cc>.<name>`` with ``cc`` the
lower-case ISO 3166-1 alpha-2 code of its country (e.g. ``nl.police-cybercrime``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import iso3166

from rogatory.errors import UsageError

ROLES: tuple[str, ...] = (
    "police",
    "prosecutor",
    "central-authority",
    "contact-24-7",
    "hub",
    "court",
    "expert",
)
"""Roles a node may hold (Budapest Convention Art. 27(2) central authority,
Art. 35 24/7 network point of contact; hub = regional coordinator)."""

_NODE_ID = re.compile(r"^[a-z]{2}\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalise_country(code: str) -> str:
    """Return ``code`` as an upper-case ISO 3166-1 alpha-2 code.

    Raises:
        UsageError: ``code`` is not an assigned alpha-2 code.
    """
    cc = code.strip().upper()
    if len(cc) != 2 or cc not in iso3166.countries_by_alpha2:
        raise UsageError(
            f"{code!r} is not an ISO 3166-1 alpha-2 country code",
            "use the two-letter code, e.g. NL, BR, JP",
        )
    return cc


def check_node_id(node_id: str, country: str) -> str:
    """Validate a node id against its country and return it.

    Raises:
        UsageError: the id is not ``<cc>.<name>`` (lower case, digits and
            hyphens, at most 63 characters after the dot) or ``cc`` is not the
            node's country.
    """
    if not _NODE_ID.match(node_id):
        raise UsageError(
            f"node id {node_id!r} is not of the form <country>.<name>",
            "use lower case letters, digits and hyphens, e.g. nl.police-cybercrime",
        )
    if node_id[:2] != country.lower():
        raise UsageError(
            f"node id {node_id!r} does not start with the node's country code {country.lower()!r}",
            f"use e.g. {country.lower()}.{node_id[3:]}",
        )
    return node_id


def check_roles(roles: list[str]) -> list[str]:
    """Validate role names and return them without duplicates, in order.

    Raises:
        UsageError: a role is not one of :data:`ROLES`.
    """
    out: list[str] = []
    for role in roles:
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}", f"choose from: {', '.join(ROLES)}")
        if role not in out:
            out.append(role)
    return out


@dataclass(frozen=True)
class NodeIdentity:
    """The identity a node presents to partners.

    Attributes:
        node_id: ``<cc>.<name>``, see :func:`check_node_id`.
        country: ISO 3166-1 alpha-2, upper case.
        agency: the agency's name, free text.
        roles: subset of :data:`ROLES`.
    """

    node_id: str
    country: str
    agency: str
    roles: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, node_id: str, country: str, agency: str, roles: list[str]) -> NodeIdentity:
        """Validate every field and build the identity.

        Raises:
            UsageError: any field is invalid; the message names it.
        """
        cc = normalise_country(country)
        if not agency.strip():
            raise UsageError("agency name is empty", "give --agency 'Name of the agency'")
        return cls(check_node_id(node_id, cc), cc, agency.strip(), check_roles(roles))
