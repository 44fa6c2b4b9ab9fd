"""The federation endpoints and the mutual-TLS server.

Endpoints (every one needs a TLS client certificate of a usable peer):

- ``POST /federation/messages`` — body: an age-encrypted message
  (``application/octet-stream``, at most 1 MiB). 200 with the signed receipt
  (``application/jose``); 409 with the *same* receipt for a message processed
  before; 4xx ``{"check": …, "error": …}`` naming the failed check.
- ``POST /federation/messages/batch`` — ``{"envelopes": [base64, …]}`` (at most
  100); one result per message, committed together.
- ``GET /federation/transfers/{sha256}`` — ``{"offset": n, "size": n, "status": …}``.
- ``PUT /federation/transfers/{sha256}?offset=n`` — the package bytes from
  ``offset`` (streamed); 409 ``{"offset": n}`` if ``offset`` is not what is held.
- ``POST /federation/transfers/{sha256}/complete`` — check, import, signed receipt.

The client certificate reaches the application through the protocol class
from :func:`peer_cert_http_protocol`, which puts its SHA-256 in the ASGI scope
(``scope["extensions"]["tls"]["client_cert_sha256"]``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol

from rogatory.errors import MessageRefusedError, RogatoryError
from rogatory.exchange.envelope import MAX_ENVELOPE_BYTES, MessageType
from rogatory.exchange.inbox import Received, receive, receive_many
from rogatory.exchange.node import FederationNode
from rogatory.exchange.outbox import deliver_due
from rogatory.exchange.tls import der_sha256
from rogatory.exchange.transfer import (
    complete_incoming,
    incoming,
    offer_handler,
    received_bytes,
    staging_path,
)
from rogatory.exchange.trust import list_peers, peer_by_tls, peer_problem
from rogatory.store.schema import PeerRow

log = logging.getLogger("rogatory.federation")
MAX_BATCH_BYTES = 140 * MAX_ENVELOPE_BYTES
"""Largest batch request accepted (bytes): 100 envelopes of 1 MiB, base64-encoded."""


def _wrap_app_with_peer_cert(protocol: Any, transport: asyncio.Transport) -> None:
    """Make ``protocol``'s app see the SHA-256 of the TLS client certificate."""
    sslobj = transport.get_extra_info("ssl_object")
    der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
    fp = der_sha256(der) if der else None
    inner = protocol.app

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fp}
        await inner(scope, receive, send)

    protocol.app = app


class PeerCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, passing the TLS client certificate's SHA-256 to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _wrap_app_with_peer_cert(self, transport)


def peer_cert_http_protocol() -> type[asyncio.Protocol]:
    """The fastest HTTP/1.1 protocol class available that passes the client certificate.

    uvicorn's ``httptools`` protocol (a C parser) when ``httptools`` is installed,
    else its pure-Python ``h11`` protocol. Both put the client certificate's
    SHA-256 (hex) at ``scope["extensions"]["tls"]["client_cert_sha256"]``.
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        return PeerCertH11Protocol

    class PeerCertHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _wrap_app_with_peer_cert(self, transport)

    return PeerCertHttpToolsProtocol


def client_cert_sha256(request: Request) -> str | None:
    """The SHA-256 (hex) of the TLS client certificate of ``request``, if any."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    value = tls.get("client_cert_sha256")
    return value if isinstance(value, str) else None


@dataclass
class TrustStore:
    """Keeps the server's TLS trust store in step with the trust list."""

    ctx: ssl.SSLContext | None
    node: FederationNode
    loaded: set[str] = field(default_factory=set)

    def refresh(self) -> int:
        """Trust the certificates of peers added since the last call; returns how many."""
        if self.ctx is None:
            return 0
        added = 0
        for p in list_peers(self.node.db):
            if p.tls_sha256 not in self.loaded and not peer_problem(p):
                self.ctx.load_verify_locations(cadata=p.card["keys"]["tls_certificate"])
                self.loaded.add(p.tls_sha256)
                added += 1
        return added


