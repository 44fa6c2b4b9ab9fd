"""C2SP tlog-witness add-checkpoint, without HTTP (../shared/vectors/witness/add_checkpoint.json)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.merkle import (
    EMPTY_ROOT,
    MemoryHashes,
    consistency_proof,
    leaf_hash,
    tree_hash,
)
from rogatory.custody.note import (
    CosignatureSigner,
    NoteSigner,
    add_signatures,
    open_note,
    parse_vkey,
    sign_note,
    split_note,
)
from rogatory.custody.witness_protocol import (
    CONTENT_TYPE_SIZE,
    AddCheckpointRequest,
    WitnessProtocolError,
    decide,
    format_add_checkpoint,
    format_cosignature_response,
    format_sign_subtree,
    monitoring_path,
    parse_add_checkpoint,
    parse_cosignature_response,
    parse_sign_subtree,
)
from rogatory.errors import UsageError
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


ADD = _load("witness/add_checkpoint.json")
KEYS = _load("note/keys.json")
COSIGS = _load("note/cosignatures.json")


def _seed(name: str) -> Ed25519PrivateKey:
    assert KEYS is not None
    key = next(k for k in KEYS["keys"] if k["name"] == name)
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key["seed_hex"]))


# --------------------------------------------------------------------------- spec examples


def test_spec_add_checkpoint_example() -> None:
    if ADD is None:
        pytest.skip(ABSENT)
    ex = next(e for e in ADD["spec_examples"] if e["id"] == "c2sp/add-checkpoint/request-example")
    req = parse_add_checkpoint(ex["body"].encode())
    want = ex["expect_parse"]
    assert req.old_size == want["old_size"]
    assert [base64.b64encode(h).decode() for h in req.consistency_proof] == want["proof_b64"]
    text, sigs = split_note(req.checkpoint_note)
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size) == (want["checkpoint_origin"], want["checkpoint_size"])
    assert len(sigs) == want["signature_lines"]
    assert format_add_checkpoint(req.old_size, req.consistency_proof, req.checkpoint_note) == (
        ex["body"].encode()
    )


def test_spec_sign_subtree_example_head() -> None:
    if ADD is None:
        pytest.skip(ABSENT)
    ex = next(
        e for e in ADD["spec_examples"] if e["id"] == "c2sp/sign-subtree/request-example-head"
    )
    req = parse_sign_subtree(ex["body_head"].encode())
    want = ex["expect_parse"]
    assert (req.start, req.end) == (want["start"], want["end"])
    assert base64.b64encode(req.subtree_hash).decode() == want["subtree_hash_b64"]
    assert len(req.proof) == want["proof_lines"]
    assert Checkpoint.parse(req.checkpoint_note.decode()).size == want["checkpoint_size"]
    assert (
        format_sign_subtree(req.start, req.end, req.subtree_hash, req.proof, req.checkpoint_note)
        == ex["body_head"].encode()
    )


def test_spec_response_example_lines_parse() -> None:
    """The spec's example 200 body parses as signature lines (its bytes are illustrative)."""
    if COSIGS is None:
        pytest.skip(ABSENT)
    examples = [c for c in COSIGS["parse"] if c["id"].startswith("c2sp/tlog-witness/response")]
    body = "".join(f"— witness.example/w{i} {c['sig_b64']}\n" for i, c in enumerate(examples))
    sigs = parse_cosignature_response(body.encode())
    assert [s.key_id.hex() for s in sigs] == [c["expect"]["key_id"] for c in examples]
    assert format_cosignature_response(sigs) == body.encode()


def test_monitoring_path_vector() -> None:
    if ADD is None:
        pytest.skip(ABSENT)
    ex = ADD["monitoring_path_example"]
    assert monitoring_path(ex["origin"]) == ex["path_suffix"]


# --------------------------------------------------------------------------- derived exchange


def _witness(exchange: dict[str, Any], timestamp: int) -> CosignatureSigner:
    signer = CosignatureSigner(exchange["witness_name"], _seed("Wit1"), clock=lambda: timestamp)
    assert signer.vkey == exchange["witness_cosigner_vkey"]
    return signer


