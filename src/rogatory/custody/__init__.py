"""Custody log: signed custody events in an RFC 9162 Merkle log with C2SP checkpoints,
cosignatures from partner witnesses, and offline proofs."""
