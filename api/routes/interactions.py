"""Interactions in: one record or a batch as JSON, or a file uploaded by an administrator.

JSON is all-or-nothing (a bad record → 422 listing every bad record, nothing stored); a file
loads its good rows and reports the others, like ``gridatlas interactions import``. Both are
idempotent by id and keep the heat rollups in the same transaction (:mod:`interactions.ingest`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, File, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from api.audit import audit
from api.auth import Principal, allow
from api.deps import SettingsDep
from api.interactions_io import import_interactions_file, screeners_for
from api.outputs import InteractionsImportOut
from gis.errors import InvalidInput
from interactions.ingest import ingest_all_or_nothing

router = APIRouter(prefix="/api/v1", tags=["interactions"])

_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
Channel = Literal["95598电话", "微信", "微博", "掌上电力", "网上国网", "营业厅", "95598", "95598热线", "电话", "掌厅", "网厅", "微信公众号"]
Kind = Literal["咨询", "投诉", "报修", "意见", "表扬"]
_MAX_BATCH = 5000


class InteractionIn(BaseModel):
    """One contact. ``occurred_at``: ISO 8601 (without an offset: China Standard Time)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "WX20260301001", "channel": "微信", "kind": "投诉", "occurred_at": "2026-03-01T09:30:00+08:00",
        "text": "又停电了", "caller_phone": "13800138000", "account_no": "0300100001"}]})

    id: str = Field(min_length=1, max_length=64)
    channel: Channel = Field(description="95598电话 / 微信 / 微博 / 掌上电力 / 网上国网 / 营业厅 (or 95598, 掌厅, 网厅 …)")
    kind: Kind
    occurred_at: str = Field(max_length=64)
    account_no: str | None = Field(default=None, max_length=32)
    text: str | None = Field(default=None, max_length=10_000)
    caller_phone: str | None = Field(default=None, max_length=32)
    wechat_openid: str | None = Field(default=None, max_length=64)
    lon: float | None = Field(default=None, ge=-180, le=180, description="WGS 84; inside the service area")
    lat: float | None = Field(default=None, ge=-90, le=90)


class IngestOut(BaseModel):
    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected_rows: int
    matched: dict[str, int] = Field(description="how the callers were matched: account / phone / wechat / ambiguous / unknown")


@router.post("/interactions", summary="Store one interaction or a batch (idempotent by id; all or nothing)",
             response_model=IngestOut, dependencies=[allow("dispatcher", "agent")])
def post_interactions(
    request: Request, settings: SettingsDep,
    body: Annotated[InteractionIn | list[InteractionIn], Body()],
) -> dict[str, Any]:
    items = body if isinstance(body, list) else [body]
    if len(items) > _MAX_BATCH:
        raise InvalidInput(f"at most {_MAX_BATCH} interactions per request; upload a file for more",
                           field="body", value=len(items))
    records = [item.model_dump() for item in items]
    result = ingest_all_or_nothing(request.app.state.engine, records, service_area=settings.service_area,
                                   screeners=screeners_for(settings, request.app.state.alert_screener))
    return result.to_dict()


@router.post("/imports/interactions", summary="Load an interactions file (CSV/XLSX); returns counts and the rejected rows",
             response_model=None, responses={200: {"model": InteractionsImportOut}})
def import_interactions_upload(
    request: Request,
    settings: SettingsDep,
    principal: Annotated[Principal, allow()],
    file: Annotated[UploadFile, File(description="the file: .csv (UTF-8 or GBK) or .xlsx, the sample's interactions.csv columns")],
) -> dict[str, Any]:
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidInput(f"the file must be one of {', '.join(_SUFFIXES)}, not {name!r}", field="file", value=name)
    with tempfile.TemporaryDirectory(prefix="gridatlas-upload-") as tmp:
        path = Path(tmp) / f"interactions{suffix}"
        with open(path, "wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        result, rejects, info = import_interactions_file(request.app.state.engine, path, service_area=settings.service_area,
                                                         display_name=name, screeners=screeners_for(settings, request.app.state.alert_screener))
    body = {**result.to_dict(), "encoding": info["encoding"], "columns": info["columns"],
            "rejects": [r.to_dict() for r in rejects]}
    audit(request, principal, "import", "interactions", name,
          {k: body[k] for k in ("received", "inserted", "updated", "unchanged", "rejected_rows")})  # not the rejects: PII
    return body
