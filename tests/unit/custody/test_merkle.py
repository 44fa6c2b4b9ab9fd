"""RFC 9162 §2.1 Merkle hashing and proofs: every vector in ``shared/vectors/merkle`` plus properties.

Vector files covered: hashing.json, roots.json, inclusion.json and consistency.json,
one test case per vector item (the test id names the item). ``subtree.json`` is
not used: it holds Merkle Tree Certificate subtree proofs
(draft-ietf-plants-merkle-tree-certs), a different proof type that the custody
log does not produce or verify.

When ``../shared`` is absent (a user's fresh clone), every vector case is
reported as one skipped test with the reason; the property tests still run.
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rogatory.custody import merkle
from rogatory.custody.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MemoryHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    stored_hash_count,
    stored_hash_index,
    stored_hashes_for_leaf,
    stored_hashes_for_leaves,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from rogatory.errors import CustodyError, ProofError, UsageError
from tests.conftest import SHARED

VECTORS = SHARED / "vectors" / "merkle"
_ABSENT_REASON = f"shared test vectors not found at {SHARED / 'vectors'} (set ROGATORY_SHARED); CI always has them"


# ---------------------------------------------------------------------------
# Vector loading: one pytest.param per item, or one skipped param when absent
# ---------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any] | None:
    path = VECTORS / name
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _params(
    name: str, pick: Callable[[dict[str, Any]], list[Any]], ident: Callable[[Any], str]
) -> list[Any]:
    data = _load(name)
    if data is None:
        return [pytest.param(None, id="vectors-absent", marks=pytest.mark.skip(_ABSENT_REASON))]
    return [pytest.param(item, id=ident(item)) for item in pick(data)]


@pytest.fixture(scope="module")
def vectors_dir() -> Path:
    """``shared/vectors/merkle``; skips when the shared folder is absent."""
    if not VECTORS.is_dir():
        pytest.skip(_ABSENT_REASON)
    return VECTORS


@pytest.fixture(scope="module")
def reference_tree(vectors_dir: Path) -> MemoryHashes:
    """The 8-leaf reference tree of roots.json, appended one leaf at a time."""
    roots = json.loads((vectors_dir / "roots.json").read_text(encoding="utf-8"))
    tree = MemoryHashes()
    for leaf_hex in roots["leaf_inputs_hex"]:
        tree.append_leaf(leaf_hash(bytes.fromhex(leaf_hex)))
    return tree


def _b64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _hexes(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


# ---------------------------------------------------------------------------
# hashing.json
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    _params(
        "hashing.json",
        lambda d: list(enumerate(d["cases"])),
        lambda item: f"hashing-{item[0]}-{item[1]['kind']}",
    ),
)
def test_hashing_vector(case: tuple[int, dict[str, Any]]) -> None:
    _, c = case
    if c["kind"] == "empty_root":
        got = EMPTY_ROOT
        assert root_from_leaf_hashes([]) == EMPTY_ROOT
        assert tree_hash(0, MemoryHashes()) == EMPTY_ROOT
    elif c["kind"] == "leaf":
        got = leaf_hash(bytes.fromhex(c["input_hex"]))
    elif c["kind"] == "node":
        got = node_hash(bytes.fromhex(c["left_hex"]), bytes.fromhex(c["right_hex"]))
    else:
        pytest.fail(f"unknown hashing case kind {c['kind']!r}")
    assert got.hex() == c["want_hex"]
    assert len(got) == HASH_SIZE
    if "want_b64" in c:
        assert base64.b64encode(got).decode() == c["want_b64"]


# ---------------------------------------------------------------------------
# roots.json
# ---------------------------------------------------------------------------


def _leaf_hashes(roots: dict[str, Any]) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(x)) for x in roots["leaf_inputs_hex"]]


@pytest.mark.parametrize(
    "case",
    _params(
        "roots.json",
        lambda d: [(d, r) for r in d["roots"]],
        lambda item: f"root-size-{item[1]['size']}",
    ),
)
def test_root_vector(
    case: tuple[dict[str, Any], dict[str, Any]], reference_tree: MemoryHashes
) -> None:
    roots, r = case
    size = r["size"]
    assert tree_hash(size, reference_tree).hex() == r["root_hex"]
    assert root_from_leaf_hashes(_leaf_hashes(roots)[:size]).hex() == r["root_hex"]
    assert base64.b64decode(r["root_b64"]).hex() == r["root_hex"]
    # A tree built by batch append holds the same root.
    batch = MemoryHashes()
    batch.append_leaves(_leaf_hashes(roots)[:size])
    assert tree_hash(size, batch).hex() == r["root_hex"]


@pytest.mark.parametrize(
    "case",
    _params(
        "roots.json",
        lambda d: [
            (level, i, h)
            for level, row in enumerate(d["node_hashes_hex"])
            for i, h in enumerate(row)
        ],
        lambda item: f"node-level-{item[0]}-index-{item[1]}",
    ),
)
def test_node_hash_vector(case: tuple[int, int, str], reference_tree: MemoryHashes) -> None:
    """Every complete subtree hash sits at stored_hash_index(level, i) of the stored tree."""
    level, i, want = case
    (got,) = reference_tree.read_hashes([stored_hash_index(level, i)])
    assert got.hex() == want


@pytest.mark.parametrize(
    "case",
    _params(
        "roots.json", lambda d: d["compact_ranges"], lambda c: f"compact-range-size-{c['size']}"
    ),
)
def test_compact_range_vector(case: dict[str, Any], reference_tree: MemoryHashes) -> None:
    """The frontier of each size: its subtrees are stored, and they fold to the root."""
    size = case["size"]
    indexes = [stored_hash_index(level, i) for level, i in case["nodes_level_index"]]
    assert _hexes(reference_tree.read_hashes(indexes)) == case["hashes_hex"]
    reads = CountingReader(reference_tree)
    tree_hash(size, reads)
    assert sorted(reads.indexes) == sorted(indexes)  # tree_hash reads exactly the frontier


# ---------------------------------------------------------------------------
# inclusion.json
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    _params(
        "inclusion.json", lambda d: d["generation"], lambda c: f"gen-i{c['index']}-n{c['size']}"
    ),
)
def test_inclusion_generation_vector(case: dict[str, Any], reference_tree: MemoryHashes) -> None:
    proof = inclusion_proof(case["index"], case["size"], reference_tree)
    assert _hexes(proof) == case["proof_hex"]


@pytest.mark.parametrize(
    "case",
    _params(
        "inclusion.json",
        lambda d: d["generation_all_sizes_1_to_8"]["cases"],
        lambda c: f"gen-all-i{c['index']}-n{c['size']}",
    ),
)
def test_inclusion_generation_all_sizes_vector(
    case: dict[str, Any], reference_tree: MemoryHashes
) -> None:
    index, size = case["index"], case["size"]
    proof = inclusion_proof(index, size, reference_tree)
    assert _hexes(proof) == case["proof_hex"]
    (stored_leaf,) = reference_tree.read_hashes([stored_hash_index(0, index)])
    assert stored_leaf.hex() == case["leaf_hash_hex"]
    assert tree_hash(size, reference_tree).hex() == case["root_hex"]
    verify_inclusion(stored_leaf, index, size, proof, bytes.fromhex(case["root_hex"]))


@pytest.mark.parametrize(
    "case",
    _params(
        "inclusion.json",
        lambda d: d["generation_errors"],
        lambda c: f"gen-error-i{c['index']}-n{c['size']}",
    ),
)
def test_inclusion_generation_error_vector(
    case: dict[str, Any], reference_tree: MemoryHashes
) -> None:
    with pytest.raises(UsageError, match="no inclusion proof"):
        inclusion_proof(case["index"], case["size"], reference_tree)


@pytest.mark.parametrize(
    "case", _params("inclusion.json", lambda d: d["verify"], lambda c: c["id"])
)
def test_inclusion_verify_vector(case: dict[str, Any]) -> None:
    proof = [_b64(p) for p in case["proof_b64"] or []]
    args = (_b64(case["leaf_hash_b64"]), case["index"], case["size"], proof, _b64(case["root_b64"]))
    if case["valid"]:
        verify_inclusion(*args)
    else:
        with pytest.raises(ProofError) as err:
            verify_inclusion(*args)
        assert err.value.message and "\n" not in err.value.message
        assert err.value.hint


# ---------------------------------------------------------------------------
# consistency.json
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    _params(
        "consistency.json", lambda d: d["generation"], lambda c: f"gen-{c['size1']}-{c['size2']}"
    ),
)
def test_consistency_generation_vector(case: dict[str, Any], reference_tree: MemoryHashes) -> None:
    proof = consistency_proof(case["size1"], case["size2"], reference_tree)
    assert _hexes(proof) == case["proof_hex"]


@pytest.mark.parametrize(
    "case",
    _params(
        "consistency.json",
        lambda d: d["generation_all_pairs_up_to_8"]["cases"],
        lambda c: f"gen-all-{c['size1']}-{c['size2']}",
    ),
)
def test_consistency_generation_all_pairs_vector(
    case: dict[str, Any], reference_tree: MemoryHashes
) -> None:
    size1, size2 = case["size1"], case["size2"]
    proof = consistency_proof(size1, size2, reference_tree)
    assert _hexes(proof) == case["proof_hex"]
    assert tree_hash(size1, reference_tree).hex() == case["root1_hex"]
    assert tree_hash(size2, reference_tree).hex() == case["root2_hex"]
    verify_consistency(
        size1, size2, proof, bytes.fromhex(case["root1_hex"]), bytes.fromhex(case["root2_hex"])
    )


@pytest.mark.parametrize(
    "case",
    _params(
        "consistency.json",
        lambda d: d["generation_errors"],
        lambda c: f"gen-error-{c['size1']}-{c['size2']}",
    ),
)
def test_consistency_generation_error_vector(
    case: dict[str, Any], reference_tree: MemoryHashes
) -> None:
    with pytest.raises(UsageError, match="no consistency proof"):
        consistency_proof(case["size1"], case["size2"], reference_tree)


@pytest.mark.parametrize(
    "case", _params("consistency.json", lambda d: d["verify"], lambda c: c["id"])
)
def test_consistency_verify_vector(case: dict[str, Any]) -> None:
    proof = [_b64(p) for p in case["proof_b64"] or []]
    args = (case["size1"], case["size2"], proof, _b64(case["root1_b64"]), _b64(case["root2_b64"]))
    if case["valid"]:
        verify_consistency(*args)
    else:
        with pytest.raises(ProofError) as err:
            verify_consistency(*args)
        assert err.value.message and "\n" not in err.value.message
        assert err.value.hint


# ---------------------------------------------------------------------------
# An independent reference: RFC 9162 §2.1 recursions, written literally
# ---------------------------------------------------------------------------


def _k(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH over leaf HASHES (RFC 9162 §2.1.1)."""
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1)."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def path_shape(m: int, n: int) -> str:
    """Sides of the PATH(m, D[n]) elements, leaf sibling first: L(eft) or R(ight) sibling.

    Two (index, size) pairs with the same shape make the verifier compute the same
    thing, so one proof serves both: the tree size is bound by the signed
    checkpoint, not by the proof.
    """
    if n == 1:
        return ""
    k = _k(n)
    return path_shape(m, k) + "R" if m < k else path_shape(m - k, n - k) + "L"


