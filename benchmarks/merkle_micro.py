#!/usr/bin/env python3
"""Micro-benchmark of the Merkle core (``rogatory.custody.merkle``), no database.

Measures, in one process:

* appending N leaf hashes to :class:`MemoryHashes` in batches
  (``stored_hashes_for_leaves``, the append hot path) and one at a time;
* ``root_from_leaf_hashes`` over the same N leaves (whole-log recomputation);
* P inclusion and consistency proof generations and verifications on that tree;
* P proof generations at 10^7 leaves through a constant reader, i.e. the cost of
  the index arithmetic alone (a real store adds its one read per proof).

Targets from the brief: >= 5,000 appended events/s for the whole log (this part
is a small share of it) and < 1 ms per proof at 10^7 leaves.

Usage::

    python benchmarks/merkle_micro.py                 # N = 10^6, P = 10,000
    python benchmarks/merkle_micro.py --leaves 100000 --proofs 2000
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from rogatory.custody.merkle import (
    MemoryHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)


class ConstantReader:
    """Returns the same 32-byte hash for every index: isolates proof-planning cost."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [b"\x42" * 32] * len(indexes)


def _report(label: str, seconds: float, count: int, unit: str) -> None:
    print(
        f"{label:<52} {seconds:8.3f} s  {count / seconds:>12,.0f} {unit}/s  "
        f"{seconds / count * 1e6:8.2f} µs each"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    n, p = args.leaves, args.proofs
    rng = random.Random(1)

    t0 = time.perf_counter()
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]
    _report("leaf_hash (8-byte entries)", time.perf_counter() - t0, n, "leaves")

    tree = MemoryHashes()
    t0 = time.perf_counter()
    for start in range(0, n, args.batch):
        tree.append_leaves(leaves[start : start + args.batch])
    _report(f"append in batches of {args.batch}", time.perf_counter() - t0, n, "leaves")

    whole = MemoryHashes()
    t0 = time.perf_counter()
    whole.append_leaves(leaves)
    _report("append in one batch", time.perf_counter() - t0, n, "leaves")

    single = MemoryHashes()
    t0 = time.perf_counter()
    for leaf in leaves:
        single.append_leaf(leaf)
    _report("append one leaf at a time (append_leaf)", time.perf_counter() - t0, n, "leaves")

    t0 = time.perf_counter()
    root = root_from_leaf_hashes(leaves)
    _report("root_from_leaf_hashes", time.perf_counter() - t0, n, "leaves")
    assert root == tree_hash(n, tree) == tree_hash(n, single)

    t0 = time.perf_counter()
    for _ in range(p):
        tree_hash(rng.randrange(1, n + 1), tree)
    _report(f"tree_hash at random sizes <= {n:,}", time.perf_counter() - t0, p, "heads")

    pairs = [(rng.randrange(n), n) for _ in range(p)]
    t0 = time.perf_counter()
    proofs = [inclusion_proof(i, size, tree) for i, size in pairs]
    _report(f"inclusion_proof, tree of {n:,}", time.perf_counter() - t0, p, "proofs")
    t0 = time.perf_counter()
    for (i, size), proof in zip(pairs, proofs, strict=True):
        verify_inclusion(leaves[i], i, size, proof, root)
    _report(f"verify_inclusion, tree of {n:,}", time.perf_counter() - t0, p, "proofs")

    olds = [rng.randrange(1, n) for _ in range(p)]
    t0 = time.perf_counter()
    cproofs = [consistency_proof(old, n, tree) for old in olds]
    _report(f"consistency_proof, to size {n:,}", time.perf_counter() - t0, p, "proofs")
    old_roots = [tree_hash(old, tree) for old in olds]
    t0 = time.perf_counter()
    for old, proof, old_root in zip(olds, cproofs, old_roots, strict=True):
        verify_consistency(old, n, proof, old_root, root)
    _report(f"verify_consistency, to size {n:,}", time.perf_counter() - t0, p, "proofs")

    big = 10**7
    constant = ConstantReader()
    t0 = time.perf_counter()
    for _ in range(p):
        inclusion_proof(rng.randrange(big), big, constant)
    _report("inclusion_proof at 10^7 (constant reader)", time.perf_counter() - t0, p, "proofs")
    t0 = time.perf_counter()
    for _ in range(p):
        consistency_proof(rng.randrange(1, big), big, constant)
    _report("consistency_proof at 10^7 (constant reader)", time.perf_counter() - t0, p, "proofs")


if __name__ == "__main__":
    main()
