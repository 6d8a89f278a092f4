"""Outbox delivery wired from settings: the worker of `gridatlas worker` and of `gridatlas serve`.

Also the admin routes over the outbox: ``GET /api/v1/outbox?state=`` and
``POST /api/v1/outbox/{id}/retry`` (a dead message becomes pending with fresh attempts).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.audit import audit
from api.auth import Principal, allow
from api.deps import ConnDep, SettingsDep
from api.jsonio import dumps
from api.settings import Settings
from gis.db import make_engine
from gis.errors import InvalidInput
from gis.outbox import SqlOutboxStore, list_messages, retry_message
from outage_impact.outbox import DeliveryWorker, FileSender, RetryPolicy, Sender, WebhookSender

__all__ = ["router", "build_worker", "BackgroundDelivery"]

router = APIRouter(prefix="/api/v1", tags=["outbox"])


def _senders(settings: Settings) -> dict[str, Sender]:
    if settings.outbox_sender == "webhook":
        sender: Sender = WebhookSender(settings.outbox_webhook_url, timeout_s=settings.outbox_webhook_timeout_s,
                                       pool=settings.outbox_concurrency)
    else:
        sender = FileSender(settings.outbox_file)
    return {"wechat": sender, "sms": sender}


def build_worker(settings: Settings, engine) -> DeliveryWorker:
    """A delivery worker over ``engine`` with the configured senders and retry policy."""
    policy = RetryPolicy(max_attempts=settings.outbox_max_attempts, base_s=settings.outbox_backoff_base_s,
                         cap_s=settings.outbox_backoff_max_s)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return DeliveryWorker(SqlOutboxStore(engine), _senders(settings), worker_id=worker_id, policy=policy,
                          batch_size=settings.outbox_batch_size, lease_s=settings.outbox_lease_s,
                          concurrency=settings.outbox_concurrency)


class BackgroundDelivery:
    """The outbox worker as a daemon thread of a server process, with its own small engine."""

    def __init__(self, settings: Settings) -> None:
        self._engine = make_engine(settings.database_url, pool_size=2)
        self._worker = build_worker(settings, self._engine)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._worker.run, args=(self._stop,),
                                        kwargs={"poll_s": settings.outbox_poll_interval_s},
                                        name="outbox-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._worker.close()
        self._engine.dispose()


# ------------------------------------------------------------------ routes (admin)
class OutboxMessageOut(BaseModel):
    id: int
    channel: Literal["wechat", "sms"]
    template: str
    account_no: str | None
    recipient: str
    payload: dict
    idempotency_key: str
    plan_id: int | None
    state: Literal["pending", "sent", "dead"]
    attempts: int
    next_try_at: str
    lease_owner: str | None
    lease_until: str | None
    last_error: str | None
    created_at: str
    sent_at: str | None


class Link(BaseModel):
    rel: str
    href: str


class OutboxListOut(BaseModel):
    data: list[OutboxMessageOut]
    count: int
    links: list[Link]


@router.get("/outbox", summary="Outbox messages by state (newest first; paged with a next link)",
            dependencies=[allow("admin")], responses={200: {"model": OutboxListOut}})
def outbox_list(request: Request, conn: ConnDep, settings: SettingsDep,
                state: Annotated[Literal["pending", "sent", "dead"] | None, Query()] = None,
                plan_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                limit: Annotated[int | None, Query(ge=1)] = None,
                offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Response:
    size = limit or settings.default_page_size
    if size > settings.max_page_size:
        raise InvalidInput(f"limit must be at most {settings.max_page_size}", field="limit", value=size)
    page = list_messages(conn, state=state, plan_id=plan_id, limit=size, offset=offset)
    links = [{"rel": "self", "href": str(request.url)}]
    if page.next_offset is not None:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=page.next_offset, limit=size))})
    return Response(dumps({"data": [m.to_dict() for m in page.items], "count": page.total, "links": links}),
                    media_type="application/json")


@router.post("/outbox/{message_id}/retry", summary="Send a dead message again (pending, attempts reset)",
             responses={200: {"model": OutboxMessageOut}, 409: {"description": "the message is not dead"}})
def outbox_retry(request: Request, message_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                 principal: Annotated[Principal, allow("admin")]) -> Response:
    message = retry_message(request.app.state.engine, message_id)
    audit(request, principal, "outbox.retry", "outbox_message", message_id, {"channel": message.channel})
    return Response(dumps(message.to_dict()), media_type="application/json")
