"""Exchange between nodes: trust list, signed and encrypted messages, outbox and
inbox with signed receipts, resumable package transfers (the federation).

Domain rules (:mod:`~rogatory.exchange.envelope`) are free of I/O; the trust
list, outbox, inbox and transfers keep their state in the node's database; the
HTTP side is :mod:`rogatory.server.federation` (server) and
:mod:`rogatory.exchange.client` (mutual-TLS client).
"""
