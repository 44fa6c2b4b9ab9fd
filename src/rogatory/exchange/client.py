"""HTTPS client to one peer over mutual TLS, pinned to the peer's certificate."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

from rogatory.errors import ExchangeError, PeerUnreachableError, UsageError
from rogatory.exchange.tls import client_context
from rogatory.node.home import NodeHome
from rogatory.store.database import Database
from rogatory.store.schema import PeerRow

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP + TLS connection to a peer."""
READ_TIMEOUT = 60.0
"""Seconds to wait for a peer's answer (a package import may take a while)."""


def _verify_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PeerClient:
    """Talks to ``peer`` at its card's URL, presenting this node's certificate.

    Use as a context manager. Network failures raise
    :class:`~rogatory.errors.PeerUnreachableError`; a server that does not present
    the peer's pinned certificate raises :class:`~rogatory.errors.ExchangeError`
    with check ``tls``.
    """

    def __init__(
        self,
        home: NodeHome,
        passphrase: bytes | None,
        peer: PeerRow,
        *,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        if not peer.url:
            raise UsageError(
                f"{peer.node_id}'s card has no URL",
                "ask the partner to set one ('rogatory node set-url') and send a new card",
            )
        self.peer = peer
        self.url = peer.url.rstrip("/")
        ctx = client_context(home, passphrase, peer.card["keys"]["tls_certificate"])
        self.http = httpx.Client(
            base_url=self.url,
            verify=ctx,
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
        )

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request to the peer.

        Raises:
            ExchangeError: check ``tls`` — the server's certificate is not the peer's.
            PeerUnreachableError: connection refused, reset or timed out.
        """
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.translate(exc) from None

    def translate(self, exc: BaseException) -> ExchangeError:
        """The user-facing error for a transport failure."""
        if _verify_failed(exc):
            return ExchangeError(
                f"the server at {self.url} did not present {self.peer.node_id}'s pinned TLS certificate",
                "the URL is wrong or someone else answers there; check the partner's card",
                check="tls",
            )
        return PeerUnreachableError(
            f"{self.peer.node_id} is unreachable at {self.url}: {type(exc).__name__}: {exc}".rstrip(
                ": "
            ),
            "the partner's node may be down; the outbox retries, or run the command again later",
        )


def witness_client_for(
    home: NodeHome, passphrase: bytes | None, db: Database
) -> Callable[[str], httpx.Client | None]:
    """For :func:`~rogatory.custody.witnessing.collect_cosignatures`: the pinned
    mutual-TLS client for a witness that is a usable peer, else None."""

    def client_for(name: str) -> httpx.Client | None:
        with db.session() as s:
            row = s.get(PeerRow, name)
            if row is not None:
                s.expunge(row)
        if row is None or row.status != "active" or not row.url:
            return None
        return PeerClient(home, passphrase, row).http

    return client_for
