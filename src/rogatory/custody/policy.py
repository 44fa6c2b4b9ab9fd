"""C2SP transparency-log trust policies (https://c2sp.org/tlog-policy).

A policy names the logs a verifier accepts, the witnesses it knows, and the
**quorum**: which witnesses (possibly through nested k-of-n groups) must have
cosigned a checkpoint before it is trusted. Line format::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> <k>|all|any <member>...
    quorum <name>|none

``#`` starts a comment; items are separated by spaces and tabs. A group or the
quorum may only refer to names defined on earlier lines. A checkpoint is valid if
it is signed by any one of the listed logs (whose key name is the checkpoint's
origin) and cosigned according to the quorum. Several ``log`` lines with the same
name are how a key rotation is expressed: any of the listed keys is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteVerifier,
    OpenedNote,
    SignedNoteError,
    open_note,
    parse_vkey,
    split_note,
)
from rogatory.errors import NoteError

__all__ = [
    "KEYWORDS",
    "POLICY_FILE",
    "Policy",
    "PolicyLog",
    "PolicyWitness",
    "VerifiedCheckpoint",
    "WitnessGroup",
    "check_quorum",
    "verify_checkpoint_note",
    "verify_checkpoint_signatures",
]

KEYWORDS = frozenset({"log", "witness", "group", "quorum", "any", "all", "none"})
"""Words that cannot name a witness or group."""

_WS = re.compile(r"[ \t]+")
_THRESHOLD = re.compile(r"[0-9]+")
_HINT = "see https://c2sp.org/tlog-policy for the policy file format"

POLICY_FILE = "policy.tlog-policy"
"""File name of a tlog-policy beside its proofs (in custody.tar and ``log prove`` output)."""


@dataclass(frozen=True)
class WitnessGroup:
    """A k-of-n rule over witnesses and nested groups (tlog-policy §Defining a witness group).

    Attributes:
        threshold: k, how many members must be satisfied (0 means always satisfied;
            a parsed policy always has 1 <= k <= n, except ``quorum none``).
        members: witness names (policy names, text) or nested groups.
        name: the group's name in the policy, if it has one.
    """

    threshold: int
    members: tuple[str | WitnessGroup, ...]
    name: str | None = None

    def satisfied(self, witnesses: Set[str]) -> bool:
        """True if at least ``threshold`` members are satisfied by ``witnesses``
        (the policy names of the witnesses whose cosignatures verified)."""
        return self.satisfied_count(witnesses) >= self.threshold

    def satisfied_count(self, witnesses: Set[str]) -> int:
        """How many members are satisfied."""
        return sum(
            1
            for m in self.members
            if (m in witnesses if isinstance(m, str) else m.satisfied(witnesses))
        )

    def witness_names(self) -> set[str]:
        """Every witness name reachable from this group."""
        names: set[str] = set()
        for m in self.members:
            names |= {m} if isinstance(m, str) else m.witness_names()
        return names


@dataclass(frozen=True)
class PolicyLog:
    """A ``log`` line: the log's key (its name is the log's origin) and optional URL."""

    verifier: NoteVerifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    """A ``witness`` line: policy name, cosigner key and optional URL."""

    name: str
    verifier: NoteVerifier
    url: str | None = None


@dataclass(frozen=True)
class Policy:
    """A parsed tlog-policy file.

    Attributes:
        logs: the ``log`` lines in order.
        witness_entries: the ``witness`` lines by policy name, in order.
        groups: named groups, in order.
        quorum_name: the name on the quorum line (``none`` for no cosignatures).
        quorum: the quorum as a group tree (a single witness is wrapped as 1-of-1;
            ``none`` is 0-of-0).
    """

    logs: tuple[PolicyLog, ...]
    witness_entries: Mapping[str, PolicyWitness]
    groups: Mapping[str, WitnessGroup]
    quorum_name: str
    quorum: WitnessGroup

    @property
    def log_verifiers(self) -> list[NoteVerifier]:
        """The keys of every listed log."""
        return [log.verifier for log in self.logs]

    @property
    def witnesses(self) -> dict[str, NoteVerifier]:
        """Witness keys by policy name."""
        return {name: w.verifier for name, w in self.witness_entries.items()}

    def log_verifiers_for(self, origin: str) -> list[NoteVerifier]:
        """The log keys whose key name is ``origin`` (tlog-policy: the name MUST
        correspond to the origin line)."""
        return [v for v in self.log_verifiers if v.name == origin]

    def satisfied(self, verified_witness_names: Set[str]) -> bool:
        """True if the witnesses named (policy names) satisfy the quorum."""
        return self.quorum.satisfied(verified_witness_names)

    def to_text(self) -> str:
        """The policy in canonical tlog-policy form (parses to an equal policy)."""
        out = [f"log {log.verifier.vkey}" + (f" {log.url}" if log.url else "") for log in self.logs]
        for w in self.witness_entries.values():
            out.append(f"witness {w.name} {w.verifier.vkey}" + (f" {w.url}" if w.url else ""))
        for name, g in self.groups.items():
            members = " ".join(m if isinstance(m, str) else str(m.name) for m in g.members)
            out.append(f"group {name} {g.threshold} {members}")
        out.append(f"quorum {self.quorum_name}")
        return "\n".join(out) + "\n"

    @classmethod
    def parse(cls, text: str, strict: bool = True) -> Policy:
        """Parse a tlog-policy file.

        Strict (C2SP): witness keys must be cosignature keys (0x04 or 0x06), and no
        two logs and no two witnesses may wrap the same public key.
        Not strict (transparency-dev/formats compatible): an Ed25519 0x01 witness
        key is read as the 0x04 cosigner key of the same public key (its key ID is
        recomputed), and duplicate keys are allowed.

        Both modes: only tab, newline and printable characters; names are unique,
        not keywords (``log witness group quorum any all none``) and defined before
        use; a group lists each member once and has 1 <= k <= n; exactly one quorum
        line; ``#`` starts a comment (at line start or after whitespace).

        Raises:
            NoteError: naming the line and what is wrong with it.
        """
        logs: list[PolicyLog] = []
        witnesses: dict[str, PolicyWitness] = {}
        groups: dict[str, WitnessGroup] = {}
        quorum: tuple[str, WitnessGroup] | None = None
        log_keys: dict[bytes, int] = {}
        witness_keys: dict[bytes, int] = {}

        for lineno, raw in enumerate(text.split("\n"), start=1):

            def fail(message: str, hint: str = _HINT, lineno: int = lineno) -> NoteError:
                return _line_error(lineno, message, hint)

            for ch in raw:
                if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
                    raise fail(f"control character U+{ord(ch):04X} is not allowed")
            line = _strip_comment(raw)
            if not line:
                continue
            fields = _WS.split(line)
            keyword, args = fields[0], fields[1:]
            if keyword == "log":
                if len(args) not in (1, 2):
                    raise fail(f"invalid log definition: expected 'log <vkey> [url]', got {line!r}")
                verifier = _parse_key(args[0], lineno)
                if strict and verifier.public in log_keys:
                    raise fail(f"duplicate log key (same key as line {log_keys[verifier.public]})")
                log_keys.setdefault(verifier.public, lineno)
                logs.append(PolicyLog(verifier, args[1] if len(args) == 2 else None))
            elif keyword == "witness":
                if len(args) not in (2, 3):
                    raise fail(
                        f"invalid witness definition: expected 'witness <name> <vkey> [url]', "
                        f"got {line!r}"
                    )
                name = args[0]
                if name in KEYWORDS:
                    raise fail(f"invalid witness name {name!r} (a keyword)")
                if name in witnesses or name in groups:
                    raise fail(f"duplicate component name {name!r}")
                verifier = _parse_key(args[1], lineno)
                if verifier.alg == ALG_ED25519 and not strict:
                    verifier = NoteVerifier.for_key(
                        verifier.name, ALG_COSIGNATURE_V1, verifier.public
                    )
                if not verifier.is_cosigner:
                    raise fail(
                        f"witness {name!r} key has signature type 0x{verifier.alg:02x}; "
                        "a witness key must be a cosigner key (0x04 Ed25519 or 0x06 ML-DSA-44)",
                        "re-encode the same public key as a type-0x04 cosigner vkey",
                    )
                if strict and verifier.public in witness_keys:
                    raise fail(
                        f"duplicate witness key for {name!r} "
                        f"(same key as line {witness_keys[verifier.public]})"
                    )
                witness_keys.setdefault(verifier.public, lineno)
                witnesses[name] = PolicyWitness(name, verifier, args[2] if len(args) == 3 else None)
            elif keyword == "group":
                if len(args) < 3:
                    raise fail(
                        f"invalid group definition: expected 'group <name> <k|all|any> "
                        f"<member>...', got {line!r}"
                    )
                name, k_text, member_names = args[0], args[1], args[2:]
                if name in KEYWORDS:
                    raise fail(f"invalid group name {name!r} (a keyword)")
                if name in witnesses or name in groups:
                    raise fail(f"duplicate component name {name!r}")
                members: list[str | WitnessGroup] = []
                listed: set[str] = set()
                for m in member_names:
                    if m in KEYWORDS:
                        raise fail(f"invalid group member {m!r} in group {name!r}")
                    if m in listed:
                        raise fail(f"group {name!r} lists member {m!r} twice")
                    listed.add(m)
                    if m in witnesses:
                        members.append(m)
                    elif m in groups:
                        members.append(groups[m])
                    else:
                        raise fail(f"unknown component {m!r} in group {name!r} (define it first)")
                n = len(members)
                if k_text == "all":
                    k = n
                elif k_text == "any":
                    k = 1
                elif _THRESHOLD.fullmatch(k_text) and 1 <= int(k_text) <= n:
                    k = int(k_text)
                else:
                    raise fail(
                        f"invalid threshold {k_text!r} for group {name!r} with {n} members",
                        "the threshold is all, any, or a decimal k with 1 <= k <= members",
                    )
                groups[name] = WitnessGroup(k, tuple(members), name)
            elif keyword == "quorum":
                if len(args) != 1:
                    raise fail(f"invalid quorum definition: expected 'quorum <name>', got {line!r}")
                if quorum is not None:
                    raise fail("a policy file must have exactly one quorum line")
                q = args[0]
                if q == "none":
                    quorum = (q, WitnessGroup(0, (), None))
                elif q in groups:
                    quorum = (q, groups[q])
                elif q in witnesses:
                    quorum = (q, WitnessGroup(1, (q,), None))
                else:
                    raise fail(
                        f'quorum component "{q}" not found',
                        "the quorum must name a witness or group defined on an earlier line",
                    )
            else:
                raise fail(f"unknown keyword {keyword!r}")
        if quorum is None:
            raise NoteError(
                "policy file must define a quorum",
                "add 'quorum <witness-or-group>' (or 'quorum none')",
            )
        return cls(tuple(logs), witnesses, groups, quorum[0], quorum[1])


def _strip_comment(line: str) -> str:
    """The line without a ``#`` comment (at line start or after whitespace) or
    surrounding whitespace."""
    stripped = line.strip(" \t")
    if stripped.startswith("#"):
        return ""
    m = re.search(r"[ \t]#", stripped)
    return (stripped[: m.start()] if m else stripped).strip(" \t")


def _line_error(lineno: int, message: str, hint: str = _HINT) -> NoteError:
    return NoteError(f"policy line {lineno}: {message}", hint)


def _parse_key(vkey: str, lineno: int) -> NoteVerifier:
    try:
        return parse_vkey(vkey)
    except SignedNoteError as exc:
        raise _line_error(lineno, f"invalid key: {exc.message}", exc.hint) from None


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint note that satisfied a policy.

    Attributes:
        checkpoint: the parsed checkpoint body.
        note: the checkpoint note bytes as given.
        log_verifier: the log key whose signature verified.
        witness_timestamps: policy witness name -> cosignature timestamp (POSIX
            seconds) for every listed witness whose cosignature verified.
        opened: the opened note (verified and ignored signatures).
    """

    checkpoint: Checkpoint
    note: bytes
    log_verifier: NoteVerifier
    witness_timestamps: dict[str, int]
    opened: OpenedNote


