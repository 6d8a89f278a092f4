"""The WeChat Official Account callback: ``GET/POST /api/v1/wechat/callback`` (no API key).

The platform authenticates itself with its signature (:mod:`interactions.wechat`); a bad or
stale signature gets 403, a body that is not well-formed XML 400, both as problem+json. A good
message is recorded (once per ``MsgId``) and screened for sensitive words in one transaction,
and answered ``success`` well within the platform's five seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from api.auth import SignedByPlatform
from gis.errors import InvalidInput
from interactions.wechat import check_signature, parse_message, receive

__all__ = ["router", "WeChatSignature"]

router = APIRouter(prefix="/api/v1", tags=["wechat"])

_Q = dict(max_length=128)


class WeChatSignature(SignedByPlatform):
    """Checks ``signature`` against ``GRIDATLAS_WECHAT_TOKEN`` (403 otherwise)."""

    async def __call__(
        self, request: Request,
        signature: Annotated[str | None, Query(description="SHA-1 of the sorted token, timestamp and nonce", **_Q)] = None,
        timestamp: Annotated[str | None, Query(**_Q)] = None,
        nonce: Annotated[str | None, Query(**_Q)] = None,
    ) -> None:
        settings = request.app.state.settings
        check_signature(settings.wechat_token, signature, timestamp, nonce, max_skew_s=settings.wechat_max_skew_s)


_SIGNED = WeChatSignature()
_TEXT = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}


@router.get("/wechat/callback", summary="WeChat's URL check: echoes echostr when the signature is right",
            dependencies=[Depends(_SIGNED)], response_class=PlainTextResponse, responses=_TEXT)
async def verify(echostr: Annotated[str, Query(max_length=256)]) -> PlainTextResponse:
    return PlainTextResponse(echostr)


@router.post("/wechat/callback", summary="A WeChat message (XML): recorded once per MsgId, screened, answered 'success'",
             dependencies=[Depends(_SIGNED)], response_class=PlainTextResponse,
             responses={**_TEXT, 400: {"description": "the body is not well-formed XML"}})
async def message(
    request: Request,
    openid: Annotated[str | None, Query(max_length=64, description="the sender (also in FromUserName)")] = None,
    encrypt_type: Annotated[str | None, Query(max_length=16, description="raw (plain text mode) only")] = None,
    msg_signature: Annotated[str | None, Query(max_length=128)] = None,
) -> PlainTextResponse:
    if encrypt_type not in (None, "raw"):
        raise InvalidInput("only the plain-text mode of the WeChat callback is supported", field="encrypt_type",
                           value=encrypt_type)
    parsed = parse_message(await request.body())
    screener = request.app.state.alert_screener

    def record() -> None:
        with request.app.state.engine.begin() as conn:
            receive(conn, parsed, screener, service_area=request.app.state.settings.service_area)

    await run_in_threadpool(record)
    return PlainTextResponse("success")
