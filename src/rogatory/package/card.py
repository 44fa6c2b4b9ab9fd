"""Node cards: the public identity of a node, exported for partners, courts and defence.

A card lists the node's identity, every public key by purpose (the message key
that signs package manifests, the custody-log keys with their history, the
witness key, the age recipient, the TLS certificate fingerprint) and the
node's tlog-policy. Its **fingerprint** (SHA-256 of the card's canonical JSON)
is short enough to read over the phone or publish in an official gazette: that
out-of-band confirmation is what anchors trust in the card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rogatory.custody.disclosure import node_policy
from rogatory.custody.events import canonical_json
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteVerifier,
    format_vkey,
    parse_vkey,
)
from rogatory.custody.policy import Policy
from rogatory.custody.witnessing import witness_name
from rogatory.errors import NoteError, UsageError
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, public_key_bytes, public_keys

CARD_FORMAT = "rogatory-node-card/v1"


def message_key_name(node_id: str) -> str:
    """The key name of a node's message-signing key: ``rogatory/<node id>/message``."""
    return f"rogatory/{node_id}/message"


def build_card(home: NodeHome, log: CustodyLog) -> dict[str, Any]:
    """The node's card as a JSON object (no secrets)."""
    ident = home.config.identity
    pubs = {k.purpose: k for k in public_keys(home.keys_dir)}
    return {
        "format": CARD_FORMAT,
        "node_id": ident.node_id,
        "country": ident.country,
        "agency": ident.agency,
        "roles": ident.roles,
        "keys": {
            "message": format_vkey(
                message_key_name(ident.node_id),
                ALG_ED25519,
                public_key_bytes(home.keys_dir, KeyPurpose.MESSAGE),
            ),
            "log": [k.vkey for k in log.key_history()],
            "witness": format_vkey(
                witness_name(ident.node_id),
                ALG_COSIGNATURE_V1,
                public_key_bytes(home.keys_dir, KeyPurpose.WITNESS),
            ),
            "age": pubs[KeyPurpose.AGE].public,
            "tls_sha256": pubs[KeyPurpose.TLS].fingerprint,
        },
        "log_origin": log.origin,
        "policy": node_policy(log, home.config.quorum),
    }


def fingerprint(card: dict[str, Any]) -> str:
    """The card's fingerprint: SHA-256 of its canonical JSON, first 20 bytes as 10 groups of 4 hex digits."""
    digest = hashlib.sha256(canonical_json(card)).hexdigest()[:40].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 40, 4))


@dataclass(frozen=True)
class TrustedSender:
    """What a verifier trusts about a sender, from a card obtained out of band.

    Attributes:
        node_id, agency, country: the sender.
        message_verifier: verifies manifest signatures.
        policy: the sender's tlog-policy (log keys with history, witnesses, quorum).
        basis: a sentence for the report saying how trust was established.
    """

    node_id: str
    agency: str
    country: str
    message_verifier: NoteVerifier
    policy: Policy
    basis: str


def load_trust(path: Path, expected_fingerprint: str | None = None) -> TrustedSender:
    """Read a node card as a trust anchor.

    Raises:
        UsageError: unreadable or malformed card, or its fingerprint differs from
            ``expected_fingerprint`` (spaces and case are ignored).
    """
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        if card.get("format") != CARD_FORMAT:
            raise ValueError(f"format is {card.get('format')!r}")
        fp = fingerprint(card)
        verifier = parse_vkey(card["keys"]["message"])
        policy = Policy.parse(card["policy"])
    except (OSError, ValueError, KeyError, TypeError, NoteError) as exc:
        raise UsageError(
            f"{path} is not a usable Rogatory node card ({exc})",
            "obtain the sender's card with 'rogatory node card' on its node",
        ) from None
    if expected_fingerprint is not None:
        want = expected_fingerprint.replace(" ", "").upper()
        if want != fp.replace(" ", ""):
            raise UsageError(
                f"the node card's fingerprint is {fp}, not the one you confirmed",
                "the card was altered or is another node's; obtain it again by a trusted route",
            )
        basis = (
            f"node card of {card['node_id']} ({card['agency']}, {card['country']}) whose fingerprint {fp} "
            "was confirmed out of band"
        )
    else:
        basis = (
            f"node card of {card['node_id']} ({card['agency']}, {card['country']}) read from {path.name}, "
            f"fingerprint {fp} (not confirmed on the command line: compare it with the one published by the sender)"
        )
    return TrustedSender(card["node_id"], card["agency"], card["country"], verifier, policy, basis)