def _quorum_shortfall(group: WitnessGroup, have: Set[str], label: str) -> str:
    count = group.satisfied_count(have)
    unit = "cosignatures" if all(isinstance(m, str) for m in group.members) else "members"
    return f"{count} of {group.threshold} required {unit} for {label}"


def verify_checkpoint_signatures(
    note: bytes,
    policy: Policy,
    extra_log_verifiers: Sequence[NoteVerifier] = (),
) -> VerifiedCheckpoint:
    """Check a checkpoint note's signatures against a policy, without the quorum.

    The note is well-formed; every signature from a policy key verifies (one bad
    signature rejects the note); the body is a strict C2SP checkpoint; a log key
    listed in the policy whose name is the checkpoint's origin signed it (any of
    several keys, for key rotation). Verified witness cosignatures are collected.

    Raises:
        SignedNoteError: the note is malformed, a known signature is invalid, two
            policy keys are ambiguous, or no policy log key for the origin signed.
        NoteError: the body is not a checkpoint or its origin has no log key.
    """
    text, _ = split_note(note)
    checkpoint = Checkpoint.parse(text, strict=True)
    origin = checkpoint.origin
    log_keys = [v for v in [*policy.log_verifiers, *extra_log_verifiers] if v.name == origin]
    if not log_keys:
        raise NoteError(
            f"checkpoint origin {origin!r} matches no log key in the policy",
            "add 'log <vkey>' with the log's key (its key name is the origin) to the policy",
        )
    witness_items = list(policy.witnesses.items())
    try:
        opened = open_note(note, [*log_keys, *(v for _, v in witness_items)])
    except SignedNoteError as exc:
        if exc.kind != "no_verifiable_signature":
            raise SignedNoteError(
                exc.kind, f"checkpoint for {origin!r}: {exc.message}", exc.hint
            ) from None
        raise SignedNoteError(
            "no_verifiable_signature",
            f"checkpoint for {origin!r} is not signed by any log key in the policy",
            "check that the policy lists the log's current key",
            exc.unverified,
        ) from None
    log_verifier = next((v for v in log_keys if opened.verified_by(v)), None)
    if log_verifier is None:
        raise SignedNoteError(
            "no_verifiable_signature",
            f"checkpoint for {origin!r} is not signed by any log key in the policy "
            f"(only cosignatures verified: {', '.join(s.name for s in opened.verified)})",
            "check that the policy lists the log's current key",
            opened.unverified,
        )
    timestamps: dict[str, int] = {}
    for name, verifier in witness_items:
        sig = opened.verified_by(verifier)
        if sig is not None:
            timestamps[name] = int.from_bytes(sig.sig[:8], "big")
    return VerifiedCheckpoint(checkpoint, note, log_verifier, timestamps, opened)


