"""Trouble-call analysis over HTTP: ``GET /api/v1/trouble-calls?from=&to=`` (故障研判)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.datetimes import IsoAwareDateTime
from api.auth import Principal, allow
from api.deps import ConnDep, SettingsDep, SnapshotDep
from gis.errors import InvalidInput
from gis.trouble_store import repair_calls
from interactions.trouble_calls import analyze

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["trouble calls"])


class Thresholds(BaseModel):
    calls: int
    percent: float


class PredictionOut(BaseModel):
    device: str = Field(description="the switch (fuse, load switch, breaker) or transformer id")
    kind: str
    calls: list[str] = Field(description="the repair calls (interaction ids) it explains")
    calling_customers: list[str]
    customers_affected: int = Field(description="customers the device feeds in the normal state")
    customers: list[str] | None = None
    thresholds: Thresholds
    evidence: dict[str, Any]
    absorbed: list[str] = Field(description="predictions below that moved up into this one")


class UnexplainedOut(BaseModel):
    call: str
    account_no: str | None
    reason: str = Field(description="no_customer, unknown_customer, not_supplied, no_device or below_threshold")


class TroubleOut(BaseModel):
    calls: int
    data_version: str
    window: dict[str, dt.datetime]
    predictions: list[PredictionOut]
    unexplained: list[UnexplainedOut]


@router.get("/trouble-calls", summary="Probable failed devices from the repair calls (报修) of a window",
            description="Each call points at the lowest protective device above its customer; a device is predicted "
                        "when its calls reach N or p % of its customers (per device kind, "
                        "`GRIDATLAS_TROUBLE_CALL_THRESHOLDS`), and the prediction moves up when the calls or "
                        "predictions under a device reach that device's threshold.",
            response_model=TroubleOut)
def trouble_calls(
    conn: ConnDep, snapshot: SnapshotDep, settings: SettingsDep,
    _: Annotated[Principal, allow("dispatcher", "planner", "agent", "analyst")],
    from_: Annotated[IsoAwareDateTime, Query(alias="from", description="window start, with a time zone")],
    to: Annotated[IsoAwareDateTime, Query(description="window end (exclusive), with a time zone")],
    customers: Annotated[bool, Query(description="list every affected customer of each prediction")] = False,
) -> dict[str, Any]:
    if to - from_ > dt.timedelta(days=settings.trouble_call_window_max_days):
        raise InvalidInput(f"the window may span at most {settings.trouble_call_window_max_days} days", field="to",
                           value=to.isoformat())
    calls = repair_calls(conn, from_, to, limit=settings.trouble_call_max_calls)
    result = analyze(snapshot.index, calls, settings.trouble_call_thresholds, with_customers=customers)
    return {**result.to_dict(with_customers=customers), "window": {"from": from_, "to": to}}
