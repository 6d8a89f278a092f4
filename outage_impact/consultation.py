"""Consultation (预约停电征询): signed customer links, the notice templates, the replies per window.

* **Links** — ``/c/<token>``: the token names one consultation (one plan and customer) and
  its expiry, signed with HMAC-SHA256 under the server's ``secret_key``. Nothing personal is
  in it (an id and a time). A changed byte fails the signature (:class:`LinkTampered`,
  403); a link past its expiry is :class:`LinkExpired` (410). The expiry is fixed when the
  link is issued, so a later change of the TTL setting neither revives nor kills links.
* **Templates** — the WeChat template-message body (``touser`` = the customer's openid,
  ``template_id``, ``url``, ``data``, ``client_msg_id`` = the idempotency key) when the
  customer has an openid, else an SMS text to their phone. Contacts come from the customer
  record only: the caller passes what the store holds.
* **Outage notices** — when a plan is approved, every affected customer who can be reached
  (WeChat, else SMS to a mobile number) and is not on the screening's call-by-phone list is told
  the approved window: a WeChat template message *without* a link (nothing to answer) or an
  SMS text, idempotency key ``notice-<plan>-<account>`` (:func:`outage_notice`).
* **Replies** — accept (the first candidate window), prefer another candidate window, or
  object with a reason; :func:`tally` counts them per candidate window.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gis.errors import GridAtlasError, InvalidInput, PermissionDenied
from gis.outbox import NewMessage

__all__ = [
    "REPLIES", "Window", "Contact", "LinkTampered", "LinkExpired", "sign_link", "verify_link", "idempotency_key",
    "notice", "window_text", "Reply", "tally", "area_names", "check_reply", "outage_notice", "notice_key",
    "sms_number",
]

REPLIES = ("accept", "prefer_window", "object")
_TOKEN_DOMAIN = b"gridatlas-consultation-link:"


class LinkTampered(PermissionDenied):
    """The link's signature does not match: it was altered or made up."""

    code = "link-invalid"


class LinkExpired(GridAtlasError):
    """The link is authentic but past its expiry."""

    status = 410
    code = "link-expired"


@dataclass(frozen=True, slots=True)
class Window:
    seq: int
    start: dt.datetime
    end: dt.datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60.0


@dataclass(frozen=True, slots=True)
class Contact:
    """A customer's contacts as the customer record holds them."""

    account_no: str
    phone: str | None
    phone_alt: str | None
    wechat_openid: str | None

    @property
    def channel(self) -> str | None:
        if self.wechat_openid:
            return "wechat"
        return "sms" if (self.phone or self.phone_alt) else None


# ------------------------------------------------------------------ links
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _TOKEN_DOMAIN + body.encode("ascii"), hashlib.sha256).digest()


def sign_link(secret: str, consultation_id: int, expires_at: dt.datetime) -> str:
    """The token of consultation ``consultation_id``'s page, valid until ``expires_at``."""
    body = _b64(f"{consultation_id}.{int(expires_at.timestamp())}".encode("ascii"))
    return f"{body}.{_b64(_mac(secret, body))}"


def verify_link(secret: str, token: str, *, now: dt.datetime | None = None) -> int:
    """The consultation id a genuine, unexpired ``token`` names; else LinkTampered / LinkExpired."""
    try:
        body, sig = token.split(".")
        good = hmac.compare_digest(_unb64(sig), _mac(secret, body))
        cid_text, exp_text = _unb64(body).decode("ascii").split(".")
        consultation_id, expires = int(cid_text), int(exp_text)
    except (ValueError, UnicodeDecodeError):
        good = False
    if not good:
        raise LinkTampered("this link is not valid", field="token")
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.timestamp() >= expires:
        raise LinkExpired("this link has expired", field="token")
    return consultation_id


def idempotency_key(plan_id: int, account_no: str) -> str:
    """The stable key of a plan's consultation notice to one customer (WeChat ``client_msg_id``)."""
    return f"consult-{plan_id}-{account_no}"


# ------------------------------------------------------------------ templates
_MOBILE_DIGITS = ("13", "14", "15", "16", "17", "18", "19")


def sms_number(phone: str | None, phone_alt: str | None) -> str | None:
    """The record's mobile number that can take an SMS (a landline cannot), phone first."""
    for p in (phone, phone_alt):
        if p and len(p) == 11 and p.isdigit() and p.startswith(_MOBILE_DIGITS):
            return p
    return None


def notice_key(plan_id: int, account_no: str) -> str:
    """The stable key of an approved plan's outage notice to one customer (WeChat ``client_msg_id``)."""
    return f"notice-{plan_id}-{account_no}"