@pytest.mark.parametrize(
    "case", _params(ADD and ADD["derived_exchange"]["cases"], lambda i, c: c["id"])
)
def test_exchange_vector(case: dict[str, Any] | None) -> None:
    """Status for each request per the spec's rules; exact 200 bytes at the stated time."""
    assert case is not None and ADD is not None
    exchange = ADD["derived_exchange"]
    log = parse_vkey(exchange["log_vkey"])
    expect = case["expect"]
    timestamp = expect.get("response_if_timestamp_is", 1700000100)
    witness = _witness(exchange, timestamp)
    known = {} if case.get("witness_knows_origin") is False else {log.name: [log]}
    latest: dict[str, tuple[int, bytes]] = {}
    if case.get("witness_state_size"):
        latest[log.name] = (
            case["witness_state_size"],
            base64.b64decode(case["witness_state_root_b64"]),
        )
    decision = decide(
        case["request"].encode(), known, latest, cosigners=[witness], timestamp=timestamp
    )
    assert decision.status == expect["status"], decision.reason
    if "body" in expect:
        assert decision.body == expect["body"].encode()
    if "content_type" in expect:
        assert decision.content_type == expect["content_type"]
    if "response" in expect:
        assert decision.body == expect["response"].encode()
    if decision.status != 200:
        assert decision.new_latest == latest
        return
    cp = decision.checkpoint
    assert cp is not None
    assert decision.new_latest == {log.name: (cp.size, cp.root_hash)}
    # The client appends the response to its note and verifies with the witness key.
    req = parse_add_checkpoint(case["request"].encode())
    sigs = parse_cosignature_response(decision.body)
    cosigned = add_signatures(req.checkpoint_note, sigs)
    opened = open_note(cosigned, [log, witness.verifier])
    assert [s.name for s in opened.verified] == [log.name, witness.name]


def test_fork_evidence_same_size_different_root() -> None:
    if ADD is None:
        pytest.skip(ABSENT)
    exchange = ADD["derived_exchange"]
    case = next(c for c in exchange["cases"] if c["id"] == "same-size-different-root")
    log = parse_vkey(exchange["log_vkey"])
    stored_root = base64.b64decode(case["witness_state_root_b64"])
    decision = decide(
        case["request"].encode(),
        {log.name: [log]},
        {log.name: (8, stored_root)},
        cosigners=[_witness(exchange, 1700000100)],
        timestamp=1700000100,
    )
    ev = decision.fork_evidence
    assert decision.status == 422 and ev is not None
    assert ev.reason == "same-size-different-root"
    assert ev.previous == Checkpoint(log.name, 8, stored_root)
    assert ev.submitted.size == 8 and ev.submitted.root_hash != stored_root
    assert open_note(ev.submitted_note, [log]).verified  # the log really signed it


def test_fork_evidence_bad_consistency_proof() -> None:
    if ADD is None:
        pytest.skip(ABSENT)
    exchange = ADD["derived_exchange"]
    case = next(c for c in exchange["cases"] if c["id"] == "bad-consistency-proof")
    log = parse_vkey(exchange["log_vkey"])
    decision = decide(
        case["request"].encode(),
        {log.name: [log]},
        {log.name: (3, base64.b64decode(case["witness_state_root_b64"]))},
        cosigners=[_witness(exchange, 1700000100)],
        timestamp=1700000100,
    )
    assert decision.status == 422
    assert decision.fork_evidence is not None
    assert decision.fork_evidence.reason == "inconsistent-proof"
    assert len(decision.fork_evidence.consistency_proof) == 4


# --------------------------------------------------------------------------- a live-ish exchange


