"""C2SP tlog-proof@v1: format and offline verification (../shared/vectors/proof/tlog_proof.json)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.merkle import MemoryHashes, inclusion_proof, leaf_hash, tree_hash
from rogatory.custody.note import (
    CosignatureSigner,
    NoteSigner,
    SignedNoteError,
    add_signatures,
    sign_note,
)
from rogatory.custody.policy import Policy
from rogatory.custody.tlogproof import (
    HEADER,
    MAX_LINE_LENGTH,
    TlogProof,
    check_proof,
    check_proof_for_leaf_hash,
)
from rogatory.errors import NoteError, ProofError
from tests.conftest import SHARED

VECTORS = SHARED / "vectors" / "proof"
ABSENT = f"shared vectors not found at {VECTORS} (set ROGATORY_SHARED); CI always has them"


def _load(name: str) -> dict[str, Any] | None:
    path: Path = VECTORS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _params(items: Any, ident: Any) -> list[Any]:
    if items is None:
        return [pytest.param(None, id="vectors-absent", marks=pytest.mark.skip(reason=ABSENT))]
    return [pytest.param(item, id=ident(i, item)) for i, item in enumerate(items)]


PROOFS = _load("tlog_proof.json")


@pytest.mark.parametrize("case", _params(PROOFS and PROOFS["marshal"], lambda i, c: c["id"]))
def test_marshal_vector(case: dict[str, Any] | None) -> None:
    assert case is not None
    extra = base64.b64decode(case["extra_b64"]) if "extra_b64" in case else None
    proof = TlogProof(
        index=case["index"],
        proof=[base64.b64decode(h) for h in case["hashes_b64"]],
        checkpoint_note=case["checkpoint"].encode(),
        extra=extra,
    )
    assert proof.marshal() == case["want"].encode()
    assert TlogProof.unmarshal(case["want"].encode()) == proof


def _error_input(case: dict[str, Any]) -> bytes:
    if "proof" in case:
        return str(case["proof"]).encode()
    assert case["id"] == "line-too-long", case
    return f"{HEADER}\nindex 0\n".encode() + b"a" * (65 * 1024) + b"\n\ncheckpoint\n"


@pytest.mark.parametrize(
    "case", _params(PROOFS and PROOFS["unmarshal_errors"], lambda i, c: c["id"])
)
def test_unmarshal_error_vector(case: dict[str, Any] | None) -> None:
    assert case is not None
    with pytest.raises(NoteError) as err:
        TlogProof.unmarshal(_error_input(case))
    assert err.value.message.startswith("tlog-proof: ")
    if case["id"] == "line-too-long":
        assert str(MAX_LINE_LENGTH) in err.value.message


@pytest.mark.parametrize(
    "data",
    [
        f"{HEADER}\nindex 01\n\ncp\n",
        f"{HEADER}\nindex 0\n",
        f"{HEADER}\nindex 0\n\n",
        f"{HEADER}\nindex 18446744073709551616\n\ncp\n",
        f"{HEADER}\nextra\nindex 0\n\ncp\n",
        f"{HEADER}\r\nindex 0\n\ncp\n",
    ],
    ids=["leading-zero", "no-empty-line", "no-checkpoint", "index-2^64", "extra-no-space", "crlf"],
)
def test_unmarshal_more_errors(data: str) -> None:
    with pytest.raises(NoteError):
        TlogProof.unmarshal(data.encode())


def test_marshal_rejects_bad_fields() -> None:
    with pytest.raises(NoteError):
        TlogProof(-1, [], b"cp\n").marshal()
    with pytest.raises(NoteError):
        TlogProof(0, [bytes(31)], b"cp\n").marshal()
    with pytest.raises(NoteError):
        TlogProof(0, [], b"").marshal()
    assert TlogProof.unmarshal(TlogProof(0, [], b"cp\n", b"").marshal()).extra == b""


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    "case", _params(PROOFS and PROOFS["end_to_end"]["cases"], lambda i, c: c["id"])
)
def test_end_to_end_vector(case: dict[str, Any] | None) -> None:
    """The four verification steps on the derived offline proofs."""
    assert case is not None
    proof = TlogProof.unmarshal(case["tlog_proof"].encode())
    assert proof.marshal() == case["tlog_proof"].encode()
    policy = Policy.parse(case["policy"])
    leaf = bytes.fromhex(case["leaf_data_hex"])
    if case["expect_valid"]:
        checked = check_proof(proof, leaf, policy)
        assert checked.checkpoint.size == 8 and checked.index == 5
        assert checked.leaf_hash == leaf_hash(leaf)
        assert set(checked.witness_timestamps) == {"w1", "w2"}
        assert checked.log_key_name == "example.com/vectors/log"
        return
    expected_step = {"wrong-leaf": 4, "wrong-index": 4, "quorum-not-met": 3}[case["id"]]
    error = ProofError if expected_step == 4 else NoteError
    with pytest.raises(error) as err:
        check_proof(proof, leaf, policy)
    assert err.value.message.startswith(f"tlog-proof step {expected_step} ")


class Log:
    """A small signed log with two witnesses, built with the merkle module."""

    def __init__(self, n: int) -> None:
        self.origin = "example.com/custody/test"
        self.signer = NoteSigner.ed25519(self.origin, Ed25519PrivateKey.generate())
        self.w1 = CosignatureSigner("w1.example", Ed25519PrivateKey.generate())
        self.w2 = CosignatureSigner("w2.example", Ed25519PrivateKey.generate())
        self.leaves = [f"event {i}".encode() for i in range(n)]
        self.hashes = MemoryHashes()
        for data in self.leaves:
            self.hashes.append_leaf(leaf_hash(data))
        self.checkpoint = Checkpoint(self.origin, n, tree_hash(n, self.hashes))
        text = self.checkpoint.to_text()
        note = sign_note(text, [self.signer])
        self.note = add_signatures(
            note, [self.w1.cosignature(text, 1700000000), self.w2.cosignature(text, 1700000005)]
        )
        self.policy = Policy.parse(
            f"log {self.signer.vkey}\nwitness a {self.w1.vkey}\nwitness b {self.w2.vkey}\n"
            "group all-of-them all a b\nquorum all-of-them\n"
        )

    def proof(self, index: int) -> TlogProof:
        path = inclusion_proof(index, self.checkpoint.size, self.hashes)
        return TlogProof(index, path, self.note, extra=b"case 2024/17")


def test_every_leaf_of_a_log_proves() -> None:
    log = Log(13)
    for i, data in enumerate(log.leaves):
        proof = TlogProof.unmarshal(log.proof(i).marshal())
        checked = check_proof(proof, data, log.policy, origin=log.origin)
        assert checked.index == i and checked.extra == b"case 2024/17"
        assert checked.witness_timestamps == {"a": 1700000000, "b": 1700000005}
        with pytest.raises(ProofError, match="step 4"):
            check_proof(proof, data + b"!", log.policy)


def test_step_two_failures_are_named() -> None:
    log = Log(3)
    proof = log.proof(1)
    with pytest.raises(NoteError, match="step 2"):
        check_proof(proof, log.leaves[1], log.policy, origin="example.com/other")
    other = Log(3)
    with pytest.raises(SignedNoteError, match="step 2") as err:
        check_proof(proof, log.leaves[1], other.policy)
    assert err.value.kind in {"no_verifiable_signature", "invalid_signature"}
    broken = TlogProof(1, proof.proof, proof.checkpoint_note.replace(b"\n3\n", b"\n4\n"))
    with pytest.raises(SignedNoteError, match="step 2") as err2:
        check_proof(broken, log.leaves[1], log.policy)
    assert err2.value.kind == "invalid_signature"


def test_check_by_leaf_hash_and_index_out_of_range() -> None:
    log = Log(4)
    proof = log.proof(2)
    assert check_proof_for_leaf_hash(proof, leaf_hash(log.leaves[2]), log.policy).index == 2
    beyond = TlogProof(4, proof.proof, proof.checkpoint_note)
    with pytest.raises(ProofError, match="step 4"):
        check_proof(beyond, log.leaves[2], log.policy)