def subproof_shape(m: int, n: int, b: bool = True) -> str:
    """Like path_shape for SUBPROOF(m, D[n], b); S marks the seed (an old-tree subtree)."""
    if m == n:
        return "" if b else "S"
    k = _k(n)
    return subproof_shape(m, k, b) + "R" if m <= k else subproof_shape(m - k, n - k, False) + "L"


# ---------------------------------------------------------------------------
# Readers for the property tests
# ---------------------------------------------------------------------------


class CountingReader:
    """Wraps a reader and records every read_hashes call."""

    def __init__(self, inner: merkle.HashReader) -> None:
        self.inner = inner
        self.calls = 0
        self.indexes: list[int] = []

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.calls += 1
        self.indexes.extend(indexes)
        return self.inner.read_hashes(indexes)


def _position(index: int) -> tuple[int, int]:
    """Invert stored_hash_index: the (level, n) stored at ``index``."""
    # Leaf m is stored at stored_hash_index(0, m); find the last leaf at or before index.
    lo, hi = 0, index + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if stored_hash_index(0, mid) <= index:
            lo = mid
        else:
            hi = mid
    level = index - stored_hash_index(0, lo)
    return level, lo >> level


class UniformTree:
    """A reader for a huge tree whose leaves are all the same hash (no storage needed).

    Every complete subtree of a level then has the same hash, so any tree size
    up to 2**62 can be proven and verified; reading a hash that a tree of
    ``size`` leaves has not stored fails.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.levels = [leaf_hash(b"uniform")]
        for _ in range(64):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        out = []
        for index in indexes:
            level, n = _position(index)
            assert stored_hash_index(level, n) == index
            assert (n + 1) << level <= self.size, f"read of ({level}, {n}) beyond size {self.size}"
            out.append(self.levels[level])
        return out

    def root(self, size: int) -> bytes:
        return root_from_subtrees(
            [
                self.levels[level]
                for level in range(size.bit_length() - 1, -1, -1)
                if size >> level & 1
            ]
        )


def root_from_subtrees(hashes: list[bytes]) -> bytes:
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


RNG_SEED = 9162
MAX_SIZE = 300


@pytest.fixture(scope="module")
def leaves() -> list[bytes]:
    rng = random.Random(RNG_SEED)
    return [leaf_hash(rng.randbytes(rng.randrange(0, 40))) for _ in range(MAX_SIZE)]


@pytest.fixture(scope="module")
def tree(leaves: list[bytes]) -> MemoryHashes:
    t = MemoryHashes()
    for leaf in leaves:
        t.append_leaf(leaf)
    return t


def _bound(n: int) -> int:
    return 2 * math.ceil(math.log2(n)) + 2 if n > 1 else 2


# ---------------------------------------------------------------------------
# Storage layout
# ---------------------------------------------------------------------------


def test_stored_hash_index_matches_golang_layout() -> None:
    # Positions as golang sumdb/tlog lays them out (tlog_test.go prints this order):
    # leaf 0, leaf 1, (1,0), leaf 2, leaf 3, (1,1), (2,0), leaf 4, ...
    order = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4), (0, 5), (1, 2)]
    assert [stored_hash_index(level, n) for level, n in order] == list(range(len(order)))
    assert [stored_hash_count(n) for n in range(9)] == [0, 1, 3, 4, 7, 8, 10, 11, 15]


def test_stored_hash_index_is_append_order(leaves: list[bytes], tree: MemoryHashes) -> None:
    """Every complete subtree is stored once, at stored_hash_index, with its MTH."""
    assert tree.size == MAX_SIZE
    assert tree.stored_count == stored_hash_count(MAX_SIZE)
    seen: set[int] = set()
    for level in range(MAX_SIZE.bit_length()):
        for n in range(MAX_SIZE >> level):
            index = stored_hash_index(level, n)
            assert _position(index) == (level, n)
            seen.add(index)
            (h,) = tree.read_hashes([index])
            assert h == ref_mth(leaves[n << level : (n + 1) << level])
    assert seen == set(range(stored_hash_count(MAX_SIZE)))


def test_stored_hash_count_grows_as_appended(leaves: list[bytes]) -> None:
    t = MemoryHashes()
    for n, leaf in enumerate(leaves[:64]):
        assert t.stored_count == stored_hash_count(n)
        produced = stored_hashes_for_leaf(n, leaf, t)
        assert len(produced) == stored_hash_count(n + 1) - stored_hash_count(n)
        assert produced[0] == leaf
        t.append_leaf(leaf)


def test_batch_append_equals_one_by_one(leaves: list[bytes], tree: MemoryHashes) -> None:
    rng = random.Random(RNG_SEED + 1)
    everything = tree.read_hashes(range(tree.stored_count))
    for _ in range(30):
        batch = MemoryHashes()
        while batch.size < MAX_SIZE:
            count = rng.choice([0, 1, 2, 3, 7, 8, 16, 31, 64, 100])
            count = min(count, MAX_SIZE - batch.size)
            start = batch.size
            reads = CountingReader(batch)
            produced = stored_hashes_for_leaves(start, leaves[start : start + count], reads)
            assert reads.calls <= 1
            assert len(reads.indexes) <= start.bit_count()
            assert all(i < stored_hash_count(start) for i in reads.indexes)
            assert (
                produced == everything[stored_hash_count(start) : stored_hash_count(start + count)]
            )
            batch.append_leaves(leaves[start : start + count])
        assert batch.read_hashes(range(batch.stored_count)) == everything


def test_batch_of_one_equals_single_append(leaves: list[bytes], tree: MemoryHashes) -> None:
    for n in range(MAX_SIZE):
        single = CountingReader(tree)
        batch = CountingReader(tree)
        one = stored_hashes_for_leaf(n, leaves[n], single)
        assert stored_hashes_for_leaves(n, [leaves[n]], batch) == one
        assert sorted(single.indexes) == sorted(batch.indexes)  # only the siblings it combines
        assert single.calls == batch.calls == (1 if n & 1 else 0)


def test_append_rejects_wrong_leaf_size() -> None:
    t = MemoryHashes()
    with pytest.raises(UsageError, match="has 5 bytes, expected 32"):
        t.append_leaf(b"short")
    with pytest.raises(UsageError, match="leaf 1 has 33 bytes"):
        t.append_leaves([bytes(32), bytes(33)])
    assert t.size == 0 and t.stored_count == 0
    with pytest.raises(UsageError):
        root_from_leaf_hashes([bytes(31)])
    with pytest.raises(UsageError):
        stored_hashes_for_leaves(-1, [bytes(32)], t)
    with pytest.raises(UsageError):
        stored_hash_index(-1, 0)
    with pytest.raises(UsageError):
        stored_hash_count(-1)
    with pytest.raises(UsageError):
        tree_hash(-1, t)


def test_memory_reader_reports_missing_hash(tree: MemoryHashes) -> None:
    with pytest.raises(CustodyError, match="does not exist"):
        tree.read_hashes([tree.stored_count])
    with pytest.raises(CustodyError, match="does not exist"):
        tree.read_hashes([-1])
    with pytest.raises(CustodyError):
        tree_hash(MAX_SIZE + 1, tree)


def test_short_reader_is_reported(tree: MemoryHashes) -> None:
    class Short:
        def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
            return tree.read_hashes(indexes)[:-1]

    with pytest.raises(CustodyError, match="returned"):
        inclusion_proof(3, 8, Short())


# ---------------------------------------------------------------------------
# Tree hashes
# ---------------------------------------------------------------------------


def test_tree_hash_equals_streaming_root_and_reference(
    leaves: list[bytes], tree: MemoryHashes
) -> None:
    for size in range(MAX_SIZE + 1):
        reads = CountingReader(tree)
        root = tree_hash(size, reads)
        assert root == root_from_leaf_hashes(iter(leaves[:size]))
        assert reads.calls == (1 if size else 0)
        assert len(reads.indexes) == size.bit_count()
        if size <= 70:
            assert root == ref_mth(leaves[:size])


# ---------------------------------------------------------------------------
# Inclusion proofs
# ---------------------------------------------------------------------------


def test_inclusion_matches_reference_for_all_small_trees(
    leaves: list[bytes], tree: MemoryHashes
) -> None:
    for size in range(1, 40):
        root = tree_hash(size, tree)
        for index in range(size):
            proof = inclusion_proof(index, size, tree)
            assert proof == ref_path(index, leaves[:size])
            verify_inclusion(leaves[index], index, size, proof, root)


def test_random_inclusion_proofs_verify_with_log_reads(
    leaves: list[bytes], tree: MemoryHashes
) -> None:
    rng = random.Random(RNG_SEED + 2)
    for _ in range(500):
        size = rng.randrange(1, MAX_SIZE + 1)
        index = rng.randrange(size)
        reads = CountingReader(tree)
        proof = inclusion_proof(index, size, reads)
        assert reads.calls == 1 or (size == 1 and reads.calls == 0)
        assert len(reads.indexes) <= _bound(size)
        assert all(i < stored_hash_count(size) for i in reads.indexes)
        verify_inclusion(leaves[index], index, size, proof, tree_hash(size, tree))


def _inclusion_rejected(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


def test_inclusion_verification_rejects_mutations(leaves: list[bytes], tree: MemoryHashes) -> None:
    rng = random.Random(RNG_SEED + 3)
    for _ in range(150):
        size = rng.randrange(1, MAX_SIZE + 1)
        index = rng.randrange(size)
        proof = inclusion_proof(index, size, tree)
        root = tree_hash(size, tree)
        leaf = leaves[index]
        verify_inclusion(leaf, index, size, proof, root)
        for i in range(len(proof)):
            flipped = bytearray(proof[i])
            flipped[rng.randrange(HASH_SIZE)] ^= 1 << rng.randrange(8)
            _inclusion_rejected(
                leaf, index, size, [*proof[:i], bytes(flipped), *proof[i + 1 :]], root
            )
            _inclusion_rejected(leaf, index, size, [*proof[:i], *proof[i + 1 :]], root)
            _inclusion_rejected(
                leaf, index, size, [*proof[:i], proof[i][:31], *proof[i + 1 :]], root
            )
        _inclusion_rejected(leaf, index, size, [*proof, root], root)
        _inclusion_rejected(leaf, index, size, [root, *proof], root)
        _inclusion_rejected(leaf, index, size, proof, node_hash(root, root))
        _inclusion_rejected(leaf, index, size, proof, root[:31])
        _inclusion_rejected(leaf, index, size, proof, EMPTY_ROOT)
        _inclusion_rejected(node_hash(leaf, leaf), index, size, proof, root)
        _inclusion_rejected(leaf + b"\x00", index, size, proof, root)
        _inclusion_rejected(leaf, size, size, proof, root)
        _inclusion_rejected(leaf, -1, size, proof, root)
        if size > 1:
            _inclusion_rejected(leaf, (index + 1) % size, size, proof, root)
        for other in (size + 1, size * 2, size - 1):
            if other <= index:
                continue
            if path_shape(index, other) == path_shape(index, size):
                verify_inclusion(leaf, index, other, proof, root)  # same computation
            else:
                _inclusion_rejected(leaf, index, other, proof, root)


def test_inclusion_error_message_names_the_shape() -> None:
    with pytest.raises(ProofError, match="proof has 4 hashes, expected 3") as err:
        verify_inclusion(bytes(32), 5, 8, [bytes(32)] * 4, bytes(32))
    assert "altered" in err.value.hint
    with pytest.raises(
        ProofError,
        match="inclusion proof for leaf 5 in tree of size 8 does not lead to the checkpoint's root hash",
    ):
        verify_inclusion(bytes(32), 5, 8, [bytes(32)] * 3, bytes(32))
    with pytest.raises(ProofError, match="proof hash 1 has 31 bytes"):
        verify_inclusion(bytes(32), 5, 8, [bytes(32), bytes(31), bytes(32)], bytes(32))


# ---------------------------------------------------------------------------
# Consistency proofs
# ---------------------------------------------------------------------------


def test_consistency_matches_reference_for_all_small_trees(
    leaves: list[bytes], tree: MemoryHashes
) -> None:
    for size2 in range(1, 40):
        root2 = tree_hash(size2, tree)
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(size1, size2, tree)
            assert proof == ref_subproof(size1, leaves[:size2], True)
            verify_consistency(size1, size2, proof, tree_hash(size1, tree), root2)


def test_random_consistency_proofs_verify_with_log_reads(tree: MemoryHashes) -> None:
    rng = random.Random(RNG_SEED + 4)
    for _ in range(500):
        size2 = rng.randrange(1, MAX_SIZE + 1)
        size1 = rng.randrange(1, size2 + 1)
        reads = CountingReader(tree)
        proof = consistency_proof(size1, size2, reads)
        assert reads.calls == (0 if size1 == size2 else 1)
        assert len(reads.indexes) <= _bound(size2)
        assert all(i < stored_hash_count(size2) for i in reads.indexes)
        verify_consistency(size1, size2, proof, tree_hash(size1, tree), tree_hash(size2, tree))


def _consistency_rejected(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, root2)


def test_consistency_verification_rejects_mutations(tree: MemoryHashes) -> None:
    rng = random.Random(RNG_SEED + 5)
    for _ in range(150):
        size2 = rng.randrange(2, MAX_SIZE + 1)
        size1 = rng.randrange(1, size2)
        proof = consistency_proof(size1, size2, tree)
        root1, root2 = tree_hash(size1, tree), tree_hash(size2, tree)
        verify_consistency(size1, size2, proof, root1, root2)
        for i in range(len(proof)):
            flipped = bytearray(proof[i])
            flipped[rng.randrange(HASH_SIZE)] ^= 1 << rng.randrange(8)
            _consistency_rejected(
                size1, size2, [*proof[:i], bytes(flipped), *proof[i + 1 :]], root1, root2
            )
            _consistency_rejected(size1, size2, [*proof[:i], *proof[i + 1 :]], root1, root2)
            _consistency_rejected(
                size1, size2, [*proof[:i], proof[i] + b"\x00", *proof[i + 1 :]], root1, root2
            )
        _consistency_rejected(size1, size2, [], root1, root2)
        _consistency_rejected(size1, size2, [*proof, root1], root1, root2)
        _consistency_rejected(size1, size2, [root2, *proof], root1, root2)
        _consistency_rejected(size1, size2, proof, root2, root1)
        _consistency_rejected(size1, size2, proof, node_hash(root1, root1), root2)
        _consistency_rejected(size1, size2, proof, root1, node_hash(root2, root2))
        _consistency_rejected(size1, size2, proof, root1[:31], root2)
        _consistency_rejected(size1, size2, proof, root1, root2 + b"\x00")
        _consistency_rejected(0, size2, proof, EMPTY_ROOT, root2)
        _consistency_rejected(size2, size1, proof, root2, root1)
        shape = subproof_shape(size1, size2)
        for other1 in (size1 - 1, size1 + 1, size1 ^ 2):
            if 0 < other1 < size2 and other1 != size1:
                if subproof_shape(other1, size2) == shape:
                    verify_consistency(other1, size2, proof, root1, root2)
                else:
                    _consistency_rejected(other1, size2, proof, root1, root2)
        for other2 in (size2 - 1, size2 + 1, size2 * 2):
            if other2 > size1 and other2 != size2:
                if subproof_shape(size1, other2) == shape:
                    verify_consistency(size1, other2, proof, root1, root2)
                else:
                    _consistency_rejected(size1, other2, proof, root1, root2)


def test_consistency_edge_rules(tree: MemoryHashes) -> None:
    root5 = tree_hash(5, tree)
    verify_consistency(5, 5, [], root5, root5)
    with pytest.raises(ProofError, match="different root hashes"):
        verify_consistency(5, 5, [], root5, tree_hash(6, tree))
    with pytest.raises(ProofError, match="proof has 1 hashes, expected 0"):
        verify_consistency(5, 5, [root5], root5, root5)
    # transparency-dev/merkle: nothing is proven from the empty tree, even 0 -> 0.
    with pytest.raises(ProofError, match="meaningless"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="smaller size"):
        verify_consistency(6, 5, [], root5, root5)
    with pytest.raises(UsageError):
        consistency_proof(0, 0, tree)
    assert consistency_proof(7, 7, tree) == []
    with pytest.raises(
        ProofError, match="from size 6 to size 8 does not lead to the older checkpoint's root hash"
    ):
        verify_consistency(6, 8, consistency_proof(6, 8, tree), EMPTY_ROOT, tree_hash(8, tree))


# ---------------------------------------------------------------------------
# Huge trees: index arithmetic and O(log n) reads far beyond what fits in memory
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10**7, 10**7 + 1, 2**32 - 1, 2**32, 2**40 + 12345, 2**62 - 3])
def test_proofs_in_huge_trees(size: int) -> None:
    rng = random.Random(size)
    uniform = UniformTree(size)
    root = uniform.root(size)
    reads = CountingReader(uniform)
    assert tree_hash(size, reads) == root
    assert reads.calls == 1
    for index in [0, size - 1, size // 2, *(rng.randrange(size) for _ in range(5))]:
        reads = CountingReader(uniform)
        proof = inclusion_proof(index, size, reads)
        assert reads.calls == 1
        assert len(reads.indexes) <= _bound(size)
        verify_inclusion(uniform.levels[0], index, size, proof, root)
    for size1 in [1, size - 1, size // 3, rng.randrange(1, size)]:
        reads = CountingReader(uniform)
        proof = consistency_proof(size1, size, reads)
        assert reads.calls == 1
        assert len(reads.indexes) <= _bound(size)
        verify_consistency(size1, size, proof, uniform.root(size1), root)


def test_batch_append_on_huge_tree_reads_only_the_frontier() -> None:
    start = 2**40 - 5
    uniform = UniformTree(start)
    reads = CountingReader(uniform)
    produced = stored_hashes_for_leaves(start, [uniform.levels[0]] * 9, reads)
    assert reads.calls == 1
    assert len(reads.indexes) <= start.bit_count()
    assert len(produced) == stored_hash_count(start + 9) - stored_hash_count(start)
    # Leaf 2**40 - 1 completes the subtree (40, 0): its hash is the uniform level-40 hash.
    assert uniform.levels[40] in produced