def outage_notice(contact: Contact, *, plan_id: int, title: str, window: Window, area: Sequence[str], reason: str,
                  template_id: str, sms_signature: str, tz: ZoneInfo) -> NewMessage | None:
    """The notice of an approved planned outage to one customer (nothing to answer: no link).

    A WeChat template message when the record has an openid, else an SMS to its mobile number;
    None when the customer can be reached by neither (they are on the phone list or get nothing).
    """
    key = notice_key(plan_id, contact.account_no)
    when = window_text(window, tz)
    place = "、".join(area[:3]) or title
    if contact.wechat_openid:
        payload = {
            "touser": contact.wechat_openid,
            "template_id": template_id,
            "data": {
                "thing1": {"value": _short(title)},
                "time2": {"value": when},
                "thing3": {"value": _short(place)},
                "thing4": {"value": _short(reason)},
                "thing5": {"value": _short("停电期间请勿靠近施工设备，如有疑问请致电95598")},
            },
            "client_msg_id": key,
        }
        return NewMessage(channel="wechat", template="outage_notice.wechat", recipient=contact.wechat_openid,
                          payload=payload, idempotency_key=key, account_no=contact.account_no, plan_id=plan_id)
    phone = sms_number(contact.phone, contact.phone_alt)
    if phone is None:
        return None
    text = (f"{sms_signature}停电通知：因{reason}，{place}一带将于{when}停电。"
            "请提前做好准备，如有疑问请致电95598。")
    return NewMessage(channel="sms", template="outage_notice.sms", recipient=phone, payload={"to": phone, "text": text},
                      idempotency_key=key, account_no=contact.account_no, plan_id=plan_id)


def window_text(window: Window, tz: ZoneInfo) -> str:
    start, end = window.start.astimezone(tz), window.end.astimezone(tz)
    tail = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%m-%d %H:%M")
    return f"{start.strftime('%Y-%m-%d %H:%M')}~{tail}"


def _short(text: str, n: int = 20) -> str:
    # WeChat "thing" fields hold at most 20 characters
    return text if len(text) <= n else text[: n - 1] + "…"


def notice(contact: Contact, *, plan_id: int, title: str, windows: Sequence[Window], area: Sequence[str],
           reason: str, link: str, template_id: str, sms_signature: str, tz: ZoneInfo) -> NewMessage:
    """The consultation notice to one customer: a WeChat template message, else an SMS."""
    key = idempotency_key(plan_id, contact.account_no)
    first = window_text(windows[0], tz)
    place = "、".join(area[:3]) or title
    more = f"（另有{len(windows) - 1}个备选时段）" if len(windows) > 1 else ""
    if contact.wechat_openid:
        payload = {
            "touser": contact.wechat_openid,
            "template_id": template_id,
            "url": link,
            "data": {
                "thing1": {"value": _short(title)},
                "time2": {"value": first},
                "thing3": {"value": _short(place)},
                "thing4": {"value": _short(reason)},
                "thing5": {"value": _short("请点击详情回复：同意/选择其他时段/反对" + more)},
            },
            "client_msg_id": key,
        }
        return NewMessage(channel="wechat", template="consultation.wechat", recipient=contact.wechat_openid,
                          payload=payload, idempotency_key=key, account_no=contact.account_no, plan_id=plan_id)
    phone = contact.phone or contact.phone_alt
    if not phone:
        raise InvalidInput(f"customer {contact.account_no} has neither a WeChat openid nor a phone on record",
                           field="accounts", value=contact.account_no)
    text = (f"{sms_signature}因{reason}，{place}一带计划于{first}停电{more}。"
            f"请打开 {link} 回复同意、选择其他时段或提出反对。")
    return NewMessage(channel="sms", template="consultation.sms", recipient=phone,
                      payload={"to": phone, "text": text}, idempotency_key=key, account_no=contact.account_no,
                      plan_id=plan_id)


def area_names(by_transformer: Mapping[str | None, int], names: Mapping[str, str], *, limit: int = 5) -> list[str]:
    """The 台区 (transformer areas) an outage touches, most customers first: the place names
    shown to customers (no customer's own data)."""
    ranked = sorted(((n, t) for t, n in by_transformer.items() if t is not None), key=lambda x: (-x[0], x[1]))
    return [names.get(t) or t for _, t in ranked[:limit]]


# ------------------------------------------------------------------ replies
def check_reply(reply: str, preferred_window: int | None, reason: str | None, windows: Sequence[Window]) -> None:
    """Refuse a reply that does not fit the consultation (naming the field)."""
    if reply not in REPLIES:
        raise InvalidInput(f"reply must be one of {', '.join(REPLIES)}", field="reply", value=reply)
    seqs = [w.seq for w in windows]
    if reply == "prefer_window":
        if preferred_window not in seqs:
            raise InvalidInput(f"window must be one of the candidate windows {seqs}", field="window",
                               value=preferred_window)
    elif preferred_window is not None:
        raise InvalidInput("window is given only with reply=prefer_window", field="window", value=preferred_window)
    if reply == "object" and not (reason or "").strip():
        raise InvalidInput("an objection needs a reason", field="reason")
    if reason is not None and len(reason) > 500:
        raise InvalidInput("reason is at most 500 characters", field="reason", value=len(reason))


@dataclass(frozen=True, slots=True)
class Reply:
    account_no: str
    reply: str | None
    preferred_window: int | None


def tally(windows: Sequence[Window], replies: Iterable[Reply]) -> dict[int, dict[str, int]]:
    """Per candidate window: ``accept`` (accepted it: the first window's accepts, or preferred it),
    ``prefer_other`` (preferred another window), ``object`` (objected to the outage)."""
    out = {w.seq: {"accept": 0, "prefer_other": 0, "object": 0} for w in windows}
    first = windows[0].seq if windows else None
    for r in replies:
        if r.reply is None:
            continue
        for seq, counts in out.items():
            if r.reply == "object":
                counts["object"] += 1
            elif r.reply == "accept":
                if seq == first:  # an accept says nothing about the other candidates
                    counts["accept"] += 1
            elif r.reply == "prefer_window":
                counts["accept" if seq == r.preferred_window else "prefer_other"] += 1
    return out
