"""C2SP tlog-policy: parsing, k-of-n quorums and checkpoint verification
(../shared/vectors/witness/policy.json, note/cosignatures.json)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.merkle import EMPTY_ROOT
from rogatory.custody.note import (
    ALG_COSIGNATURE_V1,
    CosignatureSigner,
    NoteSigner,
    NoteVerifier,
    Signature,
    SignedNoteError,
    add_signatures,
    open_note,
    parse_vkey,
    sign_note,
)
from rogatory.custody.policy import (
    Policy,
    WitnessGroup,
    check_quorum,
    verify_checkpoint_note,
    verify_checkpoint_signatures,
)
from rogatory.errors import NoteError
from tests.conftest import SHARED

VECTORS = SHARED / "vectors"
ABSENT = f"shared vectors not found at {VECTORS} (set ROGATORY_SHARED); CI always has them"


def _load(name: str) -> dict[str, Any] | None:
    path: Path = VECTORS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _params(items: Any, ident: Any) -> list[Any]:
    if items is None:
        return [pytest.param(None, id="vectors-absent", marks=pytest.mark.skip(reason=ABSENT))]
    return [pytest.param(item, id=ident(i, item)) for i, item in enumerate(items)]


POLICY = _load("witness/policy.json")
COSIGS = _load("note/cosignatures.json")

_VKEY = re.compile(r"\S+\+[0-9a-f]{8}\+\S+")


def _as_cosigner_vkeys(text: str) -> str:
    """Re-encode every 0x01 vkey in a policy text as the 0x04 vkey of the same key."""

    def swap(m: re.Match[str]) -> str:
        v = parse_vkey(m.group(0))
        if v.alg != 1:
            return m.group(0)
        return NoteVerifier.for_key(v.name, ALG_COSIGNATURE_V1, v.public).vkey

    return _VKEY.sub(swap, text)


# --------------------------------------------------------------------------- parse vectors


@pytest.mark.parametrize("case", _params(POLICY and POLICY["parse"], lambda i, c: c["id"]))
def test_parse_vector_loose(case: dict[str, Any] | None) -> None:
    """transparency-dev/formats behaviour: 0x01 witness keys read as cosigner keys."""
    assert case is not None
    expect = case["expect"]
    if not expect["ok"]:
        with pytest.raises(NoteError) as err:
            Policy.parse(case["policy"], strict=False)
        assert expect["error_contains"] in err.value.message
        return
    policy = Policy.parse(case["policy"], strict=False)
    assert policy.quorum.threshold == expect["quorum_threshold"]
    if "quorum_members" in expect:
        assert len(policy.quorum.members) == expect["quorum_members"]
    assert all(v.alg == ALG_COSIGNATURE_V1 for v in policy.witnesses.values())


@pytest.mark.parametrize("case", _params(POLICY and POLICY["parse"], lambda i, c: c["id"]))
def test_parse_vector_strict_with_cosigner_keys(case: dict[str, Any] | None) -> None:
    """C2SP rules on the same policy with 0x04 witness keys: duplicate keys are refused."""
    assert case is not None
    expect = case["expect"]
    text = _as_cosigner_vkeys(case["policy"])
    # Several vectors give w2 and w3 the same key, which tlog-policy forbids; that
    # line comes before any other error in them.
    keys = [m.group(0) for m in _VKEY.finditer(text)]
    duplicate = len(keys) != len(set(keys))
    if not expect["ok"] or duplicate:
        with pytest.raises(NoteError) as err:
            Policy.parse(text)
        wanted = {expect.get("error_contains"), "duplicate witness key" if duplicate else None}
        assert any(w and w in err.value.message for w in wanted), err.value.message
        return
    policy = Policy.parse(text)
    assert policy.quorum.threshold == expect["quorum_threshold"]
    assert Policy.parse(policy.to_text()).witnesses == policy.witnesses


@pytest.mark.parametrize("case", _params(POLICY and POLICY["parse"], lambda i, c: c["id"]))
def test_parse_vector_strict_rejects_plain_ed25519_witness_keys(
    case: dict[str, Any] | None,
) -> None:
    """C2SP: a witness key must be a cosigner key, so every vector is refused as written."""
    assert case is not None
    with pytest.raises(NoteError):
        Policy.parse(case["policy"])


def test_c2sp_example_policy() -> None:
    """The tlog-policy example: valid iff >= 2 of X1..X3 and >= 1 of Y1..Y3 cosigned."""
    if POLICY is None:
        pytest.skip(ABSENT)
    text = POLICY["c2sp_example"]["policy"]
    log = NoteSigner.ed25519("example.com/log", Ed25519PrivateKey.generate())
    text = text.replace("log <vkey>", f"log {log.vkey}", 1)
    names = ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    for n in names:
        vkey = CosignatureSigner(f"{n.lower()}.example", Ed25519PrivateKey.generate()).vkey
        text = text.replace(f"witness {n} <vkey>", f"witness {n} {vkey}")
    policy = Policy.parse(text)
    assert policy.log_verifiers == [log.verifier]
    assert policy.quorum_name == "X-and-Y"
    for k in range(len(names) + 1):
        for subset in itertools.combinations(names, k):
            have = set(subset)
            expected = len(have & {"X1", "X2", "X3"}) >= 2 and len(have & {"Y1", "Y2", "Y3"}) >= 1
            assert policy.satisfied(have) is expected, subset


# --------------------------------------------------------------------------- k-of-n groups


def _group(tree: dict[str, Any]) -> WitnessGroup:
    members = tuple(m if isinstance(m, str) else _group(m) for m in tree["members"])
    return WitnessGroup(tree["threshold"], members)


def _cosigned_by(note: str, witnesses: dict[str, NoteVerifier]) -> set[str]:
    """Names whose cosignature verifies. Per the vectors' empty_note_convention, a text
    followed by a blank line and no signature lines means zero cosignatures."""
    if note.endswith("\n\n") and "\u2014 " not in note:
        return set()
    try:
        opened = open_note(note.encode(), list(witnesses.values()))
    except SignedNoteError as exc:
        assert exc.kind == "no_verifiable_signature"
        return set()
    return {n for n, v in witnesses.items() if opened.verified_by(v)}


@pytest.mark.parametrize(
    "case",
    _params(POLICY and POLICY["group_satisfaction"]["cases"], lambda i, c: c["desc"]),
)
def test_group_satisfaction_vector(case: dict[str, Any] | None) -> None:
    assert case is not None and POLICY is not None
    keys = POLICY["group_satisfaction"]["witness_vkeys_alg4"]
    witnesses = {name: parse_vkey(vkey) for name, vkey in keys.items()}
    have = _cosigned_by(case["cosigned_note"], witnesses)
    assert _group(case["group"]).satisfied(have) is case["expect_satisfied"]


def test_group_threshold_zero_and_names() -> None:
    g = WitnessGroup(2, ("a", WitnessGroup(1, ("b", "c"), "bc")), "top")
    assert g.witness_names() == {"a", "b", "c"}
    assert g.satisfied({"a", "c"}) and not g.satisfied({"b", "c"})
    assert WitnessGroup(0, ("a",)).satisfied(set())


# --------------------------------------------------------------------------- more parse rules


def _keys(n: int) -> list[str]:
    return [CosignatureSigner(f"w{i}.example", Ed25519PrivateKey.generate()).vkey for i in range(n)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("quorum none\nquorum none\n", "exactly one quorum"),
        ("witness a {0}\ngroup g 1 a a\nquorum g\n", "twice"),
        ("witness a {0}\ngroup g 0 a\nquorum g\n", "invalid threshold"),
        ("witness a {0}\ngroup g 2 a\nquorum g\n", "invalid threshold"),
        ("witness a {0}\ngroup g 01x a\nquorum g\n", "invalid threshold"),
        ("group g any a\nwitness a {0}\nquorum g\n", "unknown component"),
        ("quorum a\nwitness a {0}\n", 'quorum component "a" not found'),
        ("witness a {0}\nwitness b {0}\nquorum a\n", "duplicate witness key"),
        ("witness a {0}\ngroup g any none\nquorum g\n", "invalid group member"),
        ("witness a {0}\r\nquorum a\n", "control character"),
        ("witness a {0} url extra\nquorum a\n", "invalid witness definition"),
        ("frobnicate x\nquorum none\n", "unknown keyword"),
        ("log {0}\nquorum none\n", "line 1"),  # fine as a witness key, not as ... see below
    ],
    ids=[
        "two-quorums",
        "member-twice",
        "threshold-0",
        "threshold-above-n",
        "threshold-not-decimal",
        "forward-reference",
        "quorum-before-definition",
        "duplicate-key",
        "member-none",
        "carriage-return",
        "too-many-fields",
        "unknown-keyword",
        "log-line-ok",
    ],
)
def test_parse_errors(body: str, message: str) -> None:
    text = body.format(*_keys(1))
    if message == "line 1":  # a cosigner key is accepted on a log line
        assert len(Policy.parse(text).logs) == 1
        return
    with pytest.raises(NoteError) as err:
        Policy.parse(text)
    assert message in err.value.message
    assert err.value.message.startswith("policy") and err.value.hint


def test_comments_urls_and_round_trip() -> None:
    a, b = _keys(2)
    log = NoteSigner.ed25519("example.com/log", Ed25519PrivateKey.generate())
    text = (
        "# trust policy\n"
        f"log {log.vkey} https://example.com/log/#frag  # the log\n"
        f"\twitness a {a} https://a.example/\n"
        f"witness b {b}\n"
        "group g any a b # either\n"
        "quorum g\n"
    )
    policy = Policy.parse(text)
    assert policy.logs[0].url == "https://example.com/log/#frag"
    assert policy.witness_entries["a"].url == "https://a.example/"
    assert policy.witness_entries["b"].url is None
    again = Policy.parse(policy.to_text())
    assert again.witnesses == policy.witnesses and again.quorum == policy.quorum
    assert again.logs == policy.logs


# --------------------------------------------------------------------------- verification


class Fixture:
    """A log key (with a rotated successor), three witnesses and a size-0 checkpoint."""

    def __init__(self) -> None:
        self.origin = "example.com/custody/nl"
        self.old_log = NoteSigner.ed25519(self.origin, Ed25519PrivateKey.generate())
        self.log = NoteSigner.ed25519(self.origin, Ed25519PrivateKey.generate())
        self.witnesses = {
            f"w{i}": CosignatureSigner(f"witness{i}.example", Ed25519PrivateKey.generate())
            for i in (1, 2, 3)
        }
        self.text = Checkpoint(self.origin, 0, EMPTY_ROOT).to_text()

    def policy(self, quorum: str = "group g 2 w1 w2 w3\nquorum g\n") -> Policy:
        lines = [f"log {self.old_log.vkey}", f"log {self.log.vkey}"]
        lines += [f"witness {n} {w.vkey}" for n, w in self.witnesses.items()]
        return Policy.parse("\n".join(lines) + "\n" + quorum)

    def note(self, *cosigners: str, log: NoteSigner | None = None) -> bytes:
        note = sign_note(self.text, [log or self.log])
        sigs = [
            self.witnesses[n].cosignature(self.text, 1700000000 + i)
            for i, n in enumerate(cosigners)
        ]
        return add_signatures(note, sigs)


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def test_verify_quorum_met(fx: Fixture) -> None:
    verified = verify_checkpoint_note(fx.note("w1", "w3"), fx.policy())
    assert verified.checkpoint.origin == fx.origin
    assert verified.witness_timestamps == {"w1": 1700000000, "w3": 1700000001}
    assert verified.log_verifier == fx.log.verifier


def test_verify_quorum_not_met_message(fx: Fixture) -> None:
    with pytest.raises(NoteError) as err:
        verify_checkpoint_note(fx.note("w2"), fx.policy())
    assert err.value.message == (
        "witness quorum not met: 1 of 2 required cosignatures for quorum 'g' (have: w2)"
    )
    # the signatures themselves were fine
    assert verify_checkpoint_signatures(fx.note("w2"), fx.policy()).witness_timestamps == {
        "w2": 1700000000
    }


def test_verify_single_witness_and_none_quorum(fx: Fixture) -> None:
    assert verify_checkpoint_note(fx.note("w3"), fx.policy("quorum w3\n")).witness_timestamps
    with pytest.raises(NoteError, match="0 of 1"):
        verify_checkpoint_note(fx.note("w1"), fx.policy("quorum w3\n"))
    assert verify_checkpoint_note(fx.note(), fx.policy("quorum none\n")).witness_timestamps == {}


def test_key_rotation_any_listed_log_key(fx: Fixture) -> None:
    """tlog-policy: a checkpoint signed by any one of the listed logs is accepted."""
    verified = verify_checkpoint_note(fx.note("w1", "w2", log=fx.old_log), fx.policy())
    assert verified.log_verifier == fx.old_log.verifier
    stranger = NoteSigner.ed25519(fx.origin, Ed25519PrivateKey.generate())
    with pytest.raises(SignedNoteError) as err:
        verify_checkpoint_note(fx.note("w1", "w2", log=stranger), fx.policy())
    assert err.value.kind == "no_verifiable_signature"
    assert "not signed by any log key" in err.value.message


def test_origin_without_log_key(fx: Fixture) -> None:
    other = Checkpoint("example.com/other", 0, EMPTY_ROOT).to_text()
    signer = NoteSigner.ed25519("example.com/other", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="matches no log key"):
        verify_checkpoint_note(sign_note(other, [signer]), fx.policy())
    # a log key known from elsewhere may be passed in
    verified = verify_checkpoint_note(
        sign_note(other, [signer]), fx.policy("quorum none\n"), [signer.verifier]
    )
    assert verified.checkpoint.origin == "example.com/other"


def test_bad_witness_signature_rejects_note(fx: Fixture) -> None:
    note = fx.note("w1", "w2")
    w3 = fx.witnesses["w3"]
    forged = Signature(w3.name, w3.key_id, (1700000000).to_bytes(8, "big") + bytes(64))
    with pytest.raises(SignedNoteError) as err:
        verify_checkpoint_note(add_signatures(note, [forged]), fx.policy())
    assert err.value.kind == "invalid_signature"
    assert "witness3.example" in err.value.message


def test_witness_cosignature_from_another_checkpoint(fx: Fixture) -> None:
    other_text = Checkpoint(fx.origin, 1, bytes(32)).to_text()
    moved = fx.witnesses["w1"].cosignature(other_text, 1700000000)
    with pytest.raises(SignedNoteError):
        verify_checkpoint_note(add_signatures(fx.note("w2"), [moved]), fx.policy())


def test_check_quorum_alone(fx: Fixture) -> None:
    verified = verify_checkpoint_signatures(fx.note("w1"), fx.policy())
    with pytest.raises(NoteError, match="have: w1"):
        check_quorum(verified, fx.policy())


@pytest.mark.parametrize("quorum_k", [2, 3], ids=["2-of-3-met", "3-of-3-not-met"])
def test_derived_cosigned_checkpoint_against_policy(quorum_k: int) -> None:
    """The vectors' size-8 checkpoint with three cosignatures, under a vector-style policy."""
    if COSIGS is None:
        pytest.skip(ABSENT)
    d = COSIGS["derived"]
    text = f"log {d['log_vkey']}\n" + "".join(
        f"witness w{i} {vkey}\n" for i, vkey in enumerate(d["witness_cosigner_vkeys_alg4"], 1)
    )
    note = d["cosigned_checkpoint"].encode()
    policy = Policy.parse(text + f"group g {quorum_k} w1 w2 w3\nquorum g\n")
    verified = verify_checkpoint_note(note, policy)
    assert verified.witness_timestamps == dict(
        zip(["w1", "w2", "w3"], d["witness_timestamps"], strict=True)
    )
    four = Policy.parse(
        text + "witness w4 " + _keys(1)[0] + "\ngroup g all w1 w2 w3 w4\nquorum g\n"
    )
    with pytest.raises(NoteError, match="3 of 4 required cosignatures"):
        verify_checkpoint_note(note, four)
