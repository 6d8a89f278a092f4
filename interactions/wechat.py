"""WeChat Official Account messages (微信公众号): signature, XML, retries, screening.

The platform calls the account's server URL with ``signature``, ``timestamp`` and ``nonce``
query parameters: ``signature`` is the SHA-1 hex digest of the three strings token,
timestamp and nonce sorted and concatenated (the token is the account's secret, never sent).
``GET`` with ``echostr`` is the URL check (answer ``echostr``); ``POST`` carries one message as
XML. The platform waits five seconds for an answer and retries up to three times with the
same ``MsgId``: a message is recorded once (:func:`gis.wechat_store.claim_message` in the
recording transaction) and every delivery answered ``success``.

The XML is parsed with ``defusedxml`` (no entities, no external references: a hostile body
cannot expand or read files). A text message becomes an interaction on channel 微信, matched
to the customer by ``wechat_openid``, and is screened in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput, MalformedInput, PermissionDenied
from gis.validation import BBox
from gis.wechat_store import claim_message
from interactions.ingest import Screener, ingest_interactions

__all__ = ["WechatMessage", "signature_of", "check_signature", "parse_message", "receive", "CHANNEL", "KIND"]

CHANNEL = "微信"
KIND = "咨询"  # a WeChat text is a contact; its kind is not known from the message itself
_MAX_FIELD = 64


@dataclass(frozen=True, slots=True)
class WechatMessage:
    to_user: str
    from_user: str  # the sender's openid
    created: dt.datetime
    msg_type: str
    msg_id: str | None
    content: str | None


def signature_of(token: str, timestamp: str, nonce: str) -> str:
    """The platform's signature: SHA-1 of token, timestamp and nonce sorted and joined."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode("utf-8")).hexdigest()


def check_signature(token: str, signature: str | None, timestamp: str | None, nonce: str | None, *,
                    now: dt.datetime | None = None, max_skew_s: float = 300.0) -> None:
    """Refuse (:class:`PermissionDenied`) a request not signed with ``token`` or signed too long ago."""
    if not token:
        raise PermissionDenied("the WeChat callback is not configured (GRIDATLAS_WECHAT_TOKEN is empty)",
                               field="signature")
    if not signature or not timestamp or not nonce:
        missing = next(n for n, v in (("signature", signature), ("timestamp", timestamp), ("nonce", nonce)) if not v)
        raise PermissionDenied(f"the WeChat signature parameters are incomplete: {missing} is missing", field=missing)
    if not hmac.compare_digest(signature_of(token, timestamp, nonce), signature.lower()):
        raise PermissionDenied("the WeChat signature does not match", field="signature")
    try:
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise PermissionDenied("the WeChat timestamp is not a Unix time", field="timestamp", value=timestamp) from None
    now = now or dt.datetime.now(dt.timezone.utc)
    if abs((now - sent).total_seconds()) > max_skew_s:
        raise PermissionDenied(f"the WeChat timestamp is more than {max_skew_s:g} s away from now (a replay?)",
                               field="timestamp", value=timestamp)


def _text(root: Any, name: str, *, required: bool = True, limit: int | None = _MAX_FIELD) -> str | None:
    node = root.find(name)
    value = node.text if node is not None else None
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"the WeChat message has no {name}", field=name)
        return None
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"the WeChat message's {name} is longer than {limit} characters", field=name)
    return value.strip() if name != "Content" else value


def parse_message(body: bytes) -> WechatMessage:
    """One message from its XML body; :class:`MalformedInput` (400) for XML that is not well formed
    or hostile, :class:`InvalidInput` (422) naming the field for a well-formed but wrong one."""
    try:
        root = ElementTree.fromstring(body, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedInput(f"the WeChat message is not well-formed XML: {type(exc).__name__}: {exc}",
                             field="body") from None
    if root.tag != "xml":
        raise MalformedInput("the WeChat message's root element must be <xml>", field="body", value=root.tag)
    created = _text(root, "CreateTime")
    try:
        created_at = dt.datetime.fromtimestamp(int(created), dt.timezone.utc)  # type: ignore[arg-type]
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("CreateTime must be a Unix time", field="CreateTime", value=created) from None
    msg_type = _text(root, "MsgType") or ""
    content = _text(root, "Content", required=msg_type == "text", limit=4000)
    return WechatMessage(to_user=_text(root, "ToUserName") or "", from_user=_text(root, "FromUserName") or "",
                         created=created_at, msg_type=msg_type, msg_id=_text(root, "MsgId", required=False),
                         content=content)


def receive(conn: Connection, message: WechatMessage, screener: Screener, *, service_area: BBox) -> str | None:
    """Ingest a text message as an interaction and screen it, once per ``MsgId``, in ``conn``'s
    transaction; returns the interaction id, or None for a retry or a message that is not text.

    It goes through the one ingest (:func:`interactions.ingest.ingest_interactions`): the sender is
    matched to a customer by ``wechat_openid``, placed at the customer, counted in the heat rollups
    and screened by ``screener``, all in this transaction.
    """
    if message.msg_type != "text":
        return None
    key = message.msg_id or f"{message.from_user}:{int(message.created.timestamp())}"
    interaction_id = f"wx-{key}"[:64]
    if not claim_message(conn, key[:64], interaction_id):
        return None
    record = {"id": interaction_id, "channel": CHANNEL, "kind": KIND, "occurred_at": message.created,
              "text": message.content, "wechat_openid": message.from_user}
    result = ingest_interactions(conn, [record], service_area=service_area, screeners=(screener,))
    if result.rejects:
        problem = result.rejects[0]
        raise InvalidInput(f"the message cannot be recorded: {problem.reason}", field=problem.field,
                           value=problem.value)
    return interaction_id