class StagingAppender:
    """Appends an upload to its staging file and hashes it on a worker thread.

    The event loop keeps decrypting and parsing the next bytes while the thread
    writes and hashes the previous batch (``BATCH_BYTES``); at most one batch is
    in flight, so memory stays under about two batches. ``os.write`` and
    SHA-256 release the GIL, so on two cores both run at once.

    Args:
        fd: the staging file, opened for appending.
        hasher: the running SHA-256 of the file's bytes so far, or ``None`` when
            it is not known (the file is hashed again at completion).

    A write error (disk full…) is raised from :meth:`add` or :meth:`close`;
    ``failed`` is then true and the running hash must not be trusted.
    :meth:`release` closes ``fd`` (always call it).
    """

    BATCH_BYTES = 4 << 20

    def __init__(self, fd: int, hasher: Any | None) -> None:
        self.fd = fd
        self.hasher = hasher
        self.failed = False
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._pending: asyncio.Future[None] | None = None

    def _write(self, chunks: list[bytes]) -> None:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self.fd, view) :]
                if self.hasher is not None:
                    self.hasher.update(chunk)
        except BaseException:
            self.failed = True
            raise

    async def _settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def add(self, chunk: bytes) -> None:
        """Queue ``chunk``; waits only when the previous batch is still being written."""
        self._batch.append(chunk)
        self._batch_bytes += len(chunk)
        if self._batch_bytes >= self.BATCH_BYTES:
            await self._settle()
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._pending = asyncio.ensure_future(asyncio.to_thread(self._write, batch))

    def release(self) -> None:
        """Close the file, once any write still running on the worker thread has ended."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            self.failed = True  # abandoned mid-batch: the running hash is not complete
            pending.add_done_callback(self._close_after)
        else:
            if pending is not None and not pending.cancelled():
                pending.exception()  # already raised to the handler or irrelevant now
            os.close(self.fd)

    def _close_after(self, pending: asyncio.Future[None]) -> None:
        if not pending.cancelled():
            pending.exception()
        os.close(self.fd)

    async def close(self) -> None:
        """Write everything queued and wait for it."""
        await self._settle()
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if batch and not self.failed:
            await asyncio.to_thread(self._write, batch)


def _status(exc: MessageRefusedError) -> int:
    if exc.check == "replay":
        return 409
    return 403 if exc.check in ("tls-peer", "sender", "signature") else 422


def federation_router(node: FederationNode) -> APIRouter:
    """The ``/federation`` endpoints for ``node``."""
    router = APIRouter()
    locks: dict[str, asyncio.Lock] = {}
    hashing: dict[str, tuple[Any, int]] = {}  # transfer key -> (sha256 state, bytes hashed)
    handlers = {MessageType.PACKAGE_OFFER: offer_handler(node)}

    def peer(request: Request) -> PeerRow:
        fp = client_cert_sha256(request)
        row = peer_by_tls(node.db, fp) if fp else None
        if row is None:
            raise HTTPException(
                403,
                {"check": "tls-peer", "error": "the TLS client certificate is not a usable peer's"},
            )
        return row

    async def body_of(request: Request, limit: int) -> bytes | None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def tls_peer_and_body(request: Request, limit: int) -> tuple[str | None, bytes | None]:
        """The node id of the TLS client's peer (None if not a usable peer), and the
        body (None when it exceeds ``limit`` bytes)."""
        fp = client_cert_sha256(request)
        row = await asyncio.to_thread(peer_by_tls, node.db, fp) if fp else None
        return (row.node_id if row else None), await body_of(request, limit)

    def too_large(limit: int) -> JSONResponse:
        return JSONResponse({"check": "size", "error": f"more than {limit} bytes"}, 413)

    @router.post("/messages")
    async def post_message(request: Request) -> Response:
        tls_peer, body = await tls_peer_and_body(request, MAX_ENVELOPE_BYTES)
        if body is None:
            return too_large(MAX_ENVELOPE_BYTES)
        try:
            got = await asyncio.to_thread(receive, node, body, tls_peer=tls_peer, handlers=handlers)
        except MessageRefusedError as exc:
            log.warning("refused a message: %s", exc.message)
            return JSONResponse({"check": exc.check, "error": exc.message}, _status(exc))
        return Response(
            got.receipt, status_code=409 if got.duplicate else 200, media_type="application/jose"
        )

    @router.post("/messages/batch")
    async def post_batch(request: Request) -> JSONResponse:
        """Up to 100 messages, ``{"envelopes": [base64 age ciphertext, …]}``; one result
        per message, in order: ``{"status": 200|409, "receipt": JWS}`` or
        ``{"status": 4xx, "check": …, "error": …}``. Accepted messages are committed together."""
        tls_peer, body = await tls_peer_and_body(request, MAX_BATCH_BYTES)
        if body is None:
            return too_large(MAX_BATCH_BYTES)
        try:
            data = json.loads(body)
            envelopes = [base64.b64decode(e, validate=True) for e in data["envelopes"]]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return JSONResponse({"check": "format", "error": 'not {"envelopes": [base64, …]}'}, 422)
        try:
            got = await asyncio.to_thread(
                receive_many, node, envelopes, tls_peer=tls_peer, handlers=handlers
            )
        except MessageRefusedError as exc:
            return JSONResponse({"check": exc.check, "error": exc.message}, 413)
        results: list[dict[str, Any]] = []
        for r in got:
            if isinstance(r, Received):
                results.append({"status": 409 if r.duplicate else 200, "receipt": r.receipt})
            else:
                log.warning("refused a message: %s", r.message)
                results.append({"status": _status(r), "check": r.check, "error": r.message})
        return JSONResponse({"results": results})

    @router.get("/transfers/{sha256}")
    async def transfer_status(sha256: str, sender: PeerRow = Depends(peer)) -> JSONResponse:
        row = await asyncio.to_thread(incoming, node, sender.node_id, sha256)
        if row is None:
            return JSONResponse({"error": "no such transfer offered"}, 404)
        return JSONResponse(
            {"offset": received_bytes(node, row), "size": row.size, "status": row.status}
        )

    @router.put("/transfers/{sha256}")
    async def transfer_data(
        sha256: str, offset: int, request: Request, sender: PeerRow = Depends(peer)
    ) -> JSONResponse:
        row = await asyncio.to_thread(incoming, node, sender.node_id, sha256)
        if row is None:
            return JSONResponse({"error": "no such transfer offered"}, 404)
        key = f"{sender.node_id}/{sha256}"
        lock = locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            return JSONResponse({"error": "another upload of this package is running"}, 429)
        async with lock:
            path = staging_path(node, sender.node_id, sha256)
            path.parent.mkdir(parents=True, exist_ok=True)
            have = received_bytes(node, row)
            if row.status != "receiving":
                return JSONResponse(
                    {"offset": have, "error": f"the transfer is {row.status}", "final": True}, 422
                )
            if offset != have:
                return JSONResponse({"offset": have, "error": f"expected offset {have}"}, 409)
            state = hashing.get(key)
            hasher = state[0] if state is not None and state[1] == have else None
            if hasher is None and have == 0:
                hasher = hashlib.sha256()
            written = have
            too_long = False
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            sink = StagingAppender(fd, hasher)
            try:
                try:
                    async for chunk in request.stream():
                        if written + len(chunk) > row.size:
                            too_long = True
                            break
                        await sink.add(chunk)
                        written += len(chunk)
                except ClientDisconnect:
                    pass
                await sink.close()
                await asyncio.to_thread(os.fsync, fd)
            except OSError as exc:
                log.error("cannot store an upload from %s: %s", sender.node_id, exc)
                return JSONResponse(
                    {
                        "offset": received_bytes(node, row),
                        "error": f"the recipient cannot store the package: {exc.strerror}",
                    },
                    507,
                )
            finally:
                sink.release()
                if hasher is not None and not sink.failed:
                    hashing[key] = (hasher, written)
            if too_long:
                return JSONResponse({"offset": written, "error": "more bytes than offered"}, 422)
            return JSONResponse({"offset": written, "size": row.size})

    @router.post("/transfers/{sha256}/complete")
    async def transfer_complete(sha256: str, sender: PeerRow = Depends(peer)) -> JSONResponse:
        row = await asyncio.to_thread(incoming, node, sender.node_id, sha256)
        if row is None:
            return JSONResponse({"error": "no such transfer offered"}, 404)
        key = f"{sender.node_id}/{sha256}"
        lock = locks.setdefault(key, asyncio.Lock())
        async with lock:
            state = hashing.pop(key, None)
            known = state[0].hexdigest() if state is not None and state[1] == row.size else None
            status, answer = await asyncio.to_thread(complete_incoming, node, sender, row, known)
        return JSONResponse(answer, status)

    return router


async def outbox_clock(node: FederationNode, interval: float = 1.0) -> None:
    """Deliver due outbox messages every ``interval`` seconds while the server runs."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(deliver_due, node)
        except RogatoryError as exc:
            log.warning("outbox: %s", exc.message)


async def trust_clock(store: TrustStore, interval: float = 1.0) -> None:
    """Pick up newly added peers' certificates every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        with contextlib.suppress(RogatoryError, ssl.SSLError):
            await asyncio.to_thread(store.refresh)


@contextlib.asynccontextmanager
async def background(*coros: Any) -> AsyncIterator[None]:
    """Run ``coros`` as tasks for the lifetime of the context."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
