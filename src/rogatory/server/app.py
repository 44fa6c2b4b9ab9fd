"""The node's HTTP API (FastAPI): health, version, the log's checkpoint, and the witness router.

``rogatory serve`` runs it on uvicorn. A background task keeps the checkpoint
clock: every ``checkpoint_interval`` seconds, if the log grew, it signs a
checkpoint and collects cosignatures from the node's witnesses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request, Response

from rogatory import __version__
from rogatory.custody.log import CustodyLog
from rogatory.custody.witnessing import WitnessService, collect_cosignatures
from rogatory.errors import RogatoryError

MAX_BODY = 1 << 20
"""Largest add-checkpoint request accepted (bytes)."""


def witness_router(service: WitnessService) -> APIRouter:
    """C2SP tlog-witness endpoints: ``POST /add-checkpoint`` and ``GET /<hex sha256(origin)>/checkpoint``."""
    router = APIRouter()

    @router.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(b"request too large\n", status_code=413, media_type="text/plain")
        decision = await asyncio.to_thread(service.add_checkpoint, body)
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
    log: CustodyLog, witness: WitnessService, checkpoint_interval: float = 5.0
) -> FastAPI:
    """The node application. ``checkpoint_interval`` ≤ 0 disables the checkpoint clock."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = (
            asyncio.create_task(_checkpoint_clock(log, checkpoint_interval))
            if checkpoint_interval > 0
            else None
        )
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Rogatory node", version=__version__, lifespan=lifespan)
    app.include_router(witness_router(witness), prefix="/witness", tags=["witness"])

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


async def _checkpoint_clock(log: CustodyLog, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            cp, created = await asyncio.to_thread(log.publish_checkpoint)
            if created or cp.checkpoint.size > 0:
                await asyncio.to_thread(collect_cosignatures, log, cp, only_missing=True)
        except RogatoryError:
            continue
