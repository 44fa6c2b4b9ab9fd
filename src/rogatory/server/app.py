"""The node's HTTP API (FastAPI): health, version, the log's checkpoint, the witness router
and, behind mutual TLS, the federation endpoints (:mod:`rogatory.server.federation`).

``rogatory serve`` runs it on uvicorn. A background task keeps the checkpoint
clock: every ``checkpoint_interval`` seconds, if the log grew, it signs a
checkpoint and collects cosignatures from the node's witnesses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from rogatory import __version__
from rogatory.custody.log import CustodyLog
from rogatory.custody.witnessing import WitnessService, collect_cosignatures
from rogatory.errors import RogatoryError
from rogatory.exchange.node import FederationNode
from rogatory.exchange.trust import peer_by_tls
from rogatory.server.federation import (
    TrustStore,
    background,
    client_cert_sha256,
    federation_router,
    outbox_clock,
    trust_clock,
)

MAX_BODY = 1 << 20
"""Largest add-checkpoint request accepted (bytes)."""


def witness_router(service: WitnessService, node: FederationNode | None = None) -> APIRouter:
    """C2SP tlog-witness endpoints: ``POST /add-checkpoint`` and ``GET /<hex sha256(origin)>/checkpoint``.

    With ``node`` (the mutual-TLS server), only a usable peer — not revoked, card
    not expired — may ask for a cosignature (403 naming check ``tls-peer``).
    """
    router = APIRouter()

    @router.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        if node is not None:
            fp = client_cert_sha256(request)
            row = await asyncio.to_thread(peer_by_tls, node.db, fp) if fp else None
            if row is None:
                return Response(
                    b"refused (tls-peer): the TLS client certificate is not a usable peer's\n",
                    status_code=403,
                    media_type="text/plain",
                )
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(b"request too large\n", status_code=413, media_type="text/plain")
        try:
            decision = await asyncio.to_thread(service.add_checkpoint, body)
        except RogatoryError as exc:  # e.g. the database is busy: the log asks again later
            return Response(
                f"{exc.one_line()}\n".encode(), status_code=503, media_type="text/plain"
            )
        return Response(
            decision.body, status_code=decision.status, media_type=decision.content_type
        )

    @router.get("/{origin_hash}/checkpoint")
    async def latest_checkpoint(origin_hash: str) -> Response:
        note = await asyncio.to_thread(service.latest, origin_hash.lower())
        if note is None:
            return Response(b"unknown origin\n", status_code=404, media_type="text/plain")
        return Response(note, media_type="text/plain; charset=utf-8")

    return router


def create_app(
    log: CustodyLog,
    witness: WitnessService,
    checkpoint_interval: float = 5.0,
    *,
    node: FederationNode | None = None,
    trust_store: TrustStore | None = None,
    client_for: Callable[[str], Any] | None = None,
) -> FastAPI:
    """The node application.

    Args:
        log: this node's custody log.
        witness: this node as a witness of its peers' logs.
        checkpoint_interval: seconds between checkpoints; ≤ 0 disables the clock.
        node: with it, the ``/federation`` endpoints and the outbox clock are on, and
            only usable peers may ask the witness for cosignatures.
        trust_store: with it, newly added peers' TLS certificates are trusted
            without a restart.
        client_for: pinned clients for witnesses that are peers (checkpoint clock).
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        clocks: list[Any] = []
        if checkpoint_interval > 0:
            clocks.append(_checkpoint_clock(log, checkpoint_interval, client_for))
        if node is not None:
            clocks.append(outbox_clock(node))
        if trust_store is not None:
            clocks.append(trust_clock(trust_store))
        async with background(*clocks):
            yield

    app = FastAPI(title="Rogatory node", version=__version__, lifespan=lifespan)
    app.include_router(witness_router(witness, node), prefix="/witness", tags=["witness"])
    if node is not None:
        app.include_router(federation_router(node), prefix="/federation", tags=["federation"])

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok", "node": log.node_id}

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"rogatory": __version__}

    @app.get("/log/checkpoint")
    async def checkpoint() -> Response:
        cp = await asyncio.to_thread(log.latest_checkpoint)
        if cp is None:
            return Response(b"no checkpoint yet\n", status_code=404, media_type="text/plain")
        return Response(cp.note, media_type="text/plain; charset=utf-8")

    return app


async def _checkpoint_clock(
    log: CustodyLog, interval: float, client_for: Callable[[str], Any] | None
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            cp, created = await asyncio.to_thread(log.publish_checkpoint)
            if created or cp.checkpoint.size > 0:
                await asyncio.to_thread(
                    collect_cosignatures, log, cp, only_missing=True, client_for=client_for
                )
        except RogatoryError:
            continue