class Scenario:
    """A log growing leaf by leaf, submitting to one pure witness state."""

    def __init__(self) -> None:
        self.origin = "example.com/custody/be"
        self.log = NoteSigner.ed25519(self.origin, Ed25519PrivateKey.generate())
        self.witness = CosignatureSigner("witness.example/nl", Ed25519PrivateKey.generate())
        self.hashes = MemoryHashes()
        self.size = 0
        self.latest: dict[str, tuple[int, bytes]] = {}

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.hashes.append_leaf(leaf_hash(f"leaf {self.size}".encode()))
            self.size += 1

    def note(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        cp = Checkpoint(self.origin, size, tree_hash(size, self.hashes))
        return sign_note(cp.to_text(), [self.log])

    def submit(self, old: int, proof: list[bytes] | None = None, note: bytes | None = None) -> Any:
        if proof is None:
            proof = consistency_proof(old, self.size, self.hashes) if 0 < old < self.size else []
        req = AddCheckpointRequest(old, tuple(proof), note or self.note())
        decision = decide(
            req,
            {self.origin: [self.log.verifier]},
            self.latest,
            cosigners=[self.witness],
            timestamp=1700000000 + self.size,
        )
        if decision.ok:
            self.latest = decision.new_latest
        return decision


def test_sequence_of_submissions() -> None:
    s = Scenario()
    s.grow(1)
    first = s.submit(0)
    assert first.status == 200 and s.latest[s.origin][0] == 1
    s.grow(5)
    stale = s.submit(0)
    assert stale.status == 409 and stale.body == b"1\n"
    assert stale.content_type == CONTENT_TYPE_SIZE
    ok = s.submit(1)
    assert ok.status == 200 and s.latest[s.origin][0] == 6
    again = s.submit(6)  # same checkpoint again: a fresh cosignature
    assert again.status == 200
    with_proof = s.submit(6, proof=[bytes(32)])
    assert with_proof.status == 422
    (sig,) = parse_cosignature_response(ok.body)
    assert int.from_bytes(sig.sig[:8], "big") == 1700000006


def test_empty_tree_and_malformed_requests() -> None:
    s = Scenario()
    empty = sign_note(Checkpoint(s.origin, 0, EMPTY_ROOT).to_text(), [s.log])
    assert s.submit(0, note=empty).status == 200
    assert s.latest[s.origin] == (0, EMPTY_ROOT)
    known = {s.origin: [s.log.verifier]}
    for body in (b"old 01\n\nx\n", b"old 0\nnot-base64\n\n" + empty, b"old 0\n" + empty, b""):
        d = decide(body, known, {}, cosigners=[s.witness], timestamp=5)
        assert d.status == 400, body
    not_a_checkpoint = sign_note(f"{s.origin}\nhello\nroot\n", [s.log])
    d = decide(b"old 0\n\n" + not_a_checkpoint, known, {}, cosigners=[s.witness], timestamp=5)
    assert d.status == 400 and "size" in d.reason
    hash_line = base64.b64encode(bytes(32)) + b"\n"
    too_many = b"old 1\n" + hash_line * 64 + b"\n" + empty
    assert decide(too_many, known, {}, cosigners=[s.witness], timestamp=5).status == 400
    short_hash = b"old 1\n" + base64.b64encode(bytes(31)) + b"\n\n" + empty
    assert decide(short_hash, known, {}, cosigners=[s.witness], timestamp=5).status == 400


def test_forbidden_and_unknown() -> None:
    s = Scenario()
    s.grow(2)
    other = NoteSigner.ed25519(s.origin, Ed25519PrivateKey.generate())
    forged = sign_note(split_note(s.note())[0], [other])
    assert s.submit(0, note=forged).status == 403
    tampered = s.note().replace(b"\n2\n", b"\n3\n")
    assert s.submit(0, note=tampered).status == 403
    d = decide(AddCheckpointRequest(0, (), s.note()), {}, {}, cosigners=[s.witness], timestamp=5)
    assert d.status == 404


def test_parse_limits_and_usage_errors() -> None:
    note = b"o\n0\n" + base64.b64encode(EMPTY_ROOT) + b"\n\n\xe2\x80\x94 o AAAAAAA=\n"
    body = format_add_checkpoint(5, [bytes(32)] * 63, note)
    assert len(parse_add_checkpoint(body).consistency_proof) == 63
    with pytest.raises(WitnessProtocolError) as err:
        parse_add_checkpoint(
            body.replace(b"old 5\n", b"old 5\n" + base64.b64encode(bytes(32)) + b"\n")
        )
    assert err.value.status == 400
    with pytest.raises(UsageError):
        format_add_checkpoint(0, [bytes(32)] * 64, note)
    with pytest.raises(UsageError):
        decide(body, {}, {}, cosigners=[], timestamp=5)
    with pytest.raises(UsageError):
        decide(
            body,
            {},
            {},
            cosigners=[CosignatureSigner("w", Ed25519PrivateKey.generate())],
            timestamp=0,
        )
    with pytest.raises(WitnessProtocolError) as bad:
        parse_cosignature_response(b"not a signature\n")
    assert bad.value.status == 502
