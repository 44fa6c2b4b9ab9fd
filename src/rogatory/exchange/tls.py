"""Mutual TLS between nodes, pinned through the trust list (no public CA).

Each node has its own TLS key and self-signed certificate (ECDSA P-256,
:mod:`rogatory.node.keys`), published in its node card. A server accepts a
client only if the client's certificate is one of its peers' certificates; a
client accepts a server only if it presents exactly the certificate of the peer
it meant to reach. TLS 1.3 only.
"""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from rogatory.errors import KeyMaterialError, UsageError
from rogatory.node.home import NodeHome
from rogatory.node.keys import TLS_CERT, KeyPurpose, key_path


def certificate_sha256(pem: str) -> str:
    """SHA-256 (lower-case hex) of a PEM certificate's DER encoding.

    Raises:
        UsageError: not a PEM certificate.
    """
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise UsageError(f"not a PEM certificate ({exc})", "") from None
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def der_sha256(der: bytes) -> str:
    """SHA-256 (lower-case hex) of a DER certificate."""
    return hashlib.sha256(der).hexdigest()


def _load_own(ctx: ssl.SSLContext, home: NodeHome, passphrase: bytes | None) -> None:
    try:
        ctx.load_cert_chain(
            str(home.keys_dir / TLS_CERT),
            str(key_path(home.keys_dir, KeyPurpose.TLS, protected=False)),
            password=passphrase or None,
        )
    except (ssl.SSLError, OSError) as exc:
        raise KeyMaterialError(
            f"cannot load this node's TLS key and certificate: {exc}",
            "check the passphrase (ROGATORY_PASSPHRASE_FILE) and the files in keys/",
        ) from None


def server_context(
    home: NodeHome, passphrase: bytes | None, peer_certs: list[str]
) -> ssl.SSLContext:
    """The server side: our certificate, and client certificates required to be a peer's.

    More peers can be trusted later with ``ctx.load_verify_locations(cadata=pem)``
    (the running server picks new peers up without a restart); removal and
    revocation are enforced per request from the trust list.

    Raises:
        KeyMaterialError: our TLS key cannot be loaded.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_own(ctx, home, passphrase)
    ctx.verify_mode = ssl.CERT_REQUIRED
    for pem in peer_certs:
        ctx.load_verify_locations(cadata=pem)
    if not peer_certs:
        # OpenSSL needs at least one trust anchor to ask for client certificates:
        # our own certificate (we never connect to ourselves as a client).
        ctx.load_verify_locations(cafile=str(home.keys_dir / TLS_CERT))
    return ctx


def client_context(home: NodeHome, passphrase: bytes | None, peer_cert: str) -> ssl.SSLContext:
    """The client side: present our certificate; accept only ``peer_cert`` (PEM).

    Raises:
        KeyMaterialError: our TLS key cannot be loaded.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the pinned certificate is the identity, not a host name
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=peer_cert)
    _load_own(ctx, home, passphrase)
    return ctx
