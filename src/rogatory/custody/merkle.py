"""RFC 9162 §2.1 Merkle tree hashing, proofs and verification, for a log kept in a database.

The custody log is an append-only list of leaves. Its Merkle tree hash (MTH) and its
inclusion and consistency proofs are exactly those of RFC 9162 §2.1 (unchanged from
RFC 6962 §2.1), with SHA-256:

* ``MTH({}) = SHA-256()`` — :data:`EMPTY_ROOT`;
* leaf hash ``SHA-256(0x00 || data)`` — :func:`leaf_hash`;
* interior node ``SHA-256(0x01 || left || right)`` — :func:`node_hash`.

Storage layout
    Every *complete* subtree hash (a subtree of ``2**level`` leaves starting at a
    multiple of ``2**level``) is stored exactly once, in the order it becomes
    known while leaves are appended: the leaf hash of leaf ``n`` first, then the
    hashes of every subtree that leaf completes, lowest level first. This is the
    layout of golang.org/x/mod/sumdb/tlog (``StoredHashIndex``). A tree of ``n``
    leaves holds ``2n - popcount(n)`` hashes (:func:`stored_hash_count`); the
    position of a subtree hash is :func:`stored_hash_index`. Stored rows never
    change once written, so the table is append-only like the log itself.

    Any MTH over a prefix of the log is a fold of at most ``log2(n)`` complete
    subtree hashes, so tree heads and proofs cost O(log n) hash reads, fetched in
    a single :meth:`HashReader.read_hashes` call, whatever the log size.

This module does no I/O: storage is reached only through :class:`HashReader`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from rogatory.errors import CustodyError, ProofError, UsageError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "HashReader",
    "MemoryHashes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes_for_leaf",
    "stored_hashes_for_leaves",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string, 32 bytes (RFC 9162 §2.1.1)."""

_TAMPER_HINT = "the proof or the checkpoint was altered, or they belong to different logs"


