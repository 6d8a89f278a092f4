"""Live events for the map: ``GET /api/v1/events?channels=…`` as Server-Sent Events.

Each worker's :class:`gis.events.EventHub` follows the store's ``events`` table, so an event
published by any worker (or command) reaches every open map within a poll interval. The
stream needs the API key in the ``Authorization`` header like every route (the map reads it
with ``fetch``, not ``EventSource``, so the key never appears in a URL or a log). A client
that reconnects sends ``Last-Event-ID`` (or ``after``) and gets the events it missed, up to
the hub's backlog limit; a client too slow to read is dropped and resumes the same way.
Payloads hold references only: the client fetches the details through the role-masked routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.auth import Principal, allow
from api.jsonio import dumps
from gis.errors import InvalidInput, PermissionDenied
from gis.events import EventHub, LiveEvent, SubscriberLagged, Subscription

__all__ = ["router", "CHANNEL_ROLES"]

router = APIRouter(prefix="/api/v1", tags=["events"])

#: Channels a map may follow, and the roles that may follow each (admin always may).
CHANNEL_ROLES: dict[str, frozenset[str]] = {
    "alerts": frozenset({"dispatcher", "agent", "analyst", "admin"}),  # sensitive-word alerts: who reads /alerts
    "calls": frozenset({"dispatcher", "agent", "admin"}),  # incoming calls, targeted at one agent's key name
    # new repair calls (报修): who reads /trouble-calls (the payload is a count and a time span)
    "trouble_calls": frozenset({"dispatcher", "planner", "agent", "analyst", "admin"}),
    # a consultation reply was recorded: who reads GET /plans/{id}/consultation
    "consultations": frozenset({"planner", "dispatcher", "analyst", "admin"}),
}

#: Seconds between keep-alive comments on an idle stream (proxies close silent connections).
HEARTBEAT_S = 15.0


def _channels(raw: str, principal: Principal, skip_refused: bool = False) -> frozenset[str]:
    wanted = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not wanted:
        raise InvalidInput("name at least one channel", field="channels", value=raw)
    unknown = sorted(wanted - set(CHANNEL_ROLES))
    if unknown:
        raise InvalidInput(f"unknown channel(s) {', '.join(unknown)}; channels: {', '.join(sorted(CHANNEL_ROLES))}",
                           field="channels", value=raw)
    refused = sorted(c for c in wanted if principal.role != "admin" and principal.role not in CHANNEL_ROLES[c])
    if refused and skip_refused:  # possibly none left: the stream then carries only keep-alives
        return wanted - frozenset(refused)
    if refused:
        raise PermissionDenied(f"role {principal.role!r} may not follow {', '.join(refused)}",
                               field="channels", value=raw)
    return wanted


def _resume_from(last_event_id: str | None, after: int | None) -> int | None:
    if after is not None:
        return after
    if last_event_id is None or not last_event_id.strip():
        return None
    value = last_event_id.strip()
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput("Last-Event-ID must be the id of an event this stream sent", field="Last-Event-ID",
                           value=value[:40])
    return int(value)


class EventStreamResponse(StreamingResponse):
    """A stream that ends as soon as the client goes away, not at its next write (up to a heartbeat
    later): the subscription is released at once and a server shutdown is not held up by it."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:
            async def stream() -> None:
                await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


def _frame(event: LiveEvent) -> bytes:
    body = dumps({"id": event.id, "channel": event.channel, "payload": event.payload,
                  "created_at": event.created_at.isoformat()})
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.channel.encode(), body)


async def _stream(hub: EventHub, sub: Subscription, channels: frozenset[str]) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\nevent: ready\ndata: %s\n\n" % dumps({"after": sub.last_id, "channels": sorted(channels)})
        while True:
            try:
                event = await sub.get(HEARTBEAT_S)
            except StopAsyncIteration:
                return
            except SubscriberLagged:
                yield b"event: lagged\ndata: %s\n\n" % dumps({"resume_after": sub.last_id})
                return
            yield _frame(event) if event is not None else b": keep-alive\n\n"
    finally:
        hub.unsubscribe(sub)


@router.get(
    "/events",
    summary="Live events (Server-Sent Events): new alerts, incoming calls, new repair calls",
    description=(
        "A `text/event-stream`: first an `event: ready`, then one message per event (`id:` the event id, `event:` "
        "the channel, `data:` JSON with `id`, `channel`, `payload`, `created_at`) and a keep-alive comment every "
        f"{HEARTBEAT_S:g} s. Resume with the `Last-Event-ID` header (or `after`). Channels and who may follow them: "
        + "; ".join(f"`{c}`: {', '.join(sorted(r))}" for c, r in sorted(CHANNEL_ROLES.items()))
        + ". Events targeted at one key name (an agent's incoming call) reach only maps signed in with that key."
    ),
    response_class=EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "the event stream"}},
)
async def events(
    request: Request,
    principal: Annotated[Principal, allow("dispatcher", "agent", "planner", "analyst")],
    channels: Annotated[str, Query(max_length=200, description="comma-separated channels, e.g. `alerts,calls`")],
    after: Annotated[int | None, Query(ge=0, le=10**18, description="replay the stored events after this id")] = None,
    skip_refused: Annotated[bool, Query(description="follow the listed channels the role may follow and skip the "
                                        "others (the `ready` event names the channels followed, possibly none) instead of a "
                                        "403")] = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)] = None,
) -> EventStreamResponse:
    wanted = _channels(channels, principal, skip_refused)
    hub: EventHub = request.app.state.events
    sub = await hub.subscribe(wanted, audience={f"name:{principal.name}", f"role:{principal.role}"},
                              after_id=_resume_from(last_event_id, after))
    return EventStreamResponse(_stream(hub, sub, wanted), media_type="text/event-stream",
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