def check_quorum(verified: VerifiedCheckpoint, policy: Policy) -> None:
    """Raise unless the verified cosignatures satisfy the policy's quorum.

    Raises:
        NoteError: e.g. "witness quorum not met: 1 of 2 required cosignatures for
            quorum 'g' (have: w1)".
    """
    have = set(verified.witness_timestamps)
    if not policy.satisfied(have):
        raise NoteError(
            "witness quorum not met: "
            + _quorum_shortfall(policy.quorum, have, f"quorum {policy.quorum_name!r}")
            + f" (have: {', '.join(sorted(have)) or 'none'})",
            "obtain cosignatures from more of the policy's witnesses",
        )


def verify_checkpoint_note(
    note: bytes,
    policy: Policy,
    extra_log_verifiers: Sequence[NoteVerifier] = (),
) -> VerifiedCheckpoint:
    """Verify a (cosigned) checkpoint note against a policy (tlog-policy, tlog-checkpoint).

    :func:`verify_checkpoint_signatures` then :func:`check_quorum`: the note is
    well-formed, every signature from a policy key verifies, the body is a strict
    C2SP checkpoint, a policy log key named as its origin signed it (any of several,
    for key rotation), and the verified witness cosignatures satisfy the quorum.
    Cosignature timestamps are returned, not judged.

    Args:
        note: the checkpoint note bytes with its signatures.
        policy: the trust policy.
        extra_log_verifiers: log keys known from elsewhere (a policy may list none).

    Raises:
        SignedNoteError: malformed note, invalid or ambiguous known signature, or
            no log signature.
        NoteError: not a checkpoint, origin without log key, or witness quorum not met.
    """
    verified = verify_checkpoint_signatures(note, policy, extra_log_verifiers)
    check_quorum(verified, policy)
    return verified
