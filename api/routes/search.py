"""Locating a caller: ``GET /api/v1/search?q=…`` over phone, 尾号, 户号, 户名, pinyin and address.

The query's shape picks the indexes (``gis.search``); exact phone, 尾号 and account lookups
are answered from the snapshot's in-memory index, records included, on the event loop without
touching the store. Personal data is masked by the caller's role, and a masked role matches
phones and addresses only on what it sees or on a complete value (``gis.search.engine``); its
searches that matched such a field are audited (``customer.pii_lookup``: which fields and
accounts, never the query).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from api.audit import audit_async
from api.auth import Principal, allow
from api.deps import SettingsDep
from api.jsonio import dumps
from api.masking import mask_customer
from api.outputs import SearchOut
from gis.errors import InvalidInput
from gis.search import CallerIndex, SearchResult, search_customers, search_in_memory
from gis.search.normalize import MAX_QUERY_LENGTH
from gis.search.overlay import OverlaidIndex

router = APIRouter(prefix="/api/v1", tags=["search"])
#: ``matched`` values that name a field a masked role sees only in part.
_HIDDEN_MATCHES = frozenset({"phone", "phone_last4", "address"})


@router.get(
    "/search",
    summary="Locate a caller by phone, last 4 digits, account number, name, pinyin or address",
    description=(
        "One query box: `13812345678`, `+86 138-1234-5678`, `1234` (尾号), `0300100001` or a prefix, "
        "`张伟`, `张`, `zhangwei`, `zw`, `人民南路 12号`. Results are ranked (exact phone/account first) and "
        "say which field `matched`; no match returns an empty `data` list and address `suggestions`. "
        "Phones and addresses are masked for roles that do not see personal data."
    ),
    responses={200: {"model": SearchOut}},
)
async def search(
    request: Request,
    principal: Annotated[Principal, allow("dispatcher", "agent", "planner", "analyst")],
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH,
                            description="what the caller said or what 95598 shows (no control characters; "
                                        "a query of only spaces or punctuation is refused)")],
    limit: Annotated[int, Query(ge=1, description="at most this many results (bounded by the server maximum)")] = 20,
) -> Response:
    if limit > settings.max_page_size:
        raise InvalidInput(f"limit must be at most {settings.max_page_size}", field="limit", value=limit)
    snapshot = request.app.state.topology.snapshot
    index = snapshot.caller_index if snapshot is not None else None  # with the contact changes since it was built
    # An exact lookup is answered here on the event loop (microseconds, no store); anything
    # else goes to a worker thread with a pooled connection.
    masked = not principal.sees_pii
    found = search_in_memory(q, index, limit=limit, masked=masked) if index is not None else None
    if found is None:
        found = await run_in_threadpool(_search_store, request.app.state.engine, q, limit, index, masked)
    result = found.to_dict()
    for key in ("data", "suggestions"):
        result[key] = [mask_customer(item, sees_pii=principal.sees_pii) for item in result[key]]
    shown = [item["account_no"] for key in ("data", "suggestions") for item in result[key]]
    if principal.sees_pii and shown:  # which customers' contact data was shown unmasked (never the data, nor q)
        await audit_async(request, principal, "customer.pii_read", "search", None,
                          {"unmasked": ["phone", "address"], "accounts": shown[:50], "count": len(shown)})
    hidden = sorted({item["matched"] for item in result["data"]} & _HIDDEN_MATCHES)
    if masked and hidden:  # a masked role found customers by a field it cannot see in full
        found_by = [item["account_no"] for item in result["data"] if item["matched"] in _HIDDEN_MATCHES]
        await audit_async(request, principal, "customer.pii_lookup", "search", None,
                          {"matched": hidden, "accounts": found_by[:50], "count": len(found_by)})
    return Response(dumps(result), media_type="application/json")


def _search_store(engine: Engine, q: str, limit: int, index: CallerIndex | OverlaidIndex | None,
                  masked: bool) -> SearchResult:
    with engine.connect() as conn:
        return search_customers(conn, q, limit=limit, index=index, masked=masked)