# ---------------------------------------------------------------------------
# Hashing (RFC 9162 §2.1.1)
# ---------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash of one log entry: ``SHA-256(0x00 || data)`` (RFC 9162 §2.1.1).

    Args:
        data: the entry bytes, any length.

    Returns:
        32 bytes.
    """
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return an interior node hash: ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1).

    Args:
        left: hash of the left subtree (normally 32 bytes; not checked, so the
            RFC 6962 test vectors over raw strings can be reproduced).
        right: hash of the right subtree.

    Returns:
        32 bytes.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------


class HashReader(Protocol):
    """Read access to the stored subtree hashes of a log (see the module docstring)."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at ``indexes`` (storage positions), in the same order.

        Each hash is 32 bytes. Indexes may repeat and need not be sorted. A reader
        raises (for example :class:`~rogatory.errors.CustodyError`) when a hash is
        not stored; it must never return fewer hashes than asked for.
        """
        ...


def stored_hash_index(level: int, n: int) -> int:
    """Return the storage position of the complete-subtree hash ``(level, n)``.

    The subtree ``(level, n)`` covers leaves ``[n * 2**level, (n + 1) * 2**level)``;
    level 0 is the leaf hashes. Positions follow append order, as golang
    sumdb/tlog ``StoredHashIndex``.

    Args:
        level: subtree height, >= 0.
        n: subtree number within its level, >= 0.

    Returns:
        A storage index (0-based).

    Raises:
        UsageError: level or n is negative.
    """
    if level < 0 or n < 0:
        raise UsageError(
            f"no stored hash at level {level}, index {n}",
            "levels and indexes of Merkle subtrees are non-negative",
        )
    return _index(level, n)


def _index(level: int, n: int) -> int:
    """stored_hash_index without argument checks (internal, hot)."""
    # The hash (level, n) is written just after the last leaf it covers and the
    # level-1 .. level-(level-1) hashes that leaf completes. Leaf m is written at
    # 2m - popcount(m) (every earlier leaf plus every earlier completed subtree).
    last_leaf = ((n + 1) << level) - 1
    return 2 * last_leaf - last_leaf.bit_count() + level


def stored_hash_count(n: int) -> int:
    """Return how many hashes are stored for a tree of ``n`` leaves: ``2n - popcount(n)``.

    Args:
        n: number of leaves, >= 0.

    Raises:
        UsageError: n is negative.
    """
    if n < 0:
        raise UsageError(f"tree size {n} is negative", "tree sizes count leaves, from 0")
    return 2 * n - n.bit_count()


def _check_leaf(leaf: bytes, what: str) -> None:
    if len(leaf) != HASH_SIZE:
        raise UsageError(
            f"{what} has {len(leaf)} bytes, expected {HASH_SIZE}",
            "pass the leaf HASH (leaf_hash(data)), not the entry itself",
        )


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise CustodyError(
            f"hash storage returned {len(hashes)} hashes for {len(indexes)} requested",
            "the stored Merkle hashes are incomplete; check the custody log storage",
        )
    return hashes


def stored_hashes_for_leaf(n: int, leaf: bytes, reader: HashReader) -> list[bytes]:
    """Return the hashes to store when appending leaf number ``n`` (0-based).

    The result starts with ``leaf`` itself, followed by the hash of every complete
    subtree that leaf ``n`` completes, lowest level first; they belong at storage
    positions ``stored_hash_count(n)`` onwards. Reads the left siblings (at most
    ``log2(n)`` hashes) in one call.

    Args:
        n: index of the new leaf = current number of leaves, >= 0.
        leaf: the leaf HASH (32 bytes), as returned by :func:`leaf_hash`.
        reader: the stored hashes of the tree of ``n`` leaves.

    Returns:
        ``1 + t`` hashes of 32 bytes, where ``t`` is the number of trailing 1 bits of ``n``.

    Raises:
        UsageError: n is negative or leaf is not 32 bytes.
    """
    if n < 0:
        raise UsageError(f"leaf index {n} is negative", "leaves are numbered from 0")
    _check_leaf(leaf, f"leaf hash for leaf {n}")
    completes = (n ^ (n + 1)).bit_length() - 1  # trailing 1 bits of n
    out = [leaf]
    if completes:
        siblings = _read(reader, [_index(level, (n >> level) - 1) for level in range(completes)])
        h = leaf
        for sibling in siblings:
            h = _sha256(_NODE_PREFIX + sibling + h).digest()
            out.append(h)
    return out


def stored_hashes_for_leaves(
    start: int, leaves: Sequence[bytes], reader: HashReader
) -> list[bytes]:
    """Return the hashes to store when appending many leaves at once (the append hot path).

    Equivalent to calling :func:`stored_hashes_for_leaf` for leaves ``start``,
    ``start + 1``, … and concatenating the results, but it reads only the stored
    hashes of the tree of ``start`` leaves that the batch needs (at most
    ``log2(start)``, one read call, none when no old subtree is completed) and
    keeps the hashes it produces in memory. The result belongs at storage
    positions ``stored_hash_count(start)`` onwards, and holds
    ``stored_hash_count(start + len(leaves)) - stored_hash_count(start)`` hashes.

    Args:
        start: index of the first new leaf = current number of leaves, >= 0.
        leaves: the new leaf HASHES, 32 bytes each, in append order.
        reader: the stored hashes of the tree of ``start`` leaves.

    Returns:
        A list of 32-byte hashes in storage order.

    Raises:
        UsageError: start is negative or a leaf hash is not 32 bytes (nothing is returned).
    """
    if start < 0:
        raise UsageError(f"leaf index {start} is negative", "leaves are numbered from 0")
    count = len(leaves)
    if count == 0:
        return []
    end = start + count
    # The right frontier of the old tree: one complete subtree per 1 bit of
    # `start`, highest level first. Only those whose right sibling the batch
    # completes are ever combined; the others stay as placeholders.
    levels = [level for level in range(start.bit_length() - 1, -1, -1) if (start >> level) & 1]
    needed = [level for level in levels if end >= ((start >> level) + 1) << level]
    known: dict[int, bytes] = {}
    if needed:
        old = _read(reader, [_index(level, (start >> level) - 1) for level in needed])
        known = dict(zip(needed, old, strict=True))
    stack = [known.get(level, b"") for level in levels]

    out: list[bytes] = []
    append = out.append
    pop = stack.pop
    push = stack.append
    sha256 = _sha256
    prefix = _NODE_PREFIX
    n = start
    for leaf in leaves:
        if len(leaf) != HASH_SIZE:
            _check_leaf(leaf, f"leaf hash for leaf {n}")
        append(leaf)
        h = leaf
        m = n
        while m & 1:
            h = sha256(prefix + pop() + h).digest()
            append(h)
            m >>= 1
        push(h)
        n += 1
    return out


# ---------------------------------------------------------------------------
# Tree hashes and proofs from storage (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1)
# ---------------------------------------------------------------------------


def _range_indexes(lo: int, hi: int) -> list[int]:
    """Storage indexes of the complete subtrees whose fold is MTH(D[lo:hi]).

    Valid for the ranges RFC 9162 recursion produces: ``lo`` is a multiple of a
    power of two >= ``hi - lo``. The subtrees follow the 1 bits of ``hi - lo``,
    highest first.
    """
    size = hi - lo
    if size & (size - 1) == 0:  # one complete subtree (every range but one in a proof)
        level = size.bit_length() - 1
        return [_index(level, lo >> level)]
    indexes: list[int] = []
    pos = lo
    for level in range(size.bit_length() - 1, -1, -1):
        if (size >> level) & 1:
            indexes.append(_index(level, pos >> level))
            pos += 1 << level
    return indexes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine left-to-right subtree hashes (largest first) into one MTH, right to left."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = _sha256(_NODE_PREFIX + left + h).digest()
    return h


def _read_ranges(ranges: list[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """MTH of each range, with all stored hashes fetched in a single read call."""
    if not ranges:
        return []
    groups = [_range_indexes(lo, hi) for lo, hi in ranges]
    flat = [index for group in groups for index in group]
    hashes = _read(reader, flat)
    if len(flat) == len(ranges):  # every range is one complete subtree (the usual case)
        return hashes
    out: list[bytes] = []
    pos = 0
    for group in groups:
        out.append(_fold(hashes[pos : pos + len(group)]))
        pos += len(group)
    return out


def _check_size(size: int) -> None:
    if size < 0:
        raise UsageError(f"tree size {size} is negative", "tree sizes count leaves, from 0")


def tree_hash(size: int, reader: HashReader) -> bytes:
    """Return the Merkle tree hash (root) of the first ``size`` leaves (RFC 9162 §2.1.1).

    Reads at most ``popcount(size)`` stored hashes in one call (none for size 0).

    Args:
        size: tree size in leaves, >= 0; the reader must hold at least this many.
        reader: the stored hashes.

    Returns:
        32 bytes; :data:`EMPTY_ROOT` for size 0.

    Raises:
        UsageError: size is negative.
    """
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _fold(_read(reader, _range_indexes(0, size)))


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form PATH(index, D[0:size]), leaf sibling first (RFC 9162 §2.1.3.1)."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1), 0 < size1 <= size2."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size2
    whole_old_tree = True  # the `b` flag of SUBPROOF
    while size1 != hi:
        k = _largest_power_below(hi - lo)
        if size1 <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """Return the inclusion proof (audit path) of leaf ``index`` in the tree of ``size`` leaves.

    Implements PATH(m, D[n]) of RFC 9162 §2.1.3.1: the hashes needed to recompute
    the root from the leaf hash, the leaf's sibling first. Reads at most about
    ``2 * log2(size)`` stored hashes, in one call.

    Args:
        index: 0-based leaf index, ``0 <= index < size``.
        size: tree size in leaves; the reader must hold at least this many.
        reader: the stored hashes.

    Returns:
        A list of 32-byte hashes (empty when size is 1).

    Raises:
        UsageError: index is not in ``[0, size)`` (no proof exists).
    """
    if index < 0 or index >= size:
        raise UsageError(
            f"no inclusion proof for leaf {index} in a tree of size {size}",
            "the leaf index must be below the tree size",
        )
    return _read_ranges(_inclusion_ranges(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """Return the consistency proof between the trees of ``size1`` and ``size2`` leaves.

    Implements PROOF(m, D[n]) of RFC 9162 §2.1.4.1; empty when the sizes are
    equal. Reads O(log size2) stored hashes in one call.

    Args:
        size1: the older tree size, ``0 < size1 <= size2``.
        size2: the newer tree size; the reader must hold at least this many leaves.
        reader: the stored hashes.

    Returns:
        A list of 32-byte hashes.

    Raises:
        UsageError: size1 is 0 (a proof from the empty tree is meaningless, as in
            transparency-dev/merkle) or size1 > size2.
    """
    if size1 <= 0:
        raise UsageError(
            f"no consistency proof from tree size {size1}",
            "every tree extends the empty tree; check a size-0 tree against the empty root instead",
        )
    if size1 > size2:
        raise UsageError(
            f"no consistency proof from tree size {size1} to the smaller size {size2}",
            "the older tree size must not exceed the newer one",
        )
    return _read_ranges(_consistency_ranges(size1, size2), reader)


# ---------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2, §2.1.4.2)
# ---------------------------------------------------------------------------


def _check_proof_hashes(proof: Sequence[bytes], expected: int) -> None:
    if len(proof) != expected:
        raise ProofError(f"proof has {len(proof)} hashes, expected {expected}", _TAMPER_HINT)
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(
                f"proof hash {i} has {len(p)} bytes, expected {HASH_SIZE}", _TAMPER_HINT
            )


def _check_root(root: bytes, what: str) -> None:
    if len(root) != HASH_SIZE:
        raise ProofError(f"{what} has {len(root)} bytes, expected {HASH_SIZE}", _TAMPER_HINT)


def _inclusion_length(index: int, size: int) -> int:
    """Number of hashes in PATH(index, D[size]): inner path plus right border."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root``.

    Implements RFC 9162 §2.1.3.2, after checking the proof's shape.

    Args:
        leaf: the leaf HASH, 32 bytes.
        index: 0-based leaf index.
        size: tree size in leaves.
        proof: the audit path, 32-byte hashes, leaf sibling first.
        root: the tree's root hash from the checkpoint, 32 bytes.

    Raises:
        ProofError: index is not below size, the leaf, root or a proof hash is not
            32 bytes, the proof has the wrong number of hashes, or it does not lead to root.
    """
    if index < 0 or index >= size:
        raise ProofError(
            f"leaf index {index} is outside the tree of size {size}",
            "an inclusion proof needs a leaf index below the checkpoint's tree size",
        )
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash has {len(leaf)} bytes, expected {HASH_SIZE}", _TAMPER_HINT)
    _check_root(root, "root hash")
    _check_proof_hashes(proof, _inclusion_length(index, size))

    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept from the RFC
            raise ProofError(f"proof for leaf {index} is too long", _TAMPER_HINT)
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree of size {size} "
            "does not lead to the checkpoint's root hash",
            _TAMPER_HINT,
        )


def _consistency_length(size1: int, size2: int) -> int:
    """Number of hashes in PROOF(size1, D[size2]) for 0 < size1 < size2."""
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    fn = (size1 - 1) >> shift
    length = _inclusion_length(fn, ((size2 - 1) >> shift) + 1)
    return length if fn == 0 else length + 1


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` leaves (root ``root2``) extends that of ``size1`` (``root1``).

    Implements RFC 9162 §2.1.4.2 with the transparency-dev/merkle edge rules:
    equal sizes need an empty proof and equal roots; size1 = 0 is always rejected
    (a proof from the empty tree says nothing; c2sp tlog-witness accepts old size
    0 at the protocol layer, which is the caller's business).

    Args:
        size1: the older tree size in leaves.
        size2: the newer tree size in leaves.
        proof: the consistency proof, 32-byte hashes.
        root1: root hash of the older checkpoint, 32 bytes.
        root2: root hash of the newer checkpoint, 32 bytes.

    Raises:
        ProofError: size1 is 0 or greater than size2; the sizes are equal and the
            proof is not empty or the roots differ; the sizes differ and a root or
            proof hash is not 32 bytes, the proof has the wrong number of hashes,
            or it does not lead to both roots.
    """
    if size1 <= 0:
        raise ProofError(
            f"consistency proof from tree size {size1} is meaningless",
            "every tree extends the empty tree; check a size-0 checkpoint against the empty root",
        )
    if size1 > size2:
        raise ProofError(
            f"consistency proof from tree size {size1} to the smaller size {size2}",
            "a log never shrinks: the newer checkpoint has fewer leaves than the older one",
        )
    if size1 == size2:
        # Equal sizes: nothing to prove but equality. The roots' length is not
        # checked here (transparency-dev/merkle vector "sizes are equal (one) and
        # proof is empty" compares arbitrary equal byte strings); checkpoint
        # parsing is where a root hash must be 32 bytes.
        _check_proof_hashes(proof, 0)
        if root1 != root2:
            raise ProofError(
                f"two checkpoints of tree size {size1} have different root hashes",
                "the log presented two different trees of the same size (a fork)",
            )
        return
    _check_root(root1, "older root hash")
    _check_root(root2, "newer root hash")
    _check_proof_hashes(proof, _consistency_length(size1, size2))

    path: Sequence[bytes] = proof
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: the old root is a node of the new tree
        path = [root1, *proof]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept from the RFC
            raise ProofError(f"consistency proof from size {size1} is too long", _TAMPER_HINT)
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != root1:
        raise ProofError(
            f"consistency proof from size {size1} to size {size2} "
            "does not lead to the older checkpoint's root hash",
            _TAMPER_HINT,
        )
    if sr != root2:
        raise ProofError(
            f"consistency proof from size {size1} to size {size2} "
            "does not lead to the newer checkpoint's root hash",
            _TAMPER_HINT,
        )


# ---------------------------------------------------------------------------
# In memory
# ---------------------------------------------------------------------------


def root_from_leaf_hashes(leaves: Iterable[bytes]) -> bytes:
    """Return the MTH of a stream of leaf hashes, in O(log n) memory (RFC 9162 §2.1.1).

    Keeps only the compact range (one hash per complete subtree on the right
    frontier), so a whole log can be recomputed from its leaves while streaming.

    Args:
        leaves: leaf HASHES, 32 bytes each, in log order.

    Returns:
        32 bytes; :data:`EMPTY_ROOT` when there are no leaves.

    Raises:
        UsageError: a leaf hash is not 32 bytes.
    """
    stack: list[bytes] = []
    pop = stack.pop
    push = stack.append
    sha256 = _sha256
    prefix = _NODE_PREFIX
    for n, leaf in enumerate(leaves):
        if len(leaf) != HASH_SIZE:
            _check_leaf(leaf, f"leaf hash for leaf {n}")
        h = leaf
        m = n
        while m & 1:
            h = sha256(prefix + pop() + h).digest()
            m >>= 1
        push(h)
    if not stack:
        return EMPTY_ROOT
    return _fold(stack)


class MemoryHashes:
    """An in-memory :class:`HashReader`: the stored hashes of a log in a Python list.

    For tests and verification tools that rebuild a log from its leaves. Memory is
    about ``2 * size`` hashes (roughly 200 bytes per leaf in CPython).

    Attributes:
        size: number of leaves appended.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self.size = 0

    @property
    def stored_count(self) -> int:
        """Number of stored hashes (``stored_hash_count(size)``)."""
        return len(self._hashes)

    def append_leaf(self, leaf: bytes) -> int:
        """Append one leaf HASH (32 bytes) and return its 0-based index.

        Raises:
            UsageError: leaf is not 32 bytes.
        """
        index = self.size
        self._hashes.extend(stored_hashes_for_leaf(index, leaf, self))
        self.size = index + 1
        return index

    def append_leaves(self, leaves: Sequence[bytes]) -> None:
        """Append many leaf HASHES (32 bytes each) at once.

        Raises:
            UsageError: a leaf hash is not 32 bytes (nothing is appended).
        """
        self._hashes.extend(stored_hashes_for_leaves(self.size, leaves, self))
        self.size += len(leaves)

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at ``indexes``, in the same order.

        Raises:
            CustodyError: an index is not stored.
        """
        hashes = self._hashes
        stored = len(hashes)
        out: list[bytes] = []
        for i in indexes:
            if not 0 <= i < stored:
                raise CustodyError(
                    f"stored hash {i} does not exist (only {stored} stored)",
                    "ask only for tree sizes up to the number of leaves appended",
                )
            out.append(hashes[i])
        return out
